#include "ops/act_quant.h"

#include <atomic>
#include <cmath>

#include "core/error.h"
#include "ops/simd/quant_dot.h"

namespace mm {

namespace {
std::atomic<QuantMath> g_quant_math{QuantMath::Int8};
}

void set_quant_math(QuantMath m) { g_quant_math.store(m, std::memory_order_relaxed); }
QuantMath quant_math() { return g_quant_math.load(std::memory_order_relaxed); }

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

void quantize_act_q8(const float* x, int64_t ldx, int64_t n_rows, int64_t n_in, ActQ8* out) {
  MM_CHECK(n_in % kActBlock == 0);
  const int64_t nb = n_in / kActBlock;
  out->n_rows = n_rows;
  out->n_in = n_in;
  out->q.resize(size_t(n_rows * n_in));
  out->d.resize(size_t(n_rows * nb));
  out->s.resize(size_t(n_rows * nb));
  simd::quantize_act_q8_rows(x, ldx, n_rows, n_in, out->q.data(), out->d.data(), out->s.data());
}

}  // namespace mm
