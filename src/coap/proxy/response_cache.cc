#include "coap/proxy/response_cache.h"

#include <algorithm>

#include "coap/options/registry.h"
#include "coap/options/values.h"

namespace coap::proxy {

std::size_t ResponseCache::Entry::bytes() const {
    std::size_t n = key.size() + target.size() + payload.size();
    for (const OwnedOption& o : options) n += o.value.size() + 4;
    return n;
}

const std::vector<std::uint8_t>* ResponseCache::Entry::etag() const {
    for (const OwnedOption& o : options) {
        if (o.number == options::kETag) return &o.value;
    }
    return nullptr;
}

bool ResponseCache::cacheable(Code code) const noexcept {
    if (code == codes::kContent) return true;  // §5.9.1.5
    // §5.9.2, §5.9.3: error responses are cacheable; kept briefly (max_error_freshness).
    if (code.cls() == 4 || code.cls() == 5) return config_.cache_errors;
    // 2.01/2.02/2.04 are not cacheable (§5.9.1.1-4), 2.03 only refreshes an entry
    // (§5.9.1.3), and a success code we do not know MUST NOT be cached (§5.6).
    return false;
}

Duration ResponseCache::freshness(const Message& response) const {
    Duration fresh = Duration::seconds(60);  // §5.10.5: Max-Age defaults to 60 s
    for (const OwnedOption& o : response.options) {
        if (o.number != options::kMaxAge) continue;
        const std::optional<std::uint64_t> v = decode_uint(Bytes(o.value.data(), o.value.size()));
        // §5.10.5: 0 to 2^32-1 seconds; a value that does not decode is not trusted for long.
        fresh = v && *v <= 0xFFFFFFFFull ? Duration::seconds(static_cast<std::int64_t>(*v)) : Duration::seconds(0);
    }
    Duration limit = config_.max_freshness;
    if (response.code.cls() != 2) limit = std::min(limit, config_.max_error_freshness);
    return std::min(fresh, limit);
}

StoreResult ResponseCache::store(TimePoint now, std::string_view key, std::string_view target,
                                 const Message& response) {
    if (!cacheable(response.code)) {
        ++stats_.refused_uncacheable;
        return StoreResult::Uncacheable;
    }
    const Duration fresh = freshness(response);
    if (fresh <= Duration::seconds(0)) {
        ++stats_.refused_no_freshness;
        erase(key);  // a newer response says the stored one must not be reused
        return StoreResult::NoFreshness;
    }
    Entry e;
    e.key.assign(key);
    e.target.assign(target);
    e.code = response.code;
    for (const OwnedOption& o : response.options) {
        if (o.number != options::kMaxAge) e.options.push_back(o);
    }
    e.payload = response.payload;
    e.stored_at = now;
    e.fresh_until = now + fresh;
    const std::size_t size = e.bytes();
    if (size > config_.max_entry_bytes || size > config_.max_total_bytes) {
        ++stats_.refused_too_big;
        erase(key);
        return StoreResult::TooBig;
    }
    if (index_.count(key) != 0) {
        erase(key);
        ++stats_.replaced;
    }
    while (!lru_.empty() && (index_.size() >= config_.max_entries || bytes_ + size > config_.max_total_bytes)) {
        drop(std::prev(lru_.end()));
        ++stats_.evicted_lru;
    }
    lru_.push_front(std::move(e));
    index_.emplace(std::string_view(lru_.front().key), lru_.begin());
    bytes_ += size;
    ++stats_.stored;
    return StoreResult::Stored;
}

ResponseCache::Lookup ResponseCache::lookup(TimePoint now, std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
        ++stats_.misses;
        return {};
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    const Entry& e = *it->second;
    Lookup l;
    l.entry = &e;
    l.fresh = now < e.fresh_until;
    if (l.fresh) {
        // §5.6.1: the Max-Age served is what is left of the freshness, rounded down.
        l.max_age = static_cast<std::uint32_t>((e.fresh_until - now).ns() / 1'000'000'000);
        ++stats_.hits_fresh;
    } else {
        ++stats_.hits_stale;
    }
    return l;
}

bool ResponseCache::revalidate(TimePoint now, std::string_view key, const Message& valid) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    Entry& e = *it->second;
    bytes_ -= e.bytes();
    // §5.9.1.3: the 2.03's options replace the stored ones (its Max-Age gives the new freshness).
    e.options.clear();
    for (const OwnedOption& o : valid.options) {
        if (o.number != options::kMaxAge) e.options.push_back(o);
    }
    Message as_content = valid;
    as_content.code = e.code;
    e.fresh_until = now + freshness(as_content);
    bytes_ += e.bytes();
    lru_.splice(lru_.begin(), lru_, it->second);
    ++stats_.revalidated;
    if (e.bytes() > config_.max_entry_bytes) {
        erase(key);
        ++stats_.refused_too_big;
        return false;
    }
    return true;
}

std::size_t ResponseCache::invalidate(TimePoint now, std::string_view target) {
    std::size_t n = 0;
    for (Entry& e : lru_) {
        if (e.target == target && now < e.fresh_until) {
            e.fresh_until = now;
            ++n;
        }
    }
    stats_.invalidated += n;
    return n;
}

void ResponseCache::erase(std::string_view key) {
    auto it = index_.find(key);
    if (it != index_.end()) drop(it->second);
}

void ResponseCache::drop(List::iterator it) {
    bytes_ -= it->bytes();
    index_.erase(std::string_view(it->key));
    lru_.erase(it);
}

}  // namespace coap::proxy
