// Highway implementation of ops/simd/quant_dot.h (compiled once per target by foreach_target.h).
//
// The decode half of the int8 arithmetic (quant_dot.h): for 1-4 activation rows and 8 weight rows at a
// time (lane r of a vector = output row o + r), every sub-block's integer dot Σ (u − off)·q is formed
// exactly, then accumulated in sub-block order as acc = fma(float(dot), a · d_x, acc) (K-quants also
// acc = fma(b, d_x · s_x, acc)): the int8 GEMM's arithmetic (quant_gemm.h), so a row gets the same bits
// decoded alone as inside a prefill batch.
//
// Every 32 weights become one 32-byte vector of codes in value order (Q8_0: q itself, signed,
// Q4_0 / Q5_0: the stored 4 / 5-bit level, Q4_K / Q5_K: the level, Q6_K: the 6-bit level), and
// dot(codes, x) runs as u8 × s8 → i32 with lane i summing bytes 4i..4i+3 (vpdpbusd on AVX-512 VNNI,
// vpmaddubsw + vpmaddwd elsewhere; Q8_0 as |q| times x with q's sign); the 8 lanes of 8 weight rows are then summed across by an integer
// transpose-add (exact, so its order does not matter), and the code offset comes back exactly as
// −off · Σ q per sub-block. x86 targets from AVX2 up run these kernels (256-bit vectors on all of them);
// other targets run the scalar reference, which does the same arithmetic with std::fma.
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
#include "ops/simd/quant_gemm.h"
#include "ops/simd/transpose_x86.h"

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

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

using D8 = hn::FixedTag<uint8_t, 32>;
using V8 = hn::Vec<D8>;
using DS8 = hn::RebindToSigned<D8>;
using D16 = hn::Repartition<uint16_t, D8>;
using DS16 = hn::Repartition<int16_t, D8>;
using DI = hn::Repartition<int32_t, D8>;  // 8 lanes
using VI = hn::Vec<DI>;
using DF = hn::Repartition<float, D8>;  // 8 lanes
using VF = hn::Vec<DF>;

// acc + (lane i: Σ_{j<4} w[4i + j] · x[4i + j]), w unsigned codes of at most 127 (every format's but
// Q8_0's, which goes through dot_signed), x signed bytes in [−127, 127]; exact in i32.
HWY_INLINE VI dot_acc(VI acc, V8 w, hn::Vec<DS8> x) {
#if HWY_TARGET == HWY_AVX3_DL
  // EVEX-encoded vpdpbusd (AVX512_VNNI + VL). Spelled in asm: with the target's avxvnni flag the
  // compiler would pick the VEX form, which AVX-512-only CPUs (Zen 4, Ice Lake) do not have.
  __m256i a = acc.raw;
  asm("%{evex%} vpdpbusd %2, %1, %0" : "+v"(a) : "v"(w.raw), "vm"(x.raw));
  return VI{a};
#else
  // vpmaddubsw (u8 × s8 pairs to i16: 2 · 127 · 127 < 2^15, no saturation), then vpmaddwd pairs to i32.
  const __m256i p = _mm256_maddubs_epi16(w.raw, x.raw);
  return VI{_mm256_add_epi32(acc.raw, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))};
#endif
}

