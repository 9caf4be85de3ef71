// Block-format test weights shared by the quantised-kernel tests.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/formats/block_format.h"
#include "ops/quant.h"
#include "ops/simd/quant_kernels.h"
#include "ops/weight.h"
#include "test_util.h"

namespace mm::test {

// Every block format of the format table (core/formats/block_format.h), so a new one is tested too.
inline constexpr auto kQuantFormats = [] {
  std::array<DType, std::size(kBlockFormats)> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = kBlockFormats[i].type;
  return a;
}();

inline int64_t block_of(DType dt) { return dtype_info(dt).block_elems; }

// A block-format weight quantised from random values (rows of varying magnitude, some rows shifted
// so the K-quant mins are exercised), stored 3 bytes past a 64-byte boundary.
struct QuantWeight {
  std::vector<uint8_t> bytes;
  Weight w;
  QuantWeight(DType dt, int64_t n_out, int64_t n_in, uint32_t seed) {
    const size_t rb = dtype_row_bytes(dt, n_in);
    bytes.resize(rb * size_t(n_out) + 128);
    uint8_t* base = bytes.data() + (64 - reinterpret_cast<uintptr_t>(bytes.data()) % 64) % 64 + 3;
    auto vals = random_vec(size_t(n_out * n_in), seed);
    for (int64_t o = 0; o < n_out; ++o) {
      float* r = vals.data() + o * n_in;
      const float mag = 0.05f + 0.1f * float(o % 7), shift = (o % 3 == 0) ? 0.3f : 0.0f;
      for (int64_t k = 0; k < n_in; ++k) r[k] = r[k] * mag + shift;
      quantize_row(dt, r, base + size_t(o) * rb, n_in);
    }
    w.dtype = dt;
    w.n_out = n_out;
    w.n_in = n_in;
    w.data = base;
    w.row_bytes = rb;
  }
  simd::QMatrix q() const { return {w.dtype, w.data, w.row_bytes, w.n_in}; }
};

}  // namespace mm::test
