#include "engine/prefix_cache.h"

#include <algorithm>

namespace mm {

void PrefixCache::insert(std::span<const int32_t> tokens, const SequenceState& seq) {
  if (!enabled() || seq.n_past <= 0) return;
  MM_CHECK(int64_t(tokens.size()) >= seq.n_past);
  const std::span<const int32_t> held = tokens.first(size_t(seq.n_past));
  for (auto& e : entries_)
    if (std::equal(e.tokens.begin(), e.tokens.end(), held.begin(), held.end())) {
      e.last_used = ++clock_;
      return;
    }
  // (sized before forking: a fork copies every lightning state, wasted on a snapshot over the budget)
  size_t bytes = seq.state_bytes() + held.size() * sizeof(int32_t);
  for (const auto& l : seq.layers)  // the pages a fork shares: those of positions [0, n_past)
    if (auto* kv = std::get_if<KvCache>(&l))
      bytes += size_t(std::min<int64_t>(kv->n_pages(), (seq.n_past + KvPool::kPageTokens - 1) / KvPool::kPageTokens)) *
               kv->pool().page_bytes();
  if (bytes > max_bytes_) return;
  Entry e;
  e.tokens.assign(held.begin(), held.end());
  e.seq = seq.fork();
  e.bytes = bytes;
  e.last_used = ++clock_;
  n_bytes_ += e.bytes;
  entries_.push_back(std::move(e));
  while (n_bytes_ > max_bytes_ && evict_one()) {
  }
}

std::unique_ptr<SequenceState> PrefixCache::lookup(std::span<const int32_t> prompt, int64_t max_len) {
  Entry* best = nullptr;
  int64_t best_len = 0;
  for (auto& e : entries_) {
    const int64_t n = std::min<int64_t>(int64_t(e.tokens.size()), std::min<int64_t>(max_len, int64_t(prompt.size())));
    const int64_t common = std::mismatch(e.tokens.begin(), e.tokens.begin() + n, prompt.begin()).first - e.tokens.begin();
    // A lightning state exists only at the entry's end.
    const int64_t usable = e.seq->has_lightning() ? (common == int64_t(e.tokens.size()) ? common : 0) : common;
    if (usable > best_len) best = &e, best_len = usable;
  }
  if (!best) return nullptr;
  best->last_used = ++clock_;
  auto s = best->seq->fork();
  s->truncate(best_len);
  return s;
}

bool PrefixCache::evict_one() {
  if (entries_.empty()) return false;
  auto it = std::min_element(entries_.begin(), entries_.end(),
                             [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; });
  n_bytes_ -= it->bytes;
  entries_.erase(it);
  return true;
}

}  // namespace mm
