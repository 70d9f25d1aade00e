#include "coap/server/blockwise.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <utility>

namespace coap {

template <class T>
std::size_t BlockwiseServer::index_of(const std::vector<T>& v, const Peer& peer, const std::string& key) {
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i].peer == peer && v[i].key == key) return i;
    }
    return v.size();
}

template <class T, class Eligible>
void BlockwiseServer::evict_soonest(std::vector<T>& v, Eligible eligible) {
    std::size_t victim = v.size();
    for (std::size_t i = 0; i < v.size(); ++i) {
        const T& a = v[i];
        if (!eligible(a)) continue;
        if (victim == v.size()) {
            victim = i;
            continue;
        }
        const T& b = v[victim];
        if (a.expires < b.expires ||
            (a.expires == b.expires && (a.peer < b.peer || (a.peer == b.peer && a.key < b.key)))) {
            victim = i;
        }
    }
    if (victim < v.size()) {
        std::swap(v[victim], v.back());
        v.pop_back();
    }
}

namespace {
bool same_address(const Peer& a, const Peer& b) noexcept { return a.family == b.family && a.address == b.address; }
}  // namespace

void BlockwiseServer::make_room_for(const Peer& peer) {
    const std::size_t share = std::max<std::size_t>(1, config_.max_block1_transfers / 4);
    std::map<std::pair<std::uint8_t, std::array<std::uint8_t, 16>>, std::size_t> held;
    for (const Upload_& u : uploads_) ++held[{u.peer.family, u.peer.address}];
    auto count = [&](const Peer& p) { return held[{p.family, p.address}]; };
    // Whose upload goes: this address's own at its share; else, in a full table, that of
    // the address holding the most (ties: the one whose upload expires first).
    std::optional<Peer> from;
    if (count(peer) >= share) {
        from = peer;
    } else if (uploads_.size() >= config_.max_block1_transfers) {
        const Upload_* most = nullptr;
        for (const Upload_& u : uploads_) {
            if (most == nullptr || count(u.peer) > count(most->peer) ||
                (count(u.peer) == count(most->peer) &&
                 (u.expires < most->expires || (u.expires == most->expires && u.peer < most->peer)))) {
                most = &u;
            }
        }
        if (most != nullptr) from = most->peer;
    }
    if (from) evict_soonest(uploads_, [&](const Upload_& u) { return same_address(u.peer, *from); });
}

BlockwiseServer::Upload BlockwiseServer::add_block(TimePoint now, const Peer& peer, const std::string& key,
                                                   const Block& block, Bytes payload, std::vector<std::uint8_t>& body) {
    std::size_t i = index_of(uploads_, peer, key);
    if (block.num == 0) {
        if (i == uploads_.size()) {
            if (!uploads_.empty()) make_room_for(peer);
            uploads_.push_back(Upload_{peer, key, {}, now});
            i = uploads_.size() - 1;
        }
        uploads_[i].body.clear();
    } else if (i == uploads_.size() || uploads_[i].body.size() != block.offset()) {
        // RFC 7959 §2.9.2: the blocks do not line up.
        if (i < uploads_.size()) {
            std::swap(uploads_[i], uploads_.back());
            uploads_.pop_back();
        }
        return Upload::Incomplete;
    }
    Upload_& t = uploads_[i];
    t.expires = now + config_.params.exchange_lifetime();
    if (t.body.size() + payload.size() > config_.max_body) {
        std::swap(uploads_[i], uploads_.back());
        uploads_.pop_back();
        return Upload::TooLarge;
    }
    t.body.insert(t.body.end(), payload.begin(), payload.end());
    if (block.more) return Upload::More;
    body = std::move(t.body);
    std::swap(uploads_[i], uploads_.back());
    uploads_.pop_back();
    return Upload::Complete;
}

const Response* BlockwiseServer::cached(TimePoint now, const Peer& peer, const std::string& key) const {
    const std::size_t i = index_of(kept_, peer, key);
    if (i == kept_.size() || kept_[i].expires <= now) return nullptr;
    return &kept_[i].response;
}

void BlockwiseServer::keep(TimePoint now, const Peer& peer, const std::string& key, const Response& response) {
    std::size_t i = index_of(kept_, peer, key);
    if (i == kept_.size()) {
        if (!kept_.empty() && kept_.size() >= config_.max_block1_transfers) evict_soonest(kept_, [](const Kept&) { return true; });
        kept_.push_back(Kept{peer, key, {}, now});
        i = kept_.size() - 1;
    }
    kept_[i].response = response;
    kept_[i].expires = now + config_.params.exchange_lifetime();
}

void BlockwiseServer::expire(TimePoint now) {
    auto gone = [now](const auto& e) { return e.expires <= now; };
    uploads_.erase(std::remove_if(uploads_.begin(), uploads_.end(), gone), uploads_.end());
    kept_.erase(std::remove_if(kept_.begin(), kept_.end(), gone), kept_.end());
}

}  // namespace coap
