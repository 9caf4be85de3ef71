// GGUF reader: header, metadata, tensor infos, all validated against the file's bounds.
//
// File layout (GGUF v2/v3, little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count; then
// kv_count x {string key, u32 type, value}; then tensor_count x {string name, u32 n_dims, u64 ne[n_dims],
// u32 ggml_type, u64 offset}; then padding to `general.alignment` (default 32); then the data section,
// where each tensor sits at data_start + offset. Strings are u64 length + bytes (no terminator);
// arrays are u32 element type + u64 count + elements.
#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "core/error.h"
#include "core/formats/block_format.h"

namespace mm {

namespace {

struct GgmlTypeInfo {
  const char* name;
  int block_elems;  // 0: unknown / removed number
  int block_bytes;
};

// ggml's type numbering; block sizes per the GGUF specification's type table.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {"F32", 1, 4},       {"F16", 1, 2},       {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {nullptr, 0, 0},     {nullptr, 0, 0},     {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},    {"Q8_1", 32, 36},    {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},  {"Q5_K", 256, 176},  {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},  {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},        {"I16", 1, 2},       {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},       {"IQ1_M", 256, 56},  {"BF16", 1, 2},       {nullptr, 0, 0},
    {nullptr, 0, 0},     {nullptr, 0, 0},     {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {nullptr, 0, 0},     {nullptr, 0, 0},     {nullptr, 0, 0},      {"MXFP4", 32, 17},
};
const GgmlTypeInfo& ggml_info(uint32_t t) {
  static const GgmlTypeInfo kNone{nullptr, 0, 0};
  return t < std::size(kGgmlTypes) ? kGgmlTypes[t] : kNone;
}

// The ggml types the engine reads: the plain ones here, the block formats from their rows in
// core/formats/block_format.h, whose names and sizes must be ggml's.
struct DTypeMap {
  uint32_t ggml;
  DType dtype;
};
constexpr DTypeMap kPlainTypes[] = {{0, DType::F32}, {1, DType::F16}, {30, DType::BF16}};

constexpr bool block_formats_match_ggml() {
  for (const BlockFormat& f : kBlockFormats) {
    if (f.ggml_type >= std::size(kGgmlTypes)) return false;
    const GgmlTypeInfo& g = kGgmlTypes[f.ggml_type];
    if (g.name == nullptr || std::string_view(g.name) != f.name || g.block_elems != f.block_elems ||
        g.block_bytes != f.block_bytes)
      return false;
  }
  return true;
}
static_assert(block_formats_match_ggml(), "a row of kBlockFormats disagrees with ggml's type table");

bool find_dtype(uint32_t t, DType* out) {
  for (const auto& m : kPlainTypes)
    if (m.ggml == t) {
      *out = m.dtype;
      return true;
    }
  for (const BlockFormat& f : kBlockFormats)
    if (f.ggml_type == t) {
      *out = f.type;
      return true;
    }
  return false;
}

// Bounds-checked little-endian reader over the mapped bytes.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t size, const std::string& path) : p_(p), size_(size), path_(path) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("GGUF file " + path_ + ": " + what + " (at byte " + std::to_string(pos_) + " of " +
                std::to_string(size_) + ")");
  }
  void need(uint64_t n, const char* what) const {
    if (n > remaining()) fail(std::string("truncated: ") + what + " runs past the end of the file");
  }
  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail(std::string(what) + " has length " + std::to_string(len) + ", past the end of the file");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }

 private:
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    default: return 0;
  }
}

bool valid_type(uint32_t t) { return t <= uint32_t(GgufType::FLOAT64); }

