#include "coap/proxy/forward_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/proxy/hop_by_hop.h"

namespace coap::proxy {

namespace {

constexpr std::uint32_t kBusyRetrySeconds = 2;  // Max-Age of a 5.03 (RFC 7252 §5.9.3.4)

std::vector<std::uint8_t> to_bytes(Bytes b) { return std::vector<std::uint8_t>(b.begin(), b.end()); }

/// What a pass-through cache key adds for the block asked for (none: the origin's first).
std::string block_suffix(const std::optional<Block>& b) {
    if (!b) return std::string("\0block:first", 12);
    return std::string("\0block:", 7) + std::to_string(b->num) + "/" + std::to_string(b->szx);
}

}  // namespace

std::optional<Peer> resolve_ip_literal(const Target& t) {
    if (t.host_kind == HostKind::IPv4) {
        in_addr a{};
        if (inet_pton(AF_INET, t.host.c_str(), &a) == 1) return Peer::ipv4(ntohl(a.s_addr), t.port);
    } else if (t.host_kind == HostKind::IPv6) {
        std::uint8_t a[16];
        if (inet_pton(AF_INET6, t.host.c_str(), a) == 1) return Peer::ipv6(a, t.port);
    }
    return std::nullopt;  // a reg-name: the driver's resolver, if it gave one
}

ForwardProxy::ForwardProxy(EndpointConfig down, EndpointConfig up, ProxyConfig config, Random& down_rng,
                           Random& up_rng)
    : config_(std::move(config)), down_(std::move(down), down_rng), up_(std::move(up), up_rng),
      cache_(config_.cache_config), ports_(config_.ports, up_rng) {
    if (!config_.resolve) config_.resolve = resolve_ip_literal;
    (void)down_.set_proxy_handler([this](const IncomingRequest& req) {
        from_cache_ = false;
        HandlerResult r = on_request(req);
        if (request_observer_ && !req.is_notification && (from_cache_ || r.deferred)) request_observer_(req, from_cache_);
        return r;
    });
}

// ---- driving ------------------------------------------------------------------------

void ForwardProxy::handle_datagram(TimePoint now, Side side, const Peer& from, Bytes datagram) {
    if (side == Side::Up) return handle_upstream_datagram(now, 0, from, datagram);
    down_.handle_datagram(now, from, datagram);
    pump(now);
}

void ForwardProxy::handle_upstream_datagram(TimePoint now, std::uint16_t port, const Peer& from, Bytes datagram) {
    if (ports_.admit(port, from, datagram)) up_.handle_datagram(now, from, datagram);
    pump(now);
}

void ForwardProxy::handle_timeout(TimePoint now) {
    expire_transfers(now);
    down_.handle_timeout(now);
    up_.handle_timeout(now);
    pump(now);
    if (ports_.per_exchange()) ports_.sweep([this](std::uint64_t id) { return up_.token_of(id).has_value(); });
}

void ForwardProxy::handle_unreachable(TimePoint now, Side side, const Peer& peer) {
    (side == Side::Down ? down_ : up_).handle_unreachable(now, peer);
    pump(now);
}

bool ForwardProxy::poll_transmit(Side& side, Transmit& into) {
    std::uint16_t port = 0;
    return poll_transmit(side, port, into);
}

bool ForwardProxy::poll_transmit(Side& side, std::uint16_t& port, Transmit& into) {
    port = 0;
    if (down_.poll_transmit(into)) {
        side = Side::Down;
        return true;
    }
    while (up_.poll_transmit(into)) {
        side = Side::Up;
        if (ports_.outgoing(into, port)) return true;
    }
    return false;
}

std::optional<TimePoint> ForwardProxy::poll_timeout() const {
    std::optional<TimePoint> t = down_.poll_timeout();
    if (const std::optional<TimePoint> u = up_.poll_timeout(); u && (!t || *u < *t)) t = u;
    for (const auto& [id, tr] : transfers_) {
        if (!t || tr.expires < *t) t = tr.expires;
    }
    return t;
}

void ForwardProxy::expire_transfers(TimePoint now) {
    for (auto it = transfers_.begin(); it != transfers_.end();) {
        if (it->second.expires <= now) {
            transfer_bytes_ -= it->second.response.payload.size();
            it = transfers_.erase(it);
        } else {
            ++it;
        }
    }
}

void ForwardProxy::keep_transfer(TimePoint now, std::string id, const Response& r) {
    const std::size_t size = r.payload.size();
    if (size > config_.max_transfer_bytes || config_.max_transfers == 0) {
        ++stats_.transfers_dropped;
        return;
    }
    if (auto it = transfers_.find(id); it != transfers_.end()) {
        transfer_bytes_ -= it->second.response.payload.size();
        transfers_.erase(it);
    }
    while (!transfers_.empty() &&
           (transfers_.size() >= config_.max_transfers || transfer_bytes_ + size > config_.max_transfer_bytes)) {
        auto oldest = transfers_.begin();
        for (auto it = transfers_.begin(); it != transfers_.end(); ++it) {
            if (it->second.expires < oldest->second.expires) oldest = it;
        }
        transfer_bytes_ -= oldest->second.response.payload.size();
        transfers_.erase(oldest);
        ++stats_.transfers_dropped;
    }
    transfer_bytes_ += size;
    transfers_.emplace(std::move(id), Transfer{r, now + config_.transfer_lifetime});
}

void ForwardProxy::pump(TimePoint now) {
    while (down_.poll_event(event_)) {
        // A separate response the client never acknowledged: nothing more to do here.
    }
    while (up_.poll_event(event_)) {
        if (ports_.per_exchange() && !up_.token_of(event_.id)) ports_.close(event_.id);
        if (auto o = observed_by_id_.find(event_.id); o != observed_by_id_.end()) {
            const std::string key = o->second;  // a copy: the observation may end here
            on_observation(now, key, event_);
            continue;
        }
        if (event_.kind == EventKind::Response || event_.kind == EventKind::RequestFailed) {
            if (upstream_observer_) upstream_observer_(event_);
            finish(now, event_.id, event_);
        }
    }
}

// ---- requests -------------------------------------------------------------------------

Response ForwardProxy::error(Code code, std::string_view diagnostic, std::uint64_t& counter) {
    ++counter;
    Response r = Response::with(code, diagnostic);  // §5.5.2: a diagnostic payload
    if (code == codes::kServiceUnavailable) r.max_age = kBusyRetrySeconds;
    return r;
}

bool ForwardProxy::is_self(const Target& t) const {
    // §5.10.2: a proxy recognises all its names and addresses, so as not to loop to itself.
    if (t.port != config_.local_port) return false;
    if (t.host == config_.local_host) return true;
    return std::find(config_.names.begin(), config_.names.end(), t.host) != config_.names.end();
}

Message ForwardProxy::cache_copy(const Message& r, bool pass_through) {
    Message kept;  // what the cache keeps: the same, Max-Age as an option (and a relayed block's Block2, Size2)
    kept.code = r.code;
    for (const OwnedOption& o : r.options) {
        const bool relayed = pass_through && (o.number == options::kBlock2 || o.number == options::kSize2);
        if (!hop_by_hop(o.number) || o.number == options::kMaxAge || relayed) kept.options.push_back(o);
    }
    kept.payload = r.payload;
    return kept;
}

Response ForwardProxy::from_entry(const ResponseCache::Entry& e, std::uint32_t max_age) const {
    Response r;
    r.code = e.code;
    for (const OwnedOption& o : e.options) {
        if (o.number != options::kBlock2) {
            r.options.push_back(o);
        } else {
            r.block2 = relayed_block(o);  // a block kept on its own (Blockwise::PassThrough)
        }
    }
    r.payload = e.payload;
    r.max_age = max_age;  // §5.6.1: what is left of the freshness
    return r;
}

HandlerResult ForwardProxy::on_request(const IncomingRequest& req) {
    if (req.is_notification) {
        // Endpoint::notify(key) for an observed target: its latest representation (RFC 7641
        // §5: the proxy is the client's server). Gone: the observation ends.
        auto it = observations_.find(req.path);
        if (it == observations_.end() || !it->second.latest) return Response::with(codes::kGatewayTimeout);
        return *it->second.latest;
    }
    ++stats_.requests;
    if (req.message == nullptr) return error(codes::kInternalServerError, "", stats_.bad_gateway);
    Forwarding f;
    if (std::optional<Response> refused = admit(req, f)) return *refused;
    if (std::optional<HandlerResult> joined = join_observation(req, f)) return *joined;
    if (std::optional<HandlerResult> answered = from_cache_or_inflight(req, f)) return *answered;
    if (inflight_.size() >= config_.max_inflight) return error(codes::kServiceUnavailable, "", stats_.busy);
    Request up;
    if (std::optional<Response> failed = upstream_request(req, f, up)) return *failed;
    return forward(req, f, std::move(up));
}

std::optional<Response> ForwardProxy::admit(const IncomingRequest& req, Forwarding& f) {
    const MessageView& m = *req.message;
    // RFC 8768 §3: Hop-Limit.
    // (An RFC 8768-unaware proxy, !honour_hop_limit, forwards it as it came, like any safe option.)
    const std::size_t hop = m.find(options::kHopLimit);
    if (config_.honour_hop_limit && hop < m.option_count()) {
        const std::optional<std::uint64_t> v = decode_uint(m.option(hop).value);
        if (!v || *v == 0 || *v > 255) return error(codes::kBadRequest, "Hop-Limit 0", stats_.bad_hop_limit);
        if (*v == 1) return error(codes::kHopLimitReached, config_.identifier, stats_.hop_limit_reached);
        f.hop_limit = static_cast<std::uint8_t>(*v - 1);
    } else if (config_.honour_hop_limit && config_.insert_hop_limit) {
        f.hop_limit = config_.initial_hop_limit;
        f.hop_limit_inserted = true;
    }

    // §5.7.1: an option the proxy does not know and that is unsafe to forward stops the request.
    for (std::size_t i = 0; i < m.option_count(); ++i) {
        const std::uint16_t n = m.option(i).number;
        if (find_option(n) == nullptr && is_unsafe(n)) return error(codes::kBadOption, "unsafe option", stats_.unsafe_option);
    }
    const TargetResult tr = proxy_target(m, config_.local_host, config_.local_port, f.target);
    if (!tr.ok()) {
        // §5.10.2 leaves the code open; 4.02 as for any option whose value is not acceptable.
        const std::string why = std::string(m.find(options::kProxyUri) < m.option_count() ? "Proxy-Uri: " : "Uri-*: ") +
                                std::string(to_string(tr.uri.error));
        return error(codes::kBadOption, why, stats_.bad_target);
    }
    if (f.target.scheme == Scheme::Coaps) {
        return error(codes::kProxyingNotSupported, "no DTLS upstream", stats_.scheme_not_supported);
    }
    if (is_self(f.target)) return error(codes::kNotFound, "", stats_.self_target);
    f.next = config_.next_hop ? config_.next_hop(f.target) : std::nullopt;
    f.origin = f.next ? f.next : config_.resolve(f.target);
    if (!f.origin) return error(codes::kBadGateway, "cannot resolve " + f.target.host, stats_.bad_gateway);
    if (config_.allow && !config_.allow(f.target, *f.origin)) return error(codes::kForbidden, "", stats_.not_allowed);
    f.safe = req.method == codes::kGet || req.method == codes::kFetch;
    return std::nullopt;
}

std::optional<HandlerResult> ForwardProxy::join_observation(const IncomingRequest& req, Forwarding& f) {
    const MessageView& m = *req.message;
    // RFC 7641 §2: a GET with Observe: 0 registers; with Block2 only for block 0, the block
    // size it wants (RFC 7959 §2.6), not a continuation's.
    const std::size_t ob = m.find(options::kObserve);
    const std::size_t b2 = m.find(options::kBlock2);
    const BlockResult asked = b2 < m.option_count() ? decode_block(m.option(b2).value) : BlockResult{};
    const bool later_block = b2 < m.option_count() && !(asked.ok() && asked.block.num == 0);
    const bool registering = config_.observe && req.method == codes::kGet && ob < m.option_count() &&
                             decode_uint(m.option(ob).value) == std::optional<std::uint64_t>(0) && !later_block;
    if (!registering) return std::nullopt;
    f.observe_key = std::string(kObservePrefix) + cache_key(m, f.target, false);
    auto running = observations_.find(f.observe_key);
    if (running != observations_.end()) {
        Observation& o = running->second;
        ++stats_.observe_joined;
        if (o.latest) {
            Response r = *o.latest;
            r.observe_key = f.observe_key;  // joins the observers of this target
            return HandlerResult(r);
        }
        if (o.waiters.size() >= config_.max_waiters_per_exchange) return HandlerResult(error(codes::kServiceUnavailable, "", stats_.busy));
        o.waiters.push_back(Waiter{req.exchange_id, req.peer});
        return HandlerResult::defer();
    }
    if (observations_.size() >= config_.max_observations) f.observe_key.clear();  // served as a plain GET
    return std::nullopt;
}

std::optional<HandlerResult> ForwardProxy::from_cache_or_inflight(const IncomingRequest& req, Forwarding& f) {
    const MessageView& m = *req.message;
    // Blockwise::PassThrough: one block asked for upstream per Block2 request (the client's
    // block, or the origin's first), each block cached on its own (RFC 7959 §2.10).
    const std::size_t b2 = m.find(options::kBlock2);
    if (b2 < m.option_count()) {
        const BlockResult b = decode_block(m.option(b2).value);
        if (b.ok()) f.client_block = b.block;
    }
    f.pass = config_.blockwise == ProxyConfig::Blockwise::PassThrough && f.safe && f.observe_key.empty();
    if (!config_.cache || !f.safe || !f.observe_key.empty()) return std::nullopt;
    const bool continuation = f.client_block && f.client_block->num > 0;
    f.key = cache_key(m, f.target, continuation);
    if (f.pass) f.key += block_suffix(f.client_block);
    const ResponseCache::Lookup hit = cache_.lookup(req.now, f.key);
    if (hit.entry != nullptr && hit.fresh) {
        ++stats_.hits_fresh;
        from_cache_ = true;
        const std::vector<std::uint8_t>* etag = hit.entry->etag();
        if (etag != nullptr && hit.entry->code == codes::kContent) {
            for (std::size_t i = 0; i < m.option_count(); ++i) {
                const Option o = m.option(i);
                if (o.number != options::kETag || o.value != Bytes(etag->data(), etag->size())) continue;
                // §5.10.6.2: the client's representation is still the current one.
                ++stats_.hits_not_modified;
                Response valid;
                valid.code = codes::kValid;
                valid.options.push_back(OwnedOption{options::kETag, *etag});
                valid.max_age = hit.max_age;
                return HandlerResult(valid);
            }
        }
        return HandlerResult(from_entry(*hit.entry, hit.max_age));
    }
    if (continuation && !f.pass) {
        // A Block2 continuation of a body the cache did not keep: served from the body
        // kept for this client's transfer, never fetched again (store-and-forward).
        auto kept = transfers_.find(req.peer.to_string() + f.key);
        if (kept != transfers_.end()) {
            kept->second.expires = req.now + config_.transfer_lifetime;
            ++stats_.transfer_hits;
            from_cache_ = true;
            return HandlerResult(kept->second.response);
        }
    }
    ++stats_.misses;
    f.stale = hit.entry;
    if (!config_.coalesce) return std::nullopt;
    auto it = by_key_.find(f.key);
    // A request with fewer hops left than the exchange in flight must not wait on it:
    // in a forwarding loop that exchange is its own earlier pass (RFC 8768).
    if (it != by_key_.end() && f.hop_limit && inflight_.at(it->second).hop_limit &&
        *f.hop_limit < *inflight_.at(it->second).hop_limit) {
        it = by_key_.end();
    }
    if (it == by_key_.end()) return std::nullopt;
    Inflight& in = inflight_.at(it->second);
    if (in.waiters.size() >= config_.max_waiters_per_exchange) {
        return HandlerResult(error(codes::kServiceUnavailable, "", stats_.busy));
    }
    in.waiters.push_back(Waiter{req.exchange_id, req.peer});
    ++stats_.coalesced;
    return HandlerResult::defer();
}

std::optional<Response> ForwardProxy::upstream_request(const IncomingRequest& req, const Forwarding& f, Request& up) {
    const MessageView& m = *req.message;
    up.method = req.method;
    up.confirmable = true;
    if (f.next) {
        // To the next proxy: the target as Proxy-Uri (§5.10.2), composed from the
        // canonical target (§6.5; a reg-name travels in Uri-Host inside target.options).
        std::vector<Option> parts;
        for (const OwnedOption& o : f.target.options) parts.push_back(Option{o.number, Bytes(o.value.data(), o.value.size())});
        std::string uri;
        if (!compose_uri(f.target.scheme, f.target.host, f.target.port, parts.data(), parts.size(), uri).ok()) {
            return error(codes::kBadGateway, "cannot compose the target", stats_.bad_gateway);
        }
        up.options.push_back(OwnedOption{options::kProxyUri, std::vector<std::uint8_t>(uri.begin(), uri.end())});
        ++stats_.to_next_hop;
    } else {
        up.options = f.target.options;
    }
    const bool revalidate = f.revalidating();
    for (std::size_t i = 0; i < m.option_count(); ++i) {
        const Option o = m.option(i);
        if (hop_by_hop(o.number) && !(o.number == options::kHopLimit && !config_.honour_hop_limit)) continue;
        if (revalidate && o.number == options::kETag) continue;  // ours instead (§5.6.2)
        up.options.push_back(OwnedOption{o.number, to_bytes(o.value)});
    }
    if (f.hop_limit) up.options.push_back(OwnedOption{options::kHopLimit, encode_uint(*f.hop_limit)});
    if (f.hop_limit_inserted) ++stats_.hop_limit_inserted;
    if (revalidate) {
        up.options.push_back(OwnedOption{options::kETag, *f.stale->etag()});
        ++stats_.revalidations;
    }
    std::stable_sort(up.options.begin(), up.options.end(),
                     [](const OwnedOption& a, const OwnedOption& b) { return a.number < b.number; });
    up.payload = req.payload;  // a Block1 upload arrives reassembled (store-and-forward)
    if (f.pass) {
        up.single_block2 = f.client_block ? f.client_block->num : 0;
        if (f.client_block) up.block2_szx = f.client_block->szx;
    }
    if (!f.observe_key.empty()) up.observe = true;  // one registration upstream for every client (RFC 7641 §5)
    return std::nullopt;
}

HandlerResult ForwardProxy::forward(const IncomingRequest& req, const Forwarding& f, Request up) {
    const bool revalidate = f.revalidating();
    const SendResult sent = send_upstream(req.now, *f.origin, std::move(up));
    if (!sent.ok()) return error(codes::kServiceUnavailable, "", stats_.busy);
    ++stats_.forwarded;
    if (!f.observe_key.empty()) {
        ++stats_.observe_registrations;
        Observation o;
        o.upstream_id = sent.id;
        o.target = target_id(f.target);
        o.waiters.push_back(Waiter{req.exchange_id, req.peer});
        observations_.emplace(f.observe_key, std::move(o));
        observed_by_id_.emplace(sent.id, f.observe_key);
        return HandlerResult::defer();
    }
    Inflight in;
    in.key = f.key;
    in.target = target_id(f.target);
    in.method = req.method;
    in.revalidating = revalidate;
    in.hop_limit = f.hop_limit;
    in.pass_through = f.pass;
    in.waiters.push_back(Waiter{req.exchange_id, req.peer});
    if (!f.key.empty() && config_.coalesce) by_key_[f.key] = sent.id;
    inflight_.emplace(sent.id, std::move(in));
    stats_.inflight_peak = std::max<std::uint64_t>(stats_.inflight_peak, inflight_.size());
    return HandlerResult::defer();
}

SendResult ForwardProxy::send_upstream(TimePoint now, const Peer& to, Request request) {
    if (!ports_.may_open()) return SendResult{ApiError::TooManyExchanges, 0};
    const SendResult sent = up_.send_request(now, to, std::move(request));
    if (sent.ok()) {
        if (const std::optional<Token> token = up_.token_of(sent.id)) (void)ports_.open(sent.id, to, *token);
    }
    return sent;
}

// ---- responses ------------------------------------------------------------------------

void ForwardProxy::finish(TimePoint now, std::uint64_t upstream_id, const Event& e) {
    auto it = inflight_.find(upstream_id);
    if (it == inflight_.end()) return;
    Inflight in = std::move(it->second);
    inflight_.erase(it);
    if (!in.key.empty()) {
        auto k = by_key_.find(in.key);
        if (k != by_key_.end() && k->second == upstream_id) by_key_.erase(k);
    }
    Response out;
    if (e.kind == EventKind::RequestFailed) {
        if (e.reason == FailReason::Timeout) {
            out = error(codes::kGatewayTimeout, "", stats_.upstream_timeouts);
        } else {
            out = error(codes::kBadGateway, to_string(e.reason), stats_.bad_gateway);
        }
    } else {
        ++stats_.upstream_responses;
        const Message& r = e.message;
        bool unsafe_unknown = false;
        Response forward = downstream(r, unsafe_unknown, in.pass_through);  // what the client gets
        const Message kept = cache_copy(r, in.pass_through);
        if (unsafe_unknown) {
            out = error(codes::kBadGateway, "unsafe option in response", stats_.bad_gateway);  // §5.7.1
        } else if (in.revalidating && r.code == codes::kValid && cache_.revalidate(now, in.key, kept)) {
            ++stats_.revalidated;
            const ResponseCache::Lookup l = cache_.lookup(now, in.key);
            out = from_entry(*l.entry, l.max_age);
        } else {
            const StoreResult stored =
                in.key.empty() ? StoreResult::Uncacheable : cache_.store(now, in.key, in.target, kept);
            if (r.code == codes::kCreated || r.code == codes::kDeleted || r.code == codes::kChanged) {
                cache_.invalidate(now, in.target);  // §5.9.1.1, §5.9.1.2, §5.9.1.4
            }
            out = std::move(forward);
            if (r.code == codes::kHopLimitReached && config_.honour_hop_limit &&
                out.payload.size() + config_.identifier.size() + 1 <= 1024) {
                // RFC 8768 §3: the proxies the request went through, nearest first.
                const std::string id = config_.identifier + " ";
                out.payload.insert(out.payload.begin(), id.begin(), id.end());
            }
            const bool blockwise = out.payload.size() > (std::size_t{16} << down_.config().block_szx);
            if (!in.key.empty() && stored != StoreResult::Stored && blockwise && r.code.is_success() && !in.pass_through) {
                for (const Waiter& w : in.waiters) keep_transfer(now, w.peer.to_string() + in.key, out);
            }
        }
    }
    for (const Waiter& w : in.waiters) (void)down_.respond(now, w.exchange_id, out);
}

}  // namespace coap::proxy
