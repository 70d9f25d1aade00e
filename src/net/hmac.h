// HMAC-SHA256 from OpenSSL, as the engine's MacFunction (Echo values, RFC 9175).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "coap/defence/echo.h"

namespace coapbed::net {

class HmacSha256 final : public coap::MacFunction {
public:
    /// A fresh random 32-byte key from the operating system's generator.
    HmacSha256();
    /// A given key (the simulator derives it from the run's seed, for reproducibility).
    explicit HmacSha256(std::vector<std::uint8_t> key);
    void mac(coap::Bytes data, std::array<std::uint8_t, 32>& out) const override;

private:
    std::vector<std::uint8_t> key_;
};

}  // namespace coapbed::net
