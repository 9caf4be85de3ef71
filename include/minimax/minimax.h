// minimax.cpp public API, everything: the headers under include/minimax/ are the only engine headers
// tools/ includes (besides core/error.h). Each groups the declarations of one concern.
#pragma once
#include "minimax/convert.h"
#include "minimax/engine.h"
#include "minimax/generation.h"
#include "minimax/kernels.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "minimax/text.h"
#include "minimax/train.h"
