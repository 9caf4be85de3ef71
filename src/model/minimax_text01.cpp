// MiniMax-Text-01 / MiniMax-M1 forward pass (the released remote code's semantics, computed in fp32).
//
//   h = embed_tokens[ids]
//   for each layer l:
//     a  = RMSNorm_in(h);   skip = postnorm ? a : h
//     h1 = skip·α_attn + Attn_l(a)·β_attn           Attn_l: lightning or softmax by attn_type_list[l]
//     b  = RMSNorm_post(h1); skip = postnorm ? b : h1
//     h  = skip·α_mlp + MoE(b)·β_mlp
//   logits = lm_head(RMSNorm_final(h))
#include "model/arch.h"

#include <cmath>

#include "core/error.h"
#include "model/blocks.h"
#include "model/gguf_arch.h"
#include "ops/basic.h"
#include "ops/lightning.h"
#include "ops/matmul.h"
#include "ops/moe.h"

namespace mm {

namespace {

struct LightningWeights {
  Weight qkv;               // [H·3d, hidden], per head [q | k | v]
  Weight output_gate;       // [H·d, hidden]
  Weight out_proj;          // [hidden, H·d]
  std::vector<float> norm;  // [H·d]
  std::vector<float> slopes;  // [H] decay rates of this layer
};

struct Layer {
  std::vector<float> input_norm, post_norm;  // [hidden]
  LightningWeights lin;                      // lightning layers
  SoftmaxAttnWeights attn;                   // softmax layers
  MoeLayerWeights moe;
};

// Every tensor of the architecture, named once: listed for checks and bound by the model's constructor.
void declare_tensors(const ModelConfig& c, GlobalWeights& g, std::vector<Layer>& layers, const TensorVisitor& v) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads, d = c.head_dim;
  declare_global(c, g, v);
  layers.resize(size_t(c.num_hidden_layers));
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    const std::string p = layer_prefix(il);
    Layer& L = layers[size_t(il)];
    declare_layer_norms(p, c, L.input_norm, L.post_norm, v);
    if (c.layers[size_t(il)].attn_kind == AttnKind::Lightning) {
      v({p + "self_attn.qkv_proj.weight", {3 * H * d, D}, TensorRole::Dense}, &L.lin.qkv);
      v({p + "self_attn.output_gate.weight", {H * d, D}, TensorRole::Dense}, &L.lin.output_gate);
      v({p + "self_attn.out_proj.weight", {D, H * d}, TensorRole::Dense}, &L.lin.out_proj);
      v({p + "self_attn.norm.weight", {H * d}, TensorRole::Norm}, &L.lin.norm);
    } else {
      declare_softmax_attn(p, c, /*qk_norm=*/false, L.attn, v);
    }
    declare_moe(p, c, /*routing_bias=*/false, L.moe, v);
  }
}

class Text01Model final : public Model {
 public:
  Text01Model(ModelConfig cfg, TensorStore tensors)
      : Model(std::move(cfg)), store_(std::move(tensors)), rope_(cfg_.rotary_dim, cfg_.rope_theta) {
    declare_tensors(cfg_, g_, layers_, bind_from(store_, cfg_));
    for (int64_t il = 0; il < cfg_.num_hidden_layers; ++il)
      if (cfg_.layers[size_t(il)].attn_kind == AttnKind::Lightning)
        layers_[size_t(il)].lin.slopes = lightning_slopes(cfg_.num_attention_heads, il, cfg_.num_hidden_layers);
  }

