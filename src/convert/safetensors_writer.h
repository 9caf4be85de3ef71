// Writes safetensors files: a header built from the tensor list, then each tensor's bytes, produced
// by a callback so that multi-GB files stream without holding everything in memory.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace mm {

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  // Fills `dst` (exactly n_bytes) with the tensor's data.
  std::function<void(uint8_t* dst, size_t n_bytes)> fill;
};

// Writes one file; `progress(done_bytes, total_bytes)` may be null. Throws mm::Error on I/O failure.
void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace mm
