#include "coap/common/random.h"

namespace coap {

std::uint64_t Random::below(std::uint64_t n) {
    // Reject the top partial range so every residue is equally likely.
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x;
    do {
        x = next_u64();
    } while (x >= limit);
    return x % n;
}

double Random::unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

Duration Random::uniform(Duration lo, Duration hi) {
    const auto span = static_cast<std::uint64_t>((hi - lo).ns());
    return lo + Duration::nanoseconds(static_cast<std::int64_t>(span == UINT64_MAX ? next_u64() : below(span + 1)));
}

void Random::fill(std::uint8_t* out, std::size_t n) {
    while (n > 0) {
        std::uint64_t x = next_u64();
        for (int i = 0; i < 8 && n > 0; ++i, --n) {
            *out++ = static_cast<std::uint8_t>(x);
            x >>= 8;
        }
    }
}

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Xoshiro256::Xoshiro256(std::uint64_t seed) noexcept {
    for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t Xoshiro256::next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

}  // namespace coap
