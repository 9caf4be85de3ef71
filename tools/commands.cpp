#include "tools/commands.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "core/error.h"
#include "minimax/generation.h"
#include "minimax/runtime.h"

namespace mm::cli {

std::vector<Command>& commands() {
  static std::vector<Command> c;
  return c;
}

Args::Args(int argc, char** argv, std::vector<std::string> flags) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 2 || a[0] != '-') throw Error("unexpected argument '" + a + "'");
    std::string key = a.substr(a[1] == '-' ? 2 : 1);
    auto eq = key.find('=');
    if (eq != std::string::npos) {
      values_[key.substr(0, eq)] = key.substr(eq + 1);
      continue;
    }
    if (std::find(flags.begin(), flags.end(), key) != flags.end()) {
      values_[key] = std::string(1, '1');  // (assigning "1" trips a GCC 12 -Wstringop-overflow false positive)
      continue;
    }
    if (i + 1 >= argc) throw Error("option --" + key + " needs a value");
    values_[key] = argv[++i];
  }
}

std::string Args::str(const std::string& key, const std::string& def) const {
  auto it = values_.find(key);
  return it == values_.end() ? def : it->second;
}

std::string Args::required(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw Error("missing required option --" + key);
  return it->second;
}

static int64_t parse_i64(const std::string& key, const std::string& s) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || errno) throw Error("option --" + key + ": '" + s + "' is not an integer");
  return v;
}

int64_t Args::i64(const std::string& key, int64_t def) const {
  auto it = values_.find(key);
  return it == values_.end() ? def : parse_i64(key, it->second);
}

double Args::f64(const std::string& key, double def) const {
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end) throw Error("option --" + key + ": '" + it->second + "' is not a number");
  return v;
}

std::vector<int64_t> Args::i64_list(const std::string& key) const {
  std::string s = required(key);
  std::vector<int64_t> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    std::string tok = s.substr(p, q - p);
    if (!tok.empty()) out.push_back(parse_i64(key, tok));
    p = q + 1;
  }
  if (out.empty()) throw Error("option --" + key + " is empty");
  return out;
}

void Args::check_known(const std::vector<std::string>& known) const {
  for (const auto& [k, v] : values_)
    if (std::find(known.begin(), known.end(), k) == known.end()) throw Error("unknown option --" + k);
}

MathMode math_mode_from(const Args& args) {
  MathMode m;
  m.quant = args.has("exact") ? QuantMath::Exact : QuantMath::Int8;
  const char* e = std::getenv("MM_BF16_PREFILL");
  m.bf16_prefill = e && e[0] == '1';
  return m;
}

int threads_from(const Args& args) {
  const int64_t n = args.i64("threads", 0);
  if (n > 4096) throw Error("--threads must be at most 4096 (0: one per physical core)");
  return n < 1 ? 0 : int(n);
}


SamplingParams sampling_from(const Args& args) {
  SamplingParams sp;
  sp.temperature = float(args.f64("temp", 0.0));
  sp.seed = uint64_t(args.i64("seed", 0));
  sp.top_k = args.i64("top-k", 0);
  sp.top_p = float(args.f64("top-p", 1.0));
  sp.min_p = float(args.f64("min-p", 0.0));
  sp.repetition_penalty = float(args.f64("repeat-penalty", 1.0));
  validate(sp, ParamStyle::Cli);
  return sp;
}

KvType kv_type_from(const Args& args) {
  const bool exact = args.has("exact");
  if (!args.has("kv-type")) return exact ? KvType::F32 : kDefaultKvType;
  const KvType t = parse_kv_type(args.str("kv-type"));
  if (exact && t != KvType::F32) throw Error("--exact keeps the KV cache in f32: drop --kv-type or --exact");
  return t;
}

}  // namespace mm::cli
