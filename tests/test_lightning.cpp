// Lightning attention: block-wise, recurrent and naive O(n²) forms agree on random data, for odd
// sizes, several block sizes, and a non-zero starting state.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ops/lightning.h"

namespace mm {
namespace {

struct Case {
  int64_t n, d, block;
  float slope;
};

class LightningForms : public ::testing::TestWithParam<Case> {};

TEST_P(LightningForms, Agree) {
  const Case c = GetParam();
  std::mt19937 rng(uint32_t(c.n * 131 + c.d * 7 + c.block));
  std::normal_distribution<float> nd(0.0f, 0.5f);
  const int64_t stride = 3 * c.d + 5;  // q, k, v interleaved with padding, like the fused projection
  std::vector<float> qkv(static_cast<size_t>(c.n * stride));
  for (auto& x : qkv) x = nd(rng);
  std::vector<float> s0(static_cast<size_t>(c.d * c.d));
  for (auto& x : s0) x = nd(rng);

  auto run = [&](int form, std::vector<float>& o, std::vector<float>& state) {
    o.assign(static_cast<size_t>(c.n * c.d), 0.0f);
    state = s0;
    LightningHeadArgs a{qkv.data(), qkv.data() + c.d, qkv.data() + 2 * c.d, stride, o.data(), c.d,
                        c.n, c.d, c.slope, state.data()};
    if (form == 0) lightning_naive(a);
    else if (form == 1) lightning_recurrent(a);
    else lightning_blocked(a, c.block);
  };
  std::vector<float> o_ref, s_ref, o, s;
  run(0, o_ref, s_ref);
  double scale = 1;
  for (float x : o_ref) scale = std::max(scale, double(std::fabs(x)));
  for (int form : {1, 2}) {
    run(form, o, s);
    for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(o[i], o_ref[i], 2e-5 * scale) << "form " << form << " out " << i;
    for (size_t i = 0; i < s.size(); ++i) ASSERT_NEAR(s[i], s_ref[i], 2e-5 * scale) << "form " << form << " state " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(OddSizes, LightningForms,
                         ::testing::Values(Case{1, 3, 4, 0.9f}, Case{7, 5, 3, 0.5f}, Case{33, 16, 16, 0.25f},
                                           Case{50, 9, 16, 0.917f}, Case{64, 8, 64, 0.01f}, Case{65, 7, 8, 2.0f},
                                           Case{100, 17, 256, 0.0039f}, Case{257, 4, 256, 0.3f},
                                           Case{19, 12, 1, 0.7f}));

TEST(LightningSlopes, MatchReferenceFormula) {
  // H = 8 (power of two): base slopes 2^-1 ... 2^-8, layer factor 1 - l/(L-1) + 1e-5.
  auto s0 = lightning_slopes(8, 0, 8);
  EXPECT_FLOAT_EQ(s0[0], 0.5f * 1.00001f);
  EXPECT_FLOAT_EQ(s0[7], 0.00390625f * 1.00001f);
  auto s78 = lightning_slopes(64, 78, 80);
  EXPECT_NEAR(s78[0], 0.917004 * 0.0126682, 1e-6);
  // H = 64, layer 0: s = 2^(-1/8) * 1.00001 = 0.917013
  EXPECT_NEAR(lightning_slopes(64, 0, 80)[0], 0.917013, 1e-6);
  // Non-power-of-two head count uses the interleaved ALiBi fallback: 6 heads = 4-head slopes + 8-head
  // slopes at even positions (2^-1, 2^-3).
  auto s6 = lightning_slopes(6, 0, 2);
  EXPECT_NEAR(s6[4], std::pow(2.0, -1.0) * 1.00001, 1e-6);
  EXPECT_NEAR(s6[5], std::pow(2.0, -3.0) * 1.00001, 1e-6);
  // A single-layer model does not divide by zero.
  EXPECT_TRUE(std::isfinite(lightning_slopes(4, 0, 1)[0]));
}

}  // namespace
}  // namespace mm
