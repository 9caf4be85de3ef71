// SIMD kernels for GGUF block-format weights (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) against f32
// activations, compiled per instruction set by Highway and dispatched at run time like kernels.h.
// Weights are dequantised exactly (the same f32 values as the scalar dequantize_row of ops/quant.h)
// in registers and all arithmetic stays in f32: results equal "dequantise the row, dot it in f32" up
// to summation order. Single-threaded; callers split the output rows.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace mm::simd {

// Rows of a block-format matrix: row o at data + o * row_bytes, n_in values (a multiple of the block).
struct QMatrix {
  DType type = DType::Q8_0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  int64_t n_in = 0;
};

// True for the block formats these kernels handle.
bool quant_supported(DType t);

// Decode: y[t * ldy + o] = Σ_k x[t * ldx + k] · W[o, k] for t in [0, n_rows), o in [o0, o1), any
// n_rows (best for 1..4). Each weight row is streamed once; its blocks are widened in registers.
void quant_gemv(const float* x, int64_t ldx, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1, float* y,
                int64_t ldy);

// Dequantises rows [o0, o1) into dst (row o at dst + (o - o0) * n_in): the prefill path dequantises a
// panel once and hands it to the f32 GEMM, which reuses it across all tokens.
void quant_dequant_rows(const QMatrix& w, int64_t o0, int64_t o1, float* dst);

}  // namespace mm::simd
