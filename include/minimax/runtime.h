// minimax.cpp public API: how a model runs (the execution context: threads, math mode, scratch), how
// weights are loaded, the allocator, and small file helpers.
#pragma once
#include "core/allocator.h"     // tune_allocator_for_inference
#include "core/error.h"         // mm::Error, MM_CHECK
#include "core/exec_context.h"  // ExecContext, MathMode, QuantMath
#include "core/mapped_file.h"   // LoadMode, set_load_mode, read_text_file, file_exists
#include "core/thread_pool.h"   // ThreadPool, default_thread_count
