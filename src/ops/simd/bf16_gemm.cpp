// AVX512_BF16 GEMM (ops/simd/bf16_gemm.h). Not a Highway file: Highway 1.0.3 has no target with
// avx512bf16, so the x86 functions below carry their own target attribute and run only after
// bf16_gemm_supported() checked the CPU.
//
// Panel: 32 weight rows, one k pair after another: 128 bytes per pair, dword r = row r's bf16 values
// at k = 2 p, 2 p + 1 (vdpbf16ps multiplies and sums such pairs). Rows past the matrix are zero.
#include "ops/simd/bf16_gemm.h"

#include <algorithm>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MM_BF16_X86 1
#include <immintrin.h>

#include "ops/simd/transpose_x86.h"
#define MM_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))
#else
#define MM_BF16_X86 0
#endif

namespace mm::simd {

namespace {

uint16_t weight_bf16(const GemmB& w, const uint8_t* row, int64_t k) {
  uint16_t h;
  std::memcpy(&h, row + 2 * k, 2);
  return w.kind == BKind::BF16 ? h : f32_to_bf16(f16_to_f32(h));
}

#if MM_BF16_X86
constexpr int kRows = 32, kNT = 8;

// n values at src (F16 or BF16) to bf16 at dst.
MM_BF16_TARGET void row_to_bf16(BKind kind, const uint8_t* src, int64_t n, uint16_t* dst) {
  if (kind == BKind::BF16) {
    std::memcpy(dst, src, size_t(n) * 2);
    return;
  }
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    // (maskz: GCC 12's plain _mm512_cvtph_ps trips -Wmaybe-uninitialized on its undefined source)
    const __m512 lo = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * k)));
    const __m512 hi =
        _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * k + 32)));
    const __m512bh b = _mm512_cvtne2ps_pbh(hi, lo);
    std::memcpy(dst + k, &b, 64);
  }
  for (; k < n; ++k) {
    uint16_t h;
    std::memcpy(&h, src + 2 * k, 2);
    dst[k] = f32_to_bf16(f16_to_f32(h));
  }
}

// Rows [o, o + n), n <= 32, into one panel (layout in the file comment).
MM_BF16_TARGET void pack_panel(const GemmB& w, int64_t o, int64_t n, uint16_t* rows_buf, uint8_t* dst) {
  const int64_t n_in = w.n_in, n_pairs = n_in / 2;
  for (int64_t r = 0; r < kRows; ++r) {
    if (r < n) row_to_bf16(w.kind, w.data + size_t(o + r) * w.row_bytes, n_in, rows_buf + r * n_in);
    else std::memset(rows_buf + r * n_in, 0, size_t(n_in) * 2);
  }
  const auto* u = reinterpret_cast<const uint8_t*>(rows_buf);
  const int64_t row_bytes = n_in * 2;
  int64_t p0 = 0;
  // 8 pairs x 8 rows at a time: an 8 x 8 dword transpose (unpack 32, unpack 64, swap 128-bit halves).
  for (; p0 + 8 <= n_pairs; p0 += 8) {
    for (int rg = 0; rg < kRows / 8; ++rg) {
      __m256i r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + (8 * rg + i) * row_bytes + 4 * p0));
      __m256i col[8];
      transpose_8x8_epi32(r, col);
      for (int g = 0; g < 8; ++g)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (p0 + g) * 4 * kRows + 32 * rg), col[g]);
    }
  }
  for (; p0 < n_pairs; ++p0)
    for (int r = 0; r < kRows; ++r) std::memcpy(dst + p0 * 4 * kRows + 4 * r, u + r * row_bytes + 4 * p0, 4);
}

template <int NT>
MM_BF16_TARGET void panel_kernel(const uint8_t* P, const uint16_t* xb, int64_t n_in, int64_t t0, float* y,
                                 int64_t ldy, int n_valid) {
  __m512 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  const int64_t n_pairs = n_in / 2;
  const uint16_t* x0 = xb + t0 * n_in;
#pragma GCC unroll 4
  for (int64_t p = 0; p < n_pairs; ++p) {
    const __m512bh w0 = (__m512bh)_mm512_load_si512(P + p * 4 * kRows);
    const __m512bh w1 = (__m512bh)_mm512_load_si512(P + p * 4 * kRows + 64);
    for (int t = 0; t < NT; ++t) {
      int32_t pair;
      std::memcpy(&pair, x0 + t * n_in + 2 * p, 4);
      const __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
      acc[t][0] = _mm512_dpbf16_ps(acc[t][0], w0, xv);
      acc[t][1] = _mm512_dpbf16_ps(acc[t][1], w1, xv);
    }
  }
  const __mmask16 m0 = n_valid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n_valid) - 1);
  const __mmask16 m1 = n_valid >= 32 ? __mmask16(0xFFFF) : n_valid <= 16 ? 0 : __mmask16((1u << (n_valid - 16)) - 1);
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * ldy;
    _mm512_mask_storeu_ps(yt, m0, acc[t][0]);
    _mm512_mask_storeu_ps(yt + 16, m1, acc[t][1]);
  }
}

