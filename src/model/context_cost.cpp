#include "model/context_cost.h"

#include <string>

#include "core/error.h"
#include "model/model.h"
#include "model/weights.h"
#include "state/kv_pool.h"

namespace mm {

static_assert(kContextPageTokens == KvPool::kPageTokens, "context_cost pages must be the KV pool's pages");

ContextMemory context_memory(const ModelConfig& c, int64_t n_tokens, KvType kv_type, uint64_t weight_bytes) {
  if (n_tokens < 0) throw Error("context length must be >= 0 tokens (got " + std::to_string(n_tokens) + ")");
  const int64_t width = c.num_key_value_heads * c.head_dim;
  if (c.n_softmax_layers() > 0) {
    if (kv_type == KvType::Q8_0 && c.head_dim % 32 != 0)
      throw Error(std::string("--kv-type q8_0 stores rows in blocks of 32 values, but this model's head_dim is ") +
                  std::to_string(c.head_dim) + " (not a multiple of 32): use --kv-type f16, bf16 or f32");
    if (!kv_type_fits(kv_type, width))
      throw Error(std::string("--kv-type ") + kv_type_name(kv_type) + " cannot store KV rows of " +
                  std::to_string(width) + " values: use --kv-type f16");
  }
  ContextMemory m;
  m.n_tokens = n_tokens;
  m.kv_type = kv_type;
  m.n_pages = (n_tokens + kContextPageTokens - 1) / kContextPageTokens;
  m.kv_row_bytes = c.n_softmax_layers() > 0 ? uint64_t(kv_row_bytes(kv_type, width)) : 0;
  m.kv_bytes = uint64_t(c.n_softmax_layers()) * uint64_t(m.n_pages) * 2 * uint64_t(kContextPageTokens) * m.kv_row_bytes;
  m.state_bytes = uint64_t(c.n_lightning_layers()) * uint64_t(c.num_attention_heads) * uint64_t(c.head_dim) *
                  uint64_t(c.head_dim) * sizeof(float);
  m.weight_bytes = weight_bytes;
  m.total_bytes = m.kv_bytes + m.state_bytes + m.weight_bytes;
  return m;
}

double FlopModel::per_token(int64_t n_past) const {
  if (n_past < 0) throw Error("context depth must be >= 0 tokens (got " + std::to_string(n_past) + ")");
  return fixed_flops() + attention_flops_per_depth * double(n_past);
}

double FlopModel::cumulative(int64_t n_tokens) const {
  if (n_tokens < 0) throw Error("number of generated tokens must be >= 0 (got " + std::to_string(n_tokens) + ")");
  const double t = double(n_tokens);
  return t * fixed_flops() + attention_flops_per_depth * (t * (t - 1) / 2);
}

FlopModel flop_model(const ModelConfig& c) {
  FlopModel f;
  f.name = c.model_type.empty() ? std::string(c.arch_name()) : c.model_type;
  const double expert_frac = c.num_local_experts > 0 ? double(c.num_experts_per_tok) / double(c.num_local_experts) : 0;
  bool has_output = false;
  for (const TensorSpec& s : model_tensor_specs(c)) {
    double n = 1;
    for (int64_t d : s.shape) n *= double(d);
    switch (s.role) {
      case TensorRole::Dense:    // q/k/v/o projections, lightning qkv / output gate / out_proj
      case TensorRole::Router:   // [experts, hidden]: every token scores every expert
        f.active_matmul_params += n;
        break;
      case TensorRole::Expert:   // w1 / w3 / w2 of each expert: top-k of num_local_experts are run
        f.active_matmul_params += n * expert_frac;
        break;
      case TensorRole::Output:   // lm_head
        f.active_matmul_params += n;
        has_output = true;
        break;
      case TensorRole::Embedding:  // a row lookup, no FLOPs (unless it doubles as the lm_head, below)
      case TensorRole::Norm: break;
    }
  }
  // Tied embeddings: the lm_head is the embedding matrix, still one [vocab, hidden] product per token.
  if (!has_output) f.active_matmul_params += double(c.vocab_size) * double(c.hidden_size);
  f.matmul_flops = 2 * f.active_matmul_params;
  const double H = double(c.num_attention_heads), d = double(c.head_dim);
  f.lightning_flops = double(c.n_lightning_layers()) * 4 * H * d * d;
  f.attention_flops_per_depth = double(c.n_softmax_layers()) * 2 * H * (d + d);
  return f;
}

FlopModel deepseek_r1_flop_model(bool absorbed_mla) {
  // DeepSeek-R1 has DeepSeek-V3's architecture; its config.json (huggingface.co/deepseek-ai/DeepSeek-V3
  // and DeepSeek-R1, config.json) gives:
  //   hidden_size 7168, num_hidden_layers 61, num_attention_heads 128, q_lora_rank 1536, kv_lora_rank 512,
  //   qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128, intermediate_size 18432 (dense FFN of
  //   the first first_k_dense_replace = 3 layers), moe_intermediate_size 2048, n_routed_experts 256,
  //   num_experts_per_tok 8, n_shared_experts 1, vocab_size 129280, tie_word_embeddings false.
  // DeepSeek's README_WEIGHTS.md: "Activation parameters: 36.6B (including 0.9B for the output Head)";
  // the sum below is 36,624,596,992 (the multi-token-prediction module is not used to generate and is
  // left out).
  const double D = 7168, L = 61, H = 128, q_rank = 1536, kv_rank = 512, d_nope = 128, d_rope = 64, d_v = 128;
  const double d_qk = d_nope + d_rope;  // 192
  const double n_dense = 3, I_dense = 18432, I_moe = 2048, E = 256, k = 8, n_shared = 1, V = 129280;
  // MLA projections of one layer: q_a [D -> q_rank], q_b [q_rank -> H * d_qk], kv_a [D -> kv_rank + d_rope],
  // kv_b [kv_rank -> H * (d_nope + d_v)], o [H * d_v -> D]: 187,105,280 parameters.
  const double attn = D * q_rank + q_rank * H * d_qk + D * (kv_rank + d_rope) + kv_rank * H * (d_nope + d_v) + H * d_v * D;
  const double ffn_dense = 3 * D * I_dense;                          // gate, up, down: 396,361,728
  const double ffn_moe = E * D + (k + n_shared) * 3 * D * I_moe;     // router + 9 experts: 398,196,736
  FlopModel f;
  f.name = absorbed_mla ? "deepseek_r1 (absorbed MLA)" : "deepseek_r1";
  f.active_matmul_params = L * attn + n_dense * ffn_dense + (L - n_dense) * ffn_moe + V * D;
  f.matmul_flops = 2 * f.active_matmul_params;
  f.lightning_flops = 0;
  // Per previous token and layer: scores over d_qk dims and values of d_v dims per head
  // (2 * 128 * (192 + 128) = 81,920); absorbed: scores over kv_rank + d_rope = 576 latent dims and
  // latent values of kv_rank = 512 dims (2 * 128 * (576 + 512) = 278,528).
  f.attention_flops_per_depth =
      absorbed_mla ? L * 2 * H * ((kv_rank + d_rope) + kv_rank) : L * 2 * H * (d_qk + d_v);
  return f;
}

}  // namespace mm
