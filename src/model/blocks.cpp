#include "model/blocks.h"

#include <cmath>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/matmul.h"

namespace mm {

BatchLayout::BatchLayout(std::span<const BatchItem> batch) {
  for (const auto& it : batch) {
    row0.push_back(n_rows);
    n_rows += it.n_tokens;
  }
}

void embed_tokens(const Weight& emb, std::span<const BatchItem> batch, const BatchLayout& lay, float* out) {
  for (size_t i = 0; i < batch.size(); ++i)
    for (int64_t t = 0; t < batch[i].n_tokens; ++t)
      weight_row_to_f32(emb, batch[i].tokens[t], out + (lay.row0[i] + t) * emb.n_in);
}

void softmax_attention_block(ExecContext& ctx, const SoftmaxAttnWeights& w, const SoftmaxAttnShape& s, const Rope& rope,
                             std::span<const BatchItem> batch, const BatchLayout& lay, int64_t il,
                             const float* x, float* out) {
  const int64_t T = lay.n_rows, hd = s.head_dim;
  const int64_t q_width = s.n_heads * hd, kv_width = s.n_kv_heads * hd;
  std::vector<float> q(static_cast<size_t>(T * q_width));   // [T, H·hd]
  std::vector<float> k(static_cast<size_t>(T * kv_width));  // [T, kv·hd]
  std::vector<float> v(static_cast<size_t>(T * kv_width));  // [T, kv·hd]
  std::vector<float> o(static_cast<size_t>(T * q_width));   // [T, H·hd] attention output
  matmul_shared(ctx, x, T, {{&w.q, q.data()}, {&w.k, k.data()}, {&w.v, v.data()}});
  if (!w.q_norm.empty()) {  // RMSNorm over the whole projected q / k, before the head split
    rms_norm(ctx, q.data(), w.q_norm.data(), T, q_width, s.qk_norm_eps, q.data());
    rms_norm(ctx, k.data(), w.k_norm.data(), T, kv_width, s.qk_norm_eps, k.data());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchItem& it = batch[i];
    auto& cache = std::get<KvCache>(it.seq->layers[size_t(il)]);  // pages prepared by forward()
    for (int64_t t = 0; t < it.n_tokens; ++t) {
      const int64_t r = lay.row0[i] + t, pos = it.seq->n_past + t;
      rope.apply(q.data() + r * q_width, s.n_heads, hd, pos);
      rope.apply(k.data() + r * kv_width, s.n_kv_heads, hd, pos);
      cache.write(pos, k.data() + r * kv_width, v.data() + r * kv_width);
    }
    AttentionArgs a{q.data() + lay.row0[i] * q_width, it.n_tokens, it.seq->n_past, cache.view(), s.n_heads, s.n_kv_heads,
                    hd, float(1.0 / std::sqrt(double(hd))), o.data() + lay.row0[i] * q_width, ctx.math().exact()};
    attention_causal(ctx, a);
  }
  matmul(ctx, o.data(), T, w.o, out);
}

void output_logits(ExecContext& ctx, const Weight& lm_head, const std::vector<float>& final_norm, double eps,
                   std::span<const BatchItem> batch, const BatchLayout& lay, const float* h) {
  const int64_t hidden = lm_head.n_in, vocab = lm_head.n_out;
  std::vector<int64_t> rows;  // batch rows whose logits are wanted
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].logits || batch[i].n_tokens == 0) continue;
    int64_t first = batch[i].all_logits ? 0 : batch[i].n_tokens - 1;
    for (int64_t t = first; t < batch[i].n_tokens; ++t) rows.push_back(lay.row0[i] + t);
  }
  if (rows.empty()) return;
  const int64_t n = int64_t(rows.size());
  std::vector<float> x(static_cast<size_t>(n * hidden));  // [n, hidden] normalised final hidden states
  for (int64_t r = 0; r < n; ++r) std::copy_n(h + rows[size_t(r)] * hidden, hidden, x.begin() + r * hidden);
  rms_norm(ctx, x.data(), final_norm.data(), n, hidden, eps, x.data());
  std::vector<float> logits(static_cast<size_t>(n * vocab));  // [n, vocab]
  matmul(ctx, x.data(), n, lm_head, logits.data());
  int64_t r = 0;
  for (const auto& it : batch) {
    if (!it.logits || it.n_tokens == 0) continue;
    int64_t cnt = it.all_logits ? it.n_tokens : 1;
    std::copy_n(logits.data() + r * vocab, cnt * vocab, it.logits);
    r += cnt;
  }
}

std::string layer_prefix(int64_t il) { return "model.layers." + std::to_string(il) + "."; }

void declare_global(const ModelConfig& c, GlobalWeights& g, const TensorVisitor& v) {
  const int64_t D = c.hidden_size, V = c.vocab_size;
  v({"model.embed_tokens.weight", {V, D}, TensorRole::Embedding}, &g.embed);
  v({"model.norm.weight", {D}, TensorRole::Norm}, &g.final_norm);
  if (!c.tie_word_embeddings) v({"lm_head.weight", {V, D}, TensorRole::Output}, &g.lm_head);
  else g.lm_head = g.embed;
}

