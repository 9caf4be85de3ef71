// MiniMax-M2 family forward pass (transformers' minimax_m2 with the partial-RoPE fix, vLLM, SGLang),
// computed in fp32 with weights kept in their storage type (fp8 stays fp8; block scales are applied
// inside the kernels).
//
//   h = embed_tokens[ids]
//   for each layer l:
//     h = h + Attn_l(RMSNorm_in(h))      q/k RMSNorm over the whole projected q / k, then heads,
//                                        partial NeoX RoPE on rotary_dim dims, GQA, causal softmax
//     h = h + MoE_l(RMSNorm_post(h))     sigmoid router, top-k by score + e_score_correction_bias,
//                                        weights = chosen unbiased scores renormalised; SwiGLU experts
//   logits = lm_head(RMSNorm_final(h))   untied
//
// Tensors of layers >= num_hidden_layers (the MTP modules some configs declare) are not part of the
// table and are ignored.
#include "model/arch.h"

#include "core/error.h"
#include "model/blocks.h"
#include "model/gguf_arch.h"
#include "ops/basic.h"
#include "ops/moe.h"

namespace mm {

namespace {

struct Layer {
  std::vector<float> input_norm, post_norm;  // [hidden]
  SoftmaxAttnWeights attn;                   // q/k/v/o + q_norm [H·hd], k_norm [kv·hd]
  MoeLayerWeights moe;                       // router [E, hidden], bias [E], experts
};

RouterKind router_kind(const ModelConfig& c) {
  return c.scoring_func == "sigmoid" ? RouterKind::SigmoidBias : RouterKind::Softmax;
}

// Every tensor of the architecture, named once: listed for checks and bound by the model's constructor.
void declare_tensors(const ModelConfig& c, GlobalWeights& g, std::vector<Layer>& layers, const TensorVisitor& v) {
  declare_global(c, g, v);
  layers.resize(size_t(c.num_hidden_layers));
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    const std::string p = layer_prefix(il);
    Layer& L = layers[size_t(il)];
    declare_layer_norms(p, c, L.input_norm, L.post_norm, v);
    declare_softmax_attn(p, c, c.use_qk_norm, L.attn, v);
    declare_moe(p, c, c.use_routing_bias, L.moe, v);
  }
}

class M2Model final : public Model {
 public:
  M2Model(ModelConfig cfg, TensorStore tensors)
      : Model(std::move(cfg)), store_(std::move(tensors)), rope_(cfg_.rotary_dim, cfg_.rope_theta) {
    declare_tensors(cfg_, g_, layers_, bind_from(store_, cfg_));
  }

  double active_weight_bytes() const override {
    double b = weight_bytes(g_.lm_head) + double(g_.embed.row_bytes);
    for (const auto& L : layers_) {
      for (const Weight* w : {&L.attn.q, &L.attn.k, &L.attn.v, &L.attn.o}) b += weight_bytes(*w);
      b += moe_active_bytes(L.moe, cfg_);
    }
    return b;
  }

  double total_weight_bytes() const override { return table_weight_bytes(store_, model_tensor_specs(cfg_)); }

  void forward(std::span<const BatchItem> batch, ExecContext& ctx) override {
    begin_batch(batch, ctx);
    const auto& c = cfg_;
    const BatchLayout lay(batch);
    const int64_t T = lay.n_rows, D = c.hidden_size;
    if (T == 0) return;
    std::vector<float> h(static_cast<size_t>(T * D));    // [T, hidden] residual stream
    std::vector<float> a(static_cast<size_t>(T * D));    // [T, hidden] normalised sublayer input
    std::vector<float> sub(static_cast<size_t>(T * D));  // [T, hidden] sublayer output
    embed_tokens(g_.embed, batch, lay, h.data());
    const SoftmaxAttnShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps};
    const RouterKind kind = router_kind(c);

    for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
      const Layer& L = layers_[size_t(il)];
      // --- attention sublayer: h += Attn(RMSNorm_in(h))
      rms_norm(ctx, h.data(), L.input_norm.data(), T, D, c.rms_norm_eps, a.data());
      softmax_attention_block(ctx, L.attn, shape, rope_, batch, lay, il, a.data(), sub.data());
      for (int64_t i = 0; i < T * D; ++i) h[size_t(i)] += sub[size_t(i)];
      // --- MoE sublayer: h += MoE(RMSNorm_post(h))
      rms_norm(ctx, h.data(), L.post_norm.data(), T, D, c.rms_norm_eps, a.data());
      moe_forward(ctx, a.data(), T, D, L.moe, c.num_experts_per_tok, kind, sub.data());
      for (int64_t i = 0; i < T * D; ++i) h[size_t(i)] += sub[size_t(i)];
    }
    output_logits(ctx, g_.lm_head, g_.final_norm, c.rms_norm_eps, batch, lay, h.data());
    for (const auto& it : batch) it.seq->n_past += it.n_tokens;
  }

 private:
  TensorStore store_;
  Rope rope_;
  GlobalWeights g_;
  std::vector<Layer> layers_;
};

}  // namespace

