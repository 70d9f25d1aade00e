// Building a response datagram from a handler's Response (RFC 7252 §5.2), with what the
// request asked of its shape: the Block2 block to serve (RFC 7959 §2.4), the Block1 option
// to echo (§2.3), the Observe sequence number (RFC 7641 §4.4).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "coap/codec/message.h"
#include "coap/endpoint/types.h"
#include "coap/options/values.h"

namespace coap {

struct ResponseShape {
    std::optional<Block> request_block2;  ///< the request's Block2 option
    std::optional<Block> block1_echo;     ///< the Block1 option to send back
    std::optional<std::uint32_t> observe_seq;
};

/// Writes `r` as a `type` message into `out` (resized to the datagram). A body larger
/// than a block of `max_szx`, or a request with Block2, gets the block asked for with
/// Size2 on the first; a block past the end is 4.02 (RFC 7959 §2.4); a response that
/// does not encode is 5.00 with no options.
void build_response(std::vector<std::uint8_t>& out, std::uint8_t max_szx, MessageType type, std::uint16_t mid,
                    Bytes token, const Response& r, const ResponseShape& shape);

}  // namespace coap
