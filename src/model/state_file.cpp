#include "model/state_file.h"

#include <cstring>
#include <fstream>

#include "core/error.h"

namespace mm {

namespace {

constexpr char kMagic[8] = {'M', 'M', 'S', 'E', 'Q', 'S', 'T', '\0'};
constexpr uint32_t kVersion = 1;

struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  }
  template <class T>
  void add(const T& v) {
    add(&v, sizeof v);
  }
};

struct Writer {
  std::ofstream f;
  Fnv sum;
  void bytes(const void* p, size_t n) {
    f.write(static_cast<const char*>(p), std::streamsize(n));
    sum.add(p, n);
  }
  template <class T>
  void put(const T& v) {
    bytes(&v, sizeof v);
  }
};

struct Reader {
  std::ifstream f;
  std::string path;
  Fnv sum;
  void bytes(void* p, size_t n) {
    if (!f.read(static_cast<char*>(p), std::streamsize(n)))
      throw Error("state file " + path + " is truncated (save it again)");
    sum.add(p, n);
  }
  template <class T>
  T get() {
    T v;
    bytes(&v, sizeof v);
    return v;
  }
};

}  // namespace

uint64_t model_fingerprint(const ModelConfig& c) {
  Fnv f;
  f.add(c.arch);
  for (int64_t v : {c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
                    c.vocab_size, c.rotary_dim})
    f.add(v);
  f.add(c.rope_theta);
  for (const auto& l : c.layers) f.add(l.attn_kind);
  return f.h;
}

void save_sequence_state(const std::string& path, const Model& model, const SequenceState& seq,
                         std::span<const int32_t> tokens) {
  MM_CHECK(int64_t(tokens.size()) == seq.n_past);
  Writer w;
  w.f.open(path, std::ios::binary | std::ios::trunc);
  if (!w.f) throw Error("cannot write the state file " + path);
  w.bytes(kMagic, sizeof kMagic);
  w.put(kVersion);
  w.put(model_fingerprint(model.config()));
  uint32_t kv_type = 0;
  for (const auto& l : seq.layers)
    if (auto* kv = std::get_if<KvCache>(&l)) kv_type = uint32_t(kv->pool().type());
  w.put(kv_type);
  w.put(uint32_t(seq.layers.size()));
  w.put(seq.n_past);
  w.bytes(tokens.data(), tokens.size() * sizeof(int32_t));
  for (const auto& l : seq.layers) {
    if (auto* ls = std::get_if<LinearState>(&l)) {
      w.bytes(ls->s.data(), ls->s.size() * sizeof(float));
      continue;
    }
    auto& kv = const_cast<KvCache&>(std::get<KvCache>(l));
    const KvView v = kv.view();
    for (int64_t j = 0; j < seq.n_past; ++j) w.bytes(v.k_row(j), v.row_bytes);
    for (int64_t j = 0; j < seq.n_past; ++j) w.bytes(v.v_row(j), v.row_bytes);
  }
  const uint64_t sum = w.sum.h;
  w.f.write(reinterpret_cast<const char*>(&sum), sizeof sum);
  if (!w.f.flush()) throw Error("cannot write the state file " + path + " (disk full?)");
}

LoadedSequence load_sequence_state(const std::string& path, const Model& model, std::shared_ptr<KvPool> pool,
                                   int64_t n_ctx_max) {
  Reader r;
  r.path = path;
  r.f.open(path, std::ios::binary);
  if (!r.f) throw Error("cannot open the state file " + path);
  char magic[8];
  r.bytes(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) throw Error(path + " is not a minimax.cpp state file");
  if (const auto v = r.get<uint32_t>(); v != kVersion)
    throw Error("state file " + path + " has format version " + std::to_string(v) + ", this build reads version " +
                std::to_string(kVersion) + " (save it again)");
  if (r.get<uint64_t>() != model_fingerprint(model.config()))
    throw Error("state file " + path + " was saved by another model (its layers, heads or sizes differ): save it "
                "again with this model");
  const auto kv_type = r.get<uint32_t>();
  LoadedSequence out;
  out.seq = model.new_sequence(n_ctx_max, std::move(pool));
  SequenceState& s = *out.seq;
  for (const auto& l : s.layers)
    if (auto* kv = std::get_if<KvCache>(&l); kv && uint32_t(kv->pool().type()) != kv_type)
      throw Error("state file " + path + " stores the KV cache as " +
                  (kv_type <= uint32_t(KvType::Q8_0) ? kv_type_name(KvType(kv_type)) : "an unknown type") +
                  ", this run uses " + kv_type_name(kv->pool().type()) + ": pass the same --kv-type");
  if (r.get<uint32_t>() != s.layers.size()) throw Error("state file " + path + " has another number of layers");
  const auto n_past = r.get<int64_t>();
  if (n_past < 0 || n_past > s.n_ctx_max)
    throw Error("state file " + path + " holds " + std::to_string(n_past) + " tokens, more than the context size " +
                std::to_string(s.n_ctx_max));
  // The size the header implies, checked before anything is allocated for it.
  uint64_t expect = uint64_t(r.f.tellg()) + uint64_t(n_past) * 4 + 8;
  for (const auto& l : s.layers) {
    if (auto* ls = std::get_if<LinearState>(&l)) expect += ls->s.size() * 4;
    else expect += 2 * uint64_t(n_past) * std::get<KvCache>(l).pool().row_bytes();
  }
  const auto here = r.f.tellg();
  r.f.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(r.f.tellg());
  r.f.seekg(here);
  if (size != expect)
    throw Error("state file " + path + " has " + std::to_string(size) + " bytes, its header says " + std::to_string(expect) +
                " (truncated or not saved by this model: save it again)");
  out.tokens.resize(size_t(n_past));
  r.bytes(out.tokens.data(), out.tokens.size() * sizeof(int32_t));
  for (int32_t t : out.tokens)
    if (t < 0 || t >= model.config().vocab_size) throw Error("state file " + path + " holds an out-of-range token id");
  s.prepare(n_past);
  for (auto& l : s.layers) {
    if (auto* ls = std::get_if<LinearState>(&l)) {
      r.bytes(ls->s.data(), ls->s.size() * sizeof(float));
      continue;
    }
    const KvView v = std::get<KvCache>(l).view();
    for (int64_t j = 0; j < n_past; ++j) r.bytes(const_cast<uint8_t*>(v.k_row(j)), v.row_bytes);
    for (int64_t j = 0; j < n_past; ++j) r.bytes(const_cast<uint8_t*>(v.v_row(j)), v.row_bytes);
  }
  const uint64_t want = r.sum.h;
  uint64_t got = 0;
  if (!r.f.read(reinterpret_cast<char*>(&got), sizeof got)) throw Error("state file " + path + " is truncated (save it again)");
  if (got != want) throw Error("state file " + path + " is corrupted (checksum mismatch): save it again");
  if (r.f.peek() != std::char_traits<char>::eof()) throw Error("state file " + path + " has trailing bytes");
  s.n_past = n_past;
  return out;
}

}  // namespace mm
