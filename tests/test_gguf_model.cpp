// GGUF models (as llama.cpp's converter and quantizer write them) through the forward pass: each
// golden was computed on the weights dequantised from that very file, so an exact-dequantisation fp32
// path must match within 1e-4 with exact greedy tokens, for F32, Q8_0 and Q4_K_M, both architectures.
#include <gtest/gtest.h>

#include <cmath>

#include <cstdio>

#include "core/exec_context.h"
#include "model/model.h"
#include "ops/act_quant.h"
#include "sampling/sampler.h"
#include "test_util.h"

namespace mm {
namespace {

// These tests check the exact path (weights dequantised to f32, f32 arithmetic), not the int8-activation
// default (tests/test_quant_int8.cpp covers that one).
const MathMode kExact{QuantMath::Exact};

using test::testdata;

struct GgufCase {
  const char* arch;
  const char* variant;
};

class GgufGolden : public ::testing::TestWithParam<GgufCase> {};

TEST_P(GgufGolden, PrefillDecodeGreedy) {
  ExecContext ctx(0, kExact);  // the goldens are exact-dequantisation fp32
  const auto c = GetParam();
  const std::string dir = testdata(std::string("gguf/") + c.arch + "/" + c.variant);
  auto g = test::read_json(dir + "/golden.json");
  auto m = load_model(dir + "/model.gguf");
  const int64_t V = m->config().vocab_size;
  auto prompt = test::ids_of(g["prompt_ids"]);
  const int64_t n = int64_t(prompt.size());
  // Full prefill, logits at every position.
  {
    auto seq = m->new_sequence(0);
    std::vector<float> logits(static_cast<size_t>(n * V));
    BatchItem it{seq.get(), prompt.data(), n, logits.data(), true};
    m->forward({&it, 1}, ctx);
    for (int64_t t = 0; t < n; ++t) {
      const auto& want = g["prefill"]["logits"][size_t(t)];
      for (int64_t v = 0; v < V; ++v)
        ASSERT_NEAR(logits[size_t(t * V + v)], want[size_t(v)].get<double>(), 1e-4) << "position " << t;
    }
  }
  // Prefill prefill_len tokens, then one token per call; then greedy.
  const int64_t n_pre = g["decode"]["prefill_len"].get<int64_t>();
  auto seq = m->new_sequence(0);
  std::vector<float> logits(static_cast<size_t>(V));
  BatchItem it{seq.get(), prompt.data(), n_pre, logits.data(), false};
  m->forward({&it, 1}, ctx);
  for (size_t j = 0; j < g["decode"]["logits"].size(); ++j) {
    BatchItem step{seq.get(), prompt.data() + n_pre + j, 1, logits.data(), false};
    m->forward({&step, 1}, ctx);
    for (int64_t v = 0; v < V; ++v)
      ASSERT_NEAR(logits[size_t(v)], g["decode"]["logits"][j][size_t(v)].get<double>(), 1e-4) << "decode " << j;
  }
  std::vector<int32_t> got;
  for (size_t i = 0; i < g["greedy"]["tokens"].size(); ++i) {
    got.push_back(argmax(logits));
    BatchItem step{seq.get(), &got.back(), 1, logits.data(), false};
    m->forward({&step, 1}, ctx);
  }
  EXPECT_EQ(got, test::ids_of(g["greedy"]["tokens"]));
}

INSTANTIATE_TEST_SUITE_P(AllFiles, GgufGolden,
                         ::testing::Values(GgufCase{"minimax_text01", "f32"}, GgufCase{"minimax_text01", "q8_0"},
                                           GgufCase{"minimax_text01", "q4_k_m"}, GgufCase{"minimax_m2", "f32"},
                                           GgufCase{"minimax_m2", "q8_0"}, GgufCase{"minimax_m2", "q4_k_m"}),
                         [](const auto& info) { return std::string(info.param.arch) + "_" + info.param.variant; });

// The fast path (QuantMath::Int8: activations quantised to int8 in blocks of 32 for block-format
// weights) against the exact one on the same file: prefill logits stay close and mostly pick the same
// token (these random-weight MoE models are harsh: a small change can flip an expert choice).
TEST_P(GgufGolden, Int8PrefillCloseToExact) {
  const auto c = GetParam();
  const std::string dir = testdata(std::string("gguf/") + c.arch + "/" + c.variant);
  auto g = test::read_json(dir + "/golden.json");
  auto m = load_model(dir + "/model.gguf");
  const int64_t V = m->config().vocab_size;
  auto prompt = test::ids_of(g["prompt_ids"]);
  const int64_t n = int64_t(prompt.size());
  auto prefill = [&](int n_threads, QuantMath qm) {
    ExecContext ctx(n_threads, MathMode{qm});
    auto seq = m->new_sequence(0);
    std::vector<float> logits(static_cast<size_t>(n * V));
    BatchItem it{seq.get(), prompt.data(), n, logits.data(), true};
    m->forward({&it, 1}, ctx);
    return logits;
  };
  const auto exact = prefill(1, QuantMath::Exact), fast = prefill(1, QuantMath::Int8);
  // every output is computed by one task: the split cannot change a bit
  const auto fast3 = prefill(3, QuantMath::Int8);
  for (size_t i = 0; i < fast.size(); ++i) ASSERT_EQ(fast[i], fast3[i]) << "threads changed logit " << i;
  double max_diff = 0, sum_diff = 0;
  int agree = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* a = exact.data() + t * V;
    const float* b = fast.data() + t * V;
    for (int64_t v = 0; v < V; ++v) {
      max_diff = std::max(max_diff, double(std::fabs(a[v] - b[v])));
      sum_diff += std::fabs(a[v] - b[v]);
    }
    agree += argmax({a, size_t(V)}) == argmax({b, size_t(V)});
  }
  std::printf("%s %s: Int8 vs Exact prefill over %lld tokens: max |dlogit| %.3g, mean %.3g, argmax agreement %.3f\n",
              c.arch, c.variant, static_cast<long long>(n), max_diff, sum_diff / double(n * V),
              double(agree) / double(n));
  EXPECT_GE(double(agree) / double(n), 0.8);
  EXPECT_LE(max_diff, 5.0);  // as QuantAccuracy allows q8_0 against f32
}

// The F32 GGUF and the HF folder it was converted from hold the same numbers: same logits.
TEST(GgufVsHf, F32GgufEqualsHfFolder) {
  ExecContext ctx(0, kExact);
  for (const char* arch : {"minimax_text01", "minimax_m2"}) {
    auto a = load_model(testdata(std::string("gguf/") + arch + "/f32/model.gguf"));
    auto b = load_model(testdata(std::string("gguf/") + arch + "/hf"));
    std::vector<int32_t> ids = {1, 5, 9, 33, 2, 7, 100, 64};
    const int64_t V = a->config().vocab_size;
    std::vector<float> la(static_cast<size_t>(8 * V)), lb(static_cast<size_t>(8 * V));
    auto sa = a->new_sequence(0), sb = b->new_sequence(0);
    BatchItem ia{sa.get(), ids.data(), 8, la.data(), true}, ib{sb.get(), ids.data(), 8, lb.data(), true};
    a->forward({&ia, 1}, ctx);
    b->forward({&ib, 1}, ctx);
    // The same values (the HF folder is bf16, every value bf16-representable), but F32 weights run the
    // one-order GEMM and 16-bit ones the fast one (ops/matmul.h): f32 summation order only.
    for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], lb[i], 1e-4) << arch << " " << i;
  }
}

}  // namespace
}  // namespace mm
