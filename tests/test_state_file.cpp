// Sequence state files: a saved and loaded sequence continues bit for bit like the original (Text-01:
// lightning states + KV; M2: KV only; f32 and f16 KV), and bad files are refused with a message: another
// model, another KV type, truncated, corrupted, not a state file. `generate --prompt-cache` reuses a
// saved prompt and gives the output of a run without it.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/state_file.h"
#include "test_util.h"

using namespace mm;

namespace {

std::vector<int32_t> ids(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, 300);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& t : v) t = d(rng);
  return v;
}

const std::string kText01 = test::testdata("minimax_text01_tiny/model_f32");
const std::string kM2 = test::testdata("gguf/minimax_m2/f32/model.gguf");

std::vector<float> continue_run(Model& m, ExecContext& ctx, SequenceState& s, const std::vector<int32_t>& more) {
  std::vector<float> logits(more.size() * size_t(m.config().vocab_size));
  BatchItem it{&s, more.data(), int64_t(more.size()), logits.data(), true};
  m.forward({&it, 1}, ctx);
  return logits;
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; wanted one saying '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

class StateFile : public ::testing::TestWithParam<std::pair<const char*, KvType>> {};

TEST_P(StateFile, RoundTripContinuesBitForBit) {
  auto m = load_model(std::string(GetParam().first) == "text01" ? kText01 : kM2);
  const KvType kv = GetParam().second;
  ExecContext ctx(2);
  const auto prompt = ids(90, 1), more = ids(12, 2);
  auto a = m->new_sequence(0, m->new_kv_pool(kv));
  continue_run(*m, ctx, *a, prompt);
  test::TempDir dir;
  const std::string f = dir.str() + "/s.state";
  save_sequence_state(f, *m, *a, prompt);
  LoadedSequence b = load_sequence_state(f, *m, m->new_kv_pool(kv), 0);
  EXPECT_EQ(b.tokens, prompt);
  EXPECT_EQ(b.seq->n_past, 90);
  EXPECT_EQ(continue_run(*m, ctx, *b.seq, more), continue_run(*m, ctx, *a, more));

  // Refusals.
  const KvType other = kv == KvType::F32 ? KvType::F16 : KvType::F32;
  expect_error([&] { load_sequence_state(f, *m, m->new_kv_pool(other), 0); }, "--kv-type");
  auto wrong = load_model(std::string(GetParam().first) == "text01" ? kM2 : kText01);
  expect_error([&] { load_sequence_state(f, *wrong, wrong->new_kv_pool(KvType::F32), 0); }, "another model");
  const std::string bytes = test::read_bytes(f);
  auto write = [&](const std::string& content) {
    std::ofstream(f, std::ios::binary | std::ios::trunc) << content;
  };
  write(bytes.substr(0, bytes.size() / 2));
  expect_error([&] { load_sequence_state(f, *m, m->new_kv_pool(kv), 0); }, "truncated");
  std::string bad = bytes;
  bad[bad.size() / 2] ^= 0x5a;
  write(bad);
  expect_error([&] { load_sequence_state(f, *m, m->new_kv_pool(kv), 0); }, "corrupted");
  write("hello, not a state");
  expect_error([&] { load_sequence_state(f, *m, m->new_kv_pool(kv), 0); }, "not a minimax.cpp state file");
  expect_error([&] { load_sequence_state(dir.str() + "/missing", *m, m->new_kv_pool(kv), 0); }, "cannot open");
  write(bytes);
  expect_error([&] { load_sequence_state(f, *m, m->new_kv_pool(kv), 50); }, "more than the context size");
}

INSTANTIATE_TEST_SUITE_P(Models, StateFile,
                         ::testing::Values(std::pair{"text01", KvType::F32}, std::pair{"text01", KvType::F16},
                                           std::pair{"m2", KvType::F32}, std::pair{"m2", KvType::Q8_0}),
                         [](const auto& info) {
                           return std::string(info.param.first) + "_" + kv_type_name(info.param.second);
                         });

std::string join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

// The CLI: a second run with the same or a longer prompt reuses the saved state and prints what a run
// without --prompt-cache prints (--exact: chunking does not change any number).
TEST(StateFileCli, PromptCacheGivesTheUncachedOutput) {
  test::TempDir dir;
  for (const std::string& model : {kText01, kM2}) {
    const std::string f = dir.str() + "/p.state";
    std::filesystem::remove(f);
    const auto p1 = ids(70, 3);
    auto p2 = p1;
    for (int32_t t : ids(9, 4)) p2.push_back(t);
    auto gen = [&](const std::vector<int32_t>& p, const std::string& extra) {
      auto [rc, out] = test::run_cmd(test::cli() + " generate --exact --json --model " + model + " --ids " + join(p) +
                                     " -n 6" + extra + " 2>" + dir.str() + "/err.txt");
      EXPECT_EQ(rc, 0) << test::read_bytes(dir.str() + "/err.txt");
      return out;
    };
    const std::string cache = " --prompt-cache " + f;
    auto cached = [&](const std::vector<int32_t>& p, const std::string& says) {
      const std::string out = gen(p, cache);
      const std::string err = test::read_bytes(dir.str() + "/err.txt");
      EXPECT_NE(err.find(says), std::string::npos) << err;
      return out;
    };
    const std::string plain1 = gen(p1, ""), plain2 = gen(p2, "");
    EXPECT_EQ(cached(p1, " 0 of 70 prompt tokens reused"), plain1);  // nothing to reuse yet: saves 69
    EXPECT_EQ(cached(p1, " 69 of 70 prompt tokens reused"), plain1);
    EXPECT_EQ(cached(p2, " 69 of 79 prompt tokens reused"), plain2);
  }
}

}  // namespace
