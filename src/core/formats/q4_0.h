// Q4_0 (ggml type 2): 32 values in 18 bytes, x = d · (nibble − 8); byte j's low nibble is value j, its
// high nibble value j + 16.
#pragma once
#include <algorithm>
#include <cmath>

#include "core/formats/block_common.h"

namespace mm::fmt {

struct BlockQ4_0 {
  uint8_t d[2];   // f16 scale
  uint8_t qs[16]; // values j (low nibble) and j + 16 (high nibble)
};
static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 1);

// Q4_0 / Q5_0 quantiser: the value of largest magnitude maps to −2^(bits−1) exactly (ggml's
// convention), so the full signed range is used on the side where it matters. Codes 0..2^bits − 1.
inline float quantize_x_0(const float* x, int bits, uint8_t q[32]) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < 32; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      vmax = x[i];
    }
  }
  const int half = 1 << (bits - 1), top = (1 << bits) - 1;
  const float d = vmax / float(-half);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int i = 0; i < 32; ++i) {
    const int v = int(std::floor(x[i] * id + float(half) + 0.5f));
    q[i] = uint8_t(std::clamp(v, 0, top));
  }
  return d;
}

struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr DType kType = DType::Q4_0;
  static constexpr const char* kName = "Q4_0";
  static constexpr uint32_t kGgmlType = 2;
  static constexpr int kElems = 32;
  static constexpr int kSub = 32, kCodeOffset = 8;  // w = d · (u − 8)
  static constexpr bool kHasMin = false;

  static void dequantize(const uint8_t* p, float* y) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    const float d = load_f16(b.d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * float(int(b.qs[j] & 0xF) - 8);
      y[j + 16] = d * float(int(b.qs[j] >> 4) - 8);
    }
  }
  static void quantize(const float* x, uint8_t* p) {
    Block& b = *reinterpret_cast<Block*>(p);
    uint8_t q[32];
    store_f16(b.d, quantize_x_0(x, 4, q));
    for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
  }
  template <class F16>
  MM_FMT_INLINE static void decode_codes(const uint8_t* p, uint8_t* u, float* a, float* bmin, F16 f16) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    a[0] = f16(b.d);
    bmin[0] = 0;
    for (int j = 0; j < 16; ++j) {
      u[j] = b.qs[j] & 0xF;
      u[j + 16] = b.qs[j] >> 4;
    }
  }
};

}  // namespace mm::fmt
