#include "ops/basic.h"

#include <cmath>

#include "core/error.h"

namespace mm {

void rms_norm(const float* x, const float* w, int64_t n_rows, int64_t n, double eps, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
    float inv = float(1.0 / std::sqrt(ss / double(n) + eps));
    for (int64_t i = 0; i < n; ++i) o[i] = w[i] * (xr[i] * inv);
  }
}

void silu_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void sigmoid_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void swiglu_inplace(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
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
