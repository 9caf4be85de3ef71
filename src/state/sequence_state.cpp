#include "state/sequence_state.h"

#include <algorithm>

namespace mm {

void KvCache::reserve(int64_t n_tokens) {
  if (n_tokens <= n_capacity) return;
  int64_t cap = std::max<int64_t>(n_tokens, std::max<int64_t>(64, n_capacity * 2));
  k.resize(size_t(cap * width));
  v.resize(size_t(cap * width));
  n_capacity = cap;
}

void SequenceState::reset() {
  n_past = 0;
  for (auto& l : layers)
    if (auto* s = std::get_if<LinearState>(&l)) std::fill(s->s.begin(), s->s.end(), 0.0f);
}

size_t SequenceState::kv_bytes() const {
  size_t n = 0;
  for (const auto& l : layers)
    if (auto* kv = std::get_if<KvCache>(&l)) n += (kv->k.size() + kv->v.size()) * sizeof(float);
  return n;
}

size_t SequenceState::state_bytes() const {
  size_t n = 0;
  for (const auto& l : layers)
    if (auto* s = std::get_if<LinearState>(&l)) n += s->s.size() * sizeof(float);
  return n;
}

}  // namespace mm
