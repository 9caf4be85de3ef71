// KvPool: the KV pages of every sequence of one engine (or one CLI run). A page holds the keys and the
// values of kPageTokens consecutive positions of one softmax layer, stored as the pool's KvType; a
// sequence's KvCache is a page table into it. Pages come from slabs that are allocated on demand and
// never move, so a growing sequence never reallocates or copies; pages are reference counted, so a
// fork or a prefix-cache entry shares them and a writer copies a shared page first (copy on write).
//
// The budget (n_pages_max) is what admission and eviction look at: alloc() fails (returns -1) once
// that many pages are in use, and nothing is allocated past it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/error.h"
#include "ops/kv_codec.h"

namespace mm {

// alloc() could not get a page: the KV budget is used up (the message says which flag raises it).
struct KvFullError : Error {
  using Error::Error;
};

class KvPool {
 public:
  static constexpr int64_t kPageTokens = 64;  // a multiple of the attention kernel's key tile

  // width: values per token row (n_kv_heads * head_dim); n_pages_max <= 0: no budget (CLI runs).
  KvPool(int64_t width, KvType type, int64_t n_pages_max);
  KvPool(const KvPool&) = delete;
  KvPool& operator=(const KvPool&) = delete;

  int64_t width() const { return width_; }
  KvType type() const { return type_; }
  size_t row_bytes() const { return row_bytes_; }
  // Bytes of one page: K and V, kPageTokens rows each.
  size_t page_bytes() const { return 2 * size_t(kPageTokens) * row_bytes_; }
  int64_t n_pages_max() const { return n_pages_max_; }  // <= 0: unbounded
  int64_t n_used() const { return n_used_; }
  // Pages alloc() can still hand out (a large number when unbounded).
  int64_t n_free() const;
  // Bytes of the slabs allocated so far (the pool's resident memory).
  size_t n_bytes_allocated() const { return slabs_.size() * kSlabPages * page_bytes(); }

  // A fresh page with one reference, or -1 when the budget is used up. Its rows are not cleared.
  int32_t alloc();
  void retain(int32_t page);
  void release(int32_t page);
  int32_t refs(int32_t page) const;

  uint8_t* k(int32_t page) { return base(page); }
  uint8_t* v(int32_t page) { return base(page) + size_t(kPageTokens) * row_bytes_; }
  const uint8_t* k(int32_t page) const { return const_cast<KvPool*>(this)->k(page); }
  const uint8_t* v(int32_t page) const { return const_cast<KvPool*>(this)->v(page); }

 private:
  static constexpr int64_t kSlabPages = 16;
  uint8_t* base(int32_t page);

  int64_t width_;
  KvType type_;
  size_t row_bytes_;
  int64_t n_pages_max_;
  int64_t n_used_ = 0;
  std::vector<std::unique_ptr<uint8_t[]>> slabs_;
  std::vector<int32_t> refs_;     // per page id
  std::vector<int32_t> free_;     // ids of pages with no reference
};

}  // namespace mm
