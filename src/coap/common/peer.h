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
    std::uint8_t family = 0;                ///< 4 or 6 (0: unset)
    std::array<std::uint8_t, 16> address{}; ///< IPv4 in the first 4 bytes, network order
    std::uint16_t port = 0;                 ///< UDP port
    std::uint32_t scope = 0;                ///< IPv6 scope id / driver-specific tag

    [[nodiscard]] static Peer ipv4(std::uint32_t host_order_address, std::uint16_t port) noexcept;
    [[nodiscard]] static Peer ipv6(const std::uint8_t (&address)[16], std::uint16_t port) noexcept;
    /// "192.0.2.1:5683" or "[2001:db8::1]:5683".
    [[nodiscard]] std::string to_string() const;
    /// The address alone ("192.0.2.1", "2001:db8::1"), as a URI host.
    [[nodiscard]] std::string host_string() const;

    friend bool operator==(const Peer& a, const Peer& b) noexcept {
        // Word-wise: the tables of the engine compare peers on every message.
        std::uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, a.address.data(), 8);
        std::memcpy(&a1, a.address.data() + 8, 8);
        std::memcpy(&b0, b.address.data(), 8);
        std::memcpy(&b1, b.address.data() + 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0 && a.port == b.port && a.family == b.family && a.scope == b.scope;
    }
    friend bool operator!=(const Peer& a, const Peer& b) noexcept { return !(a == b); }
    friend bool operator<(const Peer& a, const Peer& b) noexcept {
        if (a.family != b.family) return a.family < b.family;
        if (a.address != b.address) return a.address < b.address;
        if (a.port != b.port) return a.port < b.port;
        return a.scope < b.scope;
    }
};

struct PeerHash {
    std::size_t operator()(const Peer& p) const noexcept;
};

}  // namespace coap
