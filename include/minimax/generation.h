// minimax.cpp public API: generating from a model — sampling parameters (and their one validate()),
// the Generation that turns logits into tokens, text, stops and logprobs, and a one-sequence loop.
#pragma once
#include "engine/generation.h"  // Generation, run_generation
#include "engine/request.h"     // GenRequest, GenEvent, FinishReason, TokenLogprob
#include "sampling/sampler.h"   // SamplingParams, validate, Sampler
