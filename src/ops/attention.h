// Causal softmax attention (GQA) of new queries against a sequence's KV cache.
#pragma once
#include <cstdint>

#include "core/exec_context.h"

namespace mm {

struct AttentionArgs {
  const float* q;       // [n_q, n_heads * head_dim], RoPE applied
  int64_t n_q;
  int64_t pos0;         // position of q row 0; the cache holds positions [0, pos0 + n_q)
  const float* k;       // [>= pos0 + n_q, n_kv_heads * head_dim]
  const float* v;       // same
  int64_t n_heads, n_kv_heads, head_dim;
  float scale;          // usually 1/sqrt(head_dim)
  float* out;           // [n_q, n_heads * head_dim]
};

// Threaded over (query, head) (decode) or (block of 32 queries, kv head) with GEMM tiles (prefill, 16+
// queries); each task streams over the keys with an online softmax, so no
// n x n score matrix is ever materialised.
void attention_causal(ExecContext& ctx, const AttentionArgs& a);
// Plain scalar reference (two-pass softmax, double accumulation).
void attention_causal_ref(const AttentionArgs& a);

}  // namespace mm
