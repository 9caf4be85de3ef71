// Matrix products against weights in any storage type.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "ops/simd/quant_kernels.h"
#include "ops/weight.h"

namespace mm {

struct ActQ8;

// y[n_rows, w.n_out] = x[n_rows, w.n_in] · wᵀ, f32 activations, threaded over the global pool.
void matmul(const float* x, int64_t n_rows, const Weight& w, float* y);
// Several products of the same activations, y_i = x · w_iᵀ (the q / k / v projections of one input):
// in the int8 mode x is quantised once for all of them and their row groups share one parallel region.
struct MatmulOut {
  const Weight* w;
  float* y;
};
void matmul_shared(const float* x, int64_t n_rows, std::initializer_list<MatmulOut> outs);
// Output rows [o0, o1) only, on the calling thread (for callers that parallelise themselves).
void matmul_rows(const float* x, int64_t n_rows, const Weight& w, int64_t o0, int64_t o1, float* y);
// Int8 prefill (QuantMath::Int8, GGUF block formats, n_rows > 4, a CPU with VNNI): true when
// matmul() would quantise the activations and use the integer GEMM (ops/simd/quant_gemm.h) for this
// weight; callers that share one quantisation across weights (MoE experts) call that GEMM directly.
bool matmul_int8_prefill(const Weight& w, int64_t n_rows);
// Same, with x possibly already quantised to int8 (ops/act_quant.h): for GGUF block-format weights
// under QuantMath::Int8 and n_rows <= 4, rows [xq_row0, xq_row0 + n_rows) of *xq are x's rows (quantise
// once, call per row group); xq == nullptr quantises x here. Other weights / modes ignore xq.
void matmul_rows(const float* x, int64_t n_rows, const Weight& w, int64_t o0, int64_t o1, float* y,
                 const ActQ8* xq, int64_t xq_row0);
// A block-format weight as the quantised kernels' row view.
simd::QMatrix quant_matrix(const Weight& w);
// Plain scalar reference of the same product (single thread, row dequantisation + dot products).
void matmul_ref(const float* x, int64_t n_rows, const Weight& w, float* y);

}  // namespace mm
