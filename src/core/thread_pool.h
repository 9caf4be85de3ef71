// A persistent pool of worker threads. parallel_for splits [0, n) into contiguous chunks (a few per
// thread), which the calling thread and the workers claim dynamically; it returns when all are done.
// Nested calls run serially on the calling thread, with its thread index. Waiting threads spin briefly (~50 us) before they
// sleep on a condition variable, so back-to-back regions do not pay a wake-up each.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mm {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }
  // fn(begin, end, thread_index) over [0, n) split into chunks of >= min_chunk items; fn may be called
  // several times per thread, never concurrently with the same thread_index. An exception thrown by fn
  // on any thread is rethrown here once every running chunk has returned (chunks not yet started are
  // skipped); the pool stays usable.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t min_chunk = 1);
  // The thread index of the chunk the calling thread is running in this pool, 0 outside any chunk
  // (per-thread scratch for code that may run either in a chunk or at the top level).
  int current_thread_index() const;

 private:
  void worker(int index);
  int64_t run_chunks(const std::function<void(int64_t, int64_t, int)>& fn, int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_chunks_ = 0;
  int job_workers_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  // Written under mu_; also read without it by the short spin-waits (a decode step runs ~50 parallel
  // regions of tens of microseconds each, so waking through the condition variables alone, a futex
  // round trip per region and thread, cost a large share of it).
  std::atomic<int64_t> done_chunks_{0};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  bool busy_ = false;
  // The first exception of the current job (set under error_mu_); failed_ makes the rest skip.
  std::mutex error_mu_;
  std::exception_ptr job_error_;
  std::atomic<bool> job_failed_{false};
};

// Physical cores if known, else hardware_concurrency.
int default_thread_count();

}  // namespace mm
