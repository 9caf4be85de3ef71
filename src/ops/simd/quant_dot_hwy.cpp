// Highway implementation of ops/simd/quant_dot.h (compiled once per target by foreach_target.h).
//
// Every 32 weights become one 32-byte vector of unsigned codes in value order (Q8_0: q + 128,
// Q4_0 / Q5_0: the stored 4 / 5-bit level, Q4_K / Q5_K: the level, Q6_K: the 6-bit level), and
// dot(codes, x) runs as u8 × s8 → i32 with lane i summing bytes 4i..4i+3 (vpdpbusd on AVX-512 VNNI).
// The code offset (128, 8, 16, 32) is taken back exactly in the integer domain: the accumulator
// starts at -offset · (the sum of those 4 activation codes), precomputed once per call. The i32
// lanes are converted to f32 and multiplied-added with the per-lane scale (weight scale · d_x): one
// scale for the 32 lanes of Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K groups, two (lanes 0-3 / 4-7) for
// Q6_K's 16-value sub-blocks. K-quant mins: Σ dmin · m · (d_x · s), 8 lanes per super-block.
//
// That is the portable 256-bit form (AVX2 / AVX3: the dot as i16 multiply-adds). On AVX-512 VNNI
// (Highway's AVX3_DL target) every format has a 512-bit variant (the *_512 functions) that puts two
// 32-value groups in one vector: the same arithmetic with half the instructions, which is what the
// 256-bit kernels were bound by. Targets narrower than 256 bits run the scalar reference.
#define HWY_WANT_AVX3_DL  // the AVX-512 VNNI target (Highway 1.0.3 compiles it only on request)
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/simd/quant_dot_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/formats/block_format.h"
#include "ops/simd/quant_dot.h"

HWY_BEFORE_NAMESPACE();
namespace mm::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- activation quantiser (any vector width) -----------------------------------------------------

void quantize_rows_impl(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, int8_t* q, float* d,
                        int32_t* s) {
  using DQ = hn::CappedTag<float, 16>;
  const DQ df;
  const hn::RebindToSigned<DQ> di;
  const hn::Rebind<int8_t, DQ> d8;
  const int N = int(hn::Lanes(df));
  const int64_t nb = n_in / kActBlock;
  for (int64_t t = 0; t < n_rows; ++t) {
    const float* xr = x + t * ldx;
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = xr + b * kActBlock;
      auto vmax = hn::Zero(df);
      for (int i = 0; i < kActBlock; i += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(df, xb + i)));
      const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
      const float db = amax / 127.0f;
      const float id = db != 0.0f ? 1.0f / db : 0.0f;
      const auto vid = hn::Set(df, id);
      const auto lo = hn::Set(di, -127), hi = hn::Set(di, 127);
      auto vsum = hn::Zero(di);
      int8_t* qb = q + t * n_in + b * kActBlock;
      for (int i = 0; i < kActBlock; i += N) {
        const auto v = hn::Min(hi, hn::Max(lo, hn::NearestInt(hn::Mul(hn::LoadU(df, xb + i), vid))));
        vsum = hn::Add(vsum, v);
        hn::StoreU(hn::DemoteTo(d8, v), d8, qb + i);
      }
      d[t * nb + b] = db;
      s[t * nb + b] = hn::GetLane(hn::SumOfLanes(di, vsum));
    }
  }
}

#if HWY_TARGET != HWY_SCALAR && HWY_MAX_BYTES >= 32

using D8 = hn::FixedTag<uint8_t, 32>;
using V8 = hn::Vec<D8>;
using DS8 = hn::RebindToSigned<D8>;
using D16 = hn::Repartition<uint16_t, D8>;
using DS16 = hn::Repartition<int16_t, D8>;
using DI = hn::Repartition<int32_t, D8>;  // 8 lanes
using VI = hn::Vec<DI>;
using DF = hn::Repartition<float, D8>;  // 8 lanes
using VF = hn::Vec<DF>;

// acc + (lane i: Σ_{j<4} w[4i + j] · x[4i + j]), w unsigned, x signed bytes; exact in i32.
HWY_INLINE VI dot_acc(VI acc, V8 w, hn::Vec<DS8> x) {
#if HWY_TARGET == HWY_AVX3_DL
  // EVEX-encoded vpdpbusd (AVX512_VNNI + VL). Spelled in asm: with the target's avxvnni flag the
  // compiler would pick the VEX form, which AVX-512-only CPUs (Zen 4, Ice Lake) do not have.
  __m256i a = acc.raw;
  asm("%{evex%} vpdpbusd %2, %1, %0" : "+v"(a) : "v"(w.raw), "vm"(x.raw));
  return VI{a};
#else
  // Even and odd bytes widened to i16 (u8 zero-extended, s8 sign-extended), pairwise multiply-add
  // (pmaddwd): lane i collects bytes 4i, 4i+2 and then 4i+1, 4i+3.
  const D16 d16;
  const DS16 ds16;
  const DI di;
  const auto w16 = hn::BitCast(d16, w);
  const auto we = hn::BitCast(ds16, hn::And(w16, hn::Set(d16, 0xFF)));
  const auto wo = hn::BitCast(ds16, hn::ShiftRight<8>(w16));
  const auto x16 = hn::BitCast(ds16, x);
  const auto xe = hn::ShiftRight<8>(hn::ShiftLeft<8>(x16));
  const auto xo = hn::ShiftRight<8>(x16);
  VI s1 = hn::Zero(di);
  VI s0 = hn::ReorderWidenMulAccumulate(di, we, xe, hn::Zero(di), s1);
  s0 = hn::ReorderWidenMulAccumulate(di, wo, xo, s0, s1);
  return hn::Add(acc, hn::RearrangeToOddPlusEven(s0, s1));
#endif
}

