// Arena: a bump allocator for scratch memory that lives for one operation. Allocations are 64-byte
// aligned and stay valid until the ArenaScope that was open when they were made closes; the memory
// itself is kept (in chunks that never move) and reused by the next operation, so steady-state
// forwards allocate nothing. Not thread-safe: one arena per thread (see Workspace).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace mm {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // n uninitialised T (trivial types only), 64-byte aligned; n == 0 gives a valid non-null pointer.
  template <class T>
  T* alloc(size_t n) {
    static_assert(std::is_trivially_copyable_v<T>, "Arena holds trivial types only");
    return static_cast<T*>(alloc_bytes(n * sizeof(T)));
  }
  void* alloc_bytes(size_t n);

  // Position to return to (ArenaScope restores it).
  struct Mark {
    size_t chunk = 0, used = 0;
  };
  Mark mark() const { return {cur_, cur_ < chunks_.size() ? chunks_[cur_].used : 0}; }
  void release(Mark m);
  // Bytes reserved in all chunks (for tests and memory reports).
  size_t capacity() const;

 private:
  struct Chunk {
    std::unique_ptr<std::byte[]> mem;
    size_t size = 0, used = 0;
  };
  std::vector<Chunk> chunks_;
  size_t cur_ = 0;  // chunk being filled; chunks after it are empty and kept for reuse
};

// Frees everything allocated from `a` while it was alive (stack discipline: scopes nest).
class ArenaScope {
 public:
  explicit ArenaScope(Arena& a) : a_(a), m_(a.mark()) {}
  ~ArenaScope() { a_.release(m_); }
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  Arena& a_;
  Arena::Mark m_;
};

}  // namespace mm
