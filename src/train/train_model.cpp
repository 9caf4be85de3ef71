#include "train/train_model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/attention_grad.h"
#include "ops/basic.h"
#include "ops/basic_grad.h"
#include "ops/lightning.h"
#include "ops/lightning_grad.h"
#include "ops/linear_grad.h"
#include "ops/moe.h"
#include "ops/moe_grad.h"

namespace mm {

namespace {

using Buf = std::vector<float>;

Buf buf(int64_t n) { return Buf(static_cast<size_t>(n), 0.0f); }

// out = skip·alpha + y·beta
void residual(const float* skip, float alpha, const float* y, float beta, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = skip[i] * alpha + y[i] * beta;
}

struct LayerParams {
  Param *in_norm = nullptr, *post_norm = nullptr;
  Param *qkv = nullptr, *gate = nullptr, *out = nullptr, *lnorm = nullptr;                 // lightning
  Param *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr, *q_norm = nullptr, *k_norm = nullptr;  // softmax
  Param *router = nullptr, *bias = nullptr;
  std::vector<Param*> w1, w3, w2;  // per expert: gate [I, D], up [I, D], down [D, I]
};

// What the backward pass needs of one layer's forward (N = n_seq·T rows).
struct LayerActs {
  Buf h_in, a, h_mid, b;  // [N, D] layer input, normalised attention input, after attention, normalised MoE input
  // lightning
  Buf qkv_pre, qkv;  // [N, H·3d] per head [q | k | v], before / after SiLU
  Buf gate;          // [N, H·d] output gate logits
  Buf o_raw, o_ng;   // [N, H·d] attention output, after norm ⊙ σ(gate)
  Buf states;        // [n_seq, H, n_blocks, d, d] state at every block start
  // softmax
  Buf q_pre, k_pre;  // [N, H·hd], [N, kv·hd] projections before QK-norm (M2)
  Buf q, k, v, o;    // [N, H·hd] (RoPE applied), [N, kv·hd] x2, [N, H·hd]
  // MoE
  Buf logits;                           // [N, E] router logits
  std::vector<int32_t> ids;             // [N, K] chosen experts
  Buf wts;                              // [N, K] their weights
  std::vector<std::vector<int64_t>> slots;  // per expert: the (row·K + k) routed to it, in row order
  std::vector<Buf> g_pre, u, act, ye;   // per expert: [n_e, I] x3, [n_e, D]
};

}  // namespace

struct TrainModel::Impl {
  Impl(const ModelConfig& c, ParamSet& p, float coef) : cfg(c), ps(p), aux_coef(coef), rope(c.rotary_dim, c.rope_theta) {
    embed = &ps.at("model.embed_tokens.weight");
    final_norm = &ps.at("model.norm.weight");
    lm_head = cfg.tie_word_embeddings ? embed : &ps.at("lm_head.weight");
    for (int64_t il = 0; il < cfg.num_hidden_layers; ++il) {
      const std::string p = "model.layers." + std::to_string(il) + ".";
      LayerParams L;
      L.in_norm = &ps.at(p + "input_layernorm.weight");
      L.post_norm = &ps.at(p + "post_attention_layernorm.weight");
      if (cfg.layers[size_t(il)].attn_kind == AttnKind::Lightning) {
        L.qkv = &ps.at(p + "self_attn.qkv_proj.weight");
        L.gate = &ps.at(p + "self_attn.output_gate.weight");
        L.out = &ps.at(p + "self_attn.out_proj.weight");
        L.lnorm = &ps.at(p + "self_attn.norm.weight");
      } else {
        L.q = &ps.at(p + "self_attn.q_proj.weight");
        L.k = &ps.at(p + "self_attn.k_proj.weight");
        L.v = &ps.at(p + "self_attn.v_proj.weight");
        L.o = &ps.at(p + "self_attn.o_proj.weight");
        if (cfg.use_qk_norm) {
          L.q_norm = &ps.at(p + "self_attn.q_norm.weight");
          L.k_norm = &ps.at(p + "self_attn.k_norm.weight");
        }
      }
      L.router = &ps.at(p + "block_sparse_moe.gate.weight");
      if (cfg.use_routing_bias) L.bias = &ps.at(p + "block_sparse_moe.e_score_correction_bias");
      for (int64_t e = 0; e < cfg.num_local_experts; ++e) {
        const std::string ep = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        L.w1.push_back(&ps.at(ep + "w1.weight"));
        L.w3.push_back(&ps.at(ep + "w3.weight"));
        L.w2.push_back(&ps.at(ep + "w2.weight"));
      }
      layers.push_back(std::move(L));
      slopes.push_back(cfg.layers[size_t(il)].attn_kind == AttnKind::Lightning
                           ? lightning_slopes(cfg.num_attention_heads, il, cfg.num_hidden_layers)
                           : std::vector<float>{});
    }
    router = cfg.scoring_func == "sigmoid" ? RouterKind::SigmoidBias : RouterKind::Softmax;
  }

