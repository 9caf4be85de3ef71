// libFuzzer target: config.json as load_checkpoint reads it (nesting bounded, JSON, an object) into
// parse_model_config. mm::Error (and JSON errors, which load_checkpoint reports as mm::Error) are the
// expected answer to a bad config.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_depth.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (mm::json_nesting_depth(text, mm::kMaxJsonDepth + 1) > mm::kMaxJsonDepth) return 0;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  if (!j.is_object()) return 0;
  try {
    const mm::ModelConfig cfg = mm::parse_model_config(j);
    (void)cfg.n_lightning_layers();
    (void)cfg.n_softmax_layers();
  } catch (const mm::Error&) {
  }
  return 0;
}
