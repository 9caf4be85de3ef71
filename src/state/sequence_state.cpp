#include "state/sequence_state.h"

#include <algorithm>
#include <cstring>

namespace mm {

namespace {
constexpr int64_t P = KvPool::kPageTokens;
int64_t pages_for(int64_t n_tokens) { return (n_tokens + P - 1) / P; }

[[noreturn]] void throw_full(const KvPool& pool, int64_t need) {
  throw KvFullError("the KV cache is full: " + std::to_string(need) + " more pages of " + std::to_string(P) +
                    " tokens are needed and " + std::to_string(pool.n_free()) + " of " +
                    std::to_string(pool.n_pages_max()) + " are free (raise --kv-ram, or lower --parallel or the "
                    "context size)");
}
}  // namespace

void KvCache::release_from(size_t first_page) {
  if (!pool_) return;
  for (size_t i = first_page; i < pages_.size(); ++i) pool_->release(pages_[i]);
  pages_.resize(std::min(first_page, pages_.size()));
}

int64_t KvCache::pages_needed(int64_t n_from, int64_t n_to) const {
  if (n_to <= n_from) return 0;
  int64_t n = std::max<int64_t>(0, pages_for(n_to) - n_pages());
  for (int64_t i = n_from / P; i < std::min(n_pages(), pages_for(n_to)); ++i)
    if (pool_->refs(pages_[size_t(i)]) > 1) ++n;  // shared: copied before the first write
  return n;
}

void KvCache::prepare(int64_t from, int64_t to) {
  if (to <= from) return;
  if (const int64_t need = pages_needed(from, to); need > pool_->n_free()) throw_full(*pool_, need);
  for (int64_t i = from / P; i < std::min(n_pages(), pages_for(to)); ++i) {
    int32_t& page = pages_[size_t(i)];
    if (pool_->refs(page) == 1) continue;
    const int32_t copy = pool_->alloc();
    MM_CHECK(copy >= 0);
    std::memcpy(pool_->k(copy), pool_->k(page), pool_->page_bytes());  // K and V are one block
    pool_->release(page);
    page = copy;
  }
  while (n_pages() < pages_for(to)) {
    const int32_t page = pool_->alloc();
    MM_CHECK(page >= 0);
    pages_.push_back(page);
  }
}

void KvCache::write(int64_t pos, const float* k, const float* v) {
  MM_CHECK(pos >= 0 && pos / P < n_pages());
  const int32_t page = pages_[size_t(pos / P)];
  MM_CHECK(pool_->refs(page) == 1);
  const size_t off = size_t(pos % P) * pool_->row_bytes();
  kv_encode_row(pool_->type(), k, pool_->width(), pool_->k(page) + off);
  kv_encode_row(pool_->type(), v, pool_->width(), pool_->v(page) + off);
}

void KvCache::truncate(int64_t n) { release_from(size_t(pages_for(std::max<int64_t>(n, 0)))); }

KvCache KvCache::share(int64_t n) const {
  KvCache c(pool_);
  for (int64_t i = 0; i < std::min(n_pages(), pages_for(n)); ++i) {
    pool_->retain(pages_[size_t(i)]);
    c.pages_.push_back(pages_[size_t(i)]);
  }
  return c;
}

KvView KvCache::view() {
  k_ptr_.resize(pages_.size());
  v_ptr_.resize(pages_.size());
  for (size_t i = 0; i < pages_.size(); ++i) {
    k_ptr_[i] = pool_->k(pages_[i]);
    v_ptr_[i] = pool_->v(pages_[i]);
  }
  return {pool_->type(), P, pool_->row_bytes(), k_ptr_.data(), v_ptr_.data()};
}

void SequenceState::reset() {
  n_past = 0;
  for (auto& l : layers) {
    if (auto* s = std::get_if<LinearState>(&l)) std::fill(s->s.begin(), s->s.end(), 0.0f);
    else std::get<KvCache>(l).truncate(0);
  }
}

int64_t SequenceState::pages_needed(int64_t n_new) const {
  int64_t n = 0;
  for (const auto& l : layers)
    if (auto* kv = std::get_if<KvCache>(&l)) n += kv->pages_needed(n_past, n_past + n_new);
  return n;
}

void SequenceState::prepare(int64_t n_new) {
  // All layers share one pool: check the total first so that a failure changes nothing.
  for (auto& l : layers)
    if (auto* kv = std::get_if<KvCache>(&l)) {
      if (const int64_t need = pages_needed(n_new); need > kv->pool().n_free()) throw_full(kv->pool(), need);
      break;
    }
  for (auto& l : layers)
    if (auto* kv = std::get_if<KvCache>(&l)) kv->prepare(n_past, n_past + n_new);
}

bool SequenceState::has_lightning() const {
  return std::any_of(layers.begin(), layers.end(), [](const LayerMemory& l) { return std::holds_alternative<LinearState>(l); });
}

void SequenceState::truncate(int64_t n) {
  if (n < 0 || n > n_past)
    throw Error("cannot truncate a sequence of " + std::to_string(n_past) + " tokens to " + std::to_string(n));
  if (n == n_past) return;
  if (n == 0) return reset();
  if (has_lightning())
    throw Error("a sequence with lightning-attention layers cannot be truncated (their state has no history): "
                "start it again from a saved state or from token 0");
  for (auto& l : layers) std::get<KvCache>(l).truncate(n);
  n_past = n;
}

std::unique_ptr<SequenceState> SequenceState::fork() const {
  auto s = std::make_unique<SequenceState>();
  s->n_past = n_past;
  s->n_ctx_max = n_ctx_max;
  for (const auto& l : layers) {
    if (auto* kv = std::get_if<KvCache>(&l)) s->layers.emplace_back(kv->share(n_past));
    else s->layers.emplace_back(std::get<LinearState>(l));
  }
  return s;
}

size_t SequenceState::kv_bytes() const {
  size_t n = 0;
  for (const auto& l : layers)
    if (auto* kv = std::get_if<KvCache>(&l)) n += kv->n_bytes();
  return n;
}

size_t SequenceState::state_bytes() const {
  size_t n = 0;
  for (const auto& l : layers)
    if (auto* s = std::get_if<LinearState>(&l)) n += s->s.size() * sizeof(float);
  return n;
}

double SequenceState::bytes_per_token() const {
  double b = 0;
  for (const auto& l : layers) {
    if (auto* kv = std::get_if<KvCache>(&l)) b += 2.0 * double(n_past) * double(kv->pool().row_bytes());
    else b += 2.0 * double(std::get<LinearState>(l).s.size()) * sizeof(float);
  }
  return b;
}

}  // namespace mm
