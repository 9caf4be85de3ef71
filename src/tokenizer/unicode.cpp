#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace mm::tok {

Utf8Scan scan_utf8(const unsigned char* s, size_t n) {
  const unsigned b0 = s[0];
  if (b0 < 0x80) return {Utf8Status::valid, 1, b0};
  int len;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte (excludes overlongs/surrogates)
  uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {Utf8Status::invalid, 1, 0};
  }
  for (int k = 1; k < len; ++k) {
    if (static_cast<size_t>(k) >= n) return {Utf8Status::truncated, k, 0};
    const unsigned b = s[k];
    const unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return {Utf8Status::invalid, k, 0};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Utf8Status::valid, len, cp};
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    // Skip ASCII eight bytes at a time: most text is mostly ASCII.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    Utf8Scan sc = scan_utf8(p + i, n - i);
    if (sc.status != Utf8Status::valid) return false;
    i += sc.n_bytes;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t append_lossy_utf8(std::string& out, std::string_view bytes, bool hold_truncated_tail) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0, run = 0;  // [run, i) is a pending run of valid bytes, copied in one go
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    Utf8Scan sc = scan_utf8(p + i, n - i);
    if (sc.status == Utf8Status::valid) {
      i += sc.n_bytes;
      continue;
    }
    out.append(bytes.data() + run, i - run);
    if (sc.status == Utf8Status::truncated && hold_truncated_tail) return i;
    out.append("\xEF\xBF\xBD");
    i += sc.n_bytes;
    run = i;
  }
  out.append(bytes.data() + run, n - run);
  return n;
}

uint32_t decode_utf8(const char* p, int* n_bytes) {
  Utf8Scan sc = scan_utf8(reinterpret_cast<const unsigned char*>(p), 4);
  *n_bytes = sc.n_bytes > 0 ? sc.n_bytes : 1;
  return sc.status == Utf8Status::valid ? sc.cp : 0xFFFD;
}

bool is_whitespace(uint32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return true;
  if (cp < 0x80) return cp == 0x20;
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

bool is_alphanumeric(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

static std::string normalize_all(std::string_view text, NormForm form) {
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormForm::nfc: options |= UTF8PROC_COMPOSE; break;
    case NormForm::nfd: options |= UTF8PROC_DECOMPOSE; break;
    case NormForm::nfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormForm::nfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &dst,
                                    static_cast<utf8proc_option_t>(options));
  // utf8proc only fails on invalid UTF-8, which callers have already replaced; keep the text as is.
  if (n < 0) return std::string(text);
  std::string out(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
  std::free(dst);
  return out;
}

std::string normalize(std::string_view text, NormForm form) {
  // For NFC, characters below U+0300 (ASCII, Latin-1, Latin Extended) are unchanged by every form and are
  // never the second half of a composition, so normalization never reaches back across one. Only
  // the stretches around characters >= U+0300 go through utf8proc; each stretch starts at the
  // last such "safe" character before it (which may compose with a following mark) and ends before
  // the next safe character. The other forms change some Latin-1 characters, so for them only
  // ASCII is safe.
  const uint32_t safe_below = form == NormForm::nfc ? 0x300 : 0x80;
  std::string out;
  out.reserve(text.size());
  const size_t n = text.size();
  size_t done = 0;       // text[0, done) has been emitted
  size_t last_safe = 0;  // start of the most recent safe character
  size_t i = 0;
  while (i < n) {
    int len = 1;
    uint32_t cp = static_cast<unsigned char>(text[i]) < 0x80 ? static_cast<unsigned char>(text[i])
                                                               : decode_utf8(text.data() + i, &len);
    if (cp < safe_below) {
      last_safe = i;
      i += static_cast<size_t>(len);
      continue;
    }
    size_t begin = std::max(done, last_safe);
    size_t end = i;
    while (end < n) {
      int l = 1;
      uint32_t c = decode_utf8(text.data() + end, &l);
      if (c < safe_below) break;
      end += static_cast<size_t>(l);
    }
    out.append(text.data() + done, begin - done);
    out += normalize_all(text.substr(begin, end - begin), form);
    done = end;
    i = end;
  }
  out.append(text.data() + done, n - done);
  return out;
}

namespace {
struct ByteMaps {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> from_cp{};  // every mapped code point is < 512
  ByteMaps() {
    from_cp.fill(-1);
    // Printable Latin-1 bytes stand for themselves; the rest are shifted to 256, 257, ... in order.
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};
const ByteMaps& byte_maps() {
  static const ByteMaps m;
  return m;
}
}  // namespace

const std::array<uint32_t, 256>& byte_to_codepoint() { return byte_maps().to_cp; }

int codepoint_to_byte(uint32_t cp) { return cp < 512 ? byte_maps().from_cp[cp] : -1; }

}  // namespace mm::tok
