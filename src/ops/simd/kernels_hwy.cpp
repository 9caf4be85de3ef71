// Highway implementation of ops/simd/kernels.h. This file is compiled once per target by
// foreach_target.h; everything inside HWY_NAMESPACE is the per-ISA code, the HWY_ONCE part at the end
// is the single dispatching front.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/simd/kernels_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/simd/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mm::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Loaders: N consecutive weights at element k of a row, widened to f32 lanes.
struct LoadF32 {
  static constexpr int kBytes = 4;
  static constexpr bool kScaled = false;
  static VF load(DF d, const uint8_t* row, int64_t k) { return hn::LoadU(d, reinterpret_cast<const float*>(row) + k); }
  static float scalar(const uint8_t* row, int64_t k) {
    float v;
    std::memcpy(&v, row + 4 * k, 4);
    return v;
  }
};

struct LoadBF16 {
  static constexpr int kBytes = 2;
  static constexpr bool kScaled = false;
  // bf16 is the top half of an f32: widen to u32 and shift, exact.
  static VF load(DF d, const uint8_t* row, int64_t k) {
    const hn::Rebind<uint16_t, DF> d16;
    const hn::RebindToUnsigned<DF> d32;
    const auto u = hn::PromoteTo(d32, hn::LoadU(d16, reinterpret_cast<const uint16_t*>(row) + k));
    return hn::BitCast(d, hn::ShiftLeft<16>(u));
  }
  static float scalar(const uint8_t* row, int64_t k) {
    uint16_t h;
    std::memcpy(&h, row + 2 * k, 2);
    return bf16_to_f32(h);
  }
};

struct LoadF16 {
  static constexpr int kBytes = 2;
  static constexpr bool kScaled = false;
  static VF load(DF d, const uint8_t* row, int64_t k) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + k));
  }
  static float scalar(const uint8_t* row, int64_t k) {
    uint16_t h;
    std::memcpy(&h, row + 2 * k, 2);
    return f16_to_f32(h);
  }
};

struct LoadF8 {
  static constexpr int kBytes = 1;
  static constexpr bool kScaled = true;
  // e4m3fn -> f32 without a table: put exponent+mantissa at f32 bit 20 and rescale by 2^(127-7).
  // Normals land exactly; e4m3 subnormals become f32 subnormals that the multiply makes exact too.
  // (0x7f / 0xff, the NaN codes, decode as ±480; checkpoints never hold them.)
  static VF load(DF d, const uint8_t* row, int64_t k) {
    const hn::Rebind<uint8_t, DF> d8;
    const hn::RebindToUnsigned<DF> d32;
    const auto u = hn::PromoteTo(d32, hn::LoadU(d8, row + k));
    const auto sign = hn::ShiftLeft<24>(hn::And(u, hn::Set(d32, 0x80u)));
    const auto em = hn::ShiftLeft<20>(hn::And(u, hn::Set(d32, 0x7fu)));
    const VF mag = hn::Mul(hn::BitCast(d, em), hn::Set(d, 0x1p120f));
    return hn::Or(mag, hn::BitCast(d, sign));
  }
  static float scalar(const uint8_t* row, int64_t k) { return fp8_e4m3_to_f32(row[k]); }
};

// How far ahead of the loads to prefetch weight bytes; tuned on Zen 4 with 4 KiB and 2 MiB pages
// (768: 25 GB/s, 1536: 28-30, 3072: 33-38 on one core; beyond that it got noisier, not faster).
constexpr int64_t kPrefetchAhead = 3072;

