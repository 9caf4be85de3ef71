// Process-wide allocator settings for inference (called once by the frontends).
#pragma once

namespace mm {

// A forward pass allocates its activation buffers (several MiB to tens of MiB at prefill) and frees them
// at the end. glibc would hand such blocks back to the kernel (munmap / heap trim) each time, so every
// forward page-faults and zeroes them again: ~25% of an M2-shaped 512-token prefill. This keeps blocks up
// to 32 MiB (glibc's maximum threshold) in the heap and stops trimming it, so the memory is reused.
void tune_allocator_for_inference();

}  // namespace mm
