// Element-wise and row-wise ops on f32 activations (split across the context's pool when big enough).
#pragma once
#include <cstdint>

#include "core/exec_context.h"

namespace mm {

// out[r] = w ⊙ x[r] / sqrt(mean(x[r]²) + eps) for n_rows rows of n; out may alias x.
void rms_norm(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n, double eps, float* out);
// Fused norm + output gate (lightning output path): out[r] = rms_norm(x[r]) ⊙ sigmoid(gate[r]); one
// pass over the activations instead of three. out may alias x.
void rms_norm_sigmoid_gate(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n, double eps, const float* gate,
                           float* out);
void silu_inplace(ExecContext& ctx, float* x, int64_t n);
void sigmoid_inplace(ExecContext& ctx, float* x, int64_t n);
// g[i] = silu(g[i]) * u[i]
void swiglu_inplace(ExecContext& ctx, float* g, const float* u, int64_t n);
// In-place softmax over n values.
void softmax_inplace(float* x, int64_t n);

// NeoX ("rotate_half") RoPE on the first rotary_dim dims of each head of one token's vector
// [n_heads, head_dim]: pairs (i, i + rotary_dim/2). Angles pos·inv_freq in fp32 as the reference.
struct Rope {
  Rope(int64_t rotary_dim, double theta);
  void apply(float* x, int64_t n_heads, int64_t head_dim, int64_t pos) const;
  int64_t rotary_dim;
  float inv_freq[512];
};

}  // namespace mm
