// The server's block-wise state (RFC 7959): Block1 uploads being reassembled (§2.5) and
// the bodies of POST/PUT/DELETE responses kept so that Block2 continuations are served
// without running the handler again (§3.3). Both are keyed by peer and "path|Request-Tag"
// (§2.5, RFC 9175 §3) and bounded by max_block1_transfers each: a new entry in a full
// table evicts the one closest to expiry. Entries live EXCHANGE_LIFETIME after their last use.
// Uploads are also shared out by IP address: one address (whatever its ports) holds at
// most a quarter of the table (at least one), a new upload beyond its share replaces its
// own oldest, and a full table makes room at the address holding the most, so that one
// address cannot evict the uploads of others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "coap/common/bytes.h"
#include "coap/common/peer.h"
#include "coap/common/time.h"
#include "coap/endpoint/types.h"
#include "coap/options/values.h"

namespace coap {

class BlockwiseServer {
public:
    explicit BlockwiseServer(const EndpointConfig& config) : config_(config) {}

    enum class Upload : std::uint8_t {
        More,        ///< a block stored, more to come: answer 2.31 Continue (§2.3)
        Complete,    ///< the last block: the whole body is in `body`
        Incomplete,  ///< the blocks do not line up: 4.08 (§2.9.2)
        TooLarge,    ///< over max_body: 4.13 with Size1 (§2.9.3)
    };
    /// Adds one Block1 block of the upload `key` from `peer`.
    [[nodiscard]] Upload add_block(TimePoint now, const Peer& peer, const std::string& key, const Block& block,
                                   Bytes payload, std::vector<std::uint8_t>& body);

    /// The response kept for a Block2 continuation, or nullptr.
    [[nodiscard]] const Response* cached(TimePoint now, const Peer& peer, const std::string& key) const;
    /// Keeps a copy of `response` for its Block2 continuations.
    void keep(TimePoint now, const Peer& peer, const std::string& key, const Response& response);

    /// Drops what has expired.
    void expire(TimePoint now);
    [[nodiscard]] std::size_t uploads() const noexcept { return uploads_.size(); }
    [[nodiscard]] std::size_t kept() const noexcept { return kept_.size(); }

private:
    struct Upload_ {
        Peer peer;
        std::string key;
        std::vector<std::uint8_t> body;
        TimePoint expires;
    };
    struct Kept {
        Peer peer;
        std::string key;
        Response response;
        TimePoint expires;
    };
    template <class T>
    static std::size_t index_of(const std::vector<T>& v, const Peer& peer, const std::string& key);
    /// Removes the entry closest to expiry among those `eligible` accepts (ties: the lowest
    /// peer and key).
    template <class T, class Eligible>
    static void evict_soonest(std::vector<T>& v, Eligible eligible);
    /// Makes room for a new upload from `peer`'s address (its share, then the table's bound).
    void make_room_for(const Peer& peer);

    const EndpointConfig& config_;
    std::vector<Upload_> uploads_;
    std::vector<Kept> kept_;
};

}  // namespace coap
