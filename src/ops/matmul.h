// Matrix products against weights in any storage type: y[n_rows, w.n_out] = x[n_rows, w.n_in] · wᵀ.
//
// One planner (plan_matmul) picks how a weight is multiplied for a number of activation rows under the
// context's math mode; matmul, matmul_shared, matmul_rows and the MoE experts (ops/moe.cpp) all follow it.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "core/exec_context.h"
#include "ops/act_quant.h"
#include "ops/simd/quant_kernels.h"
#include "ops/weight.h"

namespace mm {

// Block-format (GGUF) and F32 weights give a row the same bits whatever the number of rows multiplied
// with it (batch invariance), in both math modes: the row count only chooses between kernels of one
// arithmetic. 16-bit and fp8 weights do not yet: their decode, mid-size and packed prefill kernels sum
// in different orders (one order for all cost 2x in prefill, see BENCHMARKS.md).
enum class MatmulPath {
  Gemm,          // F32 / BF16 / F16 / fp8 (register-widened B rows, f32 FMA GEMM; F32: gemm_nt_invariant)
  Bf16Gemm,      // 16-bit float weights, >= 16 rows, MathMode::bf16_prefill (opt-in; activations rounded
                 // to bf16): AVX512_BF16 dot products
  Int8Gemv,      // block formats, <= 4 rows, QuantMath::Int8: int8 activations, weight rows streamed once
  Int8Gemm,      // block formats, > 4 rows, QuantMath::Int8: int8 activations, integer GEMM (same arithmetic)
  QuantPanel,    // block formats, exact: panels of rows dequantised to f32, then the one-order f32 GEMM
                 // (simd::gemm_nt_invariant) for every row count
  DequantRows,   // anything else (fp8 with unusual scale blocks, a block format without a SIMD kernel unit):
                 // rows dequantised to f32 by the format table's scalar reference, then the f32 GEMM
};
const char* matmul_path_name(MatmulPath p);

// The path for `w` against n_rows activation rows. `whole` = the product is run whole by matmul (which
// may convert x once for all row groups, as the bf16 path does); matmul_rows callers pass false.
MatmulPath plan_matmul(const Weight& w, int64_t n_rows, const MathMode& math, bool whole = true);
// True when the path multiplies int8-quantised activations (ops/act_quant.h).
inline bool path_uses_act_q8(MatmulPath p) { return p == MatmulPath::Int8Gemv || p == MatmulPath::Int8Gemm; }

// y = x · wᵀ, threaded over the context's pool.
void matmul(ExecContext& ctx, const float* x, int64_t n_rows, const Weight& w, float* y);
// Several products of the same activations, y_i = x · w_iᵀ (the q / k / v projections of one input):
// on the int8 GEMM path x is quantised once for all of them and their row groups share one parallel region.
struct MatmulOut {
  const Weight* w;
  float* y;
};
void matmul_shared(ExecContext& ctx, const float* x, int64_t n_rows, std::initializer_list<MatmulOut> outs);
// Output rows [o0, o1) only, on the calling thread (for callers that parallelise themselves), with the
// scratch of pool thread `thread_index`. On the Int8Gemv path, xq (when not null) holds x already quantised:
// rows [xq_row0, xq_row0 + n_rows) of *xq are x's rows (quantise once, call per row group); xq == nullptr
// quantises x here. Other paths ignore xq.
void matmul_rows(ExecContext& ctx, int thread_index, const float* x, int64_t n_rows, const Weight& w, int64_t o0,
                 int64_t o1, float* y, const ActQ8* xq = nullptr, int64_t xq_row0 = 0);
// A block-format weight as the quantised kernels' row view.
simd::QMatrix quant_matrix(const Weight& w);
// Plain scalar reference of the same product (single thread, row dequantisation + dot products).
void matmul_ref(const float* x, int64_t n_rows, const Weight& w, float* y);

}  // namespace mm