  double active_weight_bytes() const override {
    double b = weight_bytes(g_.lm_head) + double(g_.embed.row_bytes);
    for (const auto& L : layers_) {
      for (const Weight* w : {&L.lin.qkv, &L.lin.output_gate, &L.lin.out_proj, &L.attn.q, &L.attn.k, &L.attn.v, &L.attn.o})
        b += weight_bytes(*w);
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
    std::vector<float> h(static_cast<size_t>(T * D));     // [T, hidden] residual stream
    std::vector<float> a(static_cast<size_t>(T * D));     // [T, hidden] normalised sublayer input
    std::vector<float> sub(static_cast<size_t>(T * D));   // [T, hidden] sublayer output
    embed_tokens(g_.embed, batch, lay, h.data());
    const SoftmaxAttnShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps};

    for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
      const Layer& L = layers_[size_t(il)];
      const LayerConfig& lc = c.layers[size_t(il)];
      // --- attention sublayer
      rms_norm(ctx, h.data(), L.input_norm.data(), T, D, c.rms_norm_eps, a.data());
      if (lc.attn_kind == AttnKind::Lightning) lightning_block(ctx, L.lin, batch, lay, il, a.data(), sub.data());
      else softmax_attention_block(ctx, L.attn, shape, rope_, batch, lay, il, a.data(), sub.data());
      residual(c.postnorm ? a.data() : h.data(), lc.attn_alpha, sub.data(), lc.attn_beta, T * D, h.data());
      // --- MoE sublayer
      rms_norm(ctx, h.data(), L.post_norm.data(), T, D, c.rms_norm_eps, a.data());
      moe_forward(ctx, a.data(), T, D, L.moe, c.num_experts_per_tok, RouterKind::Softmax, sub.data());
      residual(c.postnorm ? a.data() : h.data(), lc.mlp_alpha, sub.data(), lc.mlp_beta, T * D, h.data());
    }
    output_logits(ctx, g_.lm_head, g_.final_norm, c.rms_norm_eps, batch, lay, h.data());
    for (const auto& it : batch) it.seq->n_past += it.n_tokens;
  }

 private:
  // out = skip·alpha + y·beta (out may alias skip).
  static void residual(const float* skip, float alpha, const float* y, float beta, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = skip[i] * alpha + y[i] * beta;
  }

  // Lightning attention sublayer. x: [T, hidden] -> out: [T, hidden].
  void lightning_block(ExecContext& ctx, const LightningWeights& w, std::span<const BatchItem> batch, const BatchLayout& lay,
                       int64_t il, const float* x, float* out) const {
    const int64_t T = lay.n_rows, H = cfg_.num_attention_heads, d = cfg_.head_dim, inner = H * d;
    std::vector<float> qkv(static_cast<size_t>(T * 3 * inner));  // [T, H, 3d]: per head [q | k | v]
    std::vector<float> o(static_cast<size_t>(T * inner));        // [T, H·d] attention output, head-major
    std::vector<float> gate(static_cast<size_t>(T * inner));     // [T, H·d]
    matmul_shared(ctx, x, T, {{&w.qkv, qkv.data()}, {&w.output_gate, gate.data()}});  // both read x
    silu_inplace(ctx, qkv.data(), T * 3 * inner);
    for (size_t i = 0; i < batch.size(); ++i) {
      const BatchItem& it = batch[i];
      auto& state = std::get<LinearState>(it.seq->layers[size_t(il)]);
      // --exact: the recurrence for every chunk, so a sequence's numbers do not depend on how its
      // prompt was chunked (prefix cache, chunked prefill) and prefill equals decode bit for bit.
      const bool recurrent = lightning_mode_ == LightningMode::Recurrent ||
                             (lightning_mode_ == LightningMode::Auto && (it.n_tokens == 1 || ctx.math().exact()));
      ctx.parallel_for(H, [&](int64_t hb, int64_t he, int) {
        for (int64_t hh = hb; hh < he; ++hh) {
          const float* base = qkv.data() + lay.row0[i] * 3 * inner + hh * 3 * d;
          LightningHeadArgs a{base, base + d, base + 2 * d, 3 * inner, o.data() + lay.row0[i] * inner + hh * d, inner,
                              it.n_tokens, d, w.slopes[size_t(hh)], state.head(hh)};
          if (recurrent) lightning_recurrent(a);
          else lightning_blocked(a, cfg_.block_size);
        }
      });
    }
    // o = RMSNorm(o) (over all heads jointly) ⊙ sigmoid(gate), fused into one pass
    rms_norm_sigmoid_gate(ctx, o.data(), w.norm.data(), T, inner, cfg_.lightning_norm_eps, gate.data(), o.data());
    matmul(ctx, o.data(), T, w.out_proj, out);
  }

  TensorStore store_;
  Rope rope_;
  GlobalWeights g_;
  std::vector<Layer> layers_;
};

}  // namespace

