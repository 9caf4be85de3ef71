#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <future>

#include "engine/generation.h"
#include "model/model.h"
#include "model/state_file.h"
#include "tokenizer/tokenizer.h"

namespace mm {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "error";
}

// ---------------------------------------------------------------------------------------------------
// RequestHandle

void RequestHandle::merge(GenEvent& into, GenEvent&& ev) {
  into.text += ev.text;
  into.tokens.insert(into.tokens.end(), ev.tokens.begin(), ev.tokens.end());
  for (auto& lp : ev.logprobs) into.logprobs.push_back(std::move(lp));
  into.done = ev.done;
  into.finish = ev.finish;
  into.stop_string = std::move(ev.stop_string);
  into.stop_token = ev.stop_token;
  into.n_prompt = ev.n_prompt;
  into.n_generated = ev.n_generated;
  into.n_cached = ev.n_cached;
  into.error = std::move(ev.error);
}

void RequestHandle::push(GenEvent ev) {
  {
    std::lock_guard lk(mu_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

std::optional<GenEvent> RequestHandle::next(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  GenEvent out = std::move(events_.front());
  events_.pop_front();
  while (!events_.empty() && !out.done) {
    merge(out, std::move(events_.front()));
    events_.pop_front();
  }
  if (out.done) finished_ = true;
  return out;
}

GenEvent RequestHandle::wait_all(const std::function<bool()>& client_gone) {
  GenEvent all;
  for (;;) {
    auto ev = next(std::chrono::milliseconds(client_gone ? 10 : 1000));
    if (client_gone && !cancelled() && client_gone()) cancel();
    if (!ev) continue;
    merge(all, std::move(*ev));
    if (all.done) return all;
  }
}

// The scheduler polls the flag every step (a queued request can only wait while slots are busy, so
// the scheduler is running and sees it soon).
void RequestHandle::cancel() { cancelled_.store(true); }

// ---------------------------------------------------------------------------------------------------
// Slots

struct Engine::Slot {
  std::unique_ptr<SequenceState> seq;
  std::vector<float> logits;  // [vocab] logits of the last token run
  bool busy = false;
  GenRequest req;
  std::shared_ptr<RequestHandle> handle;
  std::optional<Generation> gen;  // sampling, text, stops of the request (refers to req)
  int64_t n_prompt_done = 0;     // prompt tokens already run
  int64_t n_cached = 0;          // of which taken from the prefix cache
  int64_t reserved_pages = 0;    // its share of Engine::reserved_pages_
  int32_t last_token = 0;

  bool prefilling() const { return n_prompt_done < int64_t(req.prompt.size()); }
};

Engine::Engine(std::unique_ptr<Model> model, const Tokenizer* tok, EngineConfig cfg)
    : model_(std::move(model)), ctx_(cfg.n_threads, cfg.math), tok_(tok), cfg_(cfg) {
  MM_CHECK(model_ != nullptr);
  const auto& mc = model_->config();
  if (cfg_.n_parallel < 1) throw Error("--parallel must be >= 1");
  if (cfg_.max_queue < 0) throw Error("the queue size must be >= 0");
  if (cfg_.prefill_chunk < 1 || cfg_.prefill_budget < 1) throw Error("the prefill chunk must be >= 1 token");
  if (cfg_.n_ctx <= 0) cfg_.n_ctx = std::min<int64_t>(mc.max_position_embeddings, 8192);
  if (cfg_.n_ctx > mc.max_position_embeddings)
    throw Error("--ctx-size " + std::to_string(cfg_.n_ctx) + " exceeds the model's max_position_embeddings " +
                std::to_string(mc.max_position_embeddings));
  if (cfg_.n_ctx < 2) throw Error("--ctx-size must be >= 2");
  vocab_size_ = mc.vocab_size;
  if (!cfg_.kv_type) cfg_.kv_type = cfg_.math.exact() ? KvType::F32 : kDefaultKvType;
  if (cfg_.math.exact() && *cfg_.kv_type != KvType::F32)
    throw Error("--exact keeps the KV cache in f32: drop --kv-type or --exact");
  if (cfg_.kv_ram_mib < 0 || cfg_.cache_ram_mib < 0) throw Error("--kv-ram and --cache-ram must be >= 0");
  if (cfg_.cache_interval < 1) throw Error("the cache snapshot interval must be >= 1 token");
  n_softmax_layers_ = mc.n_softmax_layers();
  pool_ = n_softmax_layers_ > 0 ? model_->new_kv_pool(*cfg_.kv_type, 1) : nullptr;  // (sized below)
  if (pool_) {
    const int64_t per_ctx = n_softmax_layers_ * ((cfg_.n_ctx + KvPool::kPageTokens - 1) / KvPool::kPageTokens);
    const int64_t budget = cfg_.kv_ram_mib > 0 ? (cfg_.kv_ram_mib << 20) / int64_t(pool_->page_bytes())
                                               : per_ctx * cfg_.n_parallel;
    if (budget < 1) throw Error("--kv-ram " + std::to_string(cfg_.kv_ram_mib) + " MiB holds no KV page");
    pool_ = model_->new_kv_pool(*cfg_.kv_type, budget);
  }
  cache_ = PrefixCache(size_t(cfg_.cache_ram_mib) << 20);
  for (int i = 0; i < cfg_.n_parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->seq = model_->new_sequence(cfg_.n_ctx, pool_);
    s->logits.resize(size_t(vocab_size_));
    slots_.push_back(std::move(s));
  }
  metrics_.slots_total = cfg_.n_parallel;
  if (pool_) metrics_.kv_pages_total = pool_->n_pages_max(), metrics_.kv_page_bytes = int64_t(pool_->page_bytes());
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (auto& s : slots_)
    if (s->busy) finish(*s, FinishReason::Cancelled, {});
  for (auto& p : queue_) {
    GenEvent ev;
    ev.done = true;
    ev.finish = FinishReason::Cancelled;
    ev.n_prompt = int64_t(p.req.prompt.size());
    p.handle->push(std::move(ev));
  }
}

std::shared_ptr<RequestHandle> Engine::submit(GenRequest req) {
  const int64_t n_prompt = int64_t(req.prompt.size());
  if (n_prompt == 0) throw Error("the prompt is empty");
  for (int32_t t : req.prompt)
    if (t < 0 || t >= vocab_size_) throw Error("token id " + std::to_string(t) + " is out of range");
  if (n_prompt >= cfg_.n_ctx)
    throw Error("the prompt has " + std::to_string(n_prompt) + " tokens, more than the context size allows (" +
                std::to_string(cfg_.n_ctx) + " tokens, prompt and output)");
  if (req.max_tokens < 1) throw Error("max_tokens must be >= 1");
  if (n_prompt + req.max_tokens > cfg_.n_ctx)
    throw Error("the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                std::to_string(req.max_tokens) + ") exceeds the context size " + std::to_string(cfg_.n_ctx));
  if (pool_ && pages_for_request(req) > pool_->n_pages_max()) {
    const double mib = double(pages_for_request(req)) * double(pool_->page_bytes()) / double(1 << 20);
    throw Error("the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" + std::to_string(req.max_tokens) +
                ") needs " + std::to_string(int64_t(std::ceil(mib))) + " MiB of KV cache, more than the " +
                std::to_string(int64_t(double(pool_->n_pages_max()) * double(pool_->page_bytes()) / double(1 << 20))) +
                " MiB budget: raise --kv-ram, use a smaller --kv-type, or ask for fewer tokens");
  }
  for (const auto& s : req.stop)
    if (s.empty()) throw Error("stop strings must not be empty");
  if (!req.stop.empty() && !tok_) throw Error("stop strings need a tokenizer");
  if (req.top_logprobs > 20) throw Error("top_logprobs must be <= 20");
  validate(req.sampling);

  auto h = std::make_shared<RequestHandle>();
  {
    std::lock_guard lk(mu_);
    if (stop_) throw Error("the server is shutting down");
    int64_t n_free = int64_t(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return !s->busy; }));
    // busy is written by the scheduler only, under mu_ (see admit/finish)
    if (int64_t(queue_.size()) >= cfg_.max_queue + n_free) {
      ++metrics_.requests_rejected;
      throw QueueFullError("the server is busy: " + std::to_string(queue_.size()) + " requests are waiting");
    }
    h->id_ = next_id_++;
    ++metrics_.requests_total;
    queue_.push_back({std::move(req), h});
  }
  cv_.notify_all();
  return h;
}

EngineMetrics Engine::metrics() const {
  std::lock_guard lk(mu_);
  EngineMetrics m = metrics_;
  m.queue_depth = int64_t(queue_.size());
  m.slots_busy = int64_t(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return s->busy; }));
  return m;  // (the cache and pool figures are copied in by the scheduler after each step)
}

