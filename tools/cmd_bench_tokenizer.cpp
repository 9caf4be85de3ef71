// `minimax bench-tokenizer --tokenizer FILE [--text-file F] [--threads N] [--json]`
// Encoding throughput: one thread over the corpus document by document, then encode_batch over all
// threads. Without --text-file the corpus is the golden.jsonl texts (beside the tokenizer, else the
// shared qwen3 goldens) repeated to about 4 MB.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/runtime.h"
#include "minimax/text.h"
#include "tools/commands.h"

namespace {

constexpr size_t kDefaultCorpusBytes = 4u << 20;

std::vector<std::string> golden_texts(const std::string& tokenizer_path) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates = {fs::path(tokenizer_path).parent_path() / "golden.jsonl",
                                      fs::path("../shared/testdata/tokenizers/qwen3/golden.jsonl")};
  for (const auto& p : candidates) {
    std::ifstream in(p);
    if (!in) continue;
    std::vector<std::string> texts;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("text") && j["text"].is_string() && !j["text"].get<std::string>().empty())
        texts.push_back(j["text"].get<std::string>());
    }
    if (!texts.empty()) return texts;
  }
  throw mm::Error("bench-tokenizer: no golden.jsonl found for a default corpus; pass --text-file");
}

// Splits a text file into ~4 KiB documents at line ends, so batch encoding has work to spread.
std::vector<std::string> file_documents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mm::Error("cannot open --text-file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  if (all.empty()) throw mm::Error("--text-file '" + path + "' is empty");
  std::vector<std::string> docs;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t cut = std::min(all.size(), pos + 4096);
    size_t nl = all.find('\n', cut);
    cut = nl == std::string::npos ? all.size() : nl + 1;
    docs.push_back(all.substr(pos, cut - pos));
    pos = cut;
  }
  return docs;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(int argc, char** argv) {
  mm::cli::Args args(argc, argv, {"json"});
  args.check_known({"tokenizer", "text-file", "threads", "json"});
  const std::string path = args.required("tokenizer");
  int64_t n_threads = args.i64("threads", mm::default_thread_count());
  if (n_threads < 1 || n_threads > 1024) throw mm::Error("--threads must be in [1, 1024]");

  auto t_load = std::chrono::steady_clock::now();
  auto tok = mm::Tokenizer::from_file(path);
  const double load_s = seconds_since(t_load);

  std::vector<std::string> docs;
  if (args.has("text-file")) {
    docs = file_documents(args.str("text-file"));
  } else {
    std::vector<std::string> base = golden_texts(path);
    size_t n_bytes = 0;
    while (n_bytes < kDefaultCorpusBytes) {
      for (const auto& t : base) docs.push_back(t), n_bytes += t.size();
    }
  }
  size_t n_bytes = 0;
  for (const auto& d : docs) n_bytes += d.size();

  auto t1 = std::chrono::steady_clock::now();
  size_t n_tokens = 0;
  std::vector<std::vector<int32_t>> single(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    single[i] = tok->encode(docs[i]);
    n_tokens += single[i].size();
  }
  const double single_s = seconds_since(t1);

  mm::ThreadPool pool(static_cast<int>(n_threads));
  auto t2 = std::chrono::steady_clock::now();
  auto batch = tok->encode_batch(docs, pool);
  const double batch_s = seconds_since(t2);
  const bool consistent = batch == single;

  const double mb = static_cast<double>(n_bytes) / 1e6;
  nlohmann::json out = {{"tokenizer", path},
                        {"corpus_bytes", n_bytes},
                        {"n_docs", docs.size()},
                        {"n_tokens", n_tokens},
                        {"load_s", load_s},
                        {"threads", n_threads},
                        {"single_thread_mb_s", mb / single_s},
                        {"batch_mb_s", mb / batch_s},
                        {"single_thread_tokens_s", static_cast<double>(n_tokens) / single_s},
                        {"batch_consistent", consistent}};
  if (args.has("json")) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("tokenizer %s: %.1f MB corpus, %zu docs, %zu tokens, load %.2f s\n", path.c_str(), mb, docs.size(),
                n_tokens, load_s);
    std::printf("single thread: %.2f MB/s (%.0f tokens/s)\n", mb / single_s, static_cast<double>(n_tokens) / single_s);
    std::printf("batch, %lld threads: %.2f MB/s%s\n", static_cast<long long>(n_threads), mb / batch_s,
                consistent ? "" : " (MISMATCH with single-thread ids!)");
  }
  if (!consistent) throw mm::Error("bench-tokenizer: batch ids differ from single-thread ids");
  return 0;
}

const mm::cli::Register reg{"bench-tokenizer", "tokenizer encode throughput (single thread and batch)", run};

}  // namespace
