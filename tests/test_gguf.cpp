// GGUF reader: the six test files against golden.json's `gguf` section, and corrupt files that must
// each give a clear mm::Error (never a crash or an out-of-bounds read).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kGguf = std::string(MM_SHARED_DIR) + "/testdata/gguf/";

using mm::test::read_bytes;
auto load_json(const std::string& path) { return mm::test::read_ordered_json(path); }
auto plain(const nlohmann::ordered_json& j) { return mm::test::to_plain_json(j); }

class TempDir {
 public:
  TempDir() {
    dir_ = fs::temp_directory_path() / ("mm_test_gguf_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  ~TempDir() { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::string p = (dir_ / name).string();
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
    return p;
  }

 private:
  fs::path dir_;
};

struct Variant {
  const char* arch;
  const char* variant;
};
const Variant kVariants[] = {{"minimax_text01", "f32"}, {"minimax_text01", "q8_0"}, {"minimax_text01", "q4_k_m"},
                             {"minimax_m2", "f32"},     {"minimax_m2", "q8_0"},     {"minimax_m2", "q4_k_m"}};

TEST(GgufRead, TestFilesMatchGolden) {
  for (const auto& v : kVariants) {
    const std::string dir = kGguf + v.arch + "/" + v.variant + "/";
    SCOPED_TRACE(dir);
    auto g = load_json(dir + "golden.json")["gguf"];
    mm::GgufFile f(dir + "model.gguf");
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.get_string("general.architecture"), g["architecture"].get<std::string>());
    // Tensors: names, types and ne in file order; counts per type.
    const auto& types = g["tensor_types"];
    const auto& nes = g["tensor_ne"];
    ASSERT_EQ(f.tensors().size(), types.size());
    std::map<std::string, int> counts;
    size_t i = 0;
    for (auto it = types.begin(); it != types.end(); ++it, ++i) {
      const mm::GgufTensor& t = f.tensors()[i];
      EXPECT_EQ(t.name, it.key());
      EXPECT_EQ(std::string(mm::ggml_type_name(t.ggml_type)), it.value().get<std::string>()) << t.name;
      EXPECT_EQ(t.ne, nes[t.name].get<std::vector<int64_t>>()) << t.name;
      EXPECT_EQ(t.offset % 32, 0u);
      counts[mm::ggml_type_name(t.ggml_type)]++;
    }
    for (auto it = g["tensor_type_counts"].begin(); it != g["tensor_type_counts"].end(); ++it)
      EXPECT_EQ(counts[it.key()], it.value().get<int>()) << it.key();
    // The last tensor ends within the final alignment padding of the file.
    uint64_t end = 0;
    for (const auto& t : f.tensors()) end = std::max<uint64_t>(end, f.data_offset() + t.offset + t.n_bytes);
    EXPECT_LE(end, g["size"].get<uint64_t>());
    EXPECT_GT(end + 32, g["size"].get<uint64_t>());
    // Metadata: every key, in order, with its type and value.
    const auto& md = g["metadata"];
    ASSERT_EQ(f.kvs().size(), md.size());
    i = 0;
    for (auto it = md.begin(); it != md.end(); ++it, ++i) {
      const mm::GgufKv& kv = f.kvs()[i];
      EXPECT_EQ(kv.key, it.key());
      const std::string type = it.value()["type"];
      if (type.rfind("ARRAY[", 0) == 0) {
        EXPECT_EQ(kv.type, mm::GgufType::ARRAY) << kv.key;
        EXPECT_EQ("ARRAY[" + std::string(mm::gguf_type_name(kv.elem_type)) + "]", type) << kv.key;
        EXPECT_EQ(kv.value.size(), it.value()["len"].get<size_t>()) << kv.key;
        const auto& head = it.value()["head"];
        for (size_t k = 0; k < head.size(); ++k) EXPECT_EQ(kv.value[k], plain(head[k])) << kv.key << "[" << k << "]";
      } else {
        EXPECT_EQ(std::string(mm::gguf_type_name(kv.type)), type) << kv.key;
        EXPECT_EQ(kv.value, plain(it.value()["value"])) << kv.key;
      }
    }
  }
}

TEST(GgufRead, Tokenizer) {
  mm::GgufFile f(kGguf + "minimax_m2/q8_0/model.gguf");
  mm::GgufTokenizer t = mm::gguf_tokenizer(f);
  EXPECT_EQ(t.model, "gpt2");
  EXPECT_EQ(t.pre, "qwen2");
  ASSERT_EQ(t.tokens.size(), 320u);
  EXPECT_EQ(t.tokens[0], "!");
  EXPECT_EQ(t.tokens[319], "<|endoftext|>");
  EXPECT_EQ(t.merges.size(), 63u);
  EXPECT_EQ(t.merges[2], "i n");
  EXPECT_EQ(t.token_types.size(), 320u);
  EXPECT_EQ(t.token_types[0], 1);
  EXPECT_EQ(t.token_types[319], 3);  // control
  EXPECT_EQ(t.eos_id, 319);
  EXPECT_EQ(t.bos_id, -1);
}

