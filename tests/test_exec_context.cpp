// The execution context: scratch arenas, per-thread indices of nested parallel regions, the matmul
// planner's choices per math mode, and two contexts with different math modes running side by side on
// one shared pool (each gives what it gives alone).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/arena.h"
#include "core/error.h"
#include "core/exec_context.h"
#include "ops/matmul.h"
#include "ops/simd/bf16_gemm.h"
#include "ops/simd/quant_gemm.h"
#include "quant_test_util.h"
#include "test_util.h"

namespace mm {
namespace {

TEST(Arena, AlignedAndReusedAcrossScopes) {
  Arena a;
  const void* first = nullptr;
  for (int rep = 0; rep < 3; ++rep) {
    ArenaScope s(a);
    char* p = a.alloc<char>(3);
    float* q = a.alloc<float>(1000);
    double* r = a.alloc<double>(0);  // empty allocations are valid, distinct pointers
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r) % 64, 0u);
    EXPECT_GE(reinterpret_cast<char*>(q), p + 3);
    EXPECT_NE(static_cast<void*>(r), static_cast<void*>(q));
    for (int i = 0; i < 1000; ++i) q[i] = float(i);  // writable (ASan checks the bounds)
    if (rep == 0) first = p;
    else EXPECT_EQ(first, p) << "a released scope's memory is handed out again";
  }
}

TEST(Arena, NestedScopesAndLargeBlocksKeepEarlierPointers) {
  Arena a;
  ArenaScope outer(a);
  int32_t* keep = a.alloc<int32_t>(100);
  for (int i = 0; i < 100; ++i) keep[i] = i;
  size_t cap = 0;
  for (int rep = 0; rep < 4; ++rep) {
    ArenaScope inner(a);
    // Bigger than a chunk: a new chunk, never a move of the old one.
    uint8_t* big = a.alloc<uint8_t>(size_t(3) << 20);
    big[0] = 1;
    big[(size_t(3) << 20) - 1] = 2;
    float* small = a.alloc<float>(10);
    small[9] = 1.0f;
    if (rep == 0) cap = a.capacity();
    else EXPECT_EQ(a.capacity(), cap) << "steady state allocates nothing new";
  }
  for (int i = 0; i < 100; ++i) ASSERT_EQ(keep[i], i);
}

// A nested parallel_for runs inline and hands its chunks the index of the chunk that called it, so
// per-thread scratch indexed by it is never shared by two threads at once.
TEST(ThreadPool, NestedRegionsKeepTheCallersIndex) {
  ThreadPool pool(3);
  std::atomic<int> mismatches{0}, outside{0};
  pool.parallel_for(64, [&](int64_t b, int64_t e, int outer) {
    if (pool.current_thread_index() != outer) ++mismatches;
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(8, [&](int64_t, int64_t, int inner) {
        if (inner != outer) ++mismatches;
      });
  });
  if (pool.current_thread_index() != 0) ++outside;
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(outside.load(), 0);
}