nlohmann::json read_value(Cursor& c, GgufType t, const std::string& key, int depth,
                          GgufType* elem_type_out) {
  switch (t) {
    case GgufType::UINT8: return c.read<uint8_t>(key.c_str());
    case GgufType::INT8: return c.read<int8_t>(key.c_str());
    case GgufType::UINT16: return c.read<uint16_t>(key.c_str());
    case GgufType::INT16: return c.read<int16_t>(key.c_str());
    case GgufType::UINT32: return c.read<uint32_t>(key.c_str());
    case GgufType::INT32: return c.read<int32_t>(key.c_str());
    case GgufType::UINT64: return c.read<uint64_t>(key.c_str());
    case GgufType::INT64: return c.read<int64_t>(key.c_str());
    case GgufType::FLOAT32: return double(c.read<float>(key.c_str()));
    case GgufType::FLOAT64: return c.read<double>(key.c_str());
    case GgufType::BOOL: {
      uint8_t b = c.read<uint8_t>(key.c_str());
      if (b > 1) c.fail("metadata key '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1");
      return b != 0;
    }
    case GgufType::STRING: return c.read_string(("string value of '" + key + "'").c_str());
    case GgufType::ARRAY: {
      if (depth > 4) c.fail("metadata key '" + key + "': arrays nested too deeply");
      uint32_t et = c.read<uint32_t>(key.c_str());
      if (!valid_type(et))
        c.fail("metadata key '" + key + "': unknown array element type " + std::to_string(et));
      uint64_t n = c.read<uint64_t>(key.c_str());
      GgufType e = GgufType(et);
      // Every element takes at least this many bytes: reject impossible counts before allocating.
      size_t min_size = e == GgufType::STRING ? 8 : e == GgufType::ARRAY ? 12 : scalar_size(e);
      if (n > c.remaining() / min_size)
        c.fail("metadata key '" + key + "': array of " + std::to_string(n) + " " +
               gguf_type_name(e) + " elements does not fit in the file");
      if (elem_type_out) *elem_type_out = e;
      nlohmann::json arr = nlohmann::json::array();
      arr.get_ref<nlohmann::json::array_t&>().reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) arr.push_back(read_value(c, e, key, depth + 1, nullptr));
      return arr;
    }
  }
  c.fail("metadata key '" + key + "': unknown value type " + std::to_string(uint32_t(t)));
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* kNames[] = {"UINT8", "INT8",  "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
                                 "BOOL",  "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
  return valid_type(uint32_t(t)) ? kNames[uint32_t(t)] : "?";
}

const char* ggml_type_name(uint32_t t) { return ggml_info(t).name; }

bool ggml_type_to_dtype(uint32_t t, DType* out) { return find_dtype(t, out); }

uint32_t dtype_to_ggml_type(DType t) {
  for (const auto& m : kPlainTypes)
    if (m.dtype == t) return m.ggml;
  if (const BlockFormat* f = block_format(t)) return f->ggml_type;
  MM_CHECK(false, std::string("dtype ") + dtype_name(t) + " has no GGUF type");
  return 0;
}

GgufFile::GgufFile(const std::string& path) : GgufFile(std::make_shared<MappedFile>(path)) {}

