// MiniMax-M2: the tiny fp8 and bf16 checkpoints against the independent float64 golden (prefill,
// prefill + decode, greedy), chunked and batched prefill, MTP tensors, and the release config's size.
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include "m2_test_util.h"
#include "chat/chat.h"
#include "core/error.h"
#include "model/arch.h"
#include "model/config.h"
#include "model/weights.h"

using namespace m2test;

namespace {

constexpr double kAtol = 1e-4;  // golden.tolerance_hint.fp32_engine_atol

class M2Golden : public ::testing::TestWithParam<std::string> {
 protected:
  static std::unique_ptr<mm::Model> load() { return mm::load_model((tiny_dir() / GetParam()).string()); }
};

TEST_P(M2Golden, LoadsAsM2) {
  auto m = load();
  const auto& c = m->config();
  EXPECT_EQ(c.arch, mm::Arch::MiniMaxM2);
  EXPECT_EQ(c.num_hidden_layers, 4);
  EXPECT_EQ(c.rotary_dim, 16);
  EXPECT_TRUE(c.use_qk_norm);
  EXPECT_TRUE(c.use_routing_bias);
  EXPECT_EQ(c.fp8, GetParam() == "model_fp8");
}

TEST_P(M2Golden, PrefillLogitsMatchGolden) {
  auto m = load();
  const auto& g = golden();
  const auto ids = ids_of(g["prompt_ids"]);
  const int64_t V = m->config().vocab_size;
  const auto logits = run_chunks(*m, ids, {});
  EXPECT_LT(max_diff_rows(logits.data(), V, g["prefill"]["logits"]), kAtol);
  for (size_t t = 0; t < ids.size(); ++t)
    EXPECT_EQ(argmax(logits.data() + int64_t(t) * V, V), g["prefill"]["argmax"][t].get<int32_t>()) << "position " << t;
}

TEST_P(M2Golden, PrefillThenDecodeMatchesGolden) {
  mm::ExecContext ctx;
  auto m = load();
  const auto& g = golden();
  const auto ids = ids_of(g["prompt_ids"]);
  const auto& d = g["decode"];
  const int64_t V = m->config().vocab_size, P = d["prefill_len"].get<int64_t>();
  auto seq = m->new_sequence(0);
  std::vector<float> last(static_cast<size_t>(V));  // [vocab]
  mm::BatchItem pre{seq.get(), ids.data(), P, last.data(), false};
  m->forward({&pre, 1}, ctx);
  EXPECT_EQ(seq->n_past, P);
  // Logits of the last prefill token are prefill.logits[P - 1].
  EXPECT_LT(max_diff_rows(last.data(), V, nlohmann::json::array({g["prefill"]["logits"][size_t(P - 1)]})), kAtol);
  std::vector<float> steps(d["step_ids"].size() * size_t(V));  // [n_steps, vocab]
  for (size_t j = 0; j < d["step_ids"].size(); ++j) {
    ASSERT_EQ(d["positions"][j].get<int64_t>(), seq->n_past);
    const int32_t tok = d["step_ids"][j].get<int32_t>();
    mm::BatchItem it{seq.get(), &tok, 1, steps.data() + j * size_t(V), false};
    m->forward({&it, 1}, ctx);
  }
  EXPECT_LT(max_diff_rows(steps.data(), V, d["logits"]), kAtol);
}

TEST_P(M2Golden, GreedyTokensExact) {
  mm::ExecContext ctx;
  auto m = load();
  const auto& g = golden()["greedy"];
  auto ids = ids_of(golden()["prompt_ids"]);
  ASSERT_EQ(int64_t(ids.size()), g["prompt_len"].get<int64_t>());
  const int64_t V = m->config().vocab_size, n_new = g["num_new"].get<int64_t>();
  auto seq = m->new_sequence(0);
  std::vector<float> logits(static_cast<size_t>(n_new * V));  // [n_new, vocab]: the logits that chose each token
  mm::BatchItem pre{seq.get(), ids.data(), int64_t(ids.size()), logits.data(), false};
  m->forward({&pre, 1}, ctx);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n_new; ++i) {
    out.push_back(argmax(logits.data() + i * V, V));
    if (i + 1 == n_new) break;
    mm::BatchItem it{seq.get(), &out.back(), 1, logits.data() + (i + 1) * V, false};
    m->forward({&it, 1}, ctx);
  }
  EXPECT_EQ(out, ids_of(g["tokens"]));
  EXPECT_LT(max_diff_rows(logits.data(), V, g["logits"]), kAtol);
}

