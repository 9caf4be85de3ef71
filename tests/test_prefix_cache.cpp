// The engine's prefix cache and KV budget: a request that shares a prefix with an earlier one resumes
// from the cached snapshot and produces exactly what it produces without the cache (--exact: the same
// tokens and the same log-probability bits; default math: the same greedy tokens), for Text-01
// (lightning states: exact snapshots at the prompt end, the generation end and every cache_interval
// positions) and M2 (KV only: any common prefix, the fork truncated). Hits are counted; a tiny cache
// evicts and stays correct; requests beyond --kv-ram are refused with a message, and admission waits
// for pages.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/engine.h"
#include "model/model.h"

using namespace mm;

namespace {

std::string testdata(const std::string& rel) { return std::string(MM_SHARED_DIR) + "/testdata/" + rel; }

std::vector<int32_t> ids(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, 300);  // within both models' vocabularies
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& t : v) t = d(rng);
  return v;
}

std::vector<int32_t> cat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

GenEvent ask(Engine& e, const std::vector<int32_t>& prompt, int64_t n = 5) {
  GenRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 0;
  r.max_tokens = n;
  r.top_logprobs = 2;
  GenEvent ev = e.submit(r)->wait_all();
  EXPECT_EQ(ev.finish, FinishReason::Length) << ev.error;
  return ev;
}

struct Case {
  const char* name;
  const char* model;
  bool exact;
};

class PrefixCacheTest : public ::testing::TestWithParam<Case> {};

EngineConfig config(bool exact, int64_t cache_mib) {
  EngineConfig c;
  c.n_parallel = 2;
  c.prefill_chunk = c.prefill_budget = 16;
  c.n_threads = 2;
  c.math = MathMode{exact ? QuantMath::Exact : QuantMath::Int8};
  c.kv_type = KvType::F32;
  c.cache_ram_mib = cache_mib;
  c.cache_interval = 16;
  return c;
}

void expect_same(const GenEvent& got, const GenEvent& want, bool exact) {
  ASSERT_EQ(got.tokens, want.tokens);
  ASSERT_EQ(got.logprobs.size(), want.logprobs.size());
  for (size_t j = 0; j < want.logprobs.size(); ++j) {
    if (exact) EXPECT_EQ(got.logprobs[j].logprob, want.logprobs[j].logprob) << j;  // the same bits
    else EXPECT_NEAR(got.logprobs[j].logprob, want.logprobs[j].logprob, 1e-3) << j;
  }
}

TEST_P(PrefixCacheTest, ResumedRequestsEqualUncached) {
  const Case c = GetParam();
  Engine cached(load_model(testdata(c.model)), nullptr, config(c.exact, 64));
  Engine plain(load_model(testdata(c.model)), nullptr, config(c.exact, 0));
  const bool lightning = std::string(c.name).find("text01") != std::string::npos;
  const auto p1 = ids(50, 1);
  const GenEvent a = ask(cached, p1);
  expect_same(a, ask(plain, p1), c.exact);
  EXPECT_EQ(a.n_cached, 0);
  // Turn 2: the conversation so far (prompt + the 4 output tokens that were run) + a new message.
  const auto p2 = cat(cat(p1, {a.tokens.begin(), a.tokens.end() - 1}), ids(20, 2));
  const GenEvent b = ask(cached, p2);
  EXPECT_EQ(b.n_cached, 54);
  expect_same(b, ask(plain, p2), c.exact);
  // A prompt that shares only the first 40 tokens: M2 resumes at 40 (KV truncated), Text-01 at the
  // last snapshot before it (every 16 positions: 32).
  const auto p3 = cat({p1.begin(), p1.begin() + 40}, ids(30, 3));
  const GenEvent d = ask(cached, p3);
  EXPECT_EQ(d.n_cached, lightning ? 32 : 40);
  expect_same(d, ask(plain, p3), c.exact);
  // The same prompt again: everything but its last token comes from the cache (Text-01: up to the
  // last interval snapshot, 64; its prompt-end snapshot is one token too long to give logits).
  const GenEvent e = ask(cached, p3);
  EXPECT_EQ(e.n_cached, lightning ? 64 : int64_t(p3.size()) - 1);
  expect_same(e, d, c.exact);
  const EngineMetrics m = cached.metrics();
  EXPECT_EQ(m.cache_hits, 3u);
  EXPECT_EQ(m.cache_misses, 1u);
  EXPECT_EQ(m.cached_tokens_total, uint64_t(54 + d.n_cached + e.n_cached));
  EXPECT_GT(m.cache_entries, 0);
  EXPECT_EQ(plain.metrics().cache_hits, 0u);
}

