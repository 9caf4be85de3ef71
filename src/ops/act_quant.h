// The fast path for GGUF block-format weights: activations are quantised to int8 in blocks of 32 and
// multiplied against the weights' integer codes (integer dot products, VNNI where the CPU has it),
// the way llama.cpp's CPU backend does. The exact path (weights dequantised to f32, f32 arithmetic,
// the reference that the GGUF goldens check to 1e-4) is chosen by the execution context's math mode
// (MathMode::quant = QuantMath::Exact, core/exec_context.h; `--exact` on the CLI).
#pragma once
#include <cstdint>

#include "core/arena.h"
#include "core/exec_context.h"

namespace mm {

// One row of activations in blocks of 32: x[32 b + i] ≈ d[b] · q[32 b + i], d = max|x| / 127
// (0 for an all-zero block), q = round-half-even(x / d) computed as x · (1 / d); s[b] = Σ_i q[32 b + i].
constexpr int64_t kActBlock = 32;
struct ActQ8Row {
  const int8_t* q = nullptr;   // [n_in]
  const float* d = nullptr;    // [n_in / 32]
  const int32_t* s = nullptr;  // [n_in / 32]
};

// n_rows quantised activation rows (row t: q + t * n_in, d / s + t * n_in / 32), a view of storage
// held elsewhere (an Arena).
struct ActQ8 {
  int64_t n_rows = 0, n_in = 0;
  int8_t* q = nullptr;   // [n_rows, n_in]
  float* d = nullptr;    // [n_rows, n_in / 32]
  int32_t* s = nullptr;  // [n_rows, n_in / 32]
  ActQ8Row row(int64_t t) const {
    const int64_t nb = n_in / kActBlock;
    return {q + t * n_in, d + t * nb, s + t * nb};
  }
  // Rows [t0, t0 + n) as a view of the same storage.
  ActQ8 rows(int64_t t0, int64_t n) const {
    const int64_t nb = n_in / kActBlock;
    return {n, n_in, q + t0 * n_in, d + t0 * nb, s + t0 * nb};
  }
};

// Uninitialised storage for n_rows x n_in (a multiple of 32) quantised values, from `arena`.
ActQ8 alloc_act_q8(Arena& arena, int64_t n_rows, int64_t n_in);
// Quantises rows x[t * ldx + k], t < n_rows, k < n_in (a multiple of 32), into storage from `arena`.
ActQ8 quantize_act_q8(Arena& arena, const float* x, int64_t ldx, int64_t n_rows, int64_t n_in);

// Scalar reference quantiser (n_in a multiple of 32). SIMD versions must give identical bytes.
void quantize_act_q8_ref(const float* x, int64_t n_in, int8_t* q, float* d, int32_t* s);

}  // namespace mm
