// minimax.cpp public API: process-wide settings (threads, how weights are loaded, the arithmetic of
// quantised weights, the allocator) and small file helpers.
#pragma once
#include "core/allocator.h"    // tune_allocator_for_inference
#include "core/error.h"        // mm::Error, MM_CHECK
#include "core/mapped_file.h"  // LoadMode, set_load_mode, read_text_file, file_exists
#include "core/thread_pool.h"  // set_global_threads, default_thread_count, global_pool
#include "ops/act_quant.h"     // QuantMath, set_quant_math, quant_math
