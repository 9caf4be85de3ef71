// libFuzzer target: the request bodies of the HTTP APIs (server/request_parse.h) as the routes parse
// them: the body text, then /v1/chat/completions, /v1/completions and Anthropic's /v1/messages, for
// both chat formats, against the tokenizer of `minimax init` models (512 ids). ApiError (an mm::Error:
// the 400 answer) is expected; any other exception would be a 500, and counts as a finding.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "convert/random_tokenizer.h"
#include "core/error.h"
#include "server/request_parse.h"

namespace {

const mm::Tokenizer& tokenizer() {
  static const std::unique_ptr<mm::Tokenizer> tok =
      mm::Tokenizer::from_json_string(mm::make_random_model_tokenizer(512).dump());
  return *tok;
}

template <typename F>
void expect_user_errors_only(F&& f) {
  try {
    f();
  } catch (const mm::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mm::server;
  json body;
  try {
    body = parse_body_text(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const mm::Error&) {
    return 0;
  }
  const mm::Tokenizer& tok = tokenizer();
  const int32_t eos = tok.token_to_id(mm::kMinimaxEosToken).value_or(0);
  for (mm::ChatFormat fmt : {mm::ChatFormat::Text01, mm::ChatFormat::M2}) {
    const RequestEnv env{.format = fmt, .tok = tok, .n_ctx = 4096, .vocab_size = tok.vocab_size(),
                         .eos_ids = {eos}, .end_ids = {eos}};
    expect_user_errors_only([&] { (void)parse_chat_completion_request(env, body); });
    expect_user_errors_only([&] { (void)parse_messages_request(env, body); });
    expect_user_errors_only([&] { (void)parse_messages_request(env, body, false); });
  }
  const RequestEnv env{.tok = tok, .n_ctx = 4096, .vocab_size = tok.vocab_size(), .eos_ids = {eos}, .end_ids = {eos}};
  expect_user_errors_only([&] { (void)parse_completion_request(env, body); });
  return 0;
}
