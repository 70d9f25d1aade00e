// A CoAP forward proxy with a response cache (RFC 7252 §5.6, §5.7), sans-I/O like the
// rest of the engine. It owns two endpoints: `downstream` (the server role, where
// clients send Proxy-Uri / Proxy-Scheme requests) and `upstream` (the client role, toward
// the origins), with the cache (response_cache.h) and the table of upstream exchanges in
// flight between them.
//
// Driving it (the Endpoint contract, with a side per datagram):
//
//     proxy.handle_datagram(now, Side::Down or Side::Up, peer, bytes);
//     proxy.handle_timeout(now);                      // when poll_timeout() has passed
//     Side side; Transmit t;
//     while (proxy.poll_transmit(side, t)) send on `side`'s socket;
//     arm the timer at proxy.poll_timeout();
//
// What it does with a request (each rule has a test in tests/proxy_test.cc):
// - Hop-Limit (RFC 8768): inserted (16) when absent, decremented when present; a request
//   that arrives with 1 is answered 5.08 with our identifier as its diagnostic payload;
//   0 is malformed (4.00). A 5.08 from upstream gets our identifier in front.
// - A request for a target with a next hop (ProxyConfig::next_hop) goes to that proxy with
//   the target as Proxy-Uri.
// - The target (cache_key.h): an invalid Proxy-Uri, or Proxy-Scheme + Uri-* that make no
//   URI, is 4.02 with the reason; coaps (no DTLS upstream) is 5.05; a target that is the
//   proxy itself is answered 4.04 (never forwarded); a host the resolver cannot map, 5.02;
//   a target the allow-list refuses, 4.03.
// - GET and FETCH are served from the cache while fresh (Max-Age = what is left); a
//   request whose ETag matches a fresh entry gets 2.03 (§5.10.6.2); a stale entry with
//   an ETag is revalidated upstream with it (§5.6.2); misses for one key share one
//   upstream exchange (coalescing). Other methods are forwarded; a 2.01/2.02/2.04 makes
//   the target's entries stale.
// - Upstream requests carry fresh random tokens of the upstream endpoint's length (8
//   bytes by default; never the client's) and its random MIDs; the upstream endpoint
//   matches a response by the origin's exact address and port and the token. Bodies
//   are reassembled upstream (Block2) and served downstream block by block from the
//   stored response (store-and-forward: a Block2 continuation never refetches while the
//   entry is fresh). Proxy-*, Uri-*, Block1/2, Size1/2, Observe, Echo and Request-Tag are
//   hop-by-hop here and not forwarded.
// - An upstream time-out is 5.04; an RST, a response the upstream endpoint rejects (an
//   unrecognized critical option) or one with an unrecognized option unsafe to forward
//   (§5.7.1) is 5.02.
// The downstream endpoint keeps its server defences (EndpointConfig::defences: Echo,
// amplification limit, rate limit), which matter more here: the origin only sees the
// proxy (RFC 9175 §2.4).
//
// - Observe (RFC 7641 §5): a GET with Observe: 0 for a target makes one upstream
//   registration per key; every client that registers for the key becomes an observer of
//   the downstream endpoint under that key (Response::observe_key) and gets each upstream
//   notification (Endpoint::notify); the first answer waits for the origin's, later ones
//   get the latest notification at once. When a notification arrives and no client
//   observes any more, the upstream observation is cancelled (deregistration); when it
//   ends upstream (an error, a time-out), the clients' observations end with that code.
//   Past max_observations targets, a registration is served as a plain GET.
//
// Bounds: the cache's (CacheConfig), max_inflight upstream exchanges (past it: 5.03 with
// Max-Age), max_waiters_per_exchange coalesced requests, max_transfers bodies kept for
// continuations (max_transfer_bytes in all), max_observations observed targets, and the
// two endpoints' own.
// Upstream ports (upstream_ports.h): one fixed port, or with `ports.per_exchange` a random
// port of its own for every upstream exchange; a datagram from upstream counts only on the
// port of the exchange it answers. The driver then passes the local port with each
// upstream datagram and sends each from the port poll_transmit names, opening and closing
// sockets as poll_closed_port says; past `ports.max_ports` exchanges, 5.03.
// Not yet: upstream DTLS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coap/endpoint/endpoint.h"
#include "coap/proxy/cache_key.h"
#include "coap/proxy/response_cache.h"
#include "coap/proxy/upstream_ports.h"

