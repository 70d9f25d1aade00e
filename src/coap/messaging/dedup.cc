#include "coap/messaging/dedup.h"

namespace coap {

namespace {
// A reply buffer larger than this is freed when its record goes, not kept for reuse.
constexpr std::size_t kKeptReplyCapacity = 2048;
}  // namespace

void DedupCache::retire(Record& r) {
    r.live = false;
    if (r.entry.reply.capacity() > kKeptReplyCapacity) std::vector<std::uint8_t>().swap(r.entry.reply);
}

void DedupCache::remove(std::uint32_t slot) {
    Record& r = records_[slot];
    if (!r.live) return;
    index_.erase(r.key);
    retire(r);
}

DedupCache::Entry* DedupCache::find(TimePoint now, const Peer& peer, std::uint16_t mid) {
    const std::uint32_t* slot = index_.find(Key{peer, mid});
    if (slot == nullptr) return nullptr;
    Record& r = records_[*slot];
    if (r.entry.expires <= now) {
        remove(*slot);  // its order_ record is dropped when it reaches the front
        return nullptr;
    }
    return &r.entry;
}

void DedupCache::drop_front() {
    const std::uint32_t slot = order_.front();
    order_.pop_front();
    remove(slot);
    records_.release(slot);
}

DedupCache::Entry& DedupCache::insert(TimePoint now, const Peer& peer, std::uint16_t mid, Duration lifetime) {
    expire(now);
    const Key key{peer, mid};
    while (index_.size() >= capacity_ && !order_.empty()) {
        if (records_[order_.front()].live) ++evictions_;
        drop_front();
    }
    const std::uint32_t slot = records_.acquire();
    if (auto [indexed, inserted] = index_.try_put(key, std::uint32_t{slot}); !inserted) {
        // An expired record of the key not yet removed: it goes, this one takes its place.
        retire(records_[*indexed]);
        *indexed = slot;
    }
    Record& r = records_[slot];
    r.key = key;
    r.live = true;
    r.entry.expires = now + lifetime;
    r.entry.reply.clear();
    order_.push_back(slot);
    // Dead order records are bounded too: compact when they outnumber live entries.
    if (order_.size() > 2 * capacity_ + 16) compact();
    return records_[slot].entry;
}

void DedupCache::compact() {
    const std::size_t n = order_.size();
    for (std::size_t k = 0; k < n; ++k) {
        const std::uint32_t slot = order_.front();
        order_.pop_front();
        if (records_[slot].live) {
            order_.push_back(slot);
        } else {
            records_.release(slot);
        }
    }
}

void DedupCache::expire(TimePoint now) {
    while (!order_.empty()) {
        Record& r = records_[order_.front()];
        if (r.entry.expires > now) break;
        drop_front();
    }
}

}  // namespace coap
