// Token sampling: repetition / presence / frequency penalties, temperature, top-k, top-p, min-p, and
// a seeded RNG (same seed, same output). temperature <= 0 means greedy (argmax, lowest id on ties).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace mm {

struct SamplingParams {
  float temperature = 1.0f;
  int64_t top_k = 0;        // 0: off
  float top_p = 1.0f;       // 1: off
  float min_p = 0.0f;       // 0: off
  float repetition_penalty = 1.0f;  // >1 discourages tokens already seen (CTRL-style, on the logit)
  float presence_penalty = 0.0f;    // OpenAI: subtract once if seen
  float frequency_penalty = 0.0f;   // OpenAI: subtract count times
  uint64_t seed = 0;
};

// How validate() names parameters in its errors: command-line options ("--top-p") or API fields ("'top_p'").
enum class ParamStyle { Cli, Api };
// The one check of sampling parameters (CLI, engine): throws mm::Error naming the first one out of
// range. top_p in (0, 1], top_k >= 0, min_p in [0, 1], temperature >= 0, repetition_penalty > 0,
// presence / frequency penalties finite.
void validate(const SamplingParams& p, ParamStyle style = ParamStyle::Api);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // Picks the next token from logits [vocab]; `history` holds the tokens the penalties look at.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  // The probability distribution actually sampled from after the last sample() (for logprobs).
  const SamplingParams& params() const { return p_; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<int32_t> idx_;
};

int32_t argmax(std::span<const float> logits);

}  // namespace mm
