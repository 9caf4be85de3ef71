// GGUF -> HF translation (config + tensor names/shapes/values against the hf/ safetensors folders), and
// the GGUF writer (type plans against llama-quantize's choices, byte-identical F32 output, round trips).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "convert/gguf_write.h"
#include "core/error.h"
#include "io/gguf.h"
#include "model/gguf_arch.h"
#include "ops/quant.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kGguf = std::string(MM_SHARED_DIR) + "/testdata/gguf/";
const char* kArchs[] = {"minimax_text01", "minimax_m2"};

using mm::test::read_bytes;
auto load_json(const std::string& path) { return mm::test::read_ordered_json(path); }
auto plain(const nlohmann::ordered_json& j) { return mm::test::to_plain_json(j); }

// A minimal safetensors reader for the tests (8-byte header length, JSON header, data), independent of
// the engine's loader.
mm::TensorStore load_hf(const std::string& dir) {
  mm::TensorStore store;
  store.set_source(dir);
  auto index = load_json(dir + "/model.safetensors.index.json");
  std::set<std::string> files;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) files.insert(it.value());
  for (const auto& file : files) {
    auto mf = std::make_shared<mm::MappedFile>(dir + "/" + file);
    uint64_t n;
    std::memcpy(&n, mf->data(), 8);
    auto header = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(mf->data() + 8), n));
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      mm::TensorInfo t;
      t.name = it.key();
      EXPECT_TRUE(mm::dtype_from_safetensors(it.value()["dtype"].get<std::string>(), &t.dtype));
      t.shape = it.value()["shape"].get<std::vector<int64_t>>();
      auto off = it.value()["data_offsets"].get<std::vector<uint64_t>>();
      t.data = mf->data() + 8 + n + off[0];
      t.n_bytes = off[1] - off[0];
      t.file = file;
      store.add(t);
    }
    store.keep_file(mf);
  }
  EXPECT_EQ(store.all().size(), index["weight_map"].size());
  return store;
}

std::vector<float> to_f32(const mm::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  const int64_t ne0 = t.shape.back();
  const size_t rb = mm::dtype_row_bytes(t.dtype, ne0);
  EXPECT_EQ(rb * size_t(t.n_elements() / ne0), t.n_bytes) << t.name;
  for (int64_t r = 0; r < t.n_elements() / ne0; ++r) mm::row_to_f32(t.dtype, t.data + r * rb, out.data() + r * ne0, ne0);
  return out;
}

double rel_rms(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e += double(a[i] - b[i]) * (a[i] - b[i]);
    s += double(a[i]) * a[i];
  }
  return std::sqrt(e / std::max(s, 1e-30));
}

double bound_for(mm::DType t) {
  switch (t) {
    case mm::DType::F32: return 0;
    case mm::DType::BF16: return 0.005;
    case mm::DType::F16: return 0.001;
    case mm::DType::Q8_0: return 0.008;
    case mm::DType::Q6_K: return 0.03;
    case mm::DType::Q5_0: case mm::DType::Q5_K: return 0.06;
    default: return 0.12;
  }
}

// Every HF tensor exists in `ck` with the same shape; values within the stored type's error (exact
// for F32).
void expect_matches_hf(const mm::TensorStore& got, const mm::TensorStore& hf, const std::string& what) {
  EXPECT_EQ(got.all().size(), hf.all().size()) << what;
  for (const auto& [name, ref] : hf.all()) {
    const mm::TensorInfo* t = got.find(name);
    ASSERT_NE(t, nullptr) << what << ": missing " << name;
    ASSERT_EQ(t->shape, ref.shape) << what << ": " << name;
    auto a = to_f32(ref), b = to_f32(*t);
    if (t->dtype == mm::DType::F32) {
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << what << ": " << name;
    } else {
      EXPECT_LT(rel_rms(a, b), bound_for(t->dtype)) << what << ": " << name << " " << mm::dtype_name(t->dtype);
    }
  }
}

const char* kConfigKeys[] = {"model_type", "architectures", "hidden_size", "intermediate_size", "num_hidden_layers",
                             "num_attention_heads", "num_key_value_heads", "head_dim", "rotary_dim", "rope_theta",
                             "rms_norm_eps", "vocab_size", "num_local_experts", "num_experts_per_tok",
                             "attn_type_list", "max_position_embeddings", "tie_word_embeddings",
                             "shared_intermediate_size", "eos_token_id"};
