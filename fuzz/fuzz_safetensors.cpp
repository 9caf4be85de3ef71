// libFuzzer target: the safetensors reader (io/safetensors.h) on arbitrary bytes, held in memory so the
// sanitizer sees a read past the end. mm::Error is the expected answer to a bad file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  mm::TensorStore store;
  try {
    mm::safetensors_load_mapped(std::make_shared<mm::MappedFile>("fuzz.safetensors", bytes), store);
  } catch (const mm::Error&) {
  }
  return 0;
}
