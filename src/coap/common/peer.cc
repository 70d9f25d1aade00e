#include "coap/common/peer.h"

#include <cstdio>

namespace coap {

Peer Peer::ipv4(std::uint32_t a, std::uint16_t port) noexcept {
    Peer p;
    p.family = 4;
    p.address[0] = static_cast<std::uint8_t>(a >> 24);
    p.address[1] = static_cast<std::uint8_t>(a >> 16);
    p.address[2] = static_cast<std::uint8_t>(a >> 8);
    p.address[3] = static_cast<std::uint8_t>(a);
    p.port = port;
    return p;
}

Peer Peer::ipv6(const std::uint8_t (&address)[16], std::uint16_t port) noexcept {
    Peer p;
    p.family = 6;
    for (int i = 0; i < 16; ++i) p.address[i] = address[i];
    p.port = port;
    return p;
}

std::string Peer::host_string() const {
    char buf[64];
    if (family == 4) {
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", address[0], address[1], address[2], address[3]);
        return buf;
    }
    // RFC 5952: lower case, longest run of zero groups (length >= 2) compressed.
    unsigned groups[8];
    for (int i = 0; i < 8; ++i) groups[i] = (address[2 * i] << 8) | address[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (groups[i] != 0) { ++i; continue; }
        int j = i;
        while (j < 8 && groups[j] == 0) ++j;
        if (j - i > best_len && j - i >= 2) { best = i; best_len = j - i; }
        i = j;
    }
    std::string out;
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        std::snprintf(buf, sizeof buf, "%x", groups[i]);
        out += buf;
    }
    return out;
}

std::string Peer::to_string() const {
    const std::string host = host_string();
    return (family == 6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::size_t PeerHash::operator()(const Peer& p) const noexcept {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    auto mix = [&](std::uint8_t b) { h = (h ^ b) * 1099511628211ULL; };
    mix(p.family);
    for (auto b : p.address) mix(b);
    mix(static_cast<std::uint8_t>(p.port >> 8));
    mix(static_cast<std::uint8_t>(p.port));
    for (int i = 0; i < 4; ++i) mix(static_cast<std::uint8_t>(p.scope >> (8 * i)));
    return static_cast<std::size_t>(h);
}

}  // namespace coap