// Block scales are f16. Two traps on the hot path: a branch on the sign (Q4_0 / Q5_0 scales have
// random signs, d = max / -8: a mispredict per 32 weights cost 4x), and f16 subnormals (K-quant dmin
// is often tiny) turned into f32 denormals before a rescale (a microcode assist per block cost 2-3x).
// x86: the F16C conversion (every target this kernel runs on has it). Elsewhere: exponent rebias in
// the integer domain for normals, mantissa · 2^-24 for subnormals, selected without a branch.
HWY_INLINE float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if HWY_ARCH_X86
  return _cvtsh_ss(h);
#else
  if (HWY_UNLIKELY((h & 0x7c00) == 0x7c00)) return f16_to_f32(h);
  const uint32_t normal = (uint32_t(h & 0x7fff) << 13) + (112u << 23);
  const float sub = float(h & 0x3ff) * 0x1p-24f;
  uint32_t sub_bits;
  std::memcpy(&sub_bits, &sub, 4);
  const uint32_t u = ((h & 0x7c00) ? normal : sub_bits) | (uint32_t(h & 0x8000) << 16);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// f(std::integral_constant<int, i>()) for i = 0 .. N-1, unrolled (compile-time register indices).
template <int N, int I = 0, class F>
HWY_INLINE void static_for(F&& f) {
  if constexpr (I < N) {
    f(std::integral_constant<int, I>());
    static_for<N, I + 1>(f);
  }
}

// Block sizes and field offsets: the block structs of core/formats/.
using fmt::BlockQ4_0;
using fmt::BlockQ4_K;
using fmt::BlockQ5_0;
using fmt::BlockQ5_K;
using fmt::BlockQ6_K;
using fmt::BlockQ8_0;
using fmt::k_scales_mins;
template <DType kType>
using BlockOf = std::conditional_t<kType == DType::Q8_0, BlockQ8_0,
                                   std::conditional_t<kType == DType::Q4_0, BlockQ4_0, BlockQ5_0>>;
template <bool kFive>
using BlockK = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;

// Per-call activation data for R rows.
template <int R>
struct Rows {
  const int8_t* q[R];
  const float* d[R];
  const int32_t* bias[R];  // [n_in / 4]: -offset · Σ of each 4 codes (offset formats)
  const float* ds[R];      // [n_in / 32]: d_x · s (K-quant mins)
  const float* d16[R];     // [n_in / 16]: d_x of each 16 values (Q6_K sub-blocks)
};

// Weight bytes to prefetch ahead (short rows read one after the other train the hardware prefetchers
// too late). 8 KiB: measured against 2, 4 and 16 KiB end to end (one thread, M2 / Text-01 GGUFs):
// 2 KiB left Q8_0 decode ~20% and Text-01 Q4_K_M ~25% slower; 16 KiB no better than 8.
constexpr int64_t kPrefetchAhead = 8192;

HWY_INLINE void prefetch_block(const uint8_t* bp, int bytes) {
  for (int off = 0; off < bytes; off += 64) __builtin_prefetch(bp + kPrefetchAhead + off);
}

HWY_INLINE hn::Vec<DS8> xload(const int8_t* p) { return hn::LoadU(DS8(), p); }

// Independent f32 accumulator chains per activation row (one chain would be bound by the FMA
// latency). 2: measured end to end, 4 chains for 1-2 rows decoded M2 Q4_K_M ~15% slower.
template <int R>
constexpr int kChains = 2;

// One 32-weight group g (global index in the row) with a uniform weight scale ws, into accumulator
// chain kChain (a compile-time index: a run-time one sends the accumulators through the stack).
template <int R, bool kBias, int kChain>
HWY_INLINE void group_uniform(const Rows<R>& x, int64_t g, V8 codes, float ws, VF (&acc)[R][kChains<R>]) {
  const DF df;
  const DI di;
  for (int r = 0; r < R; ++r) {
    const VI i0 = kBias ? hn::LoadU(di, x.bias[r] + 8 * g) : hn::Zero(di);
    const VI dot = dot_acc(i0, codes, xload(x.q[r] + 32 * g));
    acc[r][kChain] = hn::MulAdd(hn::ConvertTo(df, dot), hn::Set(df, ws * x.d[r][g]), acc[r][kChain]);
  }
}

// Per activation row, the 8 lanes whose sum is the output (chains added, K-quant mins taken off).
template <int R>
HWY_INLINE void finish(VF (&acc)[R][kChains<R>], const VF* mins, VF* out) {
  for (int r = 0; r < R; ++r) {
    VF sum = acc[r][0];
    for (int c = 1; c < kChains<R>; ++c) sum = hn::Add(sum, acc[r][c]);
    out[r] = mins ? hn::Sub(sum, mins[r]) : sum;
  }
}

