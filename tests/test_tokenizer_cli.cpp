// The tokenize / detokenize / bench-tokenizer subcommands, run as a user would.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

const std::string kTok = std::string(MM_SHARED_DIR) + "/testdata/tokenizers/qwen3/tokenizer.json";

struct Result {
  int rc;
  std::string out;
};

Result run(const std::string& args) {
  std::string cmd = std::string(MM_CLI_PATH) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

TEST(TokenizerCli, TokenizeText) {
  Result r = run("tokenize --tokenizer " + kTok + " --text 'Hello world<|im_start|>'");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "{\"ids\": [9707, 1879, 151644]}\n");
}

TEST(TokenizerCli, TokenizeJsonl) {
  std::string path = testing::TempDir() + "/tok_in.jsonl";
  std::ofstream(path) << "{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n{\"text\": \"Hello  world\"}\n";
  Result r = run("tokenize --tokenizer " + kTok + " --jsonl " + path);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "{\"ids\": [9707, 1879]}\n{\"ids\": []}\n{\"ids\": [9707, 220, 1879]}\n");
}

TEST(TokenizerCli, Detokenize) {
  Result r = run("detokenize --tokenizer " + kTok + " --ids 9707,1879,151644");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(nlohmann::json::parse(r.out)["text"], "Hello world<|im_start|>");
}

TEST(TokenizerCli, ErrorsExitNonZero) {
  EXPECT_NE(run("tokenize --tokenizer /nonexistent.json --text x").rc, 0);
  EXPECT_NE(run("detokenize --tokenizer " + kTok + " --ids 1,99999999").rc, 0);
  EXPECT_NE(run("detokenize --tokenizer " + kTok + " --ids 1,x").rc, 0);
  std::string bad = testing::TempDir() + "/tok_bad.jsonl";
  std::ofstream(bad) << "{not json\n";
  EXPECT_NE(run("tokenize --tokenizer " + kTok + " --jsonl " + bad).rc, 0);
  std::string bad_tok = testing::TempDir() + "/tok_bad.json";
  std::ofstream(bad_tok) << "{\"model\": ";
  EXPECT_NE(run("tokenize --tokenizer " + bad_tok + " --text x").rc, 0);
}

TEST(TokenizerCli, BenchPrintsJson) {
  std::string text = testing::TempDir() + "/tok_bench.txt";
  {
    std::ofstream f(text);
    for (int i = 0; i < 2000; ++i) f << "The quick brown fox " << i << " jumps over the lazy dog.\n";
  }
  Result r = run("bench-tokenizer --tokenizer " + kTok + " --text-file " + text + " --threads 2 --json");
  ASSERT_EQ(r.rc, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["single_thread_mb_s"].get<double>(), 0);
  EXPECT_GT(j["batch_mb_s"].get<double>(), 0);
  EXPECT_EQ(j["threads"], 2);
  EXPECT_TRUE(j["batch_consistent"].get<bool>());
}

}  // namespace
