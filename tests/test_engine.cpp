// Engine: continuous batching against the tiny Text-01 model (batched == alone, chunked prefill,
// cancellation, queue limit, stop strings / tokens, max_tokens, seeded sampling).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

using namespace mm;
using namespace std::chrono_literals;

namespace {

const std::string kModel = std::string(MM_SHARED_DIR) + "/testdata/minimax_text01_tiny/model_bf16";

const Tokenizer& tok() {
  static auto t = Tokenizer::from_file(kModel + "/tokenizer.json");
  return *t;
}

std::unique_ptr<Engine> make_engine(EngineConfig cfg) { return std::make_unique<Engine>(load_model(kModel), &tok(), cfg); }

// Reference: plain sequential greedy decoding with the model, no engine.
std::vector<int32_t> reference_greedy(const std::vector<int32_t>& prompt, int64_t n) {
  static auto model = load_model(kModel);
  ExecContext ctx;
  auto seq = model->new_sequence(0);
  std::vector<float> logits(size_t(model->config().vocab_size));
  BatchItem it{seq.get(), prompt.data(), int64_t(prompt.size()), logits.data(), false};
  model->forward({&it, 1}, ctx);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(argmax(logits));
    BatchItem st{seq.get(), &out.back(), 1, logits.data(), false};
    model->forward({&st, 1}, ctx);
  }
  return out;
}

GenRequest greedy(const std::string& text, int64_t n) {
  GenRequest r;
  r.prompt = tok().encode(text);
  r.sampling.temperature = 0;
  r.max_tokens = n;
  return r;
}

std::vector<std::string> prompts() {
  std::vector<std::string> p = {"Hello", "The quick brown fox", "1 2 3 4 5", "a", "What is the capital of France?",
                                "zzz yyy xxx", "tool calls <think>", "Once upon a time, in a land far away"};
  std::string long_prompt;
  for (int i = 0; i < 30; ++i) long_prompt += "word" + std::to_string(i) + " ";
  p.push_back(long_prompt);  // > several prefill chunks of 16
  return p;
}

}  // namespace

TEST(Engine, GreedyBatchedEqualsAloneAndReference) {
  const int64_t n = 24;
  auto ps = prompts();
  std::vector<std::vector<int32_t>> alone;
  {
    EngineConfig cfg;
    cfg.n_parallel = 1;
    cfg.prefill_chunk = 16;
    cfg.prefill_budget = 16;
    auto eng = make_engine(cfg);
    for (auto& p : ps) {
      auto ev = eng->submit(greedy(p, n))->wait_all();
      ASSERT_EQ(ev.finish, FinishReason::Length);
      ASSERT_EQ(ev.n_generated, n);
      EXPECT_EQ(ev.tokens, reference_greedy(tok().encode(p), n)) << p;
      EXPECT_EQ(ev.text, tok().decode(ev.tokens));
      alone.push_back(ev.tokens);
    }
  }
  // All at once: 4 slots, the rest queued; prefill chunks of 16 interleave with decoding.
  EngineConfig cfg;
  cfg.n_parallel = 4;
  cfg.prefill_chunk = 16;
  cfg.prefill_budget = 32;
  auto eng = make_engine(cfg);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (auto& p : ps) hs.push_back(eng->submit(greedy(p, n)));
  for (size_t i = 0; i < hs.size(); ++i) {
    auto ev = hs[i]->wait_all();
    EXPECT_EQ(ev.tokens, alone[i]) << ps[i];
  }
  auto m = eng->metrics();
  EXPECT_EQ(m.requests_ok, ps.size());
  EXPECT_EQ(m.generated_tokens_total, ps.size() * size_t(n));
  EXPECT_LT(m.steps_total, ps.size() * size_t(n));  // really batched
}

TEST(Engine, SeededSamplingIsReproducibleAndBatchIndependent) {
  EngineConfig cfg;
  cfg.n_parallel = 3;
  auto eng = make_engine(cfg);
  auto req = [&](uint64_t seed) {
    GenRequest r = greedy("Hello world", 20);
    r.sampling.temperature = 1.0f;
    r.sampling.top_k = 40;
    r.sampling.seed = seed;
    return r;
  };
  auto a = eng->submit(req(7))->wait_all().tokens;
  auto h1 = eng->submit(req(7));
  auto h2 = eng->submit(req(8));
  auto h3 = eng->submit(greedy("other", 20));
  EXPECT_EQ(h1->wait_all().tokens, a);
  EXPECT_NE(h2->wait_all().tokens, a);
  h3->wait_all();
}

TEST(Engine, StreamingEventsConcatenateToTheWhole) {
  auto eng = make_engine({});
  // Long enough (~tens of ms on the tiny model) that a consumer waiting in next() sees the output in
  // several events even when it loses its core for a while (30 tokens were sometimes one merged event).
  constexpr size_t kTokens = 400;
  auto h = eng->submit(greedy("The quick brown fox", int64_t(kTokens)));
  std::string text;
  std::vector<int32_t> toks;
  int n_events = 0;
  for (;;) {
    auto ev = h->next(5000ms);
    ASSERT_TRUE(ev.has_value());
    text += ev->text;
    toks.insert(toks.end(), ev->tokens.begin(), ev->tokens.end());
    ++n_events;
    if (ev->done) break;
  }
  EXPECT_GT(n_events, 1);
  EXPECT_EQ(toks.size(), kTokens);
  EXPECT_EQ(text, tok().decode(toks));
}

