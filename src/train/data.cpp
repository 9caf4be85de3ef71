#include "train/data.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/mapped_file.h"

namespace mm {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

TokenData::TokenData(std::vector<int32_t> ids, int64_t n_tokens) : ids_(std::move(ids)), n_tokens_(n_tokens) {
  MM_CHECK(n_tokens > 0);
  n_windows_ = ids_.empty() ? 0 : (int64_t(ids_.size()) - 1) / n_tokens;
}

TokenData TokenData::from_text_file(const std::string& path, const Tokenizer& tok, int64_t n_tokens) {
  const std::string text = read_text_file(path);
  TokenData d(tok.encode(text, /*parse_special=*/false), n_tokens);
  if (d.n_windows() == 0)
    throw Error(path + ": " + std::to_string(d.total_ids()) + " tokens, fewer than one window of --seq-len " +
                std::to_string(n_tokens) + " + 1");
  return d;
}

void TokenData::window(int64_t w, int32_t* tokens, int32_t* targets) const {
  MM_CHECK(w >= 0 && w < n_windows_);
  const int32_t* p = ids_.data() + w * n_tokens_;
  std::copy_n(p, n_tokens_, tokens);
  std::copy_n(p + 1, n_tokens_, targets);
}

int64_t TokenData::shuffled_window(uint64_t seed, int64_t position) const {
  const int64_t epoch = position / n_windows_;
  if (epoch != perm_epoch_ || seed != perm_seed_) {
    perm_.resize(size_t(n_windows_));
    std::iota(perm_.begin(), perm_.end(), 0);
    uint64_t s = seed ^ (uint64_t(epoch) * 0xD1B54A32D192ED03ull);
    for (int64_t i = n_windows_ - 1; i > 0; --i) std::swap(perm_[size_t(i)], perm_[size_t(splitmix64(s) % uint64_t(i + 1))]);
    perm_epoch_ = epoch;
    perm_seed_ = seed;
  }
  return perm_[size_t(position % n_windows_)];
}

}  // namespace mm
