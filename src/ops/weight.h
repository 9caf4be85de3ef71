// Weight: a Linear layer's matrix [n_out, n_in] kept in its storage type (PyTorch layout, row-major,
// y = x · Wᵀ). Rows are contiguous; block formats hold n_in / block_elems blocks per row. fp8 weights
// carry block scales (DeepSeek-V3 convention: W[n,k] = fp8(Wq[n,k]) · scale[n / bn, k / bk]).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace mm {

struct Weight {
  DType dtype = DType::F32;
  int64_t n_out = 0, n_in = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  // fp8 only: scale [ceil(n_out / scale_bn), ceil(n_in / scale_bk)], f32.
  const float* scale = nullptr;
  int64_t scale_bn = 0, scale_bk = 0;

  const uint8_t* row(int64_t r) const { return data + size_t(r) * row_bytes; }
  size_t n_bytes() const { return row_bytes * size_t(n_out); }
  bool empty() const { return data == nullptr; }
};

// Row r of w as f32 (dequantised, fp8 scales applied). dst has w.n_in entries.
void weight_row_to_f32(const Weight& w, int64_t r, float* dst);

}  // namespace mm
