#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <unordered_map>

#include "core/error.h"

namespace mm {

void validate(const SamplingParams& p, ParamStyle style) {
  const bool cli = style == ParamStyle::Cli;
  auto fail = [&](const char* opt, const char* field, const char* rule) {
    throw Error((cli ? std::string("--") + opt : std::string("'") + field + "'") + " must be " + rule);
  };
  if (!(p.top_p > 0 && p.top_p <= 1)) fail("top-p", "top_p", "in (0, 1]");
  if (p.top_k < 0) fail("top-k", "top_k", ">= 0");
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail("min-p", "min_p", "in [0, 1]");
  if (!(p.temperature >= 0)) fail("temp", "temperature", ">= 0");
  if (!(p.repetition_penalty > 0)) fail("repeat-penalty", "repetition_penalty", "> 0");
  if (!std::isfinite(p.presence_penalty)) fail("presence-penalty", "presence_penalty", "a finite number");
  if (!std::isfinite(p.frequency_penalty)) fail("frequency-penalty", "frequency_penalty", "a finite number");
}

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[size_t(best)]) best = int32_t(i);
  return best;
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const size_t n = logits.size();
  work_.assign(logits.begin(), logits.end());
  if (!history.empty() &&
      (p_.repetition_penalty != 1.0f || p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f)) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : history)
      if (t >= 0 && size_t(t) < n) ++counts[t];
    for (auto [t, cnt] : counts) {
      float& l = work_[size_t(t)];
      if (p_.repetition_penalty != 1.0f) l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
      l -= p_.presence_penalty + p_.frequency_penalty * float(cnt);
    }
  }
  if (p_.temperature <= 0.0f) return argmax(work_);

  // Candidates sorted by logit, descending (stable: lower id first on ties).
  idx_.resize(n);
  std::iota(idx_.begin(), idx_.end(), 0);
  size_t k = (p_.top_k > 0 && size_t(p_.top_k) < n) ? size_t(p_.top_k) : n;
  auto cmp = [&](int32_t a, int32_t b) { return work_[size_t(a)] > work_[size_t(b)] || (work_[size_t(a)] == work_[size_t(b)] && a < b); };
  std::partial_sort(idx_.begin(), idx_.begin() + long(k), idx_.end(), cmp);
  idx_.resize(k);
  // Softmax with temperature over the candidates.
  std::vector<double> prob(k);
  const double mx = work_[size_t(idx_[0])];
  double z = 0;
  for (size_t i = 0; i < k; ++i) z += prob[i] = std::exp((double(work_[size_t(idx_[i])]) - mx) / p_.temperature);
  for (auto& x : prob) x /= z;
  // min-p: drop candidates below min_p × the top probability.
  size_t keep = k;
  if (p_.min_p > 0.0f) {
    const double thr = p_.min_p * prob[0];
    keep = 1;
    while (keep < k && prob[keep] >= thr) ++keep;
  }
  // top-p: smallest prefix whose mass reaches top_p.
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t i = 0;
    for (; i < keep; ++i) {
      cum += prob[i];
      if (cum >= p_.top_p) {
        ++i;
        break;
      }
    }
    keep = std::max<size_t>(1, std::min(keep, i));
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += prob[i];
  std::uniform_real_distribution<double> u(0.0, mass);
  double r = u(rng_), cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += prob[i];
    if (r < cum) return idx_[i];
  }
  return idx_[keep - 1];
}

}  // namespace mm
