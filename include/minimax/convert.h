// minimax.cpp public API: reading and writing checkpoint files — GGUF (read, plan, write, tokenizer
// metadata) and safetensors (write) — and random-weight test models, for quantize / init.
#pragma once
#include "convert/gguf_tokenizer_kvs.h"  // gguf_tokenizer_kvs*: tokenizer.json -> tokenizer.ggml.*
#include "convert/gguf_write.h"          // gguf_plan, gguf_write, GgufPolicy
#include "convert/random_model.h"        // random_model_tensors, write_random_model_tokenizer
#include "convert/safetensors_writer.h"  // safetensors_write
#include "io/gguf.h"                     // GgufFile
#include "io/gguf_tokenizer.h"           // gguf_tokenizer_json (a GGUF's tokenizer as tokenizer.json)
