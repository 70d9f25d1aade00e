// A CoAP token (RFC 7252 §5.3.1): 0 to 8 opaque bytes, kept by value.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "coap/common/bytes.h"

namespace coap {

struct Token {
    std::array<std::uint8_t, 8> bytes{};
    std::uint8_t length = 0;

    /// The first 8 bytes of `b` (a parsed token is never longer: RFC 7252 §3).
    [[nodiscard]] static Token from(Bytes b) noexcept {
        Token t;
        t.length = static_cast<std::uint8_t>(std::min<std::size_t>(b.size(), 8));
        std::copy(b.begin(), b.begin() + t.length, t.bytes.begin());
        return t;
    }
    [[nodiscard]] Bytes view() const noexcept { return Bytes(bytes.data(), length); }
    /// The bytes as one number, for hashing.
    [[nodiscard]] std::uint64_t word() const noexcept {
        std::uint64_t w = 0;
        std::memcpy(&w, bytes.data(), 8);
        return w ^ length;
    }
    friend bool operator<(const Token& a, const Token& b) noexcept {
        return a.length != b.length ? a.length < b.length : a.bytes < b.bytes;
    }
    friend bool operator==(const Token& a, const Token& b) noexcept {
        return a.length == b.length && a.bytes == b.bytes;
    }
    friend bool operator!=(const Token& a, const Token& b) noexcept { return !(a == b); }
};

}  // namespace coap