  LossParts run(ExecContext& ctx, const TrainBatch& b, bool backward, float ce_scale, std::vector<float>* out_logits);

  void lightning_forward(ExecContext& ctx, int64_t il, LayerActs& A, float* out);
  void softmax_forward(ExecContext& ctx, int64_t il, LayerActs& A, float* out);
  void moe_forward_train(ExecContext& ctx, int64_t il, LayerActs& A, float* out);
  void lightning_backward_layer(ExecContext& ctx, int64_t il, LayerActs& A, const float* d_out, float* da);
  void softmax_backward_layer(ExecContext& ctx, int64_t il, LayerActs& A, const float* d_out, float* da);
  void moe_backward(ExecContext& ctx, int64_t il, LayerActs& A, const float* d_out, const float* d_logits_aux, float* db);

  const ModelConfig& cfg;
  ParamSet& ps;
  float aux_coef;
  Rope rope;
  RouterKind router;
  Param *embed = nullptr, *final_norm = nullptr, *lm_head = nullptr;
  std::vector<LayerParams> layers;
  std::vector<std::vector<float>> slopes;  // per lightning layer, per head
  // Current batch shape.
  int64_t n_seq = 0, T = 0, N = 0;
};

// ---- attention sublayers ---------------------------------------------------------------------------

void TrainModel::Impl::lightning_forward(ExecContext& ctx, int64_t il, LayerActs& A, float* out) {
  const LayerParams& L = layers[size_t(il)];
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, d = cfg.head_dim, inner = H * d;
  const int64_t blk = cfg.block_size, n_blocks = lightning_n_blocks(T, blk);
  A.qkv_pre = buf(N * 3 * inner);
  A.gate = buf(N * inner);
  A.o_raw = buf(N * inner);
  A.o_ng = buf(N * inner);
  A.states = buf(n_seq * H * n_blocks * d * d);
  linear_forward(ctx, A.a.data(), N, L.qkv->w.data(), 3 * inner, D, A.qkv_pre.data());
  linear_forward(ctx, A.a.data(), N, L.gate->w.data(), inner, D, A.gate.data());
  A.qkv = A.qkv_pre;
  silu_inplace(ctx, A.qkv.data(), N * 3 * inner);
  ctx.parallel_for(n_seq * H, [&](int64_t tb, int64_t te, int) {
    std::vector<float> state(static_cast<size_t>(d * d));
    for (int64_t task = tb; task < te; ++task) {
      const int64_t s = task / H, hh = task % H;
      std::fill(state.begin(), state.end(), 0.0f);
      const float* base = A.qkv.data() + s * T * 3 * inner + hh * 3 * d;
      LightningHeadArgs a{base, base + d, base + 2 * d, 3 * inner, A.o_raw.data() + s * T * inner + hh * d, inner,
                          T, d, slopes[size_t(il)][size_t(hh)], state.data()};
      lightning_forward_train(a, blk, A.states.data() + task * n_blocks * d * d);
    }
  });
  rms_norm_sigmoid_gate(ctx, A.o_raw.data(), L.lnorm->w.data(), N, inner, cfg.lightning_norm_eps, A.gate.data(),
                        A.o_ng.data());
  linear_forward(ctx, A.o_ng.data(), N, L.out->w.data(), D, inner, out);
}

void TrainModel::Impl::lightning_backward_layer(ExecContext& ctx, int64_t il, LayerActs& A, const float* d_out, float* da) {
  const LayerParams& L = layers[size_t(il)];
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, d = cfg.head_dim, inner = H * d;
  const int64_t blk = cfg.block_size, n_blocks = lightning_n_blocks(T, blk);
  Buf d_ong = buf(N * inner), d_oraw = buf(N * inner), d_gate = buf(N * inner), d_qkv = buf(N * 3 * inner);
  linear_backward(ctx, A.o_ng.data(), d_out, N, L.out->w.data(), D, inner, d_ong.data(), false, L.out->g.data());
  rms_norm_sigmoid_gate_backward(ctx, A.o_raw.data(), L.lnorm->w.data(), N, inner, cfg.lightning_norm_eps, A.gate.data(),
                                 d_ong.data(), d_oraw.data(), L.lnorm->g.data(), d_gate.data());
  ctx.parallel_for(n_seq * H, [&](int64_t tb, int64_t te, int) {
    for (int64_t task = tb; task < te; ++task) {
      const int64_t s = task / H, hh = task % H;
      const int64_t off = s * T * 3 * inner + hh * 3 * d;
      const float* base = A.qkv.data() + off;
      LightningHeadArgs a{base, base + d, base + 2 * d, 3 * inner, nullptr, inner, T, d, slopes[size_t(il)][size_t(hh)], nullptr};
      float* dbase = d_qkv.data() + off;
      LightningGradArgs g{d_oraw.data() + s * T * inner + hh * d, inner, dbase, dbase + d, dbase + 2 * d, 3 * inner,
                          nullptr, nullptr};
      lightning_backward(a, blk, A.states.data() + task * n_blocks * d * d, g);
    }
  });
  silu_backward(ctx, A.qkv_pre.data(), d_qkv.data(), N * 3 * inner, d_qkv.data());
  linear_backward(ctx, A.a.data(), d_qkv.data(), N, L.qkv->w.data(), 3 * inner, D, da, false, L.qkv->g.data());
  linear_backward(ctx, A.a.data(), d_gate.data(), N, L.gate->w.data(), inner, D, da, true, L.gate->g.data());
}

void TrainModel::Impl::softmax_forward(ExecContext& ctx, int64_t il, LayerActs& A, float* out) {
  const LayerParams& L = layers[size_t(il)];
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, KV = cfg.num_key_value_heads, hd = cfg.head_dim;
  const int64_t qw = H * hd, kw = KV * hd;
  A.q_pre = buf(N * qw);
  A.k_pre = buf(N * kw);
  A.v = buf(N * kw);
  A.o = buf(N * qw);
  linear_forward(ctx, A.a.data(), N, L.q->w.data(), qw, D, A.q_pre.data());
  linear_forward(ctx, A.a.data(), N, L.k->w.data(), kw, D, A.k_pre.data());
  linear_forward(ctx, A.a.data(), N, L.v->w.data(), kw, D, A.v.data());
  A.q = A.q_pre;
  A.k = A.k_pre;
  if (L.q_norm) {  // M2: RMSNorm over the whole projected q / k, before the head split
    rms_norm(ctx, A.q.data(), L.q_norm->w.data(), N, qw, cfg.rms_norm_eps, A.q.data());
    rms_norm(ctx, A.k.data(), L.k_norm->w.data(), N, kw, cfg.rms_norm_eps, A.k.data());
  }
  for (int64_t r = 0; r < N; ++r) {
    rope.apply(A.q.data() + r * qw, H, hd, r % T);
    rope.apply(A.k.data() + r * kw, KV, hd, r % T);
  }
  for (int64_t s = 0; s < n_seq; ++s) {
    ContiguousKv kv(A.k.data() + s * T * kw, A.v.data() + s * T * kw, T, kw);
    AttentionArgs aa{A.q.data() + s * T * qw, T, 0, kv.view, H, KV, hd, float(1.0 / std::sqrt(double(hd))),
                     A.o.data() + s * T * qw, ctx.math().exact()};
    attention_causal(ctx, aa);
  }
  linear_forward(ctx, A.o.data(), N, L.o->w.data(), D, qw, out);
}

void TrainModel::Impl::softmax_backward_layer(ExecContext& ctx, int64_t il, LayerActs& A, const float* d_out, float* da) {
  const LayerParams& L = layers[size_t(il)];
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, KV = cfg.num_key_value_heads, hd = cfg.head_dim;
  const int64_t qw = H * hd, kw = KV * hd;
  Buf d_o = buf(N * qw), dq = buf(N * qw), dk = buf(N * kw), dv = buf(N * kw);
  linear_backward(ctx, A.o.data(), d_out, N, L.o->w.data(), D, qw, d_o.data(), false, L.o->g.data());
  AttentionGradArgs g{A.q.data(), A.k.data(), A.v.data(), A.o.data(), d_o.data(), n_seq, T, H, KV, hd,
                      float(1.0 / std::sqrt(double(hd))), dq.data(), dk.data(), dv.data()};
  attention_backward(ctx, g);
  for (int64_t r = 0; r < N; ++r) {
    rope_backward(rope, dq.data() + r * qw, H, hd, r % T);
    rope_backward(rope, dk.data() + r * kw, KV, hd, r % T);
  }
  if (L.q_norm) {
    rms_norm_backward(ctx, A.q_pre.data(), L.q_norm->w.data(), N, qw, cfg.rms_norm_eps, dq.data(), dq.data(), L.q_norm->g.data());
    rms_norm_backward(ctx, A.k_pre.data(), L.k_norm->w.data(), N, kw, cfg.rms_norm_eps, dk.data(), dk.data(), L.k_norm->g.data());
  }
  linear_backward(ctx, A.a.data(), dq.data(), N, L.q->w.data(), qw, D, da, false, L.q->g.data());
  linear_backward(ctx, A.a.data(), dk.data(), N, L.k->w.data(), kw, D, da, true, L.k->g.data());
  linear_backward(ctx, A.a.data(), dv.data(), N, L.v->w.data(), kw, D, da, true, L.v->g.data());
}

// ---- MoE -----------------------------------------------------------------------------------------------

void TrainModel::Impl::moe_forward_train(ExecContext& ctx, int64_t il, LayerActs& A, float* out) {
  const LayerParams& L = layers[size_t(il)];
  const int64_t D = cfg.hidden_size, I = cfg.intermediate_size, E = cfg.num_local_experts, K = cfg.num_experts_per_tok;
  A.logits = buf(N * E);
  A.ids.assign(static_cast<size_t>(N * K), 0);
  A.wts = buf(N * K);
  linear_forward(ctx, A.b.data(), N, L.router->w.data(), E, D, A.logits.data());
  moe_route(ctx, A.logits.data(), N, E, K, router, L.bias ? L.bias->w.data() : nullptr, A.ids.data(), A.wts.data());
  A.slots.assign(static_cast<size_t>(E), {});
  for (int64_t i = 0; i < N * K; ++i) A.slots[size_t(A.ids[size_t(i)])].push_back(i);
  A.g_pre.assign(static_cast<size_t>(E), {});
  A.u.assign(static_cast<size_t>(E), {});
  A.act.assign(static_cast<size_t>(E), {});
  A.ye.assign(static_cast<size_t>(E), {});
  std::fill(out, out + N * D, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const auto& sl = A.slots[size_t(e)];
    const int64_t n = int64_t(sl.size());
    if (n == 0) continue;
    Buf xe = buf(n * D);  // [n, D] the expert's tokens
    for (int64_t r = 0; r < n; ++r) std::copy_n(A.b.data() + (sl[size_t(r)] / K) * D, D, xe.data() + r * D);
    Buf& g = A.g_pre[size_t(e)] = buf(n * I);
    Buf& u = A.u[size_t(e)] = buf(n * I);
    linear_forward(ctx, xe.data(), n, L.w1[size_t(e)]->w.data(), I, D, g.data());
    linear_forward(ctx, xe.data(), n, L.w3[size_t(e)]->w.data(), I, D, u.data());
    Buf& act = A.act[size_t(e)] = g;
    swiglu_inplace(ctx, act.data(), u.data(), n * I);
    Buf& y = A.ye[size_t(e)] = buf(n * D);
    linear_forward(ctx, act.data(), n, L.w2[size_t(e)]->w.data(), D, I, y.data());
    for (int64_t r = 0; r < n; ++r) {
      const int64_t slot = sl[size_t(r)];
      const float w = A.wts[size_t(slot)];
      float* o = out + (slot / K) * D;
      const float* yr = y.data() + r * D;
      for (int64_t c = 0; c < D; ++c) o[c] += w * yr[c];
    }
  }
}

void TrainModel::Impl::moe_backward(ExecContext& ctx, int64_t il, LayerActs& A, const float* d_out, const float* d_logits_aux,
                                    float* db) {
  const LayerParams& L = layers[size_t(il)];
  const int64_t D = cfg.hidden_size, I = cfg.intermediate_size, E = cfg.num_local_experts, K = cfg.num_experts_per_tok;
  Buf d_w = buf(N * K);  // [N, K] dL/d(route weight)
  std::fill(db, db + N * D, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const auto& sl = A.slots[size_t(e)];
    const int64_t n = int64_t(sl.size());
    if (n == 0) continue;
    Buf xe = buf(n * D), dy = buf(n * D), d_act = buf(n * I), dg = buf(n * I), du = buf(n * I), dxe = buf(n * D);
    for (int64_t r = 0; r < n; ++r) {
      const int64_t slot = sl[size_t(r)], t = slot / K;
      std::copy_n(A.b.data() + t * D, D, xe.data() + r * D);
      const float* dor = d_out + t * D;
      const float* yr = A.ye[size_t(e)].data() + r * D;
      double s = 0;
      for (int64_t c = 0; c < D; ++c) {
        dy[size_t(r * D + c)] = A.wts[size_t(slot)] * dor[c];
        s += double(dor[c]) * yr[c];
      }
      d_w[size_t(slot)] = float(s);
    }
    // y = act · W2ᵀ,  act = silu(g) ⊙ u,  g = x W1ᵀ,  u = x W3ᵀ
    linear_backward(ctx, A.act[size_t(e)].data(), dy.data(), n, L.w2[size_t(e)]->w.data(), D, I, d_act.data(), false,
                    L.w2[size_t(e)]->g.data());
    swiglu_backward(ctx, A.g_pre[size_t(e)].data(), A.u[size_t(e)].data(), d_act.data(), n * I, dg.data(), du.data());
    linear_backward(ctx, xe.data(), dg.data(), n, L.w1[size_t(e)]->w.data(), I, D, dxe.data(), false, L.w1[size_t(e)]->g.data());
    linear_backward(ctx, xe.data(), du.data(), n, L.w3[size_t(e)]->w.data(), I, D, dxe.data(), true, L.w3[size_t(e)]->g.data());
    for (int64_t r = 0; r < n; ++r) {
      float* dst = db + (sl[size_t(r)] / K) * D;
      const float* src = dxe.data() + r * D;
      for (int64_t c = 0; c < D; ++c) dst[c] += src[c];
    }
  }
  // Router: the route weights' gradient through the renormalised scores, plus the auxiliary loss's.
  Buf d_logits = buf(N * E);
  moe_route_backward(A.logits.data(), N, E, K, router, A.ids.data(), d_w.data(), d_logits.data());
  if (d_logits_aux)
    for (int64_t i = 0; i < N * E; ++i) d_logits[size_t(i)] += d_logits_aux[i];
  linear_backward(ctx, A.b.data(), d_logits.data(), N, L.router->w.data(), E, D, db, true, L.router->g.data());
}

// ---- the whole model -------------------------------------------------------------------------------------

LossParts TrainModel::Impl::run(ExecContext& ctx, const TrainBatch& bt, bool backward, float ce_scale,
                                std::vector<float>* out_logits) {
  n_seq = bt.n_seq;
  T = bt.n_tokens;
  N = n_seq * T;
  const int64_t D = cfg.hidden_size, V = cfg.vocab_size, E = cfg.num_local_experts, K = cfg.num_experts_per_tok;
  const int64_t n_layers = cfg.num_hidden_layers;
  MM_CHECK(N > 0);
  for (int64_t r = 0; r < N; ++r) MM_CHECK(bt.tokens[r] >= 0 && bt.tokens[r] < V);
  std::vector<LayerActs> acts(static_cast<size_t>(n_layers));
  Buf h = buf(N * D), sub = buf(N * D);  // [N, D] residual stream, sublayer output
  for (int64_t r = 0; r < N; ++r) std::copy_n(embed->w.data() + int64_t(bt.tokens[r]) * D, D, h.data() + r * D);

  for (int64_t il = 0; il < n_layers; ++il) {
    LayerActs& A = acts[size_t(il)];
    const LayerConfig& lc = cfg.layers[size_t(il)];
    const LayerParams& L = layers[size_t(il)];
    A.h_in = h;
    A.a = buf(N * D);
    rms_norm(ctx, h.data(), L.in_norm->w.data(), N, D, cfg.rms_norm_eps, A.a.data());
    if (lc.attn_kind == AttnKind::Lightning) lightning_forward(ctx, il, A, sub.data());
    else softmax_forward(ctx, il, A, sub.data());
    residual(cfg.postnorm ? A.a.data() : A.h_in.data(), lc.attn_alpha, sub.data(), lc.attn_beta, N * D, h.data());
    A.h_mid = h;
    A.b = buf(N * D);
    rms_norm(ctx, h.data(), L.post_norm->w.data(), N, D, cfg.rms_norm_eps, A.b.data());
    moe_forward_train(ctx, il, A, sub.data());
    residual(cfg.postnorm ? A.b.data() : A.h_mid.data(), lc.mlp_alpha, sub.data(), lc.mlp_beta, N * D, h.data());
  }
  Buf xf = buf(N * D), logits = buf(N * V);  // [N, D] final normalised states, [N, V]
  rms_norm(ctx, h.data(), final_norm->w.data(), N, D, cfg.rms_norm_eps, xf.data());
  linear_forward(ctx, xf.data(), N, lm_head->w.data(), V, D, logits.data());
  if (out_logits) *out_logits = logits;

  LossParts loss;
  // Count first: the gradient scale is 1 / counted rows.
  int64_t counted = 0;
  for (int64_t r = 0; r < N; ++r) counted += bt.targets[r] >= 0;
  const float g_scale = counted ? ce_scale / float(counted) : 0.0f;
  CrossEntropy ce = cross_entropy(ctx, logits.data(), bt.targets, N, V, g_scale, backward ? logits.data() : nullptr);
  loss.ce_sum = ce.sum_nll;
  loss.n_counted = ce.n_counted;
  std::vector<const float*> router_logits;
  for (auto& A : acts) router_logits.push_back(A.logits.data());
  std::vector<Buf> d_aux;
  std::vector<float*> d_aux_ptr;
  const bool aux_on = aux_coef > 0 && K < E;
  if (backward && aux_on)
    for (int64_t il = 0; il < n_layers; ++il) d_aux_ptr.push_back((d_aux.emplace_back(buf(N * E))).data());
  if (aux_on || E > 1) loss.aux = load_balancing_loss(router_logits, N, E, K, aux_coef * ce_scale, d_aux_ptr);
  if (!backward) return loss;

  // ---- backward: the forward in reverse
  Buf dxf = buf(N * D), dh = buf(N * D), dsub = buf(N * D), dskip = buf(N * D), dnorm = buf(N * D);
  linear_backward(ctx, xf.data(), logits.data(), N, lm_head->w.data(), V, D, dxf.data(), false, lm_head->g.data());
  rms_norm_backward(ctx, h.data(), final_norm->w.data(), N, D, cfg.rms_norm_eps, dxf.data(), dh.data(), final_norm->g.data());
  for (int64_t il = n_layers - 1; il >= 0; --il) {
    LayerActs& A = acts[size_t(il)];
    const LayerConfig& lc = cfg.layers[size_t(il)];
    const LayerParams& L = layers[size_t(il)];
    // h_out = skip·α_mlp + MoE(b)·β_mlp,  skip = postnorm ? b : h_mid
    for (int64_t i = 0; i < N * D; ++i) dsub[size_t(i)] = dh[size_t(i)] * lc.mlp_beta, dskip[size_t(i)] = dh[size_t(i)] * lc.mlp_alpha;
    moe_backward(ctx, il, A, dsub.data(), aux_on ? d_aux[size_t(il)].data() : nullptr, dnorm.data());  // dnorm = dL/db
    if (cfg.postnorm)
      for (int64_t i = 0; i < N * D; ++i) dnorm[size_t(i)] += dskip[size_t(i)];
    rms_norm_backward(ctx, A.h_mid.data(), L.post_norm->w.data(), N, D, cfg.rms_norm_eps, dnorm.data(), dh.data(), L.post_norm->g.data());
    if (!cfg.postnorm)
      for (int64_t i = 0; i < N * D; ++i) dh[size_t(i)] += dskip[size_t(i)];
    // h_mid = skip·α_attn + Attn(a)·β_attn,  skip = postnorm ? a : h_in
    for (int64_t i = 0; i < N * D; ++i) dsub[size_t(i)] = dh[size_t(i)] * lc.attn_beta, dskip[size_t(i)] = dh[size_t(i)] * lc.attn_alpha;
    if (lc.attn_kind == AttnKind::Lightning) lightning_backward_layer(ctx, il, A, dsub.data(), dnorm.data());  // dnorm = dL/da
    else softmax_backward_layer(ctx, il, A, dsub.data(), dnorm.data());
    if (cfg.postnorm)
      for (int64_t i = 0; i < N * D; ++i) dnorm[size_t(i)] += dskip[size_t(i)];
    rms_norm_backward(ctx, A.h_in.data(), L.in_norm->w.data(), N, D, cfg.rms_norm_eps, dnorm.data(), dh.data(), L.in_norm->g.data());
    if (!cfg.postnorm)
      for (int64_t i = 0; i < N * D; ++i) dh[size_t(i)] += dskip[size_t(i)];
    A = LayerActs{};  // free this layer's activations as soon as they are used
  }
  embedding_backward(bt.tokens, N, dh.data(), D, embed->g.data());
  return loss;
}

TrainModel::TrainModel(const ModelConfig& cfg, ParamSet& params, float aux_coef)
    : impl_(std::make_unique<Impl>(cfg, params, aux_coef)) {}
TrainModel::~TrainModel() = default;

LossParts TrainModel::forward_backward(ExecContext& ctx, const TrainBatch& b, float ce_scale) {
  return impl_->run(ctx, b, true, ce_scale, nullptr);
}

LossParts TrainModel::forward(ExecContext& ctx, const TrainBatch& b, std::vector<float>* logits) {
  return impl_->run(ctx, b, false, 1.0f, logits);
}

double TrainModel::forward_flops_per_token(int64_t n_tokens) const {
  const ModelConfig& c = impl_->cfg;
  const double D = double(c.hidden_size), H = double(c.num_attention_heads), d = double(c.head_dim);
  const double KV = double(c.num_key_value_heads), I = double(c.intermediate_size), E = double(c.num_local_experts);
  const double K = double(c.num_experts_per_tok), T = double(n_tokens);
  double f = 2.0 * D * double(c.vocab_size);  // lm_head
  for (const auto& lc : c.layers) {
    if (lc.attn_kind == AttnKind::Lightning) {
      f += 2.0 * D * (4.0 * H * d) + 2.0 * H * d * D;  // qkv + gate, out
      f += 4.0 * H * d * d;                            // state update + read-out per token
    } else {
      f += 2.0 * D * (H * d + 2.0 * KV * d) + 2.0 * H * d * D;
      f += 2.0 * 2.0 * H * d * (T + 1) / 2.0;  // q·k and p·v over the causal half on average
    }
    f += 2.0 * D * E + K * 2.0 * 3.0 * D * I;  // router, experts
  }
  return f;
}

}  // namespace mm
