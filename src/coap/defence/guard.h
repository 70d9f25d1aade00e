// The server's defences against reflection and amplification, applied where requests
// enter and responses leave (RFC 7252 §4.7, §11.3; RFC 9175 §2.4): per-address byte
// accounting, the amplification allowance of unverified addresses, Echo challenges and
// verification, and the per-address request rate limit. Configured by ServerDefences
// (types.h); when none is on, nothing is kept.
//
// Bound: at most max_peers transport addresses (address and port) are remembered for the
// accounting, and max_peers IP addresses for the rate limit; a new one evicts the one
// seen least recently, which then starts unverified (or with a full bucket) again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "coap/codec/message_view.h"
#include "coap/common/tables.h"
#include "coap/endpoint/types.h"

namespace coap {

class DefenceGuard {
public:
    DefenceGuard(const EndpointConfig& config, EndpointStats& stats) : config_(config), stats_(stats) {}

    /// Whether any defence is configured (otherwise every call below is a no-op).
    [[nodiscard]] bool active() const noexcept { return config_.defences.any(); }
    /// A request from `from` enters: its bytes are counted, the rate limit applied
    /// (false: drop it, counted in rate_limited) and its Echo option verified.
    [[nodiscard]] bool admit(TimePoint now, const Peer& from, const MessageView& m);
    /// Whether `size` more bytes may go to `peer` now; accounts them if so.
    [[nodiscard]] bool may_send(TimePoint now, const Peer& peer, std::size_t size);
    /// Counts `size` bytes sent to `peer` that had to go regardless (an Empty ACK, §5.2.2),
    /// so that they come out of what may follow.
    void account(TimePoint now, const Peer& peer, std::size_t size);
    /// Whether `peer` proved its address with an Echo within verified_for.
    [[nodiscard]] bool verified(TimePoint now, const Peer& peer) const;
    /// A reply to an unverified address, limited by its allowance: true with `bytes`
    /// unchanged, true with `bytes` rewritten as a 4.01 carrying a fresh Echo (RFC 9175
    /// §2.4), or false (nothing may be sent; counted in amplification_dropped).
    [[nodiscard]] bool limit_reply(TimePoint now, const Peer& peer, std::vector<std::uint8_t>& bytes,
                                   MessageType type, std::uint16_t mid, Bytes token);
    [[nodiscard]] std::size_t entries() const noexcept { return table_.size(); }
    [[nodiscard]] std::size_t rate_buckets() const noexcept { return buckets_.size(); }

private:
    struct State {
        std::uint64_t received = 0;  ///< bytes received from the address
        std::uint64_t sent = 0;      ///< bytes sent to it while unverified
        TimePoint verified_until;    ///< verified before this (never: the clock's origin)
        TimePoint last_seen;
    };
    /// The rate-limit bucket of one IP address, whatever the port (RFC 7252 §4.7 limits
    /// what an address gets; a port is free to change).
    struct Bucket {  ///< keyed by the address with port 0
        double tokens = 0;
        TimePoint refilled;
        TimePoint last_seen;
    };
    State& state(TimePoint now, const Peer& peer);
    Bucket& bucket(TimePoint now, const Peer& peer);

    const EndpointConfig& config_;
    EndpointStats& stats_;
    FlatMap<Peer, State, PeerHashOf> table_;
    FlatMap<Peer, Bucket, PeerHashOf> buckets_;  ///< by address; bounded by max_peers too
};

}  // namespace coap
