#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/json_depth.h"

namespace mm {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t(256) << 20;  // 256 MiB of JSON is already absurd

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw Error("invalid safetensors file " + path + ": " + what);
}

int64_t checked_numel(const std::string& path, const std::string& name, const nlohmann::json& shape) {
  if (!shape.is_array()) bad(path, "tensor '" + name + "': shape is not an array");
  int64_t n = 1;
  for (const auto& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      bad(path, "tensor '" + name + "': shape has a non-integer or negative dimension");
    int64_t v = d.get<int64_t>();
    if (v != 0 && n > (int64_t(1) << 50) / v) bad(path, "tensor '" + name + "': shape is absurdly large");
    n *= v;
  }
  return n;
}

}  // namespace

void safetensors_load_file(const std::string& path, TensorStore& store) {
  safetensors_load_mapped(std::make_shared<MappedFile>(path), store);
}

void safetensors_load_mapped(std::shared_ptr<MappedFile> file, TensorStore& store) {
  const std::string path = file->path();
  const size_t size = file->size();
  if (size < 8) bad(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t n_header = 0;
  std::memcpy(&n_header, file->data(), 8);  // little-endian on every supported host
  if (n_header > kMaxHeaderBytes || n_header > size - 8)
    bad(path, "header length " + std::to_string(n_header) + " exceeds the file size " + std::to_string(size) +
                  " (truncated or not a safetensors file)");
  const char* hdr = reinterpret_cast<const char*>(file->data() + 8);
  if (json_nesting_depth(std::string_view(hdr, size_t(n_header)), kMaxJsonDepth + 1) > kMaxJsonDepth)
    bad(path, "header nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(hdr, hdr + n_header);
  } catch (const nlohmann::json::exception& e) {
    bad(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) bad(path, "header is not a JSON object");
  const uint8_t* base = file->data() + 8 + n_header;
  const uint64_t n_data = size - 8 - n_header;

  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const auto& e = it.value();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      bad(path, "tensor '" + name + "': entry needs dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) bad(path, "tensor '" + name + "': dtype is not a string");
    TensorInfo t;
    t.name = name;
    t.file = path;
    std::string dt = e["dtype"].get<std::string>();
    if (!dtype_from_safetensors(dt, &t.dtype))
      bad(path, "tensor '" + name + "': unsupported dtype '" + dt + "' (supported: F32, F16, BF16, F8_E4M3, I32, I64)");
    int64_t numel = checked_numel(path, name, e["shape"]);
    for (const auto& d : e["shape"]) t.shape.push_back(d.get<int64_t>());
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad(path, "tensor '" + name + "': data_offsets must be two non-negative integers");
    uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    if (b > en || en > n_data)
      bad(path, "tensor '" + name + "': data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
                    ") lie outside the data section of " + std::to_string(n_data) + " bytes (truncated file?)");
    uint64_t want = uint64_t(numel) * uint64_t(dtype_info(t.dtype).block_bytes);
    if (en - b != want)
      bad(path, "tensor '" + name + "': " + std::to_string(en - b) + " bytes for " + dt + " shape " +
                    t.shape_str() + ", which needs " + std::to_string(want));
    t.data = base + b;
    t.n_bytes = size_t(en - b);
    spans.push_back({b, en, name});
    store.add(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end && spans[i].begin != spans[i].end)
      bad(path, "tensors '" + spans[i - 1].name + "' and '" + spans[i].name + "' overlap");
  // The tensors must tile the data section exactly (as the safetensors library requires): a hole or an
  // uncovered tail means the header length or the offsets are wrong, and the data would be misread.
  uint64_t covered = 0;
  for (const Span& sp : spans) {
    if (sp.begin == sp.end) continue;
    if (sp.begin != covered)
      bad(path, "bytes [" + std::to_string(covered) + ", " + std::to_string(sp.begin) + ") of the data section before "
                "tensor '" + sp.name + "' belong to no tensor (wrong header length or data_offsets?)");
    covered = sp.end;
  }
  if (covered != n_data)
    bad(path, "the data section has " + std::to_string(n_data) + " bytes but the tensors cover " +
                  std::to_string(covered) + " (wrong header length or data_offsets?)");
  store.keep_file(std::move(file));
}

TensorStore safetensors_load_dir(const std::string& dir) {
  TensorStore store;
  store.set_source(dir);
  fs::path d(dir);
  fs::path index = d / "model.safetensors.index.json";
  if (fs::exists(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text_file(index.string()));
    } catch (const nlohmann::json::exception& e) {
      throw Error("invalid " + index.string() + ": " + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error("invalid " + index.string() + ": no \"weight_map\" object");
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw Error("invalid " + index.string() + ": weight_map['" + it.key() + "'] is not a file name");
      std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f == "..")
        throw Error("invalid " + index.string() + ": shard name '" + f + "' must be a plain file name");
      shards.insert(f);
    }
    for (const auto& s : shards) {
      fs::path p = d / s;
      if (!fs::exists(p)) throw Error("shard " + p.string() + " named in " + index.string() + " does not exist");
      safetensors_load_file(p.string(), store);
    }
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      const TensorInfo* t = store.find(it.key());
      std::string want = (d / it.value().get<std::string>()).string();
      if (!t) throw Error("tensor '" + it.key() + "' is listed in " + index.string() + " but missing from " + want);
      if (t->file != want)
        throw Error("tensor '" + it.key() + "' is in " + t->file + " but " + index.string() + " says " + want);
    }
    return store;
  }
  if (fs::exists(d / "model.safetensors")) {
    safetensors_load_file((d / "model.safetensors").string(), store);
    return store;
  }
  std::vector<std::string> files;
  if (fs::is_directory(d))
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  if (files.empty()) throw Error("no safetensors weights in " + dir + " (expected model.safetensors or model.safetensors.index.json)");
  std::sort(files.begin(), files.end());
  for (const auto& f : files) safetensors_load_file(f, store);
  return store;
}

}  // namespace mm
