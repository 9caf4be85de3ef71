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
  // One task per (query, kv head) serves all `group` query heads sharing that kv head, so each K / V
  // row is read from memory once per query instead of once per query head (decode at depth is bound
  // by these reads). Keys are visited in tiles of kTile: the tile's scores are dot products, then a
  // single online-softmax rescale per tile folds them into the accumulators. Memory stays
  // O(group · kTile) per task; no n x n score matrix exists.
  constexpr int64_t kTile = 64;
  global_pool().parallel_for(a.n_q * a.n_kv_heads, [&](int64_t b, int64_t e, int) {
    std::vector<float> acc(static_cast<size_t>(group * hd)), sc(static_cast<size_t>(group * kTile));
    std::vector<float> m(static_cast<size_t>(group)), l(static_cast<size_t>(group));
    for (int64_t task = b; task < e; ++task) {
      const int64_t i = task / a.n_kv_heads, kvh = task % a.n_kv_heads;
      const float* q0 = a.q + i * q_stride + kvh * group * hd;  // the group's heads are consecutive
      const int64_t n_keys = a.pos0 + i + 1;
      std::fill(m.begin(), m.end(), -INFINITY);
      std::fill(l.begin(), l.end(), 0.0f);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j0 = 0; j0 < n_keys; j0 += kTile) {
        const int64_t nt = std::min(kTile, n_keys - j0);
        for (int64_t j = 0; j < nt; ++j) {
          const float* k = a.k + (j0 + j) * kv_stride + kvh * hd;
          for (int64_t g = 0; g < group; ++g) sc[size_t(g * kTile + j)] = simd::dot(q0 + g * hd, k, hd) * a.scale;
        }
        for (int64_t g = 0; g < group; ++g) {
          float* sg = sc.data() + g * kTile;
          const float tile_max = *std::max_element(sg, sg + nt);
          if (tile_max > m[size_t(g)]) {
            const float corr = std::exp(m[size_t(g)] - tile_max);
            l[size_t(g)] *= corr;
            simd::scale(corr, acc.data() + g * hd, hd);
            m[size_t(g)] = tile_max;
          }
          for (int64_t j = 0; j < nt; ++j) {
            sg[j] = std::exp(sg[j] - m[size_t(g)]);
            l[size_t(g)] += sg[j];
          }
        }
        for (int64_t j = 0; j < nt; ++j) {
          const float* v = a.v + (j0 + j) * kv_stride + kvh * hd;
          for (int64_t g = 0; g < group; ++g) simd::axpy(sc[size_t(g * kTile + j)], v, acc.data() + g * hd, hd);
        }
      }
      for (int64_t g = 0; g < group; ++g) {
        float* o = a.out + i * q_stride + (kvh * group + g) * hd;
        for (int64_t c = 0; c < hd; ++c) o[c] = acc[size_t(g * hd + c)] / l[size_t(g)];
      }
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
