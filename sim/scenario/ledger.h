// MessageLedger: what the simulator knows and an endpoint cannot, which copies of a
// message reached its destination. A copy sent after an earlier copy that got through
// (then or later) was spurious: it tells a spurious retransmission (the RTO fired before
// the earlier copy's ACK could arrive) from a necessary one (every earlier copy was lost), and which bottleneck bytes carried the first copy of a message that got
// through (`useful_fraction`). No ns-3 in here; the simulation tags each datagram with
// the id and copy number `sent` returns and reports deliveries and bottleneck bytes.
//
// A message is (sender, peer, type, Message ID): a copy is a datagram with the same four
// sent within `horizon` seconds of the first (RFC 7252 §4.4: a Message ID is not reused
// within EXCHANGE_LIFETIME; copies of a CON follow within MAX_TRANSMIT_SPAN, and replies
// re-sent for duplicates within MAX_TRANSMIT_WAIT). Bound: entries older than the
// horizon are settled (their bytes counted) and dropped, so the table holds the messages
// of the last `horizon` seconds.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>

namespace coapbed::sim {

class MessageLedger {
public:
    explicit MessageLedger(double horizon_s) : horizon_s_(horizon_s) {}

    struct Copy {
        std::uint64_t id = 0;    ///< the message
        std::uint32_t copy = 0;  ///< 0 for the first transmission
    };
    /// A datagram leaves `sender` toward `peer`. `confirmable`: a CON (its copies are
    /// retransmissions; the copies of other types are replies re-sent for duplicates).
    Copy sent(std::uint64_t sender, std::uint64_t peer, std::uint8_t type, std::uint16_t mid, double now_s);
    /// Copy `copy` of message `id` reached its destination.
    void delivered(std::uint64_t id, std::uint32_t copy);
    /// `bytes` of a copy crossed the bottleneck (counted toward useful_fraction when it
    /// is the first copy of a message that gets through).
    void on_bottleneck(std::uint64_t id, std::uint32_t copy, std::uint64_t bytes);

    struct Totals {
        std::uint64_t datagrams = 0;                ///< every copy of every message
        std::uint64_t spurious = 0;                 ///< copies after the first one that got through
        std::uint64_t con_retransmissions = 0;      ///< copies of CON messages after the first
        std::uint64_t spurious_retransmissions = 0; ///< those among them that were spurious
        std::uint64_t useful_bottleneck_bytes = 0;  ///< first copies of delivered messages
        std::uint64_t messages = 0, delivered = 0;
    };
    /// Settles every message still in the table; call once the run is over.
    Totals finish();
    std::size_t size() const { return by_key_.size(); }

private:
    struct Key {
        std::uint64_t sender, peer;
        std::uint32_t type_mid;
        bool operator==(const Key& o) const { return sender == o.sender && peer == o.peer && type_mid == o.type_mid; }
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const {
            std::uint64_t h = k.sender * 0x9E3779B97F4A7C15ULL ^ (k.peer + 0x632BE59BD9B4E019ULL);
            h ^= (h >> 29) ^ (static_cast<std::uint64_t>(k.type_mid) * 0xBF58476D1CE4E5B9ULL);
            return static_cast<std::size_t>(h ^ (h >> 32));
        }
    };
    struct Entry {
        Key key;
        double first_s;
        std::uint32_t copies = 0;
        std::uint32_t first_delivered = kNone;  ///< the earliest copy that got through
        std::uint64_t first_bottleneck_bytes = 0;
    };
    static constexpr std::uint32_t kNone = 0xFFFFFFFF;
    void settle(const Entry& e);
    void expire(double now_s);

    double horizon_s_;
    std::uint64_t next_id_ = 0;
    std::unordered_map<Key, std::uint64_t, KeyHash> by_key_;  ///< live messages by key
    std::unordered_map<std::uint64_t, Entry> by_id_;
    std::deque<std::uint64_t> order_;  ///< ids by first transmission
    Totals totals_;
};

}  // namespace coapbed::sim
