// Decode products of GGUF block-format weights with int8-quantised activations (ops/act_quant.h):
// integer dot products of the weights' codes with the activation codes, one float multiply-add per
// 32 weights (16 for Q6_K) with the block / sub-block scale times the activation block scale d_x;
// the K-quant mins come in through the activation block sums (dmin·m·d_x·s). This is llama.cpp's
// CPU arithmetic (its activation blocks are 32 long too for Q8_0/Q4_0/Q5_0; for the K-quants it
// uses one scale per 256, we keep one per 32, which is at least as accurate).
//
// Compiled per instruction set by Highway; on AVX-512 VNNI CPUs (Highway's AVX3_DL target) the
// integer dot is vpdpbusd on 512-bit vectors, elsewhere with 256-bit vectors it is i16 multiply-adds
// (exact), and on 128-bit-only targets the scalar reference runs.
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

// Plain C++ reference of the same arithmetic: integer dot per 32 (Q6_K: 16) weights, then
// y += (weight scale · d_x) · dot, minus Σ dmin·m·(d_x·s) for the K-quant mins.
void quant_gemv_q8_ref(const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1,
                       float* y, int64_t ldy);

// SIMD activation quantiser behind quantize_act_q8: same bytes as quantize_act_q8_ref.
void quantize_act_q8_rows(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, int8_t* q, float* d,
                          int32_t* s);

}  // namespace mm::simd