// R x rows against NW B rows over n elements; out[r * NW + j].
template <int R, int NW, class L>
HWY_INLINE void micro(const float* HWY_RESTRICT x, int64_t ldx, const uint8_t* const* wr, const float* const* sr,
                      int64_t bk, int64_t n, float* out) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  VF acc[R][NW];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NW; ++j) acc[r][j] = hn::Zero(d);
  int64_t k = 0;
  for (; k + N <= n; k += N) {
    VF w[NW];
    for (int j = 0; j < NW; ++j) {
      // NW rows are NW concurrent streams, each only one row long: hardware prefetchers train too
      // late on such short streams, so ask for the bytes kAhead further along explicitly.
      __builtin_prefetch(wr[j] + k * L::kBytes + kPrefetchAhead);
      w[j] = L::load(d, wr[j], k);
      if constexpr (L::kScaled)
        if (sr[j]) w[j] = hn::Mul(w[j], hn::Set(d, sr[j][k / bk]));  // bk % N == 0: one scale per vector
    }
    for (int r = 0; r < R; ++r) {
      const VF xv = hn::LoadU(d, x + r * ldx + k);
      for (int j = 0; j < NW; ++j) acc[r][j] = hn::MulAdd(xv, w[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NW; ++j) {
      float s = hn::GetLane(hn::SumOfLanes(d, acc[r][j]));
      for (int64_t kk = k; kk < n; ++kk) {
        float wv = L::scalar(wr[j], kk);
        if constexpr (L::kScaled)
          if (sr[j]) wv *= sr[j][kk / bk];
        s += x[r * ldx + kk] * wv;
      }
      out[r * NW + j] = s;
    }
}

// R x rows against ONE B row, U vectors per step: the weight is read as a single sequential stream
// (what the hardware prefetchers follow best), used for decode's 1..4 x rows. U independent
// accumulator chains per x row keep the FMA latency (4 cycles) from capping the streaming rate.
template <int R, class L>
HWY_INLINE void micro_stream(const float* HWY_RESTRICT x, int64_t ldx, const uint8_t* wr, const float* sr,
                             int64_t bk, int64_t n, float* out) {
  constexpr int U = R <= 2 ? 4 : 2;
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  VF acc[R][U];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < U; ++u) acc[r][u] = hn::Zero(d);
  int64_t k = 0;
  const int64_t step_bytes = U * N * L::kBytes;
  for (; k + U * N <= n; k += U * N) {
    for (int64_t off = 0; off < step_bytes; off += 64) __builtin_prefetch(wr + k * L::kBytes + kPrefetchAhead + off);
    VF w[U];
    for (int u = 0; u < U; ++u) {
      w[u] = L::load(d, wr, k + u * N);
      if constexpr (L::kScaled)
        if (sr) w[u] = hn::Mul(w[u], hn::Set(d, sr[(k + u * N) / bk]));
    }
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < U; ++u) acc[r][u] = hn::MulAdd(hn::LoadU(d, x + r * ldx + k + u * N), w[u], acc[r][u]);
  }
  for (; k + N <= n; k += N) {
    VF w0 = L::load(d, wr, k);
    if constexpr (L::kScaled)
      if (sr) w0 = hn::Mul(w0, hn::Set(d, sr[k / bk]));
    for (int r = 0; r < R; ++r) acc[r][0] = hn::MulAdd(hn::LoadU(d, x + r * ldx + k), w0, acc[r][0]);
  }
  for (int r = 0; r < R; ++r) {
    for (int u = 1; u < U; ++u) acc[r][0] = hn::Add(acc[r][0], acc[r][u]);
    float s = hn::GetLane(hn::SumOfLanes(d, acc[r][0]));
    for (int64_t kk = k; kk < n; ++kk) {
      float wv = L::scalar(wr, kk);
      if constexpr (L::kScaled)
        if (sr) wv *= sr[kk / bk];
      s += x[r * ldx + kk] * wv;
    }
    out[r] = s;
  }
}

template <class L>
HWY_INLINE void micro_stream_rows(int r, const float* x, int64_t ldx, const uint8_t* wr, const float* sr, int64_t bk,
                                  int64_t n, float* out) {
  switch (r) {
    case 1: micro_stream<1, L>(x, ldx, wr, sr, bk, n, out); break;
    case 2: micro_stream<2, L>(x, ldx, wr, sr, bk, n, out); break;
    case 3: micro_stream<3, L>(x, ldx, wr, sr, bk, n, out); break;
    default: micro_stream<4, L>(x, ldx, wr, sr, bk, n, out); break;
  }
}

template <int NW, class L>
HWY_INLINE void micro_rows(int r, const float* x, int64_t ldx, const uint8_t* const* wr, const float* const* sr,
                           int64_t bk, int64_t n, float* out) {
  switch (r) {
    case 1: micro<1, NW, L>(x, ldx, wr, sr, bk, n, out); break;
    case 2: micro<2, NW, L>(x, ldx, wr, sr, bk, n, out); break;
    case 3: micro<3, NW, L>(x, ldx, wr, sr, bk, n, out); break;
    default: micro<4, NW, L>(x, ldx, wr, sr, bk, n, out); break;
  }
}