namespace {

void parse_m2_config(const nlohmann::json& j, ModelConfig& c) {
  using namespace config_json;
  c.rms_norm_eps = get_num(j, "rms_norm_eps", 1e-6);
  auto kinds = read_layer_kinds(j, c.num_hidden_layers, /*all_softmax_default=*/true);
  c.layers.resize(size_t(c.num_hidden_layers));
  for (size_t i = 0; i < c.layers.size(); ++i) {
    if (kinds[i] != AttnKind::Softmax) bad("attn_type_list", "MiniMax-M2 layers must all be softmax attention (1)");
    c.layers[i].attn_kind = AttnKind::Softmax;
  }
  c.use_qk_norm = get_bool(j, "use_qk_norm", true);
  c.qk_norm_type = get_str(j, "qk_norm_type", "per_layer");
  if (c.use_qk_norm && c.qk_norm_type != "per_layer")
    bad("qk_norm_type", "'" + c.qk_norm_type + "' is not supported (only per_layer)");
  c.scoring_func = get_str(j, "scoring_func", "sigmoid");
  if (c.scoring_func != "sigmoid" && c.scoring_func != "softmax")
    bad("scoring_func", "'" + c.scoring_func + "' is not supported (sigmoid or softmax)");
  c.use_routing_bias = get_bool(j, "use_routing_bias", true);
  if (c.scoring_func != "sigmoid" && c.use_routing_bias)
    throw Error("config.json: use_routing_bias true needs scoring_func \"sigmoid\" (got \"" + c.scoring_func + "\")");
}

void visit_m2_tensors(const ModelConfig& c, const TensorVisitor& v) {
  GlobalWeights g;
  std::vector<Layer> layers;
  declare_tensors(c, g, layers, v);
}

std::unique_ptr<Model> create_m2(ModelConfig cfg, TensorStore tensors) {
  return std::make_unique<M2Model>(std::move(cfg), std::move(tensors));
}

// ---- GGUF: llama.cpp's minimax-m2 -------------------------------------------------------------------

constexpr const char* kGgufArch = "minimax-m2";

void read_m2_gguf(const GgufFile& f, nlohmann::json& c) {
  const std::string key = std::string(kGgufArch) + ".expert_gating_func";
  const int64_t gating = f.get_int(key, 2);
  if (gating != 1 && gating != 2)
    throw Error("GGUF file " + f.path() + ": " + key + " " + std::to_string(gating) +
                " is not supported (1 softmax, 2 sigmoid)");
  c["scoring_func"] = gating == 2 ? "sigmoid" : "softmax";
  c["use_routing_bias"] = f.find_tensor("blk.0.exp_probs_b.bias") != nullptr;
  c["use_qk_norm"] = f.find_tensor("blk.0.attn_q_norm.weight") != nullptr;
  c["qk_norm_type"] = "per_layer";
}

void write_m2_gguf(const nlohmann::json& c, GgufArchKvs& kvs) {
  const std::string p = std::string(kGgufArch) + ".";
  const std::string sf = c.value("scoring_func", std::string("sigmoid"));
  if (sf != "sigmoid" && sf != "softmax") throw Error("cannot write GGUF: scoring_func '" + sf + "' is not supported");
  kvs.after_experts.push_back(gguf_kv_u32(p + "expert_gating_func", sf == "sigmoid" ? 2 : 1));
  kvs.after_file_type.push_back(gguf_kv_u32(p + "expert_feed_forward_length", gguf_cfg_int(c, "intermediate_size")));
}

// ---- minimax init --like m2 ---------------------------------------------------------------------------

void m2_init_config(const InitFlags& flags, nlohmann::ordered_json& c) {
  c["attn_type_list"] = std::vector<int>(static_cast<size_t>(c["num_hidden_layers"].get<int64_t>()), 1);
  c["rms_norm_eps"] = 1e-6;
  c["rope_theta"] = 5000000.0;
  c["qk_norm_type"] = "per_layer";
  c["use_qk_norm"] = true;
  c["scoring_func"] = "sigmoid";
  c["use_routing_bias"] = true;
  c["use_mtp"] = false;
  if (flags.fp8) {
    c["quantization_config"] = {{"quant_method", "fp8"},
                                {"fmt", "float8_e4m3fn"},
                                {"activation_scheme", "dynamic"},
                                {"weight_block_size", {128, 128}},
                                {"modules_to_not_convert", {"gate", "e_score_correction_bias", "lm_head"}}};
  }
}

}  // namespace

ArchSpec m2_arch() {
  return {.arch = Arch::MiniMaxM2,
          .name = "MiniMax-M2",
          .model_types = {"minimax_m2"},
          .hf_classes = {"MiniMaxM2ForCausalLM"},
          .chat_format = "m2",
          .parse_config = parse_m2_config,
          .visit_tensors = visit_m2_tensors,
          .create = create_m2,
          .gguf = {.arch = kGgufArch,
                   .model_types = {"minimax_m2"},
                   .read_config = read_m2_gguf,
                   .write_kvs = write_m2_gguf},
          .init = {.like = "m2",
                   .layers = 4,
                   .heads = 8,
                   .intermediate = 128,
                   .experts = 16,
                   .max_position = 196608,
                   .fp8 = true,
                   .config = m2_init_config}};
}

}  // namespace mm