TEST(Engine, StopStringsAndStopTokens) {
  auto eng = make_engine({});
  auto full = eng->submit(greedy("Once upon a time", 40))->wait_all();
  ASSERT_GE(full.text.size(), 12u);
  // A stop string taken from the middle of the output: the output ends right before it.
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  const size_t at = full.text.find(stop);
  GenRequest r = greedy("Once upon a time", 40);
  r.stop = {"\x01never", stop};
  auto ev = eng->submit(r)->wait_all();
  EXPECT_EQ(ev.finish, FinishReason::Stop);
  EXPECT_EQ(ev.stop_string, stop);
  EXPECT_EQ(ev.text, full.text.substr(0, at));
  // Streaming with the stop string: the pieces never contain it.
  auto h = eng->submit(r);
  std::string streamed;
  for (;;) {
    auto e = h->next(5000ms);
    ASSERT_TRUE(e);
    streamed += e->text;
    if (e->done) break;
  }
  EXPECT_EQ(streamed, ev.text);
  // An end token: output stops there, the token is counted but not shown.
  GenRequest r2 = greedy("Once upon a time", 40);
  r2.stop_ids = {full.tokens[5]};
  const size_t first = size_t(std::find(full.tokens.begin(), full.tokens.end(), full.tokens[5]) - full.tokens.begin());
  auto ev2 = eng->submit(r2)->wait_all();
  EXPECT_EQ(ev2.finish, FinishReason::Stop);
  EXPECT_EQ(ev2.stop_token, full.tokens[5]);
  EXPECT_EQ(ev2.n_generated, int64_t(first + 1));
  EXPECT_EQ(ev2.text, tok().decode(std::span(full.tokens).subspan(0, first)));
}

TEST(Engine, CancellationFreesTheSlot) {
  EngineConfig cfg;
  cfg.n_parallel = 1;
  auto eng = make_engine(cfg);
  auto h = eng->submit(greedy("Hello", 3000));
  ASSERT_TRUE(h->next(5000ms).has_value());  // running
  auto waiting = eng->submit(greedy("Hi", 5));
  h->cancel();
  auto last = h->wait_all();
  EXPECT_EQ(last.finish, FinishReason::Cancelled);
  EXPECT_LT(last.n_generated, 3000);
  auto ev = waiting->wait_all();  // got the slot
  EXPECT_EQ(ev.finish, FinishReason::Length);
  auto m = eng->metrics();
  EXPECT_EQ(m.requests_cancelled, 1u);
  EXPECT_EQ(m.slots_busy, 0);
}

TEST(Engine, QueueFullIsRefused) {
  EngineConfig cfg;
  cfg.n_parallel = 1;
  cfg.max_queue = 1;
  auto eng = make_engine(cfg);
  auto a = eng->submit(greedy("Hello", 3000));
  ASSERT_TRUE(a->next(5000ms).has_value());  // a holds the slot
  auto b = eng->submit(greedy("Hello", 3));  // waits
  EXPECT_THROW(eng->submit(greedy("Hello", 3)), QueueFullError);
  EXPECT_EQ(eng->metrics().requests_rejected, 1u);
  EXPECT_EQ(eng->metrics().queue_depth, 1);
  b->cancel();
  a->cancel();
  EXPECT_EQ(a->wait_all().finish, FinishReason::Cancelled);
  EXPECT_EQ(b->wait_all().finish, FinishReason::Cancelled);
  EXPECT_EQ(eng->submit(greedy("Hello", 2))->wait_all().n_generated, 2);
}

TEST(Engine, ValidationErrors) {
  EngineConfig cfg;
  cfg.n_ctx = 64;
  auto eng = make_engine(cfg);
  EXPECT_EQ(eng->n_ctx(), 64);
  GenRequest empty;
  EXPECT_THROW(eng->submit(empty), Error);
  EXPECT_THROW(eng->submit(greedy("a", 0)), Error);
  EXPECT_THROW(eng->submit(greedy("a b", 63)), Error);  // 2 + 63 > 64
  std::string longp;
  for (int i = 0; i < 80; ++i) longp += "x" + std::to_string(i);
  EXPECT_THROW(eng->submit(greedy(longp, 1)), Error);
  GenRequest bad = greedy("a", 2);
  bad.prompt[0] = 100000;
  EXPECT_THROW(eng->submit(bad), Error);
  GenRequest st = greedy("a", 2);
  st.stop = {""};
  EXPECT_THROW(eng->submit(st), Error);
  EXPECT_EQ(eng->submit(greedy("a", 3))->wait_all().n_generated, 3);
}

TEST(Engine, Logprobs) {
  auto eng = make_engine({});
  GenRequest r = greedy("Hello", 5);
  r.top_logprobs = 3;
  auto ev = eng->submit(r)->wait_all();
  ASSERT_EQ(ev.logprobs.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const auto& lp = ev.logprobs[i];
    EXPECT_EQ(lp.id, ev.tokens[i]);
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].first, lp.id);  // greedy picks the most likely
    EXPECT_FLOAT_EQ(lp.top[0].second, lp.logprob);
    EXPECT_LE(lp.logprob, 0.0f);
    EXPECT_GE(lp.top[0].second, lp.top[1].second);
  }
}
