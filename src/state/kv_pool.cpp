#include "state/kv_pool.h"

#include <limits>

namespace mm {

KvPool::KvPool(int64_t width, KvType type, int64_t n_pages_max)
    : width_(width), type_(type), n_pages_max_(n_pages_max) {
  if (!kv_type_fits(type, width))
    throw Error(std::string("KV type ") + kv_type_name(type) + " cannot store rows of " + std::to_string(width) +
                " values (q8_0 needs a multiple of 32)");
  row_bytes_ = kv_row_bytes(type, width);
}

int64_t KvPool::n_free() const {
  if (n_pages_max_ <= 0) return std::numeric_limits<int32_t>::max() - n_used_;
  return n_pages_max_ - n_used_;
}

int32_t KvPool::alloc() {
  if (n_free() <= 0) return -1;
  if (free_.empty()) {
    const int64_t first = int64_t(refs_.size());
    if (first + kSlabPages > std::numeric_limits<int32_t>::max()) return -1;
    slabs_.push_back(std::unique_ptr<uint8_t[]>(new uint8_t[kSlabPages * page_bytes()]));
    refs_.resize(size_t(first + kSlabPages), 0);
    for (int64_t p = first + kSlabPages - 1; p >= first; --p) free_.push_back(int32_t(p));
  }
  const int32_t p = free_.back();
  free_.pop_back();
  refs_[size_t(p)] = 1;
  ++n_used_;
  return p;
}

void KvPool::retain(int32_t page) {
  MM_CHECK(page >= 0 && size_t(page) < refs_.size() && refs_[size_t(page)] > 0);
  ++refs_[size_t(page)];
}

void KvPool::release(int32_t page) {
  MM_CHECK(page >= 0 && size_t(page) < refs_.size() && refs_[size_t(page)] > 0);
  if (--refs_[size_t(page)] == 0) {
    free_.push_back(page);
    --n_used_;
  }
}

int32_t KvPool::refs(int32_t page) const {
  MM_CHECK(page >= 0 && size_t(page) < refs_.size());
  return refs_[size_t(page)];
}

uint8_t* KvPool::base(int32_t page) {
  MM_CHECK(page >= 0 && size_t(page) < refs_.size());
  return slabs_[size_t(page / kSlabPages)].get() + size_t(page % kSlabPages) * page_bytes();
}

}  // namespace mm
