#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/arena.h"
#include "core/error.h"
#include "ops/simd/kernels.h"

namespace mm {

ContiguousKv::ContiguousKv(const float* k, const float* v, int64_t n, int64_t width, int64_t page_tokens) {
  for (int64_t p = 0; p * page_tokens < std::max<int64_t>(n, 1); ++p) {
    k_pages.push_back(reinterpret_cast<const uint8_t*>(k + p * page_tokens * width));
    v_pages.push_back(reinterpret_cast<const uint8_t*>(v + p * page_tokens * width));
  }
  view = {KvType::F32, page_tokens, size_t(width) * 4, k_pages.data(), v_pages.data()};
}

namespace {

// A block of up to kBq queries x one kv head, so scores and the value sums are small GEMMs
// (simd::gemm_nt, register-tiled) instead of one dot / axpy per (query, key): the rows are the block's
// (group head, query) pairs, so each K / V row is read once for all of them (decode at depth is bound
// by these reads); a key tile's K rows are the GEMM's B, and the tile's V is transposed so that P · V
// is a GEMM too. Keys stored as f16 / bf16 go to the GEMM as they are; q8_0 tiles (and the V rows of
// every 16-bit type) are widened to f32 in scratch first.
constexpr int64_t kBq = 32, kKt = 64;
static_assert(kAttnSegment % kKt == 0);
// Below this many rows (decode: one query x the group's heads) P · V is a weighted sum of V rows
// (simd::weighted_row_sum) rather than a GEMM against the transposed tile (not in invariant mode).
constexpr int64_t kMinGemmRows = 16;

// Unnormalised softmax state of `rows` rows: acc [rows, hd], running max m [rows], sum l [rows].
struct Partial {
  float* acc;
  float* m;
  float* l;
};

Partial alloc_partial(Arena& a, int64_t rows, int64_t hd) {
  float* p = a.alloc<float>(size_t(rows * (hd + 2)));
  return {p, p + rows * hd, p + rows * (hd + 1)};
}

struct Block {
  int64_t i0, nq, kvh, rows;
  const float* qb;  // [rows, hd]: row g * nq + ii is query i0 + ii of group head g, pre-scaled
};

Block make_block(const AttentionArgs& a, int64_t i0, int64_t nq, int64_t kvh, Arena& scratch) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads, q_stride = a.n_heads * hd;
  float* qb = scratch.alloc<float>(size_t(group * nq * hd));
  for (int64_t g = 0; g < group; ++g)
    for (int64_t ii = 0; ii < nq; ++ii) {
      const float* q = a.q + (i0 + ii) * q_stride + (kvh * group + g) * hd;
      float* dst = qb + (g * nq + ii) * hd;
      for (int64_t c = 0; c < hd; ++c) dst[c] = q[c] * a.scale;
    }
  return {i0, nq, kvh, group * nq, qb};
}

simd::BKind bkind(KvType t) {
  return t == KvType::F16 ? simd::BKind::F16 : t == KvType::BF16 ? simd::BKind::BF16 : simd::BKind::F32;
}

// Keys [j_begin, j_end) of segment into p (fresh: m = -inf), for every row of b.
void attend_segment(const AttentionArgs& a, const Block& b, int64_t j_begin, int64_t j_end, Partial p, Arena& scratch) {
  const int64_t hd = a.head_dim, rows = b.rows;
  const KvView& kv = a.kv;
  ArenaScope scope(scratch);
  float* sc = scratch.alloc<float>(size_t(rows * kKt));  // [rows, kKt] scores, then probabilities
  float* vt = scratch.alloc<float>(size_t(hd * kKt));    // [hd, kKt]: the tile's V transposed
  float* kt = scratch.alloc<float>(size_t(kKt * hd));    // [kKt, hd]: widened K tile (q8_0)
  float* vw = scratch.alloc<float>(size_t(kKt * hd));    // [kKt, hd]: widened V tile (non-f32)
  std::fill(p.acc, p.acc + rows * hd, 0.0f);
  std::fill(p.m, p.m + rows, -INFINITY);
  std::fill(p.l, p.l + rows, 0.0f);
  const size_t head_off = kv_row_bytes(kv.type, b.kvh * hd);  // the head's slice of a row
  const bool gemm_pv = a.invariant || rows >= kMinGemmRows;
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kKt) {
    const int64_t nt = std::min(kKt, j_end - j0);  // a tile never crosses a page (page_tokens % 64 == 0)
    // Invariant mode always multiplies whole tiles (keys past nt are zero rows), so a score or a sum
    // never depends on how many keys the block's last query sees.
    const int64_t n_cols = a.invariant ? kKt : nt;
    simd::GemmB kb{bkind(kv.type), kv.k_row(j0) + head_off, kv.row_bytes, hd};
    if (kv.type == KvType::Q8_0 || a.invariant) {
      kv_decode_rows(kv.type, kb.data, kv.row_bytes, nt, hd, kt, hd);
      std::fill(kt + nt * hd, kt + n_cols * hd, 0.0f);
      kb = {simd::BKind::F32, reinterpret_cast<const uint8_t*>(kt), size_t(hd) * 4, hd};
    }
    if (a.invariant) simd::gemm_nt_invariant(b.qb, hd, rows, kb, 0, n_cols, sc, kKt, false);
    else simd::gemm_nt(b.qb, hd, rows, kb, 0, nt, sc, kKt, false);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t last = a.pos0 + b.i0 + r % b.nq;  // the row's query sees keys [0, last]
      const int64_t nv = std::min(nt, last - j0 + 1);
      float* sr = sc + r * kKt;
      if (nv <= 0) {
        std::fill(sr, sr + n_cols, 0.0f);
        continue;
      }
      const float tile_max = simd::max_value(sr, nv);
      if (tile_max > p.m[r]) {
        const float corr = std::exp(p.m[r] - tile_max);
        p.l[r] *= corr;
        simd::scale(corr, p.acc + r * hd, hd);
        p.m[r] = tile_max;
      }
      p.l[r] += simd::exp_shift_sum(sr, nv, p.m[r]);
      std::fill(sr + nv, sr + n_cols, 0.0f);
    }
    const float* v0;  // [nt, ldv] f32 value rows of the head
    int64_t ldv;
    if (kv.type == KvType::F32) {
      v0 = reinterpret_cast<const float*>(kv.v_row(j0) + head_off);
      ldv = int64_t(kv.row_bytes / 4);
    } else {
      kv_decode_rows(kv.type, kv.v_row(j0) + head_off, kv.row_bytes, nt, hd, vw, hd);
      v0 = vw;
      ldv = hd;
    }
    if (!gemm_pv) {  // decode: each V row read once for all rows, no transpose
      simd::weighted_row_sum(sc, kKt, rows, v0, ldv, nt, p.acc, hd);
      continue;
    }
    for (int64_t c = 0; c < hd; ++c) {
      for (int64_t j = 0; j < nt; ++j) vt[c * kKt + j] = v0[j * ldv + c];
      std::fill(vt + c * kKt + nt, vt + c * kKt + n_cols, 0.0f);
    }
    const simd::GemmB vb{simd::BKind::F32, reinterpret_cast<const uint8_t*>(vt), size_t(kKt) * 4, n_cols};
    if (a.invariant) simd::gemm_nt_invariant(sc, kKt, rows, vb, 0, hd, p.acc, hd, true);
    else simd::gemm_nt(sc, kKt, rows, vb, 0, hd, p.acc, hd, true);
  }
}