// An exception in a chunk on any thread (a failed allocation in a worker, an mm::Error) reaches the
// caller of parallel_for instead of terminating the process, and the pool keeps working.
TEST(ThreadPool, ChunkExceptionsReachTheCaller) {
  ThreadPool pool(3);
  for (int thrower : {0, 1, 2}) {  // the calling thread, then workers
    std::atomic<int64_t> ran{0};
    try {
      pool.parallel_for(
          300,
          [&](int64_t b, int64_t e, int ti) {
            if (ti == thrower && b >= 100) throw Error("chunk " + std::to_string(b) + " failed");
            ran += e - b;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          },
          1);
      // The thrower's index may have found no chunk past 100 (others took them): then nothing threw.
      EXPECT_EQ(ran.load(), 300);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("failed"), std::string::npos);
      EXPECT_LT(ran.load(), 300);
    }
  }
  EXPECT_THROW(pool.parallel_for(8, [](int64_t, int64_t, int) { throw std::bad_alloc(); }), std::bad_alloc);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(1000, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

TEST(MatmulPlan, PathPerFormatRowsAndMathMode) {
  const MathMode fast{QuantMath::Int8}, exact{QuantMath::Exact}, bf16{QuantMath::Int8, true};
  test::QuantWeight q8(DType::Q8_0, 8, 64, 1);
  std::vector<uint16_t> halves(size_t(8 * 64), 0x3f80);
  const Weight bf{DType::BF16, 8, 64, reinterpret_cast<const uint8_t*>(halves.data()), 128};
  std::vector<float> ones(size_t(8 * 64), 1.0f), scales(4, 1.0f);
  const Weight f32{DType::F32, 8, 64, reinterpret_cast<const uint8_t*>(ones.data()), 256};
  std::vector<uint8_t> codes(size_t(8 * 64), 0x38);
  Weight fp8_odd{DType::F8_E4M3, 8, 64, codes.data(), 64, scales.data(), 8, 5};  // 5-wide scale blocks

  EXPECT_EQ(plan_matmul(f32, 1, fast), MatmulPath::Gemm);
  EXPECT_EQ(plan_matmul(f32, 100, exact), MatmulPath::Gemm);
  EXPECT_EQ(plan_matmul(q8.w, 1, fast), MatmulPath::Int8Gemv);
  EXPECT_EQ(plan_matmul(q8.w, 4, fast), MatmulPath::Int8Gemv);
  EXPECT_EQ(plan_matmul(q8.w, 1, exact), MatmulPath::QuantPanel);  // one exact arithmetic for any row count
  EXPECT_EQ(plan_matmul(q8.w, 5, exact), MatmulPath::QuantPanel);
  EXPECT_EQ(plan_matmul(q8.w, 5, fast), MatmulPath::Int8Gemm);  // the int8 arithmetic on every CPU
  EXPECT_EQ(plan_matmul(fp8_odd, 3, fast), MatmulPath::DequantRows);
  EXPECT_EQ(plan_matmul(bf, 16, fast), MatmulPath::Gemm);  // bf16 prefill is opt-in
  EXPECT_EQ(plan_matmul(bf, 16, bf16), simd::bf16_gemm_supported() ? MatmulPath::Bf16Gemm : MatmulPath::Gemm);
  EXPECT_EQ(plan_matmul(bf, 15, bf16), MatmulPath::Gemm);
  EXPECT_EQ(plan_matmul(bf, 16, bf16, /*whole=*/false), MatmulPath::Gemm);  // row slices never convert x
  EXPECT_EQ(plan_matmul(bf, 16, MathMode{QuantMath::Exact, true}), MatmulPath::Gemm);
  EXPECT_TRUE(path_uses_act_q8(MatmulPath::Int8Gemv));
  EXPECT_FALSE(path_uses_act_q8(MatmulPath::QuantPanel));
}

// Exact and fast contexts sharing one pool, driven from two threads at once, each give bit for bit what
// they give alone; the exact one matches the f64 reference and the fast one differs from it (int8
// activations), so the two modes really ran side by side.
TEST(ExecContext, ExactAndFastSideBySideOnOneSharedPool) {
  auto pool = std::make_shared<ThreadPool>(2);
  ExecContext exact(pool, MathMode{QuantMath::Exact}), fast(pool, MathMode{QuantMath::Int8});
  test::QuantWeight qw(DType::Q4_K, 96, 512, 7);
  const int64_t n_rows = 3;
  auto x = test::random_vec(size_t(n_rows * 512), 8);
  std::vector<float> ref(size_t(n_rows * 96));
  matmul_ref(x.data(), n_rows, qw.w, ref.data());
  auto run = [&](ExecContext& ctx) {
    std::vector<float> y(size_t(n_rows * 96));
    matmul(ctx, x.data(), n_rows, qw.w, y.data());
    return y;
  };
  const auto exact_alone = run(exact), fast_alone = run(fast);
  double max_exact = 0, max_fast = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_exact = std::max(max_exact, double(std::fabs(exact_alone[i] - ref[i])));
    max_fast = std::max(max_fast, double(std::fabs(fast_alone[i] - ref[i])));
  }
  EXPECT_LT(max_exact, 1e-4);
  EXPECT_GT(max_fast, max_exact);
  std::atomic<int> diffs{0};
  std::thread other([&] {
    for (int rep = 0; rep < 50; ++rep)
      if (run(fast) != fast_alone) ++diffs;
  });
  for (int rep = 0; rep < 50; ++rep)
    if (run(exact) != exact_alone) ++diffs;
  other.join();
  EXPECT_EQ(diffs.load(), 0);
}

}  // namespace
}  // namespace mm
