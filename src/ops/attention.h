// Causal softmax attention (GQA) of new queries against a sequence's paged KV cache.
#pragma once
#include <cstdint>
#include <vector>

#include "core/exec_context.h"
#include "ops/kv_codec.h"

namespace mm {

// Keys and values in pages of page_tokens positions: position j's key row (n_kv_heads * head_dim
// values stored as `type`, row_bytes bytes) is at k_pages[j / page_tokens] + (j % page_tokens) * row_bytes.
struct KvView {
  KvType type = KvType::F32;
  int64_t page_tokens = 0;  // a multiple of the kernel's key tile (64)
  size_t row_bytes = 0;
  const uint8_t* const* k_pages = nullptr;
  const uint8_t* const* v_pages = nullptr;
  const uint8_t* k_row(int64_t j) const { return k_pages[j / page_tokens] + size_t(j % page_tokens) * row_bytes; }
  const uint8_t* v_row(int64_t j) const { return v_pages[j / page_tokens] + size_t(j % page_tokens) * row_bytes; }
};

// Contiguous f32 keys and values [n, width] seen as pages (tests, references).
struct ContiguousKv {
  ContiguousKv(const float* k, const float* v, int64_t n, int64_t width, int64_t page_tokens = 64);
  std::vector<const uint8_t*> k_pages, v_pages;
  KvView view;
};

struct AttentionArgs {
  const float* q;       // [n_q, n_heads * head_dim], RoPE applied
  int64_t n_q;
  int64_t pos0;         // position of q row 0; the cache holds positions [0, pos0 + n_q)
  KvView kv;
  int64_t n_heads, n_kv_heads, head_dim;
  float scale;          // usually 1/sqrt(head_dim)
  float* out;           // [n_q, n_heads * head_dim]
  // One summation order for every row whatever the query count (chunked prefill = one-shot, decode
  // = prefill, bit for bit): the --exact mode. Otherwise decode takes a faster order of its own.
  bool invariant = false;
};

// Keys are split into segments of kAttnSegment positions (fixed from position 0); each segment is an
// online softmax over 64-key tiles, and the segments are merged in order. A task is (block of 32
// queries, kv head) streaming its segments, or, for one query (decode), (kv head, segment) so that
// decode at depth uses every thread (flash-decoding); both merge the same partials in the same
// order, so the split does not change the numbers. No n x n score matrix is ever materialised.
constexpr int64_t kAttnSegment = 2048;
void attention_causal(ExecContext& ctx, const AttentionArgs& a);
// Plain scalar reference (two-pass softmax, double accumulation).
void attention_causal_ref(const AttentionArgs& a);

}  // namespace mm
