// Q4_K (ggml type 12): 256 values in 144 bytes (layout and arithmetic in k_asym.h).
#pragma once
#include "core/formats/k_asym.h"

namespace mm::fmt {

struct BlockQ4_K {
  uint8_t d[2];                  // f16 super-block scale of the sub-block scales
  uint8_t dmin[2];               // f16 super-block scale of the sub-block mins
  uint8_t scales[kKScaleBytes];  // eight 6-bit scales and mins
  uint8_t qs[128];               // 4-bit codes
};
static_assert(sizeof(BlockQ4_K) == 144 && alignof(BlockQ4_K) == 1);

struct Q4_K : KAsym<BlockQ4_K, false> {
  using Block = BlockQ4_K;
  static constexpr DType kType = DType::Q4_K;
  static constexpr const char* kName = "Q4_K";
  static constexpr uint32_t kGgmlType = 12;
};

}  // namespace mm::fmt