namespace {

// Both dialects: the release one (model_type minimax_text_01 / minimax_m1, attn_type_list,
// layernorm_*_alpha/beta, postnorm) and transformers' native one (model_type minimax, layer_types,
// *_alpha_factor, block_size).
void parse_text01_config(const nlohmann::json& j, ModelConfig& c) {
  using namespace config_json;
  auto kinds = read_layer_kinds(j, c.num_hidden_layers, /*all_softmax_default=*/false);
  c.layers.resize(size_t(c.num_hidden_layers));
  // Release keys first, native *_factor keys as the alternative spelling; defaults 1.
  auto ab = [&](const char* rel, const char* nat) { return get_num(j, rel, get_num(j, nat, 1.0)); };
  float la = float(ab("layernorm_linear_attention_alpha", "linear_attn_alpha_factor"));
  float lb = float(ab("layernorm_linear_attention_beta", "linear_attn_beta_factor"));
  float fa = float(ab("layernorm_full_attention_alpha", "full_attn_alpha_factor"));
  float fb = float(ab("layernorm_full_attention_beta", "full_attn_beta_factor"));
  float ma = float(ab("layernorm_mlp_alpha", "mlp_alpha_factor"));
  float mb = float(ab("layernorm_mlp_beta", "mlp_beta_factor"));
  for (size_t i = 0; i < c.layers.size(); ++i) {
    auto& l = c.layers[i];
    l.attn_kind = kinds[i];
    l.attn_alpha = kinds[i] == AttnKind::Lightning ? la : fa;
    l.attn_beta = kinds[i] == AttnKind::Lightning ? lb : fb;
    l.mlp_alpha = ma;
    l.mlp_beta = mb;
  }
  // The native dialect always uses postnorm (the -hf conversion of the release).
  if (c.model_type == "minimax" && !has(j, "postnorm")) c.postnorm = true;
}

void visit_text01_tensors(const ModelConfig& c, const TensorVisitor& v) {
  GlobalWeights g;
  std::vector<Layer> layers;
  declare_tensors(c, g, layers, v);
}

std::unique_ptr<Model> create_text01(ModelConfig cfg, TensorStore tensors) {
  return std::make_unique<Text01Model>(std::move(cfg), std::move(tensors));
}

// ---- GGUF: llama.cpp's minimax-01 -------------------------------------------------------------------

constexpr const char* kGgufArch = "minimax-01";

// llama.cpp's fixed layer pattern (GGUF has no key for it): softmax attention iff (i+1) % 8 == 0.
bool gguf_softmax_layer(int64_t layer) { return (layer + 1) % 8 == 0; }

void read_text01_gguf(const GgufFile& f, nlohmann::json& c) {
  const std::string p = std::string(kGgufArch) + ".";
  const int64_t n_layers = c["num_hidden_layers"].get<int64_t>();
  std::vector<int> attn_types;
  for (int64_t i = 0; i < n_layers; ++i) attn_types.push_back(gguf_softmax_layer(i) ? 1 : 0);
  c["attn_type_list"] = attn_types;
  if (!f.find_kv(p + "residual_scale"))
    throw Error("GGUF file " + f.path() + ": " + p + "residual_scale (the residual alpha) is missing");
  const double alpha = gguf_config_float(f, p + "residual_scale");
  for (const char* k : {"layernorm_full_attention_alpha", "layernorm_linear_attention_alpha", "layernorm_mlp_alpha"})
    c[k] = alpha;
  for (const char* k : {"layernorm_full_attention_beta", "layernorm_linear_attention_beta", "layernorm_mlp_beta"})
    c[k] = 1.0;
  c["postnorm"] = true;
  c["block_size"] = 256;
}

void write_text01_gguf(const nlohmann::json& c, GgufArchKvs& kvs) {
  const std::string cannot = std::string("cannot write ") + kGgufArch + " GGUF: ";
  // GGUF keeps one residual scale; the checkpoint must use the release's uniform alpha, betas 1.
  const double alpha = gguf_cfg_num(c, "layernorm_full_attention_alpha");
  for (const char* k : {"layernorm_linear_attention_alpha", "layernorm_mlp_alpha"})
    if (c.contains(k) && gguf_cfg_num(c, k) != alpha)
      throw Error(cannot + k + " differs from layernorm_full_attention_alpha (GGUF stores a single residual_scale)");
  for (const char* k : {"layernorm_full_attention_beta", "layernorm_linear_attention_beta", "layernorm_mlp_beta"})
    if (c.contains(k) && gguf_cfg_num(c, k) != 1.0) throw Error(cannot + k + " is not 1 (GGUF cannot express it)");
  if (c.contains("postnorm") && c["postnorm"] != true) throw Error(cannot + "postnorm must be true");
  const auto& atl = c.value("attn_type_list", nlohmann::json::array());
  for (size_t i = 0; i < atl.size(); ++i)
    if (atl[i] != (gguf_softmax_layer(int64_t(i)) ? 1 : 0))
      throw Error(cannot + "attn_type_list differs from llama.cpp's fixed pattern (softmax on every 8th layer) " +
                  "at layer " + std::to_string(i));
  kvs.after_file_type.push_back(gguf_kv_f32(std::string(kGgufArch) + ".residual_scale", alpha));
}

// ---- minimax init --like text-01 ----------------------------------------------------------------------

void text01_init_config(const InitFlags& flags, nlohmann::ordered_json& c) {
  const int64_t layers = c["num_hidden_layers"].get<int64_t>();
  const int64_t every = flags.i64("softmax-every", 8);
  if (every <= 0) throw Error("--softmax-every must be positive");
  std::vector<int> types;
  for (int64_t i = 0; i < layers; ++i) types.push_back((i + 1) % every == 0 ? 1 : 0);
  c["attn_type_list"] = types;
  const double alpha = std::pow(2.0 * double(layers), 0.25);
  for (const char* k : {"layernorm_full_attention", "layernorm_linear_attention", "layernorm_mlp"}) {
    c[std::string(k) + "_alpha"] = alpha;
    c[std::string(k) + "_beta"] = 1.0;
  }
  c["postnorm"] = true;
  c["rms_norm_eps"] = 1e-5;
  c["rope_theta"] = 10000000.0;
  c["block_size"] = flags.i64("block-size", 256);
}

}  // namespace

ArchSpec text01_arch() {
  return {.arch = Arch::MiniMaxText01,
          .name = "MiniMax-Text-01",
          .model_types = {"minimax_text_01", "minimax_m1", "minimax"},
          .hf_classes = {"MiniMaxText01ForCausalLM", "MiniMaxM1ForCausalLM", "MiniMaxForCausalLM"},
          .chat_format = "text01",
          .parse_config = parse_text01_config,
          .visit_tensors = visit_text01_tensors,
          .create = create_text01,
          .gguf = {.arch = kGgufArch,
                   .model_types = {"minimax_text_01", "minimax_m1"},
                   .read_config = read_text01_gguf,
                   .write_kvs = write_text01_gguf},
          .init = {.like = "text-01",
                   .layers = 8,
                   .heads = 4,
                   .intermediate = 256,
                   .experts = 8,
                   .max_position = 1048576,
                   .fp8 = false,
                   .config = text01_init_config}};
}

}  // namespace mm