namespace coap::proxy {

/// The address of a target whose host is an IP literal; nothing for a reg-name (the
/// default of ProxyConfig::resolve, and the first step of a resolver that also does names).
[[nodiscard]] std::optional<Peer> resolve_ip_literal(const Target& t);

struct ProxyConfig {
    bool cache = true;
    CacheConfig cache_config;
    bool coalesce = true;                 ///< misses for one key share one upstream exchange
    std::size_t max_inflight = 256;       ///< upstream exchanges at once
    std::size_t max_waiters_per_exchange = 64;
    /// Bodies the cache did not keep (too large, Max-Age 0) are kept per client for its
    /// Block2 continuations (store-and-forward, RFC 7959 §2.10), this many at once, this
    /// many bytes in all, for `transfer_lifetime` after their last use.
    std::size_t max_transfers = 16;
    std::size_t max_transfer_bytes = 4u << 20;
    Duration transfer_lifetime = Duration::seconds(93);
    bool insert_hop_limit = true;         ///< RFC 8768 §3
    std::uint8_t initial_hop_limit = 16;
    std::string identifier = "coapbed-proxy";  ///< in 5.08 diagnostics (no spaces)
    /// The proxy's own address as text and port (the request's destination): a
    /// Proxy-Scheme request without Uri-Host targets it (§6.5), and a target equal to it
    /// (or to one of `names`) is the proxy itself.
    std::string local_host = "127.0.0.1";
    std::uint16_t local_port = 5683;
    std::vector<std::string> names;       ///< other names and addresses of the proxy
    /// The origin's address for a target, or nothing (5.02). Default: IP literals only.
    std::function<std::optional<Peer>(const Target&)> resolve;
    /// Whether the proxy may send to this target at this address (default: any but itself). 4.03 if not.
    std::function<bool(const Target&, const Peer&)> allow;
    /// The next-hop proxy for a target, if the request goes to one instead of the origin
    /// (it then carries the target as Proxy-Uri); nothing: straight to the origin.
    std::function<std::optional<Peer>(const Target&)> next_hop;
    /// false: an RFC 8768-unaware proxy, which neither inserts, checks nor decrements
    /// Hop-Limit and forwards it as any safe option (the baseline of the loop experiments).
    bool honour_hop_limit = true;
    bool observe = true;                  ///< Observe through the proxy; false: forwarded as plain GETs
    std::size_t max_observations = 64;    ///< targets observed upstream at once
    UpstreamPortConfig ports;             ///< one fixed upstream port, or one per exchange
    /// Block-wise GET/FETCH (RFC 7959 §2.10): StoreAndForward reassembles the body upstream
    /// and serves the client's blocks from it; PassThrough forwards each Block2 request
    /// 1:1 (the origin's block relayed as it is) and caches blocks one by one.
    enum class Blockwise : std::uint8_t { StoreAndForward, PassThrough };
    Blockwise blockwise = Blockwise::StoreAndForward;
};

struct ProxyStats {
    std::uint64_t requests = 0;           ///< requests that reached the proxy handler
    std::uint64_t hits_fresh = 0;         ///< answered from a fresh entry
    std::uint64_t hits_not_modified = 0;  ///< of them, 2.03 to the client's ETag
    std::uint64_t misses = 0;             ///< GET/FETCH with no fresh entry
    std::uint64_t revalidations = 0;      ///< upstream requests with our stored ETag
    std::uint64_t revalidated = 0;        ///< answered 2.03 upstream: entry fresh again
    std::uint64_t coalesced = 0;          ///< requests that joined an exchange in flight
    std::uint64_t transfer_hits = 0;      ///< Block2 continuations served from a kept transfer body
    std::uint64_t transfers_dropped = 0;  ///< transfer bodies dropped to stay within the bounds
    std::uint64_t forwarded = 0;          ///< upstream requests sent
    std::uint64_t upstream_responses = 0;
    std::uint64_t upstream_timeouts = 0;  ///< 5.04 sent
    std::uint64_t bad_gateway = 0;        ///< 5.02 sent (reset, rejected, unsafe option, unresolvable)
    std::uint64_t busy = 0;               ///< 5.03 sent: max_inflight or the upstream endpoint full
    std::uint64_t bad_target = 0;         ///< 4.02 sent: the target is not a valid URI
    std::uint64_t unsafe_option = 0;      ///< 4.02 sent: an unknown option unsafe to forward (§5.7.1)
    std::uint64_t scheme_not_supported = 0;  ///< 5.05 sent (coaps)
    std::uint64_t self_target = 0;        ///< 4.04 sent: the target is the proxy
    std::uint64_t not_allowed = 0;        ///< 4.03 sent
    std::uint64_t hop_limit_reached = 0;  ///< 5.08 sent
    std::uint64_t to_next_hop = 0;        ///< requests forwarded to a next-hop proxy
    std::uint64_t inflight_peak = 0;      ///< the most upstream exchanges in flight at once
    std::uint64_t hop_limit_inserted = 0;
    std::uint64_t bad_hop_limit = 0;      ///< 4.00 sent (Hop-Limit 0)
    std::uint64_t observe_registrations = 0;  ///< upstream registrations made (one per observed target)
    std::uint64_t observe_joined = 0;         ///< client registrations answered from an observation already running
    std::uint64_t notifications_relayed = 0;  ///< upstream notifications passed on to the clients
    std::uint64_t observe_cancelled = 0;      ///< upstream observations ended because no client observed any more
};

class ForwardProxy {
public:
    enum class Side : std::uint8_t { Down, Up };

