#include "ops/basic_grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace mm {

namespace {

constexpr int64_t kRowsMinWork = 1 << 14;  // values per parallel chunk below which one thread does it

template <class F>
void for_rows(ExecContext& ctx, int64_t n_rows, int64_t n, F&& f) {
  if (n_rows * n < 2 * kRowsMinWork) return f(int64_t(0), n_rows);
  ctx.parallel_for(n_rows, [&](int64_t b, int64_t e, int) { f(b, e); }, std::max<int64_t>(1, kRowsMinWork / std::max<int64_t>(n, 1)));
}

// rstd of one row exactly as the forward computes it (double sum, float result).
float row_rstd(const float* x, int64_t n, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  return float(1.0 / std::sqrt(ss / double(n) + eps));
}

// Given g = dL/d(normalised x) (i.e. dy ⊙ w), the gradient through x -> x·rstd.
void rms_row_backward(const float* x, const float* g, int64_t n, float rstd, float* dx) {
  double dot = 0;
  for (int64_t i = 0; i < n; ++i) dot += double(g[i]) * x[i];
  const float c = float(dot * double(rstd) * double(rstd) * double(rstd) / double(n));
  for (int64_t i = 0; i < n; ++i) dx[i] = rstd * g[i] - x[i] * c;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Weight gradients of row-wise ops: rows are cut into a fixed number of chunks (whatever the thread
// count), each sums its rows in double, and the chunks are reduced in order, so the result is the
// same on every run and every thread count (a resumed training run repeats its loss curve).
constexpr int64_t kGradChunks = 32;

template <class F>
void rows_with_weight_grad(ExecContext& ctx, int64_t n_rows, int64_t n, float* dw, F&& row_fn) {
  const int64_t n_chunks = std::min(n_rows, kGradChunks);
  if (n_chunks == 0) return;
  std::vector<std::vector<double>> parts(static_cast<size_t>(n_chunks), std::vector<double>(size_t(n), 0.0));
  ctx.parallel_for(n_chunks, [&](int64_t cb, int64_t ce, int) {
    std::vector<float> scratch(static_cast<size_t>(n));
    for (int64_t c = cb; c < ce; ++c)
      for (int64_t r = n_rows * c / n_chunks; r < n_rows * (c + 1) / n_chunks; ++r)
        row_fn(r, parts[size_t(c)].data(), scratch.data());
  });
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (const auto& p : parts) s += p[size_t(i)];
    dw[i] += float(s);
  }
}

}  // namespace

void rms_norm_backward(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n, double eps,
                       const float* dy, float* dx, float* dw) {
  rows_with_weight_grad(ctx, n_rows, n, dw, [&](int64_t r, double* dw_part, float* g) {
    const float* xr = x + r * n;
    const float* dyr = dy + r * n;
    const float rstd = row_rstd(xr, n, eps);
    for (int64_t i = 0; i < n; ++i) {
      dw_part[i] += double(dyr[i]) * (xr[i] * rstd);
      g[i] = dyr[i] * w[i];
    }
    rms_row_backward(xr, g, n, rstd, dx + r * n);
  });
}

void rms_norm_sigmoid_gate_backward(ExecContext& ctx, const float* x, const float* w, int64_t n_rows, int64_t n,
                                    double eps, const float* gate, const float* dy, float* dx, float* dw,
                                    float* dgate) {
  rows_with_weight_grad(ctx, n_rows, n, dw, [&](int64_t r, double* dw_part, float* g) {
    const float* xr = x + r * n;
    const float* gr = gate + r * n;
    const float* dyr = dy + r * n;
    const float rstd = row_rstd(xr, n, eps);
    for (int64_t i = 0; i < n; ++i) {
      const float s = sigmoid(gr[i]), xn = xr[i] * rstd, dyi = dyr[i];
      dw_part[i] += double(dyi) * xn * s;
      dgate[r * n + i] = dyi * w[i] * xn * s * (1.0f - s);
      g[i] = dyi * w[i] * s;
    }
    rms_row_backward(xr, g, n, rstd, dx + r * n);
  });
}

void silu_backward(ExecContext& ctx, const float* x, const float* dy, int64_t n, float* dx) {
  for_rows(ctx, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float s = sigmoid(x[i]);
      dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
  });
}

void swiglu_backward(ExecContext& ctx, const float* g, const float* u, const float* dy, int64_t n, float* dg, float* du) {
  for_rows(ctx, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float s = sigmoid(g[i]), act = g[i] * s;
      const float dyi = dy[i], ui = u[i];  // (dg / du may alias dy)
      du[i] = dyi * act;
      dg[i] = dyi * ui * s * (1.0f + g[i] * (1.0f - s));
    }
  });
}

void rope_backward(const Rope& rope, float* dx, int64_t n_heads, int64_t head_dim, int64_t pos) {
  const int64_t half = rope.rotary_dim / 2;
  float cs[512], sn[512];
  for (int64_t i = 0; i < half; ++i) {
    const float angle = float(pos) * rope.inv_freq[i];  // the forward's angle, bit for bit
    cs[i] = float(std::cos(double(angle)));
    sn[i] = float(std::sin(double(angle)));
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = dx + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * cs[i] + b * sn[i];
      v[i + half] = b * cs[i] - a * sn[i];
    }
  }
}

void embedding_backward(const int32_t* ids, int64_t n_tokens, const float* dout, int64_t n, float* dtable) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* row = dtable + int64_t(ids[t]) * n;
    const float* d = dout + t * n;
    for (int64_t i = 0; i < n; ++i) row[i] += d[i];
  }
}

CrossEntropy cross_entropy(ExecContext& ctx, const float* logits, const int32_t* targets, int64_t n_rows, int64_t vocab,
                           float grad_scale, float* dlogits) {
  std::vector<double> nll(static_cast<size_t>(n_rows), 0.0);
  for (int64_t r = 0; r < n_rows; ++r)
    MM_CHECK(targets[r] < vocab);
  ctx.parallel_for(n_rows, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      const float* l = logits + r * vocab;
      const int32_t tgt = targets[r];
      float* d = dlogits ? dlogits + r * vocab : nullptr;
      if (tgt < 0) {
        if (d) std::fill(d, d + vocab, 0.0f);
        continue;
      }
      float m = l[0];
      for (int64_t i = 1; i < vocab; ++i) m = std::max(m, l[i]);
      double z = 0;
      for (int64_t i = 0; i < vocab; ++i) z += std::exp(double(l[i]) - m);
      const double lse = double(m) + std::log(z);
      nll[size_t(r)] = lse - double(l[tgt]);
      if (d) {
        for (int64_t i = 0; i < vocab; ++i) d[i] = float(std::exp(double(l[i]) - lse)) * grad_scale;
        d[tgt] -= grad_scale;
      }
    }
  }, 4);
  CrossEntropy ce;
  for (int64_t r = 0; r < n_rows; ++r)
    if (targets[r] >= 0) {
      ce.sum_nll += nll[size_t(r)];
      ++ce.n_counted;
    }
  return ce;
}

}  // namespace mm
