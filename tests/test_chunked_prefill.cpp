// Chunked prefill equals one-shot prefill, at the level of a whole model: in --exact bit for bit (the
// logits of every position and the sequence memory afterwards) for Text-01 (lightning states; chunk
// sizes that do and do not divide its block size of 16, each chunk resuming from a non-zero state) and
// M2 (KV only); in the default mode within rounding. Also: a fork continues exactly as the original
// does, and pages scattered through a shared pool give the same numbers as a fresh pool.
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/generation.h"
#include "model/model.h"
#include "test_util.h"

using namespace mm;

namespace {

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, int32_t(vocab) - 1);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& t : ids) t = d(rng);
  return ids;
}

struct Pass {
  std::vector<float> logits;  // [n, vocab]
  std::unique_ptr<SequenceState> seq;
};

// Every token's logits, the prompt run in the given chunk sizes (cycled), or in one call if empty.
Pass run_chunks(Model& m, ExecContext& ctx, const std::vector<int32_t>& ids, const std::vector<int64_t>& chunks,
               std::shared_ptr<KvPool> pool = nullptr) {
  const int64_t n = int64_t(ids.size()), vocab = m.config().vocab_size;
  Pass r{std::vector<float>(size_t(n * vocab)), m.new_sequence(0, std::move(pool))};
  for (int64_t pos = 0, i = 0; pos < n; ++i) {
    const int64_t c = chunks.empty() ? n : std::min(chunks[size_t(i) % chunks.size()], n - pos);
    BatchItem it{r.seq.get(), ids.data() + pos, c, r.logits.data() + pos * vocab, true};
    m.forward({&it, 1}, ctx);
    pos += c;
  }
  return r;
}

// The sequence memory as bytes: every lightning state, and every KV row of positions [0, n_past).
std::vector<uint8_t> memory_bytes(SequenceState& s) {
  std::vector<uint8_t> out;
  for (auto& l : s.layers) {
    if (auto* ls = std::get_if<LinearState>(&l)) {
      const auto* p = reinterpret_cast<const uint8_t*>(ls->s.data());
      out.insert(out.end(), p, p + ls->s.size() * 4);
      continue;
    }
    auto& kv = std::get<KvCache>(l);
    const KvView v = kv.view();
    for (int64_t j = 0; j < s.n_past; ++j) {
      out.insert(out.end(), v.k_row(j), v.k_row(j) + v.row_bytes);
      out.insert(out.end(), v.v_row(j), v.v_row(j) + v.row_bytes);
    }
  }
  return out;
}

std::unique_ptr<Model> tiny(const std::string& rel) { return load_model(test::testdata(rel)); }

struct ModelCase {
  const char* name;
  const char* path;
};

class ChunkedPrefill : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ChunkedPrefill, ExactChunksEqualOneShotBitForBit) {
  auto m = tiny(GetParam().path);
  ExecContext ctx(2, MathMode{QuantMath::Exact});
  const auto ids = random_ids(75, m->config().vocab_size, 5);
  Pass whole = run_chunks(*m, ctx, ids, {});
  const auto whole_mem = memory_bytes(*whole.seq);
  // 16 divides Text-01's block size; 1, 5, 7, 13, 33 do not (and leave partial blocks behind).
  for (const std::vector<int64_t>& chunks : {std::vector<int64_t>{1}, {5}, {16}, {7, 13}, {33}, {64, 1}}) {
    Pass r = run_chunks(*m, ctx, ids, chunks);
    ASSERT_EQ(0, std::memcmp(r.logits.data(), whole.logits.data(), r.logits.size() * 4)) << "chunks " << chunks[0];
    ASSERT_EQ(memory_bytes(*r.seq), whole_mem) << "chunks " << chunks[0];
  }
  // The engine's helper (chunks at multiples of 16 positions) too, starting after 10 tokens.
  std::vector<float> last(static_cast<size_t>(m->config().vocab_size));
  auto seq = m->new_sequence(0);
  prefill(ctx, *m, *seq, {ids.data(), 10}, 16, nullptr);
  prefill(ctx, *m, *seq, {ids.data() + 10, ids.size() - 10}, 16, last.data());
  EXPECT_EQ(0, std::memcmp(last.data(), whole.logits.data() + (ids.size() - 1) * last.size(), last.size() * 4));
}

