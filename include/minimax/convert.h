// minimax.cpp public API: reading and writing checkpoint files — GGUF (read, plan, write, tokenizer
// metadata) and safetensors (write) — for quantize / init.
#pragma once
#include "io/gguf.h"                // GgufFile, gguf_plan, gguf_write, GgufPolicy
#include "io/gguf_tokenizer.h"      // gguf_tokenizer_kvs*, gguf_tokenizer_json, make_random_model_tokenizer
#include "io/safetensors_writer.h"  // safetensors_write