    /// `down_rng` and `up_rng` must outlive the proxy.
    ForwardProxy(EndpointConfig down, EndpointConfig up, ProxyConfig config, Random& down_rng, Random& up_rng);
    ForwardProxy(const ForwardProxy&) = delete;
    ForwardProxy& operator=(const ForwardProxy&) = delete;

    void handle_datagram(TimePoint now, Side side, const Peer& from, Bytes datagram);
    /// An upstream datagram that arrived on our local `port` (per-exchange ports; with a
    /// fixed port the same as the call above).
    void handle_upstream_datagram(TimePoint now, std::uint16_t port, const Peer& from, Bytes datagram);
    void handle_timeout(TimePoint now);
    void handle_unreachable(TimePoint now, Side side, const Peer& peer);
    /// The next datagram to send, and on which side; false when there is none.
    [[nodiscard]] bool poll_transmit(Side& side, Transmit& into);
    /// The same, with the local port an upstream datagram leaves from (0: the fixed port).
    [[nodiscard]] bool poll_transmit(Side& side, std::uint16_t& port, Transmit& into);
    /// A per-exchange upstream port whose exchange ended: the driver closes its socket.
    [[nodiscard]] bool poll_closed_port(std::uint16_t& port) { return ports_.poll_closed(port); }
    [[nodiscard]] std::optional<TimePoint> poll_timeout() const;

    [[nodiscard]] Endpoint& downstream() noexcept { return down_; }
    [[nodiscard]] Endpoint& upstream() noexcept { return up_; }
    [[nodiscard]] const ResponseCache& cache() const noexcept { return cache_; }
    [[nodiscard]] const ProxyStats& stats() const noexcept { return stats_; }
    [[nodiscard]] const EndpointStats& downstream_stats() const noexcept { return down_.stats(); }
    [[nodiscard]] const EndpointStats& upstream_stats() const noexcept { return up_.stats(); }
    [[nodiscard]] std::size_t inflight() const noexcept { return inflight_.size(); }
    [[nodiscard]] std::size_t transfers() const noexcept { return transfers_.size(); }
    [[nodiscard]] std::size_t observations() const noexcept { return observations_.size(); }
    [[nodiscard]] const UpstreamPorts& ports() const noexcept { return ports_; }
    /// Called with every upstream exchange's end (a Response or RequestFailed event of the
    /// upstream endpoint) before the proxy acts on it: for measurements (the simulator
    /// counts forged responses accepted, and how long upstream tokens were live).
    void set_upstream_observer(std::function<void(const Event&)> f) { upstream_observer_ = std::move(f); }
    /// Called for every request the proxy answers from its cache (`hit`: a fresh entry, a
    /// 2.03, a kept transfer body) or sends upstream or joins an exchange in flight
    /// (a miss): for measurements (the simulator's latency of hits and misses).
    void set_request_observer(std::function<void(const IncomingRequest&, bool hit)> f) {
        request_observer_ = std::move(f);
    }

private:
    struct Waiter {
        std::uint64_t exchange_id;  ///< the downstream request, deferred
        Peer peer;                  ///< the client
    };
    struct Transfer {
        Response response;
        TimePoint expires;
    };
    struct Inflight {
        std::string key;          ///< "" for a request that is not cached (not GET/FETCH)
        std::string target;       ///< the canonical target, for invalidation
        Code method;
        bool revalidating = false;  ///< sent with our stored ETag
        std::optional<std::uint8_t> hop_limit;  ///< the Hop-Limit it went upstream with
        bool pass_through = false;  ///< one block asked for (Blockwise::PassThrough): relayed as it is
        std::vector<Waiter> waiters;
    };

