// Generation: what happens to one sequence's output after its prompt has been run — sampling (with the
// history the penalties look at), end tokens, streaming detokenisation, stop strings, logprobs. The
// engine's slots and the CLI's `generate` / `chat` all generate through it, so they follow the same
// rules: an end token (stop_ids) ends the output and is not shown; a stop string ends it and is cut from
// the text; max_tokens ends it with FinishReason::Length.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "engine/request.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace mm {

class Model;
struct SequenceState;

class Generation {
 public:
  // req.prompt seeds the history; tok (may be null: ids only, no text) decodes the output, skipping
  // special tokens if skip_special. sampler: null for a fresh one from req.sampling, or one that lives
  // on across generations (a chat's turns share one random stream). req and sampler must outlive it.
  Generation(const GenRequest& req, const Tokenizer* tok, bool skip_special = false, Sampler* sampler = nullptr);
  Generation(const Generation&) = delete;  // sampler_ may point into the object
  Generation& operator=(const Generation&) = delete;

  // Samples the next token from the logits of the last token run and returns what it produced: the
  // token, the text that can be shown now, logprobs if requested; done with the finish reason when the
  // output ended (then no further call). n_prompt / n_generated are set.
  GenEvent next(std::span<const float> logits);

  bool done() const { return done_; }
  int32_t last_token() const { return last_token_; }  // the token to run next (valid after next())
  int64_t n_generated() const { return n_generated_; }
  const std::vector<int32_t>& output() const { return output_; }  // every sampled token, end tokens included

 private:
  GenEvent finish(GenEvent ev, FinishReason r);

  const GenRequest& req_;
  const Tokenizer* tok_;
  std::optional<Sampler> own_sampler_;
  Sampler* sampler_;
  std::optional<StreamDecoder> decoder_;
  std::vector<int32_t> history_;  // prompt + output (the penalties look at it)
  std::vector<int32_t> output_;
  int64_t n_generated_ = 0;
  int32_t last_token_ = 0;
  std::string text_;              // output text decoded so far
  size_t n_emitted_ = 0;          // bytes of text_ already returned
  size_t max_stop_len_ = 0;
  bool done_ = false;
  std::vector<int32_t> idx_;      // scratch for logprobs
};

// Prompt tokens per forward when a caller does not choose (CLI commands; the engine has its own flag).
constexpr int64_t kDefaultPrefillChunk = 512;

// Runs `tokens` through `seq` in chunks that end at multiples of `chunk` positions of the sequence, so
// activation memory is O(chunk) whatever the prompt length. logits (may be null): [vocab] of the last
// token, or with all_logits [n, vocab] of every token.
void prefill(ExecContext& ctx, Model& model, SequenceState& seq, std::span<const int32_t> tokens, int64_t chunk,
             float* logits, bool all_logits = false);

// The one-sequence loop of the CLI's generate / chat: runs req.prompt through `seq` (after whatever it
// already holds), then generates through a Generation until it ends or the context is full, calling
// on_event for each event. tok may be null (ids only). Returns every sampled token, an end token
// included; the last one was not run through the model. Forwards run on `ctx`.
std::vector<int32_t> run_generation(ExecContext& ctx, Model& model, SequenceState& seq, GenRequest req, const Tokenizer* tok,
                                    bool skip_special, const std::function<void(const GenEvent&)>& on_event,
                                    Sampler* sampler = nullptr, int64_t prefill_chunk = kDefaultPrefillChunk);

}  // namespace mm
