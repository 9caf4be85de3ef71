// Paged KV memory: storage types (SIMD widening vs the scalar converters, rounding bounds), the page
// pool (budget, reference counts, copy on write), sequence operations (fork, truncate, reset), and the
// attention kernel over pages: scrambled pages equal a contiguous cache bit for bit, the key split is
// independent of the thread count, --exact's order is independent of how queries are chunked, and
// every KV type agrees with the double-precision reference on the same stored values.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/attention.h"
#include "ops/kv_codec.h"
#include "ops/simd/kernels.h"
#include "state/kv_pool.h"
#include "state/sequence_state.h"
#include "test_util.h"

using namespace mm;
using test::random_vec;

namespace {

constexpr KvType kAllTypes[] = {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0};

TEST(KvCodec, WideningEqualsScalarOnEveryTarget) {
  std::vector<float> x = random_vec(200, 7, -3, 3);
  // f16 specials: subnormals, the largest finite, overflow to inf, zero signs.
  x[0] = 3e-6f, x[1] = -5.9e-8f, x[2] = 65504.0f, x[3] = 1e6f, x[4] = -0.0f, x[5] = -1e6f;
  for (KvType t : kAllTypes)
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(32), int64_t(96), int64_t(160)}) {
      if (!kv_type_fits(t, n)) continue;
      std::vector<uint8_t> row(kv_row_bytes(t, n));
      kv_encode_row(t, x.data(), n, row.data());
      std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      kv_decode_row_ref(t, row.data(), n, ref.data());
      for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
        hwy::SetSupportedTargetsForTest(target);
        std::fill(got.begin(), got.end(), -1.0f);
        kv_decode_rows(t, row.data(), row.size(), 1, n, got.data(), n);
        ASSERT_EQ(std::memcmp(got.data(), ref.data(), size_t(n) * 4), 0) << kv_type_name(t) << " n=" << n << " " << simd::target_name();
      }
      hwy::SetSupportedTargetsForTest(0);
    }
}

TEST(KvCodec, RoundingWithinTheTypesPrecision) {
  const std::vector<float> x = random_vec(256, 3, -4, 4);
  for (KvType t : kAllTypes) {
    std::vector<uint8_t> row(kv_row_bytes(t, 256));
    std::vector<float> y(256);
    kv_encode_row(t, x.data(), 256, row.data());
    kv_decode_row_ref(t, row.data(), 256, y.data());
    for (int64_t b = 0; b < 256; b += 32) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[size_t(b + i)]));
      for (int i = 0; i < 32; ++i) {
        const float v = x[size_t(b + i)], e = std::fabs(y[size_t(b + i)] - v);
        switch (t) {
          case KvType::F32: ASSERT_EQ(e, 0.0f); break;
          case KvType::F16: ASSERT_LE(e, std::fabs(v) * 0x1p-11f); break;   // half an ulp of 10 mantissa bits
          case KvType::BF16: ASSERT_LE(e, std::fabs(v) * 0x1p-8f); break;   // half an ulp of 7 bits
          case KvType::Q8_0: ASSERT_LE(e, amax / 127.0f * 0.5f * 1.01f); break;  // half a step (d in f16)
        }
      }
    }
  }
  EXPECT_THROW(parse_kv_type("q4_0"), Error);
  EXPECT_EQ(parse_kv_type("bf16"), KvType::BF16);
  EXPECT_FALSE(kv_type_fits(KvType::Q8_0, 24));
  EXPECT_THROW(KvPool(24, KvType::Q8_0, 0), Error);
}

TEST(KvPool, BudgetReferencesAndStablePages) {
  KvPool pool(8, KvType::F32, 20);
  EXPECT_EQ(pool.page_bytes(), size_t(2 * 64 * 8 * 4));
  std::vector<int32_t> pages;
  for (int i = 0; i < 20; ++i) pages.push_back(pool.alloc());
  EXPECT_EQ(pool.alloc(), -1);  // budget used up
  EXPECT_EQ(pool.n_free(), 0);
  uint8_t* first = pool.k(pages[0]);
  pool.retain(pages[3]);
  pool.release(pages[3]);
  EXPECT_EQ(pool.refs(pages[3]), 1);
  pool.release(pages[3]);
  EXPECT_EQ(pool.n_used(), 19);
  EXPECT_EQ(pool.alloc(), pages[3]);  // reused
  EXPECT_EQ(pool.k(pages[0]), first);  // pages never move
  EXPECT_EQ(pool.v(pages[0]), first + 64 * 8 * 4);
}

// A sequence of two softmax layers over one pool.
std::unique_ptr<SequenceState> kv_sequence(const std::shared_ptr<KvPool>& pool, int64_t n_ctx) {
  auto s = std::make_unique<SequenceState>();
  s->n_ctx_max = n_ctx;
  s->layers.emplace_back(std::in_place_type<KvCache>, pool);
  s->layers.emplace_back(std::in_place_type<KvCache>, pool);
  return s;
}

