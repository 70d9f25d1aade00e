#include <iterator>

#include "coap/congestion/congestion.h"

namespace coap {

namespace {
constexpr CongestionStrategy kStrategies[] = {
    {"default", "RFC 7252 §4.2: uniform [ACK_TIMEOUT, ACK_TIMEOUT*ACK_RANDOM_FACTOR], doubling", make_default_rto},
    {"cocoa", "draft-ietf-core-cocoa-03: strong and weak RTT estimators, variable back-off, aging", make_cocoa},
    {"cocoa-strong", "CoCoA with the strong estimator only", make_cocoa_strong},
    {"fasor", "draft-ietf-core-fasor-02: FastRTO and SlowRTO, three states", make_fasor},
    {"linux-rto", "Linux TCP RTO (srtt, mdev, mdev_max, rttvar); Karn's rule, backed-off RTO kept", make_linux_rto},
    {"peakhopper-rto", "Peak-Hopper style RTO: hop to 2x a sample or the backed-off timer, half-life 8 SRTT",
     make_peakhopper_rto},
};
}  // namespace

const CongestionStrategy* congestion_strategies_begin() noexcept { return std::begin(kStrategies); }
const CongestionStrategy* congestion_strategies_end() noexcept { return std::end(kStrategies); }

const CongestionStrategy* find_congestion_strategy(std::string_view name) noexcept {
    for (const auto& s : kStrategies) {
        if (s.name == name) return &s;
    }
    return nullptr;
}

std::unique_ptr<CongestionControl> make_congestion_control(std::string_view name, const TransmissionParams& params) {
    const CongestionStrategy* s = find_congestion_strategy(name);
    return s != nullptr ? s->make(params) : nullptr;
}

}  // namespace coap
