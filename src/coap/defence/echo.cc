#include "coap/defence/echo.h"

#include <cstring>

namespace coap {

namespace {

std::array<std::uint8_t, 8> tag(const MacFunction& key, const Peer& client, const std::uint8_t (&stamp)[5]) {
    // What the MAC covers: a label, the whole transport address, the time stamp.
    std::uint8_t input[4 + 1 + 16 + 2 + 5];
    std::memcpy(input, "echo", 4);
    input[4] = client.family;
    std::memcpy(input + 5, client.address.data(), 16);
    input[21] = static_cast<std::uint8_t>(client.port >> 8);
    input[22] = static_cast<std::uint8_t>(client.port);
    std::memcpy(input + 23, stamp, 5);
    std::array<std::uint8_t, 32> full{};
    key.mac(Bytes(input, sizeof input), full);
    std::array<std::uint8_t, 8> out{};
    std::memcpy(out.data(), full.data(), out.size());
    return out;
}

std::uint64_t millis(TimePoint t) { return t.ns() < 0 ? 0 : static_cast<std::uint64_t>(t.ns() / 1000000); }

}  // namespace

std::array<std::uint8_t, kEchoLength> mint_echo(const MacFunction& key, const Peer& client, TimePoint now) {
    std::uint8_t stamp[5];
    const std::uint64_t ms = millis(now);
    for (int i = 0; i < 5; ++i) stamp[i] = static_cast<std::uint8_t>(ms >> (8 * (4 - i)));
    const auto t = tag(key, client, stamp);
    std::array<std::uint8_t, kEchoLength> out{};
    std::memcpy(out.data(), stamp, 5);
    std::memcpy(out.data() + 5, t.data(), t.size());
    return out;
}

EchoVerdict verify_echo(const MacFunction& key, const Peer& client, Bytes value, TimePoint now, Duration freshness) {
    if (value.size() != kEchoLength) return EchoVerdict::Malformed;
    std::uint8_t stamp[5];
    std::memcpy(stamp, value.data(), 5);
    const auto t = tag(key, client, stamp);
    // Constant-time comparison: a forger learns nothing from how long a check takes.
    std::uint8_t diff = 0;
    for (std::size_t i = 0; i < t.size(); ++i) diff |= static_cast<std::uint8_t>(t[i] ^ value[5 + i]);
    if (diff != 0) return EchoVerdict::Forged;
    std::uint64_t ms = 0;
    for (int i = 0; i < 5; ++i) ms = (ms << 8) | stamp[i];
    const std::uint64_t now_ms = millis(now);
    if (ms > now_ms || now_ms - ms > static_cast<std::uint64_t>(freshness.milliseconds_count())) {
        return EchoVerdict::Expired;
    }
    return EchoVerdict::Valid;
}

}  // namespace coap