// Called with mu_ held.
void Engine::admit(Slot& s, Pending&& p) {
  s.busy = true;
  s.req = std::move(p.req);
  s.handle = std::move(p.handle);
  s.reserved_pages = pool_ ? pages_for_request(s.req) : 0;
  reserved_pages_ += s.reserved_pages;
  s.seq->reset();
  s.gen.emplace(s.req, tok_);
  s.n_prompt_done = s.n_cached = 0;
  // Resume from the longest cached prefix (at least the last prompt token is run: its logits).
  if (cache_.enabled()) {
    if (auto hit = cache_.lookup(s.req.prompt, int64_t(s.req.prompt.size()) - 1)) {
      s.seq = std::move(hit);
      s.n_prompt_done = s.n_cached = s.seq->n_past;
      ++metrics_.cache_hits;
      metrics_.cached_tokens_total += uint64_t(s.n_cached);
    } else {
      ++metrics_.cache_misses;
    }
  }
}

int64_t Engine::pages_for_request(const GenRequest& r) const {
  const int64_t n = int64_t(r.prompt.size()) + r.max_tokens;
  return n_softmax_layers_ * ((n + KvPool::kPageTokens - 1) / KvPool::kPageTokens);
}

void Engine::snapshot(Slot& s, bool with_output) {
  if (!cache_.enabled() || s.seq->n_past == 0) return;
  if (!with_output) return cache_.insert(s.req.prompt, *s.seq);
  std::vector<int32_t> held = s.req.prompt;  // prompt + the output tokens already run
  const auto& out = s.gen->output();
  held.insert(held.end(), out.begin(), out.begin() + std::min<int64_t>(int64_t(out.size()), s.seq->n_past - int64_t(held.size())));
  if (int64_t(held.size()) == s.seq->n_past) cache_.insert(held, *s.seq);
}

