// Route registration per API (each in its own file) and the embedded chat page.
#pragma once
#include "server/api_common.h"

namespace mm::server {

void register_openai_routes(httplib::Server& svr, ServerContext& ctx);     // routes_openai.cpp
void register_anthropic_routes(httplib::Server& svr, ServerContext& ctx);  // routes_anthropic.cpp
// GET /health, /metrics, /v1/models, POST /tokenize, /detokenize, GET / (routes_misc.cpp)
void register_misc_routes(httplib::Server& svr, ServerContext& ctx);
extern const char* const kChatPageHtml;  // web_page.cpp

}  // namespace mm::server
