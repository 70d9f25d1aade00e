// FASOR, draft-ietf-core-fasor-02 (Järvinen, Raitahila, Cao, Kojo): a FastRTO from
// unambiguous samples and a SlowRTO after retransmitted exchanges, in three states.
#include <algorithm>

#include "coap/congestion/congestion.h"
#include "coap/congestion/rtt_estimator.h"

namespace coap {

namespace {

enum State : std::uint32_t { kFast = 0, kFastSlowFast = 1, kSlowFast = 2 };

class Fasor final : public CongestionControl {
public:
    explicit Fasor(const TransmissionParams& p) : p_(p) {}

    FirstTimeout initial_timeout(TimePoint, Random& rng, std::size_t) override {
        // The series start: FAST and FAST_SLOW_FAST with FastRTO, SLOW_FAST with SlowRTO.
        const Duration base = state_ == kSlowFast ? slow_rto_ : fast_rto_;
        Duration t;
        if (estimator_.valid()) {
            // Dithering to [RTO + SRTT/4, RTO + SRTT].
            t = rng.uniform(base + estimator_.srtt() / 4, base + estimator_.srtt());
        } else {
            t = rng.uniform(base, base * p_.ack_random_factor);
        }
        return {t, base, state_};
    }

    Duration next_timeout(TimePoint, const FirstTimeout& first, Duration previous, unsigned n) override {
        Duration t;
        switch (first.tag) {
            case kFastSlowFast:
                // FastRTO, SlowRTO, then FastRTO with binary back-off.
                t = n == 1 ? slow_rto_ : fast_rto_ * (std::int64_t{1} << std::min(n - 1, 20u));
                break;
            case kSlowFast:
                // SlowRTO, then FastRTO with binary back-off.
                t = fast_rto_ * (std::int64_t{1} << std::min(n - 1, 20u));
                break;
            default:
                t = previous * 2;  // FAST: binary back-off
                break;
        }
        return std::min(t, kMaxTimeout);
    }

    bool on_ack(TimePoint, Duration rtt, unsigned retransmissions) override {
        if (retransmissions == 0) {
            // FastRTO: RFC 6298 on unambiguous samples, without the 1 s minimum.
            estimator_.sample(rtt);
            fast_rto_ = std::min(estimator_.rto(4), kMaxTimeout);
            state_ = kFast;
            return true;
        }
        // SlowRTO = 1.5 x the time from the original transmission to the ACK: an
        // ambiguous measurement, but one FASOR takes.
        slow_rto_ = std::min(rtt * 1.5, kMaxTimeout);
        state_ = state_ == kFast ? kFastSlowFast : kSlowFast;
        return true;
    }

    Duration current_rto(TimePoint) const override { return state_ == kSlowFast ? slow_rto_ : fast_rto_; }
    std::string_view name() const noexcept override { return "fasor"; }
    std::string_view state_name() const noexcept override {
        // draft-ietf-core-fasor-02 §3
        return state_ == kSlowFast ? "SLOW_FAST" : state_ == kFastSlowFast ? "FAST_SLOW_FAST" : "FAST";
    }
    [[nodiscard]] std::uint32_t state() const noexcept { return state_; }

private:
    static constexpr Duration kMaxTimeout = Duration::seconds(60);
    TransmissionParams p_;
    RttEstimator estimator_;
    Duration fast_rto_ = Duration::seconds(2);  // initial FastRTO 2 s
    Duration slow_rto_ = Duration::seconds(2);
    std::uint32_t state_ = kFast;
};

}  // namespace

std::unique_ptr<CongestionControl> make_fasor(const TransmissionParams& params) {
    return std::make_unique<Fasor>(params);
}

}  // namespace coap
