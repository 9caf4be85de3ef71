// Finite-difference helpers for the gradient tests: central differences of a double-precision
// forward (the oracle), compared with the analytical backward of the engine.
#pragma once
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace mm::test {

inline std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// dL/dx[i] by central differences of loss(x) (x in double, h relative to 1), for every i.
inline std::vector<double> finite_diff(std::vector<double> x, const std::function<double(const std::vector<double>&)>& loss,
                                       double h = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss(x);
    x[i] = x0 - h;
    const double lm = loss(x);
    x[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// |a − b| ≤ atol + rtol·max|b| for every element (one scale for the whole tensor: float gradients
// have absolute error relative to the tensor's magnitude, not to each tiny component).
template <class A, class B>
void expect_grad_near(const A& got, const B& want, double rtol, const char* what, double atol = 1e-7) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (auto w : want) scale = std::max(scale, std::abs(double(w)));
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::abs(double(got[i]) - double(want[i]));
    if (e > worst) worst = e, at = i;
  }
  EXPECT_LE(worst, atol + rtol * scale) << what << ": worst |diff| " << worst << " at " << at << " (got " << double(got[at])
                                        << ", want " << double(want[at]) << ", scale " << scale << ")";
}

}  // namespace mm::test
