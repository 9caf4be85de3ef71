// Helpers shared by the MiniMax-M2 tests: golden loading, running a model over token ids, and a small
// independent safetensors reader/writer for building corrupted or modified checkpoints.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model.h"

namespace m2test {

namespace fs = std::filesystem;

inline fs::path tiny_dir() { return fs::path(MM_SHARED_DIR) / "testdata" / "minimax_m2_tiny"; }

inline nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  return nlohmann::json::parse(f);
}

inline void write_json(const fs::path& p, const nlohmann::json& j) {
  std::ofstream f(p);
  f << j.dump(2) << "\n";
}

inline const nlohmann::json& golden() {
  static const nlohmann::json g = read_json(tiny_dir() / "golden.json");
  return g;
}

inline std::vector<int32_t> ids_of(const nlohmann::json& a) {
  std::vector<int32_t> r;
  for (const auto& v : a) r.push_back(v.get<int32_t>());
  return r;
}

// Runs ids through a fresh sequence: the first chunk sizes from `chunks` (each one forward call),
// the rest in one call. Returns all logits [n, vocab].
inline std::vector<float> run_chunks(mm::Model& m, const std::vector<int32_t>& ids, const std::vector<int64_t>& chunks) {
  const int64_t V = m.config().vocab_size, n = int64_t(ids.size());
  std::vector<float> logits(static_cast<size_t>(n * V));  // [n, vocab]
  auto seq = m.new_sequence(0);
  mm::ExecContext ctx;  // default math mode, physical cores
  int64_t pos = 0;
  auto step = [&](int64_t cnt) {
    mm::BatchItem it{seq.get(), ids.data() + pos, cnt, logits.data() + pos * V, true};
    m.forward({&it, 1}, ctx);
    pos += cnt;
  };
  for (int64_t c : chunks)
    if (pos < n) step(std::min(c, n - pos));
  if (pos < n) step(n - pos);
  return logits;
}

// max |a[r] - golden row r| over rows given as a JSON array of arrays.
inline double max_diff_rows(const float* a, int64_t V, const nlohmann::json& rows) {
  double d = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ(int64_t(rows[r].size()), V);
    for (int64_t c = 0; c < V; ++c) d = std::max(d, std::fabs(double(a[int64_t(r) * V + c]) - rows[r][size_t(c)].get<double>()));
  }
  return d;
}

inline int32_t argmax(const float* v, int64_t n) {
  int32_t b = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[b]) b = int32_t(i);
  return b;
}

// ---- a tiny safetensors reader/writer, independent of the engine's

struct RawTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

struct RawFile {
  nlohmann::json metadata;  // "__metadata__" (may be null)
  std::vector<RawTensor> tensors;

  RawTensor* find(const std::string& name) {
    for (auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  void erase(const std::string& name) {
    std::erase_if(tensors, [&](const RawTensor& t) { return t.name == name; });
  }
};

inline RawFile read_safetensors(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  uint64_t hlen = 0;
  f.read(reinterpret_cast<char*>(&hlen), 8);
  std::string header(hlen, '\0');
  f.read(header.data(), std::streamsize(hlen));
  std::vector<uint8_t> body((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto j = nlohmann::json::parse(header);
  RawFile r;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      r.metadata = it.value();
      continue;
    }
    RawTensor t;
    t.name = it.key();
    t.dtype = it.value()["dtype"].get<std::string>();
    t.shape = it.value()["shape"].get<std::vector<int64_t>>();
    const auto off = it.value()["data_offsets"].get<std::vector<size_t>>();
    t.data.assign(body.begin() + std::ptrdiff_t(off[0]), body.begin() + std::ptrdiff_t(off[1]));
    r.tensors.push_back(std::move(t));
  }
  return r;
}

inline void write_safetensors(const fs::path& p, const RawFile& r) {
  nlohmann::ordered_json j;
  if (!r.metadata.is_null()) j["__metadata__"] = r.metadata;
  size_t off = 0;
  for (const auto& t : r.tensors) {
    j[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.data.size()}}};
    off += t.data.size();
  }
  std::string header = j.dump();
  while (header.size() % 8) header += ' ';
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  const uint64_t hlen = header.size();
  f.write(reinterpret_cast<const char*>(&hlen), 8);
  f.write(header.data(), std::streamsize(header.size()));
  for (const auto& t : r.tensors) f.write(reinterpret_cast<const char*>(t.data.data()), std::streamsize(t.data.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

// A writable copy of a model folder under the test temp dir.
inline fs::path copy_model(const fs::path& src, const std::string& name) {
  const fs::path dst = fs::path(::testing::TempDir()) / ("m2_" + name);
  fs::remove_all(dst);
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    fs::copy_file(e.path(), dst / e.path().filename());
    fs::permissions(dst / e.path().filename(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
  }
  return dst;
}

// Which shard of a sharded folder holds `tensor` (from the index's weight_map).
inline fs::path shard_of(const fs::path& dir, const std::string& tensor) {
  return dir / read_json(dir / "model.safetensors.index.json")["weight_map"][tensor].get<std::string>();
}

// The mm::Error message that loading `dir` raises ("" if it loads).
inline std::string load_error(const fs::path& dir) {
  try {
    mm::load_model(dir.string());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// float8 e4m3fn decoding, written from the format definition (bias 7, no infinities, S.1111.111 = NaN).
inline float e4m3_value(uint8_t b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const float s = (b & 0x80) ? -1.0f : 1.0f;
  if (e == 15 && m == 7) return NAN;
  if (e == 0) return s * std::ldexp(float(m), -9);
  return s * std::ldexp(1.0f + float(m) / 8.0f, e - 7);
}

inline float f32_at(const std::vector<uint8_t>& d, size_t i) {
  float v;
  std::memcpy(&v, d.data() + i * 4, 4);
  return v;
}

}  // namespace m2test
