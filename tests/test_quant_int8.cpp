// The default int8-activation decode path (QuantMath::Int8) against the GGUF goldens, which were computed
// with exact f32 arithmetic on the dequantised weights: every prompt position is run as a decode step
// (one token per forward, so every block-format product goes through the int8 kernels) and compared
// with the golden prefill logits, then the golden decode steps. The int8 path rounds the activations
// (blocks of 32, 8 bits), so it is checked for argmax agreement and a bounded max |Δlogit|, not 1e-4.
// Prints the measured numbers (README.md quotes them).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "model/model.h"
#include "ops/act_quant.h"
#include "sampling/sampler.h"
#include "test_util.h"

namespace mm {
namespace {

using test::testdata;

struct Int8Case {
  const char* arch;
  const char* variant;
  double max_diff;   // bound on max |Δlogit| over all positions (about twice the measured value)
  double mean_diff;  // bound on the mean over positions of max |Δlogit| (about 2.5x measured)
};

class QuantInt8Golden : public ::testing::TestWithParam<Int8Case> {};

TEST_P(QuantInt8Golden, DecodeAgreesWithGolden) {
  ExecContext ctx(0, MathMode{QuantMath::Int8});
  const auto c = GetParam();
  const std::string dir = testdata(std::string("gguf/") + c.arch + "/" + c.variant);
  auto g = test::read_json(dir + "/golden.json");
  auto m = load_model(dir + "/model.gguf");
  const int64_t V = m->config().vocab_size;
  auto prompt = test::ids_of(g["prompt_ids"]);
  double max_diff = 0, sum_diff = 0;
  int64_t n_cmp = 0, n_agree = 0;
  std::vector<float> logits(static_cast<size_t>(V)), want(static_cast<size_t>(V));
  auto compare = [&](const nlohmann::json& golden) {
    for (int64_t v = 0; v < V; ++v) want[size_t(v)] = golden[size_t(v)].get<float>();
    double d = 0;
    for (int64_t v = 0; v < V; ++v) d = std::max(d, double(std::fabs(logits[size_t(v)] - want[size_t(v)])));
    max_diff = std::max(max_diff, d);
    sum_diff += d;
    n_agree += argmax(logits) == argmax(want);
    ++n_cmp;
  };
  // Every prompt position as a decode step, against the golden prefill logits.
  {
    auto seq = m->new_sequence(0);
    for (size_t t = 0; t < prompt.size(); ++t) {
      BatchItem step{seq.get(), prompt.data() + t, 1, logits.data(), false};
      m->forward({&step, 1}, ctx);
      compare(g["prefill"]["logits"][t]);
    }
  }
  // The golden decode steps after a prefill of prefill_len tokens.
  const int64_t n_pre = g["decode"]["prefill_len"].get<int64_t>();
  auto seq = m->new_sequence(0);
  BatchItem it{seq.get(), prompt.data(), n_pre, logits.data(), false};
  m->forward({&it, 1}, ctx);
  for (size_t j = 0; j < g["decode"]["logits"].size(); ++j) {
    BatchItem step{seq.get(), prompt.data() + n_pre + j, 1, logits.data(), false};
    m->forward({&step, 1}, ctx);
    compare(g["decode"]["logits"][j]);
  }
  const double agree = double(n_agree) / double(n_cmp);
  std::printf("int8 vs golden %s %s: %lld positions, argmax agree %.3f, max |dlogit| %.4f, mean per-position max %.4f\n",
              c.arch, c.variant, (long long)n_cmp, agree, max_diff, sum_diff / double(n_cmp));
  EXPECT_GE(agree, 0.88);  // measured 0.898 (M2 q8_0, 79 of 88) to 0.994
  EXPECT_LE(max_diff, c.max_diff);
  EXPECT_LE(sum_diff / double(n_cmp), c.mean_diff);
}

INSTANTIATE_TEST_SUITE_P(AllFiles, QuantInt8Golden,
                         // Measured (max, mean): Text-01 q8_0 2.36, 0.165; q4_k_m 1.66, 0.129; M2 q8_0
                         // 3.35, 0.186; q4_k_m 2.65, 0.210 (AVX-512 VNNI); AVX2: Text-01 q8_0 2.71,
                         // 0.176; q4_k_m 1.11, 0.122; M2 q8_0 3.36, 0.252; q4_k_m 2.13, 0.199 (prefill
                         // int8 on every CPU since the kernels share one arithmetic: batch invariance;
                         // the vector width still orders the f32 sums of the other ops). Random tiny
                         // MoE models are harsh (a small
                         // change flips an expert); the weight rounding alone costs as much (README).
                         // F32 weights never take the int8 path: golden to 1e-4.
                         ::testing::Values(Int8Case{"minimax_text01", "f32", 1e-4, 1e-4},
                                           Int8Case{"minimax_text01", "q8_0", 5.0, 0.45},
                                           Int8Case{"minimax_text01", "q4_k_m", 3.5, 0.35},
                                           Int8Case{"minimax_m2", "f32", 1e-4, 1e-4},
                                           Int8Case{"minimax_m2", "q8_0", 6.5, 0.5},
                                           Int8Case{"minimax_m2", "q4_k_m", 5.5, 0.5}),
                         [](const auto& info) { return std::string(info.param.arch) + "_" + info.param.variant; });

}  // namespace
}  // namespace mm
