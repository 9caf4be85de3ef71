// Highway implementation of ops/simd/quant_kernels.h (compiled once per target by foreach_target.h).
//
// Every block is decoded N values at a time (N = f32 lanes, capped at 16 so a vector never straddles
// a Q6_K 16-value scale group): the packed integers are widened to i32 lanes, unpacked with shifts and
// masks, converted to f32 and scaled with exactly the operations of the scalar dequantisers in
// ops/quant.cpp (same operands, same order), so each weight equals dequantize_row's value bit for bit.
// A decoder hands each f32 vector to a sink: the gemv sink FMAs it against the activation rows, the
// dequant sink stores it.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/simd/quant_kernels_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"
#include "core/formats/block_format.h"
#include "ops/simd/quant_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mm::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, 16>;
using VF = hn::Vec<DF>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;
using VU = hn::Vec<DU>;

// Block scales are f16. Finite values: move exponent+mantissa to f32 bit 13 and rescale by
// 2^(127-15), exact for normals and subnormals alike (the out-of-line f16_to_f32, one call per 32
// weights, held Q8_0 decode to a third of this speed). Inf / NaN take the general routine.
HWY_INLINE float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  if (HWY_UNLIKELY((h & 0x7c00) == 0x7c00)) return f16_to_f32(h);
  const uint32_t u = uint32_t(h & 0x7fff) << 13;
  float f;
  std::memcpy(&f, &u, 4);
  f *= 0x1p112f;
  return (h & 0x8000) ? -f : f;
}

// N bytes at p widened to u32 lanes.
HWY_INLINE VU load_u8(const uint8_t* p) {
  const hn::Rebind<uint8_t, DF> d8;
  return hn::PromoteTo(DU(), hn::LoadU(d8, p));
}

// Unsigned level q (u32 lanes) minus a bias, as f32 (exact: |q - bias| < 2^24).
HWY_INLINE VF level_f32(VU q, int bias) {
  const DI di;
  return hn::ConvertTo(DF(), hn::Sub(hn::BitCast(di, q), hn::Set(di, bias)));
}

// ---- block decoders: call sink(offset_in_block, f32 vector of the N weights there) ----------------
// The fields are those of the block structs of core/formats/.

struct Q8_0 {
  static constexpr int kElems = fmt::Q8_0::kElems, kBytes = sizeof(fmt::BlockQ8_0);
  template <class Sink>
  static HWY_INLINE void decode(const uint8_t* b, Sink&& sink) {
    const DF d;
    const int N = int(hn::Lanes(d));
    const hn::Rebind<int8_t, DF> d8;
    const auto& blk = *reinterpret_cast<const fmt::BlockQ8_0*>(b);
    const VF vd = hn::Set(d, f16_at(blk.d));
    const int8_t* q = blk.qs;
    for (int j = 0; j < 32; j += N) sink(j, hn::Mul(vd, hn::ConvertTo(d, hn::PromoteTo(DI(), hn::LoadU(d8, q + j)))));
  }
};

struct Q4_0 {
  static constexpr int kElems = fmt::Q4_0::kElems, kBytes = sizeof(fmt::BlockQ4_0);
  template <class Sink>
  static HWY_INLINE void decode(const uint8_t* b, Sink&& sink) {
    const DF d;
    const int N = int(hn::Lanes(d));
    const auto& blk = *reinterpret_cast<const fmt::BlockQ4_0*>(b);
    const VF vd = hn::Set(d, f16_at(blk.d));
    const VU m4 = hn::Set(DU(), 0xFu);
    for (int j = 0; j < 16; j += N) {
      const VU u = load_u8(blk.qs + j);
      sink(j, hn::Mul(vd, level_f32(hn::And(u, m4), 8)));
      sink(j + 16, hn::Mul(vd, level_f32(hn::ShiftRight<4>(u), 8)));
    }
  }
};

struct Q5_0 {
  static constexpr int kElems = fmt::Q5_0::kElems, kBytes = sizeof(fmt::BlockQ5_0);
  template <class Sink>
  static HWY_INLINE void decode(const uint8_t* b, Sink&& sink) {
    const DF d;
    const DU du;
    const int N = int(hn::Lanes(d));
    const auto& blk = *reinterpret_cast<const fmt::BlockQ5_0*>(b);
    const VF vd = hn::Set(d, f16_at(blk.d));
    uint32_t qh;
    std::memcpy(&qh, blk.qh, 4);
    const VU vqh = hn::Set(du, qh), one = hn::Set(du, 1u), m4 = hn::Set(du, 0xFu);
    for (int j = 0; j < 16; j += N) {
      const VU u = load_u8(blk.qs + j);
      const VU h_lo = hn::And((vqh >> hn::Iota(du, uint32_t(j))), one);
      const VU h_hi = hn::And((vqh >> hn::Iota(du, uint32_t(j + 16))), one);
      sink(j, hn::Mul(vd, level_f32(hn::Or(hn::And(u, m4), hn::ShiftLeft<4>(h_lo)), 16)));
      sink(j + 16, hn::Mul(vd, level_f32(hn::Or(hn::ShiftRight<4>(u), hn::ShiftLeft<4>(h_hi)), 16)));
    }
  }
};

