// GGUF block formats (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) by the row: the scalar references of
// core/formats/block_format.h (bit layouts from the GGUF specification, one header per format there).
// SIMD kernels elsewhere are tested against these.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace mm {

// Dequantises n values (a multiple of the block size) of block format t to f32.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
// Quantises n f32 values into block format t (round-to-nearest as ggml's reference quantisers do).
void quantize_row(DType t, const float* src, void* dst, int64_t n);

// Any weight dtype (plain or block) to f32.
inline void row_to_f32(DType t, const void* src, float* dst, int64_t n) {
  if (dtype_is_block_quant(t)) dequantize_row(t, src, dst, n);
  else convert_to_f32(t, src, dst, n);
}

}  // namespace mm
