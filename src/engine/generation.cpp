#include "engine/generation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "model/model.h"

namespace mm {

namespace {

// log-softmax of the raw logits for the chosen token and the top n alternatives.
TokenLogprob token_logprob(std::span<const float> logits, int32_t tok, int top_n, std::vector<int32_t>& idx) {
  const size_t n = logits.size();
  float mx = *std::max_element(logits.begin(), logits.end());
  double z = 0;
  for (float l : logits) z += std::exp(double(l) - mx);
  const double lz = mx + std::log(z);
  TokenLogprob lp;
  lp.id = tok;
  lp.logprob = float(double(logits[size_t(tok)]) - lz);
  if (top_n > 0) {
    const size_t k = std::min(size_t(top_n), n);
    idx.resize(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + long(k), idx.end(), [&](int32_t a, int32_t b) {
      return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    for (size_t i = 0; i < k; ++i) lp.top.emplace_back(idx[i], float(double(logits[size_t(idx[i])]) - lz));
  }
  return lp;
}

// Earliest occurrence of any stop string in text at or after `from`: (position, index) or npos.
std::pair<size_t, size_t> find_stop(const std::string& text, size_t from, const std::vector<std::string>& stops) {
  size_t best = std::string::npos, which = 0;
  for (size_t i = 0; i < stops.size(); ++i) {
    size_t p = text.find(stops[i], from);
    if (p < best) best = p, which = i;
  }
  return {best, which};
}

// Bytes of text[from, end) that can be sent: everything before the first position whose tail could
// still grow into a stop string.
size_t safe_end(const std::string& text, size_t from, const std::vector<std::string>& stops, size_t max_len) {
  const size_t lo = text.size() > max_len ? std::max(from, text.size() - max_len + 1) : from;
  for (size_t i = lo; i < text.size(); ++i) {
    const std::string_view tail(text.data() + i, text.size() - i);
    for (const auto& st : stops)
      if (st.size() > tail.size() && std::string_view(st).substr(0, tail.size()) == tail) return i;
  }
  return text.size();
}

}  // namespace

Generation::Generation(const GenRequest& req, const Tokenizer* tok, bool skip_special, Sampler* sampler)
    : req_(req), tok_(tok), sampler_(sampler), history_(req.prompt) {
  if (!sampler_) sampler_ = &own_sampler_.emplace(req.sampling);
  if (tok_) decoder_.emplace(*tok_, skip_special);
  for (const auto& st : req_.stop) max_stop_len_ = std::max(max_stop_len_, st.size());
}

GenEvent Generation::finish(GenEvent ev, FinishReason r) {
  done_ = true;
  ev.done = true;
  ev.finish = r;
  return ev;
}

GenEvent Generation::next(std::span<const float> logits) {
  MM_CHECK(!done_);
  GenEvent ev;
  const int32_t tok = sampler_->sample(logits, history_);
  ++n_generated_;
  history_.push_back(tok);
  output_.push_back(tok);
  last_token_ = tok;
  ev.tokens.push_back(tok);
  ev.n_prompt = int64_t(req_.prompt.size());
  ev.n_generated = n_generated_;
  if (std::find(req_.stop_ids.begin(), req_.stop_ids.end(), tok) != req_.stop_ids.end()) {
    if (decoder_) text_ += decoder_->flush();
    auto [pos, which] = find_stop(text_, n_emitted_, req_.stop);
    if (pos != std::string::npos) {
      ev.text = text_.substr(n_emitted_, pos - n_emitted_);
      ev.stop_string = req_.stop[which];
    } else {
      ev.text = text_.substr(n_emitted_);
      ev.stop_token = tok;
    }
    return finish(std::move(ev), FinishReason::Stop);
  }
  if (req_.top_logprobs >= 0) ev.logprobs.push_back(token_logprob(logits, tok, req_.top_logprobs, idx_));
  // Ids the tokenizer does not know (padding rows of the embedding) have no text.
  if (decoder_ && tok < tok_->vocab_size()) text_ += decoder_->push(tok);
  const bool at_limit = n_generated_ >= req_.max_tokens;
  if (at_limit && decoder_) text_ += decoder_->flush();
  auto [pos, which] = find_stop(text_, n_emitted_, req_.stop);
  if (pos != std::string::npos) {
    ev.text = text_.substr(n_emitted_, pos - n_emitted_);
    ev.stop_string = req_.stop[which];
    return finish(std::move(ev), FinishReason::Stop);
  }
  if (at_limit) {
    ev.text = text_.substr(n_emitted_);
    return finish(std::move(ev), FinishReason::Length);
  }
  const size_t end = req_.stop.empty() ? text_.size() : safe_end(text_, n_emitted_, req_.stop, max_stop_len_);
  ev.text = text_.substr(n_emitted_, end - n_emitted_);
  n_emitted_ = end;
  return ev;
}

void prefill(ExecContext& ctx, Model& model, SequenceState& seq, std::span<const int32_t> tokens, int64_t chunk,
             float* logits, bool all_logits) {
  if (chunk < 1) throw Error("the prefill chunk must be >= 1 token");
  const int64_t n = int64_t(tokens.size()), vocab = model.config().vocab_size;
  for (int64_t done = 0; done < n;) {
    const int64_t pos = seq.n_past;  // absolute position of this chunk's first token
    const int64_t m = std::min(n - done, (pos / chunk + 1) * chunk - pos);
    const bool last = done + m == n;
    float* out = !logits ? nullptr : all_logits ? logits + done * vocab : last ? logits : nullptr;
    BatchItem it{&seq, tokens.data() + done, m, out, all_logits};
    model.forward({&it, 1}, ctx);
    done += m;
  }
}

std::vector<int32_t> run_generation(ExecContext& ctx, Model& model, SequenceState& seq, GenRequest req, const Tokenizer* tok,
                                    bool skip_special, const std::function<void(const GenEvent&)>& on_event,
                                    Sampler* sampler, int64_t prefill_chunk) {
  const auto& prompt = req.prompt;
  if (prompt.empty()) throw Error("the prompt is empty");
  if (seq.n_past + int64_t(prompt.size()) >= seq.n_ctx_max)
    throw Error("the prompt (" + std::to_string(prompt.size()) + " tokens) does not fit the context (" +
                std::to_string(seq.n_ctx_max - seq.n_past) + " tokens left)");
  std::vector<float> logits(static_cast<size_t>(model.config().vocab_size));
  prefill(ctx, model, seq, prompt, prefill_chunk, logits.data());
  req.max_tokens = std::min(req.max_tokens, seq.n_ctx_max - seq.n_past);
  Generation gen(req, tok, skip_special, sampler);
  for (int64_t i = 0; i < req.max_tokens; ++i) {
    const GenEvent ev = gen.next(logits);
    on_event(ev);
    if (ev.done) break;
    const int32_t last = gen.last_token();
    BatchItem step{&seq, &last, 1, logits.data(), false};
    model.forward({&step, 1}, ctx);
  }
  return gen.output();
}

}  // namespace mm
