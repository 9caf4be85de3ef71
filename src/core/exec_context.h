// ExecContext: everything a forward pass needs from its caller, passed explicitly (no process state):
//   * the thread pool that runs the parallel regions,
//   * the math mode (exact reference arithmetic, int8 activations for block-format weights, bf16 prefill),
//   * a workspace of scratch arenas, one per pool thread (the kernels' temporary buffers),
//   * a communicator (one process today; the seam for running one model over several processes).
// A context is used by one thread at a time (its caller runs the parallel regions); two contexts may
// share one pool, and an engine owns its own context, so exact and fast requests can run side by side.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/arena.h"
#include "core/thread_pool.h"

namespace mm {

// How GGUF block-format weights are multiplied. Int8 (default): activations rounded to int8 in blocks
// of 32 and multiplied against the integer codes (llama.cpp's arithmetic). Exact: weights dequantised
// to f32 and f32 arithmetic (the reference the goldens check to 1e-4).
enum class QuantMath { Int8, Exact };

struct MathMode {
  QuantMath quant = QuantMath::Int8;
  // AVX512_BF16 products for 16-bit float weights at >= 16 rows (activations rounded to bf16); only in
  // the Int8 (fast) mode, off by default (a request's numbers would depend on its batch).
  bool bf16_prefill = false;
  bool exact() const { return quant == QuantMath::Exact; }
};

// Collective operations across the processes that share one model. The single-process communicator
// is the identity: rank 0 of 1, reductions leave the data as it is.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  // In-place sum over ranks of n floats.
  virtual void all_reduce_sum(float* data, int64_t n) {}
};

// Scratch arenas, one per thread index of the pool (parallel_for hands each chunk its thread index).
class Workspace {
 public:
  explicit Workspace(int n_threads);
  Arena& thread(int index);
  int n_threads() const { return int(arenas_.size()); }

 private:
  std::vector<std::unique_ptr<Arena>> arenas_;
};

class ExecContext {
 public:
  // A context with its own pool of n_threads (< 1: physical cores).
  explicit ExecContext(int n_threads = 0, MathMode math = {});
  // A context on an existing pool (shared with other contexts).
  ExecContext(std::shared_ptr<ThreadPool> pool, MathMode math);
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

  ThreadPool& pool() const { return *pool_; }
  const std::shared_ptr<ThreadPool>& shared_pool() const { return pool_; }
  int n_threads() const { return pool_->n_threads(); }
  const MathMode& math() const { return math_; }
  void set_math(MathMode m) { math_ = m; }
  // Scratch for the thread running chunk `thread_index` of a parallel region (index 0: the caller).
  Arena& scratch(int thread_index) { return ws_.thread(thread_index); }
  // Scratch of the calling thread: its chunk's arena inside a parallel region, else the caller's.
  Arena& scratch() { return ws_.thread(pool_->current_thread_index()); }
  Communicator& comm() const { return *comm_; }
  void set_comm(std::shared_ptr<Communicator> c) { comm_ = std::move(c); }

  // parallel_for on the pool (see ThreadPool::parallel_for).
  template <class F>
  void parallel_for(int64_t n, F&& fn, int64_t min_chunk = 1) const {
    pool_->parallel_for(n, fn, min_chunk);
  }

 private:
  std::shared_ptr<ThreadPool> pool_;
  MathMode math_;
  Workspace ws_;
  std::shared_ptr<Communicator> comm_;
};

}  // namespace mm