// acc + (lane i: Σ_{j<4} q[4i + j] · x[4i + j]) for signed codes q (Q8_0): |q| times x with q's sign.
HWY_INLINE VI dot_signed(VI acc, hn::Vec<DS8> q, hn::Vec<DS8> x) {
  const V8 aq{_mm256_abs_epi8(q.raw)};
  return dot_acc(acc, aq, hn::Vec<DS8>{_mm256_sign_epi8(x.raw, q.raw)});
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

// The 8 weight rows of one output group (rows past the matrix repeat its first row; their lanes are
// not stored) and the group's scratch (per-row results of the first pass, see rows_x0). The rows are
// read in memory order (row after row: one stream), prefetched kPrefetchAhead bytes ahead.
constexpr int64_t kPrefetchAhead = 8192;
struct Rows8 {
  const uint8_t* p[8];
  __m256i* work;  // [n_chunks][R (Q6_K: 2 R)][8 rows] dot vectors, then [n_chunks][2][8 rows] scales
};

HWY_INLINE void prefetch_block(const uint8_t* bp, int bytes) {
  for (int off = 0; off < bytes; off += 64) __builtin_prefetch(bp + kPrefetchAhead + off);
}

HWY_INLINE hn::Vec<DS8> xload(const int8_t* p) { return hn::LoadU(DS8(), p); }

// Q4_0 / Q5_0: 16 bytes of nibbles -> [low nibbles (values 0..15), high nibbles (16..31)].
HWY_INLINE V8 nibbles_32(const uint8_t* qs) {
  const D8 d8;
  const hn::Half<D8> dh;
  const hn::Repartition<uint16_t, decltype(dh)> dh16;
  const auto lo = hn::LoadU(dh, qs);
  const auto hi = hn::BitCast(dh, hn::ShiftRight<4>(hn::BitCast(dh16, lo)));
  return hn::And(hn::Combine(d8, hi, lo), hn::Set(d8, 0x0F));
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

// The activations of R rows (views into a QGemmAct prepared for the weight's format).
template <int R>
struct Acts {
  const int8_t* q[R];     // [n_in] codes
  const float* d[R];      // [n_in / 32] block scales d_x
  const int32_t* corr[R]; // [n_sub] −off · Σ q per sub-block (offset formats)
  const float* ds[R];     // [n_in / 32] d_x · s_x (K-quant mins)
};

// Lane sums of 8 vectors of 8 partial dots: lo lane j = Σ lanes 0-3 of d[j], hi lane j = Σ lanes 4-7
// (Q6_K's two sub-blocks of a 32-value group; lo + hi is the group's dot). Exact integer sums.
HWY_INLINE void sum_halves_8(const __m256i (&d)[8], __m256i& lo, __m256i& hi) {
  const __m256i h01 = _mm256_hadd_epi32(d[0], d[1]), h23 = _mm256_hadd_epi32(d[2], d[3]);
  const __m256i h45 = _mm256_hadd_epi32(d[4], d[5]), h67 = _mm256_hadd_epi32(d[6], d[7]);
  // h01 = [d0 (0+1, 2+3), d1 (0+1, 2+3) | the same for lanes 4-7]
  const __m256i q0 = _mm256_hadd_epi32(h01, h23), q1 = _mm256_hadd_epi32(h45, h67);
  lo = _mm256_permute2x128_si256(q0, q1, 0x20);
  hi = _mm256_permute2x128_si256(q0, q1, 0x31);
}

// One weight row's chunk of groups g0 .. g0 + n_g − 1 (n_g <= 8; 32 values each; codes_of(j), j an
// integral_constant, gives group g0 + j's codes) against R activation rows: lo[t] / hi[t] lane j as in
// sum_halves_8, 0 for j >= n_g. The row's bytes are read in order. kSigned: the codes are signed (Q8_0).
template <int R, bool kSigned, class Codes>
HWY_INLINE void chunk_dots(const Codes& codes_of, int n_g, const Acts<R>& x, int64_t g0, __m256i (&lo)[R],
                           __m256i (&hi)[R]) {
  const DI di;
  const DS8 ds8;
  __m256i d[R][8];
  static_for<8>([&](auto jj) HWY_ATTR {
    constexpr int j = decltype(jj)::value;
    if (j < n_g) {
      const V8 c = codes_of(jj);
      for (int t = 0; t < R; ++t) {
        const auto xv = xload(x.q[t] + 32 * (g0 + j));
        d[t][j] = (kSigned ? dot_signed(hn::Zero(di), hn::BitCast(ds8, c), xv) : dot_acc(hn::Zero(di), c, xv)).raw;
      }
    } else {
      for (int t = 0; t < R; ++t) d[t][j] = _mm256_setzero_si256();
    }
  });
  for (int t = 0; t < R; ++t) sum_halves_8(d[t], lo[t], hi[t]);
}

// acc = fma(float(dot + corr), a · d_x, acc): one sub-block of every output lane.
HWY_INLINE VF sub_fma(VF acc, __m256i dot, int32_t corr, VF a, float dx) {
  const DF df;
  const VI s = hn::Add(VI{dot}, hn::Set(DI(), corr));
  return hn::MulAdd(hn::ConvertTo(df, s), hn::Mul(a, hn::Set(df, dx)), acc);
}

HWY_INLINE __m256i as_int(VF v) { return _mm256_castps_si256(v.raw); }
HWY_INLINE VF as_float(__m256i v) { return VF{_mm256_castsi256_ps(v)}; }

// Q8_0 / Q4_0 / Q5_0: one 32-value block = one sub-block, scale d (f16), offset 128 / 8 / 16. Pass 1
// takes each row's dots, 8 blocks per vector; pass 2 turns them (a transpose) into 8 rows per vector
// and accumulates block after block.
template <int R, DType kType>
HWY_INLINE void rows_x0(const Rows8& w, int64_t nb, const Acts<R>& x, VF (&acc)[R]) {
  const D8 d8;
  using Block = std::conditional_t<kType == DType::Q8_0, BlockQ8_0,
                                   std::conditional_t<kType == DType::Q4_0, BlockQ4_0, BlockQ5_0>>;
  constexpr int kBytes = sizeof(Block);
  constexpr bool kSigned = kType == DType::Q8_0;  // Σ q·x directly: no code offset to take back
  const int64_t n_ch = (nb + 7) / 8;
  __m256i* V = w.work;  // [chunk][t][row]: lane j = block 8 chunk + j's dot
  for (int r = 0; r < 8; ++r) {  // pass 1: the rows' bytes in order
    for (int64_t ch = 0; ch < n_ch; ++ch) {
      const int64_t b0 = 8 * ch;
      const int n_g = int(std::min<int64_t>(8, nb - b0));
      const uint8_t* rp = w.p[r] + b0 * kBytes;
      prefetch_block(rp, n_g * kBytes);
      auto codes_of = [&](auto jj) HWY_ATTR {
        const uint8_t* bp = rp + decltype(jj)::value * kBytes;
        if constexpr (kType == DType::Q8_0) {
          return hn::LoadU(d8, bp + offsetof(BlockQ8_0, qs));  // the signed q
        } else {
          V8 c = nibbles_32(bp + offsetof(Block, qs));
          if constexpr (kType == DType::Q5_0) {
            const auto m = hn::LoadMaskBits(d8, bp + offsetof(BlockQ5_0, qh));  // bit j: value j's fifth bit
            c = hn::Or(c, hn::IfThenElseZero(m, hn::Set(d8, 0x10)));
          }
          return c;
        }
      };
      __m256i lo[R], hi[R];
      chunk_dots<R, kSigned>(codes_of, n_g, x, b0, lo, hi);
      for (int t = 0; t < R; ++t) V[(ch * R + t) * 8 + r] = _mm256_add_epi32(lo[t], hi[t]);
    }
  }
  for (int64_t ch = 0; ch < n_ch; ++ch) {  // pass 2: block after block, the 8 rows in the lanes
    const int64_t b0 = 8 * ch;
    const int n_g = int(std::min<int64_t>(8, nb - b0));
    __m256i C[R][8];  // [t][j]: lane r = row r's dot of block b0 + j
    for (int t = 0; t < R; ++t) transpose_8x8_epi32(V + (ch * R + t) * 8, C[t]);
    for (int j = 0; j < n_g; ++j) {
      __m128i h = _mm_setzero_si128();  // the 8 rows' f16 scales, widened at once (F16C)
      static_for<8>([&](auto rr) HWY_ATTR {
        constexpr int r = decltype(rr)::value;
        uint16_t bits;
        std::memcpy(&bits, w.p[r] + (b0 + j) * kBytes + offsetof(Block, d), 2);
        h = _mm_insert_epi16(h, bits, r);
      });
      const VF va{_mm256_cvtph_ps(h)};
      for (int t = 0; t < R; ++t)
        acc[t] = sub_fma(acc[t], C[t][j], kSigned ? 0 : x.corr[t][b0 + j], va, x.d[t][b0 + j]);
    }
  }
}

// Q4_K / Q5_K: 256 values in 8 sub-blocks of 32, a = d·sc, b = −dmin·m per sub-block (a super-block
// is one chunk of rows_x0's two passes).
template <int R, bool kFive>
HWY_INLINE void rows_qk45(const Rows8& w, int64_t nb, const Acts<R>& x, VF (&acc)[R]) {
  const D8 d8;
  const D16 d16;
  const DF df;
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  constexpr int kBytes = sizeof(Block);
  const V8 m4 = hn::Set(d8, 0x0F), b4 = hn::Set(d8, 0x10);
  __m256i* V = w.work;                     // [super-block][t][row]: lane j = sub-block j's dot
  __m256i* SM = w.work + nb * R * 8;       // [super-block][a, b][row]: lane j = sub-block j's a / b
  for (int r = 0; r < 8; ++r) {  // pass 1: the rows' bytes in order
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* bp = w.p[r] + b * kBytes;
      prefetch_block(bp, kBytes);
      HWY_ALIGN uint8_t sc[16], mn[16];
      k_scales_mins(bp + offsetof(Block, scales), sc, mn);
      const VF d = hn::Set(df, f16_at(bp + offsetof(Block, d))), dmin = hn::Set(df, f16_at(bp + offsetof(Block, dmin)));
      const VF scf{_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))))};
      const VF mnf{_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn))))};
      SM[(b * 2 + 0) * 8 + r] = as_int(hn::Mul(d, scf));
      SM[(b * 2 + 1) * 8 + r] = as_int(hn::Neg(hn::Mul(dmin, mnf)));
      // Sub-block 2c: the low nibbles of qs[32c..], 2c + 1 the high ones (Q5_K: fifth bits 2c, 2c + 1 of qh).
      auto codes_of = [&](auto jj) HWY_ATTR {
        constexpr int j = decltype(jj)::value, c = j / 2;
        const V8 q = hn::LoadU(d8, bp + offsetof(Block, qs) + 32 * c);
        V8 v = j % 2 ? hn::And(hn::BitCast(d8, hn::ShiftRight<4>(hn::BitCast(d16, q))), m4) : hn::And(q, m4);
        if constexpr (kFive) v = hn::OrAnd(v, bit_to_4<j>(hn::LoadU(d8, bp + offsetof(BlockQ5_K, qh))), b4);
        return v;
      };
      __m256i lo[R], hi[R];
      chunk_dots<R, false>(codes_of, 8, x, 8 * b, lo, hi);
      for (int t = 0; t < R; ++t) V[(b * R + t) * 8 + r] = _mm256_add_epi32(lo[t], hi[t]);
    }
  }
  for (int64_t b = 0; b < nb; ++b) {  // pass 2: sub-block after sub-block, the 8 rows in the lanes
    __m256i C[R][8], A[8], B[8];       // [j]: lane r = row r's sub-block j
    for (int t = 0; t < R; ++t) transpose_8x8_epi32(V + (b * R + t) * 8, C[t]);
    transpose_8x8_epi32(SM + (b * 2 + 0) * 8, A);
    transpose_8x8_epi32(SM + (b * 2 + 1) * 8, B);
    for (int j = 0; j < 8; ++j) {
      const int64_t g = 8 * b + j;
      for (int t = 0; t < R; ++t) {
        acc[t] = sub_fma(acc[t], C[t][j], 0, as_float(A[j]), x.d[t][g]);
        acc[t] = hn::MulAdd(as_float(B[j]), hn::Set(df, x.ds[t][g]), acc[t]);
      }
    }
  }
}

