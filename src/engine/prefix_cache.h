// PrefixCache: exact reuse of earlier prompts. An entry is a snapshot of a sequence after `tokens`: a
// fork (SequenceState::fork), so its KV pages are shared by reference with the sequence it came from
// and with every request that resumes from it (copy on write), and its lightning states are copies.
//
// A request whose prompt starts with an entry's tokens resumes from the entry instead of position 0.
// Sequences with lightning layers can only resume exactly at a snapshot (a state has no history);
// KV-only sequences can resume at any common prefix (the fork is truncated). Entries are evicted least
// recently used when their bytes pass the budget, or when the KV pool needs the pages.
//
// Used by the engine's scheduler thread only (not thread-safe).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "state/sequence_state.h"

namespace mm {

class PrefixCache {
 public:
  explicit PrefixCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Stores a snapshot of `seq` (which holds tokens[0, seq.n_past)). An entry with the same tokens is
  // refreshed instead. Does nothing when disabled (budget 0) or the snapshot alone is over the budget.
  void insert(std::span<const int32_t> tokens, const SequenceState& seq);
  // The longest reusable prefix of `prompt`, at most max_len tokens: a fresh sequence holding it, or
  // null when nothing matches.
  std::unique_ptr<SequenceState> lookup(std::span<const int32_t> prompt, int64_t max_len);
  // Drops the least recently used entry; false when empty.
  bool evict_one();

  size_t n_bytes() const { return n_bytes_; }
  size_t n_entries() const { return entries_.size(); }
  bool enabled() const { return max_bytes_ > 0; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    std::unique_ptr<SequenceState> seq;
    uint64_t last_used = 0;
    size_t bytes = 0;  // its states + its KV pages (pages shared with other entries counted in each)
  };
  size_t max_bytes_;
  size_t n_bytes_ = 0;
  uint64_t clock_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace mm
