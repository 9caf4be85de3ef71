#include "tokenizer/added_vocab.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace mm::tok {

void AddedTokenMatcher::build(const std::vector<const AddedToken*>& tokens, const std::vector<std::string>& patterns) {
  tokens_.clear();
  nodes_.assign(1, Node{});
  root_.fill(-1);
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::string& p = patterns[t];
    if (p.empty()) continue;  // an empty token can never be matched
    tokens_.push_back(tokens[t]);
    int32_t node = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(p[i]);
      int32_t child = -1;
      if (node == 0) {
        child = root_[c];
      } else {
        for (auto& [k, v] : nodes_[node].next)
          if (k == c) child = v;
      }
      if (child < 0) {
        child = static_cast<int32_t>(nodes_.size());
        nodes_.push_back(Node{});
        if (node == 0) root_[c] = child;
        else nodes_[node].next.push_back({c, child});
      }
      node = child;
    }
    // Two tokens with the same content: the later one wins, as in a map keyed by content.
    nodes_[node].token = static_cast<int32_t>(tokens_.size() - 1);
  }
}

bool AddedTokenMatcher::find(std::string_view text, size_t from, size_t* begin, size_t* end, int32_t* token) const {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t start = from; start < text.size(); ++start) {
    int32_t node = root_[p[start]];
    if (node < 0) continue;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t i = start + 1;; ++i) {
      if (nodes_[node].token >= 0) best = nodes_[node].token, best_end = i;
      if (i >= text.size()) break;
      int32_t child = -1;
      for (auto& [k, v] : nodes_[node].next)
        if (k == p[i]) child = v;
      if (child < 0) break;
      node = child;
    }
    if (best >= 0) {
      *begin = start, *end = best_end, *token = best;
      return true;
    }
  }
  return false;
}

// The character before `pos` / at `pos` is alphanumeric (HF's ends_with_word / starts_with_word).
static bool word_char_before(std::string_view s, size_t pos) {
  if (pos == 0) return false;
  size_t i = pos - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  int n = 1;
  return is_alphanumeric(decode_utf8(s.data() + i, &n));
}

static bool word_char_at(std::string_view s, size_t pos) {
  if (pos >= s.size()) return false;
  int n = 1;
  return is_alphanumeric(decode_utf8(s.data() + pos, &n));
}

void AddedTokenMatcher::split(std::string_view text, bool parse_special, std::vector<Segment>& out,
                              std::span<const TextRange> plain) const {
  size_t emitted = 0, from = 0, b = 0, e = 0, next_plain = 0;
  int32_t t = -1;
  while (!tokens_.empty() && from < text.size() && find(text, from, &b, &e, &t)) {
    from = e;  // the search resumes after this match, whether or not it is used
    const AddedToken& tok = *tokens_[t];
    if (!parse_special && tok.special) continue;
    if (tok.special && !plain.empty()) {  // matches come in increasing order: so can the ranges
      while (next_plain < plain.size() && plain[next_plain].end <= b) ++next_plain;
      if (next_plain < plain.size() && plain[next_plain].begin < e) {
        // Not a token here. Search again from the next byte (a token of the template may start inside
        // this match), or past the plain range when the match started in it (none may start there).
        const TextRange& r = plain[next_plain];
        from = b >= r.begin ? std::max(r.end, b + 1) : b + 1;
        continue;
      }
    }
    if (tok.single_word && (word_char_before(text, b) || word_char_at(text, e))) continue;
    if (tok.lstrip) {
      // Swallow the whitespace before the token, but not text already emitted.
      size_t nb = b;
      while (nb > emitted) {
        size_t i = nb - 1;
        while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
        int n = 1;
        if (!is_whitespace(decode_utf8(text.data() + i, &n))) break;
        nb = i;
      }
      b = nb;
    }
    if (tok.rstrip) {
      while (e < text.size()) {
        int n = 1;
        if (!is_whitespace(decode_utf8(text.data() + e, &n))) break;
        e += static_cast<size_t>(n);
      }
      from = e;
    }
    if (b < emitted) b = emitted;
    if (emitted < b) out.push_back({text.substr(emitted, b - emitted), -1});
    out.push_back({text.substr(b, e - b), tok.id});
    emitted = e;
  }
  if (emitted < text.size()) out.push_back({text.substr(emitted), -1});
}

}  // namespace mm::tok
