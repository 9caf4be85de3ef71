// SIMD kernels behind the ops, compiled once per instruction set by Highway (foreach_target) and
// picked at run time (HWY_DYNAMIC_DISPATCH), so one binary uses AVX-512 where present and still runs
// on a plain x86-64. All functions here are single-threaded; the ops split work across the pool.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mm::simd {

// Storage type of the "B" rows of gemm_nt; converted to f32 in registers, never in memory.
enum class BKind : int { F32, BF16, F16, F8_E4M3 };

// B: rows of n_in elements, row o at data + o * row_bytes (any alignment). F8 rows may carry block
// scales (DeepSeek-V3 layout: scale[(o / scale_bn) * ceil(n_in / scale_bk) + k / scale_bk]).
struct GemmB {
  BKind kind = BKind::F32;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  int64_t n_in = 0;
  const float* scale = nullptr;
  int64_t scale_bn = 0, scale_bk = 0;
};

// y[t * ldy + o] (= or +=) Σ_k x[t * ldx + k] · B[o, k] for t in [0, n_rows), o in [o0, o1).
// Register-tiled 4 B rows x up to 4 x rows; x rows are walked in cache-sized blocks so each B row
// block is loaded from memory once per block of x rows (once in total for decode's 1..16 rows).
void gemm_nt(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
             int64_t ldy, bool accumulate);
// The same product with one register-tiled kernel for every row count, so that a row's result does
// not depend on n_rows (batch invariance; gemm_nt picks faster kernels of other summation orders by
// row count). The exact block-format paths use it (ops/matmul.cpp).
void gemm_nt_invariant(const float* x, int64_t ldx, int64_t n_rows, const GemmB& b, int64_t o0, int64_t o1, float* y,
             int64_t ldy, bool accumulate);
// True when gemm_nt handles this scale layout in registers (scale_bk a multiple of the vector width).
bool gemm_scale_supported(const GemmB& b);

float dot(const float* a, const float* b, int64_t n);
// The f32 FMA peak probe (bench-train's MFU denominator): `iters` rounds of 12 independent vector
// FMA chains in registers on the widest target; *flops receives the floating-point operations done.
// Returns a value that depends on every chain (so the work cannot be optimised away).
float fma_peak_probe(int64_t iters, float seed, double* flops);
// y += a * x
void axpy(float a, const float* x, float* y, int64_t n);
// y *= a
void scale(float a, float* y, int64_t n);
// acc[g * n + c] += Σ_j p[g * ldp + j] · v[j * ldv + c] for g < n_groups, j < n_keys, c < n (attention
// decode: each value row read once for all query heads of its group). _ref: the plain loop.
void weighted_row_sum(const float* p, int64_t ldp, int64_t n_groups, const float* v, int64_t ldv, int64_t n_keys,
                      float* acc, int64_t n);
void weighted_row_sum_ref(const float* p, int64_t ldp, int64_t n_groups, const float* v, int64_t ldv, int64_t n_keys,
                          float* acc, int64_t n);
// One row of a lightning state update: s = decay * s + k * v, then o += q * s (s, v, o: n floats).
void decay_rank1_row(float* s, float decay, float k, const float* v, float q, float* o, int64_t n);
// Streaming sum of n floats (the memory-bandwidth probe of `minimax bench --membw`).
float sum(const float* x, int64_t n);

// Largest of x[0..n) (-inf for n = 0).
float max_value(const float* x, int64_t n);
// x[i] = exp(x[i] - shift) in place (vector exp, within a few ulp of std::exp); returns the sum.
float exp_shift_sum(float* x, int64_t n, float shift);

// Widening of stored KV rows to f32 (ops/kv_codec.h): n values of f16 / bf16 (src unaligned) or Q8_0
// blocks (n % 32 == 0), the values the scalar converters give.
void widen_f16(const uint8_t* src, int64_t n, float* dst);
void widen_bf16(const uint8_t* src, int64_t n, float* dst);
void widen_q8_0(const uint8_t* src, int64_t n, float* dst);

// Name of the instruction set the dispatcher picked ("AVX3", "AVX2", ...).
const char* target_name();

}  // namespace mm::simd
