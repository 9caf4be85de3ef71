// Int8 GEMM for GGUF block-format weights against int8-quantised activations (ops/act_quant.h), the
// prefill half of QuantMath::Int8: many activation rows (tokens) against a slice of weight rows.
//
// Every format is written as w = a · u + b per sub-block of KS weights (KS = 32, 16 for Q6_K), with u an
// unsigned code that fits in a byte:
//   Q8_0 u = q + 128, w = d·(u − 128)      Q4_0 u = nibble, w = d·(u − 8)    Q5_0 u = 5 bits, w = d·(u − 16)
//   Q4_K / Q5_K u = 4 / 5 bits, w = (d·sc)·u − dmin·m                   Q6_K u = 6 bits, w = (d·sc)·(u − 32)
// so that, with activations x ≈ dx · q (q int8, one dx per 32), a sub-block's contribution is
//   dx · a · (Σ u·q − off · Σ q) + b · dx · Σ q,
// the integer sums being exact (u8 × s8 products, VNNI vpdpbusd where the CPU has it). Weight rows are
// repacked 16 at a time into a VNNI layout (16 rows × 4 consecutive k per 64 bytes) once per call.
#pragma once
#include <cstdint>
#include <vector>

#include "core/arena.h"

#include "ops/act_quant.h"
#include "ops/simd/quant_kernels.h"

namespace mm::simd {

// Activations prepared for one weight format: a view of the int8 codes and block scales of an ActQ8
// and of per-format sums, all held elsewhere (the ActQ8's storage and the arena given to prepare).
struct QGemmAct {
  DType type = DType::Q8_0;
  int64_t n_rows = 0, n_in = 0;
  const int8_t* q = nullptr;        // [n_rows, n_in]
  const float* d = nullptr;         // [n_rows, n_in / 32]
  const int32_t* corr = nullptr;    // [n_rows, n_in / KS]: −off · Σ q over each sub-block (off = 0: unused)
  const float* ds = nullptr;        // [n_rows, n_in / 32]: d · Σ q (K-quant mins only)
  int64_t n_sub = 0;                // n_in / KS
  // Activation rows [r0, r0 + n) as a view of the same storage.
  QGemmAct rows(int64_t r0, int64_t n) const;
};
// The sums come from `arena`; the result is valid while `a` and the arena's current scope are.
QGemmAct quant_gemm_prepare(Arena& arena, DType t, const ActQ8& a);

// y[t * ldy + o] = Σ_k x_t[k] · W[o, k] for every activation row t and o in [o0, o1), single-threaded;
// the packed weight tile comes from `scratch` (released on return).
void quant_gemm(Arena& scratch, const QMatrix& w, const QGemmAct& a, int64_t o0, int64_t o1, float* y,
                int64_t ldy);

// Plain scalar reference: the same integer sums and the same float formula, row by row.
void quant_gemm_ref(const QMatrix& w, const QGemmAct& a, int64_t o0, int64_t o1, float* y, int64_t ldy);

// For the tests: the Highway targets this file was compiled for (it adds AVX3_DL to the usual set).
std::vector<int64_t> quant_gemm_targets();

}  // namespace mm::simd
