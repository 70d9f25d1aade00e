// Transmission parameters (RFC 7252 §4.8) and the values derived from them (§4.8.2).
#pragma once

#include <cstdint>

#include "coap/common/time.h"

namespace coap {

struct TransmissionParams {
    Duration ack_timeout = Duration::seconds(2);         ///< ACK_TIMEOUT (§4.8)
    double ack_random_factor = 1.5;                      ///< ACK_RANDOM_FACTOR (§4.8)
    unsigned max_retransmit = 4;                         ///< MAX_RETRANSMIT (§4.8)
    unsigned nstart = 1;                                 ///< NSTART (§4.7)
    Duration default_leisure = Duration::seconds(5);     ///< DEFAULT_LEISURE (§8.2)
    double probing_rate = 1.0;                           ///< PROBING_RATE, bytes/second (§4.7)
    Duration max_latency = Duration::seconds(100);       ///< MAX_LATENCY (§4.8.2)
    Duration processing_delay = Duration::seconds(2);    ///< PROCESSING_DELAY (§4.8.2), = ACK_TIMEOUT
    /// CoCoA only: choose the variable back-off factor at every retransmission from the
    /// timeout that just expired (2 -> 4 -> 6 -> 9 s), as ../shared/FINDINGS.md reads
    /// cocoa-03; false (default): once per exchange from its initial RTO, as Californium
    /// does (2 -> 4 -> 8 -> 16 s for a 2 s RTO).
    bool cocoa_vbf_per_step = false;

    // RFC 7252 §4.8.2 derived values.
    /// ACK_TIMEOUT * (2^MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR (45 s by default).
    [[nodiscard]] Duration max_transmit_span() const noexcept;
    /// ACK_TIMEOUT * (2^(MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR (93 s).
    [[nodiscard]] Duration max_transmit_wait() const noexcept;
    /// 2 * MAX_LATENCY + PROCESSING_DELAY (202 s).
    [[nodiscard]] Duration max_rtt() const noexcept;
    /// MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY (247 s).
    [[nodiscard]] Duration exchange_lifetime() const noexcept;
    /// MAX_TRANSMIT_SPAN + MAX_LATENCY (145 s).
    [[nodiscard]] Duration non_lifetime() const noexcept;
    /// Whether the values are usable: ack_timeout > 0, ack_random_factor >= 1,
    /// max_retransmit <= 20, nstart >= 1, probing_rate > 0.
    [[nodiscard]] bool valid() const noexcept;
};

}  // namespace coap
