// Pieces the GGUF block formats share: their f16 fields, the K-quants' packed 6-bit scales, and the
// scale fitting of the reference quantisers (block_fit.cpp). Every format header (q8_0.h, ...) builds on
// these; the SIMD kernel units in ops/simd/ use the same unpacking.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"

// Decoders the SIMD kernel units inline into their per-target code (so the byte loops vectorise for
// that instruction set) are forced inline: a default-target copy would not be.
#define MM_FMT_INLINE [[gnu::always_inline]] inline

namespace mm::fmt {

// An f16 field (2 bytes, little-endian, any alignment) as f32 (exact).
inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
inline void store_f16(uint8_t* p, float f) {
  const uint16_t h = f32_to_f16(f);
  std::memcpy(p, &h, 2);
}

// The 12 K-quant scale bytes pack eight 6-bit scales and eight 6-bit mins: bytes 0..3 hold sc0..3 in
// their low 6 bits, bytes 4..7 hold m0..3; sc4..7 / m4..7 keep their low nibbles in bytes 8..11 (sc
// low, m high) and their top two bits in the top two bits of bytes 0..3 / 4..7.
constexpr int kKScaleBytes = 12;

// Sub-block j's scale and min.
inline void k_scale_min(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// All eight scales and mins at once, four per 32-bit word (the kernels' form of k_scale_min).
MM_FMT_INLINE void k_scales_mins(const uint8_t* s, uint8_t sc[8], uint8_t m[8]) {
  uint32_t a, b, c;
  std::memcpy(&a, s, 4);
  std::memcpy(&b, s + 4, 4);
  std::memcpy(&c, s + 8, 4);
  const uint32_t sc_lo = a & 0x3F3F3F3Fu, m_lo = b & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
  const uint32_t m_hi = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
  std::memcpy(sc, &sc_lo, 4);
  std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(m, &m_lo, 4);
  std::memcpy(m + 4, &m_hi, 4);
}

// The inverse of k_scale_min for eight scales and mins in 0..63.
inline void pack_k_scales(const int sc[8], const int mn[8], uint8_t s[kKScaleBytes]) {
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
  }
}

// ---- scale fitting of the reference quantisers (block_fit.cpp) -----------------------------------

// Round to nearest, ties to even (the current rounding mode).
inline int nearest(float f) { return int(std::nearbyint(f)); }
// Per-value weights for the fits: rms(x) + |x_i|.
void importance(const float* x, int n, float* w);
// Fits x ~= scale*q - min with q in [0, nmax], min >= 0, minimising the weighted squared error over a
// small grid of candidate scales, each refined by a weighted least-squares solve for (scale, min).
void fit_scale_min(const float* x, const float* w, int n, int nmax, float* scale, float* the_min);
// Fits x ~= scale*q, q in [-nmax, nmax-1], over a grid around the natural scale (symmetric formats).
float fit_scale_sym(const float* x, const float* w, int n, int nmax);

}  // namespace mm::fmt
