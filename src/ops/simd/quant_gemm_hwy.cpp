// Highway implementation of ops/simd/quant_gemm.h (compiled once per target by foreach_target.h).
//
// This file asks Highway for its AVX3_DL target (Ice Lake / Zen 4: AVX-512 VNNI), which Debian's
// Highway 1.0.3 builds only on request; that target's target string lacks avx512vnni, so the pass adds
// it with a pragma (GCC target / clang attribute) and the micro-kernel calls _mm512_dpbusd_epi32
// directly. AVX2 runs the tiles with vpmaddubsw + vpmaddwd, other x86 targets from AVX2 up with a
// portable widening multiply; targets without hardware fused multiply-adds (and off x86) run the
// scalar reference, whose bits the decode kernels (quant_dot.h) share.
//
// Packed tile (16 weight rows, one sub-block of KS values after another):
//   codes  KS · 16 bytes: byte 64 g + 4 r + i = u[row r][KS j + 4 g + i] (vpdpbusd's u8 operand)
//   a      16 f32 (row r's scale for the sub-block)
//   b      16 f32 (K-quant mins only: −dmin · m)
// Rows past the end of the matrix are zero (codes and scales), so they add nothing.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/simd/quant_gemm_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/formats/block_format.h"
#include "ops/simd/transpose_x86.h"
#include "ops/simd/quant_gemm.h"

// ---- packed layout (compiled once) -----------------------------------------------------------------
#ifndef MM_QUANT_GEMM_SCALAR_ONCE
#define MM_QUANT_GEMM_SCALAR_ONCE
namespace mm::simd {
namespace qg {

// The format's row (core/formats/block_format.h): block size, sub-block (one scale a, one min b),
// code offset (w = a · (u − off) [+ b]), whether it has the b term (K-quant mins).
inline const BlockFormat& format_of(DType t) {
  const BlockFormat* f = block_format(t);
  MM_CHECK(f != nullptr, "quant_gemm: unsupported format");
  return *f;
}

inline int64_t sub_stride(const BlockFormat& f) { return int64_t(f.sub_elems) * 16 + 64 + (f.has_min ? 64 : 0); }
inline int64_t tile_bytes(const BlockFormat& f, int64_t n_in) { return (n_in / f.sub_elems) * sub_stride(f); }

}  // namespace qg
}  // namespace mm::simd
#endif  // MM_QUANT_GEMM_SCALAR_ONCE

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#if defined(__clang__)
// Clang takes the first target attribute pushed (Highway's); replace it by one that adds VNNI (popped
// by HWY_AFTER_NAMESPACE).
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target(HWY_TARGET_STR ",avx512vnni"))), apply_to = function)
#else
#pragma GCC target("avx512vnni")
#endif
#endif
namespace mm::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kLanes = HWY_MIN(16, int(HWY_LANES(int32_t)));
constexpr int kC = 16 / kLanes;  // vectors per 16 tile rows
using DI = hn::CappedTag<int32_t, kLanes>;
using DF = hn::CappedTag<float, kLanes>;
using DU = hn::CappedTag<uint32_t, kLanes>;
using VI = hn::Vec<DI>;
using VF = hn::Vec<DF>;

