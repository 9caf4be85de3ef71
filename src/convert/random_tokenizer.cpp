// A byte-level BPE trainer and the text it learns from, for the tokenizers of random-weight models.
#include "convert/random_tokenizer.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "io/gguf_tokenizer.h"

namespace mm {

namespace {

using nlohmann::json;

// GPT-2's byte -> printable character table, in its order (printable Latin-1 bytes first, mapped to
// themselves; the rest to U+0100 upwards).
std::vector<std::pair<int, std::string>> byte_symbols() {
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) s += char(cp);
    else s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));  // all < U+0800 here
    return s;
  };
  std::vector<std::pair<int, std::string>> out;
  std::vector<bool> direct(256, false);
  for (int b = 0; b < 256; ++b) direct[size_t(b)] = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
  for (int b = 0; b < 256; ++b)
    if (direct[size_t(b)]) out.emplace_back(b, utf8(uint32_t(b)));
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b)
    if (!direct[size_t(b)]) out.emplace_back(b, utf8(next++));
  return out;
}

// English text the merges of random-model tokenizers are learned from (written for this purpose).
constexpr const char* kMergeText =
    "The engine reads the model from the files on the disk and then runs the layers one after another. "
    "Each layer has an attention part and a mixture of experts part, and the router picks the experts "
    "that the token should use. The weights are random, so the text that comes out of the model is not "
    "meant to be read; it is there so that the whole pipeline can be tested from the beginning to the end. "
    "There is a tokenizer that turns the text into numbers, and the numbers into text again. When the "
    "model writes the end of the message, the generation stops, and the chat shows what the assistant "
    "said. In the morning the weather was cold, but in the afternoon the sun came out and the children "
    "played in the garden with their friends. They were thinking about the question for a long time "
    "before they answered it, and then they wrote the answer on the paper and gave it to the teacher. "
    "Numbers such as 2024, 512 and 128 appear in the benchmarks, together with the threads and the tokens "
    "per second that the engine reaches on the machine.";

// Byte-level BPE merges learned from kMergeText: words (a leading space joins the letters after it)
// as GPT-2 byte symbols, most frequent adjacent pair merged first (ties: smallest pair), until every word
// is one symbol or `max_merges` are found.
std::vector<std::pair<std::string, std::string>> learn_merges(int max_merges) {
  const auto syms = byte_symbols();
  std::vector<std::string> sym_of(256);
  for (const auto& [b, s] : syms) sym_of[size_t(b)] = s;
  std::map<std::vector<std::string>, int64_t> words;
  const std::string text = kMergeText;
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    if (text[j] == ' ' && j + 1 < text.size() && is_alpha(text[j + 1])) ++j;
    if (is_alpha(text[j])) {
      while (j < text.size() && is_alpha(text[j])) ++j;
    } else {
      ++j;
    }
    std::vector<std::string> w;
    for (size_t k = i; k < j; ++k) w.push_back(sym_of[static_cast<unsigned char>(text[k])]);
    ++words[w];
    i = j;
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (int(merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int64_t> counts;
    for (const auto& [w, n] : words)
      for (size_t k = 0; k + 1 < w.size(); ++k) counts[{w[k], w[k + 1]}] += n;
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_n = 0;  // pairs seen once count too (they spell out whole rare words)
    for (const auto& [p, n] : counts)
      if (n > best_n) best = &p, best_n = n;
    if (!best) break;
    const auto pair = *best;
    merges.push_back(pair);
    std::map<std::vector<std::string>, int64_t> next;
    for (const auto& [w, n] : words) {
      std::vector<std::string> m;
      for (size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == pair.first && w[k + 1] == pair.second) {
          m.push_back(w[k] + w[k + 1]);
          ++k;
        } else {
          m.push_back(w[k]);
        }
      }
      next[m] += n;
    }
    words = std::move(next);
  }
  return merges;
}

}  // namespace

const std::vector<std::string>& minimax_special_tokens() {
  static const std::vector<std::string> v = {
      "]!p~[", "]~b]", "[e~[", "]!d~[", "]~!b[", "<think>", "</think>", "<minimax:tool_call>",
      "</minimax:tool_call>", "<tool_calls>", "</tool_calls>", "<beginning_of_sentence>", "<end_of_sentence>",
      "<begin_of_document>", "<end_of_document>", "<function_call>"};
  return v;
}

json make_random_model_tokenizer(int64_t vocab_size, int max_merges) {
  using ojson = json;  // std::map objects: the vocabulary has tens of thousands of keys
  const auto& specials = minimax_special_tokens();
  const int64_t n_special = int64_t(specials.size());
  if (vocab_size < 256 + n_special)
    throw Error("a tokenizer needs vocab_size >= " + std::to_string(256 + n_special) + " (256 bytes + " +
                std::to_string(n_special) + " special tokens)");
  const int64_t room = vocab_size - 256 - n_special;
  const auto merges = learn_merges(int(std::min<int64_t>(room, max_merges)));
  ojson vocab = ojson::object();
  int64_t id = 0;
  for (const auto& [b, s] : byte_symbols()) vocab[s] = id++;
  ojson merge_list = ojson::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  while (id < vocab_size - n_special) {
    vocab["<|filler_" + std::to_string(id) + "|>"] = id;
    ++id;
  }
  ojson added = ojson::array();
  for (const auto& s : specials) {
    vocab[s] = id;
    added.push_back({{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
    ++id;
  }
  ojson t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = added;
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", kMinimaxRegex}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  t["post_processor"] = nullptr;
  t["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  t["model"] = {{"type", "BPE"},         {"dropout", nullptr},          {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", false},     {"vocab", vocab},
                {"merges", merge_list}};
  return t;
}

}  // namespace mm
