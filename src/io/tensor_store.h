// A read-only view of a checkpoint's tensors by name, whatever the file format (safetensors folder or
// GGUF file). Names and shapes are Hugging Face's: shape lists the outermost dimension first (PyTorch
// order, a Linear weight is [out, in]); data points into memory-mapped files and is row-major.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace mm {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  std::string file;  // for error messages

  int64_t n_elements() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::string shape_str() const;
};

class TensorStore {
 public:
  const TensorInfo* find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }
  // Throws mm::Error naming the tensor (and where it was looked for) if absent.
  const TensorInfo& get(const std::string& name) const;
  const std::map<std::string, TensorInfo>& all() const { return tensors_; }
  std::string source() const { return source_; }

  // Used by the loaders.
  void add(TensorInfo t);
  void keep_file(std::shared_ptr<MappedFile> f) { files_.push_back(std::move(f)); }
  // Memory owned by the store (e.g. tensors converted at load time); returns its data pointer.
  uint8_t* keep_buffer(size_t n_bytes) {
    buffers_.push_back(std::make_unique<uint8_t[]>(n_bytes));
    return buffers_.back().get();
  }
  void set_source(std::string s) { source_ = std::move(s); }

 private:
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::vector<std::unique_ptr<uint8_t[]>> buffers_;
  std::string source_;
};

}  // namespace mm