void Engine::finish(Slot& s, FinishReason r, GenEvent ev) {
  ev.done = true;
  ev.finish = r;
  ev.n_prompt = int64_t(s.req.prompt.size());
  ev.n_generated = s.gen ? s.gen->n_generated() : 0;
  ev.n_cached = s.n_cached;
  if (r == FinishReason::Stop || r == FinishReason::Length) snapshot(s, true);  // the next turn starts with it
  reserved_pages_ -= s.reserved_pages;
  s.reserved_pages = 0;
  auto h = std::move(s.handle);
  {
    std::lock_guard lk(mu_);
    s.busy = false;
    if (r == FinishReason::Cancelled) ++metrics_.requests_cancelled;
    else if (r == FinishReason::Error) ++metrics_.requests_failed;
    else ++metrics_.requests_ok;
  }
  s.gen.reset();
  s.req = {};
  h->push(std::move(ev));
}

void Engine::loop() {
  for (;;) {
    std::deque<std::function<void()>> tasks;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] {
        return stop_ || !queue_.empty() || !tasks_.empty() ||
               std::any_of(slots_.begin(), slots_.end(), [](auto& s) { return s->busy; });
      });
      if (stop_) return;
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
    step();
  }
}

void Engine::run_on_scheduler(std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  {
    std::lock_guard lk(mu_);
    if (stop_) throw Error("the server is shutting down");
    tasks_.push_back([fn = std::move(fn), done] {
      try {
        fn();
        done->set_value();
      } catch (...) {
        done->set_exception(std::current_exception());
      }
    });
  }
  cv_.notify_all();
  fut.get();
}

int64_t Engine::save_prefix(const std::vector<int32_t>& tokens, const std::string& path) {
  int64_t n = 0;
  run_on_scheduler([&] {
    if (!cache_.enabled()) throw Error("the prefix cache is off (--cache-ram 0): there is no state to save");
    auto seq = cache_.lookup(tokens, int64_t(tokens.size()));
    if (!seq) return;
    n = seq->n_past;
    save_sequence_state(path, *model_, *seq, {tokens.data(), size_t(n)});
  });
  return n;
}

int64_t Engine::restore_prefix(const std::string& path) {
  int64_t n = 0;
  run_on_scheduler([&] {
    if (!cache_.enabled()) throw Error("the prefix cache is off (--cache-ram 0): a restored state would not be kept");
    LoadedSequence l = load_sequence_state(path, *model_, pool_, cfg_.n_ctx);
    cache_.insert(l.tokens, *l.seq);
    n = l.seq->n_past;
  });
  return n;
}

void Engine::on_token(Slot& s) {
  GenEvent ev = s.gen->next(s.logits);
  ev.n_cached = s.n_cached;
  s.last_token = s.gen->last_token();
  {
    std::lock_guard lk(mu_);
    ++metrics_.generated_tokens_total;
  }
  if (ev.done) return finish(s, ev.finish, std::move(ev));
  s.handle->push(std::move(ev));
}

