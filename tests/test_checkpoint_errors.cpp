// Bad checkpoints and configs are rejected with a clear message naming the file / tensor / key,
// never a crash or an out-of-bounds read (this suite also runs under ASan + UBSan).
#include <gtest/gtest.h>

#include <limits>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "convert/safetensors_writer.h"
#include "model/config.h"
#include "model/model.h"
#include "test_util.h"

namespace mm {
namespace {

namespace fs = std::filesystem;
using test::testdata;

void spit(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(s.data(), std::streamsize(s.size()));
}

// A copy of the tiny F32 model whose single safetensors file can be edited.
struct ModelCopy {
  test::TempDir dir;
  fs::path st;
  ModelCopy() {
    fs::copy_file(testdata("minimax_text01_tiny/model_f32/config.json"), dir.path / "config.json");
    st = dir.path / "model.safetensors";
    fs::copy_file(testdata("minimax_text01_tiny/model_f32/model.safetensors"), st);
    fs::permissions(st, fs::perms::owner_read | fs::perms::owner_write);
  }
  std::string bytes() const { return test::read_bytes(st.string()); }
  nlohmann::ordered_json header() const {
    std::string b = bytes();
    uint64_t n;
    std::memcpy(&n, b.data(), 8);
    return nlohmann::ordered_json::parse(b.substr(8, n));
  }
  std::string data() const {
    std::string b = bytes();
    uint64_t n;
    std::memcpy(&n, b.data(), 8);
    return b.substr(8 + n);
  }
  void write(const std::string& header_text, const std::string& data) {
    uint64_t n = header_text.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    spit(st, out + header_text + data);
  }
  void write(const nlohmann::ordered_json& h, const std::string& data) { write(h.dump(), data); }
};

// Loading must throw mm::Error whose message contains every one of `needles`.
void expect_load_error(const std::string& path, const std::vector<std::string>& needles) {
  try {
    load_model(path);
    FAIL() << "loading " << path << " did not fail";
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(CorruptSafetensors, ShorterThanHeaderLength) {
  ModelCopy m;
  spit(m.st, "abc");
  expect_load_error(m.dir.str(), {"model.safetensors", "shorter than the 8-byte header"});
}

TEST(CorruptSafetensors, HeaderLengthPastEnd) {
  ModelCopy m;
  std::string b = m.bytes();
  uint64_t huge = b.size() + 100;
  std::memcpy(b.data(), &huge, 8);
  spit(m.st, b);
  expect_load_error(m.dir.str(), {"model.safetensors", "header length"});
}

TEST(CorruptSafetensors, HeaderNotJson) {
  ModelCopy m;
  m.write(std::string("{\"a\": [1, 2"), m.data());
  expect_load_error(m.dir.str(), {"not valid JSON"});
}

// A header nested 100k levels deep is refused before it is parsed (walking it would overflow the stack).
TEST(CorruptSafetensors, HeaderNestedTooDeep) {
  ModelCopy m;
  m.write("{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}", m.data());
  expect_load_error(m.dir.str(), {"deeper than 128 levels"});
}

TEST(CorruptConfig, NestedTooDeep) {
  ModelCopy m;
  fs::remove(m.dir.path / "config.json");
  spit(m.dir.path / "config.json", "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  expect_load_error(m.dir.str(), {"config.json nests JSON deeper than 128 levels"});
}

TEST(CorruptSafetensors, HeaderNotObject) {
  ModelCopy m;
  m.write(std::string("[1, 2, 3]"), m.data());
  expect_load_error(m.dir.str(), {"not a JSON object"});
}

TEST(CorruptSafetensors, UnknownDtype) {
  ModelCopy m;
  auto h = m.header();
  h["model.norm.weight"]["dtype"] = "Q3_FANCY";
  m.write(h, m.data());
  expect_load_error(m.dir.str(), {"model.norm.weight", "unsupported dtype 'Q3_FANCY'"});
}

TEST(CorruptSafetensors, TruncatedData) {
  ModelCopy m;
  std::string b = m.bytes();
  spit(m.st, b.substr(0, b.size() - 1000));
  expect_load_error(m.dir.str(), {"outside the data section", "truncated"});
}

TEST(CorruptSafetensors, SizeInconsistentWithShape) {
  ModelCopy m;
  auto h = m.header();
  h["model.norm.weight"]["shape"] = {65};
  m.write(h, m.data());
  expect_load_error(m.dir.str(), {"model.norm.weight", "needs"});
}

// A header length one byte short (the header's padding space becomes data): every tensor would be read
// one byte off, giving NaN logits; the tensors no longer tile the data section, so it is refused.
TEST(CorruptSafetensors, HeaderLengthOffByOne) {
  ModelCopy m;
  const std::string text = m.header().dump() + "   ";
  const std::string data = m.data();
  const uint64_t n = text.size() - 1;
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  spit(m.st, out + text + data);
  expect_load_error(m.dir.str(), {"data section has " + std::to_string(data.size() + 1) + " bytes",
                                  "tensors cover " + std::to_string(data.size())});
}

TEST(CorruptSafetensors, BytesBelongingToNoTensor) {
  ModelCopy m;
  m.write(m.header(), m.data() + std::string(16, '\0'));
  expect_load_error(m.dir.str(), {"tensors cover"});
  auto h = m.header();
  const auto off = h["model.norm.weight"]["data_offsets"];
  // Every tensor from model.norm.weight on moved 64 bytes later: a hole before it.
  for (auto& [name, e] : h.items())
    if (name != "__metadata__" && e["data_offsets"][0].get<uint64_t>() >= off[0].get<uint64_t>())
      e["data_offsets"] = {e["data_offsets"][0].get<uint64_t>() + 64, e["data_offsets"][1].get<uint64_t>() + 64};
  std::string d = m.data();
  d.insert(size_t(off[0].get<uint64_t>()), 64, '\0');
  m.write(h, d);
  expect_load_error(m.dir.str(), {"belong to no tensor", "model.norm.weight"});
}

TEST(CorruptSafetensors, OverlappingTensors) {
  ModelCopy m;
  auto h = m.header();
  auto a = h["model.norm.weight"]["data_offsets"];
  // Point another tensor of the same size at the same bytes.
  h["model.layers.0.input_layernorm.weight"]["data_offsets"] = a;
  m.write(h, m.data());
  expect_load_error(m.dir.str(), {"overlap"});
}

TEST(CorruptSafetensors, NegativeDimension) {
  ModelCopy m;
  auto h = m.header();
  h["model.norm.weight"]["shape"] = {-64};
  m.write(h, m.data());
  expect_load_error(m.dir.str(), {"model.norm.weight", "negative"});
}

TEST(CorruptSafetensors, BadDataOffsets) {
  ModelCopy m;
  auto h = m.header();
  h["model.norm.weight"]["data_offsets"] = {10, 5};
  m.write(h, m.data());
  expect_load_error(m.dir.str(), {"model.norm.weight", "data_offsets"});
}

TEST(CorruptSafetensors, MissingRequiredTensor) {
  ModelCopy m;
  auto h = m.header();
  std::string d = m.data();
  // Drop the entry and its bytes, moving the later tensors down (the data section stays fully covered).
  const std::string gone = "model.layers.3.self_attn.k_proj.weight";
  const uint64_t b = h[gone]["data_offsets"][0], e = h[gone]["data_offsets"][1];
  h.erase(gone);
  d.erase(size_t(b), size_t(e - b));
  for (auto& [name, t] : h.items())
    if (name != "__metadata__" && t["data_offsets"][0].get<uint64_t>() >= e)
      t["data_offsets"] = {t["data_offsets"][0].get<uint64_t>() - (e - b), t["data_offsets"][1].get<uint64_t>() - (e - b)};
  m.write(h, d);
  expect_load_error(m.dir.str(), {"missing tensor 'model.layers.3.self_attn.k_proj.weight'"});
}

TEST(CorruptSafetensors, WrongTensorShape) {
  ModelCopy m;
  auto h = m.header();
  // Same byte count, transposed shape.
  auto& t = h["model.layers.0.self_attn.out_proj.weight"];
  auto shape = t["shape"];
  t["shape"] = {shape[1], shape[0]};
  m.write(h, m.data());
  expect_load_error(m.dir.str(), {"model.layers.0.self_attn.out_proj.weight", "has shape [128, 64], expected [64, 128]"});
}

TEST(CorruptSafetensors, EmptyFileAndDirectoryWithoutWeights) {
  ModelCopy m;
  spit(m.st, "");
  expect_load_error(m.dir.str(), {"shorter than"});
  fs::remove(m.st);
  expect_load_error(m.dir.str(), {"no safetensors weights"});
}

// A sharded copy of the bf16 model whose index can be edited.
struct ShardedCopy {
  test::TempDir dir;
  ShardedCopy() {
    for (const auto& e : fs::directory_iterator(testdata("minimax_text01_tiny/model_bf16"))) {
      fs::copy_file(e.path(), dir.path / e.path().filename());
      fs::permissions(dir.path / e.path().filename(), fs::perms::owner_read | fs::perms::owner_write);
    }
  }
  fs::path index() const { return dir.path / "model.safetensors.index.json"; }
};

TEST(CorruptShards, MissingShard) {
  ShardedCopy s;
  fs::remove(s.dir.path / "model-00001-of-00002.safetensors");
  expect_load_error(s.dir.str(), {"model-00001-of-00002.safetensors", "does not exist"});
}

TEST(CorruptShards, IndexNotJson) {
  ShardedCopy s;
  spit(s.index(), "{ not json");
  expect_load_error(s.dir.str(), {"model.safetensors.index.json"});
}

TEST(CorruptShards, IndexPointsToWrongShard) {
  ShardedCopy s;
  auto j = test::read_json(s.index().string());
  j["weight_map"]["lm_head.weight"] = "model-00002-of-00002.safetensors";
  spit(s.index(), j.dump());
  expect_load_error(s.dir.str(), {"lm_head.weight"});
}

TEST(CorruptShards, ShardNameEscapesFolder) {
  ShardedCopy s;
  auto j = test::read_json(s.index().string());
  j["weight_map"]["lm_head.weight"] = "../../etc/passwd";
  spit(s.index(), j.dump());
  expect_load_error(s.dir.str(), {"plain file name"});
}

// --- config.json validation
nlohmann::json tiny_config() { return test::read_json(testdata("minimax_text01_tiny/model_f32/config.json")); }

void expect_config_error(const nlohmann::json& j, const std::string& needle) {
  try {
    parse_model_config(j);
    FAIL() << "config accepted, expected error mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(BadConfig, RejectsInconsistentValues) {
  auto j = tiny_config();
  j["rotary_dim"] = 7;
  expect_config_error(j, "rotary_dim");
  j = tiny_config();
  j["rotary_dim"] = 32;
  expect_config_error(j, "rotary_dim");
  j = tiny_config();
  j["num_experts_per_tok"] = 9;
  expect_config_error(j, "num_experts_per_tok");
  j = tiny_config();
  j["attn_type_list"] = {0, 1};
  expect_config_error(j, "attn_type_list");
  j = tiny_config();
  j["attn_type_list"][0] = 2;
  expect_config_error(j, "attn_type_list");
  j = tiny_config();
  j["model_type"] = "llama";
  j["architectures"] = {"LlamaForCausalLM"};
  expect_config_error(j, "model_type");
  j = tiny_config();
  j["hidden_size"] = "64";
  expect_config_error(j, "hidden_size");
  j = tiny_config();
  j.erase("num_hidden_layers");
  expect_config_error(j, "num_hidden_layers");
  j = tiny_config();
  j["num_key_value_heads"] = 3;
  expect_config_error(j, "num_key_value_heads");
  j = tiny_config();
  j["shared_intermediate_size"] = 16;
  expect_config_error(j, "shared_intermediate_size");
}

// Values that would size allocations without bound or poison every logit (issue #15 items 6, 8).
TEST(BadConfig, RejectsAbsurdAndNonFiniteValues) {
  auto j = tiny_config();
  j["block_size"] = int64_t(1) << 30;
  expect_config_error(j, "block_size");
  for (const char* key : {"rms_norm_eps", "rope_theta"}) {
    for (double v : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
      j = tiny_config();
      j[key] = v;  // what a GGUF FLOAT32 NaN / inf becomes in the translated config
      expect_config_error(j, std::string(key) + " must be a finite number");
    }
  }
  // The tiny config itself is fine (the checks above are not rejecting everything).
  EXPECT_NO_THROW(parse_model_config(tiny_config()));
}

// fuzz_config finding: a count written as a float past int64_t (6.7e45) was converted to int64_t, which is
// undefined behaviour (UBSan aborted; x86 gives INT64_MIN, reported as "must be positive"); an unsigned
// past INT64_MAX wrapped negative.
TEST(BadConfig, RejectsIntegersOutsideInt64) {
  for (const char* key : {"hidden_size", "num_hidden_layers", "vocab_size"}) {
    auto j = tiny_config();
    j[key] = 6.666666e45;
    expect_config_error(j, std::string(key) + " is too large");
    j[key] = std::numeric_limits<uint64_t>::max();
    expect_config_error(j, std::string(key) + " is too large");
    j[key] = 1.5;
    expect_config_error(j, std::string(key) + " must be an integer");
  }
}

// An attn_type_list entry of 2^32 was read as an int, truncated to 0 and taken for a lightning layer.
TEST(BadConfig, AttnTypeListEntriesAreNotTruncated) {
  for (const int64_t v : {int64_t(1) << 32, (int64_t(1) << 32) + 1, int64_t(-1)}) {
    auto j = tiny_config();
    ASSERT_TRUE(j.contains("attn_type_list"));
    j["attn_type_list"][0] = v;
    expect_config_error(j, "attn_type_list");
  }
}

TEST(BadConfig, PostnormDefaultsFalseAndIsRead) {
  auto j = tiny_config();
  EXPECT_TRUE(parse_model_config(j).postnorm);
  j.erase("postnorm");
  EXPECT_FALSE(parse_model_config(j).postnorm);
}

TEST(BadConfig, CliReportsErrorAndNonZeroExit) {
  ModelCopy m;
  spit(m.st, "xx");
  auto [rc, out] = test::run_cmd(test::cli() + " logits --model " + m.dir.str() + " --ids 1,2 2>&1");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("error:"), std::string::npos) << out;
  EXPECT_NE(out.find("model.safetensors"), std::string::npos) << out;
  auto [rc2, out2] = test::run_cmd(test::cli() + " logits --model " + testdata("minimax_text01_tiny/model_f32") +
                                   " --ids 1,99999 2>&1");
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("out of range"), std::string::npos) << out2;
}

TEST(InfoCli, M1ReleaseConfigParameterCounts) {
  auto [rc, out] = test::run_cmd(test::cli() + " info --json --model " + std::string(MM_SOURCE_DIR) +
                                 "/tests/data/minimax_m1_config");
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_NEAR(j["total_params"].get<double>() / 1e9, 456.1, 0.5);
  EXPECT_NEAR(j["active_params"].get<double>() / 1e9, 45.9, 0.2);
  EXPECT_EQ(j["lightning_layers"], 70);
  EXPECT_EQ(j["softmax_layers"], 10);
}

}  // namespace
}  // namespace mm
