// Scalar dtype conversions against their definitions.
#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"

namespace mm {
namespace {

// Every f16 bit pattern converts to the value its definition gives (computed here with ldexp).
TEST(Dtype, F16ToF32AllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    const float got = f16_to_f32(uint16_t(h));
    if (e == 31) {
      if (m) EXPECT_TRUE(std::isnan(got)) << h;
      else EXPECT_EQ(got, float(sign * INFINITY)) << h;
      continue;
    }
    const double want = sign * (e ? std::ldexp(1024.0 + m, e - 25) : std::ldexp(double(m), -24));
    ASSERT_EQ(got, float(want)) << h;
    ASSERT_EQ(std::signbit(got), bool(h & 0x8000)) << h;
    if (e < 31) {
      ASSERT_EQ(f32_to_f16(got), uint16_t(h)) << h;  // and back
    }
  }
}

}  // namespace
}  // namespace mm
