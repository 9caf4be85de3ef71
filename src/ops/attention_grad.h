// Backward of causal softmax attention with GQA (the training side of ops/attention.h), for sequences
// laid end to end in contiguous buffers, each starting at position 0.
//   P = softmax(scale · q kᵀ + causal mask),  o = P v
//   dv = Pᵀ do,  dS = P ⊙ (do vᵀ − rowsum(do ⊙ o)),  dq = scale · dS k,  dk = scale · dSᵀ q
// The probabilities are recomputed one query row at a time (no T x T matrix is kept); a task is one
// (sequence, kv head), owning the dk / dv rows of its group, so no two tasks write the same memory.
#pragma once
#include <cstdint>

#include "core/exec_context.h"

namespace mm {

struct AttentionGradArgs {
  const float* q;    // [n_seq·T, n_heads·head_dim], RoPE applied (as the forward saw it)
  const float* k;    // [n_seq·T, n_kv_heads·head_dim]
  const float* v;    // [n_seq·T, n_kv_heads·head_dim]
  const float* o;    // [n_seq·T, n_heads·head_dim] the forward's output
  const float* d_o;  // [n_seq·T, n_heads·head_dim]
  int64_t n_seq, n_tokens;  // n_tokens (T) per sequence
  int64_t n_heads, n_kv_heads, head_dim;
  float scale;
  float* dq;  // [n_seq·T, n_heads·head_dim]   (overwritten)
  float* dk;  // [n_seq·T, n_kv_heads·head_dim] (overwritten)
  float* dv;  // [n_seq·T, n_kv_heads·head_dim] (overwritten)
};

void attention_backward(ExecContext& ctx, const AttentionGradArgs& a);
// Scalar twin: full probability rows in double.
void attention_backward_ref(const AttentionGradArgs& a);

}  // namespace mm
