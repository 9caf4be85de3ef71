#include "ops/linear_grad.h"

#include <algorithm>
#include <vector>

#include "ops/simd/kernels.h"

namespace mm {

namespace {

constexpr int64_t kColBlock = 64;  // output columns per task (fixed: results independent of threads)

// y[t, o] (+)= Σ_k x[t, k] · b[o, k] for o in [0, n_out): b is [n_out, n_in] f32 rows.
void gemm_nt_f32(ExecContext& ctx, const float* x, int64_t n_rows, const float* b, int64_t n_out, int64_t n_in, float* y,
                 bool accumulate) {
  if (n_rows == 0 || n_out == 0) return;
  if (n_in == 0) {
    if (!accumulate) std::fill(y, y + n_rows * n_out, 0.0f);
    return;
  }
  simd::GemmB gb;
  gb.kind = simd::BKind::F32;
  gb.data = reinterpret_cast<const uint8_t*>(b);
  gb.row_bytes = size_t(n_in) * sizeof(float);
  gb.n_in = n_in;
  const int64_t n_blocks = (n_out + kColBlock - 1) / kColBlock;
  ctx.parallel_for(n_blocks, [&](int64_t bb, int64_t be, int) {
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t o0 = blk * kColBlock, o1 = std::min(n_out, o0 + kColBlock);
      simd::gemm_nt(x, n_in, n_rows, gb, o0, o1, y, n_out, accumulate);
    }
  });
}

}  // namespace

void transpose(const float* in, int64_t n_rows, int64_t n_cols, float* out) {
  constexpr int64_t B = 32;
  for (int64_t r0 = 0; r0 < n_rows; r0 += B)
    for (int64_t c0 = 0; c0 < n_cols; c0 += B)
      for (int64_t r = r0; r < std::min(n_rows, r0 + B); ++r)
        for (int64_t c = c0; c < std::min(n_cols, c0 + B); ++c) out[c * n_rows + r] = in[r * n_cols + c];
}

void linear_forward(ExecContext& ctx, const float* x, int64_t n_rows, const float* w, int64_t n_out, int64_t n_in,
                    float* y, bool accumulate) {
  gemm_nt_f32(ctx, x, n_rows, w, n_out, n_in, y, accumulate);
}

void linear_backward(ExecContext& ctx, const float* x, const float* dy, int64_t n_rows, const float* w, int64_t n_out,
                     int64_t n_in, float* dx, bool accumulate_dx, float* dw) {
  if (n_rows == 0) return;
  std::vector<float> dy_t(static_cast<size_t>(n_out * n_rows)), x_t(static_cast<size_t>(n_in * n_rows));  // [n_out, T], [n_in, T]
  transpose(dy, n_rows, n_out, dy_t.data());
  if (dx) {
    std::vector<float> w_t(static_cast<size_t>(n_in * n_out));  // [n_in, n_out]
    transpose(w, n_out, n_in, w_t.data());
    gemm_nt_f32(ctx, dy, n_rows, w_t.data(), n_in, n_out, dx, accumulate_dx);  // dx[T, n_in] = dy · W
  }
  transpose(x, n_rows, n_in, x_t.data());
  gemm_nt_f32(ctx, dy_t.data(), n_out, x_t.data(), n_in, n_rows, dw, /*accumulate=*/true);  // dw[n_out, n_in] += dyᵀ x
}

void linear_forward_ref(const float* x, int64_t n_rows, const float* w, int64_t n_out, int64_t n_in, float* y) {
  for (int64_t t = 0; t < n_rows; ++t)
    for (int64_t o = 0; o < n_out; ++o) {
      double s = 0;
      for (int64_t k = 0; k < n_in; ++k) s += double(x[t * n_in + k]) * w[o * n_in + k];
      y[t * n_out + o] = float(s);
    }
}

void linear_backward_ref(const float* x, const float* dy, int64_t n_rows, const float* w, int64_t n_out, int64_t n_in,
                         float* dx, bool accumulate_dx, float* dw) {
  if (dx)
    for (int64_t t = 0; t < n_rows; ++t)
      for (int64_t k = 0; k < n_in; ++k) {
        double s = accumulate_dx ? dx[t * n_in + k] : 0.0;
        for (int64_t o = 0; o < n_out; ++o) s += double(dy[t * n_out + o]) * w[o * n_in + k];
        dx[t * n_in + k] = float(s);
      }
  for (int64_t o = 0; o < n_out; ++o)
    for (int64_t k = 0; k < n_in; ++k) {
      double s = dw[o * n_in + k];
      for (int64_t t = 0; t < n_rows; ++t) s += double(dy[t * n_out + o]) * x[t * n_in + k];
      dw[o * n_in + k] = float(s);
    }
}

}  // namespace mm
