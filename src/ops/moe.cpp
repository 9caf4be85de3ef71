#include "ops/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "ops/basic.h"
#include "ops/matmul.h"

namespace mm {

void moe_route(const float* logits, int64_t n_tokens, int64_t n_experts, int64_t top_k, RouterKind kind,
               const float* bias, int32_t* ids, float* weights) {
  std::vector<float> score(static_cast<size_t>(n_experts)), key(static_cast<size_t>(n_experts));
  std::vector<int32_t> order(static_cast<size_t>(n_experts));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* l = logits + t * n_experts;
    std::copy(l, l + n_experts, score.begin());
    if (kind == RouterKind::Softmax) {
      softmax_inplace(score.data(), n_experts);
      key = score;
    } else {
      sigmoid_inplace(score.data(), n_experts);
      for (int64_t e = 0; e < n_experts; ++e) key[size_t(e)] = score[size_t(e)] + (bias ? bias[e] : 0.0f);
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
      return key[size_t(a)] > key[size_t(b)] || (key[size_t(a)] == key[size_t(b)] && a < b);
    });
    double sum = 0;
    for (int64_t k = 0; k < top_k; ++k) sum += score[size_t(order[size_t(k)])];
    for (int64_t k = 0; k < top_k; ++k) {
      ids[t * top_k + k] = order[size_t(k)];
      weights[t * top_k + k] = float(score[size_t(order[size_t(k)])] / sum);
    }
  }
}

void moe_forward(const float* x, int64_t n_tokens, int64_t hidden, const MoeLayerWeights& w, int64_t top_k,
                 RouterKind kind, float* out) {
  const int64_t n_experts = w.router.n_out;
  std::vector<float> logits(static_cast<size_t>(n_tokens * n_experts));  // [T, E]
  matmul(x, n_tokens, w.router, logits.data());
  std::vector<int32_t> ids(static_cast<size_t>(n_tokens * top_k));
  std::vector<float> wts(static_cast<size_t>(n_tokens * top_k));
  moe_route(logits.data(), n_tokens, n_experts, top_k, kind, w.bias.empty() ? nullptr : w.bias.data(),
            ids.data(), wts.data());

  // Group (token, weight) pairs by expert.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(static_cast<size_t>(n_experts));
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t k = 0; k < top_k; ++k)
      routed[size_t(ids[t * top_k + k])].push_back({t, wts[t * top_k + k]});

  std::fill(out, out + n_tokens * hidden, 0.0f);
  std::vector<float> xe, g, u, y;
  for (int64_t e = 0; e < n_experts; ++e) {
    const auto& r = routed[size_t(e)];
    if (r.empty()) continue;
    const int64_t n = int64_t(r.size()), inter = w.w1[size_t(e)].n_out;
    xe.resize(size_t(n * hidden));  // [n, hidden] gathered tokens
    g.resize(size_t(n * inter));    // [n, inter]
    u.resize(size_t(n * inter));    // [n, inter]
    y.resize(size_t(n * hidden));   // [n, hidden]
    for (int64_t i = 0; i < n; ++i)
      std::copy(x + r[size_t(i)].first * hidden, x + (r[size_t(i)].first + 1) * hidden, xe.begin() + i * hidden);
    matmul(xe.data(), n, w.w1[size_t(e)], g.data());
    matmul(xe.data(), n, w.w3[size_t(e)], u.data());
    swiglu_inplace(g.data(), u.data(), n * inter);
    matmul(g.data(), n, w.w2[size_t(e)], y.data());
    for (int64_t i = 0; i < n; ++i) {
      float* o = out + r[size_t(i)].first * hidden;
      const float wt = r[size_t(i)].second;
      for (int64_t c = 0; c < hidden; ++c) o[c] += wt * y[size_t(i * hidden + c)];
    }
  }
}

}  // namespace mm
