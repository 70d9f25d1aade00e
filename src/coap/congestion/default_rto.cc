// RFC 7252 §4.2 and §4.8: the default retransmission timeout.
#include "coap/congestion/congestion.h"

namespace coap {

namespace {

class DefaultRto final : public CongestionControl {
public:
    explicit DefaultRto(const TransmissionParams& p) : p_(p) {}

    // RFC 7252 §4.2: the initial timeout is a random duration between ACK_TIMEOUT and
    // ACK_TIMEOUT * ACK_RANDOM_FACTOR.
    FirstTimeout initial_timeout(TimePoint, Random& rng, std::size_t) override {
        return {rng.uniform(p_.ack_timeout, p_.ack_timeout * p_.ack_random_factor), p_.ack_timeout, 0};
    }
    // RFC 7252 §4.2: the timeout is doubled on each retransmission.
    Duration next_timeout(TimePoint, const FirstTimeout&, Duration previous, unsigned) override {
        return previous * 2;
    }
    bool on_ack(TimePoint, Duration, unsigned) override { return false; }  // never learns
    Duration current_rto(TimePoint) const override { return p_.ack_timeout; }
    std::string_view name() const noexcept override { return "default"; }

private:
    TransmissionParams p_;
};

}  // namespace

std::unique_ptr<CongestionControl> make_default_rto(const TransmissionParams& params) {
    return std::make_unique<DefaultRto>(params);
}

}  // namespace coap
