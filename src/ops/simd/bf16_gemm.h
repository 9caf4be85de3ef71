// BF16 dot-product GEMM for 16-bit float weights (BF16, F16) in the fast mode (QuantMath::Int8): weights
// and activations rounded to bf16 (round to nearest even), products summed in f32 by AVX512_BF16's
// vdpbf16ps, twice the f32 FMA rate. Highway 1.0.3 has no target for it, so the kernel is compiled with
// a function target attribute and used only when the CPU reports avx512bf16.
#pragma once
#include <cstdint>
#include "core/arena.h"
#include "ops/simd/kernels.h"

namespace mm::simd {

// True when the CPU runs vdpbf16ps (and the build targets x86-64).
bool bf16_gemm_supported();

// matmul uses this GEMM for F16 / BF16 weights when the context's MathMode has bf16_prefill (off by
// default: a request's numbers would depend on its batch; the CLI turns it on with MM_BF16_PREFILL=1).

// x rows (x[t * ldx + k], n_in even) rounded to bf16 into out [n_rows, n_in].
void act_to_bf16(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, uint16_t* out);

// y[t * ldy + o] = Σ_k xb[t, k] · bf16(W[o, k]) for t < n_rows, o in [o0, o1); W is BKind::BF16 or
// BKind::F16 without scales, xb from act_to_bf16. Single-threaded; the packed panel comes from `scratch`.
// Requires bf16_gemm_supported().
void bf16_gemm(Arena& scratch, const uint16_t* xb, int64_t n_rows, const GemmB& w, int64_t o0, int64_t o1, float* y, int64_t ldy);

// Scalar reference of bf16_gemm (same rounding, double accumulation).
void bf16_gemm_ref(const uint16_t* xb, int64_t n_rows, const GemmB& w, int64_t o0, int64_t o1, float* y,
                   int64_t ldy);

}  // namespace mm::simd
