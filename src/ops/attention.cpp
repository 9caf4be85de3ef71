#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/arena.h"
#include "ops/simd/kernels.h"

namespace mm {

namespace {

// A block of up to kBq queries x one kv head per task, so scores and the value sums are small GEMMs
// (simd::gemm_nt, register-tiled) instead of one dot / axpy per (query, key): the rows are the block's
// (group head, query) pairs, so each K / V row is read once for all of them (decode at depth is bound
// by these reads); a key tile's K rows are the GEMM's B, and the tile's V is transposed so that P · V
// is a GEMM too. Online softmax per row across key tiles; no n x n score matrix exists.
constexpr int64_t kBq = 32, kKt = 64;
// Below this many rows (decode: one query x the group's heads) P · V is a weighted sum of V rows
// (simd::weighted_row_sum) rather than a GEMM against the transposed tile.
constexpr int64_t kMinGemmRows = 16;

void attention_block(const AttentionArgs& a, int64_t i0, int64_t nq, int64_t kvh, Arena& scratch) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads, rows = group * nq;
  const int64_t q_stride = a.n_heads * hd, kv_stride = a.n_kv_heads * hd;
  ArenaScope scope(scratch);
  float* qb = scratch.alloc<float>(size_t(rows * (2 * hd + kKt + 2) + hd * kKt));  // [rows, hd], row g * nq + ii, pre-scaled
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
    const float* v0 = a.v + j0 * kv_stride + kvh * hd;
    if (rows < kMinGemmRows) {  // decode: each V row read once for all rows, no transpose
      simd::weighted_row_sum(sc, kKt, rows, v0, kv_stride, nt, acc, hd);
      continue;
    }
    for (int64_t j = 0; j < nt; ++j)
      for (int64_t c = 0; c < hd; ++c) vt[c * kKt + j] = v0[j * kv_stride + c];
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

void attention_causal(ExecContext& ctx, const AttentionArgs& a) {
  const int64_t n_blocks = (a.n_q + kBq - 1) / kBq;
  ctx.parallel_for(n_blocks * a.n_kv_heads, [&](int64_t b, int64_t e, int ti) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t blk = task / a.n_kv_heads, kvh = task % a.n_kv_heads;
      const int64_t i0 = blk * kBq;
      attention_block(a, i0, std::min(kBq, a.n_q - i0), kvh, ctx.scratch(ti));
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
