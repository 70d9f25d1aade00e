#include "coap/messaging/params.h"

namespace coap {

Duration TransmissionParams::max_transmit_span() const noexcept {
    return ack_timeout * (static_cast<double>((1u << max_retransmit) - 1) * ack_random_factor);
}

Duration TransmissionParams::max_transmit_wait() const noexcept {
    return ack_timeout * (static_cast<double>((2u << max_retransmit) - 1) * ack_random_factor);
}

Duration TransmissionParams::max_rtt() const noexcept { return max_latency * 2 + processing_delay; }

Duration TransmissionParams::exchange_lifetime() const noexcept {
    return max_transmit_span() + max_latency * 2 + processing_delay;
}

Duration TransmissionParams::non_lifetime() const noexcept { return max_transmit_span() + max_latency; }

bool TransmissionParams::valid() const noexcept {
    return ack_timeout > Duration::zero() && ack_random_factor >= 1.0 && max_retransmit <= 20 && nstart >= 1 &&
           probing_rate > 0.0;
}

}  // namespace coap
