// What Q4_K and Q5_K share (q4_k.h, q5_k.h): 256 values in 8 sub-blocks of 32, each with a 6-bit
// scale sc and 6-bit min m (block_common.h's packing), x = d·sc·q − dmin·m with q in 0..15 (Q5_K:
// 0..31). qs byte 32c + l holds value 64c + l (low nibble) and 64c + 32 + l (high nibble); Q5_K's
// fifth bits: bit 2c of qh[l] for value 64c + l, bit 2c + 1 for value 64c + 32 + l.
#pragma once
#include <algorithm>

#include "core/formats/block_common.h"

namespace mm::fmt {

// Block: the format's struct (d, dmin, scales, [qh,] qs); kFive: it has the fifth bits.
template <class Block, bool kFive>
struct KAsym {
  static constexpr int kElems = 256;
  static constexpr int kSub = 32, kCodeOffset = 0;  // w = (d·sc) · u − dmin·m
  static constexpr bool kHasMin = true;

  // Value 64c + l (hi = false) or 64c + 32 + l (hi = true) as its 4/5-bit code.
  static int code(const Block& b, int c, int l, bool hi) {
    const uint8_t q = b.qs[32 * c + l];
    int v = hi ? q >> 4 : q & 0xF;
    if constexpr (kFive) v |= ((b.qh[l] >> (2 * c + (hi ? 1 : 0))) & 1) << 4;
    return v;
  }

  static void dequantize(const uint8_t* p, float* y) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    const float d = load_f16(b.d), dmin = load_f16(b.dmin);
    for (int c = 0; c < 4; ++c) {
      int sc0, m0, sc1, m1;
      k_scale_min(2 * c, b.scales, &sc0, &m0);
      k_scale_min(2 * c + 1, b.scales, &sc1, &m1);
      const float d0 = d * float(sc0), mm0 = dmin * float(m0);
      const float d1 = d * float(sc1), mm1 = dmin * float(m1);
      for (int l = 0; l < 32; ++l) y[64 * c + l] = d0 * float(code(b, c, l, false)) - mm0;
      for (int l = 0; l < 32; ++l) y[64 * c + 32 + l] = d1 * float(code(b, c, l, true)) - mm1;
    }
  }

  static void quantize(const float* x, uint8_t* p) {
    Block& b = *reinterpret_cast<Block*>(p);
    constexpr int nmax = kFive ? 31 : 15;
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      importance(x + 32 * j, 32, w);
      fit_scale_min(x + 32 * j, w, 32, nmax, &scales[j], &mins[j]);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float d = max_scale / 63.0f, dmin = max_min / 63.0f;
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = d > 0 ? std::clamp(nearest(scales[j] / d), 0, 63) : 0;
      mn[j] = dmin > 0 ? std::clamp(nearest(mins[j] / dmin), 0, 63) : 0;
    }
    store_f16(b.d, d);
    store_f16(b.dmin, dmin);
    pack_k_scales(sc, mn, b.scales);
    // Re-quantise against the scales as they will be decoded (f16 d/dmin, 6-bit factors).
    const float df = load_f16(b.d), dminf = load_f16(b.dmin);
    uint8_t q[256];
    for (int j = 0; j < 8; ++j) {
      const float ds = df * float(sc[j]), dm = dminf * float(mn[j]);
      for (int i = 0; i < 32; ++i) {
        const int v = ds > 0 ? nearest((x[32 * j + i] + dm) / ds) : 0;
        q[32 * j + i] = uint8_t(std::clamp(v, 0, nmax));
      }
    }
    if constexpr (kFive) std::memset(b.qh, 0, sizeof(b.qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        b.qs[32 * c + l] = uint8_t((lo & 0xF) | ((hi & 0xF) << 4));
        if constexpr (kFive) b.qh[l] |= uint8_t(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }

  // u = the code, a = d·sc, b = −dmin·m per sub-block.
  template <class F16>
  MM_FMT_INLINE static void decode_codes(const uint8_t* p, uint8_t* u, float* a, float* bmin, F16 f16) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    const float d = f16(b.d), dmin = f16(b.dmin);
    uint8_t sc[8], mn[8];
    k_scales_mins(b.scales, sc, mn);
    for (int j = 0; j < 8; ++j) {
      a[j] = d * float(sc[j]);
      bmin[j] = -(dmin * float(mn[j]));
    }
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        uint8_t lo = b.qs[32 * c + l] & 0xF, hi = b.qs[32 * c + l] >> 4;
        if constexpr (kFive) {
          lo = uint8_t(lo | (((b.qh[l] >> (2 * c)) & 1) << 4));
          hi = uint8_t(hi | (((b.qh[l] >> (2 * c + 1)) & 1) << 4));
        }
        u[64 * c + l] = lo;
        u[64 * c + 32 + l] = hi;
      }
    }
  }
};

}  // namespace mm::fmt