// Lane sums of 8 vectors: result lane j = Σ lanes of v[j] (a transpose-and-add, 21 ops for 8 outputs
// instead of a horizontal reduction each: short rows, e.g. MoE down projections of 256 inputs,
// spent 40% of their time in per-row reductions).
HWY_INLINE VF sum_lanes_8(const VF* v) {
  const DF df;
  const hn::Repartition<double, DF> dd;
  auto quad = [&](const VF* q) HWY_ATTR {
    const VF s01 = hn::Add(hn::InterleaveLower(df, q[0], q[1]), hn::InterleaveUpper(df, q[0], q[1]));
    const VF s23 = hn::Add(hn::InterleaveLower(df, q[2], q[3]), hn::InterleaveUpper(df, q[2], q[3]));
    const auto a = hn::BitCast(dd, s01), b = hn::BitCast(dd, s23);
    // lanes: [Σ q0 low half, Σ q1 low, Σ q2 low, Σ q3 low | the same for the high halves]
    return hn::Add(hn::BitCast(df, hn::InterleaveLower(dd, a, b)), hn::BitCast(df, hn::InterleaveUpper(dd, a, b)));
  };
  const VF lo = quad(v), hi = quad(v + 4);
  return hn::Add(hn::ConcatLowerLower(df, hi, lo), hn::ConcatUpperUpper(df, hi, lo));
}

