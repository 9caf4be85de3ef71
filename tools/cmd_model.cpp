// `minimax logits` and `minimax generate`: run a model on token ids.
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/generation.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "minimax/text.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

std::vector<int32_t> to_ids(const std::vector<int64_t>& v) {
  std::vector<int32_t> r;
  for (auto x : v) {
    if (x < 0 || x > INT32_MAX) throw Error("token id " + std::to_string(x) + " is out of range");
    r.push_back(int32_t(x));
  }
  return r;
}

// A JSON array of the values; non-finite ones (which JSON cannot spell) are written as null and counted.
int64_t print_float_row(std::string& out, const float* v, int64_t n) {
  out += '[';
  char buf[32];
  int64_t n_bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool finite = std::isfinite(v[i]);
    n_bad += !finite;
    int len = finite ? std::snprintf(buf, sizeof buf, "%s%.8g", i ? "," : "", double(v[i]))
                     : std::snprintf(buf, sizeof buf, "%snull", i ? "," : "");
    out.append(buf, size_t(len));
  }
  out += ']';
  return n_bad;
}

int run_logits(int argc, char** argv) {
  Args args(argc, argv, {"exact"});
  args.check_known({"model", "ids", "prefill", "threads", "chunks", "chunk", "exact", "kv-type"});
  ExecContext ctx(threads_from(args), math_mode_from(args));
  auto ids = to_ids(args.i64_list("ids"));
  const int64_t n = int64_t(ids.size());
  int64_t n_prefill = args.i64("prefill", n);
  if (n_prefill < 0 || n_prefill > n) throw Error("--prefill must be between 0 and the number of ids (" + std::to_string(n) + ")");
  auto model = load_model(args.required("model"));
  const int64_t vocab = model->config().vocab_size;
  auto seq = model->new_sequence(0, model->new_kv_pool(kv_type_from(args)));
  std::vector<float> logits(static_cast<size_t>(n * vocab));  // [n, vocab]
  // The prefill part: one call, or several chunk calls when --chunks a,b,c is given.
  std::vector<int64_t> chunks;
  if (args.has("chunks")) chunks = args.i64_list("chunks");
  int64_t pos = 0;
  for (int64_t c : chunks) {
    c = std::min(c, n_prefill - pos);
    if (c <= 0) break;
    BatchItem it{seq.get(), ids.data() + pos, c, logits.data() + pos * vocab, true};
    model->forward({&it, 1}, ctx);
    pos += c;
  }
  // The rest in chunks of --chunk tokens (bounded activation memory).
  if (pos < n_prefill)
    prefill(ctx, *model, *seq, {ids.data() + pos, size_t(n_prefill - pos)}, args.i64("chunk", kDefaultPrefillChunk),
            logits.data() + pos * vocab, true);
  for (int64_t t = n_prefill; t < n; ++t) {
    BatchItem it{seq.get(), ids.data() + t, 1, logits.data() + t * vocab, true};
    model->forward({&it, 1}, ctx);
  }
  std::string out = "{\"logits\": [";
  int64_t n_bad = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (t) out += ", ";
    n_bad += print_float_row(out, logits.data() + t * vocab, vocab);
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (n_bad > 0)
    throw Error(std::to_string(n_bad) + " logits are NaN or infinite (printed as null): the model file is likely "
                "corrupt (check its weights and norm / RoPE parameters)");
  return 0;
}

// --prompt-cache FILE: resume from FILE's sequence state when it holds a prefix of the prompt (all of
// it for models with lightning layers, any common part for KV-only ones), run the rest of the prompt but
// its last token, and save that state to FILE for the next run. Returns what is left to run (the last
// prompt token). Without the flag: the prompt.
std::vector<int32_t> resume_prompt(ExecContext& ctx, Model& model, std::unique_ptr<SequenceState>& seq,
                                   const std::vector<int32_t>& prompt, const Args& args) {
  const std::string file = args.str("prompt-cache", "");
  if (file.empty() || prompt.size() < 2) return prompt;
  const size_t n_keep = prompt.size() - 1;
  int64_t reused = 0;
  if (file_exists(file)) {
    LoadedSequence l = load_sequence_state(file, model, model.new_kv_pool(kv_type_from(args)), seq->n_ctx_max);
    const size_t n = std::min(l.tokens.size(), n_keep);
    const int64_t common = std::mismatch(l.tokens.begin(), l.tokens.begin() + int64_t(n), prompt.begin()).first - l.tokens.begin();
    if (common == int64_t(l.tokens.size()) || (!l.seq->has_lightning() && common > 0)) {
      l.seq->truncate(common);
      seq = std::move(l.seq);
      reused = common;
    }
  }
  prefill(ctx, model, *seq, {prompt.data() + reused, n_keep - size_t(reused)}, kDefaultPrefillChunk, nullptr);
  save_sequence_state(file, model, *seq, {prompt.data(), n_keep});
  std::fprintf(stderr, "prompt cache %s: %lld of %zu prompt tokens reused, state of %zu saved\n", file.c_str(),
               (long long)reused, prompt.size(), n_keep);
  return {prompt.back()};
}

