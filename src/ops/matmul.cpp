#include "ops/matmul.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/quant.h"

namespace mm {

void weight_row_to_f32(const Weight& w, int64_t r, float* dst) {
  row_to_f32(w.dtype, w.row(r), dst, w.n_in);
  if (w.scale) {
    const int64_t n_kb = (w.n_in + w.scale_bk - 1) / w.scale_bk;
    const float* s = w.scale + (r / w.scale_bn) * n_kb;
    for (int64_t k = 0; k < w.n_in; ++k) dst[k] *= s[k / w.scale_bk];
  }
}

static float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void matmul_ref(const float* x, int64_t n_rows, const Weight& w, float* y) {
  std::vector<float> row(static_cast<size_t>(w.n_in));
  for (int64_t o = 0; o < w.n_out; ++o) {
    weight_row_to_f32(w, o, row.data());
    for (int64_t t = 0; t < n_rows; ++t) {
      double s = 0;
      for (int64_t k = 0; k < w.n_in; ++k) s += double(x[t * w.n_in + k]) * row[size_t(k)];
      y[t * w.n_out + o] = float(s);
    }
  }
}

void matmul(const float* x, int64_t n_rows, const Weight& w, float* y) {
  MM_CHECK(!w.empty());
  const int64_t n_in = w.n_in, n_out = w.n_out;
  global_pool().parallel_for(
      n_out,
      [&](int64_t b, int64_t e, int) {
        thread_local std::vector<float> row;
        if (row.size() < size_t(n_in)) row.resize(size_t(n_in));
        for (int64_t o = b; o < e; ++o) {
          weight_row_to_f32(w, o, row.data());
          for (int64_t t = 0; t < n_rows; ++t) y[t * n_out + o] = dot(x + t * n_in, row.data(), n_in);
        }
      },
      16);
}

}  // namespace mm