TEST_P(M2Golden, ChunkedPrefillEqualsOnePass) {
  auto m = load();
  const auto ids = ids_of(golden()["prompt_ids"]);
  const auto one = run_chunks(*m, ids, {});
  for (const std::vector<int64_t>& chunks : {std::vector<int64_t>{1, 1, 1}, {5, 17, 3}, {31, 1}, {16, 16, 16}}) {
    const auto ch = run_chunks(*m, ids, chunks);
    double d = 0;
    for (size_t i = 0; i < one.size(); ++i) d = std::max(d, double(std::fabs(one[i] - ch[i])));
    EXPECT_LT(d, 1e-5) << "chunks starting " << chunks[0];
    EXPECT_LT(max_diff_rows(ch.data(), m->config().vocab_size, golden()["prefill"]["logits"]), kAtol);
  }
}

// Two sequences of different lengths in one forward call give their separate results.
TEST_P(M2Golden, BatchedSequencesAreIndependent) {
  mm::ExecContext ctx;
  auto m = load();
  const auto ids = ids_of(golden()["prompt_ids"]);
  const int64_t V = m->config().vocab_size;
  const std::vector<int32_t> a(ids.begin(), ids.begin() + 20), b(ids.begin() + 7, ids.end());
  const auto ra = run_chunks(*m, a, {}), rb = run_chunks(*m, b, {});
  auto sa = m->new_sequence(0), sb = m->new_sequence(0);
  std::vector<float> la(ra.size()), lb(rb.size());  // [n_a, vocab], [n_b, vocab]
  mm::BatchItem items[2] = {{sa.get(), a.data(), int64_t(a.size()), la.data(), true},
                            {sb.get(), b.data(), int64_t(b.size()), lb.data(), true}};
  m->forward(items, ctx);
  double d = 0;
  for (size_t i = 0; i < la.size(); ++i) d = std::max(d, double(std::fabs(la[i] - ra[i])));
  for (size_t i = 0; i < lb.size(); ++i) d = std::max(d, double(std::fabs(lb[i] - rb[i])));
  EXPECT_LT(d, 1e-5);
  // The first sequence is a prefix of the prompt: its rows are golden prefill rows.
  nlohmann::json rows = nlohmann::json::array();
  for (size_t t = 0; t < a.size(); ++t) rows.push_back(golden()["prefill"]["logits"][t]);
  EXPECT_LT(max_diff_rows(la.data(), V, rows), kAtol);
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, M2Golden, ::testing::Values("model_fp8", "model_bf16"));

// fp8 weights stay 1 byte each in memory: the fp8 model's weights take about half the bf16 model's.
TEST(M2, Fp8WeightsStayFp8) {
  auto f8 = mm::load_model((tiny_dir() / "model_fp8").string());
  auto b16 = mm::load_model((tiny_dir() / "model_bf16").string());
  double fp8_file_bytes = 0;
  for (const auto& e : fs::directory_iterator(tiny_dir() / "model_fp8"))
    if (e.path().extension() == ".safetensors") fp8_file_bytes += double(fs::file_size(e.path()));
  EXPECT_LE(f8->total_weight_bytes(), fp8_file_bytes);
  EXPECT_LT(f8->total_weight_bytes(), 0.75 * b16->total_weight_bytes());
  EXPECT_LT(f8->active_weight_bytes(), b16->active_weight_bytes());
  // The checkpoint's projections really are F8_E4M3 (so this compares what it should).
  auto ck = mm::load_checkpoint((tiny_dir() / "model_fp8").string());
  EXPECT_EQ(ck.tensors.get("model.layers.0.self_attn.q_proj.weight").dtype, mm::DType::F8_E4M3);
  EXPECT_EQ(ck.tensors.get("model.layers.3.block_sparse_moe.experts.11.w2.weight").dtype, mm::DType::F8_E4M3);
}

// Tensors of MTP modules (layers >= num_hidden_layers) are skipped, whatever their shape.
TEST(M2, MtpLayerTensorsAreIgnored) {
  const fs::path dir = copy_model(tiny_dir() / "model_bf16", "mtp");
  RawFile f = read_safetensors(dir / "model.safetensors");
  RawTensor extra;
  extra.name = "model.layers.4.self_attn.q_proj.weight";
  extra.dtype = "BF16";
  extra.shape = {3, 5};
  extra.data.assign(30, 0x3f);
  f.tensors.push_back(extra);
  extra.name = "model.layers.5.enorm.weight";
  extra.shape = {96};
  extra.data.assign(192, 0);
  f.tensors.push_back(extra);
  write_safetensors(dir / "model.safetensors", f);
  auto m = mm::load_model(dir.string());
  const auto ids = ids_of(golden()["prompt_ids"]);
  const auto logits = run_chunks(*m, ids, {});
  EXPECT_LT(max_diff_rows(logits.data(), m->config().vocab_size, golden()["prefill"]["logits"]), kAtol);
}

