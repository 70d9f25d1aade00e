// Randomness is injected (STYLE §4): message IDs, tokens and timeout dithering come
// from a generator the driver hands in, so every run is reproducible from its seed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "coap/common/time.h"

namespace coap {

/// The source of random numbers an endpoint draws from. Drivers implement it over
/// their own generator (ns-3's RandomVariableStream, OpenSSL's RAND_bytes) or use
/// Xoshiro256 below with a seed.
class Random {
public:
    virtual ~Random() = default;
    /// 64 uniformly distributed bits.
    [[nodiscard]] virtual std::uint64_t next_u64() = 0;

    /// Uniform in [0, n); n > 0. Unbiased (rejection sampling).
    [[nodiscard]] std::uint64_t below(std::uint64_t n);
    /// Uniform in [0, 1).
    [[nodiscard]] double unit();
    /// Uniform in [lo, hi] at nanosecond resolution; lo <= hi.
    [[nodiscard]] Duration uniform(Duration lo, Duration hi);
    /// Fills `out` with random bytes.
    void fill(std::uint8_t* out, std::size_t n);
};

/// xoshiro256** (Blackman and Vigna, 2018), seeded through splitmix64. Deterministic
/// and cheap; not for keys (the DTLS layer uses OpenSSL for those).
class Xoshiro256 final : public Random {
public:
    explicit Xoshiro256(std::uint64_t seed) noexcept;
    [[nodiscard]] std::uint64_t next_u64() override;

private:
    std::uint64_t s_[4];
};

}  // namespace coap