const char* kM01Keys[] = {"layernorm_full_attention_alpha", "layernorm_linear_attention_alpha", "layernorm_mlp_alpha",
                          "layernorm_full_attention_beta", "layernorm_linear_attention_beta", "layernorm_mlp_beta",
                          "postnorm", "block_size"};
const char* kM2Keys[] = {"scoring_func", "use_routing_bias", "use_qk_norm", "qk_norm_type"};

void expect_config(const nlohmann::json& got, const std::string& arch) {
  auto ref = plain(load_json(kGguf + arch + "/hf/config.json"));
  for (const char* k : kConfigKeys) EXPECT_EQ(got.value(k, nlohmann::json()), ref[k]) << arch << " " << k;
  if (arch == "minimax_text01")
    for (const char* k : kM01Keys) EXPECT_EQ(got.value(k, nlohmann::json()), ref[k]) << arch << " " << k;
  else
    for (const char* k : kM2Keys) EXPECT_EQ(got.value(k, nlohmann::json()), ref[k]) << arch << " " << k;
  EXPECT_EQ(got["rms_norm_eps"].get<double>(), ref["rms_norm_eps"].get<double>());  // 1e-5 exactly, not 9.99e-6
}

TEST(GgufToHf, F32FilesAreTheHfCheckpoint) {
  for (const char* arch : kArchs) {
    auto hf = load_hf(kGguf + arch + "/hf");
    mm::HfCheckpoint ck = mm::load_gguf_as_hf(kGguf + arch + "/f32/model.gguf");
    expect_config(ck.config, arch);
    expect_matches_hf(ck.tensors, hf, std::string(arch) + "/f32");
    for (const auto& [name, t] : ck.tensors.all()) EXPECT_EQ(t.dtype, mm::DType::F32) << name;
  }
}

TEST(GgufToHf, QuantisedFilesHaveTheHfNamesAndTypes) {
  for (const char* arch : kArchs) {
    auto hf = load_hf(kGguf + arch + "/hf");
    for (const char* v : {"q8_0", "q4_k_m"}) {
      const std::string dir = kGguf + arch + "/" + v;
      mm::HfCheckpoint ck = mm::load_gguf_as_hf(dir + "/model.gguf");
      expect_config(ck.config, arch);
      expect_matches_hf(ck.tensors, hf, dir);
      // Types as the golden lists them (per stacked tensor -> every expert slice).
      auto g = load_json(dir + "/golden.json")["gguf"]["tensor_types"];
      const auto attn_types = load_json(kGguf + arch + "/hf/config.json")["attn_type_list"].get<std::vector<int>>();
      for (auto it = g.begin(); it != g.end(); ++it) {
        auto m = mm::gguf_to_hf_name(it.key(), attn_types);
        std::string name = m.hf;
        if (m.stacked) name.replace(name.find("{E}"), 3, "0");
        EXPECT_EQ(mm::dtype_name(ck.tensors.get(name).dtype), it.value().get<std::string>()) << dir << " " << name;
      }
    }
  }
}

// A block_count far beyond the layers the file holds (2^31 - 1) is refused before anything is sized by it
// (it made `info` / `logits` allocate without bound: issue #15 item 6).
TEST(GgufToHf, AbsurdBlockCountIsRefused) {
  std::string bytes = read_bytes(kGguf + "minimax_m2/f32/model.gguf");
  const std::string key = "minimax-m2.block_count";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  uint32_t type;
  std::memcpy(&type, bytes.data() + at + key.size(), 4);
  ASSERT_EQ(type, 4u);  // UINT32
  const uint32_t huge = 0x7fffffffu;
  std::memcpy(bytes.data() + at + key.size() + 4, &huge, 4);
  const fs::path p = fs::temp_directory_path() / ("mm_test_block_count_" + std::to_string(::getpid()) + ".gguf");
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  try {
    mm::load_gguf_as_hf(p.string());
    ADD_FAILURE() << "block_count 2^31-1 accepted";
  } catch (const mm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("block_count 2147483647 exceeds the"), std::string::npos) << e.what();
  }
  fs::remove(p);
}