// run absorbs segment s (the first one is copied). A row that saw no key of s (m = -inf) is unchanged.
void merge(Partial run, const Partial& s, int64_t rows, int64_t hd, bool first) {
  if (first) {
    std::copy_n(s.acc, rows * (hd + 2), run.acc);  // acc, m, l are one block
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (s.m[r] == -INFINITY) continue;
    const float mx = std::max(run.m[r], s.m[r]);
    const float cr = std::exp(run.m[r] - mx), cs = std::exp(s.m[r] - mx);
    run.l[r] = run.l[r] * cr + s.l[r] * cs;
    float* ar = run.acc + r * hd;
    const float* as = s.acc + r * hd;
    for (int64_t c = 0; c < hd; ++c) ar[c] = ar[c] * cr + as[c] * cs;
    run.m[r] = mx;
  }
}

void write_out(const AttentionArgs& a, const Block& b, const Partial& run) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads, q_stride = a.n_heads * hd;
  for (int64_t g = 0; g < group; ++g)
    for (int64_t ii = 0; ii < b.nq; ++ii) {
      const int64_t r = g * b.nq + ii;
      float* o = a.out + (b.i0 + ii) * q_stride + (b.kvh * group + g) * hd;
      for (int64_t c = 0; c < hd; ++c) o[c] = run.acc[r * hd + c] / run.l[r];
    }
}

int64_t n_segments(int64_t n_keys) { return (n_keys + kAttnSegment - 1) / kAttnSegment; }

