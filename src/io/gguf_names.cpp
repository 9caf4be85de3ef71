// GGUF <-> HF tensor names (llama.cpp's tensor_mapping conventions; the HF names MiniMax's checkpoints use).
#include <cstdlib>

#include "io/gguf.h"

namespace mm {

namespace {

struct LayerName {
  const char* gguf;  // after "blk.N."
  const char* hf;    // after "model.layers.N."
  bool stacked;
};

// attn_output is handled separately (out_proj in linear-attention layers, o_proj in softmax ones).
constexpr LayerName kLayerNames[] = {
    {"attn_norm.weight", "input_layernorm.weight", false},
    {"ffn_norm.weight", "post_attention_layernorm.weight", false},
    {"attn_qkv.weight", "self_attn.qkv_proj.weight", false},
    {"attn_gate.weight", "self_attn.output_gate.weight", false},
    {"attn_norm_2.weight", "self_attn.norm.weight", false},
    {"attn_q.weight", "self_attn.q_proj.weight", false},
    {"attn_k.weight", "self_attn.k_proj.weight", false},
    {"attn_v.weight", "self_attn.v_proj.weight", false},
    {"attn_q_norm.weight", "self_attn.q_norm.weight", false},
    {"attn_k_norm.weight", "self_attn.k_norm.weight", false},
    {"ffn_gate_inp.weight", "block_sparse_moe.gate.weight", false},
    {"exp_probs_b.bias", "block_sparse_moe.e_score_correction_bias", false},
    {"ffn_gate_exps.weight", "block_sparse_moe.experts.{E}.w1.weight", true},
    {"ffn_up_exps.weight", "block_sparse_moe.experts.{E}.w3.weight", true},
    {"ffn_down_exps.weight", "block_sparse_moe.experts.{E}.w2.weight", true},
};

// Parses "<prefix><int>.<rest>"; returns false if it does not match.
bool split_layer(const std::string& name, const std::string& prefix, int* layer, std::string* rest) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size(), j = i;
  while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
  if (j == i || j - i > 6 || j >= name.size() || name[j] != '.') return false;
  *layer = std::atoi(name.substr(i, j - i).c_str());
  *rest = name.substr(j + 1);
  return true;
}

}  // namespace

GgufHfName gguf_to_hf_name(const std::string& name, const std::vector<int>& attn_types) {
  if (name == "token_embd.weight") return {"model.embed_tokens.weight", false};
  if (name == "output.weight") return {"lm_head.weight", false};
  if (name == "output_norm.weight") return {"model.norm.weight", false};
  int layer;
  std::string rest;
  if (!split_layer(name, "blk.", &layer, &rest)) return {};
  const std::string pre = "model.layers." + std::to_string(layer) + ".";
  if (rest == "attn_output.weight") {
    const bool linear = size_t(layer) < attn_types.size() && attn_types[size_t(layer)] == 0;
    return {pre + (linear ? "self_attn.out_proj.weight" : "self_attn.o_proj.weight"), false};
  }
  for (const auto& n : kLayerNames)
    if (rest == n.gguf) return {pre + n.hf, n.stacked};
  return {};
}

std::string hf_to_gguf_name(const std::string& name, int* expert) {
  *expert = -1;
  if (name == "model.embed_tokens.weight") return "token_embd.weight";
  if (name == "lm_head.weight") return "output.weight";
  if (name == "model.norm.weight") return "output_norm.weight";
  int layer;
  std::string rest;
  if (!split_layer(name, "model.layers.", &layer, &rest)) return "";
  const std::string pre = "blk." + std::to_string(layer) + ".";
  if (rest == "self_attn.out_proj.weight" || rest == "self_attn.o_proj.weight") return pre + "attn_output.weight";
  const std::string experts = "block_sparse_moe.experts.";
  if (rest.compare(0, experts.size(), experts) == 0) {
    int e;
    std::string w;
    if (!split_layer(rest, experts, &e, &w)) return "";
    const char* g = w == "w1.weight" ? "ffn_gate_exps.weight"
                    : w == "w3.weight" ? "ffn_up_exps.weight"
                    : w == "w2.weight" ? "ffn_down_exps.weight"
                                       : nullptr;
    if (!g) return "";
    *expert = e;
    return pre + g;
  }
  for (const auto& n : kLayerNames)
    if (!n.stacked && rest == n.hf) return pre + n.gguf;
  return "";
}

}  // namespace mm
