// Retransmission-timeout strategies behind one interface (RFC 7252 §4.2, §4.7-§4.8;
// draft-ietf-core-cocoa-03; draft-ietf-core-fasor-02; and RTO estimators from CoAP
// studies). One strategy object holds the state for one peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "coap/common/random.h"
#include "coap/common/time.h"
#include "coap/messaging/params.h"

namespace coap {

/// What a strategy decides for a new exchange's first transmission. The endpoint keeps
/// it with the exchange and hands it back for every retransmission.
struct FirstTimeout {
    Duration timeout;        ///< the (dithered) timeout of the first transmission
    Duration base;           ///< the undithered RTO it was drawn from
    std::uint32_t tag = 0;   ///< strategy-private (e.g. FASOR's state at the start)
};

/// Per-peer retransmission-timeout state. The endpoint calls, for each Confirmable
/// exchange with the peer: `initial_timeout` once when the message is first sent,
/// `next_timeout` before each retransmission, and `on_ack` when the ACK (or response)
/// arrives. Calls are ordered by `now` and never reenter.
class CongestionControl {
public:
    virtual ~CongestionControl() = default;

    /// The timeout of a new exchange's first transmission, dithered as the strategy
    /// says. `outstanding`: exchanges already in flight to this peer (not counting this one).
    [[nodiscard]] virtual FirstTimeout initial_timeout(TimePoint now, Random& rng, std::size_t outstanding) = 0;
    /// The timeout that follows retransmission number `retransmission` (1 for the
    /// first), given what `initial_timeout` returned and the previous timeout.
    [[nodiscard]] virtual Duration next_timeout(TimePoint now, const FirstTimeout& first, Duration previous,
                                                unsigned retransmission) = 0;
    /// An ACK arrived `rtt` after the original transmission of an exchange that needed
    /// `retransmissions` retransmissions (0: an unambiguous sample). Returns whether the
    /// strategy took it as an RTT sample (counted in EndpointStats::rtt_samples_taken).
    virtual bool on_ack(TimePoint now, Duration rtt, unsigned retransmissions) = 0;
    /// The current base RTO (before dithering), for statistics and traces.
    [[nodiscard]] virtual Duration current_rto(TimePoint now) const = 0;
    /// The strategy's registered name.
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    /// The strategy's state, for traces: FASOR's FAST, FAST_SLOW_FAST or SLOW_FAST
    /// (draft-ietf-core-fasor-02 §3); empty for strategies without states.
    [[nodiscard]] virtual std::string_view state_name() const noexcept { return {}; }
};

using CongestionFactory = std::unique_ptr<CongestionControl> (*)(const TransmissionParams&);

struct CongestionStrategy {
    std::string_view name;         ///< "default", "cocoa", ...
    std::string_view description;  ///< one line, with the source
    CongestionFactory make;
};

/// Every registered strategy. Adding one means a new file with its class and factory
/// and one row in registry.cc; no other strategy changes.
[[nodiscard]] const CongestionStrategy* congestion_strategies_begin() noexcept;
[[nodiscard]] const CongestionStrategy* congestion_strategies_end() noexcept;
/// The strategy named `name`, or nullptr.
[[nodiscard]] const CongestionStrategy* find_congestion_strategy(std::string_view name) noexcept;
/// A new state object for `name`, or nullptr when the name is unknown.
[[nodiscard]] std::unique_ptr<CongestionControl> make_congestion_control(std::string_view name,
                                                                         const TransmissionParams& params);

// Factories (one per strategy file).
std::unique_ptr<CongestionControl> make_default_rto(const TransmissionParams& params);
std::unique_ptr<CongestionControl> make_cocoa(const TransmissionParams& params);
std::unique_ptr<CongestionControl> make_cocoa_strong(const TransmissionParams& params);
std::unique_ptr<CongestionControl> make_fasor(const TransmissionParams& params);
std::unique_ptr<CongestionControl> make_linux_rto(const TransmissionParams& params);
std::unique_ptr<CongestionControl> make_peakhopper_rto(const TransmissionParams& params);

}  // namespace coap