// ---- corrupt files -----------------------------------------------------------------------------------

// A small valid GGUF built by hand, remembering where each field sits so tests can corrupt it.
struct Built {
  std::string bytes;
  std::map<std::string, size_t> at;
};

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& s, const std::string& v) {
  put_u64(s, v.size());
  s += v;
}

Built build_small() {
  Built b;
  std::string& s = b.bytes;
  s += "GGUF";
  b.at["version"] = s.size();
  put_u32(s, 3);
  b.at["n_tensors"] = s.size();
  put_u64(s, 2);
  b.at["n_kv"] = s.size();
  put_u64(s, 3);
  b.at["kv0_key_len"] = s.size();
  put_str(s, "general.architecture");
  b.at["kv0_type"] = s.size();
  put_u32(s, 8);
  put_str(s, "minimax-m2");
  b.at["kv1_key_len"] = s.size();
  put_str(s, "general.alignment");
  put_u32(s, 4);
  b.at["alignment"] = s.size();
  put_u32(s, 32);
  put_str(s, "tokenizer.ggml.tokens");
  put_u32(s, 9);
  put_u32(s, 8);
  b.at["arr_count"] = s.size();
  put_u64(s, 2);
  put_str(s, "a");
  b.at["arr_str1_len"] = s.size();
  put_str(s, "bc");
  // tensor 0: F32 [32, 2] at 0 (256 bytes); tensor 1: Q8_0 [32, 2] at 256 (68 bytes)
  b.at["t0"] = s.size();
  put_str(s, "a.weight");
  b.at["t0_ndims"] = s.size();
  put_u32(s, 2);
  b.at["t0_ne0"] = s.size();
  put_u64(s, 32);
  put_u64(s, 2);
  b.at["t0_type"] = s.size();
  put_u32(s, 0);
  b.at["t0_offset"] = s.size();
  put_u64(s, 0);
  put_str(s, "b.weight");
  put_u32(s, 2);
  b.at["t1_ne0"] = s.size();
  put_u64(s, 32);
  put_u64(s, 2);
  b.at["t1_type"] = s.size();
  put_u32(s, 8);
  b.at["t1_offset"] = s.size();
  put_u64(s, 256);
  while (s.size() % 32) s += '\0';
  b.at["data"] = s.size();
  for (int i = 0; i < 64; ++i) {
    float x = float(i) * 0.25f;
    s.append(reinterpret_cast<const char*>(&x), 4);
  }
  s.append(68, '\0');
  return b;
}

void patch_u32(Built& b, const std::string& field, uint32_t v) { std::memcpy(&b.bytes[b.at.at(field)], &v, 4); }
void patch_u64(Built& b, const std::string& field, uint64_t v) { std::memcpy(&b.bytes[b.at.at(field)], &v, 8); }

// Opening `bytes` must throw mm::Error whose message names the file and contains `needle`.
void expect_error(const TempDir& tmp, const std::string& name, const std::string& bytes, const std::string& needle) {
  const std::string path = tmp.write(name + ".gguf", bytes);
  try {
    mm::GgufFile f(path);
    ADD_FAILURE() << name << ": no error";
  } catch (const mm::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << name << ": message does not name the file: " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << name << ": expected '" << needle << "' in: " << msg;
  }
}

TEST(GgufCorrupt, HandBuiltFileIsValid) {
  TempDir tmp;
  Built b = build_small();
  mm::GgufFile f(tmp.write("ok.gguf", b.bytes));
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.data_offset(), b.at["data"]);
  std::vector<float> x(64);
  std::memcpy(x.data(), f.tensors()[0].data, 256);
  EXPECT_EQ(x[5], 1.25f);
  EXPECT_EQ(f.tensors()[1].n_bytes, 68u);
  EXPECT_EQ(f.find_kv("tokenizer.ggml.tokens")->value[1], "bc");
}