// Writes rows with value f(pos, layer, c) for positions [n_past, n_past + n) and advances.
void append(SequenceState& s, int64_t n, float salt) {
  s.prepare(n);
  for (size_t l = 0; l < s.layers.size(); ++l) {
    if (!std::holds_alternative<KvCache>(s.layers[l])) continue;
    auto& kv = std::get<KvCache>(s.layers[l]);
    std::vector<float> k(size_t(kv.pool().width())), v(k.size());
    for (int64_t p = s.n_past; p < s.n_past + n; ++p) {
      for (size_t c = 0; c < k.size(); ++c) k[c] = salt + float(p) + 0.25f * float(c) + 1000.0f * float(l), v[c] = -k[c];
      kv.write(p, k.data(), v.data());
    }
  }
  s.n_past += n;
}

float key_at(SequenceState& s, size_t layer, int64_t pos, int64_t c) {
  KvView view = std::get<KvCache>(s.layers[layer]).view();
  float f;
  std::memcpy(&f, view.k_row(pos) + c * 4, 4);
  return f;
}

TEST(SequenceMemory, ForkSharesPagesAndCopiesOnWrite) {
  auto pool = std::make_shared<KvPool>(4, KvType::F32, 0);
  auto a = kv_sequence(pool, 1000);
  append(*a, 100, 0.0f);  // 2 pages per layer
  EXPECT_EQ(pool->n_used(), 4);
  EXPECT_EQ(a->kv_bytes(), 4 * pool->page_bytes());
  auto b = a->fork();
  EXPECT_EQ(pool->n_used(), 4);  // shared
  EXPECT_EQ(b->pages_needed(1), 2);  // position 100 is in a shared page of each layer: copied
  append(*b, 1, 0.5f);
  EXPECT_EQ(pool->n_used(), 6);
  EXPECT_EQ(key_at(*b, 1, 100, 2), 0.5f + 100 + 0.5f + 1000);
  EXPECT_EQ(key_at(*b, 1, 99, 2), 99 + 0.5f + 1000);  // copied with the page
  EXPECT_EQ(key_at(*a, 0, 99, 0), 99.0f);
  append(*a, 1, 0.75f);  // a's pages are its own again (b copied): no further copy
  EXPECT_EQ(pool->n_used(), 6);
  EXPECT_EQ(key_at(*a, 0, 100, 0), 100.75f);
  EXPECT_EQ(key_at(*b, 0, 100, 0), 100.5f);
  b.reset();
  EXPECT_EQ(pool->n_used(), 4);
  a->truncate(64);  // exactly one page per layer
  EXPECT_EQ(pool->n_used(), 2);
  EXPECT_EQ(a->n_past, 64);
  EXPECT_THROW(a->truncate(65), Error);
  a->reset();
  EXPECT_EQ(pool->n_used(), 0);
}

TEST(SequenceMemory, FullPoolChangesNothing) {
  auto pool = std::make_shared<KvPool>(4, KvType::F16, 5);
  auto a = kv_sequence(pool, 10000);
  append(*a, 128, 0.0f);  // 4 pages
  EXPECT_EQ(a->pages_needed(1), 2);
  EXPECT_THROW(a->prepare(1), KvFullError);
  EXPECT_EQ(pool->n_used(), 4);  // the failed prepare took no page
  EXPECT_EQ(a->n_past, 128);
  try {
    a->prepare(64);
  } catch (const KvFullError& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-ram"), std::string::npos) << e.what();
  }
}

TEST(SequenceMemory, LightningStatesCannotBeRewound) {
  auto pool = std::make_shared<KvPool>(4, KvType::F32, 0);
  auto s = kv_sequence(pool, 100);
  LinearState ls;
  ls.n_heads = 1, ls.d = 2, ls.s = {1, 2, 3, 4};
  s->layers.emplace_back(ls);
  append(*s, 10, 0.0f);
  EXPECT_THROW(s->truncate(5), Error);
  auto f = s->fork();
  std::get<LinearState>(f->layers[2]).s[0] = 9;
  EXPECT_EQ(std::get<LinearState>(s->layers[2]).s[0], 1.0f);  // copied, not shared
  s->truncate(0);
  EXPECT_EQ(std::get<LinearState>(s->layers[2]).s[3], 0.0f);
  EXPECT_EQ(s->state_bytes(), size_t(16));
}

// ---- the attention kernel over pages ---------------------------------------------------------------

struct PagedKv {
  // n keys of width values in pages of `pool` allocated in a scrambled order.
  PagedKv(KvType t, const std::vector<float>& k, const std::vector<float>& v, int64_t n, int64_t width, uint32_t seed)
      : pool(std::make_shared<KvPool>(width, t, 0)), cache(pool) {
    const int64_t n_pages = (n + 63) / 64;
    std::vector<int32_t> spare;
    for (int64_t i = 0; i < 2 * n_pages; ++i) spare.push_back(pool->alloc());
    std::mt19937 rng(seed);
    std::shuffle(spare.begin(), spare.end(), rng);
    for (int64_t i = 0; i < 2 * n_pages; ++i) pool->release(spare[size_t(i)]);  // free list now scrambled
    cache.prepare(0, n);
    for (int64_t j = 0; j < n; ++j) cache.write(j, k.data() + j * width, v.data() + j * width);
    view = cache.view();
  }
  std::shared_ptr<KvPool> pool;
  KvCache cache;
  KvView view;
};

