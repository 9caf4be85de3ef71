// GGUF writer following llama.cpp's convert_hf_to_gguf.py (metadata keys and their order, tensor names
// and order, stacked experts, F32 norms and router) and llama-quantize's "q4_k_m" type recipe. The
// architecture comes from the config's record (model/gguf_arch.h): its general.architecture, its own
// metadata keys and its checks of what GGUF can express (ArchSpec::gguf.write_kvs).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "convert/gguf_write.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "model/gguf_arch.h"
#include "ops/quant.h"

namespace mm {

namespace {

constexpr uint64_t kAlign = 32;

// Orders names with digit runs compared as numbers (layer 2 before layer 10).
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(uint8_t(a[i])) && std::isdigit(uint8_t(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(uint8_t(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(uint8_t(b[j2]))) ++j2;
      long long x = std::stoll(a.substr(i, i2 - i)), y = std::stoll(b.substr(j, j2 - j));
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int layer_of(const std::string& gguf_name) {
  if (gguf_name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(gguf_name.c_str() + 4);
}

// llama.cpp's choice of layers that get more bits in the *_M recipes.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

DType policy_base_type(GgufPolicy p) {
  switch (p) {
    case GgufPolicy::F32: return DType::F32;
    case GgufPolicy::F16: return DType::F16;
    case GgufPolicy::BF16: return DType::BF16;
    case GgufPolicy::Q8_0: return DType::Q8_0;
    case GgufPolicy::Q4_0: return DType::Q4_0;
    case GgufPolicy::Q5_0: return DType::Q5_0;
    case GgufPolicy::Q4_K: case GgufPolicy::Q4_K_M: return DType::Q4_K;
    case GgufPolicy::Q5_K: return DType::Q5_K;
    case GgufPolicy::Q6_K: return DType::Q6_K;
  }
  return DType::F32;
}

uint32_t policy_file_type(GgufPolicy p) {  // llama_ftype numbering
  switch (p) {
    case GgufPolicy::F32: return 0;
    case GgufPolicy::F16: return 1;
    case GgufPolicy::Q4_0: return 2;
    case GgufPolicy::Q8_0: return 7;
    case GgufPolicy::Q5_0: return 8;
    case GgufPolicy::Q4_K: return 14;  // Q4_K_S
    case GgufPolicy::Q4_K_M: return 15;
    case GgufPolicy::Q5_K: return 16;  // Q5_K_S
    case GgufPolicy::Q6_K: return 18;
    case GgufPolicy::BF16: return 32;
  }
  return 0;
}

// A row length the type cannot take falls back as llama-quantize does.
DType fallback(DType t, int64_t ne0) {
  if (ne0 % dtype_info(t).block_elems == 0) return t;
  if (dtype_info(t).block_elems == 256 && ne0 % 32 == 0) return t == DType::Q4_K ? DType::Q5_0 : DType::Q8_0;
  return DType::F16;
}

// One GGUF tensor of the plan: its sources (one HF tensor, or one per expert).
struct PlanTensor {
  GgufPlanEntry e;
  std::vector<const TensorInfo*> src;
};

std::vector<PlanTensor> make_plan(const nlohmann::json& cfg, const TensorStore& tensors, GgufPolicy policy) {
  const ArchSpec& spec = gguf_arch_for_config(cfg);
  const int64_t n_layers = gguf_cfg_int(cfg, "num_hidden_layers");
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors.all()) names.push_back(name);
  std::sort(names.begin(), names.end(), natural_less);

  // Group per-expert weights; a stacked tensor is emitted where its last member appears.
  std::map<std::string, std::map<int, const TensorInfo*>> stacks;
  std::map<std::string, std::string> last_member;
  for (const auto& name : names) {
    int expert;
    std::string g = hf_to_gguf_name(name, &expert);
    if (g.empty()) throw Error("cannot write GGUF: tensor '" + name + "' has no GGUF equivalent for " + spec.gguf.arch);
    if (layer_of(g) >= n_layers) continue;  // e.g. multi-token-prediction layers, which llama.cpp drops
    if (expert >= 0) {
      if (!stacks[g].emplace(expert, &tensors.get(name)).second)
        throw Error("cannot write GGUF: expert " + std::to_string(expert) + " of " + g + " appears twice");
      last_member[g] = name;
    }
  }
  std::vector<std::pair<std::string, const TensorInfo*>> full;
  for (const auto& name : names) {
    int expert;
    std::string g = hf_to_gguf_name(name, &expert);
    if (layer_of(g) >= n_layers) continue;
    if (expert < 0) full.emplace_back(g, &tensors.get(name));
    else if (last_member[g] == name) full.emplace_back(g, nullptr);
  }

  std::vector<PlanTensor> plan;
  int n_wv = 0;
  for (const auto& [g, t] : full)
    if (ends_with(g, ".attn_v.weight") || ends_with(g, ".attn_qkv.weight")) ++n_wv;
  int i_wv = 0;
  for (const auto& [g, t] : full) {
    PlanTensor p;
    p.e.name = g;
    if (t) {
      p.src.push_back(t);
    } else {
      const auto& members = stacks[g];
      int e = 0;
      for (const auto& [idx, ti] : members) {
        if (idx != e++) throw Error("cannot write GGUF: expert " + std::to_string(e - 1) + " of " + g + " is missing");
        if (ti->shape != members.begin()->second->shape)
          throw Error("cannot write GGUF: experts of " + g + " differ in shape (" + ti->name + ")");
        p.src.push_back(ti);
      }
    }
    const TensorInfo& s0 = *p.src[0];
    if (s0.dtype == DType::F8_E4M3 || s0.dtype == DType::I32 || s0.dtype == DType::I64)
      throw Error("cannot write GGUF: tensor '" + s0.name + "' is " + dtype_name(s0.dtype) +
                  " (dequantise fp8 checkpoints to BF16 first)");
    if (s0.shape.empty() || s0.shape.size() > 3)
      throw Error("cannot write GGUF: tensor '" + s0.name + "' has shape " + s0.shape_str());
    p.e.ne.assign(s0.shape.rbegin(), s0.shape.rend());
    if (!t) p.e.ne.push_back(int64_t(p.src.size()));
    const int64_t ne0 = p.e.ne[0];
    // Types: vectors (norms, biases) and the router stay F32, as in llama.cpp.
    DType dt = policy_base_type(policy);
    if (p.e.ne.size() == 1 || ends_with(g, ".ffn_gate_inp.weight")) {
      dt = DType::F32;
    } else if (policy == GgufPolicy::Q4_K_M) {
      const bool wv = ends_with(g, ".attn_v.weight") || ends_with(g, ".attn_qkv.weight");
      if (g == "output.weight") dt = DType::Q6_K;
      else if (wv && use_more_bits(i_wv, n_wv)) dt = DType::Q6_K;
      else if (ends_with(g, ".ffn_down_exps.weight") && use_more_bits(layer_of(g), int(n_layers))) dt = DType::Q6_K;
    }
    if (ends_with(g, ".attn_v.weight") || ends_with(g, ".attn_qkv.weight")) ++i_wv;
    p.e.dtype = fallback(dt, ne0);
    plan.push_back(std::move(p));
  }
  return plan;
}

// gguf-py's rounded parameter count: at least two significant digits, K/M/B/T suffix.
std::string rounded_count(double n) {
  const char* suffix = "";
  if (n > 1e12) { n *= 1e-12; suffix = "T"; }
  else if (n > 1e9) { n *= 1e-9; suffix = "B"; }
  else if (n > 1e6) { n *= 1e-6; suffix = "M"; }
  else if (n > 1e3) { n *= 1e-3; suffix = "K"; }
  int digits = int(std::to_string((long long)std::llround(n)).size());
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f%s", std::max(2 - digits, 0), n, suffix);
  return buf;
}

// ---- binary output ----

struct Out {
  std::string s;
  void u32(uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
  void u64(uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
  void str(const std::string& v) {
    u64(v.size());
    s += v;
  }
};

void put_scalar(Out& o, GgufType t, const nlohmann::json& v, const std::string& key) {
  auto need_num = [&] {
    if (!v.is_number() && !v.is_boolean())
      throw Error("GGUF metadata '" + key + "': " + gguf_type_name(t) + " value is not a number");
  };
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: {
      need_num();
      int64_t x = v.is_boolean() ? int64_t(v.get<bool>()) : v.get<int64_t>();
      o.s.push_back(char(uint8_t(x)));
      return;
    }
    case GgufType::UINT16: case GgufType::INT16: {
      need_num();
      uint16_t x = uint16_t(v.get<int64_t>());
      o.s.append(reinterpret_cast<const char*>(&x), 2);
      return;
    }
    case GgufType::UINT32: case GgufType::INT32: need_num(); o.u32(uint32_t(v.get<int64_t>())); return;
    case GgufType::UINT64: need_num(); o.u64(v.get<uint64_t>()); return;
    case GgufType::INT64: need_num(); o.u64(uint64_t(v.get<int64_t>())); return;
    case GgufType::FLOAT32: {
      need_num();
      float f = float(v.get<double>());
      o.s.append(reinterpret_cast<const char*>(&f), 4);
      return;
    }
    case GgufType::FLOAT64: {
      need_num();
      double d = v.get<double>();
      o.s.append(reinterpret_cast<const char*>(&d), 8);
      return;
    }
    case GgufType::STRING:
      if (!v.is_string()) throw Error("GGUF metadata '" + key + "': STRING value is not a string");
      o.str(v.get<std::string>());
      return;
    case GgufType::ARRAY: break;
  }
  throw Error("GGUF metadata '" + key + "': cannot write nested arrays");
}

void put_kv(Out& o, const GgufKv& kv) {
  o.str(kv.key);
  o.u32(uint32_t(kv.type));
  if (kv.type != GgufType::ARRAY) return put_scalar(o, kv.type, kv.value, kv.key);
  if (!kv.value.is_array()) throw Error("GGUF metadata '" + kv.key + "': ARRAY value is not an array");
  o.u32(uint32_t(kv.elem_type));
  o.u64(kv.value.size());
  for (const auto& e : kv.value) put_scalar(o, kv.elem_type, e, kv.key);
}

std::vector<GgufKv> model_kvs(const nlohmann::json& c, const std::vector<PlanTensor>& plan,
                              const GgufWriteOptions& opts) {
  const ArchSpec& spec = gguf_arch_for_config(c);
  const std::string a = std::string(spec.gguf.arch) + ".";
  const int64_t hidden = gguf_cfg_int(c, "hidden_size"), heads = gguf_cfg_int(c, "num_attention_heads");
  const int64_t head_dim = c.contains("head_dim") && c["head_dim"].is_number_integer() ? c["head_dim"].get<int64_t>()
                                                                                       : hidden / heads;
  const int64_t n_exp = gguf_cfg_int(c, "num_local_experts");
  // Parameter count for general.size_label: experts count once per expert ("E x (shared + 1 expert)").
  double shared = 0, expert = 0;
  for (const auto& p : plan) {
    double n = 1;
    for (auto d : p.e.ne) n *= double(d);
    (p.e.name.find("_exps.") != std::string::npos ? expert : shared) += n;
  }
  std::vector<GgufKv> kvs;
  kvs.push_back(gguf_kv_str("general.architecture", spec.gguf.arch));
  kvs.push_back(gguf_kv_str("general.type", "model"));
  if (!opts.name.empty()) kvs.push_back(gguf_kv_str("general.name", opts.name));
  if (n_exp > 0)
    kvs.push_back(gguf_kv_str("general.size_label", std::to_string(n_exp) + "x" + rounded_count(shared + expert / double(n_exp))));
  kvs.push_back(gguf_kv_u32(a + "block_count", gguf_cfg_int(c, "num_hidden_layers")));
  kvs.push_back(gguf_kv_u32(a + "context_length", gguf_cfg_int(c, "max_position_embeddings")));
  kvs.push_back(gguf_kv_u32(a + "embedding_length", hidden));
  kvs.push_back(gguf_kv_u32(a + "feed_forward_length", gguf_cfg_int(c, "intermediate_size")));
  kvs.push_back(gguf_kv_u32(a + "attention.head_count", heads));
  kvs.push_back(gguf_kv_u32(a + "attention.head_count_kv", c.value("num_key_value_heads", heads)));
  kvs.push_back(gguf_kv_f32(a + "rope.freq_base", gguf_cfg_num(c, "rope_theta")));
  kvs.push_back(gguf_kv_f32(a + "attention.layer_norm_rms_epsilon", gguf_cfg_num(c, "rms_norm_eps")));
  kvs.push_back(gguf_kv_u32(a + "expert_count", n_exp));
  kvs.push_back(gguf_kv_u32(a + "expert_used_count", gguf_cfg_int(c, "num_experts_per_tok")));
  const size_t after_experts = kvs.size();
  kvs.push_back(gguf_kv_u32(a + "attention.key_length", head_dim));
  kvs.push_back(gguf_kv_u32(a + "attention.value_length", head_dim));
  kvs.push_back(gguf_kv_u32("general.file_type", policy_file_type(opts.policy)));
  // The architecture's own keys, where llama.cpp's converter writes them (its hook also checks that
  // GGUF can express the config).
  GgufArchKvs own;
  spec.gguf.write_kvs(c, own);
  kvs.insert(kvs.begin() + std::ptrdiff_t(after_experts), own.after_experts.begin(), own.after_experts.end());
  kvs.insert(kvs.end(), own.after_file_type.begin(), own.after_file_type.end());
  kvs.push_back(gguf_kv_u32(a + "rope.dimension_count", c.value("rotary_dim", head_dim)));
  kvs.push_back(gguf_kv_u32("general.quantization_version", 2));
  for (const auto& kv : opts.extra_kvs) {
    for (const auto& k : kvs)
      if (k.key == kv.key) throw Error("GGUF metadata '" + kv.key + "' given twice");
    kvs.push_back(kv);
  }
  // Special token ids from config.json when the caller gave no tokenizer metadata for them.
  for (const char* k : {"eos_token_id", "bos_token_id"}) {
    const std::string key = std::string("tokenizer.ggml.") + k;
    bool given = false;
    for (const auto& kv : kvs) given |= kv.key == key;
    if (!given && c.contains(k) && c[k].is_number_integer()) kvs.push_back(gguf_kv_u32(key, c[k].get<int64_t>()));
  }
  return kvs;
}

// Converts one GGUF tensor's data (all its sources) to the target type: batches of rows converted in
// parallel on `pool`, then written in order.
void write_tensor_data(std::ofstream& f, const PlanTensor& p, ThreadPool& pool) {
  const int64_t ne0 = p.e.ne[0];
  const size_t out_row = dtype_row_bytes(p.e.dtype, ne0);
  std::vector<std::vector<float>> scratch(size_t(pool.n_threads()), std::vector<float>(static_cast<size_t>(ne0)));
  const int64_t batch = std::max<int64_t>(1, (int64_t(32) << 20) / int64_t(out_row + size_t(ne0) * 4));
  std::vector<uint8_t> out;
  for (const TensorInfo* s : p.src) {
    const size_t src_row = dtype_row_bytes(s->dtype, ne0);
    const int64_t rows = s->n_elements() / ne0;
    if (size_t(rows) * src_row != s->n_bytes)
      throw Error("cannot write GGUF: tensor '" + s->name + "' has " + std::to_string(s->n_bytes) +
                  " bytes, inconsistent with " + dtype_name(s->dtype) + " x " + s->shape_str());
    for (int64_t r0 = 0; r0 < rows; r0 += batch) {
      const int64_t nr = std::min(batch, rows - r0);
      out.resize(size_t(nr) * out_row);
      pool.parallel_for(nr, [&](int64_t b, int64_t e, int th) {
        float* row = scratch[size_t(th)].data();
        for (int64_t r = b; r < e; ++r) {
          row_to_f32(s->dtype, s->data + size_t(r0 + r) * src_row, row, ne0);
          uint8_t* o = out.data() + size_t(r) * out_row;
          switch (p.e.dtype) {
            case DType::F32: std::memcpy(o, row, out_row); break;
            case DType::F16:
            case DType::BF16: {
              auto* h = reinterpret_cast<uint16_t*>(o);
              for (int64_t i = 0; i < ne0; ++i) h[i] = p.e.dtype == DType::F16 ? f32_to_f16(row[i]) : f32_to_bf16(row[i]);
              break;
            }
            default: quantize_row(p.e.dtype, row, o, ne0);
          }
        }
      });
      f.write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
    }
  }
}

}  // namespace

GgufPolicy gguf_policy_from_string(const std::string& s) {
  std::string l;
  for (char ch : s) l += char(std::tolower(uint8_t(ch)));
  static const std::pair<const char*, GgufPolicy> kNames[] = {
      {"f32", GgufPolicy::F32},   {"f16", GgufPolicy::F16},   {"bf16", GgufPolicy::BF16},
      {"q8_0", GgufPolicy::Q8_0}, {"q4_0", GgufPolicy::Q4_0}, {"q5_0", GgufPolicy::Q5_0},
      {"q4_k", GgufPolicy::Q4_K}, {"q5_k", GgufPolicy::Q5_K}, {"q6_k", GgufPolicy::Q6_K},
      {"q4_k_m", GgufPolicy::Q4_K_M}};
  for (const auto& [n, p] : kNames)
    if (l == n) return p;
  throw Error("unknown GGUF type '" + s + "' (choose f32, f16, bf16, q8_0, q4_0, q5_0, q4_k, q5_k, q6_k or q4_k_m)");
}

std::vector<GgufPlanEntry> gguf_plan(const nlohmann::json& hf_config, const TensorStore& tensors, GgufPolicy policy) {
  std::vector<GgufPlanEntry> out;
  for (auto& p : make_plan(hf_config, tensors, policy)) out.push_back(std::move(p.e));
  return out;
}

void gguf_write(const std::string& path, const nlohmann::json& hf_config, const TensorStore& tensors,
                const GgufWriteOptions& opts) {
  const std::vector<PlanTensor> plan = make_plan(hf_config, tensors, opts.policy);
  const std::vector<GgufKv> kvs = model_kvs(hf_config, plan, opts);
  Out h;
  h.s = "GGUF";
  h.u32(3);
  h.u64(plan.size());
  h.u64(kvs.size());
  for (const auto& kv : kvs) put_kv(h, kv);
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const auto& p : plan) {
    h.str(p.e.name);
    h.u32(uint32_t(p.e.ne.size()));
    for (auto d : p.e.ne) h.u64(uint64_t(d));
    h.u32(dtype_to_ggml_type(p.e.dtype));
    h.u64(offset);
    int64_t n = 1;
    for (auto d : p.e.ne) n *= d;
    const uint64_t bytes = dtype_row_bytes(p.e.dtype, p.e.ne[0]) * uint64_t(n / p.e.ne[0]);
    sizes.push_back(bytes);
    offset += (bytes + kAlign - 1) / kAlign * kAlign;
  }
  h.s.resize((h.s.size() + kAlign - 1) / kAlign * kAlign, '\0');

  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot create " + tmp);
    f.write(h.s.data(), std::streamsize(h.s.size()));
    static const char kZeros[kAlign] = {};
    ThreadPool pool(opts.n_threads < 1 ? default_thread_count() : opts.n_threads);
    for (size_t i = 0; i < plan.size(); ++i) {
      write_tensor_data(f, plan[i], pool);
      f.write(kZeros, std::streamsize((kAlign - sizes[i] % kAlign) % kAlign));
      if (opts.progress) opts.progress(i + 1, plan.size(), plan[i].e.name);
    }
    f.flush();
    if (!f) {
      std::filesystem::remove(tmp);
      throw Error("error writing " + tmp + " (disk full?)");
    }
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace mm
