// Accuracy of each weight format against the F32 path on the tiny models: `minimax quantize` writes the
// GGUF, the model runs on it, and we compare logits over a fixed token stream (max |Δlogit|, argmax
// agreement, perplexity of the stream). Prints the table that README.md quotes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "model/model.h"
#include "ops/act_quant.h"
#include "sampling/sampler.h"
#include "test_util.h"

namespace mm {
namespace {

// These tests check the exact path (weights dequantised to f32, f32 arithmetic), not the int8-activation
// default (tests/test_quant_int8.cpp covers that one).

using test::testdata;

struct Stats {
  double max_diff = 0, agree = 0, ppl = 0;
};

std::vector<float> all_logits(Model& m, const std::vector<int32_t>& ids) {
  ExecContext ctx(0, MathMode{QuantMath::Exact});
  const int64_t V = m.config().vocab_size, n = int64_t(ids.size());
  std::vector<float> l(static_cast<size_t>(n * V));
  auto seq = m.new_sequence(0);
  BatchItem it{seq.get(), ids.data(), n, l.data(), true};
  m.forward({&it, 1}, ctx);
  return l;
}

double perplexity(const std::vector<float>& l, const std::vector<int32_t>& ids, int64_t V) {
  double nll = 0;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    const float* row = l.data() + t * size_t(V);
    double mx = row[0];
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(double(row[v]) - mx);
    nll += -(double(row[ids[t + 1]]) - mx - std::log(z));
  }
  return std::exp(nll / double(ids.size() - 1));
}

TEST(QuantAccuracy, EachFormatAgainstF32) {
  // The weight formats alone, exact arithmetic (all_logits; Int8 activations: test_gguf_model.cpp).
  for (const char* arch : {"minimax_text01", "minimax_m2"}) {
    auto g = test::read_json(testdata(std::string("gguf/") + arch + "/f32/golden.json"));
    auto ids = test::ids_of(g["prompt_ids"]);
    const std::string hf = testdata(std::string("gguf/") + arch + "/hf");
    auto ref_model = load_model(hf);
    const int64_t V = ref_model->config().vocab_size;
    auto ref = all_logits(*ref_model, ids);
    const double ref_ppl = perplexity(ref, ids, V);
    std::printf("%-15s %-7s %10s %8s %10s\n", arch, "format", "max|dl|", "argmax", "ppl");
    std::printf("%-15s %-7s %10.2g %8.3f %10.4f\n", "", "f32", 0.0, 1.0, ref_ppl);
    struct Want {
      const char* type;
      double min_agree, max_diff;
    };
    // Random-weight MoE models are harsh: a small weight change flips expert choices, which moves logits
    // by O(1) (llama.cpp lands ~95% argmax agreement on q8_0 here too). f16/bf16 hold the same values
    // (every value of these models is bf16-representable) but run the fast float GEMM, F32 weights the
    // one-order one (ops/matmul.h): f32 summation-order differences only (measured 7e-6). Bounds:
    // agreement falls with the bits per weight.
    for (Want w : {Want{"f16", 1.0, 1e-4}, Want{"bf16", 1.0, 1e-4}, Want{"q8_0", 0.9, 5.0},
                   Want{"q6_k", 0.8, 5.0}, Want{"q5_k", 0.7, 6.0}, Want{"q5_0", 0.7, 6.0},
                   Want{"q4_k", 0.6, 6.0}, Want{"q4_0", 0.55, 6.0}, Want{"q4_k_m", 0.6, 6.0}}) {
      test::TempDir d;
      const std::string out = d.str() + "/m.gguf";
      auto [rc, log] = test::run_cmd(test::cli() + " quantize --model " + hf + " --type " + w.type + " --out " + out + " 2>&1");
      ASSERT_EQ(rc, 0) << log;
      auto qm = load_model(out);
      auto q = all_logits(*qm, ids);
      Stats s;
      int agree = 0;
      for (size_t t = 0; t < ids.size(); ++t) {
        const float* a = ref.data() + t * size_t(V);
        const float* b = q.data() + t * size_t(V);
        for (int64_t v = 0; v < V; ++v) s.max_diff = std::max(s.max_diff, double(std::fabs(a[v] - b[v])));
        agree += argmax({a, size_t(V)}) == argmax({b, size_t(V)});
      }
      s.agree = double(agree) / double(ids.size());
      s.ppl = perplexity(q, ids, V);
      std::printf("%-15s %-7s %10.3g %8.3f %10.4f\n", "", w.type, s.max_diff, s.agree, s.ppl);
      EXPECT_GE(s.agree, w.min_agree) << arch << " " << w.type;
      EXPECT_LE(s.max_diff, w.max_diff) << arch << " " << w.type;
      EXPECT_LT(std::fabs(std::log(s.ppl / ref_ppl)), 0.2) << arch << " " << w.type;
    }
  }
}

// An fp8 release checkpoint quantises like any other model (dequantised to f32 on the way).
TEST(QuantAccuracy, Fp8CheckpointQuantises) {
  test::TempDir d;
  const std::string out = d.str() + "/m2.gguf";
  auto [rc, log] = test::run_cmd(test::cli() + " quantize --model " + testdata("minimax_m2_tiny/model_fp8") +
                                 " --type f32 --out " + out + " 2>&1");
  ASSERT_EQ(rc, 0) << log;
  std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6};
  auto a = load_model(testdata("minimax_m2_tiny/model_fp8"));
  auto b = load_model(out);
  auto la = all_logits(*a, ids), lb = all_logits(*b, ids);
  for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], lb[i], 1e-5);
}

TEST(QuantAccuracy, BadQuantizeArgumentsFail) {
  test::TempDir d;
  EXPECT_NE(test::run_cmd(test::cli() + " quantize --model " + testdata("minimax_text01_tiny/model_f32") +
                          " --type q9_9 --out " + d.str() + "/x.gguf 2>&1").first, 0);
  EXPECT_NE(test::run_cmd(test::cli() + " quantize --model /nonexistent --type q8_0 --out " + d.str() + "/x.gguf 2>&1").first, 0);
}

}  // namespace
}  // namespace mm
