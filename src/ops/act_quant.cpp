#include "ops/act_quant.h"

#include <cmath>

#include "core/error.h"
#include "ops/simd/quant_dot.h"

namespace mm {

void quantize_act_q8_ref(const float* x, int64_t n_in, int8_t* q, float* d, int32_t* s) {
  MM_CHECK(n_in % kActBlock == 0);
  for (int64_t b = 0; b < n_in / kActBlock; ++b) {
    const float* xb = x + b * kActBlock;
    float amax = 0.0f;
    for (int64_t i = 0; i < kActBlock; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t sum = 0;
    for (int64_t i = 0; i < kActBlock; ++i) {
      const int32_t v = static_cast<int32_t>(std::fmin(127.0f, std::fmax(-127.0f, std::nearbyint(xb[i] * id))));
      q[b * kActBlock + i] = static_cast<int8_t>(v);
      sum += v;
    }
    d[b] = db;
    s[b] = sum;
  }
}

ActQ8 alloc_act_q8(Arena& arena, int64_t n_rows, int64_t n_in) {
  MM_CHECK(n_in % kActBlock == 0 && n_rows >= 0);
  const int64_t nb = n_in / kActBlock;
  ActQ8 a;
  a.n_rows = n_rows;
  a.n_in = n_in;
  a.q = arena.alloc<int8_t>(size_t(n_rows * n_in));
  a.d = arena.alloc<float>(size_t(n_rows * nb));
  a.s = arena.alloc<int32_t>(size_t(n_rows * nb));
  return a;
}

ActQ8 quantize_act_q8(Arena& arena, const float* x, int64_t ldx, int64_t n_rows, int64_t n_in) {
  ActQ8 a = alloc_act_q8(arena, n_rows, n_in);
  simd::quantize_act_q8_rows(x, ldx, n_rows, n_in, a.q, a.d, a.s);
  return a;
}

}  // namespace mm