// Q6_K: 256 values in 16 sub-blocks of 16, a = d·sc (sc int8), offset 32. Group j of the super-block
// (values 32j..32j+31: half n = j / 4, k = j % 4) is ql[64n + 32(k % 2)..] low (k < 2) or high
// nibbles with qh[32n..] bits 2k, 2k+1 on top; its sub-blocks are 2j and 2j + 1.
template <int R>
HWY_INLINE void rows_q6_k(const Rows8& w, int64_t nb, const Acts<R>& x, VF (&acc)[R]) {
  const D8 d8;
  const D16 d16;
  const DF df;
  const V8 m4 = hn::Set(d8, 0x0F), m30 = hn::Set(d8, 0x30);
  const __m128i even = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  __m256i* LH = w.work;                // [super-block][t][lo, hi][row]: lane j = sub-block 2j / 2j + 1's dot
  __m256i* S = w.work + nb * R * 16;   // [super-block][even, odd][row]: lane j = sub-block 2j / 2j + 1's a
  for (int r = 0; r < 8; ++r) {  // pass 1: the rows' bytes in order
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* bp = w.p[r] + b * sizeof(BlockQ6_K);
      prefetch_block(bp, sizeof(BlockQ6_K));
      const VF d = hn::Set(df, f16_at(bp + offsetof(BlockQ6_K, d)));
      const __m128i sc =
          _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bp + offsetof(BlockQ6_K, scales))), even);
      S[(b * 2 + 0) * 8 + r] = as_int(hn::Mul(d, VF{_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc))}));
      S[(b * 2 + 1) * 8 + r] = as_int(hn::Mul(d, VF{_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8)))}));
      auto codes_of = [&](auto jj) HWY_ATTR {
        constexpr int n = decltype(jj)::value / 4, k = decltype(jj)::value % 4;
        const V8 Lq = hn::LoadU(d8, bp + offsetof(BlockQ6_K, ql) + 64 * n + 32 * (k % 2));
        const V8 Hq = hn::LoadU(d8, bp + offsetof(BlockQ6_K, qh) + 32 * n);
        const auto H16 = hn::BitCast(d16, Hq);
        const V8 low = k < 2 ? hn::And(Lq, m4) : hn::And(hn::BitCast(d8, hn::ShiftRight<4>(hn::BitCast(d16, Lq))), m4);
        V8 top;  // qh bits 2k, 2k + 1 at bits 4, 5
        if constexpr (k == 0) top = hn::BitCast(d8, hn::ShiftLeft<4>(H16));
        else if constexpr (k == 1) top = hn::BitCast(d8, hn::ShiftLeft<2>(H16));
        else if constexpr (k == 2) top = Hq;
        else top = hn::BitCast(d8, hn::ShiftRight<2>(H16));
        return hn::OrAnd(low, top, m30);
      };
      __m256i lo[R], hi[R];
      chunk_dots<R, false>(codes_of, 8, x, 8 * b, lo, hi);
      for (int t = 0; t < R; ++t) {
        LH[((b * R + t) * 2 + 0) * 8 + r] = lo[t];
        LH[((b * R + t) * 2 + 1) * 8 + r] = hi[t];
      }
    }
  }
  for (int64_t b = 0; b < nb; ++b) {  // pass 2: sub-block after sub-block, the 8 rows in the lanes
    __m256i CL[R][8], CH[R][8], AE[8], AO[8];
    for (int t = 0; t < R; ++t) {
      transpose_8x8_epi32(LH + ((b * R + t) * 2 + 0) * 8, CL[t]);
      transpose_8x8_epi32(LH + ((b * R + t) * 2 + 1) * 8, CH[t]);
    }
    transpose_8x8_epi32(S + (b * 2 + 0) * 8, AE);
    transpose_8x8_epi32(S + (b * 2 + 1) * 8, AO);
    for (int j = 0; j < 8; ++j) {
      const int64_t g = 8 * b + j;
      for (int t = 0; t < R; ++t) {
        acc[t] = sub_fma(acc[t], CL[t][j], x.corr[t][2 * g], as_float(AE[j]), x.d[t][g]);
        acc[t] = sub_fma(acc[t], CH[t][j], x.corr[t][2 * g + 1], as_float(AO[j]), x.d[t][g]);
      }
    }
  }
}