bool Engine::step() {
  // 1. Free the slots of cancelled requests, then fill free slots from the queue.
  for (auto& s : slots_)
    if (s->busy && s->handle->cancelled()) finish(*s, FinishReason::Cancelled, {});
  std::vector<std::shared_ptr<RequestHandle>> dropped;
  {
    std::lock_guard lk(mu_);
    for (auto& s : slots_) {
      if (s->busy) continue;
      while (!queue_.empty() && queue_.front().handle->cancelled()) {
        dropped.push_back(std::move(queue_.front().handle));
        queue_.pop_front();
        ++metrics_.requests_cancelled;
      }
      if (queue_.empty()) break;
      // Admission by KV pages: the request's worst case must fit next to the busy slots' (the
      // prefix cache's pages are evicted as needed: they are never reserved).
      if (pool_ && reserved_pages_ + pages_for_request(queue_.front().req) > pool_->n_pages_max()) break;
      admit(*s, std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  for (auto& h : dropped) {
    GenEvent ev;
    ev.done = true;
    ev.finish = FinishReason::Cancelled;
    h->push(std::move(ev));
  }

  // 2. One batch: every decoding slot's last token + prefill chunks within the budget.
  std::vector<BatchItem> batch;
  std::vector<Slot*> sampled;  // slots whose logits are ready after this step
  std::vector<Slot*> members;
  int64_t n_prefill = 0, n_decode = 0;
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.busy || s.prefilling()) continue;
    batch.push_back({s.seq.get(), &s.last_token, 1, s.logits.data(), false});
    sampled.push_back(&s);
    members.push_back(&s);
    ++n_decode;
  }
  // Prefill: oldest request first (lowest id), chunk ends at the next multiple of prefill_chunk.
  std::vector<Slot*> pre;
  for (auto& sp : slots_)
    if (sp->busy && sp->prefilling()) pre.push_back(sp.get());
  std::sort(pre.begin(), pre.end(), [](Slot* a, Slot* b) { return a->handle->id() < b->handle->id(); });
  for (Slot* s : pre) {
    const int64_t n_prompt = int64_t(s->req.prompt.size());
    // (chunks end at multiples of prefill_chunk positions, also after a prefix-cache hit)
    const int64_t end = std::min(n_prompt, (s->n_prompt_done / cfg_.prefill_chunk + 1) * cfg_.prefill_chunk);
    const int64_t n = end - s->n_prompt_done;
    if (n_prefill > 0 && n_prefill + n > cfg_.prefill_budget) break;
    const bool last = end == n_prompt;
    batch.push_back({s->seq.get(), s->req.prompt.data() + s->n_prompt_done, n, last ? s->logits.data() : nullptr, false});
    if (last) sampled.push_back(s);
    members.push_back(s);
    n_prefill += n;
  }
  if (batch.empty()) return false;

  // 3. Make room in the KV pool (cache entries go first), then run it.
  if (pool_) {
    int64_t need = 0;
    for (const auto& it : batch) need += it.seq->pages_needed(it.n_tokens);
    while (need > pool_->n_free() && cache_.evict_one()) {
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    model_->forward(batch, ctx_);
  } catch (const std::exception& e) {
    for (Slot* s : members) {
      GenEvent ev;
      ev.error = e.what();
      finish(*s, FinishReason::Error, std::move(ev));
    }
    return true;
  }
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard lk(mu_);
    ++metrics_.steps_total;
    metrics_.prompt_tokens_total += uint64_t(n_prefill);
    if (n_prefill > 0) metrics_.prefill_seconds += dt;
    if (n_decode > 0) metrics_.decode_seconds += dt;
  }
  for (size_t i = 0; i < members.size(); ++i) {
    Slot& s = *members[i];
    if (!s.prefilling()) continue;
    s.n_prompt_done += batch[i].n_tokens;
    // Snapshots: the whole prompt (the next turn of a chat starts with it), and for lightning models
    // every cache_interval positions of a long prompt (their state cannot be rewound).
    if (!s.prefilling() || (s.seq->has_lightning() && s.seq->n_past % cfg_.cache_interval == 0)) snapshot(s, false);
  }
  {
    std::lock_guard lk(mu_);
    metrics_.cache_entries = int64_t(cache_.n_entries());
    metrics_.cache_bytes = int64_t(cache_.n_bytes());
    metrics_.kv_pages_used = pool_ ? pool_->n_used() : 0;
  }

  // 4. Sample the next token of every slot whose logits are ready.
  for (Slot* s : sampled) {
    try {
      on_token(*s);
    } catch (const std::exception& e) {
      if (!s->busy) continue;
      GenEvent ev;
      ev.error = e.what();
      finish(*s, FinishReason::Error, std::move(ev));
    }
  }
  return true;
}

}  // namespace mm
