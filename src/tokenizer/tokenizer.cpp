#include "tokenizer/tokenizer.h"

#include <atomic>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_depth.h"
#include "core/thread_pool.h"
#include "tokenizer/added_vocab.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

namespace mm {

using nlohmann::json;
using namespace mm::tok;

namespace {

enum class DecoderKind { join_with_space, byte_level };

DecoderKind parse_decoder(const json& j) {
  if (j.is_null()) return DecoderKind::join_with_space;  // HF joins tokens with ' ' without a decoder
  std::string type = j.value("type", std::string());
  if (type == "ByteLevel") return DecoderKind::byte_level;
  if (type == "Sequence") {
    // Only sequences that amount to ByteLevel are accepted: Fuse just concatenates, which is what
    // decoding does anyway.
    bool byte_level = false;
    for (const auto& d : j.at("decoders")) {
      std::string t = d.value("type", std::string());
      if (t == "ByteLevel") byte_level = true;
      else if (t != "Fuse") throw Error("tokenizer.json: unsupported decoder '" + t + "' in a decoder Sequence");
    }
    if (byte_level) return DecoderKind::byte_level;
    throw Error("tokenizer.json: decoder Sequence without ByteLevel is not supported");
  }
  throw Error("tokenizer.json: unsupported decoder type '" + type + "'");
}

// HF's ByteLevel decoder: map each character back to its byte; a token with any character outside
// the byte alphabet is passed through as its UTF-8 text.
std::string byte_level_bytes(const std::string& token) {
  std::string out;
  for (size_t i = 0; i < token.size();) {
    int n = 1;
    uint32_t cp = decode_utf8(token.data() + i, &n);
    int b = codepoint_to_byte(cp);
    if (b < 0) return token;
    out.push_back(static_cast<char>(b));
    i += static_cast<size_t>(n);
  }
  return out;
}

// Texts up to this size reuse their thread's scratch buffers; larger ones get buffers of their own,
// freed when they are done.
constexpr size_t kKeepScratchBytes = size_t(1) << 20;

struct EncodeScratch {
  std::vector<Segment> outer, inner;
  PreTokScratch pre;
  BpeScratch bpe;
};

}  // namespace

struct Tokenizer::Impl {
  Normalizer normalizer;
  PreTokenizer pretokenizer;
  std::unique_ptr<Bpe> bpe;
  std::vector<AddedToken> added;
  StringIdMap added_ids;               // content -> id
  AddedTokenMatcher raw_matcher;       // tokens with normalized = false, matched on the input
  AddedTokenMatcher normalized_matcher;  // normalized = true, matched on normalized text
  DecoderKind decoder = DecoderKind::byte_level;
  int32_t n_vocab = 0;
  std::vector<std::string> token_str;  // id -> raw token string
  std::vector<std::string> token_bytes;  // id -> decoded bytes
  std::vector<uint8_t> kind;           // id -> 0 hole, 1 token, 2 special token

