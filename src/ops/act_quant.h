// The fast path for GGUF block-format weights: activations are quantised to int8 in blocks of 32 and
// multiplied against the weights' integer codes (integer dot products, VNNI where the CPU has it),
// the way llama.cpp's CPU backend does. The exact path (weights dequantised to f32, f32 arithmetic,
// the reference that the GGUF goldens check to 1e-4) stays available behind set_quant_math(Exact)
// (`--exact` on the CLI).
#pragma once
#include <cstdint>
#include <vector>

namespace mm {

enum class QuantMath { Int8, Exact };
void set_quant_math(QuantMath m);
QuantMath quant_math();

// One row of activations in blocks of 32: x[32 b + i] ≈ d[b] · q[32 b + i], d = max|x| / 127
// (0 for an all-zero block), q = round-half-even(x / d) computed as x · (1 / d); s[b] = Σ_i q[32 b + i].
constexpr int64_t kActBlock = 32;
struct ActQ8Row {
  const int8_t* q = nullptr;   // [n_in]
  const float* d = nullptr;    // [n_in / 32]
  const int32_t* s = nullptr;  // [n_in / 32]
};

// n_rows quantised activation rows (row t: q + t * n_in, d / s + t * n_in / 32).
struct ActQ8 {
  int64_t n_rows = 0, n_in = 0;
  std::vector<int8_t> q;   // [n_rows, n_in]
  std::vector<float> d;    // [n_rows, n_in / 32]
  std::vector<int32_t> s;  // [n_rows, n_in / 32]
  ActQ8Row row(int64_t t) const {
    const int64_t nb = n_in / kActBlock;
    return {q.data() + t * n_in, d.data() + t * nb, s.data() + t * nb};
  }
};

// Quantises rows x[t * ldx + k], t < n_rows, k < n_in (a multiple of 32) into out (resized).
void quantize_act_q8(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, ActQ8* out);

// Scalar reference quantiser (n_in a multiple of 32). SIMD versions must give identical bytes.
void quantize_act_q8_ref(const float* x, int64_t n_in, int8_t* q, float* d, int32_t* s);

}  // namespace mm
