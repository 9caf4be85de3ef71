// libFuzzer target: tokenizer.json loading (tokenizer/tokenizer.h) from arbitrary bytes; a tokenizer
// that loads encodes a fixed text and a piece of the input itself (any bytes: invalid UTF-8 is part of
// the contract), with and without special tokens, and decodes the ids again, whole and streamed.
// mm::Error is the expected answer to a bad tokenizer.json.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

void round_trip(const mm::Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids = tok.encode(text);
  (void)tok.encode(text, false);
  const mm::TextRange plain[] = {{0, text.size() / 2}};
  (void)tok.encode(text, std::span<const mm::TextRange>(plain));
  (void)tok.decode(ids);
  (void)tok.decode(ids, true);
  mm::StreamDecoder sd(tok);
  for (int32_t id : ids) (void)sd.push(id);
  (void)sd.flush();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<mm::Tokenizer> tok;
  try {
    tok = mm::Tokenizer::from_json_string(bytes);
  } catch (const mm::Error&) {
    return 0;
  }
  try {
    round_trip(*tok, "Hello, world! It's 2024: naïve café, 你好世界 <think>x</think>\n\n  tabs\tand 12345");
    const size_t n = std::min<size_t>(size, 256);
    round_trip(*tok, bytes.substr(size - n, n));  // the tail of the input: added tokens' contents live there
  } catch (const mm::Error&) {
  }
  for (int32_t id = 0; id < std::min<int32_t>(tok->vocab_size(), 64); ++id) {
    (void)tok->id_to_token(id);
    (void)tok->is_special(id);
  }
  return 0;
}