  void check_id(int32_t id) const {
    if (id < 0 || id >= n_vocab)
      throw Error("token id " + std::to_string(id) + " is out of range [0, " + std::to_string(n_vocab) + ")");
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open tokenizer file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error("cannot read tokenizer file '" + path + "'");
  try {
    return from_json_string(ss.str());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

std::unique_ptr<Tokenizer> Tokenizer::from_json_string(const std::string& text) {
  if (json_nesting_depth(text, kMaxJsonDepth + 1) > kMaxJsonDepth)
    throw Error("tokenizer.json nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string("tokenizer.json is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw Error("tokenizer.json: top level must be an object");
  auto impl = std::make_unique<Impl>();
  // By reference: json::value() would copy the (large) model object.
  static const json null_json;
  auto field = [&](const char* key) -> const json& { return j.contains(key) ? j[key] : null_json; };
  try {
    impl->normalizer = Normalizer::from_json(field("normalizer"));
    impl->pretokenizer = PreTokenizer::from_json(field("pre_tokenizer"));
    impl->bpe = std::make_unique<Bpe>(field("model"), impl->pretokenizer.byte_level());
    impl->decoder = parse_decoder(field("decoder"));
    const json& added = field("added_tokens");
    if (!added.is_null() && !added.is_array()) throw Error("tokenizer.json: added_tokens must be an array");
    for (const auto& a : added.is_null() ? json::array() : added) {
      AddedToken t;
      int64_t id = a.at("id").get<int64_t>();
      if (id < 0 || id > INT32_MAX / 2) throw Error("added token id " + std::to_string(id) + " out of range");
      t.id = static_cast<int32_t>(id);
      t.content = a.at("content").get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.normalized = a.value("normalized", !t.special);
      t.single_word = a.value("single_word", false);
      if (!is_valid_utf8(t.content)) throw Error("added token " + std::to_string(id) + " is not valid UTF-8");
      impl->added.push_back(std::move(t));
    }
  } catch (const json::exception& e) {
    throw Error(std::string("tokenizer.json: unexpected structure: ") + e.what());
  }

  Impl& m = *impl;
  int32_t max_id = m.bpe->max_id();
  for (const auto& t : m.added) max_id = std::max(max_id, t.id);
  m.n_vocab = max_id + 1;
  m.token_str.assign(m.n_vocab, std::string());
  m.kind.assign(m.n_vocab, 0);
  for (const auto& [tok, id] : m.bpe->vocab()) m.token_str[id] = tok, m.kind[id] = 1;
  std::vector<const AddedToken*> raw, normalized;
  std::vector<std::string> raw_pat, norm_pat;
  for (const auto& t : m.added) {
    m.token_str[t.id] = t.content;
    m.kind[t.id] = t.special ? 2 : 1;
    m.added_ids[t.content] = t.id;
    if (t.normalized) {
      normalized.push_back(&t);
      norm_pat.push_back(m.normalizer.empty() ? t.content : m.normalizer.apply(t.content));
    } else {
      raw.push_back(&t);
      raw_pat.push_back(t.content);
    }
  }
  m.raw_matcher.build(raw, raw_pat);
  m.normalized_matcher.build(normalized, norm_pat);
  m.token_bytes.resize(m.n_vocab);
  for (int32_t id = 0; id < m.n_vocab; ++id) {
    // Added tokens go through the decoder too (HF decodes every token string the same way).
    m.token_bytes[id] = m.decoder == DecoderKind::byte_level ? byte_level_bytes(m.token_str[id]) : m.token_str[id];
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special, size_t max_tokens) const {
  return encode_impl(text, parse_special, {}, max_tokens);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, std::span<const TextRange> plain, size_t max_tokens) const {
  for (size_t i = 0; i < plain.size(); ++i)
    MM_CHECK(plain[i].begin <= plain[i].end && plain[i].end <= text.size() && (i == 0 || plain[i - 1].end <= plain[i].begin),
             "Tokenizer::encode: plain ranges must be sorted, disjoint and inside the text");
  if (is_valid_utf8(text)) return encode_impl(text, true, plain, max_tokens);
  // Invalid bytes are replaced (U+FFFD, 3 bytes each), which moves the offsets: repair the text piece by
  // piece and move the ranges with it.
  std::string fixed;
  std::vector<TextRange> moved;
  size_t at = 0;
  for (const TextRange& r : plain) {
    fixed += to_valid_utf8(text.substr(at, r.begin - at));
    const size_t b = fixed.size();
    fixed += to_valid_utf8(text.substr(r.begin, r.end - r.begin));
    moved.push_back({b, fixed.size()});
    at = r.end;
  }
  fixed += to_valid_utf8(text.substr(at));
  return encode_impl(fixed, true, moved, max_tokens);
}

std::vector<int32_t> Tokenizer::encode_impl(std::string_view text, bool parse_special, std::span<const TextRange> plain,
                                            size_t max_tokens) const {
  const Impl& m = *impl_;
  std::string repaired;
  if (!is_valid_utf8(text)) {  // (encode with plain ranges repairs piece by piece before it gets here)
    repaired = to_valid_utf8(text);
    text = repaired;
  }
  thread_local EncodeScratch scratch;
  EncodeScratch big;  // a large text's buffers are not kept on the thread (a server has many threads)
  EncodeScratch& s = text.size() > kKeepScratchBytes ? big : scratch;
  std::vector<int32_t> out;
  out.reserve(std::min(text.size() / 3, max_tokens) + 4);
  s.outer.clear();
  m.raw_matcher.split(text, parse_special, s.outer, plain);
  std::string normalized;
  for (const Segment& seg : s.outer) {
    if (out.size() > max_tokens) break;
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    std::string_view piece = seg.text;
    // Special tokens matched after normalization: only in pieces that touch no plain range.
    bool piece_special = parse_special;
    if (piece_special && !plain.empty()) {
      const size_t b = size_t(piece.data() - text.data()), e = b + piece.size();
      for (const TextRange& r : plain)
        if (r.begin < e && b < r.end) piece_special = false;
    }
    if (!m.normalizer.empty()) {
      normalized = m.normalizer.apply(piece);
      piece = normalized;
    }
    s.inner.clear();
    m.normalized_matcher.split(piece, piece_special, s.inner);
    for (const Segment& sub : s.inner) {
      if (out.size() > max_tokens) break;
      if (sub.id >= 0) {
        out.push_back(sub.id);
        continue;
      }
      m.pretokenizer.split(sub.text, s.pre);
      for (std::string_view word : s.pre.pieces) {
        if (out.size() > max_tokens) break;
        m.bpe->encode_word(word, out, s.bpe);
      }
    }
  }
  if (out.size() > max_tokens) out.resize(max_tokens + 1);
  return out;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          ThreadPool& pool) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  // Texts differ in length, so threads pull the next text from a shared counter rather than
  // taking fixed contiguous chunks.
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  pool.parallel_for(pool.n_threads(), [&](int64_t, int64_t, int) {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= texts.size()) return;
      try {
        out[i] = encode(texts[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    m.check_id(id);
    if (m.kind[id] == 0 || (skip_special && m.kind[id] == 2)) continue;
    if (m.decoder == DecoderKind::join_with_space && !first) bytes.push_back(' ');
    bytes += m.token_bytes[id];
    first = false;
  }
  return to_valid_utf8(bytes);
}

int32_t Tokenizer::vocab_size() const { return impl_->n_vocab; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_ids.find(token); it != impl_->added_ids.end()) return it->second;
  if (auto it = impl_->bpe->vocab().find(token); it != impl_->bpe->vocab().end()) return it->second;
  return std::nullopt;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  impl_->check_id(id);
  return impl_->token_str[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab && impl_->kind[id] == 2;
}

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special) : tok_(tok), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  const Tokenizer::Impl& m = *tok_.impl_;
  m.check_id(id);
  std::string out;
  if (m.kind[id] == 0 || (skip_special_ && m.kind[id] == 2)) return out;
  if (m.decoder == DecoderKind::join_with_space && !first_) pending_.push_back(' ');
  first_ = false;
  pending_ += m.token_bytes[id];
  size_t consumed = append_lossy_utf8(out, pending_, /*hold_truncated_tail=*/true);
  pending_.erase(0, consumed);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  append_lossy_utf8(out, pending_);
  pending_.clear();
  return out;
}

}  // namespace mm
