// `minimax perplexity`: a model whose logits are all equal has perplexity = vocab_size exactly (hand
// computation), and on a trained-like random model the score equals the mean NLL that the trainer's
// own forward computes over the same chunks (a second implementation); bad input exits non-zero.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "convert/random_tokenizer.h"
#include "model/config.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/export.h"
#include "train/params.h"
#include "train/train_model.h"

namespace mm {
namespace {

nlohmann::ordered_json config() {
  return nlohmann::ordered_json{{"architectures", {"MiniMaxText01ForCausalLM"}},
                                {"model_type", "minimax_text_01"},
                                {"hidden_size", 32},
                                {"intermediate_size", 16},
                                {"num_hidden_layers", 2},
                                {"num_attention_heads", 2},
                                {"num_key_value_heads", 1},
                                {"head_dim", 16},
                                {"rotary_dim", 8},
                                {"num_local_experts", 2},
                                {"num_experts_per_tok", 1},
                                {"vocab_size", 300},
                                {"max_position_embeddings", 256},
                                {"attn_type_list", {0, 1}},
                                {"postnorm", true}};
}

struct PplModel {
  PplModel(bool flat) : cfg(parse_model_config(nlohmann::json::parse(config().dump()))), ps(cfg) {
    init_params(ps, cfg, 0.2, 5);
    if (flat) std::fill(ps.at("lm_head.weight").w.begin(), ps.at("lm_head.weight").w.end(), 0.0f);
    std::ofstream(dir.path / "tok.json") << make_random_model_tokenizer(300, 30).dump();
    export_hf_model((dir.path / "m").string(), config(), ps, DType::F32, (dir.path / "tok.json").string());
    std::ofstream(dir.path / "text.txt") << test::read_bytes("/usr/share/common-licenses/GPL-3").substr(0, 3000);
  }
  std::pair<int, nlohmann::json> run(const std::string& extra) {
    auto [rc, out] = test::run_cmd(test::cli() + " perplexity --model " + (dir.path / "m").string() + " --file " +
                                   (dir.path / "text.txt").string() + " --json " + extra + " 2>/dev/null");
    return {rc, rc == 0 ? nlohmann::json::parse(out) : nlohmann::json()};
  }
  test::TempDir dir;
  ModelConfig cfg;
  ParamSet ps;
};

TEST(PerplexityCli, UniformModelScoresVocabSize) {
  PplModel s(true);
  auto [rc, j] = s.run("--ctx 32");
  ASSERT_EQ(rc, 0);
  EXPECT_NEAR(j["perplexity"].get<double>(), 300.0, 300.0 * 1e-6);
  EXPECT_NEAR(j["bits_per_token"].get<double>(), std::log2(300.0), 1e-6);
  const double n = j["n_scored"].get<double>(), bytes = j["bytes_scored"].get<double>();
  EXPECT_EQ(n, double(j["n_chunks"].get<int64_t>() * (32 - 1 - 16)));
  EXPECT_NEAR(j["bits_per_byte"].get<double>(), n * std::log2(300.0) / bytes, 1e-9);
}

TEST(PerplexityCli, EqualsTheTrainersForwardOverTheSameChunks) {
  PplModel s(false);
  const int64_t C = 40;
  auto [rc, j] = s.run("--ctx 40 --max-chunks 3");
  ASSERT_EQ(rc, 0);
  auto tok = Tokenizer::from_file((s.dir.path / "tok.json").string());
  auto ids = tok->encode(test::read_bytes((s.dir.path / "text.txt").string()), false);
  ExecContext ctx(2);
  TrainModel tm(s.cfg, s.ps, 0.0f);
  std::vector<int32_t> targets(size_t(3 * C), -1);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t t = C / 2; t < C - 1; ++t) targets[size_t(c * C + t)] = ids[size_t(c * C + t + 1)];
  LossParts l = tm.forward(ctx, {3, C, ids.data(), targets.data()});
  EXPECT_EQ(j["n_scored"].get<int64_t>(), l.n_counted);
  EXPECT_NEAR(j["nll_mean"].get<double>(), l.ce_mean(), 1e-4);
}

TEST(PerplexityCli, BadInputIsAnError) {
  PplModel s(true);
  EXPECT_NE(s.run("--ctx 100000").first, 0);  // beyond max_position_embeddings
  EXPECT_NE(s.run("--ctx 2").first, 0);
  std::ofstream(s.dir.path / "text.txt", std::ios::trunc) << "too short";
  EXPECT_NE(s.run("--ctx 64").first, 0);
  std::ofstream(s.dir.path / "text.txt", std::ios::trunc);
  EXPECT_NE(s.run("").first, 0);
}

}  // namespace
}  // namespace mm