// Vectors of first-pass scratch per 8-row group (the largest format's need: Q6_K).
inline int64_t work_vectors(int64_t n_in, int R) { return ((n_in + 255) / 256) * (16 * R + 16) + ((n_in / 32 + 7) / 8) * 8 * R; }

template <int R>
HWY_NOINLINE void rows_typed(const Acts<R>& x, const QMatrix& w, int64_t o0, int64_t o1, float* y, int64_t ldy,
                             __m256i* work) {
  const DF df;
  const int64_t nb32 = w.n_in / 32, nb256 = w.n_in / 256;
  for (int64_t o = o0; o < o1; o += 8) {
    const int n_valid = int(std::min<int64_t>(8, o1 - o));
    Rows8 rows;
    for (int r = 0; r < 8; ++r) rows.p[r] = w.data + size_t(r < n_valid ? o + r : o) * w.row_bytes;
    rows.work = work;
    VF acc[R];
    for (int t = 0; t < R; ++t) acc[t] = hn::Zero(df);
    switch (w.type) {
      case DType::Q8_0: rows_x0<R, DType::Q8_0>(rows, nb32, x, acc); break;
      case DType::Q4_0: rows_x0<R, DType::Q4_0>(rows, nb32, x, acc); break;
      case DType::Q5_0: rows_x0<R, DType::Q5_0>(rows, nb32, x, acc); break;
      case DType::Q4_K: rows_qk45<R, false>(rows, nb256, x, acc); break;
      case DType::Q5_K: rows_qk45<R, true>(rows, nb256, x, acc); break;
      case DType::Q6_K: rows_q6_k<R>(rows, nb256, x, acc); break;
      default: break;
    }
    for (int t = 0; t < R; ++t) {
      if (n_valid == 8) {
        hn::StoreU(acc[t], df, y + t * ldy + o);
      } else {
        HWY_ALIGN float tmp[8];
        hn::Store(acc[t], df, tmp);
        std::memcpy(y + t * ldy + o, tmp, size_t(n_valid) * 4);
      }
    }
  }
}

