// GGUF files through the architecture records: the record of a file, its HF config and checkpoint.
#include "model/gguf_arch.h"

#include <vector>

#include "core/error.h"

namespace mm {

namespace {

// "a", "a and b", "a, b and c".
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

}  // namespace mm