#if HWY_TARGET == HWY_AVX3_DL
// 8 i32 + 8 f32 accumulators, the weight vector, broadcasts and scales fit the 32 zmm with the token
// pointers in registers; 10 and 12 measured no faster (Zen 4: ~0.9 vpdpbusd per cycle either way).
constexpr int kMaxNT = 8;
// acc += Σ_{i<4} u8(w byte i) · s8(x byte i) per lane.
HWY_INLINE VI dot4(VI acc, VI w, int32_t x4) {
  return VI{_mm512_dpbusd_epi32(acc.raw, w.raw, _mm512_set1_epi32(x4))};
}
constexpr bool kSignedQ8 = false;
HWY_INLINE VI dot4_signed(VI acc, VI, int32_t) { return acc; }  // (not used: kSignedQ8 is false)
#elif HWY_TARGET == HWY_AVX2
constexpr int kMaxNT = 4;
// u8 × s8 pairs to i16 (vpmaddubsw), then pairs to i32 (vpmaddwd): exact while a code is at most 127
// (2 · 127 · 127 < 2^15), which every format's code is but Q8_0's q + 128: its tiles hold the signed
// q instead (kSignedQ8) and dot4_signed moves q's sign onto the activation.
constexpr bool kSignedQ8 = true;
HWY_INLINE VI dot4(VI acc, VI w, int32_t x4) {
  const __m256i p = _mm256_maddubs_epi16(w.raw, _mm256_set1_epi32(x4));
  return VI{_mm256_add_epi32(acc.raw, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))};
}
HWY_INLINE VI dot4_signed(VI acc, VI w, int32_t x4) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w.raw), _mm256_sign_epi8(_mm256_set1_epi32(x4), w.raw));
  return VI{_mm256_add_epi32(acc.raw, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))};
}
#else
constexpr int kMaxNT = 4;
HWY_INLINE VI dot4(VI acc, VI w, int32_t x4) {
  const DI di;
  const DU du;
  const auto wu = hn::BitCast(du, w);
  const auto m = hn::Set(du, 0xFFu);
  const auto w0 = hn::BitCast(di, hn::And(wu, m));
  const auto w1 = hn::BitCast(di, hn::And(hn::ShiftRight<8>(wu), m));
  const auto w2 = hn::BitCast(di, hn::And(hn::ShiftRight<16>(wu), m));
  const auto w3 = hn::BitCast(di, hn::ShiftRight<24>(wu));
  acc = hn::Add(acc, hn::Mul(w0, hn::Set(di, int32_t(int8_t(x4 & 0xFF)))));
  acc = hn::Add(acc, hn::Mul(w1, hn::Set(di, int32_t(int8_t((x4 >> 8) & 0xFF)))));
  acc = hn::Add(acc, hn::Mul(w2, hn::Set(di, int32_t(int8_t((x4 >> 16) & 0xFF)))));
  return hn::Add(acc, hn::Mul(w3, hn::Set(di, int32_t(int8_t((x4 >> 24) & 0xFF)))));
}
constexpr bool kSignedQ8 = false;
HWY_INLINE VI dot4_signed(VI acc, VI, int32_t) { return acc; }  // (not used: kSignedQ8 is false)
#endif

// Block scales are f16: F16C where the target has it (a third of Q8_0's packing time went to the
// portable routine).
HWY_INLINE float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(h);
#else
  return f16_to_f32(h);
#endif
}

// A whole row: n_blk blocks to codes u[n_blk * elems] and a / b[n_blk * elems / ks], with the format's
// shared decoder (core/formats/), inlined here so its byte loops vectorise for this target and its f16
// scales convert with F16C. The scalar reference uses the baseline target's copy (decode_row_baseline).
template <class F>
HWY_INLINE void decode_blocks(const uint8_t* row, int64_t n_blk, uint8_t* u, float* a, float* b) {
  constexpr int kBytes = int(sizeof(typename F::Block)), kSubs = F::kElems / F::kSub;
  for (int64_t blk = 0; blk < n_blk; ++blk)
    F::decode_codes(row + blk * kBytes, u + blk * F::kElems, a + blk * kSubs, b + blk * kSubs, f16_at);
}

HWY_INLINE void decode_row(DType t, const uint8_t* row, int64_t n_blk, uint8_t* u, float* a, float* b) {
  switch (t) {
    case DType::Q8_0: decode_blocks<fmt::Q8_0>(row, n_blk, u, a, b); break;
    case DType::Q4_0: decode_blocks<fmt::Q4_0>(row, n_blk, u, a, b); break;
    case DType::Q5_0: decode_blocks<fmt::Q5_0>(row, n_blk, u, a, b); break;
    case DType::Q4_K: decode_blocks<fmt::Q4_K>(row, n_blk, u, a, b); break;
    case DType::Q5_K: decode_blocks<fmt::Q5_K>(row, n_blk, u, a, b); break;
    case DType::Q6_K: decode_blocks<fmt::Q6_K>(row, n_blk, u, a, b); break;
    default: {  // a format without its own case: the table's decoder (exact f16, not inlined)
      const BlockFormat& f = qg::format_of(t);
      const int subs = f.block_elems / f.sub_elems;
      for (int64_t blk = 0; blk < n_blk; ++blk)
        f.decode_codes(row + blk * f.block_bytes, u + blk * f.block_elems, a + blk * subs, b + blk * subs);
    }
  }
}

// The baseline target's decoder, for the scalar reference.
void decode_row_baseline(DType t, const uint8_t* row, int64_t n_blk, uint8_t* u, float* a, float* b) {
  decode_row(t, row, n_blk, u, a, b);
}

