#include "coap/server/blockwise.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

namespace coap {

template <class T>
std::size_t BlockwiseServer::index_of(const std::vector<T>& v, const Peer& peer, const std::string& key) {
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i].peer == peer && v[i].key == key) return i;
    }
    return v.size();
}

template <class T>
void BlockwiseServer::evict_soonest(std::vector<T>& v) {
    // The entry closest to expiry (ties: the lowest peer and key) makes room.
    std::size_t victim = 0;
    for (std::size_t i = 1; i < v.size(); ++i) {
        const T& a = v[i];
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
    const Upload_* from = nullptr;
    if (count(peer) >= share) {
        for (const Upload_& u : uploads_) {
            if (same_address(u.peer, peer)) from = &u;
        }
    } else if (uploads_.size() >= config_.max_block1_transfers) {
        for (const Upload_& u : uploads_) {
            if (from == nullptr || count(u.peer) > count(from->peer) ||
                (count(u.peer) == count(from->peer) &&
                 (u.expires < from->expires || (u.expires == from->expires && u.peer < from->peer)))) {
                from = &u;
            }
        }
    }
    if (from == nullptr) return;
    const Peer address = from->peer;
    std::size_t victim = uploads_.size();  // that address's upload closest to expiry
    for (std::size_t i = 0; i < uploads_.size(); ++i) {
        const Upload_& u = uploads_[i];
        if (!same_address(u.peer, address)) continue;
        if (victim == uploads_.size() || u.expires < uploads_[victim].expires ||
            (u.expires == uploads_[victim].expires &&
             (u.peer < uploads_[victim].peer || (u.peer == uploads_[victim].peer && u.key < uploads_[victim].key)))) {
            victim = i;
        }
    }
    std::swap(uploads_[victim], uploads_.back());
    uploads_.pop_back();
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
        if (!kept_.empty() && kept_.size() >= config_.max_block1_transfers) evict_soonest(kept_);
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
