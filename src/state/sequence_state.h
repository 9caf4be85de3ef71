// Per-sequence memory, chosen per layer: a KV cache for softmax-attention layers, a d x d state per
// head for lightning (linear-attention) layers. A softmax-only cache is never bent to fit the
// recurrent layers: each layer owns the memory its attention kind needs.
//
// KV caches are page tables into one KvPool (state/kv_pool.h) shared by every sequence of an engine;
// lightning states are fp32 arrays owned by the sequence. The operations are those a serving engine
// needs: grow (prepare), truncate, fork (pages shared, states copied), reset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <variant>
#include <vector>

#include "ops/attention.h"
#include "state/kv_pool.h"

namespace mm {

class KvCache {
 public:
  explicit KvCache(std::shared_ptr<KvPool> pool) : pool_(std::move(pool)) {}
  ~KvCache() { release_from(0); }
  KvCache(KvCache&& o) noexcept : pool_(std::move(o.pool_)), pages_(std::move(o.pages_)) {}
  KvCache& operator=(KvCache&&) = delete;
  KvCache(const KvCache&) = delete;

  // Makes positions [from, to) writable: pages allocated, pages shared with another sequence copied
  // first (copy on write). Throws KvFullError (nothing written) when the pool's budget is used up.
  void prepare(int64_t from, int64_t to);
  // Stores the key and value rows (width floats each) of position pos (prepared).
  void write(int64_t pos, const float* k, const float* v);
  // Keeps positions [0, n): pages past them go back to the pool.
  void truncate(int64_t n);
  // A cache holding positions [0, n) of this one by reference (pages retained, not copied).
  KvCache share(int64_t n) const;
  // Pages a sequence of n tokens needs beyond those held (shared pages it would copy included).
  int64_t pages_needed(int64_t n_from, int64_t n_to) const;

  // The kernel's view of the first n_pages() pages (valid until the next prepare / truncate).
  KvView view();
  int64_t n_pages() const { return int64_t(pages_.size()); }
  const std::vector<int32_t>& pages() const { return pages_; }
  KvPool& pool() const { return *pool_; }
  size_t n_bytes() const { return pages_.size() * pool_->page_bytes(); }

 private:
  void release_from(size_t first_page);

  std::shared_ptr<KvPool> pool_;
  std::vector<int32_t> pages_;  // page i holds positions [i * kPageTokens, (i + 1) * kPageTokens)
  std::vector<const uint8_t*> k_ptr_, v_ptr_;  // view() scratch
};

struct LinearState {
  int64_t n_heads = 0, d = 0;
  std::vector<float> s;  // [n_heads, d, d] fp32, rows = key dim, cols = value dim
  float* head(int64_t h) { return s.data() + h * d * d; }
};

using LayerMemory = std::variant<KvCache, LinearState>;

struct SequenceState {
  int64_t n_past = 0;     // tokens already processed
  int64_t n_ctx_max = 0;  // hard limit on n_past
  std::vector<LayerMemory> layers;

  // Forget everything: n_past = 0, states zeroed, KV pages returned to the pool.
  void reset();
  // Makes room for n_new more tokens in every KV cache (before any layer changes, so a failure leaves
  // the sequence as it was). Throws KvFullError.
  void prepare(int64_t n_new);
  // KV pages the next n_new tokens need from the pool (admission control).
  int64_t pages_needed(int64_t n_new) const;
  // Keeps the first n tokens. Only sequences without lightning layers can go back (a lightning state
  // cannot be rewound): otherwise n must equal n_past (or be 0, a reset). Throws mm::Error.
  void truncate(int64_t n);
  // A new sequence equal to this one: KV pages shared (copy on write), lightning states copied.
  std::unique_ptr<SequenceState> fork() const;
  bool has_lightning() const;

  // Bytes held now: KV pages of the softmax layers + states of the lightning layers.
  size_t n_bytes() const { return kv_bytes() + state_bytes(); }
  size_t kv_bytes() const;
  size_t state_bytes() const;
  // Bytes one decode step reads from this memory: n_past K and V rows per softmax layer, each state
  // read and written once.
  double bytes_per_token() const;
};

}  // namespace mm
