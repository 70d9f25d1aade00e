// RFC 7641 §3.4: whether a notification is newer than the last one accepted.
#pragma once

#include <cstdint>

#include "coap/common/time.h"

namespace coap {

class ObserveFreshness {
public:
    /// RFC 7641 §3.4: V2 is fresher than V1 if (V1 < V2 and V2 - V1 < 2^23) or
    /// (V1 > V2 and V1 - V2 > 2^23), or if it arrives more than 128 s after the last
    /// accepted one. The first notification is always fresh.
    [[nodiscard]] bool is_fresh(std::uint32_t v2, TimePoint t2) const noexcept {
        if (!valid_) return true;
        const std::uint32_t v1 = last_;
        return (v1 < v2 && v2 - v1 < kHalf) || (v1 > v2 && v1 - v2 > kHalf) || t2 > time_ + Duration::seconds(128);
    }
    void accept(std::uint32_t v, TimePoint t) noexcept {
        valid_ = true;
        last_ = v & 0xffffff;
        time_ = t;
    }

private:
    static constexpr std::uint32_t kHalf = 1u << 23;
    bool valid_ = false;
    std::uint32_t last_ = 0;
    TimePoint time_;
};

}  // namespace coap
