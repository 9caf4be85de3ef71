// Decode products of GGUF block-format weights with int8-quantised activations (ops/act_quant.h).
//
// The int8 arithmetic, shared with the int8 GEMM (quant_gemm.h) so that a row's result does not depend
// on how many rows are multiplied with it (batch invariance): with the weights in code form
// w = a_j · (u − off) + b_j per sub-block j (core/formats/: 32 values, Q6_K 16) and activations
// x ≈ d_x · q per block of 32 (sum s_x), each output is
//   acc = 0; for j in order: acc = fma(float(Σ_j (u − off) · q), a_j · d_x, acc)
//                            [K-quant mins: acc = fma(b_j, d_x · s_x, acc)]
// with the integer sums exact and every product and fma rounded as written (the scalar references use
// std::fma). This is llama.cpp's CPU arithmetic in substance (its activation blocks are 32 long too for
// Q8_0/Q4_0/Q5_0; for the K-quants it uses one scale per 256, we keep one per 32, which is at least as
// accurate), in one fixed order.
//
// Compiled per instruction set by Highway; x86 targets from AVX2 up run SIMD kernels (the integer dot
// as vpdpbusd on AVX-512 VNNI, i16 multiply-adds elsewhere), other targets the scalar reference.
#pragma once
#include <cstdint>

#include "ops/act_quant.h"
#include "ops/simd/quant_kernels.h"

namespace mm::simd {

// y[t * ldy + o] = Σ_k x̂[t0 + t, k] · W[o, k] for t in [0, n_rows), o in [o0, o1), where x̂ is the
// int8 activation row (codes times block scale) and W the block-format weights; any n_rows (best
// for 1..4: each weight row is streamed once per 4 activation rows). Rows t0.. of x are used;
// per-call temporaries come from `scratch` (released on return).
void quant_gemv_q8(Arena& scratch, const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0,
                   int64_t o1, float* y, int64_t ldy);
inline void quant_gemv_q8(Arena& scratch, const ActQ8& x, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1,
                          float* y, int64_t ldy) {
  quant_gemv_q8(scratch, x, 0, n_rows, w, o0, o1, y, ldy);
}

// Plain C++ reference of the same arithmetic (the file comment), bit for bit.
void quant_gemv_q8_ref(const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1,
                       float* y, int64_t ldy);

// SIMD activation quantiser behind quantize_act_q8: same bytes as quantize_act_q8_ref.
void quantize_act_q8_rows(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, int8_t* q, float* d,
                          int32_t* s);

}  // namespace mm::simd