// Q4_K and Q5_K share everything but the fifth bit.
template <bool kFive>
struct QK45 {
  using Block = std::conditional_t<kFive, fmt::BlockQ5_K, fmt::BlockQ4_K>;
  static constexpr int kElems = 256, kBytes = sizeof(Block);
  template <class Sink>
  static HWY_INLINE void decode(const uint8_t* b, Sink&& sink) {
    const DF d;
    const DU du;
    const int N = int(hn::Lanes(d));
    const Block& blk = *reinterpret_cast<const Block*>(b);
    const float dd = f16_at(blk.d), dmin = f16_at(blk.dmin);
    const uint8_t* scales = blk.scales;
    const uint8_t* qs = blk.qs;
    const VU m4 = hn::Set(du, 0xFu), one = hn::Set(du, 1u);
    for (int c = 0; c < 4; ++c) {
      int sc0, m0, sc1, m1;
      fmt::k_scale_min(2 * c, scales, &sc0, &m0);
      fmt::k_scale_min(2 * c + 1, scales, &sc1, &m1);
      const VF d0 = hn::Set(d, dd * float(sc0)), mm0 = hn::Set(d, dmin * float(m0));
      const VF d1 = hn::Set(d, dd * float(sc1)), mm1 = hn::Set(d, dmin * float(m1));
      const uint8_t* q = qs + 32 * c;
      for (int l = 0; l < 32; l += N) {
        const VU u = load_u8(q + l);
        VU lo = hn::And(u, m4), hi = hn::ShiftRight<4>(u);
        if constexpr (kFive) {
          const VU h = load_u8(blk.qh + l);
          lo = hn::Or(lo, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c), one)));
          hi = hn::Or(hi, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c + 1), one)));
        }
        sink(64 * c + l, hn::Sub(hn::Mul(d0, level_f32(lo, 0)), mm0));
        sink(64 * c + 32 + l, hn::Sub(hn::Mul(d1, level_f32(hi, 0)), mm1));
      }
    }
  }
};

struct Q6_K {
  static constexpr int kElems = fmt::Q6_K::kElems, kBytes = sizeof(fmt::BlockQ6_K);
  template <class Sink>
  static HWY_INLINE void decode(const uint8_t* b, Sink&& sink) {
    const DF d;
    const DU du;
    const int N = int(hn::Lanes(d));
    const fmt::BlockQ6_K& blk = *reinterpret_cast<const fmt::BlockQ6_K*>(b);
    const int8_t* sc = blk.scales;
    const float dd = f16_at(blk.d);
    const VU m4 = hn::Set(du, 0xFu), m2 = hn::Set(du, 3u);
    for (int n = 0; n < 2; ++n) {
      const uint8_t* l0 = blk.ql + 64 * n;
      const uint8_t* h0 = blk.qh + 32 * n;
      const int8_t* s = sc + 8 * n;
      for (int l = 0; l < 32; l += N) {
        const int is = l / 16;  // N <= 16 and divides 16: one scale per vector
        const VU a = load_u8(l0 + l), c = load_u8(l0 + l + 32), h = load_u8(h0 + l);
        const VU q1 = hn::Or(hn::And(a, m4), hn::ShiftLeft<4>(hn::And(h, m2)));
        const VU q2 = hn::Or(hn::And(c, m4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(h), m2)));
        const VU q3 = hn::Or(hn::ShiftRight<4>(a), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(h), m2)));
        const VU q4 = hn::Or(hn::ShiftRight<4>(c), hn::ShiftLeft<4>(hn::ShiftRight<6>(h)));
        const int o = 128 * n + l;
        sink(o, hn::Mul(hn::Set(d, dd * float(s[is])), level_f32(q1, 32)));
        sink(o + 32, hn::Mul(hn::Set(d, dd * float(s[is + 2])), level_f32(q2, 32)));
        sink(o + 64, hn::Mul(hn::Set(d, dd * float(s[is + 4])), level_f32(q3, 32)));
        sink(o + 96, hn::Mul(hn::Set(d, dd * float(s[is + 6])), level_f32(q4, 32)));
      }
    }
  }
};

// Weight bytes to prefetch ahead of the decoder (as kernels_hwy.cpp: short rows read one after the
// other train the hardware prefetchers too late).
constexpr int64_t kPrefetchAhead = 2048;

