// minimax.cpp public API: the SIMD kernels' target and primitives, for benchmarks.
#pragma once
#include "ops/simd/kernels.h"  // simd::target_name, simd::sum
