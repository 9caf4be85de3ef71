// Sampling: greedy, seeded reproducibility, and that each filter keeps exactly the tokens it should.
#include <gtest/gtest.h>

#include <cmath>

#include "sampling/sampler.h"

namespace mm {
namespace {

std::vector<float> probs_logits(std::vector<double> p) {
  std::vector<float> l;
  for (double x : p) l.push_back(float(std::log(x)));
  return l;
}

std::vector<double> frequencies(SamplingParams sp, const std::vector<float>& logits, int n,
                                const std::vector<int32_t>& hist = {}) {
  Sampler s(sp);
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) f[size_t(s.sample(logits, hist))] += 1.0 / n;
  return f;
}

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  SamplingParams sp;
  sp.temperature = 0;
  Sampler s(sp);
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.0f, -1.0f, 3.0f}, {}), 1);
}

TEST(Sampler, TemperatureOneFollowsTheDistribution) {
  SamplingParams sp;
  sp.seed = 7;
  auto f = frequencies(sp, probs_logits({0.5, 0.3, 0.2}), 20000);
  EXPECT_NEAR(f[0], 0.5, 0.02);
  EXPECT_NEAR(f[1], 0.3, 0.02);
  EXPECT_NEAR(f[2], 0.2, 0.02);
}

TEST(Sampler, LowTemperatureSharpens) {
  SamplingParams sp;
  sp.temperature = 0.5f;  // p ∝ p^2: 25:9:4
  auto f = frequencies(sp, probs_logits({0.5, 0.3, 0.2}), 20000);
  EXPECT_NEAR(f[0], 25.0 / 38, 0.02);
  EXPECT_NEAR(f[2], 4.0 / 38, 0.02);
}

TEST(Sampler, SameSeedSameOutputDifferentSeedDiffers) {
  auto logits = probs_logits({0.2, 0.2, 0.2, 0.2, 0.2});
  auto draw = [&](uint64_t seed) {
    SamplingParams sp;
    sp.seed = seed;
    Sampler s(sp);
    std::vector<int32_t> r;
    for (int i = 0; i < 64; ++i) r.push_back(s.sample(logits, {}));
    return r;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplingParams sp;
  sp.top_k = 2;
  auto f = frequencies(sp, probs_logits({0.1, 0.5, 0.15, 0.25}), 20000);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[1], 0.5 / 0.75, 0.02);
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
  SamplingParams sp;
  sp.top_p = 0.7f;  // 0.5 + 0.3 reaches 0.7: tokens 0 and 1
  auto f = frequencies(sp, probs_logits({0.5, 0.3, 0.15, 0.05}), 20000);
  EXPECT_EQ(f[2] + f[3], 0.0);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.02);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplingParams sp;
  sp.min_p = 0.5f;  // keep p >= 0.25 (= 0.5 * top 0.5)
  auto f = frequencies(sp, probs_logits({0.5, 0.3, 0.2}), 20000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.02);
}

TEST(Sampler, PenaltiesApplyToHistory) {
  SamplingParams sp;
  sp.temperature = 0;
  sp.repetition_penalty = 4.0f;
  Sampler s(sp);
  std::vector<float> l = {2.0f, 1.0f, -1.0f};
  EXPECT_EQ(s.sample(l, {}), 0);
  EXPECT_EQ(s.sample(l, std::vector<int32_t>{0}), 1);  // 2/4 = 0.5 < 1
  SamplingParams fp;
  fp.temperature = 0;
  fp.frequency_penalty = 0.6f;
  Sampler s2(fp);
  EXPECT_EQ(s2.sample(l, std::vector<int32_t>{0}), 0);      // 2 - 0.6 = 1.4 > 1
  EXPECT_EQ(s2.sample(l, std::vector<int32_t>{0, 0}), 1);   // 2 - 1.2 = 0.8 < 1
  SamplingParams pp;
  pp.temperature = 0;
  pp.presence_penalty = 1.5f;
  Sampler s3(pp);
  EXPECT_EQ(s3.sample(l, std::vector<int32_t>{0}), 1);      // 2 - 1.5 = 0.5 < 1
}

}  // namespace
}  // namespace mm


// One validate() for the CLI and the engine: the first bad parameter is named in the caller's spelling.
TEST(Sampler, ValidateNamesTheParameter) {
  auto message = [](mm::SamplingParams p, mm::ParamStyle style) {
    try {
      mm::validate(p, style);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  mm::SamplingParams ok;
  EXPECT_EQ(message(ok, mm::ParamStyle::Api), "");
  mm::SamplingParams p;
  p.top_p = 0;
  EXPECT_EQ(message(p, mm::ParamStyle::Cli), "--top-p must be in (0, 1]");
  EXPECT_EQ(message(p, mm::ParamStyle::Api), "'top_p' must be in (0, 1]");
  p = {};
  p.top_k = -1;
  EXPECT_EQ(message(p, mm::ParamStyle::Cli), "--top-k must be >= 0");
  p = {};
  p.min_p = 2;
  EXPECT_EQ(message(p, mm::ParamStyle::Cli), "--min-p must be in [0, 1]");
  p = {};
  p.temperature = -1;
  EXPECT_EQ(message(p, mm::ParamStyle::Api), "'temperature' must be >= 0");
  p = {};
  p.repetition_penalty = 0;
  EXPECT_EQ(message(p, mm::ParamStyle::Api), "'repetition_penalty' must be > 0");
}