template <int R>
HWY_INLINE void row_q8_0(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
  const DF df;
  const D8 d8;
  constexpr int kC = kChains<R>;
  VF acc[R][kC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = hn::Zero(df);
  const V8 k80 = hn::Set(d8, 0x80);
  auto block = [&](int64_t b, auto chain) HWY_ATTR {
    const uint8_t* bp = row + b * sizeof(BlockQ8_0);
    prefetch_block(bp, sizeof(BlockQ8_0));
    const V8 codes = hn::Xor(hn::LoadU(d8, bp + offsetof(BlockQ8_0, qs)), k80);
    group_uniform<R, true, decltype(chain)::value>(x, b, codes, f16_at(bp + offsetof(BlockQ8_0, d)), acc);
  };
  int64_t b = 0;
  for (; b + kC <= nb; b += kC) static_for<kC>([&](auto c) HWY_ATTR { block(b + c, c); });
  for (; b < nb; ++b) block(b, std::integral_constant<int, 0>());
  finish<R>(acc, nullptr, out);
}

// Q4_0 / Q5_0: 16 bytes of nibbles -> [low nibbles (values 0..15), high nibbles (16..31)].
HWY_INLINE V8 nibbles_32(const uint8_t* qs) {
  const D8 d8;
  const hn::Half<D8> dh;
  const hn::Repartition<uint16_t, decltype(dh)> dh16;
  const auto lo = hn::LoadU(dh, qs);
  const auto hi = hn::BitCast(dh, hn::ShiftRight<4>(hn::BitCast(dh16, lo)));
  return hn::And(hn::Combine(d8, hi, lo), hn::Set(d8, 0x0F));
}

template <int R, bool kFive>
HWY_INLINE void row_qx_0(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
  const DF df;
  const D8 d8;
  using Block = std::conditional_t<kFive, BlockQ5_0, BlockQ4_0>;
  constexpr int kBytes = sizeof(Block);
  constexpr int kC = kChains<R>;
  VF acc[R][kC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = hn::Zero(df);
  auto block = [&](int64_t b, auto chain) HWY_ATTR {
    const uint8_t* bp = row + b * kBytes;
    prefetch_block(bp, kBytes);
    V8 codes = nibbles_32(bp + offsetof(Block, qs));
    if constexpr (kFive) {
      const auto m = hn::LoadMaskBits(d8, bp + offsetof(BlockQ5_0, qh));  // bit j of qh: value j's fifth bit
      codes = hn::Or(codes, hn::IfThenElseZero(m, hn::Set(d8, 0x10)));
    }
    group_uniform<R, true, decltype(chain)::value>(x, b, codes, f16_at(bp + offsetof(Block, d)), acc);
  };
  int64_t b = 0;
  for (; b + kC <= nb; b += kC) static_for<kC>([&](auto c) HWY_ATTR { block(b + c, c); });
  for (; b < nb; ++b) block(b, std::integral_constant<int, 0>());
  finish<R>(acc, nullptr, out);
}

// Bit kBit of every byte moved to bit 4 (other bits: garbage, to be masked).
template <int kBit>
HWY_INLINE V8 bit_to_4(V8 h) {
  const D8 d8;
  const D16 d16;
  if constexpr (kBit < 4) return hn::BitCast(d8, hn::ShiftLeft<4 - kBit>(hn::BitCast(d16, h)));
  else if constexpr (kBit == 4) return h;
  else return hn::BitCast(d8, hn::ShiftRight<kBit - 4>(hn::BitCast(d16, h)));
}

template <int R, bool kFive>
HWY_INLINE void row_qk45(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
  const DF df;
  const D8 d8;
  const D16 d16;
  const hn::Rebind<uint8_t, DF> d8f;  // 8 bytes -> 8 lanes
  using Block = BlockK<kFive>;
  constexpr int kBytes = sizeof(Block);
  constexpr int kC = kChains<R>;
  VF acc[R][kC], mins[R];
  for (int r = 0; r < R; ++r) {
    mins[r] = hn::Zero(df);
    for (int c = 0; c < kC; ++c) acc[r][c] = hn::Zero(df);
  }
  const V8 m4 = hn::Set(d8, 0x0F), b4 = hn::Set(d8, 0x10);
  HWY_ALIGN float ws[R][8];
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* bp = row + b * kBytes;
    prefetch_block(bp, kBytes);
    uint8_t sc[8], mn[8];
    k_scales_mins(bp + offsetof(Block, scales), sc, mn);
    const VF vsc =
        hn::Mul(hn::ConvertTo(df, hn::PromoteTo(DI(), hn::LoadU(d8f, sc))), hn::Set(df, f16_at(bp + offsetof(Block, d))));
    const VF vmn = hn::Mul(hn::ConvertTo(df, hn::PromoteTo(DI(), hn::LoadU(d8f, mn))),
                           hn::Set(df, f16_at(bp + offsetof(Block, dmin))));
    for (int r = 0; r < R; ++r) {
      hn::Store(hn::Mul(vsc, hn::LoadU(df, x.d[r] + 8 * b)), df, ws[r]);
      mins[r] = hn::MulAdd(vmn, hn::LoadU(df, x.ds[r] + 8 * b), mins[r]);
    }
    // Read the 8 group scales back from memory (a broadcast load per group, folded into the FMA on
    // AVX-512) rather than letting the compiler forward the store into two shuffles per group.
    asm volatile("" : "+m"(ws));
    const uint8_t* qs = bp + offsetof(Block, qs);
    V8 h;
    if constexpr (kFive) h = hn::LoadU(d8, bp + offsetof(BlockQ5_K, qh));
    static_for<4>([&](auto cc) HWY_ATTR {
      constexpr int c = decltype(cc)::value;
      const V8 q = hn::LoadU(d8, qs + 32 * c);
      V8 lo = hn::And(q, m4);
      V8 hi = hn::And(hn::BitCast(d8, hn::ShiftRight<4>(hn::BitCast(d16, q))), m4);
      if constexpr (kFive) {
        // bit 2c of qh[l] is value 64c + l's fifth bit, bit 2c + 1 value 64c + 32 + l's: moved to bit 4
        // (16-bit shifts; the bits they carry across bytes are masked off).
        lo = hn::OrAnd(lo, bit_to_4<2 * c>(h), b4);
        hi = hn::OrAnd(hi, bit_to_4<2 * c + 1>(h), b4);
      }
      const int64_t g = 8 * b + 2 * c;
      for (int r = 0; r < R; ++r) {
        const VI dlo = dot_acc(hn::Zero(DI()), lo, xload(x.q[r] + 32 * g));
        const VI dhi = dot_acc(hn::Zero(DI()), hi, xload(x.q[r] + 32 * g + 32));
        constexpr int c0 = (2 * c) % kC, c1 = (2 * c + 1) % kC;
        acc[r][c0] = hn::MulAdd(hn::ConvertTo(df, dlo), hn::Set(df, ws[r][2 * c]), acc[r][c0]);
        acc[r][c1] = hn::MulAdd(hn::ConvertTo(df, dhi), hn::Set(df, ws[r][2 * c + 1]), acc[r][c1]);
      }
    });
  }
  finish<R>(acc, mins, out);
}

#if HWY_TARGET == HWY_AVX3_DL
HWY_INLINE __m512i dot_acc512(__m512i acc, __m512i w, const int8_t* x);

// Q8_0 / Q4_0 / Q5_0 with 512-bit vectors: two consecutive blocks per vpdpbusd (their activations
// are 64 consecutive bytes), lanes 0-7 block b, lanes 8-15 block b + 1.
template <DType kType>
HWY_INLINE __m512i codes_pair(const uint8_t* bp) {
  constexpr int kBytes = sizeof(BlockOf<kType>);
  if constexpr (kType == DType::Q8_0) {
    const __m512i q = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + offsetof(BlockQ8_0, qs)))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + kBytes + offsetof(BlockQ8_0, qs))), 1);
    return _mm512_xor_si512(q, _mm512_set1_epi8(char(0x80)));
  } else {
    constexpr int kQs = offsetof(BlockOf<kType>, qs);
    // [qs_b | qs_b+1] -> [qs_b, qs_b, qs_b+1, qs_b+1], 128-bit chunks shifted by 0, 4, 0, 4: the
    // low nibbles (values 0..15) then the high ones (16..31) of each block.
    const __m256i two = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bp + kQs))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(bp + kBytes + kQs)), 1);
    const __m512i z = _mm512_castsi256_si512(two);
    const __m512i dup = _mm512_shuffle_i64x2(z, z, 0x50);  // chunks 0, 0, 1, 1
    const __m512i sh = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
    __m512i codes = _mm512_and_si512(_mm512_srlv_epi64(dup, sh), _mm512_set1_epi8(0x0F));
    if constexpr (kType == DType::Q5_0) {
      uint32_t ha, hb;
      std::memcpy(&ha, bp + offsetof(BlockQ5_0, qh), 4);
      std::memcpy(&hb, bp + kBytes + offsetof(BlockQ5_0, qh), 4);
      const __mmask64 m = _cvtu64_mask64(uint64_t(ha) | (uint64_t(hb) << 32));
      codes = _mm512_or_si512(codes, _mm512_maskz_mov_epi8(m, _mm512_set1_epi8(0x10)));
    }
    return codes;
  }
}

