#include "coap/messaging/dedup.h"

namespace coap {

DedupCache::Entry* DedupCache::find(TimePoint now, const Peer& peer, std::uint16_t mid) {
    auto it = entries_.find(Key{peer, mid});
    if (it == entries_.end()) return nullptr;
    if (it->second.expires <= now) {
        entries_.erase(it);  // its order_ record is dropped when it reaches the front
        return nullptr;
    }
    return &it->second;
}

DedupCache::Entry& DedupCache::insert(TimePoint now, const Peer& peer, std::uint16_t mid, Duration lifetime) {
    expire(now);
    const Key key{peer, mid};
    const TimePoint expires = now + lifetime;
    while (entries_.size() >= capacity_ && !order_.empty()) {
        const auto [oldest, when] = order_.front();
        order_.pop_front();
        auto it = entries_.find(oldest);
        // Skip stale order records (the key was re-inserted later or already removed).
        if (it != entries_.end() && it->second.expires == when) {
            entries_.erase(it);
            ++evictions_;
        }
    }
    Entry& e = entries_[key];
    e.expires = expires;
    e.reply.clear();
    order_.emplace_back(key, expires);
    // Stale order records are bounded too: compact when they outnumber live entries.
    if (order_.size() > 2 * capacity_ + 16) {
        std::deque<std::pair<Key, TimePoint>> live;
        for (const auto& rec : order_) {
            auto it = entries_.find(rec.first);
            if (it != entries_.end() && it->second.expires == rec.second) live.push_back(rec);
        }
        order_.swap(live);
    }
    return e;
}

void DedupCache::expire(TimePoint now) {
    while (!order_.empty()) {
        const auto& [key, when] = order_.front();
        if (when > now) break;
        auto it = entries_.find(key);
        if (it != entries_.end() && it->second.expires == when) entries_.erase(it);
        order_.pop_front();
    }
}

}  // namespace coap
