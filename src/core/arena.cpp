#include "core/arena.h"

#include <algorithm>

#include "core/error.h"

namespace mm {

namespace {
constexpr size_t kAlign = 64;
constexpr size_t kMinChunk = size_t(1) << 20;  // 1 MiB

size_t align_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }
}  // namespace

void* Arena::alloc_bytes(size_t n) {
  n = align_up(std::max<size_t>(n, 1));
  // Skip to the first chunk (current or later, kept from earlier operations) with room; else add one.
  while (cur_ < chunks_.size()) {
    Chunk& c = chunks_[cur_];
    const uintptr_t base = reinterpret_cast<uintptr_t>(c.mem.get());
    const size_t start = align_up(base + c.used) - base;
    if (start + n <= c.size) {
      c.used = start + n;
      return c.mem.get() + start;
    }
    if (cur_ + 1 == chunks_.size()) break;
    chunks_[++cur_].used = 0;
  }
  const size_t size = std::max(kMinChunk, n + kAlign);
  Chunk c;
  c.mem = std::make_unique<std::byte[]>(size);
  c.size = size;
  chunks_.push_back(std::move(c));
  cur_ = chunks_.size() - 1;
  Chunk& nc = chunks_[cur_];
  const uintptr_t base = reinterpret_cast<uintptr_t>(nc.mem.get());
  const size_t start = align_up(base) - base;
  nc.used = start + n;
  return nc.mem.get() + start;
}

void Arena::release(Mark m) {
  if (chunks_.empty()) return;
  MM_CHECK(m.chunk <= cur_, "arena scopes released out of order");
  cur_ = m.chunk;
  if (cur_ < chunks_.size()) chunks_[cur_].used = m.used;
}

size_t Arena::capacity() const {
  size_t n = 0;
  for (const Chunk& c : chunks_) n += c.size;
  return n;
}

}  // namespace mm