TEST(GgufCorrupt, EachDefectGivesAClearError) {
  TempDir tmp;
  const Built good = build_small();
  auto with = [&](auto fn) {
    Built b = good;
    fn(b);
    return b.bytes;
  };
  expect_error(tmp, "bad_magic", with([](Built& b) { b.bytes[0] = 'X'; }), "bad magic");
  expect_error(tmp, "bad_version", with([](Built& b) { patch_u32(b, "version", 7); }), "unsupported GGUF version 7");
  expect_error(tmp, "version1", with([](Built& b) { patch_u32(b, "version", 1); }), "version 1");
  expect_error(tmp, "huge_tensor_count", with([](Built& b) { patch_u64(b, "n_tensors", uint64_t(1) << 60); }),
               "tensors, more than the file can hold");
  expect_error(tmp, "huge_kv_count", with([](Built& b) { patch_u64(b, "n_kv", ~uint64_t(0)); }),
               "metadata entries, more than the file can hold");
  expect_error(tmp, "key_len_past_eof", with([](Built& b) { patch_u64(b, "kv0_key_len", 1u << 30); }),
               "past the end of the file");
  expect_error(tmp, "string_len_past_eof", with([](Built& b) { patch_u64(b, "arr_str1_len", ~uint64_t(0) - 3); }),
               "past the end of the file");
  expect_error(tmp, "huge_array", with([](Built& b) { patch_u64(b, "arr_count", uint64_t(1) << 59); }),
               "does not fit in the file");
  expect_error(tmp, "unknown_value_type", with([](Built& b) { patch_u32(b, "kv0_type", 13); }),
               "unknown value type 13");
  expect_error(tmp, "bad_alignment", with([](Built& b) { patch_u32(b, "alignment", 24); }), "not a power of two");
  expect_error(tmp, "unknown_tensor_type", with([](Built& b) { patch_u32(b, "t1_type", 99); }),
               "tensor 'b.weight' has unknown ggml type 99");
  expect_error(tmp, "removed_tensor_type", with([](Built& b) { patch_u32(b, "t1_type", 4); }), "unknown ggml type 4");
  expect_error(tmp, "too_many_dims", with([](Built& b) { patch_u32(b, "t0_ndims", 9); }), "9 dimensions");
  expect_error(tmp, "offset_past_eof", with([](Built& b) { patch_u64(b, "t1_offset", 4096); }),
               "tensor 'b.weight'");
  expect_error(tmp, "offset_huge", with([](Built& b) { patch_u64(b, "t1_offset", ~uint64_t(0) - 31); }),
               "extends past the end of the file");
  expect_error(tmp, "misaligned_offset", with([](Built& b) { patch_u64(b, "t1_offset", 260); }),
               "tensor 'b.weight' offset 260 is not a multiple of the alignment 32");
  expect_error(tmp, "overlap", with([](Built& b) { patch_u64(b, "t1_offset", 224); }),
               "tensors 'a.weight' and 'b.weight' overlap");
  expect_error(tmp, "row_not_whole_blocks", with([](Built& b) { patch_u64(b, "t1_ne0", 33); }),
               "not a multiple of the Q8_0 block size 32");
  expect_error(tmp, "size_exceeds_file", with([](Built& b) { patch_u64(b, "t0_ne0", 64); }),
               "tensor 'a.weight'");
  expect_error(tmp, "duplicate_tensor", with([](Built& b) { b.bytes[b.at["t0"] + 8] = 'b'; }),
               "duplicate tensor 'b.weight'");
  expect_error(tmp, "truncated_data", good.bytes.substr(0, good.bytes.size() - 10), "extends past the end");
  expect_error(tmp, "truncated_header", good.bytes.substr(0, 20), "too small");
  expect_error(tmp, "empty", "", "too small");
}

// Every truncation of a real file's header and random byte damage give mm::Error or a valid parse,
// never a crash (run under the sanitizer build to check for out-of-bounds reads too).
TEST(GgufCorrupt, TruncationsAndBitFlipsOfARealFile) {
  TempDir tmp;
  const std::string real = read_bytes(kGguf + "minimax_m2/q4_k_m/model.gguf");
  mm::GgufFile ref(kGguf + "minimax_m2/q4_k_m/model.gguf");
  const size_t header_end = ref.data_offset();
  int errors = 0;
  for (size_t cut = 0; cut < header_end; cut += 211) {
    const std::string p = tmp.write("cut.gguf", real.substr(0, cut));
    try {
      mm::GgufFile f(p);
      ADD_FAILURE() << "truncation at " << cut << " accepted";
    } catch (const mm::Error& e) {
      ++errors;
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
    }
  }
  EXPECT_GT(errors, 10);
  expect_error(tmp, "real_truncated_in_data", real.substr(0, real.size() - 1000), "extends past the end of the file");
  std::mt19937 rng(99);
  int parsed = 0, rejected = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::string damaged = real.substr(0, header_end + 4096);
    for (int k = 0; k < 4; ++k) {
      size_t pos = std::uniform_int_distribution<size_t>(0, header_end - 1)(rng);
      damaged[pos] = char(std::uniform_int_distribution<int>(0, 255)(rng));
    }
    const std::string p = tmp.write("flip.gguf", damaged);
    try {
      mm::GgufFile f(p);
      ++parsed;
    } catch (const mm::Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(parsed + rejected, 200);
}

}  // namespace
