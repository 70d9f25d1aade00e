// The options a forward proxy never copies from one hop to the next (RFC 7252 §5.7.2,
// §5.10; RFC 7959 §2.10; RFC 7641 §5; RFC 9175; RFC 8768): internal to src/coap/proxy/.
#pragma once

#include <cstdint>
#include <optional>

#include "coap/codec/message.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

namespace coap::proxy {

/// Options that concern one hop (this proxy and its client, or this proxy and the
/// origin) and are never copied across it.
inline bool hop_by_hop(std::uint16_t n) {
    switch (n) {
        case options::kProxyUri:
        case options::kProxyScheme:
        case options::kUriHost:
        case options::kUriPort:
        case options::kUriPath:
        case options::kUriQuery:   // rebuilt from the target
        case options::kBlock1:
        case options::kBlock2:
        case options::kSize1:
        case options::kSize2:      // store-and-forward: each side has its own transfer (RFC 7959 §2.10)
        case options::kObserve:    // each hop observes on its own (RFC 7641 §5)
        case options::kEcho:       // RFC 9175 §2.2: between two endpoints
        case options::kRequestTag: // RFC 9175 §3: names one hop's Block1 transfer
        case options::kHopLimit:   // RFC 8768: replaced by the decremented value
        case options::kMaxAge:     // carried in Response::max_age
            return true;
        default:
            return false;
    }
}

/// The block a Block2 option names, relayed as it is by a pass-through proxy (RFC 7959
/// §2.10); nothing for an invalid value (the upstream endpoint has refused those already).
inline std::optional<Block> relayed_block(const OwnedOption& o) {
    const BlockResult b = decode_block(Bytes(o.value.data(), o.value.size()));
    return b.ok() ? std::optional<Block>(b.block) : std::nullopt;
}

}  // namespace coap::proxy
