// Lightning attention for training: the blocked forward that also saves the state at the start of
// every block, and the backward pass of one head (the blocked form: within a block, matrices of
// decayed scores; across blocks, the state gradient carried backwards), next to the forward's
// lightning.h. lightning_backward_ref is the token-by-token twin (double precision, every state kept).
//
// Per head, with λ = exp(-s), a block of n tokens starting from state S0 (n ≤ block):
//   o_t   = λ^{t+1} q_t S0 + Σ_{j≤t} λ^{t-j} (q_t·k_j) v_j,     S_end = λ^n S0 + Σ_j λ^{n-1-j} k_jᵀ v_j
// Backward, with G = dL/dS_end (carried from the next block) and dA[t,j] = λ^{t-j} (dO_t·v_j):
//   dq_t = λ^{t+1} dO_t S0ᵀ + Σ_{j≤t} dA[t,j] k_j
//   dk_j = λ^{n-1-j} G v_j + Σ_{t≥j} dA[t,j] q_t
//   dv_j = λ^{n-1-j} k_j G + Σ_{t≥j} λ^{t-j} (q_t·k_j) dO_t
//   dL/dS0 = λ^n G + Σ_t λ^{t+1} q_tᵀ dO_t
#pragma once
#include <cstdint>

#include "ops/lightning.h"

namespace mm {

// Number of blocks of `block` tokens covering n_tokens.
inline int64_t lightning_n_blocks(int64_t n_tokens, int64_t block) { return (n_tokens + block - 1) / block; }

// lightning_blocked (same numbers: it runs it block by block), saving the state at the start of each
// block into block_states [lightning_n_blocks(n, block), d, d]. a.state is read and updated as there.
void lightning_forward_train(const LightningHeadArgs& a, int64_t block, float* block_states);

struct LightningGradArgs {
  const float* d_o;  // [n_tokens] rows of d, d_o_stride apart: dL/do
  int64_t d_o_stride;
  float* dq;  // [n_tokens] rows of d, d_stride apart (may point into a fused [dq | dk | dv] buffer)
  float* dk;
  float* dv;
  int64_t d_stride;
  const float* d_state_end;  // [d, d] dL/dS at the end (null: 0)
  float* d_state0;           // [d, d] receives dL/dS0 (null: not wanted)
};

// Backward of one head (a: the forward's q, k, v, n_tokens, d, slope; a.state unused), from the block
// states lightning_forward_train saved with the same `block`.
void lightning_backward(const LightningHeadArgs& a, int64_t block, const float* block_states, const LightningGradArgs& g);

// Scalar twin: states S_t recomputed in double from s0 ([d, d], null: zero), then the recurrence
// walked backwards. Same outputs as lightning_backward.
void lightning_backward_ref(const LightningHeadArgs& a, const float* s0, const LightningGradArgs& g);

}  // namespace mm
