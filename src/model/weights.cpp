#include "model/weights.h"

#include "core/error.h"

namespace mm {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

bool weight_dtype_ok(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F8_E4M3 || dtype_is_block_quant(t);
}

}  // namespace

void check_tensors(const TensorStore& store, const std::vector<TensorSpec>& specs, const ModelConfig& cfg) {
  std::string problems;
  int n_problems = 0;
  auto add = [&](const std::string& p) {
    if (n_problems++ < 20) problems += "\n  " + p;
  };
  for (const auto& s : specs) {
    const TensorInfo* t = store.find(s.name);
    if (!t) {
      add("missing tensor '" + s.name + "' (expected shape " + shape_str(s.shape) + ")");
      continue;
    }
    if (t->shape != s.shape) {
      add("tensor '" + s.name + "' in " + t->file + " has shape " + t->shape_str() + ", expected " + shape_str(s.shape));
      continue;
    }
    if (!weight_dtype_ok(t->dtype)) add("tensor '" + s.name + "' has unsupported dtype " + dtype_name(t->dtype));
    if (dtype_is_block_quant(t->dtype) && s.shape.back() % dtype_info(t->dtype).block_elems != 0)
      add("tensor '" + s.name + "' rows of " + std::to_string(s.shape.back()) + " cannot hold " + dtype_name(t->dtype) + " blocks");
    if (t->dtype == DType::F8_E4M3) {
      const std::string sn = s.name + "_scale_inv";
      const TensorInfo* sc = store.find(sn);
      int64_t bn = cfg.fp8_block_n, bk = cfg.fp8_block_k;
      std::vector<int64_t> want = {(s.shape[0] + bn - 1) / bn, s.shape.size() > 1 ? (s.shape[1] + bk - 1) / bk : 1};
      if (!sc) add("fp8 tensor '" + s.name + "' has no scale tensor '" + sn + "'");
      else if (sc->dtype != DType::F32 && sc->dtype != DType::BF16)
        add("scale tensor '" + sn + "' has dtype " + dtype_name(sc->dtype) + ", expected F32");
      else if (sc->shape != want)
        add("scale tensor '" + sn + "' has shape " + sc->shape_str() + ", expected " + shape_str(want) +
            " (one per " + std::to_string(bn) + "x" + std::to_string(bk) + " block)");
    }
  }
  if (n_problems)
    throw Error("checkpoint " + store.source() + " does not match its config (" + std::to_string(n_problems) +
                " problem" + (n_problems > 1 ? "s" : "") + "):" + problems);
}

TensorVisitor collect_specs(std::vector<TensorSpec>& out) {
  return [&out](TensorSpec spec, TensorDst) { out.push_back(std::move(spec)); };
}

TensorVisitor bind_from(const TensorStore& store, const ModelConfig& cfg) {
  return [&store, &cfg](TensorSpec spec, TensorDst dst) {
    if (dst.weight) *dst.weight = bind_weight(store, spec.name, cfg);
    else *dst.vec = load_vector(store, spec.name);
  };
}

Weight bind_weight(const TensorStore& store, const std::string& name, const ModelConfig& cfg) {
  const TensorInfo& t = store.get(name);
  MM_CHECK(t.shape.size() == 2, name);
  Weight w;
  w.dtype = t.dtype;
  w.n_out = t.shape[0];
  w.n_in = t.shape[1];
  w.data = t.data;
  w.row_bytes = dtype_row_bytes(t.dtype, w.n_in);
  if (t.dtype == DType::F8_E4M3) {
    const TensorInfo& s = store.get(name + "_scale_inv");
    // F32 scales are used in place; others were rejected by check_tensors except BF16, which the
    // store cannot convert in place, so require F32 here.
    if (s.dtype != DType::F32) throw Error("scale tensor '" + name + "_scale_inv' must be F32, got " + dtype_name(s.dtype));
    w.scale = reinterpret_cast<const float*>(s.data);
    w.scale_bn = cfg.fp8_block_n;
    w.scale_bk = cfg.fp8_block_k;
  }
  return w;
}

std::vector<float> load_vector(const TensorStore& store, const std::string& name) {
  const TensorInfo& t = store.get(name);
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  if (dtype_is_block_quant(t.dtype) || t.dtype == DType::I32 || t.dtype == DType::I64)
    throw Error("tensor '" + name + "' must be a float vector, got " + dtype_name(t.dtype));
  convert_to_f32(t.dtype, t.data, v.data(), t.n_elements());
  return v;
}

ParamCounts count_params(const std::vector<TensorSpec>& specs, const ModelConfig& cfg) {
  ParamCounts c;
  const double expert_frac = double(cfg.num_experts_per_tok) / double(cfg.num_local_experts);
  for (const auto& s : specs) {
    double n = 1;
    for (auto d : s.shape) n *= double(d);
    c.total += n;
    switch (s.role) {
      case TensorRole::Embedding:
      case TensorRole::Output: c.embeddings += n; break;
      case TensorRole::Expert: c.active += n * expert_frac; break;
      default: c.active += n;
    }
  }
  return c;
}

}  // namespace mm
