// MiniMax-Text-01 forward pass against the independent float64 reference (golden.json).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "test_util.h"

namespace mm {
namespace {

using test::testdata;

constexpr double kAtol = 1e-4;

struct Golden {
  nlohmann::json j;
  std::vector<int32_t> prompt;
  int64_t vocab;
  explicit Golden(const std::string& path) : j(test::read_json(path)) {
    prompt = test::ids_of(j["prompt_ids"]);
    vocab = j["config"]["vocab_size"].get<int64_t>();
  }
};

const Golden& text01_golden() {
  static Golden g(testdata("minimax_text01_tiny/golden.json"));
  return g;
}

double max_abs_diff(const float* got, const nlohmann::json& want) {
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) m = std::max(m, std::fabs(double(got[i]) - want[i].get<double>()));
  return m;
}

// Feeds `ids` to a fresh sequence in the given chunk sizes (the rest in one final chunk); returns all
// logits [n, vocab].
std::vector<float> run_chunks(Model& m, const std::vector<int32_t>& ids, const std::vector<int64_t>& chunks) {
  ExecContext ctx;
  const int64_t V = m.config().vocab_size, n = int64_t(ids.size());
  std::vector<float> logits(static_cast<size_t>(n * V));
  auto seq = m.new_sequence(0);
  int64_t pos = 0;
  auto feed = [&](int64_t c) {
    BatchItem it{seq.get(), ids.data() + pos, c, logits.data() + pos * V, true};
    m.forward({&it, 1}, ctx);
    pos += c;
  };
  for (int64_t c : chunks)
    if (pos < n) feed(std::min(c, n - pos));
  if (pos < n) feed(n - pos);
  return logits;
}

void check_prefill(Model& m, const Golden& g) {
  auto logits = run_chunks(m, g.prompt, {});
  const auto& want = g.j["prefill"]["logits"];
  for (size_t t = 0; t < g.prompt.size(); ++t)
    ASSERT_LT(max_abs_diff(logits.data() + t * size_t(g.vocab), want[t]), kAtol) << "position " << t;
}

void check_decode_and_greedy(Model& m, const Golden& g) {
  ExecContext ctx;
  const int64_t V = g.vocab, n_pre = g.j["decode"]["prefill_len"].get<int64_t>();
  auto seq = m.new_sequence(0);
  std::vector<float> logits(static_cast<size_t>(V));
  BatchItem it{seq.get(), g.prompt.data(), n_pre, nullptr, false};
  m.forward({&it, 1}, ctx);
  const auto& want = g.j["decode"]["logits"];
  for (size_t j = 0; j < want.size(); ++j) {
    BatchItem step{seq.get(), g.prompt.data() + n_pre + j, 1, logits.data(), false};
    m.forward({&step, 1}, ctx);
    ASSERT_LT(max_abs_diff(logits.data(), want[j]), kAtol) << "decode step " << j;
  }
  // Greedy continuation from the full prompt (the sequence now holds all of it).
  std::vector<int32_t> want_tokens = test::ids_of(g.j["greedy"]["tokens"]);
  std::vector<int32_t> got;
  for (size_t i = 0; i < want_tokens.size(); ++i) {
    int32_t tok = argmax(logits);
    got.push_back(tok);
    BatchItem step{seq.get(), &got.back(), 1, logits.data(), false};
    m.forward({&step, 1}, ctx);
  }
  EXPECT_EQ(got, want_tokens);
}

TEST(Text01Golden, F32PrefillDecodeGreedy) {
  auto m = load_model(testdata("minimax_text01_tiny/model_f32"));
  check_prefill(*m, text01_golden());
  check_decode_and_greedy(*m, text01_golden());
}

TEST(Text01Golden, Bf16ShardedPrefillDecodeGreedy) {
  auto m = load_model(testdata("minimax_text01_tiny/model_bf16"));
  check_prefill(*m, text01_golden());
  check_decode_and_greedy(*m, text01_golden());
}

TEST(Text01Golden, NativeDialectConfigGivesSameLogits) {
  test::TempDir d;
  namespace fs = std::filesystem;
  fs::copy_file(testdata("minimax_text01_tiny/config_hf_native.json"), d.path / "config.json");
  fs::create_symlink(testdata("minimax_text01_tiny/model_f32/model.safetensors"), d.path / "model.safetensors");
  auto native = load_model(d.str());
  EXPECT_TRUE(native->config().postnorm);
  EXPECT_EQ(native->config().rotary_dim, 8);
  check_prefill(*native, text01_golden());
}

TEST(Text01Golden, ChunkedPrefillEqualsOnePass) {
  auto m = load_model(testdata("minimax_text01_tiny/model_f32"));
  const auto& g = text01_golden();
  auto one = run_chunks(*m, g.prompt, {});
  for (const auto& chunks : std::vector<std::vector<int64_t>>{{7, 1, 20}, {1, 1, 1, 1}, {16, 16}, {3, 29}, {49}}) {
    auto got = run_chunks(*m, g.prompt, chunks);
    double mx = 0;
    for (size_t i = 0; i < got.size(); ++i) mx = std::max(mx, double(std::fabs(got[i] - one[i])));
    EXPECT_LT(mx, 2e-5) << "chunks " << nlohmann::json(chunks).dump();
  }
}

TEST(Text01Golden, RecurrentAndBlockedLightningAgreeOnModel) {
  auto m = load_model(testdata("minimax_text01_tiny/model_f32"));
  const auto& g = text01_golden();
  m->set_lightning_mode(LightningMode::Recurrent);
  check_prefill(*m, g);
  m->set_lightning_mode(LightningMode::Blocked);
  check_prefill(*m, g);
  check_decode_and_greedy(*m, g);
}

TEST(Text01Golden, BatchedSequencesMatchAlone) {
  ExecContext ctx;
  auto m = load_model(testdata("minimax_text01_tiny/model_f32"));
  const auto& g = text01_golden();
  const int64_t V = g.vocab;
  // Three sequences with different prompts in one batch, then batched decode steps.
  std::vector<std::vector<int32_t>> prompts = {
      {g.prompt.begin(), g.prompt.begin() + 20}, {g.prompt.begin() + 5, g.prompt.end()}, {g.prompt[3]}};
  std::vector<std::unique_ptr<SequenceState>> seqs;
  std::vector<std::vector<float>> out(prompts.size(), std::vector<float>(static_cast<size_t>(V)));
  std::vector<BatchItem> batch;
  for (size_t i = 0; i < prompts.size(); ++i) {
    seqs.push_back(m->new_sequence(0));
    batch.push_back({seqs[i].get(), prompts[i].data(), int64_t(prompts[i].size()), out[i].data(), false});
  }
  m->forward(batch, ctx);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto alone = run_chunks(*m, prompts[i], {});
    const float* last = alone.data() + (prompts[i].size() - 1) * size_t(V);
    for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(out[i][size_t(v)], last[v], 1e-5) << "seq " << i;
  }
}

