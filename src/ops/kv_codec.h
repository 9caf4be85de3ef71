// Storage types of softmax-layer KV rows (--kv-type): how a token's keys / values are written into a
// KV page and read back as f32 for the attention kernel. Lightning states are never stored here: they
// stay fp32 (linear attention is sensitive to low-precision state).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mm {

enum class KvType : uint8_t { F32, F16, BF16, Q8_0 };

// The default of --kv-type outside --exact (README "KV cache types": its accuracy against f32).
constexpr KvType kDefaultKvType = KvType::F16;

const char* kv_type_name(KvType t);  // "f32", "f16", "bf16", "q8_0"
// Parses a --kv-type value; throws mm::Error naming the choices.
KvType parse_kv_type(std::string_view s);
// Bytes of one stored row of n values. Q8_0 rows are blocks of 32 (n % 32 == 0, checked): a head's
// slice of a row starts at kv_row_bytes(t, head * head_dim) when head_dim is a multiple of 32.
size_t kv_row_bytes(KvType t, int64_t n);
// True when rows of n values can be stored as t (Q8_0: n a multiple of 32).
bool kv_type_fits(KvType t, int64_t n);

// dst (kv_row_bytes(t, n) bytes) = x rounded to t: f16 / bf16 round to nearest even, q8_0 per block
// d = max|x| / 127, q = round(x / d) (ggml's Q8_0).
void kv_encode_row(KvType t, const float* x, int64_t n, uint8_t* dst);
// n_rows rows of n values: row r read from src + r * src_stride bytes, written as f32 to
// dst + r * ldd. Vectorised (ops/simd); the values are exactly those kv_decode_row_ref gives.
void kv_decode_rows(KvType t, const uint8_t* src, size_t src_stride, int64_t n_rows, int64_t n, float* dst,
                    int64_t ldd);
// Scalar twin of one row.
void kv_decode_row_ref(KvType t, const uint8_t* src, int64_t n, float* dst);

}  // namespace mm
