// context_cost: sequence memory and analytic FLOPs from a config, against numbers worked out by hand
// (the arithmetic is in the comments), on a small config and on the real M1 / M2 configs.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/config.h"
#include "model/context_cost.h"
#include "test_util.h"

namespace mm {
namespace {

ModelConfig config_of(const std::string& dir) {
  return parse_model_config(test::read_json(std::string(MM_SOURCE_DIR) + "/tests/data/" + dir + "/config.json"));
}

// A small Text-01-shaped config: 4 layers, softmax every 2nd (layers 1 and 3), so 2 lightning + 2 softmax.
ModelConfig small_config(int64_t head_dim = 32) {
  nlohmann::json j = {{"architectures", {"MiniMaxText01ForCausalLM"}},
                      {"model_type", "minimax_text_01"},
                      {"attn_type_list", {0, 1, 0, 1}},
                      {"head_dim", head_dim},
                      {"hidden_size", 64},
                      {"intermediate_size", 48},
                      {"num_attention_heads", 4},
                      {"num_key_value_heads", 2},
                      {"num_hidden_layers", 4},
                      {"num_local_experts", 4},
                      {"num_experts_per_tok", 2},
                      {"max_position_embeddings", 4096},
                      {"rotary_dim", head_dim / 2},
                      {"vocab_size", 100},
                      {"layernorm_full_attention_alpha", 1.0},
                      {"layernorm_full_attention_beta", 1.0},
                      {"layernorm_linear_attention_alpha", 1.0},
                      {"layernorm_linear_attention_beta", 1.0},
                      {"layernorm_mlp_alpha", 1.0},
                      {"layernorm_mlp_beta", 1.0},
                      {"postnorm", true}};
  return parse_model_config(j);
}

TEST(ContextCost, SmallConfigMemory) {
  const ModelConfig c = small_config();
  ASSERT_EQ(c.n_softmax_layers(), 2);
  ASSERT_EQ(c.n_lightning_layers(), 2);
  // 100 tokens: ceil(100 / 64) = 2 pages per softmax layer. Row: 2 KV heads x 32 = 64 values.
  // f16: 64 x 2 = 128 B per row; KV = 2 layers x 2 pages x 2 (K, V) x 64 rows x 128 B = 65,536 B.
  // State: 2 lightning layers x 4 heads x 32^2 x 4 B = 32,768 B.
  ContextMemory m = context_memory(c, 100, KvType::F16, 1000);
  EXPECT_EQ(m.n_pages, 2);
  EXPECT_EQ(m.kv_row_bytes, 128u);
  EXPECT_EQ(m.kv_bytes, 65536u);
  EXPECT_EQ(m.state_bytes, 32768u);
  EXPECT_EQ(m.weight_bytes, 1000u);
  EXPECT_EQ(m.total_bytes, 65536u + 32768u + 1000u);
  // q8_0: 64 values = 2 blocks of 34 B = 68 B per row; KV = 2 x 2 x 2 x 64 x 68 = 34,816 B.
  m = context_memory(c, 100, KvType::Q8_0, 0);
  EXPECT_EQ(m.kv_row_bytes, 68u);
  EXPECT_EQ(m.kv_bytes, 34816u);
  // f32, exactly one page (64 tokens): 2 x 1 x 2 x 64 x 256 = 65,536 B; 65 tokens take a second page.
  EXPECT_EQ(context_memory(c, 64, KvType::F32, 0).kv_bytes, 65536u);
  EXPECT_EQ(context_memory(c, 65, KvType::F32, 0).kv_bytes, 131072u);
  // Empty context: no pages, the lightning states are still there.
  m = context_memory(c, 0, KvType::BF16, 0);
  EXPECT_EQ(m.kv_bytes, 0u);
  EXPECT_EQ(m.state_bytes, 32768u);
}

TEST(ContextCost, SmallConfigFlops) {
  const ModelConfig c = small_config();
  const FlopModel f = flop_model(c);
  // Active matmul parameters (hidden D 64, heads H 4 x d 32 = 128, KV 2 x 32 = 64, experts 4 top-2 of I 48):
  //   lightning layer: qkv 384x64 + gate 128x64 + out 64x128 = 24,576 + 8,192 + 8,192 = 40,960
  //   softmax layer:   q 128x64 + k 64x64 + v 64x64 + o 64x128 = 8,192 + 4,096 + 4,096 + 8,192 = 24,576
  //   every layer:     router 4x64 = 256, 2 experts x 3 x 48 x 64 = 18,432
  //   lm_head 100 x 64 = 6,400
  //   total = 2 x 40,960 + 2 x 24,576 + 4 x (256 + 18,432) + 6,400 = 81,920 + 49,152 + 74,752 + 6,400 = 212,224
  EXPECT_DOUBLE_EQ(f.active_matmul_params, 212224.0);
  EXPECT_DOUBLE_EQ(f.matmul_flops, 424448.0);
  // Lightning: 2 layers x 4 x 4 heads x 32^2 = 32,768. Attention: 2 layers x 4 x 4 heads x 32 = 1,024 per token.
  EXPECT_DOUBLE_EQ(f.lightning_flops, 32768.0);
  EXPECT_DOUBLE_EQ(f.attention_flops_per_depth, 1024.0);
  // Depth 10: 424,448 + 32,768 + 10,240 = 467,456.
  EXPECT_DOUBLE_EQ(f.per_token(10), 467456.0);
  // Three tokens at depths 0, 1, 2: 3 x 457,216 + 1,024 x (0 + 1 + 2) = 1,371,648 + 3,072 = 1,374,720.
  EXPECT_DOUBLE_EQ(f.cumulative(3), 1374720.0);
  EXPECT_DOUBLE_EQ(f.cumulative(3), f.per_token(0) + f.per_token(1) + f.per_token(2));
  EXPECT_DOUBLE_EQ(f.cumulative(0), 0.0);
}

TEST(ContextCost, BadInputsAreErrors) {
  const ModelConfig c = small_config();
  EXPECT_THROW(context_memory(c, -1, KvType::F16, 0), Error);
  const FlopModel f = flop_model(c);
  EXPECT_THROW(f.per_token(-1), Error);
  EXPECT_THROW(f.cumulative(-5), Error);
  // head_dim 48: KV rows are 2 x 48 = 96 values (a multiple of 32), but head slices would straddle blocks.
  const ModelConfig c48 = small_config(48);
  EXPECT_THROW(context_memory(c48, 10, KvType::Q8_0, 0), Error);
  EXPECT_NO_THROW(context_memory(c48, 10, KvType::F16, 0));
  try {
    context_memory(c48, 10, KvType::Q8_0, 0);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_kv_type("q4_0"), Error);
}

TEST(ContextCost, MiniMaxM1AtOneMillionTokens) {
  const ModelConfig c = config_of("minimax_m1_config");
  // 1,000,000 tokens = 15,625 pages of 64. Row: 8 KV heads x 128 = 1,024 values, f16 2,048 B.
  // KV = 10 softmax layers x 15,625 x 2 x 64 x 2,048 = 10 x 15,625 x 262,144 = 40,960,000,000 B.
  // State = 70 lightning layers x 64 heads x 128^2 x 4 B = 70 x 4,194,304 = 293,601,280 B.
  const ContextMemory m = context_memory(c, 1000000, KvType::F16, 0);
  EXPECT_EQ(m.n_pages, 15625);
  EXPECT_EQ(m.kv_bytes, 40960000000ull);
  EXPECT_EQ(m.state_bytes, 293601280ull);
  // q8_0: 1,024 / 32 x 34 = 1,088 B per row: 10 x 15,625 x 128 x 1,088 = 21,760,000,000 B.
  EXPECT_EQ(context_memory(c, 1000000, KvType::Q8_0, 0).kv_bytes, 21760000000ull);
}

TEST(ContextCost, MiniMaxM2AtFullContext) {
  const ModelConfig c = config_of("minimax_m2_config");
  // 196,608 tokens = 3,072 pages. KV = 62 layers x 3,072 x 2 x 64 x 2,048 = 62 x 805,306,368 = 49,928,994,816 B.
  const ContextMemory m = context_memory(c, 196608, KvType::F16, 0);
  EXPECT_EQ(m.n_pages, 3072);
  EXPECT_EQ(m.kv_bytes, 49928994816ull);
  EXPECT_EQ(m.state_bytes, 0u);
  // FLOPs. Per layer (D 3,072, H 48 x 128 = 6,144, KV 1,024, 8 of 256 experts of I 1,536):
  //   q 6,144x3,072 + k 1,024x3,072 + v 1,024x3,072 + o 3,072x6,144 = 44,040,192
  //   router 256 x 3,072 = 786,432; experts 8 x 3 x 1,536 x 3,072 = 113,246,208
  //   = 158,072,832 per layer, x 62 = 9,800,515,584; lm_head 200,064 x 3,072 = 614,596,608
  //   active = 10,415,112,192 (M2's "10B active").
  const FlopModel f = flop_model(c);
  EXPECT_DOUBLE_EQ(f.active_matmul_params, 10415112192.0);
  EXPECT_DOUBLE_EQ(f.lightning_flops, 0.0);
  // Attention: 62 x 4 x 48 x 128 = 1,523,712 per previous token.
  EXPECT_DOUBLE_EQ(f.attention_flops_per_depth, 1523712.0);
  // Depth 196,608: 20,830,224,384 + 1,523,712 x 196,608 (= 299,573,968,896) = 320,404,193,280.
  EXPECT_DOUBLE_EQ(f.per_token(196608), 320404193280.0);
}

// M1 against DeepSeek-R1 at 100K generated tokens, the M1 paper's comparison.
TEST(ContextCost, MiniMaxM1VersusDeepSeekR1) {
  const ModelConfig c = config_of("minimax_m1_config");
  const FlopModel m1 = flop_model(c);
  // M1 (D 6,144, H 64 x 128 = 8,192, KV 1,024, 2 of 32 experts of I 9,216):
  //   lightning layer: qkv 24,576x6,144 + gate 8,192x6,144 + out 6,144x8,192 = 251,658,240 (x 70)
  //   softmax layer: q + o 2 x 50,331,648 + k + v 2 x 6,291,456 = 113,246,208 (x 10)
  //   per layer: router 32 x 6,144 = 196,608 + experts 2 x 3 x 9,216 x 6,144 = 339,738,624 (x 80)
  //   lm_head 200,064 x 6,144 = 1,229,193,216
  //   = 17,616,076,800 + 1,132,462,080 + 27,194,818,560 + 1,229,193,216 = 47,172,550,656
  //   (45.94B without the lm_head: the model card's "45.9B activated").
  EXPECT_DOUBLE_EQ(m1.active_matmul_params, 47172550656.0);
  // Lightning: 70 x 4 x 64 x 128^2 = 293,601,280. Attention: 10 x 4 x 64 x 128 = 327,680 per previous token.
  EXPECT_DOUBLE_EQ(m1.lightning_flops, 293601280.0);
  EXPECT_DOUBLE_EQ(m1.attention_flops_per_depth, 327680.0);
  // Depth 100,000: 94,345,101,312 + 293,601,280 + 32,768,000,000 = 127,406,702,592.
  EXPECT_DOUBLE_EQ(m1.per_token(100000), 127406702592.0);

  const FlopModel r1 = deepseek_r1_flop_model();
  // DeepSeek-R1 (V3 config): MLA per layer 187,105,280 x 61 = 11,413,422,080; 3 dense FFNs
  // 3 x 396,361,728 = 1,189,085,184; 58 MoE layers x 398,196,736 = 23,095,410,688; lm_head
  // 129,280 x 7,168 = 926,679,040; total 36,624,596,992 (DeepSeek: "36.6B" incl. the output head).
  EXPECT_DOUBLE_EQ(r1.active_matmul_params, 36624596992.0);
  // Attention: 61 x 2 x 128 x (192 + 128) = 4,997,120 per previous token.
  EXPECT_DOUBLE_EQ(r1.attention_flops_per_depth, 4997120.0);
  // Depth 100,000: 73,249,193,984 + 499,712,000,000 = 572,961,193,984.
  EXPECT_DOUBLE_EQ(r1.per_token(100000), 572961193984.0);
  // Per token at depth 100K: 127,406,702,592 / 572,961,193,984 = 0.22236.
  EXPECT_NEAR(m1.per_token(100000) / r1.per_token(100000), 0.22236, 1e-5);
  // Cumulative over depths 0 .. 99,999 (sum of depths 4,999,950,000):
  //   M1 = 100,000 x 94,638,702,592 + 327,680 x 4,999,950,000 = 9.4638702592e15 + 1.638383616e15
  //      = 11,102,253,875,200,000
  //   R1 = 100,000 x 73,249,193,984 + 4,997,120 x 4,999,950,000 = 7.3249193984e15 + 2.4985350144e16
  //      = 32,310,269,542,400,000
  //   ratio 0.34361.
  EXPECT_NEAR(m1.cumulative(100000) / 11102253875200000.0, 1.0, 1e-12);
  EXPECT_NEAR(r1.cumulative(100000) / 32310269542400000.0, 1.0, 1e-12);
  EXPECT_NEAR(m1.cumulative(100000) / r1.cumulative(100000), 0.34361, 1e-5);
  // Absorbed MLA: 61 x 2 x 128 x (576 + 512) = 16,990,208 per previous token.
  EXPECT_DOUBLE_EQ(deepseek_r1_flop_model(true).attention_flops_per_depth, 16990208.0);
}


// `minimax info --ctx N --flops --json` on config.json alone: the numbers of the tests above, through the CLI.
TEST(ContextCostCli, InfoM1AtOneMillionTokens) {
  auto [rc, out] = test::run_cmd(test::cli() + " info --json --flops --ctx 1000000 --model " +
                                 std::string(MM_SOURCE_DIR) + "/tests/data/minimax_m1_config 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["kv_type"], "f16");
  EXPECT_EQ(j["kv_pages_per_layer"], 15625);
  EXPECT_EQ(j["kv_bytes"].get<uint64_t>(), 40960000000ull);   // 10 x 15,625 x 2 x 64 x 2,048
  EXPECT_EQ(j["state_bytes"].get<uint64_t>(), 293601280ull);  // 70 x 64 x 128^2 x 4
  // No weights in the folder: estimated as bf16, 2 B x 456,089,655,296 parameters (embeddings 2 x
  // 1,229,193,216, experts 80 x 32 x 169,869,312, projections 18,748,538,880, routers 15,728,640,
  // norms 1,562,624) = 912,179,310,592 B; total = 912,179,310,592 + 40,960,000,000 + 293,601,280.
  EXPECT_TRUE(j["weights_bytes_estimated"].get<bool>());
  EXPECT_EQ(j["weights_bytes"].get<double>(), 912179310592.0);
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(), 953432911872ull);
  // Per token at depth 1,000,000: 94,638,702,592 + 327,680 x 1,000,000 = 422,318,702,592.
  const auto& f = j["flops"];
  EXPECT_EQ(f["per_token_flops"].get<double>(), 422318702592.0);
  EXPECT_NEAR(f["vs_deepseek_r1"]["per_token_ratio"].get<double>(), 0.22236, 1e-5);
  EXPECT_NEAR(f["vs_deepseek_r1"]["cumulative_ratio"].get<double>(), 0.34361, 1e-5);
  EXPECT_EQ(f["vs_deepseek_r1"]["generated_tokens"], 100000);
  EXPECT_EQ(f["vs_deepseek_r1"]["m1_paper_claim_ratio"].get<double>(), 0.25);
  // The text form runs too and names the comparison.
  auto [rc2, text] = test::run_cmd(test::cli() + " info --flops --ctx 1000000 --model " + std::string(MM_SOURCE_DIR) +
                                   "/tests/data/minimax_m1_config 2>&1");
  ASSERT_EQ(rc2, 0) << text;
  EXPECT_NE(text.find("DeepSeek-R1"), std::string::npos) << text;
}

TEST(ContextCostCli, InfoM2AtFullContextQ8) {
  auto [rc, out] = test::run_cmd(test::cli() + " info --json --ctx 196608 --kv-type q8_0 --model " +
                                 std::string(MM_SOURCE_DIR) + "/tests/data/minimax_m2_config 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  // 62 layers x 3,072 pages x 2 x 64 x 1,088 B (1,024 values = 32 blocks of 34 B) = 26,524,778,496 B.
  EXPECT_EQ(j["kv_row_bytes"], 1088);
  EXPECT_EQ(j["kv_bytes"].get<uint64_t>(), 26524778496ull);
  EXPECT_EQ(j["state_bytes"].get<uint64_t>(), 0u);
  EXPECT_FALSE(j["beyond_max_position_embeddings"].get<bool>());
  EXPECT_EQ(j["total_bytes"].get<double>(), j["kv_bytes"].get<double>() + j["weights_bytes"].get<double>());
}

TEST(ContextCostCli, InfoBadInputs) {
  const std::string m1 = " --model " + std::string(MM_SOURCE_DIR) + "/tests/data/minimax_m1_config";
  auto [rc, out] = test::run_cmd(test::cli() + " info --ctx -5" + m1 + " 2>&1");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--ctx"), std::string::npos) << out;
  auto [rc2, out2] = test::run_cmd(test::cli() + " info --kv-type q4_0" + m1 + " 2>&1");
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("q8_0"), std::string::npos) << out2;  // the message lists the choices
}

// A short sweep on the tiny Text-01 model (8 layers: 6 lightning, 2 softmax; max_position_embeddings 4096).
TEST(ContextCostCli, BenchCtxSweepTiny) {
  const std::string model = test::testdata("minimax_text01_tiny/model_f32");
  auto [rc, out] = test::run_cmd(test::cli() + " bench --model " + model +
                                 " --ctx-sweep 64,200 -n 2 --chunk 64 --threads 1 --json 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["chunk"], 64);
  ASSERT_EQ(j["sweep"].size(), 2u);
  EXPECT_EQ(j["sweep"][0]["ctx"], 64);
  EXPECT_EQ(j["sweep"][1]["ctx"], 200);
  const std::string src = j["rss_peak_source"];
  EXPECT_TRUE(src == "vmhwm" || src == "ru_maxrss") << src;
  for (const auto& p : j["sweep"]) {
    // Lightning states: 6 layers x 8 heads x 16^2 x 4 B = 49,152 B, whatever the context.
    EXPECT_EQ(p["state_bytes"], 49152);
    EXPECT_GT(p["prefill_tok_s"].get<double>(), 0);
    EXPECT_GT(p["decode_tok_s"].get<double>(), 0);
    EXPECT_GT(p["peak_rss_bytes"].get<double>(), 0);
  }
  // 202 tokens of KV take more than 66.
  EXPECT_GT(j["sweep"][1]["kv_bytes"].get<double>(), j["sweep"][0]["kv_bytes"].get<double>());
}

TEST(ContextCostCli, BenchCtxSweepRejectsBadLists) {
  const std::string base = test::cli() + " bench --model " + test::testdata("minimax_text01_tiny/model_f32") + " --ctx-sweep ";
  for (const char* bad : {",", "0", "64,-1", "64,x"}) {
    auto [rc, out] = test::run_cmd(base + bad + " 2>&1");
    EXPECT_NE(rc, 0) << bad;
    EXPECT_NE(out.find("--ctx-sweep"), std::string::npos) << bad << ": " << out;
  }
  // 4,064 + 32 + 1 > 4,096: the message says how far the model goes (4,096 - 32 - 1 = 4,063).
  auto [rc, out] = test::run_cmd(base + "4064 2>&1");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("4063"), std::string::npos) << out;
}

}  // namespace
}  // namespace mm
