#include "io/tensor_store.h"

#include "core/error.h"

namespace mm {

std::string TensorInfo::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const TensorInfo& TensorStore::get(const std::string& name) const {
  auto* t = find(name);
  if (!t) throw Error("tensor '" + name + "' is missing from " + source_);
  return *t;
}

void TensorStore::add(TensorInfo t) {
  if (tensors_.count(t.name)) throw Error("tensor '" + t.name + "' appears twice (" + t.file + ")");
  std::string name = t.name;
  tensors_.emplace(std::move(name), std::move(t));
}

}  // namespace mm
