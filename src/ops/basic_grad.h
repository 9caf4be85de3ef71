// Backward passes of the element-wise and row-wise ops of ops/basic.h (and of the embedding lookup and
// the loss), next to their forward ops. Conventions: `d*` arguments are gradients of the loss with
// respect to the named tensor; weight gradients are accumulated (+=), input gradients overwrite unless
// the name says accumulate. Every function here is plain scalar code: it is its own reference.
#pragma once
#include <cstdint>

#include "core/exec_context.h"
#include "ops/basic.h"

namespace mm {

// y[r] = w ⊙ x[r] · rstd[r], rstd = 1/sqrt(mean(x[r]²) + eps)   (rms_norm).
// dx (may alias dy) = rstd·(w⊙dy) − x·rstd³/n·Σ(w⊙dy⊙x);  dw += Σ_r dy ⊙ x·rstd.
void rms_norm_backward(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n, double eps,
                       const float* dy, float* dx, float* dw);

// y = rms_norm(x) ⊙ sigmoid(gate)   (rms_norm_sigmoid_gate, the lightning output path).
// Writes dx and dgate, accumulates dw.
void rms_norm_sigmoid_gate_backward(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n,
                                    double eps, const float* gate, const float* dy, float* dx, float* dw,
                                    float* dgate);

// y = silu(x): dx = dy · σ(x)(1 + x(1 − σ(x))). dx may alias dy.
void silu_backward(ExecContext& ctx, const float* x, const float* dy, int64_t n, float* dx);

// y = silu(g) ⊙ u: dg = dy ⊙ u ⊙ silu'(g), du = dy ⊙ silu(g).
void swiglu_backward(ExecContext& ctx, const float* g, const float* u, const float* dy, int64_t n, float* dg, float* du);

// RoPE is a rotation per pair: its backward is the rotation by the opposite angle, applied in place
// to the gradient of one token's rotated vector [n_heads, head_dim] at position pos.
void rope_backward(const Rope& rope, float* dx, int64_t n_heads, int64_t head_dim, int64_t pos);

// Embedding lookup out[t] = table[ids[t]]: dtable[ids[t]] += dout[t] (rows of width n).
void embedding_backward(const int32_t* ids, int64_t n_tokens, const float* dout, int64_t n, float* dtable);

// Mean cross-entropy of the rows whose target is >= 0 (targets < 0 are ignored), computed in double:
// returns Σ_rows −log softmax(logits[r])[target[r]] and the number of counted rows. When dlogits is
// not null it receives (softmax − onehot) · grad_scale for counted rows and 0 for ignored ones
// (grad_scale: usually 1 / the batch's counted rows). dlogits may alias logits.
struct CrossEntropy {
  double sum_nll = 0;
  int64_t n_counted = 0;
};
CrossEntropy cross_entropy(ExecContext& ctx, const float* logits, const int32_t* targets, int64_t n_rows, int64_t vocab,
                           float grad_scale, float* dlogits);

}  // namespace mm