// B rows per register tile for 3-4 x rows: every (x row, B row) pair is one accumulator, so 4 x 4 fits
// AVX-512's 32 vector registers but would spill on 16 (AVX2); 1-2 x rows take 4 B rows.
#if HWY_TARGET <= HWY_AVX3
constexpr int kNwMany = 4;
#else
constexpr int kNwMany = 2;
#endif

// invariant: micro tiles only (each output one FMA chain over k in the lanes, then the lanes' sum),
// for every row count; otherwise decode's 1-4 rows take the streaming kernel.
template <class L>
void gemm_typed(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
                int64_t ldy, bool accumulate, bool invariant = false) {
  const int64_t n = b.n_in;
  const int64_t n_kb = b.scale_bk > 0 ? (n + b.scale_bk - 1) / b.scale_bk : 0;
  // Block of x rows kept hot in L2 (~256 KiB) while every B row group of [o0, o1) passes over it.
  const int64_t tb = std::clamp<int64_t>((int64_t(1) << 16) / std::max<int64_t>(n, 1) / 4 * 4, 4, 64);
  if (n_rows <= 4 && !invariant) {
    for (int64_t o = o0; o < o1; ++o) {
      const uint8_t* wr = b.data + size_t(o) * b.row_bytes;
      const float* sr = b.scale ? b.scale + (o / b.scale_bn) * n_kb : nullptr;
      float out[4];
      micro_stream_rows<L>(int(n_rows), x, ldx, wr, sr, b.scale_bk, n, out);
      for (int64_t i = 0; i < n_rows; ++i) {
        float& dst = y[i * ldy + o];
        dst = accumulate ? dst + out[i] : out[i];
      }
    }
    return;
  }
  for (int64_t t0 = 0; t0 < n_rows; t0 += tb) {
    const int64_t t1 = std::min(n_rows, t0 + tb);
    const int nw_tile = t1 - t0 <= 2 ? 4 : kNwMany;
    for (int64_t o = o0; o < o1;) {
      const int nw = o1 - o >= nw_tile ? nw_tile : 1;
      const uint8_t* wr[4];
      const float* sr[4] = {nullptr, nullptr, nullptr, nullptr};
      for (int j = 0; j < nw; ++j) {
        wr[j] = b.data + size_t(o + j) * b.row_bytes;
        if (b.scale) sr[j] = b.scale + ((o + j) / b.scale_bn) * n_kb;
      }
      for (int64_t t = t0; t < t1; t += 4) {
        const int r = int(std::min<int64_t>(4, t1 - t));
        float out[16];
        if (nw == 4) micro_rows<4, L>(r, x + t * ldx, ldx, wr, sr, b.scale_bk, n, out);
        else if (nw == 2) micro_rows<2, L>(r, x + t * ldx, ldx, wr, sr, b.scale_bk, n, out);
        else micro_rows<1, L>(r, x + t * ldx, ldx, wr, sr, b.scale_bk, n, out);
        for (int i = 0; i < r; ++i)
          for (int j = 0; j < nw; ++j) {
            float& dst = y[(t + i) * ldy + o + j];
            dst = accumulate ? dst + out[i * nw + j] : out[i * nw + j];
          }
      }
      o += nw;
    }
  }
}

// ---- Many x rows (prefill): packed panels, the classic register-blocked GEMM.
// A panel is 2N consecutive B rows over kKc columns, converted to f32 once and stored k-major, so the
// inner loop loads 2 vectors of weights and broadcasts one x value per row: no conversions and no
// horizontal sums in the hot loop, and each packed panel is reused by every x row.
constexpr int64_t kKc = 256;

// Rows of x per register tile: 32 vector registers (AVX-512) hold 8 x 2 accumulators with room to
// spare; 16 registers (AVX2, SSE) hold 4 x 2.
#if HWY_TARGET <= HWY_AVX3
constexpr int kMr = 8;
#else
constexpr int kMr = 4;
#endif

