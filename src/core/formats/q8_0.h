// Q8_0 (ggml type 8): 32 values in 34 bytes, x = d · q.
#pragma once
#include <algorithm>
#include <cmath>

#include "core/formats/block_common.h"

namespace mm::fmt {

struct BlockQ8_0 {
  uint8_t d[2];   // f16 scale
  int8_t qs[32];  // value i's code
};
static_assert(sizeof(BlockQ8_0) == 34 && alignof(BlockQ8_0) == 1);

struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr DType kType = DType::Q8_0;
  static constexpr const char* kName = "Q8_0";
  static constexpr uint32_t kGgmlType = 8;
  static constexpr int kElems = 32;
  // Code form (decode_codes): w = a · (u − kCodeOffset) + b per sub-block of kSub values, u a byte.
  static constexpr int kSub = 32, kCodeOffset = 128;
  static constexpr bool kHasMin = false;

  static void dequantize(const uint8_t* p, float* y) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    const float d = load_f16(b.d);
    for (int i = 0; i < 32; ++i) y[i] = d * float(b.qs[i]);
  }
  // d = max|x| / 127, q = round(x / d).
  static void quantize(const float* x, uint8_t* p) {
    Block& b = *reinterpret_cast<Block*>(p);
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    store_f16(b.d, d);
    for (int i = 0; i < 32; ++i) b.qs[i] = int8_t(std::round(x[i] * id));
  }
  // u = q + 128, a = d.
  template <class F16>
  MM_FMT_INLINE static void decode_codes(const uint8_t* p, uint8_t* u, float* a, float* bmin, F16 f16) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    a[0] = f16(b.d);
    bmin[0] = 0;
    for (int i = 0; i < 32; ++i) u[i] = uint8_t(uint8_t(b.qs[i]) ^ 0x80);
  }
};

}  // namespace mm::fmt
