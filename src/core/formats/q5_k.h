// Q5_K (ggml type 13): 256 values in 176 bytes, Q4_K plus a fifth bit per value (k_asym.h).
#pragma once
#include "core/formats/k_asym.h"

namespace mm::fmt {

struct BlockQ5_K {
  uint8_t d[2];                  // f16 super-block scale of the sub-block scales
  uint8_t dmin[2];               // f16 super-block scale of the sub-block mins
  uint8_t scales[kKScaleBytes];  // eight 6-bit scales and mins
  uint8_t qh[32];                // fifth bits: bit 2c / 2c + 1 of qh[l] for values 64c + l / 64c + 32 + l
  uint8_t qs[128];               // low 4 bits
};
static_assert(sizeof(BlockQ5_K) == 176 && alignof(BlockQ5_K) == 1);

struct Q5_K : KAsym<BlockQ5_K, true> {
  using Block = BlockQ5_K;
  static constexpr DType kType = DType::Q5_K;
  static constexpr const char* kName = "Q5_K";
  static constexpr uint32_t kGgmlType = 13;
};

}  // namespace mm::fmt
