// Batch invariance through the engine: 64 temperature-0 requests sent at once (continuous batching,
// up to 16 decode rows per step, prefill chunks interleaved with decoding) give every request exactly
// the tokens and the log-probabilities it gets alone, on the GGUF block formats (q8_0 / q4_k_m with the
// default int8 arithmetic, and --exact) of both architectures. (Float weights are not batch-invariant
// yet: ops/matmul.h.)
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "minimax/text.h"
#include "model/model.h"

using namespace mm;

namespace {

struct Case {
  const char* name;
  const char* model;      // relative to ../shared/testdata
  const char* tokenizer;  // ditto ("" = the model file's own)
  bool exact;
};

std::string testdata(const std::string& rel) { return std::string(MM_SHARED_DIR) + "/testdata/" + rel; }

// 64 prompts of 1..40 tokens (a few over two prefill chunks), fixed pseudo-random ids.
std::vector<std::vector<int32_t>> prompts(int64_t vocab) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> id(0, int32_t(std::min<int64_t>(vocab, 1000)) - 1);
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < 64; ++i) {
    std::vector<int32_t> p(size_t(1 + (i * 7) % 40));
    for (auto& t : p) t = id(rng);
    out.push_back(p);
  }
  return out;
}

class BatchInvariance : public ::testing::TestWithParam<Case> {};

TEST_P(BatchInvariance, SixtyFourAtOnceEqualEachAlone) {
  const Case c = GetParam();
  const std::string model_path = testdata(c.model);
  auto tok = *c.tokenizer ? load_tokenizer_file(testdata(c.tokenizer)) : load_tokenizer_file(model_path);
  auto run = [&](int64_t n_parallel, bool all_at_once, const std::vector<std::vector<int32_t>>& ps) {
    EngineConfig cfg;
    cfg.n_parallel = n_parallel;
    cfg.max_queue = 128;
    cfg.prefill_chunk = 16;
    cfg.prefill_budget = 48;
    cfg.n_threads = 2;
    cfg.math = MathMode{c.exact ? QuantMath::Exact : QuantMath::Int8};
    Engine eng(load_model(model_path), tok.get(), cfg);
    std::vector<GenEvent> out;
    auto request = [&](const std::vector<int32_t>& p) {
      GenRequest r;
      r.prompt = p;
      r.sampling.temperature = 0;
      r.max_tokens = 6;
      r.top_logprobs = 2;
      return r;
    };
    if (all_at_once) {
      std::vector<std::shared_ptr<RequestHandle>> hs;
      for (const auto& p : ps) hs.push_back(eng.submit(request(p)));
      for (auto& h : hs) out.push_back(h->wait_all());
      EXPECT_LT(eng.metrics().steps_total, ps.size() * 6);  // really batched
    } else {
      for (const auto& p : ps) out.push_back(eng.submit(request(p))->wait_all());
    }
    return out;
  };
  const auto ps = prompts(load_model(model_path)->config().vocab_size);
  const auto alone = run(1, false, ps);
  const auto together = run(16, true, ps);
  ASSERT_EQ(alone.size(), together.size());
  int64_t n_checked = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i) + " (" + std::to_string(ps[i].size()) + " prompt tokens)");
    ASSERT_EQ(alone[i].finish, FinishReason::Length) << alone[i].error;
    ASSERT_EQ(together[i].tokens, alone[i].tokens);
    ASSERT_EQ(together[i].logprobs.size(), alone[i].logprobs.size());
    for (size_t j = 0; j < alone[i].logprobs.size(); ++j) {
      const auto &a = alone[i].logprobs[j], &b = together[i].logprobs[j];
      ASSERT_EQ(b.logprob, a.logprob) << "token " << j;  // the same bits, not merely close
      ASSERT_EQ(b.top, a.top) << "token " << j;
      ++n_checked;
    }
  }
  EXPECT_EQ(n_checked, 64 * 6);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, BatchInvariance,
    ::testing::Values(Case{"text01_q8_0", "gguf/minimax_text01/q8_0/model.gguf", "", false},
                      Case{"text01_q4_k_m", "gguf/minimax_text01/q4_k_m/model.gguf", "", false},
                      Case{"text01_q4_k_m_exact", "gguf/minimax_text01/q4_k_m/model.gguf", "", true},
                      Case{"m2_q8_0", "gguf/minimax_m2/q8_0/model.gguf", "", false},
                      Case{"m2_q4_k_m", "gguf/minimax_m2/q4_k_m/model.gguf", "", false}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
