#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/simd/kernels.h"

namespace mm {

namespace {

// Prefill: a block of kBq queries x one kv head per task, so scores and the value sums are small
// GEMMs (simd::gemm_nt, register-tiled) instead of one dot / axpy per (query, key): the rows are the
// block's (group head, query) pairs, a key tile's K rows are the GEMM's B, and the tile's V is
// transposed once per task so that P · V is a GEMM too. Online softmax per row across key tiles.
constexpr int64_t kBq = 32, kKt = 64;

void attention_block(const AttentionArgs& a, int64_t i0, int64_t nq, int64_t kvh, std::vector<float>& buf) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads, rows = group * nq;
  const int64_t q_stride = a.n_heads * hd, kv_stride = a.n_kv_heads * hd;
  buf.resize(size_t(rows * (2 * hd + kKt + 2) + hd * kKt));
  float* qb = buf.data();          // [rows, hd], row g * nq + ii, pre-scaled
  float* acc = qb + rows * hd;     // [rows, hd]
  float* sc = acc + rows * hd;     // [rows, kKt]
  float* m = sc + rows * kKt;      // [rows]
  float* l = m + rows;             // [rows]
  float* vt = l + rows;            // [hd, kKt]: the tile's V transposed
  for (int64_t g = 0; g < group; ++g)
    for (int64_t ii = 0; ii < nq; ++ii) {
      const float* q = a.q + (i0 + ii) * q_stride + (kvh * group + g) * hd;
      float* dst = qb + (g * nq + ii) * hd;
      for (int64_t c = 0; c < hd; ++c) dst[c] = q[c] * a.scale;
    }
  std::fill(acc, acc + rows * hd, 0.0f);
  std::fill(m, m + rows, -INFINITY);
  std::fill(l, l + rows, 0.0f);
  const int64_t n_keys = a.pos0 + i0 + nq;  // keys the last query sees
  for (int64_t j0 = 0; j0 < n_keys; j0 += kKt) {
    const int64_t nt = std::min(kKt, n_keys - j0);
    const simd::GemmB kb{simd::BKind::F32, reinterpret_cast<const uint8_t*>(a.k + j0 * kv_stride + kvh * hd),
                         size_t(kv_stride) * 4, hd};
    simd::gemm_nt(qb, hd, rows, kb, 0, nt, sc, kKt, false);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t last = a.pos0 + i0 + r % nq;  // the row's query sees keys [0, last]
      const int64_t nv = std::min(nt, last - j0 + 1);
      float* sr = sc + r * kKt;
      if (nv <= 0) {
        std::fill(sr, sr + nt, 0.0f);
        continue;
      }
      const float tile_max = simd::max_value(sr, nv);
      if (tile_max > m[r]) {
        const float corr = std::exp(m[r] - tile_max);
        l[r] *= corr;
        simd::scale(corr, acc + r * hd, hd);
        m[r] = tile_max;
      }
      l[r] += simd::exp_shift_sum(sr, nv, m[r]);
      std::fill(sr + nv, sr + nt, 0.0f);
    }
    for (int64_t j = 0; j < nt; ++j) {
      const float* v = a.v + (j0 + j) * kv_stride + kvh * hd;
      for (int64_t c = 0; c < hd; ++c) vt[c * kKt + j] = v[c];
    }
    const simd::GemmB vb{simd::BKind::F32, reinterpret_cast<const uint8_t*>(vt), size_t(kKt) * 4, nt};
    simd::gemm_nt(sc, kKt, rows, vb, 0, hd, acc, hd, true);
  }
  for (int64_t g = 0; g < group; ++g)
    for (int64_t ii = 0; ii < nq; ++ii) {
      const int64_t r = g * nq + ii;
      float* o = a.out + (i0 + ii) * q_stride + (kvh * group + g) * hd;
      for (int64_t c = 0; c < hd; ++c) o[c] = acc[r * hd + c] / l[r];
    }
}

}  // namespace

void attention_causal(const AttentionArgs& a) {
  if (a.n_q >= 16) {
    const int64_t n_blocks = (a.n_q + kBq - 1) / kBq;
    global_pool().parallel_for(n_blocks * a.n_kv_heads, [&](int64_t b, int64_t e, int) {
      thread_local std::vector<float> buf;
      for (int64_t task = b; task < e; ++task) {
        const int64_t blk = task / a.n_kv_heads, kvh = task % a.n_kv_heads;
        const int64_t i0 = blk * kBq;
        attention_block(a, i0, std::min(kBq, a.n_q - i0), kvh, buf);
      }
    });
    return;
  }
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
        // sc[g, j] = scale · q_g · k_j: the tile's key rows streamed once for the whole group.
        const simd::GemmB keys{simd::BKind::F32, reinterpret_cast<const uint8_t*>(a.k + j0 * kv_stride + kvh * hd),
                               size_t(kv_stride) * sizeof(float), hd};
        simd::gemm_nt(q0, hd, group, keys, 0, nt, sc.data(), kTile, false);
        for (int64_t g = 0; g < group; ++g) simd::scale(a.scale, sc.data() + g * kTile, nt);
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
        simd::weighted_row_sum(sc.data(), kTile, group, a.v + j0 * kv_stride + kvh * hd, kv_stride, nt, acc.data(), hd);
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