TEST_P(PrefixCacheTest, TinyCacheEvictsAndStaysCorrect) {
  const Case c = GetParam();
  // 1 MiB: a few snapshots of these tiny models at most.
  Engine cached(load_model(testdata(c.model)), nullptr, config(c.exact, 1));
  Engine plain(load_model(testdata(c.model)), nullptr, config(c.exact, 0));
  for (uint32_t i = 0; i < 6; ++i) {
    const auto p = ids(120, 10 + i % 3);  // three prompts, twice each
    expect_same(ask(cached, p), ask(plain, p), c.exact);
    EXPECT_LE(cached.metrics().cache_bytes, int64_t(1) << 20);
  }
}

// Prefill once, ask many times: one engine saves the cached state of a prompt to a file, a fresh engine
// restores it into its cache and answers a longer prompt from it, as an engine without cache does.
TEST_P(PrefixCacheTest, SavedStateServesAnotherEngine) {
  const Case c = GetParam();
  const std::string file = testing::TempDir() + "/prefix_" + c.name + ".state";
  const auto p1 = ids(50, 21), p2 = cat(p1, ids(15, 22));
  {
    Engine a(load_model(testdata(c.model)), nullptr, config(c.exact, 64));
    EXPECT_EQ(a.save_prefix(p1, file), 0);  // nothing cached yet: no file
    ask(a, p1);
    EXPECT_EQ(a.save_prefix(p1, file), 50);
  }
  Engine b(load_model(testdata(c.model)), nullptr, config(c.exact, 64));
  EXPECT_EQ(b.restore_prefix(file), 50);
  Engine plain(load_model(testdata(c.model)), nullptr, config(c.exact, 0));
  const GenEvent got = ask(b, p2);
  EXPECT_EQ(got.n_cached, 50);
  expect_same(got, ask(plain, p2), c.exact);
  EXPECT_THROW(plain.save_prefix(p1, file), Error);  // cache off
  EXPECT_THROW(b.restore_prefix(file + ".missing"), Error);
}

INSTANTIATE_TEST_SUITE_P(Models, PrefixCacheTest,
                         ::testing::Values(Case{"text01_exact", "minimax_text01_tiny/model_f32", true},
                                           Case{"text01_fast", "minimax_text01_tiny/model_f32", false},
                                           Case{"m2_exact", "gguf/minimax_m2/f32/model.gguf", true},
                                           Case{"m2_q8_0", "gguf/minimax_m2/q8_0/model.gguf", false}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(KvBudget, RefusesWhatCannotFitAndQueuesWhatMust) {
  EngineConfig c = config(false, 0);
  c.kv_ram_mib = 1;  // M2 tiny: 2 kv heads x 32 dims f32: 32 KiB pages, 32 of them (8 per layer, 512 tokens)
  Engine e(load_model(testdata("gguf/minimax_m2/f32/model.gguf")), nullptr, c);
  const EngineMetrics m0 = e.metrics();
  ASSERT_GT(m0.kv_pages_total, 0);
  const int64_t layers = 4;  // softmax layers of the tiny M2 (all four)
  const int64_t tokens_fit = m0.kv_pages_total / layers * 64;
  GenRequest big;
  big.prompt = ids(100, 4);
  big.max_tokens = tokens_fit;  // prompt + output past the budget
  try {
    e.submit(big);
    FAIL() << "accepted a request past --kv-ram";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("--kv-ram"), std::string::npos) << err.what();
  }
  // Two requests that each need most of the budget: the second waits for the first's pages.
  GenRequest r;
  r.prompt = ids(60, 5);
  r.sampling.temperature = 0;
  r.max_tokens = tokens_fit - 200;
  auto h1 = e.submit(r), h2 = e.submit(r);
  const GenEvent a = h1->wait_all(), b = h2->wait_all();
  EXPECT_EQ(a.finish, FinishReason::Length) << a.error;
  EXPECT_EQ(b.tokens, a.tokens);
  EXPECT_LE(e.metrics().kv_pages_used, m0.kv_pages_total);
}

}  // namespace
