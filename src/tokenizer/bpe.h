// The BPE model of an HF tokenizer.json: vocab, ranked merges, and the per-word merge loop.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mm::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Working memory for one word's merge loop, reused across words.
struct BpeScratch {
  struct Symbol {
    int32_t id, prev, next, n_bytes;
  };
  struct Candidate {
    int32_t rank, pos, new_id;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::string mapped;  // the word in the byte-level alphabet (for ignore_merges look-ups)
  std::vector<int32_t> ids;
};

class Bpe {
 public:
  // `model` is the "model" object; byte_level says the words arrive as raw bytes.
  Bpe(const nlohmann::json& model, bool byte_level);

  // Appends the ids of one pre-token to `out`. Thread-safe.
  void encode_word(std::string_view word, std::vector<int32_t>& out, BpeScratch& scratch) const;

  const StringIdMap& vocab() const { return vocab_; }
  int32_t max_id() const { return max_id_; }

 private:
  struct MergeSlot {
    uint64_t key;  // (left id << 32 | right id), kEmpty when unused
    int32_t rank, new_id;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  const MergeSlot* find_merge(int32_t left, int32_t right) const;
  void add_merge(int32_t left, int32_t right, int32_t rank, int32_t new_id);
  bool byte_tokens_for(std::string_view ch, BpeScratch& s) const;
  void initial_symbols(std::string_view word, BpeScratch& s) const;
  void merge_word(std::string_view word, BpeScratch& s) const;

  StringIdMap vocab_;
  int32_t max_id_ = -1;
  bool byte_level_;
  bool ignore_merges_ = false;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  std::array<int32_t, 256> byte_ids_{};  // byte-level mode: id of each byte's symbol, -1 if absent
  std::vector<MergeSlot> merges_;        // open addressing, power-of-two size
  uint64_t merge_mask_ = 0;

  // Bounded word -> ids cache: a direct-mapped table of fixed-size slots (no allocation, a new word
  // simply evicts the slot's previous one), split into shards with a mutex each so batch threads
  // rarely contend. Long words and words with many ids bypass it; they are rare.
  static constexpr int kMaxCachedWordBytes = 30;
  static constexpr int kMaxCachedIds = 8;
  static constexpr size_t kShards = 64;
  static constexpr size_t kSlotsPerShard = 1024;
  struct Slot {
    uint64_t hash = 0;
    uint8_t n_bytes = 0, n_ids = 0;  // n_bytes == 0: empty
    char word[kMaxCachedWordBytes];
    int32_t ids[kMaxCachedIds];
  };
  struct Shard {
    std::mutex mu;
    std::vector<Slot> slots;
  };
  std::unique_ptr<Shard[]> cache_;
};

}  // namespace mm::tok