// Packs weight rows [o, o + n), n <= 16, into one tile at dst (layout in the file comment): the rows are
// decoded to codes (vectorised for this target), then transposed in 4-byte units.
void pack_tile(Arena& scratch, const QMatrix& w, const BlockFormat& f, int64_t o, int64_t n,
               uint8_t* HWY_RESTRICT dst) {
  const int64_t n_in = w.n_in, n_sub = n_in / f.sub_elems, n_blk = n_in / f.block_elems, sb = qg::sub_stride(f);
  ArenaScope scope(scratch);
  int32_t* ubuf = scratch.alloc<int32_t>(size_t(4 * n_in));  // [16, n_in] codes, dword-aligned
  float* ab = scratch.alloc<float>(size_t(32 * n_sub));      // [16, n_sub] a, then [16, n_sub] b
  auto* u = reinterpret_cast<uint8_t*>(ubuf);
  for (int64_t r = 0; r < 16; ++r) {
    if (r < n) {
      decode_row(w.type, w.data + size_t(o + r) * w.row_bytes, n_blk, u + r * n_in, ab + r * n_sub,
                 ab + (16 + r) * n_sub);
      if (kSignedQ8 && w.type == DType::Q8_0)  // u = q + 128 back to q (dot4_signed)
        for (int64_t k = 0; k < n_in; ++k) u[r * n_in + k] ^= 0x80;
    } else {
      std::memset(u + r * n_in, 0, size_t(n_in));
      std::fill_n(ab + r * n_sub, n_sub, 0.0f);
      std::fill_n(ab + (16 + r) * n_sub, n_sub, 0.0f);
    }
  }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  // Two 8 x 8 dword transposes per 32 codes of the 16 rows (rows 0..7, 8..15): column g of a
  // transpose is dword g of 8 rows, half of the 64-byte group it belongs to.
  for (int64_t c = 0; c < n_in / 32; ++c) {
    for (int half = 0; half < 2; ++half) {
      __m256i r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + (8 * half + i) * n_in + 32 * c));
      __m256i col[8];
      transpose_8x8_epi32(r, col);
      for (int g = 0; g < 8; ++g) {
        const int64_t k = 32 * c + 4 * g;  // ks is 32 or 16: shifts, not divisions
        const int sh = f.sub_elems == 32 ? 5 : 4;
        uint8_t* grp = dst + (k >> sh) * sb + 16 * (k & (f.sub_elems - 1)) + 32 * half;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(grp), col[g]);
      }
    }
  }
  for (int64_t j = 0; j < n_sub; ++j) {
    uint8_t* s = dst + j * sb;
#else
  // Each 64-byte group gathers dword 4 g of all 16 rows.
  const DI di;
  const int64_t row_dw = n_in / 4;  // dwords per decoded row
  for (int64_t j = 0; j < n_sub; ++j) {
    uint8_t* s = dst + j * sb;
    for (int c = 0; c < kC; ++c) {
      const VI idx = hn::Mul(hn::Add(hn::Iota(di, 0), hn::Set(di, c * kLanes)), hn::Set(di, int32_t(row_dw)));
      for (int g = 0; g < f.sub_elems / 4; ++g) {
        const int32_t* base = ubuf + j * (f.sub_elems / 4) + g;
        hn::Store(hn::GatherIndex(di, base, idx), di, reinterpret_cast<int32_t*>(s + 64 * g) + c * kLanes);
      }
    }
#endif
    auto* av = reinterpret_cast<float*>(s + 16 * f.sub_elems);
    for (int r = 0; r < 16; ++r) av[r] = ab[r * n_sub + j];
    if (f.has_min)
      for (int r = 0; r < 16; ++r) av[16 + r] = ab[(16 + r) * n_sub + j];
  }
}