TEST(GgufToHf, ExpertSlicesAreContiguousViews) {
  mm::GgufFile f(kGguf + "minimax_m2/q4_k_m/model.gguf");
  mm::HfCheckpoint ck = mm::load_gguf_as_hf(f.path());
  const mm::GgufTensor* down = f.find_tensor("blk.2.ffn_down_exps.weight");
  ASSERT_NE(down, nullptr);
  const size_t per = down->n_bytes / 6;
  const uint8_t* base = ck.tensors.get("model.layers.2.block_sparse_moe.experts.0.w2.weight").data;
  for (int e = 0; e < 6; ++e) {
    const auto& t = ck.tensors.get("model.layers.2.block_sparse_moe.experts." + std::to_string(e) + ".w2.weight");
    EXPECT_EQ(t.shape, (std::vector<int64_t>{256, 32}));
    EXPECT_EQ(t.dtype, mm::DType::Q8_0);
    EXPECT_EQ(t.n_bytes, per);
    EXPECT_EQ(t.data, base + e * per);  // a view into the mapping, no copy
    EXPECT_EQ(std::memcmp(t.data, down->data + e * per, per), 0);
  }
}

TEST(GgufToHf, Errors) {
  // Architecture other than minimax: a hand-made tiny GGUF.
  const fs::path dir = fs::temp_directory_path() / ("mm_test_gguf_hf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string s = "GGUF";
  auto u32 = [&](uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); };
  auto str = [&](const std::string& v) { u64(v.size()); s += v; };
  u32(3); u64(0); u64(1);
  str("general.architecture"); u32(8); str("llama");
  const std::string p = (dir / "llama.gguf").string();
  std::ofstream(p, std::ios::binary).write(s.data(), std::streamsize(s.size()));
  try {
    mm::load_gguf_as_hf(p);
    ADD_FAILURE() << "llama accepted";
  } catch (const mm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("architecture 'llama'"), std::string::npos) << e.what();
  }
  // Unsupported tensor type: the F32 file with one tensor's type patched to Q4_1 (same bytes... any size).
  std::string bytes = read_bytes(kGguf + "minimax_m2/f32/model.gguf");
  mm::GgufFile ref(kGguf + "minimax_m2/f32/model.gguf");
  // Find the tensor info of output_norm.weight (a 256-vector): "output_norm.weight", n_dims, ne0, type.
  const std::string key = "output_norm.weight";
  size_t pos = bytes.find(key, 0);
  ASSERT_NE(pos, std::string::npos);
  size_t type_at = pos + key.size() + 4 + 8;
  uint32_t q4_1 = 3;  // Q4_1: 256 values -> 160 bytes, fits in the original 1024
  std::memcpy(&bytes[type_at], &q4_1, 4);
  const std::string p2 = (dir / "q41.gguf").string();
  std::ofstream(p2, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  try {
    mm::load_gguf_as_hf(p2);
    ADD_FAILURE() << "Q4_1 accepted";
  } catch (const mm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported GGUF tensor type Q4_1 for tensor 'output_norm.weight'"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

// ---- writer --------------------------------------------------------------------------------------------

class GgufWrite : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mm_test_gguf_write_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(GgufWrite, PlansMatchLlamaCpp) {
  for (const char* arch : kArchs) {
    auto hf = load_hf(kGguf + arch + "/hf");
    auto cfg = plain(load_json(kGguf + arch + "/hf/config.json"));
    for (auto [variant, policy] : {std::pair{"f32", mm::GgufPolicy::F32}, std::pair{"q8_0", mm::GgufPolicy::Q8_0},
                                   std::pair{"q4_k_m", mm::GgufPolicy::Q4_K_M}}) {
      const std::string dir = kGguf + arch + "/" + variant;
      auto g = load_json(dir + "/golden.json")["gguf"];
      auto plan = mm::gguf_plan(cfg, hf, policy);
      ASSERT_EQ(plan.size(), g["tensor_types"].size()) << dir;
      std::map<std::string, const mm::GgufPlanEntry*> by_name;
      for (const auto& e : plan) by_name[e.name] = &e;
      for (auto it = g["tensor_types"].begin(); it != g["tensor_types"].end(); ++it) {
        ASSERT_TRUE(by_name.count(it.key())) << dir << " " << it.key();
        EXPECT_EQ(mm::dtype_name(by_name[it.key()]->dtype), it.value().get<std::string>()) << dir << " " << it.key();
        EXPECT_EQ(by_name[it.key()]->ne, g["tensor_ne"][it.key()].get<std::vector<int64_t>>()) << it.key();
      }
      if (std::string(variant) == "f32") {  // the converter's tensor order
        size_t i = 0;
        for (auto it = g["tensor_types"].begin(); it != g["tensor_types"].end(); ++it, ++i)
          EXPECT_EQ(plan[i].name, it.key());
      }
    }
  }
}

// Written from hf/ with the same name and tokenizer, the F32 file is byte-identical to the converter's.
TEST_F(GgufWrite, F32IsByteIdenticalToTheConverter) {
  for (const char* arch : kArchs) {
    const std::string ref_path = kGguf + arch + "/f32/model.gguf";
    mm::GgufFile ref(ref_path);
    mm::GgufWriteOptions opts;
    opts.policy = mm::GgufPolicy::F32;
    opts.name = ref.get_string("general.name");
    for (const auto& kv : ref.kvs())
      if (kv.key.rfind("tokenizer.", 0) == 0) opts.extra_kvs.push_back(kv);
    size_t calls = 0;
    opts.progress = [&](size_t done, size_t total, const std::string&) {
      ++calls;
      EXPECT_EQ(done, calls);
      EXPECT_EQ(total, ref.tensors().size());
    };
    auto hf = load_hf(kGguf + arch + "/hf");
    auto cfg = plain(load_json(kGguf + arch + "/hf/config.json"));
    const std::string out = path(std::string(arch) + "_f32.gguf");
    mm::gguf_write(out, cfg, hf, opts);
    EXPECT_EQ(calls, ref.tensors().size());
    mm::GgufFile got(out);
    ASSERT_EQ(got.kvs().size(), ref.kvs().size()) << arch;
    for (size_t i = 0; i < ref.kvs().size(); ++i) {
      EXPECT_EQ(got.kvs()[i].key, ref.kvs()[i].key) << arch;
      EXPECT_EQ(got.kvs()[i].type, ref.kvs()[i].type) << ref.kvs()[i].key;
      EXPECT_EQ(got.kvs()[i].value, ref.kvs()[i].value) << ref.kvs()[i].key;
    }
    EXPECT_TRUE(read_bytes(out) == read_bytes(ref_path)) << arch << ": written F32 GGUF differs from the converter's";
  }
}

TEST_F(GgufWrite, QuantisedRoundTrips) {
  for (const char* arch : kArchs) {
    auto hf = load_hf(kGguf + arch + "/hf");
    auto cfg = plain(load_json(kGguf + arch + "/hf/config.json"));
    for (const char* pol : {"q8_0", "q4_k_m", "f16", "bf16", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"}) {
      const std::string out = path(std::string(arch) + "_" + pol + ".gguf");
      mm::GgufWriteOptions opts;
      opts.policy = mm::gguf_policy_from_string(pol);
      mm::gguf_write(out, cfg, hf, opts);
      mm::HfCheckpoint ck = mm::load_gguf_as_hf(out);
      expect_config(ck.config, arch);
      expect_matches_hf(ck.tensors, hf, out);
      // Row lengths the type cannot take fell back (Text-01 attn out_proj rows of 64, experts' w2 of 32).
      const auto& o = ck.tensors.get("model.layers.0.block_sparse_moe.experts.0.w2.weight");
      const auto& n = ck.tensors.get("model.layers.0.input_layernorm.weight");
      EXPECT_EQ(n.dtype, mm::DType::F32);
      const std::string p = pol;
      if (p == "q4_k" || p == "q4_k_m") {
        EXPECT_TRUE(o.dtype == mm::DType::Q5_0 || o.dtype == mm::DType::Q8_0) << out;
      } else if (p == "q5_k" || p == "q6_k") {
        EXPECT_EQ(o.dtype, mm::DType::Q8_0) << out;
      } else if (p == "q4_0") {
        EXPECT_EQ(o.dtype, mm::DType::Q4_0) << out;
      }
    }
  }
}

// Our Q8_0 of hf/ is byte-identical to llama-quantize's Q8_0 file (same reference rounding).
TEST_F(GgufWrite, Q8_0AgreesWithLlamaQuantize) {
  for (const char* arch : kArchs) {
    auto hf = load_hf(kGguf + arch + "/hf");
    auto cfg = plain(load_json(kGguf + arch + "/hf/config.json"));
    const std::string out = path(std::string(arch) + "_q8.gguf");
    mm::GgufWriteOptions opts;
    opts.policy = mm::GgufPolicy::Q8_0;
    mm::gguf_write(out, cfg, hf, opts);
    mm::GgufFile mine(out), theirs(kGguf + arch + "/q8_0/model.gguf");
    size_t identical = 0, total = 0;
    for (const auto& t : theirs.tensors()) {
      const mm::GgufTensor* m = mine.find_tensor(t.name);
      ASSERT_NE(m, nullptr) << t.name;
      ASSERT_EQ(m->ggml_type, t.ggml_type) << t.name;
      ASSERT_EQ(m->n_bytes, t.n_bytes) << t.name;
      total += t.n_bytes;
      for (size_t i = 0; i < t.n_bytes; ++i) identical += m->data[i] == t.data[i];
    }
    std::printf("%s: Q8_0 bytes identical to llama-quantize's: %.5f\n", arch, double(identical) / double(total));
    EXPECT_EQ(identical, total) << arch << ": Q8_0 differs from llama-quantize's (round-to-nearest reference)";
  }
}

// Our Q4_K_M (own K-quant scale search) is about as accurate as llama-quantize's on the same weights.
TEST_F(GgufWrite, Q4_K_MErrorComparableToLlamaQuantize) {
  for (const char* arch : kArchs) {
    auto hf = load_hf(kGguf + arch + "/hf");
    auto cfg = plain(load_json(kGguf + arch + "/hf/config.json"));
    const std::string out = path(std::string(arch) + "_q4km.gguf");
    mm::GgufWriteOptions opts;
    opts.policy = mm::GgufPolicy::Q4_K_M;
    mm::gguf_write(out, cfg, hf, opts);
    mm::HfCheckpoint mine = mm::load_gguf_as_hf(out);
    mm::HfCheckpoint theirs = mm::load_gguf_as_hf(kGguf + arch + "/q4_k_m/model.gguf");
    std::map<std::string, std::pair<double, double>> err;  // per type: mine, theirs
    for (const auto& [name, ref] : hf.all()) {
      const auto& a = mine.tensors.get(name);
      const auto& b = theirs.tensors.get(name);
      ASSERT_EQ(a.dtype, b.dtype) << name;
      auto x = to_f32(ref), ya = to_f32(a), yb = to_f32(b);
      for (size_t i = 0; i < x.size(); ++i) {
        err[mm::dtype_name(a.dtype)].first += double(x[i] - ya[i]) * (x[i] - ya[i]);
        err[mm::dtype_name(a.dtype)].second += double(x[i] - yb[i]) * (x[i] - yb[i]);
      }
    }
    for (const auto& [type, e] : err) {
      std::printf("%s %s: squared error ours %.4g, llama-quantize %.4g\n", arch, type.c_str(), e.first, e.second);
      EXPECT_LE(e.first, e.second * 1.15 + 1e-12) << arch << " " << type;
    }
  }
}

TEST_F(GgufWrite, RejectsWhatGgufCannotExpress) {
  auto hf = load_hf(kGguf + "minimax_text01/hf");
  auto cfg = plain(load_json(kGguf + "minimax_text01/hf/config.json"));
  auto expect_throw = [&](const nlohmann::json& c, const std::string& needle) {
    try {
      mm::gguf_write(path("bad.gguf"), c, hf, {});
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const mm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(path("bad.gguf")));
  };
  auto c1 = cfg;
  c1["layernorm_mlp_alpha"] = 3.0;
  expect_throw(c1, "layernorm_mlp_alpha differs");
  auto c2 = cfg;
  c2["attn_type_list"][2] = 1;
  expect_throw(c2, "attn_type_list");
  auto c3 = cfg;
  c3["model_type"] = "llama";
  expect_throw(c3, "model_type 'llama'");
  EXPECT_THROW(mm::gguf_policy_from_string("q3_k"), mm::Error);
  EXPECT_EQ(mm::gguf_policy_from_string("Q4_K_M"), mm::GgufPolicy::Q4_K_M);
}

}  // namespace