template <int R>
HWY_INLINE void packed_micro(const float* HWY_RESTRICT x, int64_t ldx, const float* HWY_RESTRICT P, int64_t kc,
                             float* HWY_RESTRICT out) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  VF acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = hn::Zero(d);
  for (int64_t k = 0; k < kc; ++k) {
    const VF w0 = hn::LoadU(d, P + k * 2 * N), w1 = hn::LoadU(d, P + k * 2 * N + N);
    for (int r = 0; r < R; ++r) {
      const VF xb = hn::Set(d, x[r * ldx + k]);
      acc0[r] = hn::MulAdd(xb, w0, acc0[r]);
      acc1[r] = hn::MulAdd(xb, w1, acc1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    hn::StoreU(acc0[r], d, out + r * 2 * N);
    hn::StoreU(acc1[r], d, out + r * 2 * N + N);
  }
}

template <int R>
void packed_rows(int r, const float* x, int64_t ldx, const float* P, int64_t kc, float* out) {
  if constexpr (R > 1) {
    if (r < R) return packed_rows<R - 1>(r, x, ldx, P, kc, out);
  }
  packed_micro<R>(x, ldx, P, kc, out);
}

template <class L>
void gemm_packed(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
                 int64_t ldy, bool accumulate) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d)), W = 2 * N, n = b.n_in;
  const int64_t n_kb = b.scale_bk > 0 ? (n + b.scale_bk - 1) / b.scale_bk : 0;
  // Panel and micro-tile outputs: fixed sizes for this target, on the stack. The panel's size is a
  // multiple of 4 KiB, so the tile output sits 1 KiB past it: right after it, the tile's stores and
  // the panel's loads would share their low 12 address bits (4K aliasing stalls the loads).
  constexpr int64_t kMaxW = 2 * int64_t(HWY_LANES(float));
  struct alignas(64) Buffers {
    float P[kKc * kMaxW];
    float pad[256];
    float out[kMr * kMaxW];
  } buffers;
  float* P = buffers.P;
  float* out = buffers.out;
  MM_CHECK(W <= kMaxW);
  for (int64_t p0 = o0; p0 < o1; p0 += W) {
    const int64_t nvalid = std::min(W, o1 - p0);
    for (int64_t k0 = 0; k0 < n; k0 += kKc) {
      const int64_t kc = std::min(kKc, n - k0);
      for (int64_t j = 0; j < W; ++j) {
        if (j >= nvalid) {
          for (int64_t k = 0; k < kc; ++k) P[size_t(k * W + j)] = 0.0f;
          continue;
        }
        const uint8_t* row = b.data + size_t(p0 + j) * b.row_bytes;
        const float* sr = b.scale ? b.scale + ((p0 + j) / b.scale_bn) * n_kb : nullptr;
        if (L::kBytes == 2 && !sr) {
          // 16-bit floats: widen a vector at a time (F16: one hardware conversion per vector instead of a call per
          // value), then store k-major.
          HWY_ALIGN float tmp[kKc];
          int64_t k = 0;
          for (; k + N <= kc; k += N) hn::Store(L::load(d, row, k0 + k), d, tmp + k);
          for (; k < kc; ++k) tmp[k] = L::scalar(row, k0 + k);
          for (k = 0; k < kc; ++k) P[size_t(k * W + j)] = tmp[k];
          continue;
        }
        for (int64_t k = 0; k < kc; ++k) {
          float v = L::scalar(row, k0 + k);
          if (sr) v *= sr[(k0 + k) / b.scale_bk];
          P[size_t(k * W + j)] = v;
        }
      }
      const bool add = accumulate || k0 > 0;
      for (int64_t t = 0; t < n_rows; t += kMr) {
        const int r = int(std::min<int64_t>(kMr, n_rows - t));
        packed_rows<kMr>(r, x + t * ldx + k0, ldx, P, kc, out);
        for (int i = 0; i < r; ++i) {
          float* dst = y + (t + i) * ldy + p0;
          const float* src = out + i * W;
          if (nvalid == W) {
            for (int64_t c = 0; c < W; c += N)
              hn::StoreU(add ? hn::Add(hn::LoadU(d, dst + c), hn::LoadU(d, src + c)) : hn::LoadU(d, src + c), d, dst + c);
          } else {
            for (int64_t c = 0; c < nvalid; ++c) dst[c] = add ? dst[c] + src[c] : src[c];
          }
        }
      }
    }
  }
}

template <class L>
void gemm_any(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
              int64_t ldy, bool accumulate) {
  // Packing transposes each B element into a k-major panel (scalar stores); the 4x4 register tile needs no
  // packing and runs near FMA peak from L1, so it wins until ~6 register tiles of x rows share a panel
  // (perf of a 16-stream decode step: 36% packing + 15% packed micro-kernel at the old 2-tile cut).
  if (n_rows >= 6 * kMr) gemm_packed<L>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate);
  else gemm_typed<L>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate);
}

