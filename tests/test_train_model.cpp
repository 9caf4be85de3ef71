// The trainer's model: its logits equal the engine's on the same (exported) weights, and its
// whole-model gradient matches central finite differences, on tiny models of both architectures
// (GQA, partial RoPE, a sequence length that does not divide the lightning block, DeepNet α/β).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "grad_test_util.h"
#include "model/config.h"
#include "model/model.h"
#include "state/sequence_state.h"
#include "train/export.h"
#include "train/params.h"
#include "train/train_model.h"

namespace mm {
namespace {

nlohmann::ordered_json tiny_config(bool m2) {
  nlohmann::ordered_json c;
  c["architectures"] = {m2 ? "MiniMaxM2ForCausalLM" : "MiniMaxText01ForCausalLM"};
  c["model_type"] = m2 ? "minimax_m2" : "minimax_text_01";
  c["hidden_size"] = 24;
  c["intermediate_size"] = 10;
  c["num_hidden_layers"] = 3;
  c["num_attention_heads"] = 4;
  c["num_key_value_heads"] = 2;
  c["head_dim"] = 6;
  c["rotary_dim"] = 4;
  c["num_local_experts"] = 4;
  c["num_experts_per_tok"] = 2;
  c["vocab_size"] = 29;
  c["max_position_embeddings"] = 64;
  c["rope_theta"] = 10000.0;
  c["tie_word_embeddings"] = false;
  if (m2) {
    c["attn_type_list"] = {1, 1, 1};
    c["use_qk_norm"] = true;
    c["qk_norm_type"] = "per_layer";
    c["scoring_func"] = "sigmoid";
    c["use_routing_bias"] = true;
    c["rms_norm_eps"] = 1e-6;
  } else {
    c["attn_type_list"] = {0, 1, 0};
    c["block_size"] = 5;  // T = 7 below: blocks of 5 + 2
    c["postnorm"] = true;
    c["layernorm_linear_attention_alpha"] = 1.3;
    c["layernorm_linear_attention_beta"] = 0.8;
    c["layernorm_full_attention_alpha"] = 1.1;
    c["layernorm_full_attention_beta"] = 0.9;
    c["layernorm_mlp_alpha"] = 1.2;
    c["layernorm_mlp_beta"] = 0.7;
    c["rms_norm_eps"] = 1e-5;
  }
  return c;
}

struct Tiny {
  explicit Tiny(bool m2, float std = 0.3f) : json(tiny_config(m2)), cfg(parse_model_config(nlohmann::json::parse(json.dump()))), ps(cfg) {
    init_params(ps, cfg, std, 7);
    // Norm weights and the routing bias away from their init, so their gradients are exercised in general position.
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<float> u(-0.3f, 0.3f);
    for (Param& p : ps.all())
      if (p.spec.role == TensorRole::Norm)
        for (auto& x : p.w) x += u(rng);
    // M2: spread the routing biases so that no expert choice sits within the finite differences' step
    // of a tie (a flipped choice is a jump in the loss, not a derivative).
    for (Param& p : ps.all())
      if (p.spec.name.find("e_score_correction_bias") != std::string::npos)
        for (size_t e = 0; e < p.w.size(); ++e) p.w[e] = 0.4f * float(e);
  }
  nlohmann::ordered_json json;
  ModelConfig cfg;
  ParamSet ps;
};

const int64_t kSeq = 2, kT = 7;

std::vector<int32_t> tokens_of(int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(size_t(kSeq * kT));
  for (auto& x : t) x = int32_t(rng() % uint64_t(vocab));
  return t;
}

class TrainModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(TrainModelTest, LogitsEqualTheEngines) {
  Tiny m(GetParam());
  ExecContext ctx(2);
  TrainModel tm(m.cfg, m.ps, 0.0f);
  auto tok = tokens_of(m.cfg.vocab_size, 11);
  std::vector<int32_t> tgt(tok.size(), -1);
  std::vector<float> logits;
  tm.forward(ctx, {kSeq, kT, tok.data(), tgt.data()}, &logits);

  const auto dir = std::filesystem::temp_directory_path() / ("mm_train_export_" + std::to_string(GetParam()));
  export_hf_model(dir.string(), m.json, m.ps, DType::F32, "");
  auto model = load_model(dir.string());
  const int64_t V = m.cfg.vocab_size;
  for (int64_t s = 0; s < kSeq; ++s) {
    auto seq = model->new_sequence(kT);
    std::vector<float> el(size_t(kT * V));
    BatchItem it{seq.get(), tok.data() + s * kT, kT, el.data(), true};
    model->forward({&it, 1}, ctx);
    std::vector<float> mine(logits.begin() + s * kT * V, logits.begin() + (s + 1) * kT * V);
    test::expect_grad_near(mine, el, 1e-5, "trainer vs engine logits", 1e-6);
  }
  std::filesystem::remove_all(dir);
}

// L(w) = ce_mean + coef·aux; per tensor, the derivative along a random direction by central
// differences (the forward in float with h = 1e-3: error ~1e-4 relative) against g·u.
TEST_P(TrainModelTest, GradientMatchesFiniteDifferences) {
  Tiny m(GetParam());
  ExecContext ctx(2);
  // M2's aux loss chooses by softmax probabilities, not by the biased scores the routing uses, so the
  // biases above do not keep its choices away from ties: M2 runs without it here (the loss and its
  // gradient are checked on their own in test_grad_ops).
  const float coef = GetParam() ? 0.0f : 0.05f;
  TrainModel tm(m.cfg, m.ps, coef);
  auto tok = tokens_of(m.cfg.vocab_size, 12);
  auto tgt = tokens_of(m.cfg.vocab_size, 13);
  tgt[3] = -1;  // an ignored position
  const TrainBatch b{kSeq, kT, tok.data(), tgt.data()};
  m.ps.zero_grad();
  tm.forward_backward(ctx, b);
  auto loss = [&]() {
    LossParts l = tm.forward(ctx, b);
    return l.ce_mean() + double(coef) * l.aux;
  };
  int checked = 0;
  for (Param& p : m.ps.all()) {
    if (p.spec.name.find("e_score_correction_bias") != std::string::npos) {
      // The bias only chooses experts: no gradient flows to it.
      for (float g : p.g) EXPECT_EQ(g, 0.0f);
      continue;
    }
    auto u = test::randn(p.w.size(), 100 + checked);
    double gu = 0;
    for (size_t i = 0; i < u.size(); ++i) gu += double(p.g[i]) * u[i];
    const std::vector<float> w0 = p.w;
    const double h = 1e-3;
    for (size_t i = 0; i < u.size(); ++i) p.w[i] = float(w0[i] + h * u[i]);
    const double lp = loss();
    for (size_t i = 0; i < u.size(); ++i) p.w[i] = float(w0[i] - h * u[i]);
    const double lm = loss();
    p.w = w0;
    const double fd = (lp - lm) / (2 * h);
    EXPECT_NEAR(gu, fd, 2e-3 * std::max(1.0, std::abs(fd))) << p.spec.name;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

INSTANTIATE_TEST_SUITE_P(Archs, TrainModelTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "M2" : "Text01"; });

}  // namespace
}  // namespace mm
