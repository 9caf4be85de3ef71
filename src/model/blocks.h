// Building blocks shared by the architectures' forward passes: batch layout, embedding lookup,
// softmax attention with a KV cache (GQA, optional whole-vector QK-norm, partial NeoX RoPE), and the
// output head.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/model.h"
#include "ops/moe.h"
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
void softmax_attention_block(ExecContext& ctx, const SoftmaxAttnWeights& w, const SoftmaxAttnShape& s, const Rope& rope,
                             std::span<const BatchItem> batch, const BatchLayout& lay, int64_t il,
                             const float* x, float* out);

// Final norm + lm_head for the rows whose logits the items asked for; writes item.logits.
void output_logits(ExecContext& ctx, const Weight& lm_head, const std::vector<float>& final_norm, double eps,
                   std::span<const BatchItem> batch, const BatchLayout& lay, const float* h);

// ---- tensor declarations shared by the architectures (HF names) ---------------------------------------

std::string layer_prefix(int64_t il);  // "model.layers.{il}."

struct GlobalWeights {
  Weight embed, lm_head;          // [vocab, hidden]
  std::vector<float> final_norm;  // [hidden]
};
// Each declare_* names its tensors once and hands them to `v` with the field they bind to.
// embed_tokens, final norm, lm_head (unless tied: then lm_head is the embedding).
void declare_global(const ModelConfig& c, GlobalWeights& g, const TensorVisitor& v);
// input_layernorm and post_attention_layernorm of the layer at prefix p.
void declare_layer_norms(const std::string& p, const ModelConfig& c, std::vector<float>& input_norm,
                         std::vector<float>& post_norm, const TensorVisitor& v);
// q/k/v/o projections of a softmax-attention layer, plus whole-vector q_norm/k_norm if qk_norm.
void declare_softmax_attn(const std::string& p, const ModelConfig& c, bool qk_norm, SoftmaxAttnWeights& w,
                          const TensorVisitor& v);
// Router, optional e_score_correction_bias, and every expert's w1/w3/w2.
void declare_moe(const std::string& p, const ModelConfig& c, bool routing_bias, MoeLayerWeights& m,
                 const TensorVisitor& v);

// Bytes of a weight plus its fp8 block scales (if any).
double weight_bytes(const Weight& w);
// Bytes one token reads: lm_head + one embedding row; per layer the given dense weights and top-k of E experts.
double moe_active_bytes(const MoeLayerWeights& m, const ModelConfig& c);

// Bytes of every tensor of the table as stored (fp8 scales included; tensors outside the table, such
// as MTP layers, excluded).
double table_weight_bytes(const TensorStore& store, const std::vector<TensorSpec>& specs);

// A pool of KV pages for cfg's softmax layers (rows of n_kv_heads * head_dim values).
std::shared_ptr<KvPool> make_kv_pool(const ModelConfig& cfg, KvType type, int64_t n_pages_max);
// Per-layer memory for `cfg`: KV caches (page tables into `pool`; null: a private unbounded f32 pool)
// for softmax layers, zeroed states for lightning layers.
std::unique_ptr<SequenceState> make_sequence_state(const ModelConfig& cfg, int64_t n_ctx_max, std::shared_ptr<KvPool> pool);

}  // namespace mm
