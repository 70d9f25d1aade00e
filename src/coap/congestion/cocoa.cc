// CoCoA, draft-ietf-core-cocoa-03 (Bormann, Betzler, Gomez, Demirkol).
#include <algorithm>

#include "coap/congestion/congestion.h"
#include "coap/congestion/rtt_estimator.h"

namespace coap {

namespace {

class Cocoa final : public CongestionControl {
public:
    Cocoa(const TransmissionParams& p, bool strong_only) : p_(p), strong_only_(strong_only) {}

    FirstTimeout initial_timeout(TimePoint now, Random& rng, std::size_t outstanding) override {
        age(now);
        // cocoa-03 §4.2: with no estimate yet, the blind RTO is 2 s per exchange in flight.
        const Duration base = (strong_.valid() || weak_.valid())
                                  ? rto_
                                  : kInitialRto * static_cast<std::int64_t>(outstanding + 1);
        // cocoa-03 §4.2.1: dithering in [RTO, RTO * ACK_RANDOM_FACTOR] (1.5).
        return {rng.uniform(base, base * 1.5), base, 0};
    }

    Duration next_timeout(TimePoint, const FirstTimeout& first, Duration previous, unsigned) override {
        // cocoa-03 §4.2.2: variable back-off factor by the RTO: 3 below 1 s, 1.5 above
        // 3 s, else 2. Which RTO: the exchange's initial one (Californium), or the
        // timeout that just expired (per step, TransmissionParams::cocoa_vbf_per_step).
        const Duration basis = p_.cocoa_vbf_per_step ? previous : first.base;
        double vbf = 2.0;
        if (basis < Duration::seconds(1)) vbf = 3.0;
        if (basis > Duration::seconds(3)) vbf = 1.5;
        // cocoa-03 §4.2.2: back-off truncated at 32 s.
        return std::min(previous * vbf, kMaxTimeout);
    }

    bool on_ack(TimePoint now, Duration rtt, unsigned retransmissions) override {
        age(now);
        if (retransmissions == 0) {
            // cocoa-03 §4.2.1 strong estimator: RFC 6298 with K = 4;
            // RTO := 0.5 * E_strong + 0.5 * RTO.
            strong_.sample(rtt);
            rto_ = strong_.rto(4) / 2 + rto_ / 2;
        } else if (retransmissions <= 2 && !strong_only_) {
            // cocoa-03 §4.2.1 weak estimator (1-2 retransmissions, RTT measured from the
            // original transmission): RFC 6298 with K = 1; RTO := 0.25 * E_weak + 0.75 * RTO.
            weak_.sample(rtt);
            rto_ = weak_.rto(1) / 4 + rto_ * 3 / 4;
        } else {
            return false;  // 3 or more retransmissions: no sample (cocoa-03 §4.2.1)
        }
        last_update_ = now;
        return true;
    }

    Duration current_rto(TimePoint now) const override {
        Cocoa copy = *this;
        copy.age(now);
        return copy.rto_;
    }
    std::string_view name() const noexcept override { return strong_only_ ? "cocoa-strong" : "cocoa"; }

private:
    // cocoa-03 §4.2.3 aging: an RTO below 1 s left unchanged for 16 * RTO doubles; one
    // above 3 s left unchanged for 4 * RTO becomes 1 s + 0.5 * RTO. Applied lazily, as
    // many times as the elapsed time allows.
    void age(TimePoint now) {
        if (!strong_.valid() && !weak_.valid()) return;
        for (int i = 0; i < 64; ++i) {
            if (rto_ < Duration::seconds(1) && now - last_update_ >= rto_ * 16) {
                last_update_ += rto_ * 16;
                rto_ = rto_ * 2;
            } else if (rto_ > Duration::seconds(3) && now - last_update_ >= rto_ * 4) {
                last_update_ += rto_ * 4;
                rto_ = Duration::seconds(1) + rto_ / 2;
            } else {
                break;
            }
        }
    }

    static constexpr Duration kInitialRto = Duration::seconds(2);
    static constexpr Duration kMaxTimeout = Duration::seconds(32);
    TransmissionParams p_;
    bool strong_only_;
    RttEstimator strong_;
    RttEstimator weak_;
    Duration rto_ = kInitialRto;
    TimePoint last_update_;
};

}  // namespace

std::unique_ptr<CongestionControl> make_cocoa(const TransmissionParams& params) {
    return std::make_unique<Cocoa>(params, false);
}

std::unique_ptr<CongestionControl> make_cocoa_strong(const TransmissionParams& params) {
    return std::make_unique<Cocoa>(params, true);
}

}  // namespace coap
