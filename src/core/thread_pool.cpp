#include "core/thread_pool.h"

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "core/error.h"

namespace mm {

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true, std::memory_order_release);
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {

// Spins until done() or about kSpinNs have passed; true if done() became true.
template <class F>
bool spin_until(F done) {
  constexpr int64_t kSpinNs = 50'000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 63) == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::nanoseconds(kSpinNs)) return done();
  }
}

}  // namespace

// The pool and thread index of the chunk this thread is running, so a nested parallel_for (run inline)
// hands its chunks the same index: per-thread scratch indexed by it is never shared between threads.
static thread_local const ThreadPool* t_pool = nullptr;
static thread_local int t_index = 0;

static void chunk_range(int64_t n, int64_t chunks, int64_t i, int64_t* b, int64_t* e) {
  *b = n * i / chunks;
  *e = n * (i + 1) / chunks;
}

// Claims chunks from the shared counter until none is left; returns how many it ran.
int64_t ThreadPool::run_chunks(const std::function<void(int64_t, int64_t, int)>& fn, int index) {
  int64_t ran = 0;
  for (;;) {
    const int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= job_chunks_) return ran;
    ++ran;  // counted as done even when skipped or failed, so the job still completes
    if (job_failed_.load(std::memory_order_relaxed)) continue;
    int64_t b, e;
    chunk_range(job_n_, job_chunks_, c, &b, &e);
    try {
      fn(b, e, index);
    } catch (...) {
      std::lock_guard<std::mutex> g(error_mu_);
      if (!job_error_) job_error_ = std::current_exception();
      job_failed_.store(true, std::memory_order_relaxed);
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                              int64_t min_chunk) {
  if (n <= 0) return;
  const int64_t max_chunks = min_chunk > 0 ? (n + min_chunk - 1) / min_chunk : n;
  const int workers = int(std::min<int64_t>(n_threads_, max_chunks));
  std::unique_lock<std::mutex> lk(mu_);
  if (workers <= 1 || busy_) {  // small job, or nested call from inside a job: run inline
    lk.unlock();
    fn(0, n, t_pool == this ? t_index : 0);
    return;
  }
  // A few chunks per thread, handed out dynamically: on a shared machine a thread that lost its core
  // for a while no longer holds back a fixed share of the work; the others take its chunks.
  busy_ = true;
  job_ = &fn;
  job_n_ = n;
  job_chunks_ = std::min<int64_t>(max_chunks, int64_t(workers) * 4);
  job_workers_ = workers;
  next_chunk_.store(0, std::memory_order_relaxed);
  done_chunks_.store(0, std::memory_order_relaxed);
  job_failed_.store(false, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  lk.unlock();
  cv_work_.notify_all();  // no system call when every worker is still spinning
  const ThreadPool* outer_pool = t_pool;
  const int outer_index = t_index;
  t_pool = this;
  t_index = 0;
  const int64_t mine = run_chunks(fn, 0);
  t_pool = outer_pool;
  t_index = outer_index;
  done_chunks_.fetch_add(mine, std::memory_order_acq_rel);
  // Workers that woke too late to find a chunk never registered, so only active ones are awaited.
  auto finished = [this] {
    return done_chunks_.load(std::memory_order_acquire) == job_chunks_ && active_.load(std::memory_order_acquire) == 0;
  };
  spin_until(finished);
  lk.lock();
  cv_done_.wait(lk, finished);
  job_ = nullptr;
  busy_ = false;
  if (job_failed_.load(std::memory_order_relaxed)) {
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> g(error_mu_);
      e = std::exchange(job_error_, nullptr);
    }
    lk.unlock();
    std::rethrow_exception(e);
  }
}

int ThreadPool::current_thread_index() const { return t_pool == this ? t_index : 0; }

void ThreadPool::worker(int index) {
  t_pool = this;
  t_index = index;
  uint64_t seen = 0;
  auto woken = [&] { return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
  for (;;) {
    spin_until(woken);
    std::unique_lock<std::mutex> lk(mu_);
    cv_work_.wait(lk, woken);  // returns at once when the spin saw the new job
    if (stop_) return;
    seen = generation_.load(std::memory_order_relaxed);
    if (!job_ || index >= job_workers_) continue;
    auto* fn = job_;
    active_.fetch_add(1, std::memory_order_relaxed);
    lk.unlock();
    const int64_t ran = run_chunks(*fn, index);
    lk.lock();
    done_chunks_.fetch_add(ran, std::memory_order_release);
    active_.fetch_sub(1, std::memory_order_release);
    if (done_chunks_.load(std::memory_order_relaxed) == job_chunks_ && active_.load(std::memory_order_relaxed) == 0)
      cv_done_.notify_one();
  }
}

int default_thread_count() {
  // Count distinct (physical id, core id) pairs; fall back to the logical count.
  std::ifstream f("/proc/cpuinfo");
  std::set<std::string> cores;
  std::string line, phys;
  while (std::getline(f, line)) {
    if (line.rfind("physical id", 0) == 0) phys = line.substr(line.find(':') + 1);
    if (line.rfind("core id", 0) == 0) cores.insert(phys + "/" + line.substr(line.find(':') + 1));
  }
  int hw = int(std::thread::hardware_concurrency());
  if (!cores.empty() && int(cores.size()) <= hw) return int(cores.size());
  return hw > 0 ? hw : 1;
}

}  // namespace mm
