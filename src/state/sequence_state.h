// Per-sequence memory, chosen per layer: a KV cache for softmax-attention layers, a d x d state per
// head for lightning (linear-attention) layers. A softmax-only cache is never bent to fit the
// recurrent layers: each layer owns the memory its attention kind needs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

namespace mm {

struct KvCache {
  int64_t width = 0;         // n_kv_heads * head_dim
  int64_t n_capacity = 0;    // tokens allocated
  std::vector<float> k, v;   // [n_capacity, width]
  // Grows (geometrically) so that n_tokens rows fit.
  void reserve(int64_t n_tokens);
  float* k_row(int64_t pos) { return k.data() + pos * width; }
  float* v_row(int64_t pos) { return v.data() + pos * width; }
};

struct LinearState {
  int64_t n_heads = 0, d = 0;
  std::vector<float> s;  // [n_heads, d, d] fp32, rows = key dim, cols = value dim
  float* head(int64_t h) { return s.data() + h * d * d; }
};

using LayerMemory = std::variant<KvCache, LinearState>;

struct SequenceState {
  int64_t n_past = 0;     // tokens already processed
  int64_t n_ctx_max = 0;  // hard limit on n_past
  std::vector<LayerMemory> layers;

  // Forget everything (n_past = 0, states zeroed, caches kept allocated).
  void reset();
  // Bytes held now: KV caches of the softmax layers + states of the lightning layers.
  size_t n_bytes() const { return kv_bytes() + state_bytes(); }
  size_t kv_bytes() const;
  size_t state_bytes() const;
};

}  // namespace mm
