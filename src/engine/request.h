// A generation request and what it produces: the types shared by the Engine (engine.h) and Generation
// (generation.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sampling/sampler.h"

namespace mm {

struct GenRequest {
  std::vector<int32_t> prompt;        // at least one token
  SamplingParams sampling;
  int64_t max_tokens = 16;            // >= 1; prompt + max_tokens must fit n_ctx
  std::vector<std::string> stop;      // stop strings (matched on the decoded text, removed from it)
  std::vector<int32_t> stop_ids;      // end tokens (eos, the chat end token): end the output, not shown
  int top_logprobs = -1;              // < 0: no logprobs; else also the n most likely alternatives
};

enum class FinishReason { Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop" | "length" | "cancelled" | "error"

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely tokens at that step, best first
};

// What a request produced since the previous event.
struct GenEvent {
  std::string text;                   // new output text: whole UTF-8 characters, stop strings cut
  std::vector<int32_t> tokens;        // tokens sampled since the previous event (end tokens included)
  std::vector<TokenLogprob> logprobs; // per shown token when requested
  bool done = false;
  FinishReason finish = FinishReason::Stop;
  std::string stop_string;            // done by a stop string: which one
  int32_t stop_token = -1;            // done by an end token: which one
  int64_t n_prompt = 0, n_generated = 0;  // set on every event
  int64_t n_cached = 0;               // prompt tokens taken from the prefix cache (not recomputed)
  std::string error;                  // finish == Error
};

}  // namespace mm
