// `minimax tokenize` and `minimax detokenize`: run a tokenizer.json from the command line.
//   tokenize   --tokenizer FILE (--text "..." | --jsonl IN.jsonl) [--no-parse-special]
//              prints {"ids": [...]} (one line per input line with --jsonl)
//   detokenize --tokenizer FILE --ids 1,2,3 [--skip-special]   prints {"text": "..."}
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/text.h"
#include "tools/commands.h"

namespace {

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string s = "{\"ids\": [";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(ids[i]);
  }
  return s + "]}";
}

int run_tokenize(int argc, char** argv) {
  mm::cli::Args args(argc, argv, {"no-parse-special"});
  args.check_known({"tokenizer", "text", "jsonl", "no-parse-special"});
  if (args.has("text") == args.has("jsonl")) throw mm::Error("tokenize: give exactly one of --text or --jsonl");
  auto tok = mm::load_tokenizer_file(args.required("tokenizer"));
  const bool parse_special = !args.has("no-parse-special");
  if (args.has("text")) {
    std::printf("%s\n", ids_json(tok->encode(args.str("text"), parse_special)).c_str());
    return 0;
  }
  const std::string path = args.str("jsonl");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mm::Error("cannot open --jsonl file '" + path + "'");
  // Read and validate every line before printing, so bad input never yields partial output.
  std::vector<std::string> texts;
  std::string line;
  for (int64_t n_line = 1; std::getline(in, line); ++n_line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw mm::Error(path + ":" + std::to_string(n_line) + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      throw mm::Error(path + ":" + std::to_string(n_line) + ": expected an object {\"text\": \"...\"}");
    texts.push_back(j["text"].get<std::string>());
  }
  std::vector<std::vector<int32_t>> all;
  if (parse_special) {
    mm::ThreadPool pool(mm::default_thread_count());
    all = tok->encode_batch(texts, pool);
  } else {
    for (const auto& t : texts) all.push_back(tok->encode(t, false));
  }
  for (const auto& ids : all) std::printf("%s\n", ids_json(ids).c_str());
  return 0;
}

int run_detokenize(int argc, char** argv) {
  mm::cli::Args args(argc, argv, {"skip-special"});
  args.check_known({"tokenizer", "ids", "skip-special"});
  auto tok = mm::load_tokenizer_file(args.required("tokenizer"));
  std::vector<int32_t> ids;
  for (int64_t id : args.i64_list("ids")) {
    if (id < 0 || id >= tok->vocab_size())
      throw mm::Error("token id " + std::to_string(id) + " is out of range [0, " + std::to_string(tok->vocab_size()) + ")");
    ids.push_back(static_cast<int32_t>(id));
  }
  nlohmann::json out = {{"text", tok->decode(ids, args.has("skip-special"))}};
  std::printf("{\"text\": %s}\n", out["text"].dump().c_str());
  return 0;
}

const mm::cli::Register reg_tokenize{"tokenize", "encode text with a tokenizer.json, print {\"ids\": [...]}",
                                     run_tokenize};
const mm::cli::Register reg_detokenize{"detokenize", "decode --ids with a tokenizer.json, print {\"text\": ...}",
                                       run_detokenize};

}  // namespace