TEST(M2, MissingQkNormIsAClearError) {
  const fs::path dir = copy_model(tiny_dir() / "model_bf16", "no_qnorm");
  RawFile f = read_safetensors(dir / "model.safetensors");
  f.erase("model.layers.2.self_attn.q_norm.weight");
  write_safetensors(dir / "model.safetensors", f);
  const std::string err = load_error(dir);
  EXPECT_NE(err.find("missing tensor 'model.layers.2.self_attn.q_norm.weight'"), std::string::npos) << err;
  EXPECT_NE(err.find("[192]"), std::string::npos) << err;
}

TEST(M2, UnsupportedConfigValuesNameTheKey) {
  auto cfg = read_json(tiny_dir() / "model_bf16" / "config.json");
  auto expect_error = [&](nlohmann::json c, const std::string& key) {
    try {
      auto mc = mm::parse_model_config(c);
      mm::model_tensor_specs(mc);
      ADD_FAILURE() << "no error for " << key;
    } catch (const mm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  auto c = cfg;
  c["qk_norm_type"] = "per_head";
  expect_error(c, "qk_norm_type");
  c = cfg;
  c["scoring_func"] = "tanh";
  expect_error(c, "scoring_func");
  c = cfg;
  c["scoring_func"] = "softmax";  // with use_routing_bias true
  expect_error(c, "use_routing_bias");
  c = cfg;
  c["attn_type_list"][1] = 0;
  expect_error(c, "attn_type_list");
  c = cfg;
  c["quantization_config"] = {{"quant_method", "awq"}};
  expect_error(c, "quantization_config.quant_method");
  c = cfg;
  c["shared_intermediate_size"] = 64;
  expect_error(c, "shared_intermediate_size");
  // MTP fields are tolerated.
  c = cfg;
  c["num_mtp_modules"] = 3;
  c["use_mtp"] = true;
  c["mtp_transformer_layers"] = 1;
  EXPECT_NO_THROW(mm::model_tensor_specs(mm::parse_model_config(c)));
}

// The real M2 release config: 228.69 B parameters, 9.80 B active per token without embeddings (model
// card: ~229 B / ~10 B; fact sheet §6.2: ≈ 228.7 B).
TEST(M2, ReleaseConfigParameterCounts) {
  const auto cfg = mm::parse_model_config(read_json(fs::path(MM_SOURCE_DIR) / "tests/data/minimax_m2_config/config.json"));
  EXPECT_TRUE(cfg.fp8);
  const auto pc = mm::count_params(mm::model_tensor_specs(cfg), cfg);
  EXPECT_NEAR(pc.total / 1e9, 228.690, 0.005);
  EXPECT_NEAR(pc.active / 1e9, 9.801, 0.005);
}

TEST(M2, InfoCliReportsReleaseSize) {
  const std::string cmd = std::string(MM_CLI_PATH) + " info --json --model " + MM_SOURCE_DIR +
                          "/tests/data/minimax_m2_config 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["architecture"], "MiniMax-M2");
  EXPECT_EQ(j["num_hidden_layers"], 62);
  EXPECT_EQ(j["softmax_layers"], 62);
  EXPECT_NEAR(j["total_params"].get<double>() / 1e9, 228.690, 0.005);
  EXPECT_NEAR(j["active_params"].get<double>() / 1e9, 9.801, 0.005);
}

}  // namespace

// One record per architecture: every config.json name finds its own record, and a record's tensor
// declaration names each tensor once.
TEST(ArchRegistry, EveryNameFindsItsRecordAndTensorsAreDeclaredOnce) {
  for (const auto& a : mm::arch_specs()) {
    EXPECT_EQ(&mm::arch_spec(a.arch), &a);
    for (const auto& t : a.model_types) EXPECT_EQ(mm::find_arch(t, ""), &a) << t;
    for (const auto& c : a.hf_classes) EXPECT_EQ(mm::find_arch("", c), &a) << c;
  }
  EXPECT_EQ(mm::find_arch("llama", "LlamaForCausalLM"), nullptr);
  const auto cfg = mm::parse_model_config(read_json(tiny_dir() / "model_bf16" / "config.json"));
  EXPECT_EQ(mm::chat_format_from_name(mm::arch_spec(cfg.arch).chat_format), mm::ChatFormat::M2);
  std::set<std::string> names;
  for (const auto& s : mm::model_tensor_specs(cfg)) EXPECT_TRUE(names.insert(s.name).second) << s.name;
}