void declare_layer_norms(const std::string& p, const ModelConfig& c, std::vector<float>& input_norm,
                         std::vector<float>& post_norm, const TensorVisitor& v) {
  v({p + "input_layernorm.weight", {c.hidden_size}, TensorRole::Norm}, &input_norm);
  v({p + "post_attention_layernorm.weight", {c.hidden_size}, TensorRole::Norm}, &post_norm);
}

void declare_softmax_attn(const std::string& p, const ModelConfig& c, bool qk_norm, SoftmaxAttnWeights& w,
                          const TensorVisitor& v) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads, d = c.head_dim, kv = c.num_key_value_heads;
  v({p + "self_attn.q_proj.weight", {H * d, D}, TensorRole::Dense}, &w.q);
  v({p + "self_attn.k_proj.weight", {kv * d, D}, TensorRole::Dense}, &w.k);
  v({p + "self_attn.v_proj.weight", {kv * d, D}, TensorRole::Dense}, &w.v);
  v({p + "self_attn.o_proj.weight", {D, H * d}, TensorRole::Dense}, &w.o);
  if (qk_norm) {
    v({p + "self_attn.q_norm.weight", {H * d}, TensorRole::Norm}, &w.q_norm);
    v({p + "self_attn.k_norm.weight", {kv * d}, TensorRole::Norm}, &w.k_norm);
  }
}

void declare_moe(const std::string& p, const ModelConfig& c, bool routing_bias, MoeLayerWeights& m,
                 const TensorVisitor& v) {
  const int64_t D = c.hidden_size, I = c.intermediate_size, E = c.num_local_experts;
  v({p + "block_sparse_moe.gate.weight", {E, D}, TensorRole::Router}, &m.router);
  // The bias is a vector like the norms (never quantised, read as f32).
  if (routing_bias) v({p + "block_sparse_moe.e_score_correction_bias", {E}, TensorRole::Norm}, &m.bias);
  m.w1.resize(size_t(E));
  m.w3.resize(size_t(E));
  m.w2.resize(size_t(E));
  for (int64_t e = 0; e < E; ++e) {
    const std::string ep = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
    v({ep + "w1.weight", {I, D}, TensorRole::Expert}, &m.w1[size_t(e)]);
    v({ep + "w3.weight", {I, D}, TensorRole::Expert}, &m.w3[size_t(e)]);
    v({ep + "w2.weight", {D, I}, TensorRole::Expert}, &m.w2[size_t(e)]);
  }
}

double weight_bytes(const Weight& w) {
  if (w.empty()) return 0;
  double b = double(w.n_bytes());
  if (w.scale) {
    const int64_t rows = (w.n_out + w.scale_bn - 1) / w.scale_bn, cols = (w.n_in + w.scale_bk - 1) / w.scale_bk;
    b += double(rows * cols) * 4.0;
  }
  return b;
}

double moe_active_bytes(const MoeLayerWeights& m, const ModelConfig& c) {
  const double frac = double(c.num_experts_per_tok) / double(c.num_local_experts);
  double b = weight_bytes(m.router);
  for (size_t e = 0; e < m.w1.size(); ++e) b += frac * (weight_bytes(m.w1[e]) + weight_bytes(m.w3[e]) + weight_bytes(m.w2[e]));
  return b;
}

double table_weight_bytes(const TensorStore& store, const std::vector<TensorSpec>& specs) {
  double b = 0;
  for (const auto& s : specs) {
    const TensorInfo& t = store.get(s.name);
    b += double(t.n_bytes);
    if (const TensorInfo* sc = store.find(s.name + "_scale_inv"); sc && t.dtype == DType::F8_E4M3) b += double(sc->n_bytes);
  }
  return b;
}

std::shared_ptr<KvPool> make_kv_pool(const ModelConfig& cfg, KvType type, int64_t n_pages_max) {
  if (!kv_type_fits(type, cfg.head_dim))
    throw Error(std::string("--kv-type ") + kv_type_name(type) + " needs head_dim to be a multiple of 32 (it is " +
                std::to_string(cfg.head_dim) + "): use f16, bf16 or f32");
  return std::make_shared<KvPool>(cfg.num_key_value_heads * cfg.head_dim, type, n_pages_max);
}

std::unique_ptr<SequenceState> make_sequence_state(const ModelConfig& cfg, int64_t n_ctx_max, std::shared_ptr<KvPool> pool) {
  auto s = std::make_unique<SequenceState>();
  if (n_ctx_max <= 0 || n_ctx_max > cfg.max_position_embeddings) n_ctx_max = cfg.max_position_embeddings;
  s->n_ctx_max = n_ctx_max;
  if (!pool && cfg.n_softmax_layers() > 0) pool = make_kv_pool(cfg, KvType::F32, 0);
  MM_CHECK(!pool || pool->width() == cfg.num_key_value_heads * cfg.head_dim);
  for (const auto& l : cfg.layers) {
    if (l.attn_kind == AttnKind::Softmax) {
      s->layers.emplace_back(std::in_place_type<KvCache>, pool);
    } else {
      LinearState ls;
      ls.n_heads = cfg.num_attention_heads;
      ls.d = cfg.head_dim;
      ls.s.assign(size_t(ls.n_heads * ls.d * ls.d), 0.0f);
      s->layers.emplace_back(std::move(ls));
    }
  }
  return s;
}

}  // namespace mm