struct Case {
  int64_t hd, H, KV, n_q, pos0;
};

std::vector<float> run(ExecContext& ctx, const AttentionArgs& base, const float* q, int64_t n_q, int64_t pos0) {
  std::vector<float> out(size_t(n_q * base.n_heads * base.head_dim));
  AttentionArgs a = base;
  a.q = q, a.n_q = n_q, a.pos0 = pos0, a.out = out.data();
  attention_causal(ctx, a);
  return out;
}

TEST(AttentionPaged, ScrambledPagesEqualContiguousBitForBit) {
  ExecContext one(1), two(2);
  for (const Case& c : {Case{32, 4, 2, 1, 0}, Case{32, 4, 2, 1, 2100}, Case{64, 8, 2, 5, 4200}, Case{32, 6, 3, 40, 130},
                        Case{24, 2, 1, 70, 0}}) {
    const int64_t n = c.pos0 + c.n_q, width = c.KV * c.hd;
    auto q = random_vec(size_t(c.n_q * c.H * c.hd), 1), k = random_vec(size_t(n * width), 2, -2, 2),
         v = random_vec(size_t(n * width), 3);
    ContiguousKv flat(k.data(), v.data(), n, width);
    PagedKv paged(KvType::F32, k, v, n, width, uint32_t(n));
    for (bool inv : {false, true}) {
      AttentionArgs a{nullptr, 0, 0, flat.view, c.H, c.KV, c.hd, float(1 / std::sqrt(double(c.hd))), nullptr, inv};
      const auto want = run(one, a, q.data(), c.n_q, c.pos0);
      a.kv = paged.view;
      EXPECT_EQ(run(one, a, q.data(), c.n_q, c.pos0), want) << c.n_q << " " << c.pos0;
      EXPECT_EQ(run(two, a, q.data(), c.n_q, c.pos0), want) << "threads change the split's numbers";
      std::vector<float> ref(want.size());
      a.q = q.data(), a.n_q = c.n_q, a.pos0 = c.pos0, a.out = ref.data();
      attention_causal_ref(a);
      for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(want[i], ref[i], 2e-5) << i;
    }
  }
}

// --exact: a query's output is the same whether it is alone (decode, the split path at depth), in a
// chunk of any size, or in the one-shot prefill.
TEST(AttentionPaged, InvariantOrderDoesNotDependOnChunking) {
  ExecContext ctx(2);
  const int64_t hd = 32, H = 4, KV = 2, n = 2200, width = KV * hd;
  auto q = random_vec(size_t(n * H * hd), 4), k = random_vec(size_t(n * width), 5, -2, 2), v = random_vec(size_t(n * width), 6);
  PagedKv paged(KvType::F32, k, v, n, width, 9);
  AttentionArgs a{nullptr, 0, 0, paged.view, H, KV, hd, float(1 / std::sqrt(double(hd))), nullptr, true};
  const auto whole = run(ctx, a, q.data(), n, 0);
  const int64_t row = H * hd;
  for (int64_t chunk : {1, 7, 33, 64, 500}) {
    for (int64_t p = 0; p < n;) {
      // Chunks of `chunk` tokens, except single queries near the end (the split decode path).
      const int64_t m = p >= n - 3 ? 1 : std::min(chunk, n - 3 - p);
      const auto part = run(ctx, a, q.data() + p * row, m, p);
      ASSERT_EQ(0, std::memcmp(part.data(), whole.data() + p * row, part.size() * 4)) << "chunk " << chunk << " at " << p;
      p += m;
      if (chunk == 1 && p > 200 && p < n - 3) p = n - 3;  // keep the test short
    }
  }
}

TEST(AttentionPaged, EveryKvTypeMatchesTheReferenceOnItsStoredValues) {
  ExecContext ctx(2);
  for (KvType t : kAllTypes)
    for (const Case& c : {Case{32, 4, 2, 1, 2300}, Case{64, 4, 1, 20, 100}, Case{32, 8, 8, 3, 0}}) {
      const int64_t n = c.pos0 + c.n_q, width = c.KV * c.hd;
      auto q = random_vec(size_t(c.n_q * c.H * c.hd), 7), k = random_vec(size_t(n * width), 8, -2, 2),
           v = random_vec(size_t(n * width), 9);
      PagedKv paged(t, k, v, n, width, 3);
      for (bool inv : {false, true}) {
        AttentionArgs a{q.data(), c.n_q, c.pos0, paged.view, c.H, c.KV, c.hd, float(1 / std::sqrt(double(c.hd))), nullptr, inv};
        const auto got = run(ctx, a, q.data(), c.n_q, c.pos0);
        std::vector<float> ref(got.size());
        a.out = ref.data();
        attention_causal_ref(a);
        for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 2e-5) << kv_type_name(t) << " " << i;
      }
    }
}

}  // namespace
