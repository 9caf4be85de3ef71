#include "convert/safetensors_writer.h"

#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mm {

static size_t tensor_bytes(const TensorToWrite& t) {
  int64_t n = 1;
  for (auto d : t.shape) n *= d;
  return size_t(n) * size_t(dtype_info(t.dtype).block_bytes);
}

void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::function<void(size_t, size_t)>& progress) {
  nlohmann::ordered_json hdr = nlohmann::ordered_json::object();
  hdr["__metadata__"] = {{"format", "pt"}};
  size_t off = 0;
  for (const auto& t : tensors) {
    MM_CHECK(!dtype_is_block_quant(t.dtype), t.name);
    size_t n = tensor_bytes(t);
    hdr[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string h = hdr.dump();
  while ((8 + h.size()) % 8) h += ' ';  // keep the data section 8-byte aligned
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!f) throw Error("cannot write " + path);
  uint64_t n_header = h.size();
  bool ok = std::fwrite(&n_header, 8, 1, f.get()) == 1 && std::fwrite(h.data(), 1, h.size(), f.get()) == h.size();
  std::vector<uint8_t> buf;
  size_t done = 0;
  for (const auto& t : tensors) {
    size_t n = tensor_bytes(t);
    buf.resize(n);
    t.fill(buf.data(), n);
    ok = ok && std::fwrite(buf.data(), 1, n, f.get()) == n;
    done += n;
    if (progress) progress(done, off);
  }
  if (!ok || std::fflush(f.get()) != 0) throw Error("write to " + path + " failed (disk full?)");
}

}  // namespace mm
