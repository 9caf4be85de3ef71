// libFuzzer target: the GGUF reader (io/gguf.h) on arbitrary bytes, then what reads a parsed file when a
// model loads: the tokenizer keys and the tokenizer.json rebuilt from them, the architecture's HF
// config, the model config parsed from it, and the tensors under their HF names.
// mm::Error is the expected answer to a bad file; anything else (a crash, a sanitizer report, another
// exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_tokenizer.h"
#include "model/config.h"
#include "model/gguf_arch.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<mm::GgufFile> f;
  try {
    f = std::make_unique<mm::GgufFile>(std::make_shared<mm::MappedFile>("fuzz.gguf", bytes));
  } catch (const mm::Error&) {
    return 0;
  }
  try {
    (void)f->get_int("general.alignment", 32);
    (void)f->get_string("general.architecture");
  } catch (const mm::Error&) {
  }
  try {
    (void)mm::gguf_tokenizer(*f);
    const std::string tok_json = mm::gguf_tokenizer_json(f->kvs());
    if (!tok_json.empty()) {
      auto tok = mm::Tokenizer::from_json_string(tok_json);
      (void)tok->encode("Hello, world! 123");
    }
  } catch (const mm::Error&) {
  }
  try {
    const nlohmann::json config = mm::gguf_hf_config(*f);
    (void)mm::parse_model_config(config);
    (void)mm::gguf_hf_tensors(*f, config["attn_type_list"].get<std::vector<int>>());
  } catch (const mm::Error&) {
  }
  return 0;
}
