// MiniMax-M2 fp8 checkpoints: corrupted scale tensors give clear errors, `minimax init --like m2
// --dtype fp8` writes the release layout and agrees with a bf16 dequantised copy, and the generic CLI
// commands (logits, generate) reproduce the golden on the tiny release-layout model.
#include <cstdio>
#include <string>

#include "core/dtype.h"
#include "m2_test_util.h"

using namespace m2test;

namespace {

const std::string kQ = "model.layers.0.self_attn.q_proj.weight";  // [192, 96]: scale [2, 1]
const std::string kW1 = "model.layers.2.block_sparse_moe.experts.4.w1.weight";  // scale in another shard

// Applies `edit` to the shard holding `tensor` of a fresh copy of model_fp8; returns the load error.
template <class Edit>
std::string corrupt(const std::string& name, const std::string& tensor, Edit edit) {
  const fs::path dir = copy_model(tiny_dir() / "model_fp8", name);
  const fs::path shard = shard_of(dir, tensor);
  RawFile f = read_safetensors(shard);
  RawTensor* t = f.find(tensor);
  if (!t) throw std::runtime_error(tensor + " not in " + shard.string());
  edit(f, *t, dir);
  write_safetensors(shard, f);
  return load_error(dir);
}

std::string run_cli(const std::string& args) {
  const std::string cmd = std::string(MM_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  std::string out;
  char buf[65536];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd << "\n" << out.substr(0, 2000);
  return out;
}

std::string join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

TEST(M2Fp8, TestdataDecodesAsTheGoldenProbeSays) {
  // Checks this test's own e4m3 decoder and the scale indexing against the golden's probe values.
  for (const auto& p : golden()["debug"]["fp8_dequant_probe"]) {
    const std::string name = p["tensor"].get<std::string>();
    const fs::path dir = tiny_dir() / "model_fp8";
    RawFile w = read_safetensors(shard_of(dir, name));
    RawFile s = read_safetensors(shard_of(dir, name + "_scale_inv"));
    const RawTensor& t = *w.find(name);
    const RawTensor& sc = *s.find(name + "_scale_inv");
    const int64_t n = p["n"].get<int64_t>(), k = p["k"].get<int64_t>();
    const uint8_t code = t.data[size_t(n * t.shape[1] + k)];
    EXPECT_EQ(int(code), p["code"].get<int>()) << name;
    EXPECT_EQ(e4m3_value(code), p["fp8_value"].get<float>()) << name;
    const float scale = f32_at(sc.data, size_t((n / 128) * sc.shape[1] + k / 128));
    EXPECT_EQ(scale, p["scale_inv"].get<float>()) << name;
    EXPECT_EQ(e4m3_value(code) * scale, p["value"].get<float>()) << name;
    // The engine's decoder agrees on every code.
    for (int c = 0; c < 256; ++c) {
      if (!std::isnan(e4m3_value(uint8_t(c)))) {
        ASSERT_EQ(mm::fp8_e4m3_to_f32(uint8_t(c)), e4m3_value(uint8_t(c))) << c;
      }
    }
  }
}

TEST(M2Fp8, MissingScaleTensorIsAClearError) {
  const std::string err = corrupt("no_scale", kW1 + "_scale_inv", [&](RawFile& f, RawTensor&, const fs::path& dir) {
    f.erase(kW1 + "_scale_inv");
    auto idx = read_json(dir / "model.safetensors.index.json");
    idx["weight_map"].erase(kW1 + "_scale_inv");
    write_json(dir / "model.safetensors.index.json", idx);
  });
  EXPECT_NE(err.find("fp8 tensor '" + kW1 + "' has no scale tensor '" + kW1 + "_scale_inv'"), std::string::npos)
      << err;
}

TEST(M2Fp8, WrongScaleShapeIsAClearError) {
  const std::string err = corrupt("scale_shape", kQ + "_scale_inv", [](RawFile&, RawTensor& t, const fs::path&) {
    ASSERT_EQ(t.shape, (std::vector<int64_t>{2, 1}));
    t.shape = {1, 2};  // same byte count, transposed block grid
  });
  EXPECT_NE(err.find("scale tensor '" + kQ + "_scale_inv' has shape [1, 2], expected [2, 1]"), std::string::npos)
      << err;
}

TEST(M2Fp8, ScaleInWrongDtypeIsAClearError) {
  // F16 scales: rejected by the tensor check.
  std::string err = corrupt("scale_f16", kQ + "_scale_inv", [](RawFile&, RawTensor& t, const fs::path&) {
    std::vector<uint8_t> half;
    for (size_t i = 0; i < t.data.size() / 4; ++i) {
      uint16_t h = mm::f32_to_f16(f32_at(t.data, i));
      half.push_back(uint8_t(h & 0xff));
      half.push_back(uint8_t(h >> 8));
    }
    t.dtype = "F16";
    t.data = half;
  });
  EXPECT_NE(err.find("scale tensor '" + kQ + "_scale_inv' has dtype F16, expected F32"), std::string::npos) << err;
  // BF16 scales: also refused, naming the tensor and the dtype wanted.
  err = corrupt("scale_bf16", kW1 + "_scale_inv", [](RawFile&, RawTensor& t, const fs::path&) {
    std::vector<uint8_t> half;
    for (size_t i = 0; i < t.data.size() / 4; ++i) {
      uint16_t h = mm::f32_to_bf16(f32_at(t.data, i));
      half.push_back(uint8_t(h & 0xff));
      half.push_back(uint8_t(h >> 8));
    }
    t.dtype = "BF16";
    t.data = half;
  });
  EXPECT_NE(err.find(kW1 + "_scale_inv"), std::string::npos) << err;
  EXPECT_NE(err.find("F32"), std::string::npos) << err;
}

TEST(M2Fp8, WrongFp8WeightShapeIsAClearError) {
  const std::string err = corrupt("weight_shape", kQ, [](RawFile&, RawTensor& t, const fs::path&) {
    t.shape = {96, 192};
  });
  EXPECT_NE(err.find("tensor '" + kQ + "'"), std::string::npos) << err;
  EXPECT_NE(err.find("expected [192, 96]"), std::string::npos) << err;
}

// The generic CLI commands on the release-layout tiny model reproduce the golden.
TEST(M2Fp8, CliLogitsAndGenerateMatchGolden) {
  const auto& g = golden();
  const auto ids = ids_of(g["prompt_ids"]);
  const std::string model = (tiny_dir() / "model_fp8").string();
  const int64_t P = g["decode"]["prefill_len"].get<int64_t>();
  const auto j = nlohmann::json::parse(run_cli("logits --model " + model + " --ids " + join(ids) + " --prefill " +
                                               std::to_string(P) + " --chunks 10,7 --kv-type f32"));  // the golden's f32 KV
  const auto& rows = j["logits"];
  ASSERT_EQ(rows.size(), ids.size());
  std::vector<float> flat;  // [n, vocab]
  for (const auto& r : rows)
    for (const auto& v : r) flat.push_back(v.get<float>());
  EXPECT_LT(max_diff_rows(flat.data(), 512, g["prefill"]["logits"]), 1e-4);

  const auto gen = nlohmann::json::parse(
      run_cli("generate --json --model " + model + " --ids " + join(ids) + " -n " + g["greedy"]["num_new"].dump()));
  EXPECT_EQ(ids_of(gen["ids"]), ids_of(g["greedy"]["tokens"]));
}

// `minimax init --like m2 --dtype fp8` writes the release layout; the model loads, runs, and gives the
// same logits as a bf16 copy whose weights this test dequantises itself.
TEST(M2Fp8, InitFp8ModelRunsAndMatchesBf16Dequantised) {
  const fs::path dir = fs::path(::testing::TempDir()) / "m2_init_fp8";
  const fs::path bdir = fs::path(::testing::TempDir()) / "m2_init_fp8_as_bf16";
  fs::remove_all(dir);
  fs::remove_all(bdir);
  // hidden 200 and inter 72 leave partial 128x128 blocks at the edges.
  run_cli("init --like m2 --dtype fp8 --out " + dir.string() +
          " --hidden 200 --inter 72 --layers 2 --heads 4 --kv-heads 2 --head-dim 48 --experts 6 --top-k 2"
          " --vocab 300 --seed 7");
  const auto cfg = read_json(dir / "config.json");
  ASSERT_TRUE(cfg.contains("quantization_config")) << cfg.dump();
  EXPECT_EQ(cfg["quantization_config"]["quant_method"], "fp8");
  EXPECT_EQ(cfg["quantization_config"]["fmt"], "float8_e4m3fn");
  EXPECT_EQ(cfg["quantization_config"]["weight_block_size"], nlohmann::json({128, 128}));

  RawFile f = read_safetensors(dir / "model.safetensors");
  RawFile out;
  int n_fp8 = 0, n_max = 0;
  for (const auto& t : f.tensors) {
    if (t.name.ends_with("_scale_inv")) {
      EXPECT_EQ(t.dtype, "F32") << t.name;
      continue;
    }
    const bool proj = t.name.find("_proj.weight") != std::string::npos || t.name.find(".experts.") != std::string::npos;
    EXPECT_EQ(t.dtype, proj ? "F8_E4M3" : "BF16") << t.name;
    if (t.dtype != "F8_E4M3") {
      out.tensors.push_back(t);
      continue;
    }
    ++n_fp8;
    const RawTensor* sc = f.find(t.name + "_scale_inv");
    ASSERT_NE(sc, nullptr) << t.name;
    const int64_t N = t.shape[0], K = t.shape[1], kb = (K + 127) / 128;
    ASSERT_EQ(sc->shape, (std::vector<int64_t>{(N + 127) / 128, kb})) << t.name;
    RawTensor b{t.name, "BF16", t.shape, std::vector<uint8_t>(size_t(N * K) * 2)};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        const uint8_t code = t.data[size_t(n * K + k)];
        ASSERT_FALSE(std::isnan(e4m3_value(code))) << t.name;
        n_max += (code & 0x7f) == 0x7e;
        const float v = e4m3_value(code) * f32_at(sc->data, size_t((n / 128) * kb + k / 128));
        const uint16_t h = mm::f32_to_bf16(v);
        ASSERT_EQ(mm::bf16_to_f32(h), v) << t.name << " value not bf16-exact";
        std::memcpy(b.data.data() + (n * K + k) * 2, &h, 2);
      }
    out.tensors.push_back(std::move(b));
  }
  EXPECT_EQ(n_fp8, 2 * (4 + 3 * 6));
  EXPECT_GT(n_max, 0) << "no ±448 codes written";
  fs::create_directories(bdir);
  write_safetensors(bdir / "model.safetensors", out);
  auto bcfg = cfg;
  bcfg.erase("quantization_config");
  write_json(bdir / "config.json", bcfg);

  auto m8 = mm::load_model(dir.string());
  auto m16 = mm::load_model(bdir.string());
  EXPECT_TRUE(m8->config().fp8);
  EXPECT_FALSE(m16->config().fp8);
  std::vector<int32_t> ids;
  for (int i = 0; i < 23; ++i) ids.push_back(int32_t((i * 37 + 11) % 300));
  const auto l8 = run_chunks(*m8, ids, {9, 1, 1});
  const auto l16 = run_chunks(*m16, ids, {});
  double d = 0, spread = 0;
  for (size_t i = 0; i < l8.size(); ++i) {
    ASSERT_TRUE(std::isfinite(l8[i]));
    d = std::max(d, double(std::fabs(l8[i] - l16[i])));
    spread = std::max(spread, double(std::fabs(l8[i] - l8[0])));
  }
  EXPECT_LT(d, 1e-4);
  EXPECT_GT(spread, 0.1) << "logits are degenerate";
  EXPECT_LT(m8->total_weight_bytes(), 0.75 * m16->total_weight_bytes());
}

TEST(M2Fp8, InitFp8OnlyForM2) {
  const std::string cmd = std::string(MM_CLI_PATH) + " init --like text-01 --dtype fp8 --out " +
                          (fs::path(::testing::TempDir()) / "m2_init_bad").string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_NE(pclose(p), 0);
  EXPECT_NE(out.find("--dtype fp8"), std::string::npos) << out;
}

}  // namespace