template <int R, DType kType>
HWY_INLINE void row_x0_512(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
  constexpr int kBytes = sizeof(BlockOf<kType>);
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  auto pair = [&](int64_t b, auto chain) HWY_ATTR {
    const uint8_t* bp = row + b * kBytes;
    prefetch_block(bp, 2 * kBytes);
    const __m512i codes = codes_pair<kType>(bp);
    uint16_t h[2];
    std::memcpy(&h[0], bp + offsetof(BlockOf<kType>, d), 2);
    std::memcpy(&h[1], bp + kBytes + offsetof(BlockOf<kType>, d), 2);
    uint32_t hh = uint32_t(h[0]) | (uint32_t(h[1]) << 16);
    const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(int(hh)));  // the two blocks' scales
    for (int r = 0; r < R; ++r) {  // the two activation scales: an unaligned 8-byte load
      const __m128 s2 = _mm_mul_ps(dw, _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i_u*>(x.d[r] + b))));
      const __m512i dot = dot_acc512(_mm512_loadu_si512(x.bias[r] + 8 * b), codes, x.q[r] + 32 * b);
      constexpr int c = decltype(chain)::value;
      acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(s2)),
                                  acc[r][c]);
    }
  };
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    pair(b, std::integral_constant<int, 0>());
    pair(b + 2, std::integral_constant<int, 1>());
  }
  if (b + 2 <= nb) {
    pair(b, std::integral_constant<int, 0>());
    b += 2;
  }
  VF tail[R];
  for (int r = 0; r < R; ++r) tail[r] = hn::Zero(DF());
  if (b < nb) {  // odd block count: the last block on 256 bits
    const uint8_t* bp = row + b * kBytes;
    V8 codes;
    if constexpr (kType == DType::Q8_0) {
      codes = hn::Xor(hn::LoadU(D8(), bp + offsetof(BlockQ8_0, qs)), hn::Set(D8(), 0x80));
    } else {
      codes = nibbles_32(bp + offsetof(BlockOf<kType>, qs));
      if constexpr (kType == DType::Q5_0)
        codes = hn::Or(codes, hn::IfThenElseZero(hn::LoadMaskBits(D8(), bp + offsetof(BlockQ5_0, qh)), hn::Set(D8(), 0x10)));
    }
    const float ws = f16_at(bp + offsetof(BlockOf<kType>, d));
    for (int r = 0; r < R; ++r) {
      const VI dot = dot_acc(hn::LoadU(DI(), x.bias[r] + 8 * b), codes, xload(x.q[r] + 32 * b));
      tail[r] = hn::Mul(hn::ConvertTo(DF(), dot), hn::Set(DF(), ws * x.d[r][b]));
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 a = _mm512_add_ps(acc[r][0], acc[r][1]);
    out[r] = hn::Add(tail[r], VF{_mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1))});
  }
}

// Q4_K / Q5_K with 512-bit vectors: one vpdpbusd covers the two 32-value groups that share a byte of
// packed nibbles (lanes 0-7: low nibbles, group 2c; lanes 8-15: high nibbles, group 2c + 1; their
// activations are the 64 consecutive bytes of groups 2c, 2c + 1), halving the instruction count.
HWY_INLINE __m512i dot_acc512(__m512i acc, __m512i w, const int8_t* x) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(w), "m"(*reinterpret_cast<const char(*)[64]>(x)));
  return acc;
}

template <int R, bool kFive>
HWY_INLINE void row_qk45_512(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
  const DF df;
  const D8 d8;
  const D16 d16;
  const hn::Rebind<uint8_t, DF> d8f;
  using Block = BlockK<kFive>;
  constexpr int kBytes = sizeof(Block);
  __m512 acc[R][2];
  VF mins[R];
  for (int r = 0; r < R; ++r) {
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    mins[r] = hn::Zero(df);
  }
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i shift_hi = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  const V8 m4y = hn::Set(d8, 0x0F), b4 = hn::Set(d8, 0x10);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* bp = row + b * kBytes;
    prefetch_block(bp, kBytes);
    uint8_t sc[8], mn[8];
    k_scales_mins(bp + offsetof(Block, scales), sc, mn);
    const VF vsc =
        hn::Mul(hn::ConvertTo(df, hn::PromoteTo(DI(), hn::LoadU(d8f, sc))), hn::Set(df, f16_at(bp + offsetof(Block, d))));
    const VF vmn = hn::Mul(hn::ConvertTo(df, hn::PromoteTo(DI(), hn::LoadU(d8f, mn))),
                           hn::Set(df, f16_at(bp + offsetof(Block, dmin))));
    __m512 ws[R];
    for (int r = 0; r < R; ++r) {
      ws[r] = _mm512_castps256_ps512(hn::Mul(vsc, hn::LoadU(df, x.d[r] + 8 * b)).raw);
      mins[r] = hn::MulAdd(vmn, hn::LoadU(df, x.ds[r] + 8 * b), mins[r]);
    }
    const uint8_t* qs = bp + offsetof(Block, qs);
    V8 h;
    if constexpr (kFive) h = hn::LoadU(d8, bp + offsetof(BlockQ5_K, qh));
    static_for<4>([&](auto cc) HWY_ATTR {
      constexpr int c = decltype(cc)::value;
      __m512i codes;
      if constexpr (kFive) {
        const V8 q = hn::LoadU(d8, qs + 32 * c);
        const V8 lo = hn::OrAnd(hn::And(q, m4y), bit_to_4<2 * c>(h), b4);
        const V8 hi = hn::OrAnd(hn::And(hn::BitCast(d8, hn::ShiftRight<4>(hn::BitCast(d16, q))), m4y),
                                bit_to_4<2 * c + 1>(h), b4);
        codes = _mm512_inserti64x4(_mm512_castsi256_si512(lo.raw), hi.raw, 1);
      } else {
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c)));
        codes = _mm512_and_si512(_mm512_srlv_epi16(q, shift_hi), m4);
      }
      const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * c)),
                                             _mm256_set1_epi32(2 * c + 1), 1);
      const int64_t g = 8 * b + 2 * c;
      for (int r = 0; r < R; ++r) {
        const __m512i dot = dot_acc512(_mm512_setzero_si512(), codes, x.q[r] + 32 * g);
        acc[r][c & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(idx, ws[r]), acc[r][c & 1]);
      }
    });
  }
  for (int r = 0; r < R; ++r) {
    const __m512 a = _mm512_add_ps(acc[r][0], acc[r][1]);
    const VF s{_mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1))};
    out[r] = hn::Sub(s, mins[r]);
  }
}
#endif