// generate --prompt: raw text in (no chat template), text streamed out; stops at end-of-message.
int generate_text(ExecContext& ctx, const Args& args) {
  const std::string model_path = args.required("model");
  auto model = load_model(model_path);
  auto tok = load_tokenizer_for(model_path, args.str("tokenizer"));
  const int64_t n_new = args.i64("n", 16);
  if (n_new < 0) throw Error("-n must be >= 0");
  GenRequest req;
  req.prompt = tok->encode(args.str("prompt"));
  req.sampling = sampling_from(args);
  req.max_tokens = n_new;
  auto seq = model->new_sequence(args.i64("ctx-size", 0), model->new_kv_pool(kv_type_from(args)));
  if (!args.has("ignore-eos")) req.stop_ids = reply_stop_ids(model->config(), *tok);
  req.prompt = resume_prompt(ctx, *model, seq, req.prompt, args);
  const bool json = args.has("json");
  std::string text;
  bool ended_by_token = false;
  auto out = run_generation(ctx, *model, *seq, std::move(req), tok.get(), false, [&](const GenEvent& ev) {
    text += ev.text;
    ended_by_token = ev.stop_token >= 0;
    if (!json) std::fputs(ev.text.c_str(), stdout), std::fflush(stdout);
  });
  if (ended_by_token) out.pop_back();  // the end token is not part of the output
  if (json) std::printf("%s\n", nlohmann::json{{"ids", out}, {"text", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  else std::printf("\n");
  return 0;
}

int run_generate(int argc, char** argv) {
  Args args(argc, argv, {"json", "stop-eos", "ignore-eos", "exact"});
  args.check_known({"model", "ids", "prompt", "tokenizer", "n", "temp", "seed", "top-k", "top-p", "min-p",
                    "repeat-penalty", "threads", "json", "stop-eos", "ignore-eos", "ctx-size", "exact", "kv-type", "prompt-cache"});
  ExecContext ctx(threads_from(args), math_mode_from(args));
  if (args.has("prompt") == args.has("ids")) throw Error("give exactly one of --ids or --prompt");
  if (args.has("prompt")) return generate_text(ctx, args);
  auto ids = to_ids(args.i64_list("ids"));
  const int64_t n_new = args.i64("n", 16);
  if (n_new < 0) throw Error("-n must be >= 0");
  GenRequest req;
  req.prompt = ids;
  req.sampling = sampling_from(args);
  req.max_tokens = n_new;
  auto model = load_model(args.required("model"));
  const auto& cfg = model->config();
  auto seq = model->new_sequence(args.i64("ctx-size", 0), model->new_kv_pool(kv_type_from(args)));
  if (int64_t(ids.size()) + n_new > seq->n_ctx_max)
    throw Error("prompt (" + std::to_string(ids.size()) + ") + -n (" + std::to_string(n_new) +
                ") exceeds the context limit " + std::to_string(seq->n_ctx_max));
  // --stop-eos: the eos id ends the output (and is printed, the last id).
  if (args.has("stop-eos") && cfg.eos_token_id) req.stop_ids = {int32_t(*cfg.eos_token_id)};
  req.prompt = resume_prompt(ctx, *model, seq, req.prompt, args);
  auto out = run_generation(ctx, *model, *seq, std::move(req), nullptr, false, [](const GenEvent&) {});
  if (args.has("json")) {
    std::printf("%s\n", nlohmann::json{{"ids", out}}.dump().c_str());
  } else {
    for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? " " : "", out[i]);
    std::printf("\n");
  }
  return 0;
}

const Register reg_logits{"logits", "print logits for token ids: --model PATH --ids 1,2,3 [--prefill N] [--exact]", run_logits};
const Register reg_generate{"generate", "generate: --model PATH (--ids 1,2,3 | --prompt TEXT) -n 16 [--temp T] [--json] [--exact] [--kv-type T] "
                            "[--prompt-cache FILE]",
                            run_generate};

}  // namespace

}  // namespace mm::cli
