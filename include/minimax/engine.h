// minimax.cpp public API: the continuous-batching Engine (many requests over one model) and the
// OpenAI / Anthropic compatible HTTP server on top of it.
#pragma once
#include "engine/engine.h"  // Engine, EngineConfig, RequestHandle
#include "server/server.h"  // server::Server, server::ServerOptions