void gemm_nt_invariant_impl(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1,
                            float* y, int64_t ldy, bool accumulate) {
  switch (b.kind) {
    case BKind::F32: gemm_typed<LoadF32>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate, true); break;
    case BKind::BF16: gemm_typed<LoadBF16>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate, true); break;
    case BKind::F16: gemm_typed<LoadF16>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate, true); break;
    case BKind::F8_E4M3: gemm_typed<LoadF8>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate, true); break;
  }
}

void gemm_nt_impl(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
                  int64_t ldy, bool accumulate) {
  switch (b.kind) {
    case BKind::F32: gemm_any<LoadF32>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate); break;
    case BKind::BF16: gemm_any<LoadBF16>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate); break;
    case BKind::F16: gemm_any<LoadF16>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate); break;
    case BKind::F8_E4M3: gemm_any<LoadF8>(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate); break;
  }
}

int64_t lanes_impl() { return int64_t(hn::Lanes(DF())); }

// 12 independent FMA chains (enough to cover latency x ports on current x86 cores), registers only.
float fma_peak_impl(int64_t iters, float seed) {
  const DF d;
  VF a[12];
  for (int i = 0; i < 12; ++i) a[i] = hn::Set(d, seed + float(i));
  const VF m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = hn::MulAdd(a[i], m, c);
  VF s = a[0];
  for (int i = 1; i < 12; ++i) s = hn::Add(s, a[i]);
  return hn::GetLane(hn::SumOfLanes(d, s));
}

float dot_impl(const float* a, const float* b, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  VF s0 = hn::Zero(d), s1 = hn::Zero(d);  // two chains hide the FMA latency
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_impl(float a, const float* x, float* y, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const VF va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

// acc[g * n + c] += Σ_j p[g * ldp + j] · v[j * ldv + c]: each v row is loaded once per vector of c
// for up to 4 groups' accumulators (attention decode: probabilities times values).
void weighted_row_sum_impl(const float* p, int64_t ldp, int64_t n_groups, const float* v, int64_t ldv, int64_t n_keys,
                           float* acc, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t g0 = 0; g0 < n_groups; g0 += 4) {
    const int64_t ng = std::min<int64_t>(4, n_groups - g0);
    int64_t c = 0;
    for (; c + N <= n; c += N) {
      VF a[4];
      for (int64_t g = 0; g < ng; ++g) a[g] = hn::LoadU(d, acc + (g0 + g) * n + c);
      for (int64_t j = 0; j < n_keys; ++j) {
        const VF vv = hn::LoadU(d, v + j * ldv + c);
        for (int64_t g = 0; g < ng; ++g) a[g] = hn::MulAdd(hn::Set(d, p[(g0 + g) * ldp + j]), vv, a[g]);
      }
      for (int64_t g = 0; g < ng; ++g) hn::StoreU(a[g], d, acc + (g0 + g) * n + c);
    }
    for (; c < n; ++c)
      for (int64_t g = 0; g < ng; ++g) {
        float s = acc[(g0 + g) * n + c];
        for (int64_t j = 0; j < n_keys; ++j) s += p[(g0 + g) * ldp + j] * v[j * ldv + c];
        acc[(g0 + g) * n + c] = s;
      }
  }
}

void scale_impl(float a, float* y, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const VF va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(va, hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] *= a;
}

void decay_rank1_row_impl(float* s, float decay, float k, const float* v, float q, float* o, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const VF vd = hn::Set(d, decay), vk = hn::Set(d, k), vq = hn::Set(d, q);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF sv = hn::MulAdd(vk, hn::LoadU(d, v + i), hn::Mul(vd, hn::LoadU(d, s + i)));
    hn::StoreU(sv, d, s + i);
    hn::StoreU(hn::MulAdd(vq, sv, hn::LoadU(d, o + i)), d, o + i);
  }
  for (; i < n; ++i) {
    s[i] = decay * s[i] + k * v[i];
    o[i] += q * s[i];
  }
}

float sum_impl(const float* x, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  VF s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::Add(s0, hn::LoadU(d, x + i));
    s1 = hn::Add(s1, hn::LoadU(d, x + i + N));
    s2 = hn::Add(s2, hn::LoadU(d, x + i + 2 * N));
    s3 = hn::Add(s3, hn::LoadU(d, x + i + 3 * N));
  }
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) s += x[i];
  return s;
}

