// GGUF files through the architecture records: the record of a file or of a config, the HF config and
// checkpoint of a GGUF, and the writer's helpers for the records' hooks.
#include "model/gguf_arch.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace mm {

namespace {

// "a", "a and b", "a, b and c" (or with `last` as the final separator).
std::string join(const std::vector<std::string>& v, const std::string& last) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : i + 1 == v.size() ? last : ", ") + v[i];
  return out;
}

}  // namespace

const ArchSpec& gguf_arch_spec(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  std::vector<std::string> known;
  for (const auto& s : arch_specs()) {
    if (!s.gguf.read_config) continue;
    if (arch == s.gguf.arch) return s;
    known.push_back(s.gguf.arch);
  }
  throw Error("GGUF file " + f.path() + " has architecture '" + arch + "'; only " + join(known, " and ") +
              (known.size() == 1 ? " is" : " are") + " supported");
}

nlohmann::json gguf_hf_config(const GgufFile& f) {
  const ArchSpec& spec = gguf_arch_spec(f);
  nlohmann::json c = gguf_shared_hf_config(f);
  c["model_type"] = spec.model_types.front();
  c["architectures"] = {spec.hf_classes.front()};
  spec.gguf.read_config(f, c);
  return c;
}

HfCheckpoint load_gguf_as_hf(const std::string& path) {
  const GgufFile f(path);
  HfCheckpoint ck;
  ck.config = gguf_hf_config(f);
  ck.tensors = gguf_hf_tensors(f, ck.config["attn_type_list"].get<std::vector<int>>());
  return ck;
}

const ArchSpec& gguf_arch_for_config(const nlohmann::json& c) {
  const std::string mt = c.value("model_type", std::string());
  std::vector<std::string> known;
  for (const auto& s : arch_specs()) {
    if (!s.gguf.write_kvs) continue;
    const auto& types = s.gguf.model_types;
    if (std::find(types.begin(), types.end(), mt) != types.end()) return s;
    known.push_back(types.front());
  }
  throw Error("cannot write GGUF: model_type '" + mt + "' is not " + join(known, " or "));
}

GgufKv gguf_kv_u32(const std::string& k, int64_t v) { return {k, GgufType::UINT32, GgufType::UINT32, v}; }
GgufKv gguf_kv_f32(const std::string& k, double v) { return {k, GgufType::FLOAT32, GgufType::UINT32, v}; }
GgufKv gguf_kv_str(const std::string& k, const std::string& v) { return {k, GgufType::STRING, GgufType::UINT32, v}; }

int64_t gguf_cfg_int(const nlohmann::json& c, const char* key) {
  if (!c.contains(key) || !c[key].is_number_integer())
    throw Error(std::string("cannot write GGUF: config.json needs an integer '") + key + "'");
  return c[key].get<int64_t>();
}

double gguf_cfg_num(const nlohmann::json& c, const char* key) {
  if (!c.contains(key) || !c[key].is_number())
    throw Error(std::string("cannot write GGUF: config.json needs a number '") + key + "'");
  return c[key].get<double>();
}

}  // namespace mm
