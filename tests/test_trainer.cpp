// The training loop: a 50-step run on real text whose loss falls, a run stopped and resumed that
// repeats the uninterrupted run bit for bit, AdamW and the schedule by hand, and bad configs refused.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "convert/random_tokenizer.h"
#include "model/model.h"
#include "test_util.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace mm {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  Fixture() {
    dir = fs::temp_directory_path() / ("mm_trainer_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "tokenizer.json") << make_random_model_tokenizer(512, 200).dump();
    // Real English text that every Debian system has (the GPL's preamble and terms).
    const std::string text = test::read_bytes("/usr/share/common-licenses/GPL-3");
    std::ofstream(dir / "train.txt") << text.substr(0, 24000);
    std::ofstream(dir / "valid.txt") << text.substr(24000, 6000);
  }
  ~Fixture() { fs::remove_all(dir); }

  TrainOptions options(const std::string& out) const {
    nlohmann::json j;
    j["model"] = {{"architectures", {"MiniMaxText01ForCausalLM"}},
                  {"model_type", "minimax_text_01"},
                  {"hidden_size", 32},
                  {"intermediate_size", 32},
                  {"num_hidden_layers", 2},
                  {"num_attention_heads", 2},
                  {"num_key_value_heads", 1},
                  {"head_dim", 16},
                  {"rotary_dim", 8},
                  {"num_local_experts", 4},
                  {"num_experts_per_tok", 2},
                  {"vocab_size", 512},
                  {"max_position_embeddings", 4096},
                  {"attn_type_list", {0, 1}},
                  {"block_size", 16},
                  {"postnorm", true},
                  {"layernorm_full_attention_alpha", 1.5},
                  {"layernorm_linear_attention_alpha", 1.5},
                  {"layernorm_mlp_alpha", 1.5},
                  {"router_aux_loss_coef", 0.01}};
    j["train_file"] = (dir / "train.txt").string();
    j["valid_file"] = (dir / "valid.txt").string();
    j["tokenizer"] = (dir / "tokenizer.json").string();
    j["steps"] = 50;
    j["batch"] = 4;
    j["seq_len"] = 40;  // not a multiple of the lightning block
    j["lr"] = 3e-3;
    j["warmup"] = 5;
    j["log_every"] = 1;
    j["eval_every"] = 25;
    j["checkpoint_every"] = 0;
    TrainOptions o = train_options_from_json(j);
    o.out_dir = (dir / out).string();
    return o;
  }

  std::vector<nlohmann::json> log_lines(const std::string& out) const {
    std::vector<nlohmann::json> v;
    std::ifstream f(dir / out / "train_log.jsonl");
    for (std::string line; std::getline(f, line);) v.push_back(nlohmann::json::parse(line));
    return v;
  }

  fs::path dir;
};

double mean_loss(const std::vector<nlohmann::json>& log, int64_t from, int64_t to) {
  double s = 0;
  int n = 0;
  for (const auto& j : log)
    if (j.contains("loss") && j["step"] >= from && j["step"] <= to) s += j["loss"].get<double>(), ++n;
  return n ? s / n : NAN;
}

TEST(Trainer, FiftyStepsLowerTheLossAndExportALoadableModel) {
  Fixture fx;
  ExecContext ctx(2);
  TrainResult r = run_training(fx.options("run"), ctx, false, [](const std::string&) {});
  EXPECT_EQ(r.steps_done, 50);
  auto log = fx.log_lines("run");
  const double first = mean_loss(log, 1, 5), last = mean_loss(log, 46, 50);
  EXPECT_LT(last, first - 1.0) << "first steps " << first << ", last steps " << last;
  EXPECT_LT(first, std::log(512.0) + 0.5);  // starts near uniform
  EXPECT_GT(r.last_val_loss, 0);
  EXPECT_LT(r.last_val_loss, first);
  auto model = load_model((fx.dir / "run" / "model").string());
  EXPECT_EQ(model->config().vocab_size, 512);
  EXPECT_TRUE(fs::exists(fx.dir / "run" / "model" / "tokenizer.json"));
}

