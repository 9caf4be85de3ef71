#include "tokenizer/pretokenize.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mm::tok {

using nlohmann::json;

namespace {

std::string type_of(const json& j, const char* what) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw Error(std::string("tokenizer.json: ") + what + " without a \"type\"");
  return j["type"].get<std::string>();
}

// GPT-2's pre-tokenization regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

}  // namespace

Normalizer Normalizer::from_json(const json& j) {
  Normalizer n;
  if (j.is_null()) return n;
  std::string type = type_of(j, "normalizer");
  if (type == "Sequence") {
    for (const auto& sub : j.at("normalizers")) {
      Normalizer inner = from_json(sub);
      n.forms_.insert(n.forms_.end(), inner.forms_.begin(), inner.forms_.end());
    }
  } else if (type == "NFC") {
    n.forms_.push_back(NormForm::nfc);
  } else if (type == "NFD") {
    n.forms_.push_back(NormForm::nfd);
  } else if (type == "NFKC") {
    n.forms_.push_back(NormForm::nfkc);
  } else if (type == "NFKD") {
    n.forms_.push_back(NormForm::nfkd);
  } else {
    throw Error("tokenizer.json: unsupported normalizer type '" + type + "'");
  }
  return n;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string out(text);
  for (NormForm f : forms_) out = normalize(out, f);
  return out;
}

PreTokenizer PreTokenizer::from_json(const json& j) {
  PreTokenizer p;
  if (!j.is_null()) p.add_json(j);
  return p;
}

static SplitBehavior parse_behavior(const std::string& s) {
  if (s == "Removed") return SplitBehavior::removed;
  if (s == "Isolated") return SplitBehavior::isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (s == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (s == "Contiguous") return SplitBehavior::contiguous;
  throw Error("tokenizer.json: unknown Split behavior '" + s + "'");
}

void PreTokenizer::add_json(const json& j) {
  std::string type = type_of(j, "pre_tokenizer");
  if (type == "Sequence") {
    for (const auto& sub : j.at("pretokenizers")) add_json(sub);
    return;
  }
  // The model consumes raw bytes once ByteLevel has run, so a later splitter would see different
  // characters than HF's (which splits the mapped text). No real tokenizer does this; refuse it.
  if (byte_level_)
    throw Error("tokenizer.json: pre_tokenizer '" + type + "' after ByteLevel is not supported");
  Step step;
  if (type == "Split") {
    const json& pat = j.at("pattern");
    if (pat.contains("Regex")) {
      step.regex = std::make_shared<Regex>(pat["Regex"].get<std::string>());
    } else if (pat.contains("String")) {
      std::string lit = pat["String"].get<std::string>();
      if (lit.empty()) return;  // HF: an empty string pattern never matches
      step.regex = std::make_shared<Regex>(regex_escape(lit));
    } else {
      throw Error("tokenizer.json: Split pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    step.behavior = parse_behavior(j.at("behavior").get<std::string>());
    step.invert = j.value("invert", false);
    steps_.push_back(std::move(step));
  } else if (type == "Digits") {
    // Each numeric char is a match; Contiguous groups runs of them.
    step.regex = std::make_shared<Regex>("\\p{N}");
    step.behavior = j.value("individual_digits", false) ? SplitBehavior::isolated : SplitBehavior::contiguous;
    steps_.push_back(std::move(step));
  } else if (type == "Whitespace") {
    step.regex = std::make_shared<Regex>("\\w+|[^\\w\\s]+");
    step.behavior = SplitBehavior::removed;
    step.invert = true;
    steps_.push_back(std::move(step));
  } else if (type == "WhitespaceSplit") {
    step.regex = std::make_shared<Regex>("\\s+");
    step.behavior = SplitBehavior::removed;
    steps_.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    if (j.value("add_prefix_space", false)) {
      Step ps;
      ps.prefix_space = true;
      steps_.push_back(std::move(ps));
    }
    if (j.value("use_regex", true)) {
      step.regex = std::make_shared<Regex>(kGpt2Pattern);
      step.behavior = SplitBehavior::isolated;
      steps_.push_back(std::move(step));
    }
    byte_level_ = true;
  } else {
    throw Error("tokenizer.json: unsupported pre_tokenizer type '" + type + "'");
  }
}

void PreTokenizer::apply_split(const Step& step, std::string_view piece, PreTokScratch& s) const {
  // Alternating (range, is_match) spans, as HF's Pattern::find_matches produces them.
  s.matches.clear();
  step.regex->find_all(piece, s.matches);
  auto& spans = s.spans;
  spans.clear();
  size_t prev = 0;
  for (auto [b, e] : s.matches) {
    if (prev != b) spans.push_back({{prev, b}, false});
    spans.push_back({{b, e}, true});
    prev = e;
  }
  if (prev != piece.size()) spans.push_back({{prev, piece.size()}, false});
  if (step.invert)
    for (auto& sp : spans) sp.second = !sp.second;

  auto emit = [&](size_t b, size_t e) {
    if (e > b) s.next.push_back(piece.substr(b, e - b));
  };
  switch (step.behavior) {
    case SplitBehavior::isolated:
      for (auto& [r, m] : spans) emit(r.first, r.second);
      break;
    case SplitBehavior::removed:
      for (auto& [r, m] : spans)
        if (!m) emit(r.first, r.second);
      break;
    case SplitBehavior::merged_with_previous:
    case SplitBehavior::contiguous: {
      // Fold spans into groups: a match joins the previous group (MergedWithPrevious: when the
      // previous span was not a match; Contiguous: when it was of the same kind).
      std::vector<std::pair<size_t, size_t>> groups;
      bool prev_match = false;
      for (size_t i = 0; i < spans.size(); ++i) {
        auto [r, m] = spans[i];
        bool join = step.behavior == SplitBehavior::contiguous ? (m == prev_match) : (m && !prev_match);
        if (join && !groups.empty()) groups.back().second = r.second;
        else groups.push_back(r);
        prev_match = m;
      }
      for (auto [b, e] : groups) emit(b, e);
      break;
    }
    case SplitBehavior::merged_with_next: {
      // Same fold from the right: a match joins the following group.
      std::vector<std::pair<size_t, size_t>> groups;
      bool prev_match = false;
      for (size_t i = spans.size(); i-- > 0;) {
        auto [r, m] = spans[i];
        if (m && !prev_match && !groups.empty()) groups.back().first = r.first;
        else groups.push_back(r);
        prev_match = m;
      }
      for (size_t i = groups.size(); i-- > 0;) emit(groups[i].first, groups[i].second);
      break;
    }
  }
}

void PreTokenizer::split(std::string_view text, PreTokScratch& s) const {
  s.pieces.clear();
  s.owned.clear();
  if (!text.empty()) s.pieces.push_back(text);
  for (const Step& step : steps_) {
    s.next.clear();
    for (std::string_view piece : s.pieces) {
      if (step.prefix_space) {
        if (piece.empty() || piece[0] == ' ') {
          s.next.push_back(piece);
        } else {
          std::string& with_space = s.owned.emplace_back(1, ' ');
          with_space.append(piece);
          s.next.push_back(with_space);
        }
      } else {
        apply_split(step, piece, s);
      }
    }
    std::swap(s.pieces, s.next);
  }
}

}  // namespace mm::tok
