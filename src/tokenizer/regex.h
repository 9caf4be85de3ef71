// A PCRE2 pattern compiled in UTF + UCP mode (so \p{L}, \s, \w are Unicode-aware) and JIT-compiled,
// iterated the way HF tokenizers iterate Oniguruma matches.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace mm::tok {

class Regex {
 public:
  // Throws mm::Error if the pattern does not compile. `pattern` uses Oniguruma/Perl syntax.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte offsets of every match in `subject` (valid UTF-8) to `out`.
  // Like the Rust onig crate's find_iter: matches do not overlap, and an empty match directly after
  // the previous match is skipped. Thread-safe (match state is per thread).
  void find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  pcre2_real_code_8* code_ = nullptr;
  bool jit_ = false;
};

// Rewrites an Oniguruma pattern for PCRE2 where the two differ in ways the tokenizers hit.
std::string onig_to_pcre2(std::string_view pattern);

// Escapes every regex metacharacter so `literal` matches itself.
std::string regex_escape(std::string_view literal);

}  // namespace mm::tok
