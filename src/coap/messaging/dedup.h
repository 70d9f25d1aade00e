// The de-duplication table of RFC 7252 §4.5: messages recently received, by peer and
// Message ID, with the reply to re-send for a duplicate Confirmable message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "coap/common/peer.h"
#include "coap/common/time.h"

namespace coap {

/// Bounded: at most `capacity` entries; inserting into a full table evicts the oldest
/// entry first (counted in `evictions()`). Entries expire at their own deadline
/// (EXCHANGE_LIFETIME for CON, NON_LIFETIME for NON, §4.5) and are removed lazily.
class DedupCache {
public:
    explicit DedupCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

    struct Entry {
        TimePoint expires;
        std::vector<std::uint8_t> reply;  ///< what to re-send for a duplicate (empty: nothing yet)
    };

    /// The live entry for (peer, mid), or nullptr (an expired one is removed).
    [[nodiscard]] Entry* find(TimePoint now, const Peer& peer, std::uint16_t mid);
    /// Records a new message; returns its entry.
    Entry& insert(TimePoint now, const Peer& peer, std::uint16_t mid, Duration lifetime);
    /// Removes expired entries from the oldest end.
    void expire(TimePoint now);

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::uint64_t evictions() const noexcept { return evictions_; }

private:
    using Key = std::pair<Peer, std::uint16_t>;
    std::size_t capacity_;
    std::map<Key, Entry> entries_;
    std::deque<std::pair<Key, TimePoint>> order_;  ///< insertion order, with each insertion's expiry
    std::uint64_t evictions_ = 0;
};

}  // namespace coap
