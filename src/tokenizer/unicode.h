// UTF-8 and Unicode helpers for the tokenizer. Character properties and normalization come from
// utf8proc; the only table written here is the GPT-2 byte <-> code point map, which is a formula.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mm::tok {

// Result of looking at the UTF-8 sequence that starts at some byte.
enum class Utf8Status { valid, invalid, truncated };
struct Utf8Scan {
  Utf8Status status;
  int n_bytes;  // valid: length of the character; invalid/truncated: length of the maximal subpart
  uint32_t cp;  // the decoded code point when valid
};

// Scans one character at s[0..n) (n > 0), following Unicode's "maximal subpart" rule so that
// replacement with U+FFFD matches Rust's String::from_utf8_lossy (what HF's decoders use).
Utf8Scan scan_utf8(const unsigned char* s, size_t n);

bool is_valid_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cp);

// Appends `bytes` to `out`, replacing each maximal invalid subpart with U+FFFD. With
// hold_truncated_tail, a trailing sequence that is a valid but incomplete prefix is not consumed
// (so a streaming caller can wait for more bytes). Returns the number of bytes consumed.
size_t append_lossy_utf8(std::string& out, std::string_view bytes, bool hold_truncated_tail = false);
inline std::string to_valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_lossy_utf8(out, bytes);
  return out;
}

// Decodes the character at p (text known to be valid UTF-8); sets *n_bytes.
uint32_t decode_utf8(const char* p, int* n_bytes);

// Rust's char::is_whitespace (the White_Space property) and char::is_alphanumeric (approximated by
// general categories L* and N*), used by the added-token rules (lstrip/rstrip/single_word).
bool is_whitespace(uint32_t cp);
bool is_alphanumeric(uint32_t cp);

enum class NormForm { nfc, nfd, nfkc, nfkd };
// Unicode normalization of valid UTF-8 text.
std::string normalize(std::string_view text, NormForm form);

// GPT-2 byte-level alphabet: every byte maps to a printable code point.
const std::array<uint32_t, 256>& byte_to_codepoint();
// Inverse map; -1 for code points outside the alphabet.
int codepoint_to_byte(uint32_t cp);

}  // namespace mm::tok
