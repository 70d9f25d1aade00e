// The observe server (RFC 7641): registrations, notifications and their sequence numbers,
// the CON rule, and the end of observations. Part of ServerLayer (server.h).
#include <algorithm>

#include "coap/server/server.h"

namespace coap {

namespace {
// Matches the observer entry of (peer, token): one client's one observation.
auto entry_of(const Peer& peer, const Token& token) {
    return [&peer, &token](const auto& o) { return o.peer == peer && o.token == token; };
}
}  // namespace

std::size_t ServerLayer::observer_count(const std::string& path) const {
    auto it = resources_.find(path);
    return it == resources_.end() ? 0 : it->second.observers.size();
}

bool ServerLayer::is_observer(const Resource& res, const Peer& peer, const Token& token) {
    return std::any_of(res.observers.begin(), res.observers.end(), entry_of(peer, token));
}

bool ServerLayer::may_register(TimePoint now, const Peer& from, const Token& token, const Resource& res) {
    const ServerDefences& def = config_.defences;
    bool may = true;
    if (def.observe_verified_only) {
        may = guard_.verified(now, from);
        if (!may) ++stats_.observe_refused;  // answered as a plain GET (RFC 7641 §4.1)
    }
    // RFC 7641 §4.1: the same client and token again replaces its entry; it holds no new one.
    const bool reregisters = is_observer(res, from, token);
    if (may && !reregisters && def.max_observations_per_address > 0) {
        std::size_t held = 0;
        for (const auto& [path, r] : resources_) {
            for (const Observer& o : r.observers) {
                held += (o.peer.family == from.family && o.peer.address == from.address) ? 1 : 0;
            }
        }
        may = held < def.max_observations_per_address;
        if (!may) ++stats_.observe_refused;
    }
    return may;
}

void ServerLayer::register_observer(Dispatch& d, Resource& res, const Token& token) {
    (void)add_observer(d.now, d.from, token, res, request_.query, request_.accept, d.shape);
}

bool ServerLayer::add_observer(TimePoint now, const Peer& peer, const Token& token, Resource& res,
                               const std::vector<std::string>& query, std::optional<std::uint16_t> accept,
                               ResponseShape& shape) {
    auto oit = std::find_if(res.observers.begin(), res.observers.end(), entry_of(peer, token));
    if (oit == res.observers.end() && res.observers.size() < config_.max_observers_per_resource) {
        res.observers.push_back(Observer{});
        oit = std::prev(res.observers.end());
    }
    if (oit == res.observers.end()) return false;  // full: answered as a plain GET (RFC 7641 §4.1)
    oit->peer = peer;
    oit->token = token;
    oit->query = query;
    oit->accept = accept;
    oit->last_con = now;
    oit->szx = shape.request_block2 ? std::min(shape.request_block2->szx, config_.block_szx) : config_.block_szx;
    shape.observe_seq = res.seq;
    return true;
}

ServerLayer::Resource* ServerLayer::proxied_resource(const std::string& key) {
    if (!proxy_ || key.empty()) return nullptr;
    auto it = resources_.find(key);
    if (it != resources_.end()) return it->second.proxied ? &it->second : nullptr;  // never a real resource
    if (proxied_ >= config_.max_proxy_observations) return nullptr;  // bounded: a plain answer then
    Resource r;
    r.path = key;
    r.config = proxy_->config;
    r.config.observable = true;
    r.proxied = true;
    ++proxied_;
    return &resources_.emplace(key, std::move(r)).first->second;
}

void ServerLayer::register_proxied(TimePoint now, const Peer& peer, const Token& token, const std::string& key,
                                   const std::vector<std::string>& query, std::optional<std::uint16_t> accept,
                                   ResponseShape& shape) {
    Resource* res = proxied_resource(key);
    if (res == nullptr) return;
    if (may_register(now, peer, token, *res)) (void)add_observer(now, peer, token, *res, query, accept, shape);
    prune_proxied();  // a resource made for an observer the defences refused
}

void ServerLayer::prune_proxied() {
    if (notifying_ || proxied_ == 0) return;  // nothing to walk the table for
    for (auto it = resources_.begin(); it != resources_.end();) {
        if (it->second.proxied && it->second.observers.empty()) {
            it = resources_.erase(it);
            --proxied_;
        } else {
            ++it;
        }
    }
}

std::size_t ServerLayer::notify(TimePoint now, const std::string& path) {
    auto it = resources_.find(path);
    if (it == resources_.end()) return 0;
    Resource& res = it->second;
    res.seq = (res.seq + 1) & 0xffffff;  // RFC 7641 §4.4: 24-bit sequence numbers
    notifying_ = true;  // `res` stays while its observers are walked
    // send_notification may remove observers: walk a snapshot of who observes now.
    std::vector<std::pair<Peer, Token>> snapshot;
    snapshot.reserve(res.observers.size());
    for (const Observer& o : res.observers) snapshot.emplace_back(o.peer, o.token);
    for (const auto& who : snapshot) {
        auto live = std::find_if(res.observers.begin(), res.observers.end(), entry_of(who.first, who.second));
        if (live != res.observers.end()) send_notification(now, res, *live);
    }
    notifying_ = false;
    prune_proxied();
    return snapshot.size();
}

void ServerLayer::send_notification(TimePoint now, Resource& res, Observer& obs) {
    IncomingRequest req;
    req.peer = obs.peer;
    req.method = codes::kGet;
    req.path = res.path;
    req.query = obs.query;
    req.accept = obs.accept;
    req.is_notification = true;
    req.message = nullptr;
    req.now = now;
    req.block2 = Block{0, false, obs.szx};  // a notification carries the first block (RFC 7959 §2.6)
    HandlerResult result = res.config.handler(req);
    if (result.deferred) return;  // a notification cannot be deferred
    ResponseShape shape;
    const bool ends = !result.response.code.is_success();
    if (!ends) shape.observe_seq = res.seq;
    // RFC 7641 §4.5: CON when configured, and at least once every 24 hours. (Not more
    // often to find dead observers: every CON to a spoofed observer is retransmitted, which
    // raises what an attacker reflects; the driver's ICMP reports end them instead.)
    const bool con = config_.confirmable_notifications || now - obs.last_con >= config_.con_notification_interval;
    const Peer peer = obs.peer;
    const Token token = obs.token;
    const std::uint16_t mid = messages_.mid_for(now, peer);
    std::vector<std::uint8_t> bytes = messages_.buffer(0);
    build_response(bytes, obs.szx, con ? MessageType::Con : MessageType::Non, mid, token.view(),
                   result.response, shape);
    if (guard_.active() && !guard_.may_send(now, peer, bytes.size())) {
        // An unverified observer past its allowance: stop reflecting toward it.
        ++stats_.amplification_dropped;
        remove_observer(peer, token);
        return;
    }
    ++stats_.notifications_sent;
    send_notification_datagram(now, obs, con, mid, std::move(bytes));
    if (ends) remove_observer(peer, token);  // RFC 7641 §4.2: an error ends the observation
}

void ServerLayer::send_notification_datagram(TimePoint now, Observer& obs, bool con, std::uint16_t mid,
                                             std::vector<std::uint8_t> bytes) {
    const Peer peer = obs.peer;
    if (!con) {
        messages_.transmit(peer, std::move(bytes));
        recent_non_.put(PeerMid{peer, mid}, obs.token);
        recent_non_order_.push_back(PeerMid{peer, mid});
        while (recent_non_order_.size() > 4 * config_.max_observers_per_resource + 64) {
            recent_non_.erase(recent_non_order_.front());
            recent_non_order_.pop_front();
        }
        return;
    }
    obs.last_con = now;
    // RFC 7641 §4.5.2: the newer notification replaces the one still in flight, keeping
    // its retransmission counter and timeout.
    if (!obs.con_outstanding || !messages_.replace(peer, obs.con_mid, mid, bytes)) {
        messages_.send_con(now, peer, mid, std::move(bytes), Owner{OwnerKind::Notification, 0, obs.token});
    }
    obs.con_outstanding = true;
    obs.con_mid = mid;
}

void ServerLayer::on_notification_acked(const Peer& peer, const Token& token) {
    for (auto& [path, res] : resources_) {
        for (Observer& obs : res.observers) {
            if (obs.peer == peer && obs.token == token) obs.con_outstanding = false;
        }
    }
}

bool ServerLayer::on_stray_reset(const Peer& peer, std::uint16_t mid) {
    // RFC 7641 §3.6: an RST to a NON notification ends that observation.
    const Token* token = recent_non_.find(PeerMid{peer, mid});
    if (token == nullptr) return false;
    const Token t = *token;
    recent_non_.erase(PeerMid{peer, mid});
    remove_observer(peer, t);
    return true;
}

void ServerLayer::remove_observers_of(const Peer& peer) {
    for (auto& [path, res] : resources_) {
        auto& v = res.observers;
        const std::size_t before = v.size();
        v.erase(std::remove_if(v.begin(), v.end(), [&](const Observer& o) { return o.peer == peer; }), v.end());
        stats_.observers_unreachable += before - v.size();
    }
    prune_proxied();
}

void ServerLayer::remove_observer(const Peer& peer, const Token& token) {
    for (auto& [path, res] : resources_) {
        auto& v = res.observers;
        v.erase(std::remove_if(v.begin(), v.end(), entry_of(peer, token)), v.end());
    }
    prune_proxied();
}

}  // namespace coap
