// Highway implementation of the widening converters of ops/simd/kernels.h (KV rows of 16-bit floats
// or Q8_0 blocks to f32): the same operations as the scalar converters of core/dtype.h and
// core/formats/q8_0.h, lane by lane, so the values are identical.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/simd/widen_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <cstring>

#include "core/dtype.h"
#include "core/formats/q8_0.h"
#include "ops/simd/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mm::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, 16>;
using DU32 = hn::RebindToUnsigned<DF>;
using DU16 = hn::Rebind<uint16_t, DF>;
using DI32 = hn::RebindToSigned<DF>;
using DI8 = hn::Rebind<int8_t, DF>;

// f16 -> f32 as core/dtype.h's f16_to_f32: exponent+mantissa moved to bit 13, finite values rescaled
// by 2^112 (exact for subnormals too), inf / NaN given the all-ones exponent, the sign put back.
HWY_INLINE hn::Vec<DF> f16_bits_to_f32(hn::Vec<DU32> h) {
  const DF df;
  const DU32 du;
  const auto em = hn::And(h, hn::Set(du, 0x7fffu));
  const auto bits = hn::ShiftLeft<13>(em);
  const auto finite = hn::BitCast(du, hn::Mul(hn::BitCast(df, bits), hn::Set(df, 0x1p112f)));
  auto u = hn::IfThenElse(hn::Lt(em, hn::Set(du, 0x7c00u)), finite, hn::Or(bits, hn::Set(du, 0x7f800000u)));
  u = hn::Or(u, hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u))));
  return hn::BitCast(df, u);
}

// n 16-bit values to f32: `vec` widens a vector of them (as u32 lanes), `one` a single value (the tail).
template <class Vec, class One>
HWY_INLINE void widen16(const uint8_t* src, int64_t n, float* dst, Vec vec, One one) {
  const DF df;
  const DU32 du;
  const DU16 dh;
  const int64_t N = int64_t(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(vec(hn::PromoteTo(du, hn::LoadU(dh, reinterpret_cast<const uint16_t*>(src + 2 * i)))), df, dst + i);
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = one(h);
  }
}

void widen_f16_impl(const uint8_t* src, int64_t n, float* dst) {
  widen16(src, n, dst, [](hn::Vec<DU32> h) { return f16_bits_to_f32(h); }, [](uint16_t h) { return f16_to_f32(h); });
}

void widen_bf16_impl(const uint8_t* src, int64_t n, float* dst) {
  widen16(src, n, dst, [](hn::Vec<DU32> h) { return hn::BitCast(DF(), hn::ShiftLeft<16>(h)); },
          [](uint16_t h) { return bf16_to_f32(h); });
}

// Q8_0 blocks: x = d · q with d the block's f16 scale (one f32 multiply, as Q8_0::dequantize).
void widen_q8_0_impl(const uint8_t* src, int64_t n, float* dst) {
  const DF df;
  const DI32 di;
  const DI8 d8;
  const int64_t N = int64_t(hn::Lanes(df));
  for (int64_t b = 0; b < n / 32; ++b) {
    const auto& blk = *reinterpret_cast<const fmt::BlockQ8_0*>(src + b * sizeof(fmt::BlockQ8_0));
    uint16_t hs;
    std::memcpy(&hs, blk.d, 2);
    const auto d = hn::Set(df, f16_to_f32(hs));
    for (int64_t j = 0; j < 32; j += N)
      hn::StoreU(hn::Mul(d, hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, blk.qs + j)))), df, dst + 32 * b + j);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mm::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mm::simd {

HWY_EXPORT(widen_f16_impl);
HWY_EXPORT(widen_bf16_impl);
HWY_EXPORT(widen_q8_0_impl);

void widen_f16(const uint8_t* src, int64_t n, float* dst) { HWY_DYNAMIC_DISPATCH(widen_f16_impl)(src, n, dst); }
void widen_bf16(const uint8_t* src, int64_t n, float* dst) { HWY_DYNAMIC_DISPATCH(widen_bf16_impl)(src, n, dst); }
void widen_q8_0(const uint8_t* src, int64_t n, float* dst) { HWY_DYNAMIC_DISPATCH(widen_q8_0_impl)(src, n, dst); }

}  // namespace mm::simd
#endif
