// Linear layers on owned f32 weights (the trainer's parameters), forward and backward, next to each
// other: y[T, n_out] = x[T, n_in] · Wᵀ with W [n_out, n_in] row-major (PyTorch's nn.Linear layout).
// All three products run on the SIMD f32 GEMM (simd::gemm_nt) over fixed column blocks, so results do
// not depend on the thread count; linear_*_ref are the plain scalar twins (double accumulation).
#pragma once
#include <cstdint>

#include "core/exec_context.h"

namespace mm {

// y = x · Wᵀ (accumulate: y += x · Wᵀ).
void linear_forward(ExecContext& ctx, const float* x, int64_t n_rows, const float* w, int64_t n_out, int64_t n_in,
                    float* y, bool accumulate = false);
// dx = dy · W (dx += when accumulate_dx; dx may be null: not wanted), dw += dyᵀ · x.
void linear_backward(ExecContext& ctx, const float* x, const float* dy, int64_t n_rows, const float* w, int64_t n_out,
                     int64_t n_in, float* dx, bool accumulate_dx, float* dw);

void linear_forward_ref(const float* x, int64_t n_rows, const float* w, int64_t n_out, int64_t n_in, float* y);
void linear_backward_ref(const float* x, const float* dy, int64_t n_rows, const float* w, int64_t n_out, int64_t n_in,
                         float* dx, bool accumulate_dx, float* dw);

// out[c, r] = in[r, c] for an [n_rows, n_cols] matrix (blocked for the cache).
void transpose(const float* in, int64_t n_rows, int64_t n_cols, float* out);

}  // namespace mm