    /// An observation's key: this, then the cache key of the plain GET for the target.
    static constexpr std::string_view kObservePrefix{"\0observe\0", 9};
    struct Observation {
        std::uint64_t upstream_id = 0;
        std::string target;              ///< target_id() of the observed target, for the cache
        std::optional<Response> latest;  ///< the last representation from upstream
        std::vector<Waiter> waiters;     ///< registrations waiting for the first one
    };

    /// What on_request learns about a request on its way upstream.
    struct Forwarding {
        Target target;
        std::optional<Peer> next;                  ///< the next-hop proxy, if any
        std::optional<Peer> origin;                ///< where it goes (the next hop or the origin)
        std::optional<std::uint8_t> hop_limit;     ///< the Hop-Limit to send
        bool hop_limit_inserted = false;
        bool safe = false;                         ///< GET or FETCH
        std::string observe_key;                   ///< a new upstream registration's key
        std::optional<Block> client_block;         ///< the client's Block2
        bool pass = false;                         ///< Blockwise::PassThrough applies
        std::string key;                           ///< the cache key ("" when not cached)
        const ResponseCache::Entry* stale = nullptr;  ///< a stale entry to revalidate
        /// Sent with the stale entry's ETag (§5.6.2).
        [[nodiscard]] bool revalidating() const { return stale != nullptr && stale->etag() != nullptr; }
    };

    /// A client's request, step by step: refusals (Hop-Limit, options, target), joining an
    /// observation, the cache or an exchange in flight, else a new upstream exchange.
    HandlerResult on_request(const IncomingRequest& req);
    std::optional<Response> admit(const IncomingRequest& req, Forwarding& f);
    std::optional<HandlerResult> join_observation(const IncomingRequest& req, Forwarding& f);
    std::optional<HandlerResult> from_cache_or_inflight(const IncomingRequest& req, Forwarding& f);
    std::optional<Response> upstream_request(const IncomingRequest& req, const Forwarding& f, Request& up);
    HandlerResult forward(const IncomingRequest& req, const Forwarding& f, Request up);
    void on_observation(TimePoint now, const std::string& key, const Event& e);
    /// The client's response to upstream response `r`: hop-by-hop options left out (but
    /// Block2 and Size2 of a relayed block, `relay_block`), Max-Age as max_age.
    Response downstream(const Message& r, bool& unsafe_unknown, bool relay_block = false) const;
    /// The part of an upstream response the cache keeps.
    static Message cache_copy(const Message& r, bool pass_through);
    Response from_entry(const ResponseCache::Entry& e, std::uint32_t max_age) const;
    void pump(TimePoint now);
    /// up_.send_request with a port of its own (5.03 for the caller when none is free).
    SendResult send_upstream(TimePoint now, const Peer& to, Request request);
    void finish(TimePoint now, std::uint64_t upstream_id, const Event& e);
    bool is_self(const Target& t) const;
    void keep_transfer(TimePoint now, std::string id, const Response& r);
    void expire_transfers(TimePoint now);
    Response error(Code code, std::string_view diagnostic, std::uint64_t& counter);

    ProxyConfig config_;
    Endpoint down_;
    Endpoint up_;
    ResponseCache cache_;
    UpstreamPorts ports_;
    std::unordered_map<std::uint64_t, Inflight> inflight_;      ///< by upstream request id
    std::unordered_map<std::string, std::uint64_t> by_key_;     ///< key -> upstream request id (coalescing)
    std::unordered_map<std::string, Transfer> transfers_;       ///< client + key -> body (Block2 continuations)
    std::unordered_map<std::string, Observation> observations_; ///< observe key -> the upstream observation
    std::unordered_map<std::uint64_t, std::string> observed_by_id_;  ///< upstream request id -> observe key
    std::size_t transfer_bytes_ = 0;
    ProxyStats stats_;
    Event event_;  ///< reused for polling
    std::function<void(const Event&)> upstream_observer_;
    std::function<void(const IncomingRequest&, bool)> request_observer_;
    bool from_cache_ = false;  ///< on_request answered from the cache
};

}  // namespace coap::proxy
