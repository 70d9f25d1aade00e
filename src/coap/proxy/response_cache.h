// A proxy's response cache (RFC 7252 §5.6): responses stored under their full cache key
// (cache_key.h), fresh for their Max-Age (§5.6.1, default 60 s, clamped), validated by
// ETag (§5.6.2: a 2.03 refreshes the entry and replaces its options), made stale by a
// 2.01/2.02/2.04 to their target (§5.9.1.1-4). Error responses (4.xx, 5.xx) are kept at
// most `max_error_freshness`; success codes this cache does not know are never stored.
//
// Bounds: `max_entries` entries and `max_total_bytes` bytes of stored responses; a
// response above `max_entry_bytes` is not stored (the proxy forwards it). A full cache
// drops its least recently used entry. Every refusal and eviction is counted. Pure: the
// caller passes `now`; nothing is allocated per lookup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coap/codec/message.h"
#include "coap/common/time.h"

namespace coap::proxy {

struct CacheConfig {
    std::size_t max_entries = 256;
    std::size_t max_entry_bytes = 128 * 1024;   ///< options + payload of one response
    std::size_t max_total_bytes = 1024 * 1024;  ///< of all entries (their keys included)
    Duration max_freshness = Duration::seconds(3600);
    bool cache_errors = true;
    Duration max_error_freshness = Duration::seconds(10);
};

struct CacheStats {
    std::uint64_t stored = 0;
    std::uint64_t replaced = 0;           ///< a store over an existing entry
    std::uint64_t refused_uncacheable = 0;///< a code that is not cacheable (2.01/2.02/2.04, unknown 2.xx, ...)
    std::uint64_t refused_no_freshness = 0;///< Max-Age 0
    std::uint64_t refused_too_big = 0;    ///< above max_entry_bytes or max_total_bytes
    std::uint64_t evicted_lru = 0;        ///< dropped to make room
    std::uint64_t hits_fresh = 0;
    std::uint64_t hits_stale = 0;         ///< found, but no longer fresh
    std::uint64_t misses = 0;
    std::uint64_t revalidated = 0;        ///< 2.03 refreshed an entry
    std::uint64_t invalidated = 0;        ///< marked stale by a 2.01/2.02/2.04
};

enum class StoreResult : std::uint8_t { Stored, Uncacheable, NoFreshness, TooBig };

class ResponseCache {
public:
    struct Entry {
        std::string key;
        std::string target;                ///< what invalidation matches (the canonical target)
        Code code;
        std::vector<OwnedOption> options;  ///< the response's options without Max-Age
        std::vector<std::uint8_t> payload;
        TimePoint stored_at;
        TimePoint fresh_until;
        [[nodiscard]] std::size_t bytes() const;
        /// The ETag the response carried (empty if none).
        [[nodiscard]] const std::vector<std::uint8_t>* etag() const;
    };
    struct Lookup {
        const Entry* entry = nullptr;  ///< nullptr: a miss
        bool fresh = false;
        std::uint32_t max_age = 0;     ///< seconds of freshness left, rounded down (§5.6.1): the Max-Age to serve
    };

    explicit ResponseCache(CacheConfig config = {}) : config_(config) {}

    /// Whether a response with `code` may be stored at all (§5.6, §5.9).
    [[nodiscard]] bool cacheable(Code code) const noexcept;
    /// Stores `response` under `key` (replacing an entry there). `target` is the
    /// canonical target, for invalidate().
    StoreResult store(TimePoint now, std::string_view key, std::string_view target, const Message& response);
    /// The entry for `key`, fresh or not; marks it most recently used.
    Lookup lookup(TimePoint now, std::string_view key);
    /// A 2.03 for the entry under `key` (§5.9.1.3): fresh again for the 2.03's Max-Age,
    /// its options replaced by the 2.03's. False if there is no such entry.
    bool revalidate(TimePoint now, std::string_view key, const Message& valid);
    /// A 2.01/2.02/2.04 to `target`: every entry for it is no longer fresh (§5.9.1.1-4).
    std::size_t invalidate(TimePoint now, std::string_view target);
    void erase(std::string_view key);

    [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }
    [[nodiscard]] std::size_t total_bytes() const noexcept { return bytes_; }
    [[nodiscard]] const CacheStats& stats() const noexcept { return stats_; }
    [[nodiscard]] const CacheConfig& config() const noexcept { return config_; }

private:
    using List = std::list<Entry>;  // most recently used first
    Duration freshness(const Message& response) const;
    void drop(List::iterator it);

    CacheConfig config_;
    List lru_;
    std::unordered_map<std::string_view, List::iterator> index_;  // views the entries' keys
    std::size_t bytes_ = 0;
    CacheStats stats_;
};

}  // namespace coap::proxy
