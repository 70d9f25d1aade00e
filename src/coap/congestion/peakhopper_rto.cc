// A Peak-Hopper style RTO after Ekström and Ludwig, "The Peak-Hopper: A New End-to-End
// Retransmission Timer for Reliable Unicast Transport", INFOCOM 2004: the RTO hops up at
// once when a sample comes near it and decays slowly otherwise. The exact constants here
// are this project's (hop to 2 x the sample, half-life 8 x SRTT), not the paper's; so is
// the hop to the backed-off timer after an exchange that needed retransmissions.
#include <algorithm>
#include <cmath>

#include "coap/congestion/congestion.h"
#include "coap/congestion/rtt_estimator.h"

namespace coap {

namespace {

class PeakHopperRto final : public CongestionControl {
public:
    explicit PeakHopperRto(const TransmissionParams& p) : p_(p), rto_(p.ack_timeout) {}

    FirstTimeout initial_timeout(TimePoint now, Random&, std::size_t) override {
        const Duration r = current_rto(now);
        return {r, r, 0};
    }
    Duration next_timeout(TimePoint, const FirstTimeout&, Duration previous, unsigned) override {
        return std::min(previous * 2, kMaxRto);
    }
    bool on_ack(TimePoint now, Duration rtt, unsigned retransmissions) override {
        if (retransmissions != 0) {
            // Karn's rule: no sample from an ambiguous exchange. But its timer expired, a
            // sign the RTO was too low (Karn and Partridge 1987; RFC 6298 §5.5 backs the
            // timer off): the RTO hops to the backed-off timer and decays from there.
            // Without this hop the RTO can decay to the RTT on a steady path, and every
            // exchange then times out just as its response arrives, none of them giving a
            // sample again.
            rto_ = std::min(current_rto(now) * (1u << std::min(retransmissions, 8u)), kMaxRto);
            since_ = now;
            return false;
        }
        const Duration decayed = current_rto(now);
        estimator_.sample(rtt);
        // Hop: never below twice the newest sample.
        rto_ = std::clamp(std::max(decayed, rtt * 2), kMinRto, kMaxRto);
        since_ = now;
        return true;
    }
    Duration current_rto(TimePoint now) const override {
        if (!estimator_.valid()) return rto_;
        // Decay: exponential, half-life 8 x SRTT, floored at SRTT + 4 x RTTVAR.
        const double half_life = std::max(estimator_.srtt().seconds_f() * 8, 1e-3);
        const double factor = std::exp2(-(now - since_).seconds_f() / half_life);
        return std::clamp(std::max(rto_ * factor, estimator_.rto(4)), kMinRto, kMaxRto);
    }
    std::string_view name() const noexcept override { return "peakhopper-rto"; }

private:
    static constexpr Duration kMinRto = Duration::milliseconds(200);
    static constexpr Duration kMaxRto = Duration::seconds(60);
    TransmissionParams p_;
    RttEstimator estimator_;
    Duration rto_;
    TimePoint since_;
};

}  // namespace

std::unique_ptr<CongestionControl> make_peakhopper_rto(const TransmissionParams& params) {
    return std::make_unique<PeakHopperRto>(params);
}

}  // namespace coap
