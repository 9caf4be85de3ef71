#include "ops/attention_grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/simd/kernels.h"

namespace mm {

void attention_backward(ExecContext& ctx, const AttentionGradArgs& a) {
  const int64_t T = a.n_tokens, hd = a.head_dim, qw = a.n_heads * hd, kw = a.n_kv_heads * hd;
  const int64_t group = a.n_heads / a.n_kv_heads;
  ctx.parallel_for(a.n_seq * a.n_kv_heads, [&](int64_t tb, int64_t te, int) {
    std::vector<float> p(static_cast<size_t>(T));
    for (int64_t task = tb; task < te; ++task) {
      const int64_t s = task / a.n_kv_heads, g = task % a.n_kv_heads, r0 = s * T;
      for (int64_t j = 0; j < T; ++j) {
        std::fill_n(a.dk + (r0 + j) * kw + g * hd, hd, 0.0f);
        std::fill_n(a.dv + (r0 + j) * kw + g * hd, hd, 0.0f);
      }
      for (int64_t h = g * group; h < (g + 1) * group; ++h)
        for (int64_t t = 0; t < T; ++t) {
          const float* qt = a.q + (r0 + t) * qw + h * hd;
          const float* dot = a.d_o + (r0 + t) * qw + h * hd;
          float* dqt = a.dq + (r0 + t) * qw + h * hd;
          float m = -INFINITY;
          for (int64_t j = 0; j <= t; ++j) {
            p[size_t(j)] = a.scale * simd::dot(qt, a.k + (r0 + j) * kw + g * hd, hd);
            m = std::max(m, p[size_t(j)]);
          }
          const float z = simd::exp_shift_sum(p.data(), t + 1, m);  // p_j = exp(p_j − m), returns Σ
          const float inv_z = 1.0f / z;
          const float D = simd::dot(dot, a.o + (r0 + t) * qw + h * hd, hd);
          std::fill_n(dqt, hd, 0.0f);
          for (int64_t j = 0; j <= t; ++j) {
            const float pj = p[size_t(j)] * inv_z;
            const float* vj = a.v + (r0 + j) * kw + g * hd;
            const float ds = pj * (simd::dot(dot, vj, hd) - D) * a.scale;
            simd::axpy(ds, a.k + (r0 + j) * kw + g * hd, dqt, hd);
            simd::axpy(ds, qt, a.dk + (r0 + j) * kw + g * hd, hd);
            simd::axpy(pj, dot, a.dv + (r0 + j) * kw + g * hd, hd);
          }
        }
    }
  });
}

void attention_backward_ref(const AttentionGradArgs& a) {
  const int64_t T = a.n_tokens, hd = a.head_dim, qw = a.n_heads * hd, kw = a.n_kv_heads * hd;
  const int64_t group = a.n_heads / a.n_kv_heads, N = a.n_seq * T;
  std::vector<double> dq(static_cast<size_t>(N * qw), 0.0), dk(static_cast<size_t>(N * kw), 0.0), dv(static_cast<size_t>(N * kw), 0.0), p(static_cast<size_t>(T));
  for (int64_t s = 0; s < a.n_seq; ++s)
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const int64_t g = h / group, r0 = s * T;
      for (int64_t t = 0; t < T; ++t) {
        auto dotd = [&](const float* x, const float* y) {
          double acc = 0;
          for (int64_t c = 0; c < hd; ++c) acc += double(x[c]) * y[c];
          return acc;
        };
        const float* qt = a.q + (r0 + t) * qw + h * hd;
        const float* dot = a.d_o + (r0 + t) * qw + h * hd;
        double m = -INFINITY, z = 0;
        for (int64_t j = 0; j <= t; ++j) m = std::max(m, (p[size_t(j)] = a.scale * dotd(qt, a.k + (r0 + j) * kw + g * hd)));
        for (int64_t j = 0; j <= t; ++j) z += (p[size_t(j)] = std::exp(p[size_t(j)] - m));
        // D = Σ_j p_j (dO·v_j) (= dO·o; recomputed here so the twin does not trust the forward's o)
        double D = 0;
        for (int64_t j = 0; j <= t; ++j) D += p[size_t(j)] / z * dotd(dot, a.v + (r0 + j) * kw + g * hd);
        for (int64_t j = 0; j <= t; ++j) {
          const double pj = p[size_t(j)] / z;
          const double ds = pj * (dotd(dot, a.v + (r0 + j) * kw + g * hd) - D) * a.scale;
          for (int64_t c = 0; c < hd; ++c) {
            dq[size_t((r0 + t) * qw + h * hd + c)] += ds * a.k[(r0 + j) * kw + g * hd + c];
            dk[size_t((r0 + j) * kw + g * hd + c)] += ds * qt[c];
            dv[size_t((r0 + j) * kw + g * hd + c)] += pj * dot[c];
          }
        }
      }
    }
  for (int64_t i = 0; i < N * qw; ++i) a.dq[i] = float(dq[size_t(i)]);
  for (int64_t i = 0; i < N * kw; ++i) {
    a.dk[i] = float(dk[size_t(i)]);
    a.dv[i] = float(dv[size_t(i)]);
  }
}

}  // namespace mm
