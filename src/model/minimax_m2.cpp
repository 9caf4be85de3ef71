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
#include "model/minimax_m2.h"

#include "core/error.h"
#include "model/blocks.h"
#include "ops/basic.h"
#include "ops/moe.h"

namespace mm {

namespace {

std::string layer_prefix(int64_t il) { return "model.layers." + std::to_string(il) + "."; }

struct Layer {
  std::vector<float> input_norm, post_norm;  // [hidden]
  SoftmaxAttnWeights attn;                   // q/k/v/o + q_norm [H·hd], k_norm [kv·hd]
  MoeLayerWeights moe;                       // router [E, hidden], bias [E], experts
};

RouterKind router_kind(const ModelConfig& c) {
  return c.scoring_func == "sigmoid" ? RouterKind::SigmoidBias : RouterKind::Softmax;
}

// Bytes of a weight plus its fp8 block scales (if any).
double weight_bytes(const Weight& w) {
  double b = double(w.n_bytes());
  if (w.scale) {
    const int64_t rows = (w.n_out + w.scale_bn - 1) / w.scale_bn, cols = (w.n_in + w.scale_bk - 1) / w.scale_bk;
    b += double(rows * cols) * 4.0;
  }
  return b;
}

class M2Model final : public Model {
 public:
  M2Model(ModelConfig cfg, TensorStore tensors)
      : Model(std::move(cfg)), store_(std::move(tensors)), rope_(cfg_.rotary_dim, cfg_.rope_theta) {
    const auto& c = cfg_;
    embed_ = bind_weight(store_, "model.embed_tokens.weight", c);
    lm_head_ = bind_weight(store_, c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight", c);
    final_norm_ = load_vector(store_, "model.norm.weight");
    for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
      const std::string p = layer_prefix(il);
      Layer L;
      L.input_norm = load_vector(store_, p + "input_layernorm.weight");
      L.post_norm = load_vector(store_, p + "post_attention_layernorm.weight");
      L.attn.q = bind_weight(store_, p + "self_attn.q_proj.weight", c);
      L.attn.k = bind_weight(store_, p + "self_attn.k_proj.weight", c);
      L.attn.v = bind_weight(store_, p + "self_attn.v_proj.weight", c);
      L.attn.o = bind_weight(store_, p + "self_attn.o_proj.weight", c);
      if (c.use_qk_norm) {
        L.attn.q_norm = load_vector(store_, p + "self_attn.q_norm.weight");
        L.attn.k_norm = load_vector(store_, p + "self_attn.k_norm.weight");
      }
      L.moe.router = bind_weight(store_, p + "block_sparse_moe.gate.weight", c);
      if (c.use_routing_bias) L.moe.bias = load_vector(store_, p + "block_sparse_moe.e_score_correction_bias");
      for (int64_t e = 0; e < c.num_local_experts; ++e) {
        const std::string ep = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        L.moe.w1.push_back(bind_weight(store_, ep + "w1.weight", c));
        L.moe.w3.push_back(bind_weight(store_, ep + "w3.weight", c));
        L.moe.w2.push_back(bind_weight(store_, ep + "w2.weight", c));
      }
      layers_.push_back(std::move(L));
    }
  }

  std::unique_ptr<SequenceState> new_sequence(int64_t n_ctx_max) const override {
    return make_sequence_state(cfg_, n_ctx_max);
  }

  double active_weight_bytes() const override {
    double b = weight_bytes(lm_head_) + double(embed_.row_bytes);
    const double frac = double(cfg_.num_experts_per_tok) / double(cfg_.num_local_experts);
    for (const auto& L : layers_) {
      for (const Weight* w : {&L.attn.q, &L.attn.k, &L.attn.v, &L.attn.o, &L.moe.router}) b += weight_bytes(*w);
      for (size_t e = 0; e < L.moe.w1.size(); ++e)
        b += frac * (weight_bytes(L.moe.w1[e]) + weight_bytes(L.moe.w3[e]) + weight_bytes(L.moe.w2[e]));
    }
    return b;
  }

  // Weights this model uses (MTP tensors of extra layers excluded), fp8 scales included.
  double total_weight_bytes() const override {
    double b = 0;
    for (const auto& s : m2_tensor_specs(cfg_)) {
      const TensorInfo& t = store_.get(s.name);
      b += double(t.n_bytes);
      if (const TensorInfo* sc = store_.find(s.name + "_scale_inv"); sc && t.dtype == DType::F8_E4M3)
        b += double(sc->n_bytes);
    }
    return b;
  }