GgufFile::GgufFile(std::shared_ptr<MappedFile> file) : path_(file->path()), file_(std::move(file)) {
  Cursor c(file_->data(), file_->size(), path_);
  if (file_->size() < 24) c.fail("too small to be a GGUF file (the header alone is 24 bytes)");
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != 0x46554747u) {  // "GGUF"
    if (magic == 0x47475546u) c.fail("big-endian GGUF files are not supported");
    c.fail("bad magic: not a GGUF file");
  }
  version_ = c.read<uint32_t>("version");
  if (version_ == 1) c.fail("GGUF version 1 is not supported (re-convert the model; v2 and v3 are)");
  if (version_ != 2 && version_ != 3)
    c.fail("unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Minimum sizes: a kv is key (8) + type (4) + 1 byte; a tensor info is name (8) + n_dims (4) +
  // one ne (8) + type (4) + offset (8).
  if (n_kv > c.remaining() / 13)
    c.fail("header claims " + std::to_string(n_kv) + " metadata entries, more than the file can hold");
  if (n_tensors > c.remaining() / 32)
    c.fail("header claims " + std::to_string(n_tensors) + " tensors, more than the file can hold");

  std::unordered_set<std::string> keys;
  kvs_.reserve(size_t(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufKv kv;
    kv.key = c.read_string("metadata key");
    if (!keys.insert(kv.key).second) c.fail("duplicate metadata key '" + kv.key + "'");
    uint32_t t = c.read<uint32_t>(kv.key.c_str());
    if (!valid_type(t)) c.fail("metadata key '" + kv.key + "' has unknown value type " + std::to_string(t));
    kv.type = GgufType(t);
    kv.value = read_value(c, kv.type, kv.key, 0, &kv.elem_type);
    kvs_.push_back(std::move(kv));
  }
  if (const GgufKv* a = find_kv("general.alignment")) {
    if (a->type != GgufType::UINT32) c.fail("general.alignment must be UINT32, not " + std::string(gguf_type_name(a->type)));
    uint64_t al = a->value.get<uint64_t>();
    if (al == 0 || (al & (al - 1)) != 0) c.fail("general.alignment " + std::to_string(al) + " is not a power of two");
    alignment_ = al;
  }

  std::unordered_set<std::string> names;
  tensors_.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.read_string("tensor name");
    const std::string where = "tensor '" + t.name + "'";
    if (!names.insert(t.name).second) c.fail("duplicate " + where);
    uint32_t n_dims = c.read<uint32_t>(where.c_str());
    if (n_dims == 0 || n_dims > 4) c.fail(where + " has " + std::to_string(n_dims) + " dimensions (1..4 allowed)");
    int64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = c.read<uint64_t>(where.c_str());
      if (ne > (uint64_t(1) << 40)) c.fail(where + " dimension " + std::to_string(d) + " = " + std::to_string(ne) + " is absurd");
      if (__builtin_mul_overflow(n_el, int64_t(ne), &n_el)) c.fail(where + " element count overflows");
      t.ne.push_back(int64_t(ne));
    }
    t.ggml_type = c.read<uint32_t>(where.c_str());
    const GgmlTypeInfo& ti = ggml_info(t.ggml_type);
    if (!ti.name) c.fail(where + " has unknown ggml type " + std::to_string(t.ggml_type));
    t.offset = c.read<uint64_t>(where.c_str());
    if (t.ne[0] % ti.block_elems != 0)
      c.fail(where + ": row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + ti.name +
             " block size " + std::to_string(ti.block_elems));
    uint64_t nb = 0;
    if (__builtin_mul_overflow(uint64_t(n_el / ti.block_elems), uint64_t(ti.block_bytes), &nb))
      c.fail(where + " byte size overflows");
    t.n_bytes = size_t(nb);
    tensors_.push_back(std::move(t));
  }

  data_offset_ = (uint64_t(c.pos()) + alignment_ - 1) / alignment_ * alignment_;
  const uint64_t fsize = file_->size();
  if (!tensors_.empty() && data_offset_ > fsize)
    throw Error("GGUF file " + path_ + ": data section starts at " + std::to_string(data_offset_) +
                ", past the end of the file (" + std::to_string(fsize) + " bytes); the file is truncated");
  std::vector<const GgufTensor*> by_offset;
  for (auto& t : tensors_) {
    const std::string where = "GGUF file " + path_ + ": tensor '" + t.name + "'";
    if (t.offset % alignment_ != 0)
      throw Error(where + " offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                  std::to_string(alignment_));
    uint64_t end;
    if (t.offset > fsize || __builtin_add_overflow(data_offset_, t.offset, &end) ||
        __builtin_add_overflow(end, uint64_t(t.n_bytes), &end) || end > fsize)
      throw Error(where + " (" + ggml_info(t.ggml_type).name + ", " + std::to_string(t.n_bytes) +
                  " bytes at data offset " + std::to_string(t.offset) + ") extends past the end of the file (" +
                  std::to_string(fsize) + " bytes); the file is truncated or corrupt");
    t.data = file_->data() + data_offset_ + t.offset;
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor* a = by_offset[i - 1];
    const GgufTensor* b = by_offset[i];
    if (a->offset + a->n_bytes > b->offset)
      throw Error("GGUF file " + path_ + ": tensors '" + a->name + "' and '" + b->name + "' overlap");
  }
}

const GgufKv* GgufFile::find_kv(const std::string& key) const {
  for (const auto& kv : kvs_)
    if (kv.key == key) return &kv;
  return nullptr;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufKv* kv = find_kv(key);
  if (!kv) throw Error("GGUF file " + path_ + ": metadata key '" + key + "' is missing");
  if (!kv->value.is_number_integer() && !kv->value.is_boolean())
    throw Error("GGUF file " + path_ + ": metadata key '" + key + "' is " + gguf_type_name(kv->type) +
                ", expected an integer");
  if (kv->value.is_boolean()) return kv->value.get<bool>();
  if (kv->value.is_number_unsigned()) {
    uint64_t u = kv->value.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) throw Error("GGUF file " + path_ + ": metadata key '" + key + "' is too large");
    return int64_t(u);
  }
  return kv->value.get<int64_t>();
}

int64_t GgufFile::get_int(const std::string& key, int64_t dflt) const {
  return find_kv(key) ? get_int(key) : dflt;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufKv* kv = find_kv(key);
  if (!kv) throw Error("GGUF file " + path_ + ": metadata key '" + key + "' is missing");
  if (!kv->value.is_number())
    throw Error("GGUF file " + path_ + ": metadata key '" + key + "' is " + gguf_type_name(kv->type) +
                ", expected a number");
  return kv->value.get<double>();
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufKv* kv = find_kv(key);
  if (!kv) throw Error("GGUF file " + path_ + ": metadata key '" + key + "' is missing");
  if (!kv->value.is_string())
    throw Error("GGUF file " + path_ + ": metadata key '" + key + "' is " + gguf_type_name(kv->type) +
                ", expected a string");
  return kv->value.get<std::string>();
}

}  // namespace mm
