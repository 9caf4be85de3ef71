#include "ops/basic.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mm {

namespace {

// Element-wise work is split across the pool only when it is big enough (prefill) to repay the
// hand-off; decode-sized vectors stay on the calling thread.
constexpr int64_t kParallelMin = 1 << 15;

template <class F>
void for_elements(ExecContext& ctx, int64_t n, F&& f) {
  if (n < 2 * kParallelMin) return f(int64_t(0), n);
  ctx.parallel_for(n, [&](int64_t b, int64_t e, int) { f(b, e); }, kParallelMin);
}

void rms_norm_row(const float* xr, const float* w, int64_t n, double eps, const float* gate, float* o) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
  const float inv = float(1.0 / std::sqrt(ss / double(n) + eps));
  if (gate)
    for (int64_t i = 0; i < n; ++i) o[i] = w[i] * (xr[i] * inv) * (1.0f / (1.0f + std::exp(-gate[i])));
  else
    for (int64_t i = 0; i < n; ++i) o[i] = w[i] * (xr[i] * inv);
}

void rms_norm_rows(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n, double eps, const float* gate,
                   float* out) {
  auto rows = [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) rms_norm_row(x + r * n, w, n, eps, gate ? gate + r * n : nullptr, out + r * n);
  };
  if (n_rows * n < 2 * kParallelMin) return rows(0, n_rows);
  ctx.parallel_for(n_rows, [&](int64_t b, int64_t e, int) { rows(b, e); }, std::max<int64_t>(1, kParallelMin / n));
}

}  // namespace

void rms_norm(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n, double eps, float* out) {
  rms_norm_rows(ctx, x, w, n_rows, n, eps, nullptr, out);
}

void rms_norm_sigmoid_gate(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n, double eps, const float* gate,
                           float* out) {
  rms_norm_rows(ctx, x, w, n_rows, n, eps, gate, out);
}

void silu_inplace(ExecContext& ctx, float* x, int64_t n) {
  for_elements(ctx, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
  });
}

void sigmoid_inplace(ExecContext& ctx, float* x, int64_t n) {
  for_elements(ctx, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
  });
}

void swiglu_inplace(ExecContext& ctx, float* g, const float* u, int64_t n) {
  for_elements(ctx, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  });
}

void softmax_inplace(float* x, int64_t n) {
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, x[i]);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  float inv = float(1.0 / s);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

Rope::Rope(int64_t rotary_dim_, double theta) : rotary_dim(rotary_dim_) {
  MM_CHECK(rotary_dim % 2 == 0 && rotary_dim / 2 <= 512);
  // inv_freq[i] = 1 / theta^(2i / rotary_dim), as the reference's fp32 buffer.
  for (int64_t i = 0; i < rotary_dim / 2; ++i)
    inv_freq[i] = float(1.0 / std::pow(theta, double(2 * i) / double(rotary_dim)));
}

void Rope::apply(float* x, int64_t n_heads, int64_t head_dim, int64_t pos) const {
  const int64_t half = rotary_dim / 2;
  float cs[512], sn[512];
  for (int64_t i = 0; i < half; ++i) {
    float angle = float(pos) * inv_freq[i];  // fp32 product, as the reference
    cs[i] = float(std::cos(double(angle)));
    sn[i] = float(std::sin(double(angle)));
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      float a = v[i], b = v[i + half];
      v[i] = a * cs[i] - b * sn[i];
      v[i + half] = b * cs[i] + a * sn[i];
    }
  }
}

}  // namespace mm