  void forward(std::span<const BatchItem> batch) override {
    validate_batch(batch);
    const auto& c = cfg_;
    const BatchLayout lay(batch);
    const int64_t T = lay.n_rows, D = c.hidden_size;
    if (T == 0) return;
    std::vector<float> h(static_cast<size_t>(T * D));    // [T, hidden] residual stream
    std::vector<float> a(static_cast<size_t>(T * D));    // [T, hidden] normalised sublayer input
    std::vector<float> sub(static_cast<size_t>(T * D));  // [T, hidden] sublayer output
    embed_tokens(embed_, batch, lay, h.data());
    const SoftmaxAttnShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps};
    const RouterKind kind = router_kind(c);

    for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
      const Layer& L = layers_[size_t(il)];
      // --- attention sublayer: h += Attn(RMSNorm_in(h))
      rms_norm(h.data(), L.input_norm.data(), T, D, c.rms_norm_eps, a.data());
      softmax_attention_block(L.attn, shape, rope_, batch, lay, il, a.data(), sub.data());
      for (int64_t i = 0; i < T * D; ++i) h[size_t(i)] += sub[size_t(i)];
      // --- MoE sublayer: h += MoE(RMSNorm_post(h))
      rms_norm(h.data(), L.post_norm.data(), T, D, c.rms_norm_eps, a.data());
      moe_forward(a.data(), T, D, L.moe, c.num_experts_per_tok, kind, sub.data());
      for (int64_t i = 0; i < T * D; ++i) h[size_t(i)] += sub[size_t(i)];
    }
    output_logits(lm_head_, final_norm_, c.rms_norm_eps, batch, lay, h.data());
    for (const auto& it : batch) it.seq->n_past += it.n_tokens;
  }

 private:
  TensorStore store_;
  Rope rope_;
  Weight embed_, lm_head_;
  std::vector<float> final_norm_;
  std::vector<Layer> layers_;
};

}  // namespace

std::vector<TensorSpec> m2_tensor_specs(const ModelConfig& c) {
  if (c.scoring_func != "sigmoid" && c.use_routing_bias)
    throw Error("config.json: use_routing_bias true needs scoring_func \"sigmoid\" (got \"" + c.scoring_func + "\")");
  const int64_t D = c.hidden_size, H = c.num_attention_heads, d = c.head_dim, kv = c.num_key_value_heads;
  const int64_t I = c.intermediate_size, E = c.num_local_experts, V = c.vocab_size;
  std::vector<TensorSpec> s = {{"model.embed_tokens.weight", {V, D}, TensorRole::Embedding},
                               {"model.norm.weight", {D}, TensorRole::Norm}};
  if (!c.tie_word_embeddings) s.push_back({"lm_head.weight", {V, D}, TensorRole::Output});
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    const std::string p = layer_prefix(il);
    s.push_back({p + "input_layernorm.weight", {D}, TensorRole::Norm});
    s.push_back({p + "post_attention_layernorm.weight", {D}, TensorRole::Norm});
    s.push_back({p + "self_attn.q_proj.weight", {H * d, D}, TensorRole::Dense});
    s.push_back({p + "self_attn.k_proj.weight", {kv * d, D}, TensorRole::Dense});
    s.push_back({p + "self_attn.v_proj.weight", {kv * d, D}, TensorRole::Dense});
    s.push_back({p + "self_attn.o_proj.weight", {D, H * d}, TensorRole::Dense});
    if (c.use_qk_norm) {
      s.push_back({p + "self_attn.q_norm.weight", {H * d}, TensorRole::Norm});
      s.push_back({p + "self_attn.k_norm.weight", {kv * d}, TensorRole::Norm});
    }
    s.push_back({p + "block_sparse_moe.gate.weight", {E, D}, TensorRole::Router});
    // A vector like the norms (never quantised, read as f32).
    if (c.use_routing_bias) s.push_back({p + "block_sparse_moe.e_score_correction_bias", {E}, TensorRole::Norm});
    for (int64_t e = 0; e < E; ++e) {
      const std::string ep = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      s.push_back({ep + "w1.weight", {I, D}, TensorRole::Expert});
      s.push_back({ep + "w3.weight", {I, D}, TensorRole::Expert});
      s.push_back({ep + "w2.weight", {D, I}, TensorRole::Expert});
    }
  }
  return s;
}

std::unique_ptr<Model> create_m2(ModelConfig cfg, TensorStore tensors) {
  return std::make_unique<M2Model>(std::move(cfg), std::move(tensors));
}

}  // namespace mm
