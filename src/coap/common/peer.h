// A remote endpoint's transport address, as the engine sees it: an opaque key. Drivers
// convert their own address types (ns-3's Address, sockaddr) to and from it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace coap {

struct Peer {
    // No implicit padding: a copy is three word moves and == three word compares (a key
    // copied member by member and then compared as words stalls the store buffer).
    std::array<std::uint8_t, 16> address{}; ///< IPv4 in the first 4 bytes, network order
    std::uint16_t port = 0;                 ///< UDP port
    std::uint8_t family = 0;                ///< 4 or 6 (0: unset)
    std::uint8_t reserved = 0;              ///< always 0 (the padding, made a member)
    std::uint32_t scope = 0;                ///< IPv6 scope id / driver-specific tag

    [[nodiscard]] static Peer ipv4(std::uint32_t host_order_address, std::uint16_t port) noexcept;
    [[nodiscard]] static Peer ipv6(const std::uint8_t (&address)[16], std::uint16_t port) noexcept;
    /// "192.0.2.1:5683" or "[2001:db8::1]:5683".
    [[nodiscard]] std::string to_string() const;
    /// The address alone ("192.0.2.1", "2001:db8::1"), as a URI host.
    [[nodiscard]] std::string host_string() const;

    friend bool operator==(const Peer& a, const Peer& b) noexcept {
        // Word-wise: the tables of the engine compare peers on every message.
        std::uint64_t x[3], y[3];
        std::memcpy(x, &a, sizeof x);
        std::memcpy(y, &b, sizeof y);
        return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2])) == 0;
    }
    friend bool operator!=(const Peer& a, const Peer& b) noexcept { return !(a == b); }
    friend bool operator<(const Peer& a, const Peer& b) noexcept {
        if (a.family != b.family) return a.family < b.family;
        if (a.address != b.address) return a.address < b.address;
        if (a.port != b.port) return a.port < b.port;
        return a.scope < b.scope;
    }
};

static_assert(sizeof(Peer) == 24 && offsetof(Peer, port) == 16 && offsetof(Peer, family) == 18 &&
                  offsetof(Peer, scope) == 20,
              "Peer is three words without padding (operator==, hash_peer)");

struct PeerHash {
    std::size_t operator()(const Peer& p) const noexcept;
};

}  // namespace coap
