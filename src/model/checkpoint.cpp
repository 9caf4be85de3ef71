// load_checkpoint: a model path (HF folder or GGUF file) to config + tensors in HF terms. In the model
// layer because a GGUF file needs its architecture's record (model/gguf_arch.h).
#include <filesystem>

#include "core/error.h"
#include "core/json_depth.h"
#include "io/safetensors.h"
#include "model/gguf_arch.h"
#include "model/model.h"

namespace mm {

namespace fs = std::filesystem;

HfCheckpoint load_checkpoint(const std::string& path, bool need_weights) {
  if (!fs::exists(path)) throw Error("model path " + path + " does not exist");
  if (fs::is_regular_file(path) && path.size() > 5 && path.substr(path.size() - 5) == ".gguf")
    return load_gguf_as_hf(path);
  if (!fs::is_directory(path)) throw Error("model path " + path + " is neither a folder nor a .gguf file");
  HfCheckpoint ck;
  std::string cfg = (fs::path(path) / "config.json").string();
  if (!fs::exists(cfg)) throw Error("no config.json in " + path);
  try {
    const std::string text = read_text_file(cfg);
    if (json_nesting_depth(text, kMaxJsonDepth + 1) > kMaxJsonDepth)
      throw Error(cfg + " nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    ck.config = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error("invalid " + cfg + ": " + e.what());
  }
  if (!ck.config.is_object()) throw Error("invalid " + cfg + ": not a JSON object");
  // generation_config.json supplies eos/bos when config.json leaves them null (as the releases do).
  std::string gen = (fs::path(path) / "generation_config.json").string();
  if (fs::exists(gen)) {
    try {
      const std::string gtext = read_text_file(gen);
      if (json_nesting_depth(gtext, kMaxJsonDepth + 1) > kMaxJsonDepth)
        throw Error(gen + " nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      auto g = nlohmann::json::parse(gtext);
      for (const char* k : {"eos_token_id", "bos_token_id"})
        if (g.contains(k) && !g[k].is_null() && (!ck.config.contains(k) || ck.config[k].is_null()))
          ck.config[k] = g[k];
    } catch (const nlohmann::json::exception& e) {
      throw Error("invalid " + gen + ": " + e.what());
    }
  }
  if (need_weights) ck.tensors = safetensors_load_dir(path);
  return ck;
}

}  // namespace mm
