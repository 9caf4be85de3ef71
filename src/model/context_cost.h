// What a context of N tokens costs a model, from its ModelConfig alone (no weights needed):
//
//   * memory of one sequence: the KV pages of the softmax layers (they grow with N, stored as the
//     chosen KvType) and the fp32 d x d states of the lightning layers (constant in N), plus the
//     weights, whose byte count the caller passes in;
//   * analytic forward FLOPs of one new token that attends to N previous ones, split into the
//     terms that are constant in N (matmuls, lightning recurrences) and the term linear in N
//     (softmax attention), so a per-token figure and the cumulative cost of generating T tokens
//     both follow in closed form;
//   * the same FLOP model for a DeepSeek-R1-shaped full-attention reference (MLA), to check the
//     MiniMax-M1 paper's claim that M1 needs 25% of DeepSeek-R1's FLOPs at 100K generated tokens.
//
// Used by `minimax info --ctx N [--kv-type T] [--flops]`; pure functions, tested against hand
// computations in tests/test_context_cost.cpp.
#pragma once
#include <cstdint>
#include <string>

#include "model/config.h"
#include "ops/kv_codec.h"

namespace mm {

// Tokens per KV page (KvPool::kPageTokens): a sequence's KV memory grows a page at a time.
inline constexpr int64_t kContextPageTokens = 64;

struct ContextMemory {
  int64_t n_tokens = 0;
  KvType kv_type = KvType::F16;
  int64_t n_pages = 0;         // per softmax layer: ceil(n_tokens / 64)
  uint64_t kv_row_bytes = 0;   // one token's K (or V) row of one layer: num_key_value_heads * head_dim values
  uint64_t kv_bytes = 0;       // n_softmax_layers * n_pages * 2 (K and V) * 64 * kv_row_bytes
  uint64_t state_bytes = 0;    // n_lightning_layers * num_attention_heads * head_dim^2 * 4 (fp32)
  uint64_t weight_bytes = 0;   // as passed in
  uint64_t total_bytes = 0;    // kv + state + weights
};

// Memory of one sequence of n_tokens tokens. Throws mm::Error for n_tokens < 0 and for a KV type the
// model's rows cannot be stored as (q8_0 needs head_dim a multiple of 32: a head's slice of a row must
// start on a 32-value block).
ContextMemory context_memory(const ModelConfig& cfg, int64_t n_tokens, KvType kv_type, uint64_t weight_bytes);

// Forward FLOPs of one token at depth N (N previous tokens in the context), counting a multiply-add
// as 2 FLOPs:  per_token(N) = matmul_flops + lightning_flops + attention_flops_per_depth * N.
// Norms, activations, RoPE, softmax exponentials and routing top-k are left out (O(hidden) each, far
// below 1% of any term here).
struct FlopModel {
  std::string name;
  // Weight parameters one token multiplies with: every dense projection (attention in / out, the
  // lightning output gate), the router, the top-k routed experts (and shared experts), the lm_head.
  // Not the embedding (a lookup) nor norm weights (elementwise).
  double active_matmul_params = 0;
  double matmul_flops = 0;    // 2 * active_matmul_params
  // Lightning layers, per token, independent of N: the state update S = lambda S + k^T v (d^2
  // multiply-adds per head) and the readout o = q S (d^2 multiply-adds per head):
  // n_lightning_layers * 4 * num_attention_heads * head_dim^2 (the lambda scaling, d^2 multiplies per
  // head, is left out as the brief's "~4 H d^2" does).
  double lightning_flops = 0;
  // Softmax layers, per previous token: scores q.k (2 * d_qk per head) and the weighted value sum
  // (2 * d_v per head): n_softmax_layers * 2 * num_attention_heads * (d_qk + d_v); for MiniMax
  // (d_qk = d_v = head_dim) that is n_softmax_layers * 4 * num_attention_heads * head_dim.
  double attention_flops_per_depth = 0;

  double fixed_flops() const { return matmul_flops + lightning_flops; }
  // FLOPs of one token at depth n_past (throws mm::Error for n_past < 0).
  double per_token(int64_t n_past) const;
  // FLOPs of generating n_tokens tokens from an empty context: the sum of per_token(n) over
  // n = 0 .. n_tokens - 1 = n_tokens * fixed + attention_flops_per_depth * n_tokens (n_tokens - 1) / 2.
  double cumulative(int64_t n_tokens) const;
};

// The FLOP model of a MiniMax config (Text-01 / M1 hybrid or M2 full attention), from its tensor table
// (model_tensor_specs): the active parameters are those of the weights the forward multiplies with.
FlopModel flop_model(const ModelConfig& cfg);

// DeepSeek-R1 (= DeepSeek-V3's architecture, its published config.json), full MLA attention in every
// layer. absorbed_mla = false: attention as the reference forward computes it, with per-head keys of
// d_qk = 192 (128 + 64 rope) and values of d_v = 128 (the figure the M1 paper's comparison is read
// against here); true: the "absorbed" decode form that attends over the 512 + 64 latent dims and sums
// 512-dim latent values (less memory traffic, more FLOPs per previous token).
FlopModel deepseek_r1_flop_model(bool absorbed_mla = false);

// The MiniMax-M1 paper's claim (arXiv 2506.13585, section 1 / figure 1): at a generation length of
// 100K tokens M1 consumes 25% of DeepSeek-R1's FLOPs.
inline constexpr int64_t kM1PaperGenerationTokens = 100000;
inline constexpr double kM1PaperFlopRatio = 0.25;

}  // namespace mm