template <int R, DType kType>
HWY_INLINE void row_x0_best(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
#if HWY_TARGET == HWY_AVX3_DL
  row_x0_512<R, kType>(x, row, nb, out);
#else
  if constexpr (kType == DType::Q8_0) row_q8_0<R>(x, row, nb, out);
  else row_qx_0<R, kType == DType::Q5_0>(x, row, nb, out);
#endif
}

template <int R, bool kFive>
HWY_INLINE void row_qk45_best(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
#if HWY_TARGET == HWY_AVX3_DL
  row_qk45_512<R, kFive>(x, row, nb, out);
#else
  row_qk45<R, kFive>(x, row, nb, out);
#endif
}

template <int R>
HWY_INLINE void row_q6_k(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
  const DF df;
  const DI di;
  const D8 d8;
  const D16 d16;
  const hn::Rebind<int8_t, DF> ds8f;  // 8 bytes -> 8 lanes
  constexpr int kC = kChains<R>;
  VF acc[R][kC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = hn::Zero(df);
  const V8 m4 = hn::Set(d8, 0x0F), m30 = hn::Set(d8, 0x30);
  // Group k of a half (32 values = sub-blocks 2k, 2k + 1 of an 8-scale vector): lanes 0-3 take
  // scale 2k, lanes 4-7 scale 2k + 1.
  HWY_ALIGN static constexpr int32_t kIdx[4][8] = {
      {0, 0, 0, 0, 1, 1, 1, 1}, {2, 2, 2, 2, 3, 3, 3, 3}, {4, 4, 4, 4, 5, 5, 5, 5}, {6, 6, 6, 6, 7, 7, 7, 7}};
  const auto idx0 = hn::SetTableIndices(df, kIdx[0]), idx1 = hn::SetTableIndices(df, kIdx[1]),
             idx2 = hn::SetTableIndices(df, kIdx[2]), idx3 = hn::SetTableIndices(df, kIdx[3]);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* bp = row + b * sizeof(BlockQ6_K);
    prefetch_block(bp, sizeof(BlockQ6_K));
    const VF vd = hn::Set(df, f16_at(bp + offsetof(BlockQ6_K, d)));
    const auto* sc = reinterpret_cast<const int8_t*>(bp + offsetof(BlockQ6_K, scales));
    static_for<2>([&](auto nn) HWY_ATTR {
      constexpr int n = decltype(nn)::value;
      const VF vs = hn::Mul(hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(ds8f, sc + 8 * n))), vd);
      const uint8_t* ql = bp + offsetof(BlockQ6_K, ql) + 64 * n;
      const V8 A = hn::LoadU(d8, ql), C = hn::LoadU(d8, ql + 32);
      const V8 H = hn::LoadU(d8, bp + offsetof(BlockQ6_K, qh) + 32 * n);
      const auto A16 = hn::BitCast(d16, A), C16 = hn::BitCast(d16, C), H16 = hn::BitCast(d16, H);
      V8 codes[4];
      codes[0] = hn::OrAnd(hn::And(A, m4), hn::BitCast(d8, hn::ShiftLeft<4>(H16)), m30);
      codes[1] = hn::OrAnd(hn::And(C, m4), hn::BitCast(d8, hn::ShiftLeft<2>(H16)), m30);
      codes[2] = hn::OrAnd(hn::And(hn::BitCast(d8, hn::ShiftRight<4>(A16)), m4), H, m30);
      codes[3] = hn::OrAnd(hn::And(hn::BitCast(d8, hn::ShiftRight<4>(C16)), m4),
                           hn::BitCast(d8, hn::ShiftRight<2>(H16)), m30);
      // Sub-block scales times their activation block scales, then spread to the lanes of each group.
      VF vsx[R];
      for (int r = 0; r < R; ++r) vsx[r] = hn::Mul(vs, hn::LoadU(df, x.d16[r] + 16 * b + 8 * n));
      static_for<4>([&](auto kk) HWY_ATTR {
        constexpr int k = decltype(kk)::value;
        const int64_t g = 8 * b + 4 * n + k;
        for (int r = 0; r < R; ++r) {
          const VI dot = dot_acc(hn::LoadU(di, x.bias[r] + 8 * g), codes[k], xload(x.q[r] + 32 * g));
          constexpr int ch = (4 * n + k) % kC;
          const VF lane_sc = hn::TableLookupLanes(vsx[r], k == 0 ? idx0 : k == 1 ? idx1 : k == 2 ? idx2 : idx3);
          acc[r][ch] = hn::MulAdd(hn::ConvertTo(df, dot), lane_sc, acc[r][ch]);
        }
      });
    });
  }
  finish<R>(acc, nullptr, out);
}

