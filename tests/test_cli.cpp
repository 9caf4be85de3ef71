// The CLI forms that outside checks use: logits, generate, init, info.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "test_util.h"

namespace mm {
namespace {

using test::cli;
using test::run_cmd;
using test::testdata;

std::string join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

TEST(Cli, LogitsWithPrefillSplitMatchesGolden) {
  auto g = test::read_json(testdata("minimax_text01_tiny/golden.json"));
  auto ids = test::ids_of(g["prompt_ids"]);
  const int n_pre = g["decode"]["prefill_len"].get<int>();
  auto [rc, out] = run_cmd(cli() + " logits --model " + testdata("minimax_text01_tiny/model_bf16") + " --ids " +
                           join(ids) + " --prefill " + std::to_string(n_pre) + " --kv-type f32");  // the golden's f32 KV
  ASSERT_EQ(rc, 0);
  auto logits = nlohmann::json::parse(out)["logits"];
  ASSERT_EQ(logits.size(), ids.size());
  double mx = 0;
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t v = 0; v < logits[t].size(); ++v)
      mx = std::max(mx, std::fabs(logits[t][v].get<double>() - g["prefill"]["logits"][t][v].get<double>()));
  EXPECT_LT(mx, 1e-4);
}

// `--exact` on a block-format GGUF: decode positions reproduce the golden (exact f32 path) to 1e-4; the
// default int8-activation decode is close but not that close.
TEST(Cli, LogitsExactFlagOnGguf) {
  const std::string dir = testdata("gguf/minimax_m2/q8_0");
  auto g = test::read_json(dir + "/golden.json");
  auto ids = test::ids_of(g["prompt_ids"]);
  ids.resize(12);
  auto max_diff = [&](const std::string& extra) {
    auto [rc, out] = run_cmd(cli() + " logits --model " + dir + "/model.gguf --ids " + join(ids) + " --prefill 4" + extra);
    EXPECT_EQ(rc, 0);
    auto logits = nlohmann::json::parse(out)["logits"];
    double mx = 0;
    for (size_t t = 0; t < ids.size(); ++t)
      for (size_t v = 0; v < logits[t].size(); ++v)
        mx = std::max(mx, std::fabs(logits[t][v].get<double>() - g["prefill"]["logits"][t][v].get<double>()));
    return mx;
  };
  EXPECT_LT(max_diff(" --exact"), 1e-4);
  const double int8 = max_diff("");
  EXPECT_GT(int8, 1e-4);
  EXPECT_LT(int8, 6.5);
}

TEST(Cli, GenerateGreedyJson) {
  auto g = test::read_json(testdata("minimax_text01_tiny/golden.json"));
  auto [rc, out] = run_cmd(cli() + " generate --model " + testdata("minimax_text01_tiny/model_f32") + " --ids " +
                           join(test::ids_of(g["prompt_ids"])) + " -n 12 --temp 0 --json");
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(nlohmann::json::parse(out)["ids"], g["greedy"]["tokens"]);
}

TEST(Cli, GenerateSeededSamplingIsReproducible) {
  std::string cmd = cli() + " generate --model " + testdata("minimax_text01_tiny/model_f32") +
                    " --ids 1,2,3 -n 10 --temp 1 --top-k 40 --top-p 0.9 --json --seed ";
  auto a = run_cmd(cmd + "5"), b = run_cmd(cmd + "5"), c = run_cmd(cmd + "6");
  ASSERT_EQ(a.first, 0);
  EXPECT_EQ(a.second, b.second);
  EXPECT_NE(a.second, c.second);
}

TEST(Cli, InitMakesALoadableModel) {
  test::TempDir d;
  auto [rc, out] = run_cmd(cli() + " init --like text-01 --out " + d.str() +
                           " --hidden 64 --layers 3 --heads 2 --head-dim 16 --experts 4 --inter 32 --vocab 100"
                           " --softmax-every 2 --seed 3 2>&1");
  ASSERT_EQ(rc, 0) << out;
  auto info = run_cmd(cli() + " info --json --model " + d.str());
  ASSERT_EQ(info.first, 0) << info.second;
  auto j = nlohmann::json::parse(info.second);
  EXPECT_EQ(j["lightning_layers"], 2);
  EXPECT_EQ(j["softmax_layers"], 1);
  auto gen = run_cmd(cli() + " generate --model " + d.str() + " --ids 5,6,7 -n 5 --json");
  ASSERT_EQ(gen.first, 0);
  EXPECT_EQ(nlohmann::json::parse(gen.second)["ids"].size(), 5u);
  // Same seed, same weights: two inits are byte-identical.
  test::TempDir d2;
  run_cmd(cli() + " init --like text-01 --out " + d2.str() +
          " --hidden 64 --layers 3 --heads 2 --head-dim 16 --experts 4 --inter 32 --vocab 100 --softmax-every 2"
          " --seed 3 2>&1");
  auto cmp = run_cmd("cmp " + d.str() + "/model.safetensors " + d2.str() + "/model.safetensors");
  EXPECT_EQ(cmp.first, 0);
}

// NaN weights (a corrupt file that is still well formed) give NaN logits: `logits` prints valid JSON
// (null for them), says what is wrong and exits non-zero, instead of bare `nan` and exit 0.
TEST(Cli, NonFiniteLogitsAreAnErrorAndStillJson) {
  test::TempDir d;
  auto [rc, out] = run_cmd(cli() + " init --like m2 --out " + d.str() +
                           " --hidden 64 --layers 2 --heads 2 --kv-heads 1 --head-dim 16 --experts 4 --inter 32"
                           " --vocab 100 --dtype f32 --seed 3 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const std::string st = d.str() + "/model.safetensors";
  std::string bytes = test::read_bytes(st);
  uint64_t n_header;
  std::memcpy(&n_header, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, size_t(n_header)));
  const auto off = header.at("model.norm.weight").at("data_offsets");
  const float nan = std::nanf("");
  for (uint64_t b = off[0].get<uint64_t>(); b < off[1].get<uint64_t>(); b += 4)
    std::memcpy(bytes.data() + 8 + n_header + b, &nan, 4);
  {
    std::ofstream f(st, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
  }
  auto [rc2, out2] = run_cmd(cli() + " logits --model " + d.str() + " --ids 1,2,3 2>" + d.str() + "/err.txt");
  EXPECT_NE(rc2, 0);
  auto j = nlohmann::json::parse(out2);  // valid JSON
  ASSERT_EQ(j["logits"].size(), 3u);
  EXPECT_TRUE(j["logits"][0][0].is_null());
  EXPECT_NE(test::read_bytes(d.str() + "/err.txt").find("NaN or infinite"), std::string::npos);
}

TEST(Cli, BadArgumentsExitNonZero) {
  EXPECT_NE(run_cmd(cli() + " logits --model /nonexistent --ids 1 2>&1").first, 0);
  EXPECT_NE(run_cmd(cli() + " logits --ids 1 2>&1").first, 0);
  EXPECT_NE(run_cmd(cli() + " generate --model " + testdata("minimax_text01_tiny/model_f32") + " --ids 1,x 2>&1").first, 0);
  EXPECT_NE(run_cmd(cli() + " generate --bogus 1 2>&1").first, 0);
  EXPECT_NE(run_cmd(cli() + " nosuchcommand 2>&1").first, 0);
}

}  // namespace
}  // namespace mm

