// Lightning attention (MiniMax-Text-01 linear layers): un-normalised linear attention with a
// per-head exponential decay λ = exp(-s). Per head, state S ∈ R^{d×d} (rows: key dim, cols: value dim):
//   S_t = λ·S_{t-1} + k_tᵀ v_t,    o_t = q_t · S_t
// Three forms that must agree: block-wise (prefill, Lightning Attention-2), recurrent (decode), and a
// naive O(n²) reference. All work on one head; q, k, v rows are `stride` floats apart so they can
// point into the fused per-head [q | k | v] projection; o rows are `o_stride` apart.
#pragma once
#include <cstdint>
#include <vector>

namespace mm {

struct LightningHeadArgs {
  const float* q;
  const float* k;
  const float* v;
  int64_t stride;  // between consecutive tokens of q / k / v
  float* o;
  int64_t o_stride;
  int64_t n_tokens;
  int64_t d;
  float slope;   // s: λ = exp(-s)
  float* state;  // [d, d], read and updated
};

// Slopes s[h] of global layer `layer` (of n_layers): ALiBi base slope of head h (computed in double,
// rounded to f32) times the f32 factor 1 - layer/(n_layers-1) + 1e-5, multiplied in f32.
std::vector<float> lightning_slopes(int64_t n_heads, int64_t layer, int64_t n_layers);

// Block-wise: blocks of `block` tokens; inter-block part uses the carried state.
void lightning_blocked(const LightningHeadArgs& a, int64_t block);
// Token-by-token recurrence.
void lightning_recurrent(const LightningHeadArgs& a);
// Naive reference: o_t = λ^{t+1} q_t·S_0 + Σ_{j≤t} λ^{t-j} (q_t·k_j) v_j, state updated likewise
// (double accumulation).
void lightning_naive(const LightningHeadArgs& a);

}  // namespace mm
