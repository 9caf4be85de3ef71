#include "ops/moe_grad.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace mm {

namespace {

// p = softmax(l) in double.
void softmax_row(const float* l, int64_t n, double* p) {
  double m = l[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, double(l[i]));
  double z = 0;
  for (int64_t i = 0; i < n; ++i) z += (p[i] = std::exp(double(l[i]) - m));
  for (int64_t i = 0; i < n; ++i) p[i] /= z;
}

}  // namespace

void moe_route_backward(const float* logits, int64_t n_tokens, int64_t n_experts, int64_t top_k, RouterKind kind,
                        const int32_t* ids, const float* d_weights, float* d_logits) {
  std::vector<double> score(static_cast<size_t>(n_experts)), dscore(static_cast<size_t>(n_experts));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* l = logits + t * n_experts;
    if (kind == RouterKind::Softmax) softmax_row(l, n_experts, score.data());
    else
      for (int64_t e = 0; e < n_experts; ++e) score[size_t(e)] = 1.0 / (1.0 + std::exp(-double(l[e])));
    // w_k = s_k / Σ: dL/ds_k = dw_k / Σ − (Σ_m dw_m s_m) / Σ²
    double sum = 0, dws = 0;
    for (int64_t k = 0; k < top_k; ++k) {
      const int32_t e = ids[t * top_k + k];
      sum += score[size_t(e)];
      dws += double(d_weights[t * top_k + k]) * score[size_t(e)];
    }
    std::fill(dscore.begin(), dscore.end(), 0.0);
    for (int64_t k = 0; k < top_k; ++k)
      dscore[size_t(ids[t * top_k + k])] += double(d_weights[t * top_k + k]) / sum - dws / (sum * sum);
    float* dl = d_logits + t * n_experts;
    if (kind == RouterKind::Softmax) {
      double pd = 0;
      for (int64_t e = 0; e < n_experts; ++e) pd += score[size_t(e)] * dscore[size_t(e)];
      for (int64_t e = 0; e < n_experts; ++e) dl[e] = float(score[size_t(e)] * (dscore[size_t(e)] - pd));
    } else {
      for (int64_t e = 0; e < n_experts; ++e)
        dl[e] = float(dscore[size_t(e)] * score[size_t(e)] * (1.0 - score[size_t(e)]));
    }
  }
}

double load_balancing_loss(const std::vector<const float*>& logits, int64_t n_tokens, int64_t n_experts, int64_t top_k,
                           float coef, const std::vector<float*>& d_logits) {
  MM_CHECK(d_logits.empty() || d_logits.size() == logits.size());
  const int64_t N = int64_t(logits.size()) * n_tokens;
  if (N == 0) return 0.0;
  std::vector<double> count(static_cast<size_t>(n_experts), 0.0), psum(static_cast<size_t>(n_experts), 0.0), p(static_cast<size_t>(n_experts));
  std::vector<int32_t> order(static_cast<size_t>(n_experts));
  for (const float* L : logits)
    for (int64_t t = 0; t < n_tokens; ++t) {
      softmax_row(L + t * n_experts, n_experts, p.data());
      for (int64_t e = 0; e < n_experts; ++e) psum[size_t(e)] += p[size_t(e)];
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
        return p[size_t(a)] > p[size_t(b)] || (p[size_t(a)] == p[size_t(b)] && a < b);
      });
      for (int64_t k = 0; k < top_k; ++k) count[size_t(order[size_t(k)])] += 1.0;
    }
  double loss = 0;
  for (int64_t e = 0; e < n_experts; ++e) loss += (count[size_t(e)] / double(N)) * (psum[size_t(e)] / double(N));
  loss *= double(n_experts);
  if (!d_logits.empty()) {
    // dloss/dp_{n,e} = n_experts · f_e / N (f is constant: the choice is piecewise constant)
    std::vector<double> dp(static_cast<size_t>(n_experts));
    for (int64_t e = 0; e < n_experts; ++e) dp[size_t(e)] = double(n_experts) * count[size_t(e)] / (double(N) * double(N));
    for (size_t il = 0; il < logits.size(); ++il)
      for (int64_t t = 0; t < n_tokens; ++t) {
        softmax_row(logits[il] + t * n_experts, n_experts, p.data());
        double pd = 0;
        for (int64_t e = 0; e < n_experts; ++e) pd += p[size_t(e)] * dp[size_t(e)];
        float* dl = d_logits[il] + t * n_experts;
        for (int64_t e = 0; e < n_experts; ++e) dl[e] += coef * float(p[size_t(e)] * (dp[size_t(e)] - pd));
      }
  }
  return loss;
}

}  // namespace mm