TEST(Trainer, StoppedAndResumedRunRepeatsTheUninterruptedOne) {
  Fixture fx;
  ExecContext ctx(2);
  TrainOptions a = fx.options("a"), b = fx.options("b");
  a.steps = b.steps = 12;
  a.eval_every = b.eval_every = 0;
  run_training(a, ctx, false, [](const std::string&) {});
  run_training(b, ctx, false, [](const std::string&) {}, /*stop_after=*/5);
  std::string resumed;
  run_training(b, ctx, false, [&](const std::string& s) { resumed += s; });
  EXPECT_NE(resumed.find("resuming"), std::string::npos);
  auto la = fx.log_lines("a"), lb = fx.log_lines("b");
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) {
    EXPECT_EQ(la[i]["step"], lb[i]["step"]);
    EXPECT_EQ(la[i]["loss"].get<double>(), lb[i]["loss"].get<double>()) << "step " << la[i]["step"];
  }
  EXPECT_EQ(test::read_bytes((fx.dir / "a" / "checkpoint.bin").string()),
            test::read_bytes((fx.dir / "b" / "checkpoint.bin").string()));
  // Resuming with a setting that shapes the run is refused, with the key named.
  TrainOptions c = fx.options("b");
  c.lr = 1e-2;
  try {
    run_training(c, ctx, false, [](const std::string&) {});
    FAIL() << "a changed lr was accepted on resume";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'lr'"), std::string::npos) << e.what();
  }
}

TEST(Trainer, AdamWStepAndScheduleByHand) {
  // One step from m = v = 0: m̂ = g, v̂ = g², so w ← w·(1 − lr·wd) − lr·g/(|g| + eps).
  ExecContext ctx(1);
  std::vector<Param> ps(2);
  for (auto& p : ps) {
    p.numel = 2;
    p.w = {1.0f, -2.0f};
    p.g = {0.5f, -4.0f};
    p.m = p.v = {0.0f, 0.0f};
  }
  ps[1].decay = false;
  const AdamW opt{0.9, 0.95, 1e-8, 0.1};
  EXPECT_NEAR(clip_grad_norm(ps, 0.0), std::sqrt(2 * (0.25 + 16.0)), 1e-12);  // 0: measure only
  adamw_step(ctx, ps, opt, 0.01, 1);
  EXPECT_NEAR(ps[0].w[0], 1.0 * (1 - 0.001) - 0.01 * 0.5 / (0.5 + 1e-8), 1e-7);
  EXPECT_NEAR(ps[0].w[1], -2.0 * (1 - 0.001) + 0.01, 1e-7);
  EXPECT_NEAR(ps[1].w[0], 1.0 - 0.01, 1e-7);
  EXPECT_NEAR(ps[0].m[0], 0.05, 1e-7);
  EXPECT_NEAR(ps[0].v[1], 0.05 * 16.0, 1e-6);
  // Clipping scales every gradient by max / norm.
  const double n = clip_grad_norm(ps, 1.0);
  EXPECT_GT(n, 1.0);
  EXPECT_NEAR(clip_grad_norm(ps, 0.0), 1.0, 1e-6);
  LrSchedule s{1.0, 0.1, 4, 14};
  EXPECT_DOUBLE_EQ(s.at(0), 0.25);
  EXPECT_DOUBLE_EQ(s.at(3), 1.0);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);                             // cosine starts at the peak
  EXPECT_NEAR(s.at(9), 0.1 + 0.9 * 0.5, 1e-12);               // halfway: the mean of peak and floor
  EXPECT_NEAR(s.at(14), 0.1, 1e-12);                          // the floor
}

TEST(Trainer, BadConfigsAreRefusedWithTheKey) {
  nlohmann::json j = {{"model", {{"hidden_size", 8}}}, {"stpes", 3}};
  try {
    train_options_from_json(j);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stpes"), std::string::npos);
  }
  j = {{"model", {{"hidden_size", 8}}}, {"batch", 0}};
  EXPECT_THROW(train_options_from_json(j), Error);
  j = {{"model", {{"hidden_size", 8}}}, {"lr", "fast"}};
  EXPECT_THROW(train_options_from_json(j), Error);
  EXPECT_THROW(train_options_from_json(nlohmann::json::array()), Error);
  EXPECT_THROW(train_options_from_json(nlohmann::json{{"steps", 3}}), Error);  // no model
}

}  // namespace
}  // namespace mm
