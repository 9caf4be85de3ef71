#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace mm::tok {

using nlohmann::json;

static uint64_t mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return k;
}

Bpe::Bpe(const json& model, bool byte_level) : byte_level_(byte_level) {
  if (!model.is_object()) throw Error("tokenizer.json: missing \"model\" object");
  std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") throw Error("tokenizer.json: unsupported model type '" + type + "' (only BPE)");
  if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0)
    throw Error("tokenizer.json: BPE dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
      throw Error(std::string("tokenizer.json: BPE ") + key + " is not supported");
  }
  ignore_merges_ = model.value("ignore_merges", false);
  fuse_unk_ = model.value("fuse_unk", false);
  byte_fallback_ = model.value("byte_fallback", false);

  if (!model.contains("vocab") || !model["vocab"].is_object()) throw Error("tokenizer.json: model has no vocab");
  const json& vocab = model["vocab"];
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) throw Error("tokenizer.json: vocab id of '" + it.key() + "' is not an integer");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > INT32_MAX / 2) throw Error("tokenizer.json: vocab id " + std::to_string(id) + " out of range");
    vocab_[it.key()] = static_cast<int32_t>(id);
    max_id_ = std::max(max_id_, static_cast<int32_t>(id));
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = vocab_.find(model["unk_token"].get<std::string>());
    if (it == vocab_.end()) throw Error("tokenizer.json: unk_token is not in the vocab");
    unk_id_ = it->second;
  }
  byte_ids_.fill(-1);
  if (byte_level_) {
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      append_utf8(ch, byte_to_codepoint()[b]);
      auto it = vocab_.find(ch);
      if (it != vocab_.end()) byte_ids_[b] = it->second;
    }
  }

  const json empty = json::array();
  const json& merges = model.contains("merges") ? model["merges"] : empty;
  if (!merges.is_array()) throw Error("tokenizer.json: model merges must be an array");
  size_t cap = 16;
  while (cap < merges.size() * 2) cap <<= 1;
  merges_.assign(cap, MergeSlot{kEmpty, 0, 0});
  merge_mask_ = cap - 1;
  int32_t rank = 0;
  std::string a, b;
  for (const json& m : merges) {
    // Old files write "a b"; newer ones [a, b] (which allows spaces inside tokens).
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos) throw Error("tokenizer.json: merge '" + s + "' is not of the form 'a b'");
      a = s.substr(0, sp), b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>(), b = m[1].get<std::string>();
    } else {
      throw Error("tokenizer.json: merge #" + std::to_string(rank) + " is neither 'a b' nor [a, b]");
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
      throw Error("tokenizer.json: merge '" + a + " " + b + "' uses a token missing from the vocab");
    add_merge(ia->second, ib->second, rank++, iab->second);
  }
  cache_ = std::make_unique<Shard[]>(kShards);
  for (size_t i = 0; i < kShards; ++i) cache_[i].slots.resize(kSlotsPerShard);
}

void Bpe::add_merge(int32_t left, int32_t right, int32_t rank, int32_t new_id) {
  uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  for (uint64_t h = mix(key) & merge_mask_;; h = (h + 1) & merge_mask_) {
    MergeSlot& slot = merges_[h];
    // A repeated pair takes the later rank, as HF's HashMap collect does.
    if (slot.key == kEmpty || slot.key == key) {
      slot = {key, rank, new_id};
      return;
    }
  }
}

const Bpe::MergeSlot* Bpe::find_merge(int32_t left, int32_t right) const {
  uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  for (uint64_t h = mix(key) & merge_mask_;; h = (h + 1) & merge_mask_) {
    const MergeSlot& slot = merges_[h];
    if (slot.key == key) return &slot;
    if (slot.key == kEmpty) return nullptr;
  }
}

bool Bpe::byte_tokens_for(std::string_view ch, BpeScratch& s) const {
  int32_t ids[4];
  int n = 0;
  for (unsigned char c : ch) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", c);
    auto it = vocab_.find(std::string_view(name));
    if (it == vocab_.end()) return false;
    ids[n++] = it->second;
  }
  for (int i = 0; i < n; ++i) {
    int32_t k = static_cast<int32_t>(s.symbols.size());
    s.symbols.push_back({ids[i], k - 1, k + 1, 1});
  }
  return true;
}

