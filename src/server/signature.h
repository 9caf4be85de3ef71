// The `signature` of an Anthropic thinking block: a keyed hash of the thinking text under a random key
// of this process (SipHash-2-4, four lanes, 256 bits, base64). It tells a block this process wrote
// from an edited or foreign one; thinking blocks sent back in requests are not checked (the key does
// not survive a restart).
#pragma once
#include <string>
#include <string_view>

namespace mm::server {

std::string thinking_signature(std::string_view thinking);

}  // namespace mm::server
