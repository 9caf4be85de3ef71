#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/simd/kernels.h"

namespace mm {

void attention_causal(const AttentionArgs& a) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t q_stride = a.n_heads * hd, kv_stride = a.n_kv_heads * hd;
  // Keys are visited in tiles of kTile: one tile's scores are computed as dot products, then a single
  // online-softmax rescale per tile (not per key) folds them into the accumulator. Memory stays
  // O(kTile) per task; no n x n score matrix exists.
  constexpr int64_t kTile = 64;
  global_pool().parallel_for(a.n_q * a.n_heads, [&](int64_t b, int64_t e, int) {
    std::vector<float> acc(static_cast<size_t>(hd));
    float sc[kTile];
    for (int64_t task = b; task < e; ++task) {
      const int64_t i = task / a.n_heads, h = task % a.n_heads, kvh = h / group;
      const float* q = a.q + i * q_stride + h * hd;
      const int64_t n_keys = a.pos0 + i + 1;
      float m = -INFINITY, l = 0;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j0 = 0; j0 < n_keys; j0 += kTile) {
        const int64_t nt = std::min(kTile, n_keys - j0);
        float tile_max = -INFINITY;
        for (int64_t j = 0; j < nt; ++j) {
          sc[j] = simd::dot(q, a.k + (j0 + j) * kv_stride + kvh * hd, hd) * a.scale;
          tile_max = std::max(tile_max, sc[j]);
        }
        if (tile_max > m) {
          const float corr = std::exp(m - tile_max);
          l *= corr;
          simd::scale(corr, acc.data(), hd);
          m = tile_max;
        }
        for (int64_t j = 0; j < nt; ++j) {
          const float p = std::exp(sc[j] - m);
          l += p;
          simd::axpy(p, a.v + (j0 + j) * kv_stride + kvh * hd, acc.data(), hd);
        }
      }
      float* o = a.out + i * q_stride + h * hd;
      for (int64_t c = 0; c < hd; ++c) o[c] = acc[size_t(c)] / l;
    }
  });
}

void attention_causal_ref(const AttentionArgs& a) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t q_stride = a.n_heads * hd, kv_stride = a.n_kv_heads * hd;
  for (int64_t i = 0; i < a.n_q; ++i)
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const int64_t kvh = h / group, n_keys = a.pos0 + i + 1;
      std::vector<double> s(static_cast<size_t>(n_keys));
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        double d = 0;
        for (int64_t c = 0; c < hd; ++c) d += double(a.q[i * q_stride + h * hd + c]) * a.k[j * kv_stride + kvh * hd + c];
        s[size_t(j)] = d * a.scale;
        mx = std::max(mx, s[size_t(j)]);
      }
      double z = 0;
      for (auto& x : s) z += (x = std::exp(x - mx));
      for (int64_t c = 0; c < hd; ++c) {
        double o = 0;
        for (int64_t j = 0; j < n_keys; ++j) o += s[size_t(j)] * a.v[j * kv_stride + kvh * hd + c];
        a.out[i * q_stride + h * hd + c] = float(o / z);
      }
    }
}

}  // namespace mm