void gemv_q8_impl(Arena& scratch, const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0,
                  int64_t o1, float* y, int64_t ldy) {
  // The per-format activation sums, exactly as the GEMM prepares them (rows t0.. of x).
  ArenaScope scope(scratch);
  const QGemmAct a = quant_gemm_prepare(scratch, w.type, x.rows(t0, n_rows));
  static const int32_t kNoCorr[1] = {0};
  auto* work = reinterpret_cast<__m256i*>(scratch.alloc<float>(size_t(8 * work_vectors(w.n_in, 4))));
  for (int64_t t = 0; t < n_rows; t += 4) {
    const int R = int(std::min<int64_t>(4, n_rows - t));
    auto run = [&](auto rtag) HWY_ATTR {
      constexpr int kR = decltype(rtag)::value;
      Acts<kR> xs;
      for (int r = 0; r < kR; ++r) {
        const QGemmAct v = a.rows(t + r, 1);
        xs.q[r] = v.q;
        xs.d[r] = v.d;
        xs.corr[r] = v.corr ? v.corr : kNoCorr;
        xs.ds[r] = v.ds;
      }
      rows_typed<kR>(xs, w, o0, o1, y + t * ldy, ldy, work);
    };
    switch (R) {
      case 1: run(std::integral_constant<int, 1>()); break;
      case 2: run(std::integral_constant<int, 2>()); break;
      case 3: run(std::integral_constant<int, 3>()); break;
      default: run(std::integral_constant<int, 4>()); break;
    }
  }
}

#else  // other targets: the reference arithmetic

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