// R activation rows against one weight row; two accumulator chains per x row hide the FMA latency.
template <int R, class B>
HWY_INLINE void gemv_row(const float* HWY_RESTRICT x, int64_t ldx, const uint8_t* row, int64_t n_blocks,
                         float* out) {
  const DF d;
  const int N = int(hn::Lanes(d));
  VF acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = hn::Zero(d);
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const uint8_t* bp = row + blk * B::kBytes;
    for (int off = 0; off < B::kBytes; off += 64) __builtin_prefetch(bp + kPrefetchAhead + off);
    const float* xb = x + blk * B::kElems;
    B::decode(bp, [&](int off, VF w) HWY_ATTR {
      const int chain = (off / N) & 1;
      for (int r = 0; r < R; ++r) acc[r][chain] = hn::MulAdd(hn::LoadU(d, xb + r * ldx + off), w, acc[r][chain]);
    });
  }
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc[r][0], acc[r][1])));
}

template <class B>
void gemv_typed(const float* x, int64_t ldx, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1, float* y,
                int64_t ldy) {
  const int64_t n_blocks = w.n_in / B::kElems;
  for (int64_t t = 0; t < n_rows; t += 4) {
    const int r = int(std::min<int64_t>(4, n_rows - t));
    const float* xt = x + t * ldx;
    for (int64_t o = o0; o < o1; ++o) {
      const uint8_t* row = w.data + size_t(o) * w.row_bytes;
      float out[4];
      switch (r) {
        case 1: gemv_row<1, B>(xt, ldx, row, n_blocks, out); break;
        case 2: gemv_row<2, B>(xt, ldx, row, n_blocks, out); break;
        case 3: gemv_row<3, B>(xt, ldx, row, n_blocks, out); break;
        default: gemv_row<4, B>(xt, ldx, row, n_blocks, out); break;
      }
      for (int i = 0; i < r; ++i) y[(t + i) * ldy + o] = out[i];
    }
  }
}

template <class B>
void dequant_typed(const QMatrix& w, int64_t o0, int64_t o1, float* dst) {
  const DF d;
  const int64_t n_blocks = w.n_in / B::kElems;
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = w.data + size_t(o) * w.row_bytes;
    float* out = dst + (o - o0) * w.n_in;
    for (int64_t blk = 0; blk < n_blocks; ++blk) {
      float* ob = out + blk * B::kElems;
      B::decode(row + blk * B::kBytes, [&](int off, VF v) HWY_ATTR { hn::StoreU(v, d, ob + off); });
    }
  }
}

void quant_gemv_impl(const float* x, int64_t ldx, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1,
                     float* y, int64_t ldy) {
  switch (w.type) {
    case DType::Q8_0: gemv_typed<Q8_0>(x, ldx, n_rows, w, o0, o1, y, ldy); break;
    case DType::Q4_0: gemv_typed<Q4_0>(x, ldx, n_rows, w, o0, o1, y, ldy); break;
    case DType::Q5_0: gemv_typed<Q5_0>(x, ldx, n_rows, w, o0, o1, y, ldy); break;
    case DType::Q4_K: gemv_typed<QK45<false>>(x, ldx, n_rows, w, o0, o1, y, ldy); break;
    case DType::Q5_K: gemv_typed<QK45<true>>(x, ldx, n_rows, w, o0, o1, y, ldy); break;
    case DType::Q6_K: gemv_typed<Q6_K>(x, ldx, n_rows, w, o0, o1, y, ldy); break;
    default: break;
  }
}

void quant_dequant_rows_impl(const QMatrix& w, int64_t o0, int64_t o1, float* dst) {
  switch (w.type) {
    case DType::Q8_0: dequant_typed<Q8_0>(w, o0, o1, dst); break;
    case DType::Q4_0: dequant_typed<Q4_0>(w, o0, o1, dst); break;
    case DType::Q5_0: dequant_typed<Q5_0>(w, o0, o1, dst); break;
    case DType::Q4_K: dequant_typed<QK45<false>>(w, o0, o1, dst); break;
    case DType::Q5_K: dequant_typed<QK45<true>>(w, o0, o1, dst); break;
    case DType::Q6_K: dequant_typed<Q6_K>(w, o0, o1, dst); break;
    default: break;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mm::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mm::simd {

HWY_EXPORT(quant_gemv_impl);
HWY_EXPORT(quant_dequant_rows_impl);

bool quant_supported(DType t) {
  switch (t) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return true;
    default: return false;
  }
}

void quant_gemv(const float* x, int64_t ldx, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1, float* y,
                int64_t ldy) {
  if (n_rows <= 0 || o1 <= o0) return;
  MM_CHECK(quant_supported(w.type) && w.n_in % dtype_info(w.type).block_elems == 0, "quant_gemv: bad weight");
  HWY_DYNAMIC_DISPATCH(quant_gemv_impl)(x, ldx, n_rows, w, o0, o1, y, ldy);
}

void quant_dequant_rows(const QMatrix& w, int64_t o0, int64_t o1, float* dst) {
  if (o1 <= o0) return;
  MM_CHECK(quant_supported(w.type) && w.n_in % dtype_info(w.type).block_elems == 0, "quant_dequant_rows: bad weight");
  HWY_DYNAMIC_DISPATCH(quant_dequant_rows_impl)(w, o0, o1, dst);
}

}  // namespace mm::simd
#endif  // HWY_ONCE