namespace mm {
namespace {

TEST(Cli, GeneratePromptStreamsTextOfTheIds) {
  const std::string model = test::testdata("minimax_text01_tiny/model_bf16");
  auto [rc, out] = test::run_cmd(test::cli() + " generate --model " + model +
                                 " --prompt 'Hello world' -n 12 --ignore-eos --json");
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["ids"].size(), 12u);
  // The streamed text is the detokenisation of the generated ids.
  std::string ids;
  for (const auto& v : j["ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(v.get<int>());
  auto [rc2, out2] = test::run_cmd(test::cli() + " detokenize --tokenizer " + model + "/tokenizer.json --ids " + ids);
  ASSERT_EQ(rc2, 0);
  EXPECT_EQ(nlohmann::json::parse(out2)["text"], j["text"]);
  // The prompt is tokenized exactly as `tokenize` does: greedy continuation equals the ids path.
  auto [rc3, out3] = test::run_cmd(test::cli() + " tokenize --tokenizer " + model + "/tokenizer.json --text 'Hello world'");
  ASSERT_EQ(rc3, 0);
  std::string pids;
  const auto prompt_ids = nlohmann::json::parse(out3)["ids"];
  for (const auto& v : prompt_ids) pids += (pids.empty() ? "" : ",") + std::to_string(v.get<int>());
  auto [rc4, out4] = test::run_cmd(test::cli() + " generate --model " + model + " --ids " + pids + " -n 12 --json");
  ASSERT_EQ(rc4, 0);
  EXPECT_EQ(nlohmann::json::parse(out4)["ids"], j["ids"]);
}

// A GGUF file is a whole model: --prompt uses the tokenizer stored in it (no --tokenizer), and
// `tokenize --tokenizer FILE.gguf` reads the same one.
TEST(Cli, GgufCarriesItsTokenizer) {
  const std::string model = test::testdata("gguf/minimax_m2/q8_0/model.gguf");
  auto [rc, out] = test::run_cmd(test::cli() + " generate --model " + model + " --prompt 'Hello world' -n 6 --ignore-eos --json");
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["ids"].size(), 6u);
  auto [rc2, out2] = test::run_cmd(test::cli() + " tokenize --tokenizer " + model + " --text 'Hello world'");
  ASSERT_EQ(rc2, 0) << out2;
  std::string pids;
  const auto prompt_ids = nlohmann::json::parse(out2)["ids"];
  for (const auto& v : prompt_ids) pids += (pids.empty() ? "" : ",") + std::to_string(v.get<int>());
  auto [rc3, out3] = test::run_cmd(test::cli() + " generate --model " + model + " --ids " + pids + " -n 6 --json");
  ASSERT_EQ(rc3, 0) << out3;
  EXPECT_EQ(nlohmann::json::parse(out3)["ids"], j["ids"]);
}

TEST(Cli, ChatOneShotAndInteractive) {
  for (const char* m : {"minimax_text01_tiny/model_bf16", "minimax_m2_tiny/model_bf16"}) {
    auto [rc, out] = test::run_cmd(test::cli() + " chat --model " + test::testdata(m) + " --prompt hi -n 8");
    EXPECT_EQ(rc, 0) << out;
    auto [rc2, out2] = test::run_cmd("printf 'hello\\nagain\\n' | " + test::cli() + " chat --model " + test::testdata(m) + " -n 4");
    EXPECT_EQ(rc2, 0) << out2;
  }
  auto [rc3, out3] = test::run_cmd(test::cli() + " chat --model " + test::testdata("gguf/minimax_text01/hf") + " --prompt hi 2>&1");
  EXPECT_NE(rc3, 0);
  EXPECT_NE(out3.find("tokenizer.json"), std::string::npos) << out3;
}

}  // namespace
}  // namespace mm
