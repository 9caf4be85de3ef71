// `minimax perplexity`: perplexity and bits per byte of a text under a model, scored as llama.cpp's
// perplexity tool scores it: the text's tokens are cut into chunks of --ctx tokens, each chunk is
// run from a fresh sequence, and the second half of each chunk is scored (every scored token sees at
// least ctx/2 tokens of context). No BOS is inserted. Bits per byte divide the scored tokens' total
// negative log-likelihood in bits by the UTF-8 bytes those tokens decode to.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "minimax/text.h"
#include "tools/commands.h"

namespace mm::cli {
namespace {

int run_perplexity(int argc, char** argv) {
  Args args(argc, argv, {"json", "exact"});
  args.check_known({"model", "file", "ctx", "threads", "json", "exact", "kv-type", "tokenizer", "max-chunks"});
  const std::string model_path = args.required("model"), file = args.required("file");
  const std::string text = read_text_file(file);
  if (text.empty()) throw Error(file + " is empty");
  auto model = load_model(model_path);
  const ModelConfig& cfg = model->config();
  const int64_t ctx_len = args.i64("ctx", std::min<int64_t>(512, cfg.max_position_embeddings));
  if (ctx_len < 4) throw Error("--ctx must be at least 4");
  if (ctx_len > cfg.max_position_embeddings)
    throw Error("--ctx " + std::to_string(ctx_len) + " is beyond the model's max_position_embeddings (" +
                std::to_string(cfg.max_position_embeddings) + ")");
  auto tok = load_tokenizer_for(model_path, args.str("tokenizer"));
  const std::vector<int32_t> ids = tok->encode(text, /*parse_special=*/false);
  const int64_t n_chunks_all = int64_t(ids.size()) / ctx_len;
  if (n_chunks_all < 1)
    throw Error(file + " has " + std::to_string(ids.size()) + " tokens: fewer than one chunk of --ctx " +
                std::to_string(ctx_len) + " (use a smaller --ctx or a longer text)");
  const int64_t max_chunks = args.i64("max-chunks", 0);
  const int64_t n_chunks = max_chunks > 0 ? std::min(max_chunks, n_chunks_all) : n_chunks_all;
  for (int32_t id : ids)
    if (id >= cfg.vocab_size) throw Error("the tokenizer produced id " + std::to_string(id) + ", beyond the model's vocab_size");

  ExecContext ctx(threads_from(args), math_mode_from(args));
  const int64_t V = cfg.vocab_size, first = ctx_len / 2;
  std::vector<float> logits(static_cast<size_t>(ctx_len * V));  // [ctx, vocab]
  double nll = 0, n_bytes = 0;
  int64_t n_scored = 0;
  const bool json = args.has("json");
  auto pool = model->new_kv_pool(kv_type_from(args));
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int32_t* chunk = ids.data() + c * ctx_len;
    auto seq = model->new_sequence(ctx_len, pool);
    BatchItem it{seq.get(), chunk, ctx_len, logits.data(), true};
    model->forward({&it, 1}, ctx);
    // logits at j predict token j + 1; score j in [first, ctx − 1)
    for (int64_t j = first; j < ctx_len - 1; ++j) {
      const float* l = logits.data() + j * V;
      float m = l[0];
      for (int64_t v = 1; v < V; ++v) m = std::max(m, l[v]);
      double z = 0;
      for (int64_t v = 0; v < V; ++v) z += std::exp(double(l[v]) - m);
      nll += double(m) + std::log(z) - double(l[chunk[j + 1]]);
      ++n_scored;
    }
    n_bytes += double(tok->decode({chunk + first + 1, size_t(ctx_len - 1 - first)}).size());
    if (!json) std::fprintf(stderr, "[%lld]%.4f%s", (long long)(c + 1), std::exp(nll / double(n_scored)), c + 1 < n_chunks ? "," : "\n");
  }
  const double mean = nll / double(n_scored), ppl = std::exp(mean);
  const double bpb = nll / std::log(2.0) / std::max(1.0, n_bytes);
  if (json) {
    std::printf("%s\n", nlohmann::ordered_json{{"perplexity", ppl},
                                               {"nll_mean", mean},
                                               {"bits_per_token", mean / std::log(2.0)},
                                               {"bits_per_byte", bpb},
                                               {"n_tokens", int64_t(ids.size())},
                                               {"n_scored", n_scored},
                                               {"n_chunks", n_chunks},
                                               {"ctx", ctx_len},
                                               {"bytes_scored", int64_t(n_bytes)},
                                               {"file", file}}
                            .dump()
                            .c_str());
  } else {
    std::printf("perplexity %.4f (nll %.4f per token, %.4f bits per byte) over %lld scored tokens in %lld chunks of %lld\n", ppl,
                mean, bpb, (long long)n_scored, (long long)n_chunks, (long long)ctx_len);
  }
  return 0;
}

const Register reg{"perplexity",
                   "perplexity and bits per byte of a text: --model M --file TEXT [--ctx 512] [--max-chunks N] [--json] "
                   "(llama.cpp's scoring: second half of each chunk)",
                   run_perplexity};

}  // namespace
}  // namespace mm::cli
