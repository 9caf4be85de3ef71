// Engine: continuous batching of generation requests over one Model.
//
// One scheduler thread owns the Model and every SequenceState. Other threads (HTTP handlers) only
// submit() requests and read their results from a RequestHandle, a thread-safe channel. Each scheduler
// step runs ONE Model::forward over:
//   * the next token of every slot that is decoding, and
//   * prefill chunks of slots still reading their prompt (chunk boundaries at fixed multiples of
//     prefill_chunk from the prompt start, at most prefill_budget prompt tokens per step), so running
//     streams keep producing a token every step while a long prompt is read.
// Chunk boundaries never depend on what else is batched and the model computes every row on its own,
// so a request's greedy output is the same alone or batched.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/exec_context.h"
#include "engine/prefix_cache.h"
#include "engine/request.h"
#include "sampling/sampler.h"

namespace mm {

class Model;
class Tokenizer;

struct EngineConfig {
  int n_parallel = 4;            // slots (sequences generated at the same time)
  int64_t n_ctx = 0;             // tokens per slot (prompt + output); 0: min(max_position_embeddings, 8192)
  int64_t max_queue = 64;        // requests waiting for a slot before submit() refuses
  int64_t prefill_chunk = 256;   // prompt tokens per chunk
  int64_t prefill_budget = 256;  // prompt tokens per step (at least one chunk is always taken)
  int n_threads = 0;             // threads of the engine's pool (< 1: physical cores)
  MathMode math;                 // arithmetic of every forward (--exact: QuantMath::Exact)
  std::optional<KvType> kv_type;  // softmax-layer KV storage; unset: f32 in --exact, else kDefaultKvType
  int64_t kv_ram_mib = 0;        // KV page budget; 0: what n_parallel full contexts need
  int64_t cache_ram_mib = 0;     // prefix cache budget (lightning states + KV pages of its entries); 0: off
  int64_t cache_interval = 4096; // lightning models: also snapshot every this many prompt tokens
};

// Raised by Engine::submit when the waiting queue is full (HTTP 503).
struct QueueFullError : Error {
  using Error::Error;
};

// The channel between the scheduler (producer) and the requester (consumer).
class RequestHandle {
 public:
  // Waits up to `timeout` for output; merges everything pending into one event. nullopt on timeout.
  std::optional<GenEvent> next(std::chrono::milliseconds timeout);
  // Blocks until done and returns the whole output merged. client_gone (optional) is polled every
  // few milliseconds; once it says true the request is cancelled (its slot freed at the next step).
  GenEvent wait_all(const std::function<bool()>& client_gone = {});
  // Ask the scheduler to stop this request; its slot is freed at the next step.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  uint64_t id() const { return id_; }

 private:
  friend class Engine;
  void push(GenEvent ev);
  static void merge(GenEvent& into, GenEvent&& ev);

  uint64_t id_ = 0;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenEvent> events_;
  bool finished_ = false;   // the done event was consumed
};

struct EngineMetrics {
  uint64_t requests_total = 0, requests_ok = 0, requests_cancelled = 0, requests_failed = 0;
  uint64_t requests_rejected = 0;  // queue full
  uint64_t prompt_tokens_total = 0, generated_tokens_total = 0;
  uint64_t steps_total = 0;
  double prefill_seconds = 0, decode_seconds = 0;  // time in steps with prefill / decode rows
  int64_t queue_depth = 0, slots_busy = 0, slots_total = 0;
  uint64_t cache_hits = 0, cache_misses = 0, cached_tokens_total = 0;  // prefix cache lookups at admission
  int64_t cache_entries = 0, cache_bytes = 0;
  int64_t kv_pages_used = 0, kv_pages_total = 0, kv_page_bytes = 0;
};

class Engine {
 public:
  // tok: turns output tokens into text (and stop strings work on it); null: token ids only, no text.
  Engine(std::unique_ptr<Model> model, const Tokenizer* tok, EngineConfig cfg);
  ~Engine();  // stops the scheduler; pending requests end with FinishReason::Cancelled
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues. Throws mm::Error (bad request) or QueueFullError.
  std::shared_ptr<RequestHandle> submit(GenRequest req);
  EngineMetrics metrics() const;
  // State files through the prefix cache (run on the scheduler thread, which owns it; these wait):
  // save_prefix writes the cached state of the longest cached prefix of `tokens` to `path` and returns
  // its length (0: nothing cached, no file written); restore_prefix loads a state file into the cache,
  // so that requests starting with its tokens resume from it, and returns their count. Throw mm::Error.
  int64_t save_prefix(const std::vector<int32_t>& tokens, const std::string& path);
  int64_t restore_prefix(const std::string& path);
  int64_t n_ctx() const { return cfg_.n_ctx; }
  const EngineConfig& config() const { return cfg_; }
  int n_threads() const { return ctx_.n_threads(); }
  const Tokenizer& tokenizer() const {
    MM_CHECK(tok_ != nullptr);
    return *tok_;
  }
  int64_t vocab_size() const { return vocab_size_; }

 private:
  struct Slot;
  struct Pending {
    GenRequest req;
    std::shared_ptr<RequestHandle> handle;
  };
  void loop();
  bool step();  // one forward; false when idle
  void admit(Slot& s, Pending&& p);
  void finish(Slot& s, FinishReason r, GenEvent ev);
  void on_token(Slot& s);
  int64_t pages_for_request(const GenRequest& r) const;  // KV pages a request may need at most
  void snapshot(Slot& s, bool with_output);             // into the prefix cache
  void run_on_scheduler(std::function<void()> fn);       // waits; rethrows what fn threw

  std::shared_ptr<KvPool> pool_;  // every slot's and cache entry's KV pages
  PrefixCache cache_{0};
  int64_t n_softmax_layers_ = 0;
  int64_t reserved_pages_ = 0;    // pages_for_request of the busy slots (admission keeps it <= budget)
  std::unique_ptr<Model> model_;  // touched only by the scheduler thread
  ExecContext ctx_;               // the scheduler thread's threads, math mode and scratch
  const Tokenizer* tok_;
  EngineConfig cfg_;
  int64_t vocab_size_ = 0;
  std::vector<std::unique_ptr<Slot>> slots_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::deque<std::function<void()>> tasks_;  // run by the scheduler between steps (run_on_scheduler)
  bool stop_ = false;
  uint64_t next_id_ = 1;
  EngineMetrics metrics_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace mm