// NT activation rows from t0 against one packed tile of 16 weight rows.
template <int KS, bool kOff, bool kMin, bool kSigned, int NT>
HWY_NOINLINE void tile_kernel(const uint8_t* HWY_RESTRICT pk, const QGemmAct& a, int64_t t0, float* y,
                              int64_t ldy, int n_valid) {
  const DI di;
  const DF df;
  const int64_t n_in = a.n_in, nb = n_in / 32, n_sub = n_in / KS;
  constexpr int64_t kSB = KS * 16 + 64 + (kMin ? 64 : 0);
  VF facc[NT][kC];
  for (int t = 0; t < NT; ++t)
    for (int c = 0; c < kC; ++c) facc[t][c] = hn::Zero(df);
  const int8_t* xq = a.q + t0 * n_in;
  const float* xd = a.d + t0 * nb;
  const int32_t* xc = kOff ? a.corr + t0 * n_sub : nullptr;
  const float* xs = kMin ? a.ds + t0 * nb : nullptr;
  for (int64_t j = 0; j < n_sub; ++j) {
    const uint8_t* sb = pk + j * kSB;
    VI acc[NT][kC];
    for (int t = 0; t < NT; ++t)
      for (int c = 0; c < kC; ++c) acc[t][c] = kOff ? hn::Set(di, xc[t * n_sub + j]) : hn::Zero(di);
#pragma GCC unroll 8
    for (int g = 0; g < KS / 4; ++g) {
      VI wv[kC];
      for (int c = 0; c < kC; ++c)
        wv[c] = hn::BitCast(di, hn::Load(DU(), reinterpret_cast<const uint32_t*>(sb + 64 * g) + c * kLanes));
      for (int t = 0; t < NT; ++t) {
        int32_t x4;
        std::memcpy(&x4, xq + t * n_in + j * KS + 4 * g, 4);
        for (int c = 0; c < kC; ++c) acc[t][c] = kSigned ? dot4_signed(acc[t][c], wv[c], x4) : dot4(acc[t][c], wv[c], x4);
      }
    }
    const float* av = reinterpret_cast<const float*>(sb + KS * 16);
    const int64_t blk = (j * KS) / 32;
    for (int c = 0; c < kC; ++c) {
      const VF va = hn::Load(df, av + c * kLanes);
      for (int t = 0; t < NT; ++t)
        facc[t][c] = hn::MulAdd(hn::ConvertTo(df, acc[t][c]), hn::Mul(va, hn::Set(df, xd[t * nb + blk])), facc[t][c]);
      if constexpr (kMin) {
        const VF vb = hn::Load(df, av + 16 + c * kLanes);
        for (int t = 0; t < NT; ++t) facc[t][c] = hn::MulAdd(vb, hn::Set(df, xs[t * nb + blk]), facc[t][c]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * ldy;
    if (n_valid == 16) {
      for (int c = 0; c < kC; ++c) hn::StoreU(facc[t][c], df, yt + c * kLanes);
    } else {
      HWY_ALIGN float tmp[16];
      for (int c = 0; c < kC; ++c) hn::Store(facc[t][c], df, tmp + c * kLanes);
      std::memcpy(yt, tmp, size_t(n_valid) * 4);
    }
  }
}

template <int KS, bool kOff, bool kMin, bool kSigned = false>
void tile_all_rows(const uint8_t* pk, const QGemmAct& a, float* y, int64_t ldy, int n_valid) {
  int64_t t = 0;
  for (; t + kMaxNT <= a.n_rows; t += kMaxNT) tile_kernel<KS, kOff, kMin, kSigned, kMaxNT>(pk, a, t, y, ldy, n_valid);
  if constexpr (kMaxNT > 4)
    for (; t + 4 <= a.n_rows; t += 4) tile_kernel<KS, kOff, kMin, kSigned, 4>(pk, a, t, y, ldy, n_valid);
  for (; t < a.n_rows; ++t) tile_kernel<KS, kOff, kMin, kSigned, 1>(pk, a, t, y, ldy, n_valid);
}

void quant_gemm_impl(Arena& scratch, const QMatrix& w, const QGemmAct& a, int64_t o0, int64_t o1, float* y,
                     int64_t ldy) {
#if !(HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2)
  // Without fused multiply-adds in hardware (or off x86), the reference: the same bits as the decode
  // kernels' (quant_dot.h), which run the reference there too.
  quant_gemm_ref(w, a, o0, o1, y, ldy);
  return;
#endif
  const BlockFormat& f = qg::format_of(w.type);
  ArenaScope scope(scratch);
  uint8_t* pk = scratch.alloc<uint8_t>(size_t(qg::tile_bytes(f, w.n_in)));  // 64-byte aligned
  for (int64_t o = o0; o < o1; o += 16) {
    const int n = int(std::min<int64_t>(16, o1 - o));
    pack_tile(scratch, w, f, o, n, pk);
    float* yo = y + o;
    switch (w.type) {
      case DType::Q8_0:
        if constexpr (kSignedQ8) tile_all_rows<32, false, false, true>(pk, a, yo, ldy, n);
        else tile_all_rows<32, true, false>(pk, a, yo, ldy, n);
        break;
      case DType::Q4_0:
      case DType::Q5_0: tile_all_rows<32, true, false>(pk, a, yo, ldy, n); break;
      case DType::Q4_K:
      case DType::Q5_K: tile_all_rows<32, false, true>(pk, a, yo, ldy, n); break;
      case DType::Q6_K: tile_all_rows<16, true, false>(pk, a, yo, ldy, n); break;
      default: break;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mm::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mm::simd {

HWY_EXPORT(quant_gemm_impl);

QGemmAct quant_gemm_prepare(Arena& arena, DType t, const ActQ8& a) {
  const BlockFormat& f = qg::format_of(t);
  MM_CHECK(a.n_in % f.block_elems == 0, "quant_gemm_prepare: n_in not a multiple of the block");
  QGemmAct out;
  out.type = t;
  out.n_rows = a.n_rows;
  out.n_in = a.n_in;
  out.q = a.q;
  out.d = a.d;
  const int64_t nb = a.n_in / 32, n_sub = a.n_in / f.sub_elems;
  out.n_sub = n_sub;
  if (f.code_offset) {
    int32_t* corr = arena.alloc<int32_t>(size_t(a.n_rows * n_sub));
    for (int64_t r = 0; r < a.n_rows; ++r) {
      int32_t* c = corr + r * n_sub;
      if (f.sub_elems == 32) {
        for (int64_t j = 0; j < n_sub; ++j) c[j] = -f.code_offset * a.s[r * nb + j];
      } else {
        const int8_t* q = a.q + r * a.n_in;
        for (int64_t j = 0; j < n_sub; ++j) {
          int32_t s = 0;
          for (int i = 0; i < f.sub_elems; ++i) s += q[j * f.sub_elems + i];
          c[j] = -f.code_offset * s;
        }
      }
    }
    out.corr = corr;
  }
  if (f.has_min) {
    float* ds = arena.alloc<float>(size_t(a.n_rows * nb));
    for (int64_t i = 0; i < a.n_rows * nb; ++i) ds[i] = a.d[i] * float(a.s[i]);
    out.ds = ds;
  }
  return out;
}

QGemmAct QGemmAct::rows(int64_t r0, int64_t n) const {
  QGemmAct v;
  const int64_t nb = n_in / 32;
  v.type = type;
  v.n_rows = n;
  v.n_in = n_in;
  v.n_sub = n_sub;
  v.q = q + r0 * n_in;
  v.d = d + r0 * nb;
  v.corr = corr ? corr + r0 * n_sub : nullptr;
  v.ds = ds ? ds + r0 * nb : nullptr;
  return v;
}

void quant_gemm(Arena& scratch, const QMatrix& w, const QGemmAct& a, int64_t o0, int64_t o1, float* y,
                int64_t ldy) {
  if (a.n_rows <= 0 || o1 <= o0) return;
  MM_CHECK(w.type == a.type && w.n_in == a.n_in, "quant_gemm: activations prepared for another weight");
  HWY_DYNAMIC_DISPATCH(quant_gemm_impl)(scratch, w, a, o0, o1, y, ldy);
}

void quant_gemm_ref(const QMatrix& w, const QGemmAct& a, int64_t o0, int64_t o1, float* y, int64_t ldy) {
  MM_CHECK(w.type == a.type && w.n_in == a.n_in, "quant_gemm_ref: activations prepared for another weight");
  const BlockFormat& f = qg::format_of(w.type);
  const int64_t n_sub = w.n_in / f.sub_elems, n_blk = w.n_in / f.block_elems, nb = w.n_in / 32;
  std::vector<uint8_t> u(static_cast<size_t>(w.n_in));
  std::vector<float> av(static_cast<size_t>(n_sub)), bv(static_cast<size_t>(n_sub));
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = w.data + size_t(o) * w.row_bytes;
    HWY_STATIC_DISPATCH(decode_row_baseline)(w.type, row, n_blk, u.data(), av.data(), bv.data());
    for (int64_t t = 0; t < a.n_rows; ++t) {
      const int8_t* q = a.q + t * w.n_in;
      float acc = 0;
      for (int64_t j = 0; j < n_sub; ++j) {
        int32_t dot = 0, s = 0;
        for (int i = 0; i < f.sub_elems; ++i) {
          dot += int32_t(u[size_t(j * f.sub_elems + i)]) * q[j * f.sub_elems + i];
          s += q[j * f.sub_elems + i];
        }
        const float dx = a.d[t * nb + (j * f.sub_elems) / 32];
        acc = std::fma(float(dot - f.code_offset * s), av[size_t(j)] * dx, acc);
        if (f.has_min) acc = std::fma(bv[size_t(j)], a.ds[t * nb + j], acc);
      }
      y[t * ldy + o] = acc;
    }
  }
}

std::vector<int64_t> quant_gemm_targets() { return hwy::SupportedAndGeneratedTargets(); }

}  // namespace mm::simd
#endif  // HWY_ONCE