float max_value_impl(const float* x, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  float m = -INFINITY;
  int64_t i = 0;
  if (n >= N) {
    VF vm = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vm = hn::Max(vm, hn::LoadU(d, x + i));
    m = hn::GetLane(hn::MaxOfLanes(d, vm));
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

float exp_shift_sum_impl(float* x, int64_t n, float shift) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const VF vs = hn::Set(d, shift);
  VF acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vs));
    hn::StoreU(e, d, x + i);
    acc = hn::Add(acc, e);
  }
  float s = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < n; ++i) s += (x[i] = std::exp(x[i] - shift));
  return s;
}

const char* target_name_impl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace mm::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mm::simd {

HWY_EXPORT(gemm_nt_impl);
HWY_EXPORT(gemm_nt_invariant_impl);
HWY_EXPORT(lanes_impl);
HWY_EXPORT(fma_peak_impl);
HWY_EXPORT(dot_impl);
HWY_EXPORT(axpy_impl);
HWY_EXPORT(scale_impl);
HWY_EXPORT(weighted_row_sum_impl);
HWY_EXPORT(sum_impl);
HWY_EXPORT(decay_rank1_row_impl);
HWY_EXPORT(target_name_impl);
HWY_EXPORT(max_value_impl);
HWY_EXPORT(exp_shift_sum_impl);

void gemm_nt(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
             int64_t ldy, bool accumulate) {
  if (n_rows <= 0 || o1 <= o0) return;
  HWY_DYNAMIC_DISPATCH(gemm_nt_impl)(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate);
}

void gemm_nt_invariant(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
             int64_t ldy, bool accumulate) {
  if (n_rows <= 0 || o1 <= o0) return;
  HWY_DYNAMIC_DISPATCH(gemm_nt_invariant_impl)(x, ldx, n_rows, b, o0, o1, y, ldy, accumulate);
}

bool gemm_scale_supported(const GemmB& b) {
  if (!b.scale) return true;
  // The widest target's lane count: scale blocks must not split a vector on any target.
  return b.scale_bn > 0 && b.scale_bk > 0 && b.scale_bk % 16 == 0 &&
         b.scale_bk % HWY_DYNAMIC_DISPATCH(lanes_impl)() == 0;
}

float dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(dot_impl)(a, b, n); }
float fma_peak_probe(int64_t iters, float seed, double* flops) {
  *flops = double(iters) * 12.0 * 2.0 * double(HWY_DYNAMIC_DISPATCH(lanes_impl)());
  return HWY_DYNAMIC_DISPATCH(fma_peak_impl)(iters, seed);
}
void axpy(float a, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(axpy_impl)(a, x, y, n); }
void scale(float a, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(scale_impl)(a, y, n); }
void weighted_row_sum(const float* p, int64_t ldp, int64_t n_groups, const float* v, int64_t ldv, int64_t n_keys,
                      float* acc, int64_t n) {
  HWY_DYNAMIC_DISPATCH(weighted_row_sum_impl)(p, ldp, n_groups, v, ldv, n_keys, acc, n);
}
void weighted_row_sum_ref(const float* p, int64_t ldp, int64_t n_groups, const float* v, int64_t ldv, int64_t n_keys,
                          float* acc, int64_t n) {
  for (int64_t g = 0; g < n_groups; ++g)
    for (int64_t j = 0; j < n_keys; ++j)
      for (int64_t c = 0; c < n; ++c) acc[g * n + c] += p[g * ldp + j] * v[j * ldv + c];
}
void decay_rank1_row(float* s, float decay, float k, const float* v, float q, float* o, int64_t n) {
  HWY_DYNAMIC_DISPATCH(decay_rank1_row_impl)(s, decay, k, v, q, o, n);
}
float sum(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(sum_impl)(x, n); }
const char* target_name() { return HWY_DYNAMIC_DISPATCH(target_name_impl)(); }
float max_value(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(max_value_impl)(x, n); }
float exp_shift_sum(float* x, int64_t n, float shift) { return HWY_DYNAMIC_DISPATCH(exp_shift_sum_impl)(x, n, shift); }

}  // namespace mm::simd
#endif  // HWY_ONCE
