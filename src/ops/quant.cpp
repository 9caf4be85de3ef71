// Row dequantisers and quantisers for the GGUF block formats: loops over the blocks of a row with the
// scalar reference of the format's row in core/formats/block_format.h (layouts in the format headers).
#include "ops/quant.h"

#include <string>

#include "core/error.h"
#include "core/formats/block_format.h"

namespace mm {

namespace {

const BlockFormat& row_format(const char* what, DType t, int64_t n) {
  const BlockFormat* f = block_format(t);
  MM_CHECK(f != nullptr, std::string(what) + ": " + dtype_name(t) + " is not a block format");
  MM_CHECK(n % f->block_elems == 0, std::string(what) + ": " + f->name + " row of " + std::to_string(n) +
                                        " values is not a whole number of blocks");
  return *f;
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const BlockFormat& f = row_format("dequantize_row", t, n);
  auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / f.block_elems; ++i) f.dequantize(b + i * f.block_bytes, dst + i * f.block_elems);
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const BlockFormat& f = row_format("quantize_row", t, n);
  auto* b = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / f.block_elems; ++i) f.quantize(src + i * f.block_elems, b + i * f.block_bytes);
}

}  // namespace mm
