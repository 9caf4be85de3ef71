// Q5_0 (ggml type 6): 32 values in 22 bytes, as Q4_0 with a fifth bit: bit j of qh is the high bit of
// value j; x = d · (q − 16).
#pragma once
#include "core/formats/q4_0.h"

namespace mm::fmt {

struct BlockQ5_0 {
  uint8_t d[2];    // f16 scale
  uint8_t qh[4];   // u32: bit j = value j's fifth bit
  uint8_t qs[16];  // low 4 bits of values j (low nibble) and j + 16 (high nibble)
};
static_assert(sizeof(BlockQ5_0) == 22 && alignof(BlockQ5_0) == 1);

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr DType kType = DType::Q5_0;
  static constexpr const char* kName = "Q5_0";
  static constexpr uint32_t kGgmlType = 6;
  static constexpr int kElems = 32;
  static constexpr int kSub = 32, kCodeOffset = 16;  // w = d · (u − 16)
  static constexpr bool kHasMin = false;

  MM_FMT_INLINE static uint32_t high_bits(const Block& b) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return qh;
  }
  // Values j and j + 16 (j < 16) as 5-bit codes.
  MM_FMT_INLINE static void codes_at(const Block& b, uint32_t qh, int j, int* lo, int* hi) {
    *lo = int(b.qs[j] & 0xF) | int(((qh >> j) & 1) << 4);
    *hi = int(b.qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
  }
  static void dequantize(const uint8_t* p, float* y) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    const float d = load_f16(b.d);
    const uint32_t qh = high_bits(b);
    for (int j = 0; j < 16; ++j) {
      int lo, hi;
      codes_at(b, qh, j, &lo, &hi);
      y[j] = d * float(lo - 16);
      y[j + 16] = d * float(hi - 16);
    }
  }
  static void quantize(const float* x, uint8_t* p) {
    Block& b = *reinterpret_cast<Block*>(p);
    uint8_t q[32];
    store_f16(b.d, quantize_x_0(x, 5, q));
    uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) qh |= uint32_t((q[j] >> 4) & 1) << j;
    std::memcpy(b.qh, &qh, 4);
    for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
  }
  template <class F16>
  MM_FMT_INLINE static void decode_codes(const uint8_t* p, uint8_t* u, float* a, float* bmin, F16 f16) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    a[0] = f16(b.d);
    bmin[0] = 0;
    const uint32_t qh = high_bits(b);
    for (int j = 0; j < 16; ++j) {
      int lo, hi;
      codes_at(b, qh, j, &lo, &hi);
      u[j] = uint8_t(lo);
      u[j + 16] = uint8_t(hi);
    }
  }
};

}  // namespace mm::fmt
