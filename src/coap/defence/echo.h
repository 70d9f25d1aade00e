// Echo values (RFC 9175 §2.4) minted without server state: a time stamp and a MAC over
// the client's transport address and that time stamp, keyed by a server secret. The
// MAC is injected (the engine does no cryptography of its own): the UDP runtime and the
// simulator pass an HMAC-SHA256 from OpenSSL (src/net/hmac.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "coap/common/bytes.h"
#include "coap/common/peer.h"
#include "coap/common/time.h"

namespace coap {

/// A keyed MAC: `out` receives 32 bytes over `data`.
class MacFunction {
public:
    virtual ~MacFunction() = default;
    virtual void mac(Bytes data, std::array<std::uint8_t, 32>& out) const = 0;
};

enum class EchoVerdict : std::uint8_t {
    Valid,      ///< minted by us, for this address, within the freshness window
    Expired,    ///< minted by us for this address, but too long ago (or in the future)
    Forged,     ///< not a MAC we made for this address (another address, or made up)
    Malformed,  ///< not the length we mint
};

/// 5 bytes of milliseconds on the server's clock, then 8 bytes of MAC: 13 bytes, within
/// the 1-40 bytes RFC 9175 §2.2.1 allows.
inline constexpr std::size_t kEchoLength = 13;

[[nodiscard]] std::array<std::uint8_t, kEchoLength> mint_echo(const MacFunction& key, const Peer& client, TimePoint now);
[[nodiscard]] EchoVerdict verify_echo(const MacFunction& key, const Peer& client, Bytes value, TimePoint now,
                                      Duration freshness);

}  // namespace coap
