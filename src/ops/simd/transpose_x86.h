// Small x86 register transposes shared by the panel packers (bf16_gemm.cpp, quant_gemm_hwy.cpp).
// Usable from any function compiled with AVX2 or more (Highway targets, target attributes).
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace mm::simd {

// out[g] = dword g of in[0..7] (an 8 x 8 transpose of 32-bit lanes): unpack 32, unpack 64, then swap
// the 128-bit halves.
__attribute__((target("avx2"), always_inline)) inline void transpose_8x8_epi32(const __m256i in[8], __m256i out[8]) {
  const __m256i t0 = _mm256_unpacklo_epi32(in[0], in[1]), t1 = _mm256_unpackhi_epi32(in[0], in[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(in[2], in[3]), t3 = _mm256_unpackhi_epi32(in[2], in[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(in[4], in[5]), t5 = _mm256_unpackhi_epi32(in[4], in[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(in[6], in[7]), t7 = _mm256_unpackhi_epi32(in[6], in[7]);
  // v[g]: dwords g (low 128) and g + 4 (high 128) of rows 0..3 (v0..v3) and 4..7 (v4..v7)
  const __m256i v0 = _mm256_unpacklo_epi64(t0, t2), v1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i v2 = _mm256_unpacklo_epi64(t1, t3), v3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i v4 = _mm256_unpacklo_epi64(t4, t6), v5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i v6 = _mm256_unpacklo_epi64(t5, t7), v7 = _mm256_unpackhi_epi64(t5, t7);
  out[0] = _mm256_permute2x128_si256(v0, v4, 0x20);
  out[1] = _mm256_permute2x128_si256(v1, v5, 0x20);
  out[2] = _mm256_permute2x128_si256(v2, v6, 0x20);
  out[3] = _mm256_permute2x128_si256(v3, v7, 0x20);
  out[4] = _mm256_permute2x128_si256(v0, v4, 0x31);
  out[5] = _mm256_permute2x128_si256(v1, v5, 0x31);
  out[6] = _mm256_permute2x128_si256(v2, v6, 0x31);
  out[7] = _mm256_permute2x128_si256(v3, v7, 0x31);
}

}  // namespace mm::simd
#endif