TEST_P(ChunkedPrefill, FastModeChunksStayClose) {
  auto m = tiny(GetParam().path);
  ExecContext ctx(2);
  const auto ids = random_ids(75, m->config().vocab_size, 6);
  Pass whole = run_chunks(*m, ctx, ids, {}, m->new_kv_pool(KvType::F32));
  for (const std::vector<int64_t>& chunks : {std::vector<int64_t>{1}, {7, 13}, {16}}) {
    Pass r = run_chunks(*m, ctx, ids, chunks, m->new_kv_pool(KvType::F32));
    double mx = 0;
    for (size_t i = 0; i < r.logits.size(); ++i) mx = std::max(mx, double(std::fabs(r.logits[i] - whole.logits[i])));
    EXPECT_LT(mx, 2e-4) << "chunks " << chunks[0];
  }
}

TEST_P(ChunkedPrefill, ForkContinuesLikeTheOriginal) {
  auto m = tiny(GetParam().path);
  ExecContext ctx(2, MathMode{QuantMath::Exact});
  const auto ids = random_ids(60, m->config().vocab_size, 7);
  const int64_t vocab = m->config().vocab_size;
  auto pool = m->new_kv_pool(KvType::F32);
  auto a = m->new_sequence(0, pool);
  BatchItem it{a.get(), ids.data(), 37, nullptr, false};
  m->forward({&it, 1}, ctx);
  auto b = a->fork();
  std::vector<float> la(static_cast<size_t>(23 * vocab)), lb(la.size());
  BatchItem ra{a.get(), ids.data() + 37, 23, la.data(), true}, rb{b.get(), ids.data() + 37, 23, lb.data(), true};
  m->forward({&rb, 1}, ctx);  // the fork first: it must copy the shared page it writes into
  m->forward({&ra, 1}, ctx);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(memory_bytes(*a), memory_bytes(*b));
  Pass whole = run_chunks(*m, ctx, ids, {});
  EXPECT_EQ(0, std::memcmp(la.data(), whole.logits.data() + 37 * vocab, la.size() * 4));
}

// Two sequences prefilled in alternating chunks share one pool, so their pages interleave: each still
// equals a sequence run alone in a fresh pool (f32: bit for bit).
TEST_P(ChunkedPrefill, InterleavedPagesEqualAFreshPool) {
  auto m = tiny(GetParam().path);
  ExecContext ctx(2, MathMode{QuantMath::Exact});
  const int64_t vocab = m->config().vocab_size;
  const auto x = random_ids(200, vocab, 8), y = random_ids(200, vocab, 9);
  auto pool = m->new_kv_pool(KvType::F32);
  auto sx = m->new_sequence(0, pool), sy = m->new_sequence(0, pool);
  std::vector<float> lx(static_cast<size_t>(vocab)), ly(static_cast<size_t>(vocab));
  for (int64_t p = 0; p < 200; p += 40) {
    BatchItem a{sx.get(), x.data() + p, 40, lx.data(), false}, b{sy.get(), y.data() + p, 40, ly.data(), false};
    m->forward({&a, 1}, ctx);
    m->forward({&b, 1}, ctx);
  }
  Pass rx = run_chunks(*m, ctx, x, {40});
  EXPECT_EQ(0, std::memcmp(lx.data(), rx.logits.data() + 199 * vocab, lx.size() * 4));
  EXPECT_EQ(memory_bytes(*sx), memory_bytes(*rx.seq));
}

INSTANTIATE_TEST_SUITE_P(Models, ChunkedPrefill,
                         ::testing::Values(ModelCase{"text01", "minimax_text01_tiny/model_f32"},
                                           ModelCase{"m2", "minimax_m2_tiny/model_bf16"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
