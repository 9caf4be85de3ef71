// Training data: a text file tokenized once into ids, cut into windows of n_tokens + 1 (inputs and
// their next tokens), visited in a shuffled order per epoch. The order is a pure function of (seed,
// position): a run resumed at position p draws exactly the batches it would have drawn.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace mm {

class TokenData {
 public:
  TokenData(std::vector<int32_t> ids, int64_t n_tokens);
  // Reads and tokenizes `path` (whole, as `minimax tokenize` would). Throws mm::Error when it has
  // fewer than n_tokens + 1 tokens.
  static TokenData from_text_file(const std::string& path, const Tokenizer& tok, int64_t n_tokens);

  int64_t n_windows() const { return n_windows_; }
  int64_t n_tokens() const { return n_tokens_; }
  int64_t total_ids() const { return int64_t(ids_.size()); }
  // Window w (0 <= w < n_windows): tokens [w·n, w·n + n), targets shifted by one.
  void window(int64_t w, int32_t* tokens, int32_t* targets) const;
  // The window the position-th draw of the shuffled stream visits: epoch = position / n_windows, a
  // permutation of the windows per epoch from (seed, epoch).
  int64_t shuffled_window(uint64_t seed, int64_t position) const;

 private:
  std::vector<int32_t> ids_;
  int64_t n_tokens_, n_windows_;
  mutable int64_t perm_epoch_ = -1;
  mutable uint64_t perm_seed_ = 0;
  mutable std::vector<int64_t> perm_;
};

}  // namespace mm