MM_BF16_TARGET void bf16_gemm_x86(Arena& scratch, const uint16_t* xb, int64_t n_rows, const GemmB& w, int64_t o0,
                                  int64_t o1, float* y, int64_t ldy) {
  ArenaScope scope(scratch);
  uint16_t* rows_buf = scratch.alloc<uint16_t>(size_t(kRows * w.n_in));
  uint8_t* P = scratch.alloc<uint8_t>(size_t(w.n_in / 2 * 4 * kRows));  // 64-byte aligned
  for (int64_t o = o0; o < o1; o += kRows) {
    const int n = int(std::min<int64_t>(kRows, o1 - o));
    pack_panel(w, o, n, rows_buf, P);
    int64_t t = 0;
    for (; t + kNT <= n_rows; t += kNT) panel_kernel<kNT>(P, xb, w.n_in, t, y + o, ldy, n);
    for (; t + 4 <= n_rows; t += 4) panel_kernel<4>(P, xb, w.n_in, t, y + o, ldy, n);
    for (; t < n_rows; ++t) panel_kernel<1>(P, xb, w.n_in, t, y + o, ldy, n);
  }
}

MM_BF16_TARGET void act_to_bf16_x86(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, uint16_t* out) {
  for (int64_t t = 0; t < n_rows; ++t) {
    const float* xr = x + t * ldx;
    uint16_t* o = out + t * n_in;
    int64_t k = 0;
    for (; k + 32 <= n_in; k += 32) {
      const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + k + 16), _mm512_loadu_ps(xr + k));
      std::memcpy(o + k, &b, 64);
    }
    for (; k < n_in; ++k) o[k] = f32_to_bf16(xr[k]);
  }
}
#endif  // MM_BF16_X86

}  // namespace

bool bf16_gemm_supported() {
#if MM_BF16_X86
  static const bool ok = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return ok;
#else
  return false;
#endif
}

void act_to_bf16(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, uint16_t* out) {
#if MM_BF16_X86
  if (bf16_gemm_supported()) {
    act_to_bf16_x86(x, ldx, n_rows, n_in, out);
    return;
  }
#endif
  for (int64_t t = 0; t < n_rows; ++t)
    for (int64_t k = 0; k < n_in; ++k) out[t * n_in + k] = f32_to_bf16(x[t * ldx + k]);
}

void bf16_gemm(Arena& scratch, const uint16_t* xb, int64_t n_rows, const GemmB& w, int64_t o0, int64_t o1, float* y, int64_t ldy) {
  if (n_rows <= 0 || o1 <= o0) return;
  MM_CHECK((w.kind == BKind::BF16 || w.kind == BKind::F16) && !w.scale && w.n_in % 2 == 0,
           "bf16_gemm: 16-bit float weights without scales, even n_in");
#if MM_BF16_X86
  MM_CHECK(bf16_gemm_supported(), "bf16_gemm: the CPU has no avx512bf16");
  bf16_gemm_x86(scratch, xb, n_rows, w, o0, o1, y, ldy);
#else
  bf16_gemm_ref(xb, n_rows, w, o0, o1, y, ldy);
#endif
}

void bf16_gemm_ref(const uint16_t* xb, int64_t n_rows, const GemmB& w, int64_t o0, int64_t o1, float* y,
                   int64_t ldy) {
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = w.data + size_t(o) * w.row_bytes;
    for (int64_t t = 0; t < n_rows; ++t) {
      double s = 0;
      for (int64_t k = 0; k < w.n_in; ++k)
        s += double(bf16_to_f32(xb[t * w.n_in + k])) * bf16_to_f32(weight_bf16(w, row, k));
      y[t * ldy + o] = float(s);
    }
  }
}

}  // namespace mm::simd
