#include "core/allocator.h"

#include <malloc.h>

#include <climits>

namespace mm {

void tune_allocator_for_inference() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

}  // namespace mm
