// MiniMax-Text-01 / MiniMax-M1 forward pass (the released remote code's semantics, computed in fp32).
//
//   h = embed_tokens[ids]
//   for each layer l:
//     a  = RMSNorm_in(h);   skip = postnorm ? a : h
//     h1 = skip·α_attn + Attn_l(a)·β_attn           Attn_l: lightning or softmax by attn_type_list[l]
//     b  = RMSNorm_post(h1); skip = postnorm ? b : h1
//     h  = skip·α_mlp + MoE(b)·β_mlp
//   logits = lm_head(RMSNorm_final(h))
#include "model/minimax_text01.h"

#include <cmath>

#include "core/error.h"
#include "model/blocks.h"
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

class Text01Model final : public Model {
 public:
  Text01Model(ModelConfig cfg, TensorStore tensors)
      : Model(std::move(cfg)), store_(std::move(tensors)), rope_(cfg_.rotary_dim, cfg_.rope_theta) {
    const auto& c = cfg_;
    g_ = bind_global(store_, c);
    for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
      const std::string p = layer_prefix(il);
      Layer L;
      L.input_norm = load_vector(store_, p + "input_layernorm.weight");
      L.post_norm = load_vector(store_, p + "post_attention_layernorm.weight");
      if (c.layers[size_t(il)].attn_kind == AttnKind::Lightning) {
        L.lin.qkv = bind_weight(store_, p + "self_attn.qkv_proj.weight", c);
        L.lin.output_gate = bind_weight(store_, p + "self_attn.output_gate.weight", c);
        L.lin.out_proj = bind_weight(store_, p + "self_attn.out_proj.weight", c);
        L.lin.norm = load_vector(store_, p + "self_attn.norm.weight");
        L.lin.slopes = lightning_slopes(c.num_attention_heads, il, c.num_hidden_layers);
      } else {
        L.attn = bind_softmax_attn(store_, p, c, /*qk_norm=*/false);
      }
      L.moe = bind_moe(store_, p, c, /*routing_bias=*/false);
      layers_.push_back(std::move(L));
    }
  }

  std::unique_ptr<SequenceState> new_sequence(int64_t n_ctx_max) const override {
    return make_sequence_state(cfg_, n_ctx_max);
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

  double total_weight_bytes() const override { return table_weight_bytes(store_, text01_tensor_specs(cfg_)); }

  void forward(std::span<const BatchItem> batch, ExecContext& ctx) override {
    validate_batch(batch);
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
      const bool recurrent = lightning_mode_ == LightningMode::Recurrent ||
                             (lightning_mode_ == LightningMode::Auto && it.n_tokens == 1);
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

std::vector<TensorSpec> text01_tensor_specs(const ModelConfig& c) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads, d = c.head_dim;
  std::vector<TensorSpec> s;
  append_global_specs(c, s);
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    const std::string p = layer_prefix(il);
    s.push_back({p + "input_layernorm.weight", {D}, TensorRole::Norm});
    s.push_back({p + "post_attention_layernorm.weight", {D}, TensorRole::Norm});
    if (c.layers[size_t(il)].attn_kind == AttnKind::Lightning) {
      s.push_back({p + "self_attn.qkv_proj.weight", {3 * H * d, D}, TensorRole::Dense});
      s.push_back({p + "self_attn.output_gate.weight", {H * d, D}, TensorRole::Dense});
      s.push_back({p + "self_attn.out_proj.weight", {D, H * d}, TensorRole::Dense});
      s.push_back({p + "self_attn.norm.weight", {H * d}, TensorRole::Norm});
    } else {
      append_softmax_attn_specs(p, c, /*qk_norm=*/false, s);
    }
    append_moe_specs(p, c, /*routing_bias=*/false, s);
  }
  return s;
}

std::unique_ptr<Model> create_text01(ModelConfig cfg, TensorStore tensors) {
  return std::make_unique<Text01Model>(std::move(cfg), std::move(tensors));
}

}  // namespace mm