void Bpe::initial_symbols(std::string_view word, BpeScratch& s) const {
  s.symbols.clear();
  auto push = [&](int32_t id, int32_t n_bytes) {
    int32_t i = static_cast<int32_t>(s.symbols.size());
    s.symbols.push_back({id, i - 1, i + 1, n_bytes});
  };
  if (byte_level_) {
    for (unsigned char c : word) {
      if (byte_ids_[c] >= 0) push(byte_ids_[c], 1);
      else if (unk_id_) push(*unk_id_, 1);
      // else: HF drops a symbol it cannot look up when there is no unk token
    }
  } else {
    for (size_t i = 0; i < word.size();) {
      int n = 1;
      decode_utf8(word.data() + i, &n);
      std::string_view ch = word.substr(i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
      auto it = vocab_.find(ch);
      if (it != vocab_.end()) {
        push(it->second, n);
      } else if (byte_fallback_ && byte_tokens_for(ch, s)) {
        // byte_fallback: spell an unknown character as its <0xXX> byte tokens when all exist
      } else if (unk_id_) {
        if (fuse_unk_ && !s.symbols.empty() && s.symbols.back().id == *unk_id_) s.symbols.back().n_bytes += n;
        else push(*unk_id_, n);
      }
    }
  }
  if (!s.symbols.empty()) s.symbols.back().next = -1;
}

void Bpe::merge_word(std::string_view word, BpeScratch& s) const {
  s.ids.clear();
  if (ignore_merges_) {
    // A word that is itself a token is emitted whole, whatever the merges would do.
    std::string_view key = word;
    if (byte_level_) {
      s.mapped.clear();
      for (unsigned char c : word) append_utf8(s.mapped, byte_to_codepoint()[c]);
      key = s.mapped;
    }
    auto it = vocab_.find(key);
    if (it != vocab_.end()) {
      s.ids.push_back(it->second);
      return;
    }
  }
  initial_symbols(word, s);
  auto& sym = s.symbols;
  auto& heap = s.heap;
  heap.clear();
  // Min-heap on (rank, position): the lowest-ranked merge first, leftmost among equals.
  auto later = [](const BpeScratch::Candidate& x, const BpeScratch::Candidate& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  auto consider = [&](int32_t left) {
    int32_t right = sym[left].next;
    if (right < 0) return;
    if (const MergeSlot* m = find_merge(sym[left].id, sym[right].id)) {
      heap.push_back({m->rank, left, m->new_id});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    BpeScratch::Candidate top = heap.back();
    heap.pop_back();
    BpeScratch::Symbol& left = sym[top.pos];
    if (left.n_bytes == 0 || left.next < 0) continue;  // merged away, or nothing to the right
    BpeScratch::Symbol& right = sym[left.next];
    const MergeSlot* m = find_merge(left.id, right.id);
    if (!m || m->new_id != top.new_id) continue;  // stale: a neighbour changed since it was queued
    left.id = top.new_id;
    left.n_bytes += right.n_bytes;
    right.n_bytes = 0;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (const auto& x : sym)
    if (x.n_bytes > 0) s.ids.push_back(x.id);
}

void Bpe::encode_word(std::string_view word, std::vector<int32_t>& out, BpeScratch& s) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= static_cast<size_t>(kMaxCachedWordBytes);
  uint64_t hash = 0;
  Shard* shard = nullptr;
  Slot* slot = nullptr;
  if (cacheable) {
    hash = mix(std::hash<std::string_view>{}(word));
    shard = &cache_[hash % kShards];
    slot = &shard->slots[(hash / kShards) % kSlotsPerShard];
    std::lock_guard<std::mutex> lk(shard->mu);
    if (slot->hash == hash && slot->n_bytes == word.size() && std::memcmp(slot->word, word.data(), word.size()) == 0) {
      out.insert(out.end(), slot->ids, slot->ids + slot->n_ids);
      return;
    }
  }
  merge_word(word, s);
  out.insert(out.end(), s.ids.begin(), s.ids.end());
  if (cacheable && s.ids.size() <= static_cast<size_t>(kMaxCachedIds)) {
    std::lock_guard<std::mutex> lk(shard->mu);
    slot->hash = hash;
    slot->n_bytes = static_cast<uint8_t>(word.size());
    slot->n_ids = static_cast<uint8_t>(s.ids.size());
    std::memcpy(slot->word, word.data(), word.size());
    std::copy(s.ids.begin(), s.ids.end(), slot->ids);
  }
}

}  // namespace mm::tok