// One task: a block of queries x one kv head, its segments in order.
void attend_block(const AttentionArgs& a, int64_t i0, int64_t nq, int64_t kvh, Arena& scratch) {
  ArenaScope scope(scratch);
  const Block b = make_block(a, i0, nq, kvh, scratch);
  const int64_t n_keys = a.pos0 + i0 + nq, n_seg = n_segments(n_keys);  // keys the last query sees
  const Partial run = alloc_partial(scratch, b.rows, a.head_dim);
  const Partial seg = n_seg > 1 ? alloc_partial(scratch, b.rows, a.head_dim) : run;
  for (int64_t s = 0; s < n_seg; ++s) {
    attend_segment(a, b, s * kAttnSegment, std::min(n_keys, (s + 1) * kAttnSegment), seg, scratch);
    if (n_seg > 1) merge(run, seg, b.rows, a.head_dim, s == 0);
  }
  write_out(a, b, run);
}

// One query at depth: (kv head, segment) tasks, then each head's segments merged in order.
void attend_split(ExecContext& ctx, const AttentionArgs& a) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads, n_keys = a.pos0 + 1;
  const int64_t n_seg = n_segments(n_keys), part = group * (hd + 2);
  Arena& mine = ctx.scratch(0);
  ArenaScope scope(mine);
  float* parts = mine.alloc<float>(size_t(a.n_kv_heads * n_seg * part));  // [kv head, segment, group, hd + 2]
  auto at = [&](int64_t kvh, int64_t s) {
    float* p = parts + (kvh * n_seg + s) * part;
    return Partial{p, p + group * hd, p + group * (hd + 1)};
  };
  ctx.parallel_for(a.n_kv_heads * n_seg, [&](int64_t t0, int64_t t1, int ti) {
    Arena& sc = ctx.scratch(ti);
    for (int64_t t = t0; t < t1; ++t) {
      ArenaScope s(sc);
      const int64_t kvh = t / n_seg, seg = t % n_seg;
      const Block b = make_block(a, 0, 1, kvh, sc);
      attend_segment(a, b, seg * kAttnSegment, std::min(n_keys, (seg + 1) * kAttnSegment), at(kvh, seg), sc);
    }
  });
  const Partial run = alloc_partial(mine, group, hd);
  for (int64_t kvh = 0; kvh < a.n_kv_heads; ++kvh) {
    for (int64_t s = 0; s < n_seg; ++s) merge(run, at(kvh, s), group, hd, s == 0);
    write_out(a, {0, 1, kvh, group, nullptr}, run);
  }
}

}  // namespace

void attention_causal(ExecContext& ctx, const AttentionArgs& a) {
  MM_CHECK(a.kv.page_tokens > 0 && a.kv.page_tokens % kKt == 0 && a.n_heads % a.n_kv_heads == 0);
  if (a.n_q == 1 && n_segments(a.pos0 + 1) > 1) return attend_split(ctx, a);
  const int64_t n_blocks = (a.n_q + kBq - 1) / kBq;
  ctx.parallel_for(n_blocks * a.n_kv_heads, [&](int64_t b, int64_t e, int ti) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t blk = task / a.n_kv_heads, kvh = task % a.n_kv_heads;
      const int64_t i0 = blk * kBq;
      attend_block(a, i0, std::min(kBq, a.n_q - i0), kvh, ctx.scratch(ti));
    }
  });
}

void attention_causal_ref(const AttentionArgs& a) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t q_stride = a.n_heads * hd, width = a.n_kv_heads * hd, n_all = a.pos0 + a.n_q;
  std::vector<float> k(size_t(n_all * width)), v(size_t(n_all * width));  // the cache widened to f32
  for (int64_t j = 0; j < n_all; ++j) {
    kv_decode_row_ref(a.kv.type, a.kv.k_row(j), width, k.data() + j * width);
    kv_decode_row_ref(a.kv.type, a.kv.v_row(j), width, v.data() + j * width);
  }
  for (int64_t i = 0; i < a.n_q; ++i)
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const int64_t kvh = h / group, n_keys = a.pos0 + i + 1;
      std::vector<double> s(static_cast<size_t>(n_keys));
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        double d = 0;
        for (int64_t c = 0; c < hd; ++c) d += double(a.q[i * q_stride + h * hd + c]) * k[size_t(j * width + kvh * hd + c)];
        s[size_t(j)] = d * a.scale;
        mx = std::max(mx, s[size_t(j)]);
      }
      double z = 0;
      for (auto& x : s) z += (x = std::exp(x - mx));
      for (int64_t c = 0; c < hd; ++c) {
        double o = 0;
        for (int64_t j = 0; j < n_keys; ++j) o += s[size_t(j)] * v[size_t(j * width + kvh * hd + c)];
        a.out[i * q_stride + h * hd + c] = float(o / z);
      }
    }
}

}  // namespace mm