#if HWY_TARGET == HWY_AVX3_DL
// Q6_K with 512-bit vectors: groups k = 0, 1 of a half are the low nibbles of its 64 ql bytes (loaded
// as one vector), groups 2, 3 the high nibbles; their activations are 64 consecutive bytes each.
template <int R>
HWY_INLINE void row_q6_k_512(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
  const DF df;
  const DI di;
  const hn::Rebind<int8_t, DF> ds8f;
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  // Two-bit fields of qh: group 0 bits 0-1 (<< 4), group 1 bits 2-3 (<< 2), group 2 bits 4-5 (as is),
  // group 3 bits 6-7 (>> 2): per 256-bit half, a left shift for pair (0, 1), a right one for (2, 3).
  const __m512i shl01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  // Lane scales: lanes 4j..4j+3 take sub-block j of the pair (4 per pair, 8 per half).
  const __m512i idx01 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i idx23 = _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* bp = row + b * sizeof(BlockQ6_K);
    prefetch_block(bp, sizeof(BlockQ6_K));
    const VF vd = hn::Set(df, f16_at(bp + offsetof(BlockQ6_K, d)));
    const auto* sc = reinterpret_cast<const int8_t*>(bp + offsetof(BlockQ6_K, scales));
    static_for<2>([&](auto nn) HWY_ATTR {
      constexpr int n = decltype(nn)::value;
      const VF vs = hn::Mul(hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(ds8f, sc + 8 * n))), vd);
      const __m512i L = _mm512_loadu_si512(bp + offsetof(BlockQ6_K, ql) + 64 * n);
      const __m512i H = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + offsetof(BlockQ6_K, qh) + 32 * n)));
      // (a & m4) | (b & m30) as one ternary-logic op with m30 pre-applied: imm 0xF8 = a | (b & c).
      const __m512i c01 = _mm512_ternarylogic_epi64(_mm512_and_si512(L, m4), _mm512_sllv_epi16(H, shl01), m30, 0xF8);
      const __m512i c23 = _mm512_ternarylogic_epi64(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                                    _mm512_srlv_epi16(H, shr23), m30, 0xF8);
      for (int r = 0; r < R; ++r) {
        const __m512 vsx = _mm512_castps256_ps512(hn::Mul(vs, hn::LoadU(df, x.d16[r] + 16 * b + 8 * n)).raw);
        const int64_t g = 8 * b + 4 * n;
        const __m512i d01 = dot_acc512(_mm512_loadu_si512(x.bias[r] + 8 * g), c01, x.q[r] + 32 * g);
        const __m512i d23 = dot_acc512(_mm512_loadu_si512(x.bias[r] + 8 * g + 16), c23, x.q[r] + 32 * g + 64);
        acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d01), _mm512_permutexvar_ps(idx01, vsx), acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d23), _mm512_permutexvar_ps(idx23, vsx), acc[r][1]);
      }
    });
  }
  for (int r = 0; r < R; ++r) {
    const __m512 a = _mm512_add_ps(acc[r][0], acc[r][1]);
    out[r] = VF{_mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1))};
  }
}
#endif

template <int R>
HWY_INLINE void row_q6_k_best(const Rows<R>& x, const uint8_t* row, int64_t nb, VF* out) {
#if HWY_TARGET == HWY_AVX3_DL
  row_q6_k_512<R>(x, row, nb, out);
#else
  row_q6_k<R>(x, row, nb, out);
#endif
}

// Output rows [o0, o1) for R activation rows; row_fn(row bytes, VF out[R]) computes one weight row.
// Eight weight rows at a time share one transposed reduction and one vector store per activation row.
#define HWY_INLINE_LAMBDA __attribute__((always_inline))

template <int R, class RowFn>
HWY_INLINE void rows_loop(RowFn row_fn, const QMatrix& w, int64_t o0, int64_t o1, float* y, int64_t ldy) {
  const DF df;
  int64_t o = o0;
  for (; o + 8 <= o1; o += 8) {
    VF tot[R][8];
    for (int j = 0; j < 8; ++j) {
      VF t[R];
      row_fn(w.data + size_t(o + j) * w.row_bytes, t);
      for (int r = 0; r < R; ++r) tot[r][j] = t[r];
    }
    for (int r = 0; r < R; ++r) hn::StoreU(sum_lanes_8(tot[r]), df, y + r * ldy + o);
  }
  for (; o < o1; ++o) {
    VF t[R];
    row_fn(w.data + size_t(o) * w.row_bytes, t);
    for (int r = 0; r < R; ++r) y[r * ldy + o] = hn::GetLane(hn::SumOfLanes(df, t[r]));
  }
}

