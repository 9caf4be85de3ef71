#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace mm::tok {

namespace {

// Match data and a JIT stack per thread: pcre2 code is shareable, match state is not.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchState() {
    // One ovector pair is enough: only the whole-match offsets are read.
    data = pcre2_match_data_create(1, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    // The default 32 KiB JIT stack is too small for lookaheads over very long whitespace runs.
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    MM_CHECK(data && ctx && stack, "pcre2 allocation failed");
    pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~MatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(ctx);
    pcre2_match_data_free(data);
  }
};

MatchState& match_state() {
  thread_local MatchState s;
  return s;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

std::string onig_to_pcre2(std::string_view p) {
  // Oniguruma's \s (what HF runs) is the White_Space property: Z plus TAB..CR and U+0085 (NEL).
  // PCRE2's UCP \s differs (it adds U+180E and lacks NEL), so spell the property out with PCRE2's
  // own Unicode data, in \s, \S and inside classes like [^\s\p{L}].
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      ++i;
      if (e == 's') {
        out += in_class ? "\\p{Z}\\t-\\r\\x{85}" : "[\\p{Z}\\t-\\r\\x{85}]";
      } else if (e == 'S' && !in_class) {
        out += "[^\\p{Z}\\t-\\r\\x{85}]";
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' (or '^]') right after the opening bracket is a literal, not the end of the class.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/#&~ \t\n\r\f\v").find(c) != std::string_view::npos) {
      if (c == '\n') { out += "\\n"; continue; }
      if (c == '\r') { out += "\\r"; continue; }
      if (c == '\t') { out += "\\t"; continue; }
      if (c == '\f') { out += "\\f"; continue; }
      if (c == '\v') { out += "\\x{0b}"; continue; }
      out += '\\';
    }
    out += c;
  }
  return out;
}

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  std::string translated = onig_to_pcre2(pattern);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &err_off, nullptr);
  if (!code_) {
    throw Error("tokenizer regex does not compile at offset " + std::to_string(err_off) + ": " +
                pcre2_message(err) + " (pattern: " + pattern + ")");
  }
  // JIT is an optimisation only: without it (unsupported CPU) pcre2_match interprets the pattern.
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& out) const {
  MatchState& st = match_state();
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  const size_t n = subject.size();
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= n) {
    int rc = jit_ ? pcre2_jit_match(code_, s, n, pos, 0, st.data, st.ctx)
                  : pcre2_match(code_, s, n, pos, PCRE2_NO_UTF_CHECK, st.data, st.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) throw Error("tokenizer regex match failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    size_t b = ov[0], e = ov[1];
    if (b == e && have_last && last_end == e) {
      // Skip this empty match and step over one character, as the onig crate does.
      if (e >= n) return;
      int len = 1;
      decode_utf8(subject.data() + e, &len);
      pos = e + static_cast<size_t>(len);
      continue;
    }
    out.emplace_back(b, e);
    pos = e;
    have_last = true;
    last_end = e;
  }
}

}  // namespace mm::tok
