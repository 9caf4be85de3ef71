#include "train/export.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "convert/safetensors_writer.h"
#include "core/error.h"

namespace mm {

namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
  if (!f) throw Error("cannot write " + p.string());
}

}  // namespace

void export_hf_model(const std::string& dir, const nlohmann::ordered_json& config, const ParamSet& params, DType dtype,
                     const std::string& tokenizer_json) {
  if (dtype != DType::F32 && dtype != DType::BF16) throw Error("export: the weights' dtype must be f32 or bf16");
  const fs::path out(dir), tmp(dir + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  nlohmann::ordered_json c = config;
  c["torch_dtype"] = dtype == DType::F32 ? "float32" : "bfloat16";
  write_text(tmp / "config.json", c.dump(2) + "\n");
  nlohmann::ordered_json gen;
  if (c.contains("bos_token_id")) gen["bos_token_id"] = c["bos_token_id"];
  if (c.contains("eos_token_id")) gen["eos_token_id"] = c["eos_token_id"];
  write_text(tmp / "generation_config.json", gen.dump(2) + "\n");
  if (!tokenizer_json.empty()) {
    fs::copy_file(tokenizer_json, tmp / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error("export: cannot copy " + tokenizer_json + ": " + ec.message());
  }
  std::vector<TensorToWrite> tensors;
  for (const Param& p : params.all()) {
    // Norm vectors and the routing bias stay f32 (the loaders read them as f32 either way).
    const DType dt = p.spec.role == TensorRole::Norm ? DType::F32 : dtype;
    tensors.push_back({p.spec.name, dt, p.spec.shape, [&p, dt](uint8_t* dst, size_t n_bytes) {
                         if (dt == DType::F32) {
                           MM_CHECK(n_bytes == p.w.size() * 4);
                           std::memcpy(dst, p.w.data(), n_bytes);
                           return;
                         }
                         MM_CHECK(n_bytes == p.w.size() * 2);
                         for (size_t i = 0; i < p.w.size(); ++i) {
                           const uint16_t h = f32_to_bf16(p.w[i]);
                           std::memcpy(dst + 2 * i, &h, 2);
                         }
                       }});
  }
  safetensors_write((tmp / "model.safetensors").string(), tensors);
  fs::remove_all(out, ec);
  fs::rename(tmp, out, ec);
  if (ec) throw Error("export: cannot move " + tmp.string() + " to " + out.string() + ": " + ec.message());
}

}  // namespace mm