template <int R>
HWY_NOINLINE void rows_typed(DType t, const Rows<R>& x, const QMatrix& w, int64_t o0, int64_t o1, float* y,
                             int64_t ldy) {
  const int64_t nb32 = w.n_in / 32, nb256 = w.n_in / 256;
  switch (t) {
    case DType::Q8_0:
      rows_loop<R>([&](const uint8_t* row, VF* out) HWY_ATTR HWY_INLINE_LAMBDA { row_x0_best<R, DType::Q8_0>(x, row, nb32, out); }, w, o0, o1, y, ldy);
      break;
    case DType::Q4_0:
      rows_loop<R>([&](const uint8_t* row, VF* out) HWY_ATTR HWY_INLINE_LAMBDA { row_x0_best<R, DType::Q4_0>(x, row, nb32, out); }, w, o0, o1,
                   y, ldy);
      break;
    case DType::Q5_0:
      rows_loop<R>([&](const uint8_t* row, VF* out) HWY_ATTR HWY_INLINE_LAMBDA { row_x0_best<R, DType::Q5_0>(x, row, nb32, out); }, w, o0, o1, y,
                   ldy);
      break;
    case DType::Q4_K:
      rows_loop<R>([&](const uint8_t* row, VF* out) HWY_ATTR HWY_INLINE_LAMBDA { row_qk45_best<R, false>(x, row, nb256, out); }, w, o0, o1,
                   y, ldy);
      break;
    case DType::Q5_K:
      rows_loop<R>([&](const uint8_t* row, VF* out) HWY_ATTR HWY_INLINE_LAMBDA { row_qk45_best<R, true>(x, row, nb256, out); }, w, o0, o1,
                   y, ldy);
      break;
    case DType::Q6_K:
      rows_loop<R>([&](const uint8_t* row, VF* out) HWY_ATTR HWY_INLINE_LAMBDA { row_q6_k_best<R>(x, row, nb256, out); }, w, o0, o1, y, ldy);
      break;
    default: break;
  }
}

void gemv_q8_impl(Arena& scratch, const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0,
                  int64_t o1, float* y, int64_t ldy) {
  const int64_t n_in = w.n_in, nb = n_in / 32;
  const BlockFormat& bf = *block_format(w.type);  // quant_supported: a block format
  const int off = bf.code_offset;
  const bool kquant_min = bf.has_min;
  // Per-call activation extras (O(n_in) per row against O((o1 - o0) · n_in) for the product).
  ArenaScope scope(scratch);
  int32_t* bias = off ? scratch.alloc<int32_t>(size_t(n_rows * n_in / 4)) : nullptr;
  float* dsum = kquant_min ? scratch.alloc<float>(size_t(n_rows * nb)) : nullptr;
  float* d16 = w.type == DType::Q6_K ? scratch.alloc<float>(size_t(n_rows * nb * 2)) : nullptr;
  const DI di;
  const D8 d8;
  for (int64_t t = 0; t < n_rows; ++t) {
    const ActQ8Row xr = x.row(t0 + t);
    if (off) {
      const V8 voff = hn::Set(d8, uint8_t(off));
      int32_t* bt = bias + t * (n_in / 4);
      for (int64_t g = 0; g < nb; ++g)
        hn::StoreU(hn::Neg(dot_acc(hn::Zero(di), voff, xload(xr.q + 32 * g))), di, bt + 8 * g);
    }
    if (kquant_min)
      for (int64_t b = 0; b < nb; ++b) dsum[size_t(t * nb + b)] = xr.d[b] * float(xr.s[b]);
    if (w.type == DType::Q6_K)
      for (int64_t b = 0; b < nb; ++b) d16[size_t(t * nb * 2 + 2 * b)] = d16[size_t(t * nb * 2 + 2 * b + 1)] = xr.d[b];
  }
  for (int64_t t = 0; t < n_rows; t += 4) {
    const int R = int(std::min<int64_t>(4, n_rows - t));
    auto run = [&](auto rtag) HWY_ATTR {
      constexpr int kR = decltype(rtag)::value;
      Rows<kR> rs;
      for (int r = 0; r < kR; ++r) {
        const ActQ8Row xr = x.row(t0 + t + r);
        rs.q[r] = xr.q;
        rs.d[r] = xr.d;
        rs.bias[r] = off ? bias + (t + r) * (n_in / 4) : nullptr;
        rs.ds[r] = kquant_min ? dsum + (t + r) * nb : nullptr;
        rs.d16[r] = w.type == DType::Q6_K ? d16 + (t + r) * nb * 2 : nullptr;
      }
      rows_typed<kR>(w.type, rs, w, o0, o1, y + t * ldy, ldy);
    };
    switch (R) {
      case 1: run(std::integral_constant<int, 1>()); break;
      case 2: run(std::integral_constant<int, 2>()); break;
      case 3: run(std::integral_constant<int, 3>()); break;
      default: run(std::integral_constant<int, 4>()); break;
    }
  }
}

#else  // 128-bit or scalar targets: the reference arithmetic

void gemv_q8_impl(Arena&, const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1,
                  float* y, int64_t ldy) {
  quant_gemv_q8_ref(x, t0, n_rows, w, o0, o1, y, ldy);
}

#endif

}  // namespace HWY_NAMESPACE
}  // namespace mm::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mm::simd {

HWY_EXPORT(gemv_q8_impl);
HWY_EXPORT(quantize_rows_impl);

void quant_gemv_q8(Arena& scratch, const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0,
                   int64_t o1, float* y, int64_t ldy) {
  if (n_rows <= 0 || o1 <= o0) return;
  MM_CHECK(quant_supported(w.type) && w.n_in % dtype_info(w.type).block_elems == 0, "quant_gemv_q8: bad weight");
  MM_CHECK(x.n_in == w.n_in && t0 >= 0 && t0 + n_rows <= x.n_rows, "quant_gemv_q8: activation shape");
  HWY_DYNAMIC_DISPATCH(gemv_q8_impl)(scratch, x, t0, n_rows, w, o0, o1, y, ldy);
}

void quantize_act_q8_rows(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, int8_t* q, float* d,
                          int32_t* s) {
  MM_CHECK(n_in % kActBlock == 0);
  HWY_DYNAMIC_DISPATCH(quantize_rows_impl)(x, ldx, n_rows, n_in, q, d, s);
}

}  // namespace mm::simd
#endif  // HWY_ONCE
