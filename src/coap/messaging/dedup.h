// The de-duplication table of RFC 7252 §4.5: messages recently received, by peer and
// Message ID, with the reply to re-send for a duplicate Confirmable message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "coap/common/peer.h"
#include "coap/common/tables.h"
#include "coap/common/time.h"

namespace coap {

/// Bounded: at most `capacity` entries; inserting into a full table evicts the oldest
/// entry first (counted in `evictions()`). Entries expire at their own deadline
/// (EXCHANGE_LIFETIME for CON, NON_LIFETIME for NON, §4.5) and are removed lazily.
/// Storage is pooled: once the table has been full, inserting allocates nothing, and a
/// reply buffer keeps its capacity for the next entry in its slot.
class DedupCache {
public:
    explicit DedupCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

    struct Entry {
        TimePoint expires;
        std::vector<std::uint8_t> reply;  ///< what to re-send for a duplicate (empty: nothing yet)
    };

    /// The live entry for (peer, mid), or nullptr (an expired one is removed). The
    /// pointer stays valid until the entry is removed (expiry, eviction or re-insertion).
    [[nodiscard]] Entry* find(TimePoint now, const Peer& peer, std::uint16_t mid);
    /// Records a new message; returns its entry (valid as find's).
    Entry& insert(TimePoint now, const Peer& peer, std::uint16_t mid, Duration lifetime);
    /// Removes expired entries from the oldest end.
    void expire(TimePoint now);

    [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::uint64_t evictions() const noexcept { return evictions_; }

private:
    using Key = PeerMid;
    struct Record {
        Key key;
        bool live = false;  ///< false once expired, evicted or replaced by a newer record of its key
        Entry entry;
    };
    void drop_front();
    void compact();
    void remove(std::uint32_t slot);
    /// Marks a record dead (it stays in order_ until it reaches the front), freeing a
    /// reply buffer too large to keep.
    void retire(Record& r);

    std::size_t capacity_;
    SlotPool<Record> records_;
    RingQueue<std::uint32_t> order_;  ///< record slots in insertion order (live and dead)
    FlatMap<Key, std::uint32_t, PeerMidHash> index_;  ///< live key -> record slot
    std::uint64_t evictions_ = 0;
};

}  // namespace coap
