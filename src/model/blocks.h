// Building blocks shared by the architectures' forward passes: batch layout, embedding lookup,
// softmax attention with a KV cache (GQA, optional whole-vector QK-norm, partial NeoX RoPE), and the
// output head.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/model.h"
#include "ops/basic.h"
#include "ops/weight.h"

namespace mm {

// Rows of the batch laid end to end: item i owns rows [row0[i], row0[i] + n_tokens).
struct BatchLayout {
  explicit BatchLayout(std::span<const BatchItem> batch);
  std::vector<int64_t> row0;
  int64_t n_rows = 0;
};

// out[t, :] = embedding row of token t, as f32. out: [n_rows, hidden].
void embed_tokens(const Weight& emb, std::span<const BatchItem> batch, const BatchLayout& lay, float* out);

struct SoftmaxAttnWeights {
  Weight q, k, v, o;                 // [H·hd, hidden], [kv·hd, hidden] x2, [hidden, H·hd]
  std::vector<float> q_norm, k_norm;  // M2 QK-norm over the whole projected q / k (empty: none)
};

struct SoftmaxAttnShape {
  int64_t n_heads, n_kv_heads, head_dim;
  double qk_norm_eps;
};

// x: [n_rows, hidden] (normalised layer input) -> out: [n_rows, hidden]. Appends the new keys and
// values to each item's KvCache at layer `il`.
void softmax_attention_block(const SoftmaxAttnWeights& w, const SoftmaxAttnShape& s, const Rope& rope,
                             std::span<const BatchItem> batch, const BatchLayout& lay, int64_t il,
                             const float* x, float* out);

// Final norm + lm_head for the rows whose logits the items asked for; writes item.logits.
void output_logits(const Weight& lm_head, const std::vector<float>& final_norm, double eps,
                   std::span<const BatchItem> batch, const BatchLayout& lay, const float* h);

// Allocates per-layer memory for `cfg` (KV caches for softmax layers, zeroed states for lightning).
std::unique_ptr<SequenceState> make_sequence_state(const ModelConfig& cfg, int64_t n_ctx_max);

}  // namespace mm