TEST(Text01Errors, TokenOutOfRangeAndContextLimit) {
  ExecContext ctx;
  auto m = load_model(testdata("minimax_text01_tiny/model_f32"));
  auto seq = m->new_sequence(4);
  std::vector<int32_t> bad = {1, 512};
  BatchItem it{seq.get(), bad.data(), 2, nullptr, false};
  EXPECT_THROW(m->forward({&it, 1}, ctx), Error);
  EXPECT_EQ(seq->n_past, 0);
  std::vector<int32_t> five = {1, 2, 3, 4, 5};
  BatchItem it5{seq.get(), five.data(), 5, nullptr, false};
  EXPECT_THROW(m->forward({&it5, 1}, ctx), Error);
  BatchItem it4{seq.get(), five.data(), 4, nullptr, false};
  EXPECT_NO_THROW(m->forward({&it4, 1}, ctx));
  EXPECT_EQ(seq->n_past, 4);
}

}  // namespace
}  // namespace mm

namespace mm {
namespace {

// The GGUF set's hf/ folder holds the F32 GGUF's weights in the release layout (block_size 256, a
// 300-token prompt spanning two blocks, decode starting inside the first block and crossing 256).
TEST(Text01Golden, ReleaseBlockSizeAcrossBlockBoundary) {
  Golden g(testdata("gguf/minimax_text01/f32/golden.json"));
  auto m = load_model(testdata("gguf/minimax_text01/hf"));
  ASSERT_EQ(m->config().block_size, 256);
  check_prefill(*m, g);
  check_decode_and_greedy(*m, g);
}

}  // namespace
}  // namespace mm

#include "convert/safetensors_writer.h"

namespace mm {
namespace {

// The tiny model's values are exactly representable in f16 too: an F16 copy written by our own
// safetensors writer must give the golden logits.
TEST(Text01Golden, F16CopyWrittenByWriterMatches) {
  test::TempDir d;
  std::filesystem::copy_file(testdata("minimax_text01_tiny/model_f32/config.json"), d.path / "config.json");
  TensorStore src = safetensors_load_dir(testdata("minimax_text01_tiny/model_f32"));
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : src.all()) {
    const TensorInfo* tp = &t;
    out.push_back({name, DType::F16, t.shape, [tp](uint8_t* dst, size_t n) {
                     const float* f = reinterpret_cast<const float*>(tp->data);
                     for (size_t i = 0; i < n / 2; ++i) {
                       uint16_t h = f32_to_f16(f[i]);
                       ASSERT_EQ(f16_to_f32(h), f[i]);
                       std::memcpy(dst + 2 * i, &h, 2);
                     }
                   }});
  }
  safetensors_write((d.path / "model.safetensors").string(), out);
  auto m = load_model(d.str());
  check_prefill(*m, text01_golden());
}

}  // namespace
}  // namespace mm
