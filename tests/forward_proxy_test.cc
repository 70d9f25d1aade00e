// The forward proxy (src/coap/proxy/forward_proxy.h) on a client-proxy-origin wire: every
// rule of its header (Hop-Limit, refusals, hits and Max-Age, coalescing, revalidation,
// invalidation, forged responses, store-and-forward block-wise, bounds), two proxies in a
// forwarding loop, and two engine rules the proxy needs (the ACK delay of deferred
// answers, the bound on RSTs for unmatched responses).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/proxy/cache_key.h"
#include "coap/proxy/forward_proxy.h"
#include "proxy_test_util.h"
#include "test_network.h"

using coap::Duration;
using coap::TimePoint;
using coap::proxy::Target;
using coapbed::test::opt;
using coapbed::test::TestNetwork;
using coapbed::test::uint_opt;

// ---- forward proxy --------------------------------------------------------------------

namespace {

using coap::proxy::ForwardProxy;
using Side = coap::proxy::ForwardProxy::Side;

const coap::Peer kC = coap::Peer::ipv4(0x0a000001, 40000);   // the client
const coap::Peer kC2 = coap::Peer::ipv4(0x0a000004, 40001);  // a second client (observe)
const coap::Peer kPD = coap::Peer::ipv4(0x0a000002, 5683);   // the proxy, downstream socket
const coap::Peer kPU = coap::Peer::ipv4(0x0a000002, 41000);  // the proxy, upstream socket
const coap::Peer kO = coap::Peer::ipv4(0x0a000003, 5683);    // the origin

coap::EndpointConfig patient() {
    coap::EndpointConfig c;
    c.separate_response_timeout = Duration::seconds(300);  // the client outwaits the proxy's upstream give-up
    c.params.nstart = 8;  // several requests to the proxy at once (coalescing)
    return c;
}

coap::proxy::ProxyConfig proxy_config() {
    coap::proxy::ProxyConfig p;
    p.local_host = "10.0.0.2";
    p.local_port = 5683;
    return p;
}

/// A client, the proxy and an origin on a lossless wire; `drop` can hold back datagrams.
struct ProxyNet {
    coap::Xoshiro256 rc{1}, rd{2}, ru{3}, ro{4}, rc2{5};
    coap::Endpoint client{patient(), rc};
    coap::Endpoint client2{patient(), rc2};
    ForwardProxy proxy;
    coap::Endpoint origin{coap::EndpointConfig{}, ro};
    TimePoint now = TimePoint::from_ns(1'000'000'000);
    std::vector<coap::Event> events;                   // the client's
    std::vector<coap::Event> events2;                  // the second client's
    int observed_value = 0;                            // the origin's /obs
    std::size_t observed_size = 0;                     // /obs padded to this many bytes
    std::vector<std::vector<std::uint8_t>> upstream;   // proxy -> origin datagrams
    std::function<bool(const coap::Peer& from, const coap::Peer& to)> drop;
    int origin_calls = 0;
    std::string body = "hello";
    std::uint32_t max_age = 60;

    explicit ProxyNet(coap::proxy::ProxyConfig pc = proxy_config())
        : proxy(coap::EndpointConfig{}, coap::EndpointConfig{}, std::move(pc), rd, ru) {
        coap::ResourceConfig t;
        t.methods = coap::methods::kGet | coap::methods::kPut | coap::methods::kFetch;
        t.handler = [this](const coap::IncomingRequest& in) {
            ++origin_calls;
            if (in.method == coap::codes::kPut) return coap::HandlerResult(coap::Response::with(coap::codes::kChanged));
            coap::Response r = coap::Response::with(coap::codes::kContent, body);
            r.max_age = max_age;
            r.options.push_back(opt(coap::options::kETag, "v1"));
            // §5.10.6.2: a request that names the current ETag gets 2.03.
            for (std::size_t i = 0; in.message != nullptr && i < in.message->option_count(); ++i) {
                if (in.message->option(i).number == coap::options::kETag && in.message->option(i).value.as_chars() == "v1") {
                    coap::Response valid;
                    valid.code = coap::codes::kValid;
                    valid.max_age = 30;
                    valid.options.push_back(opt(coap::options::kETag, "v1"));
                    return coap::HandlerResult(valid);
                }
            }
            return coap::HandlerResult(r);
        };
        EXPECT_EQ(origin.add_resource("t", t), coap::ApiError::Ok);
        coap::ResourceConfig big;
        big.handler = [this](const coap::IncomingRequest&) {
            ++origin_calls;
            std::string b;
            for (int i = 0; b.size() < 3000; ++i) b += "line " + std::to_string(i) + "\n";
            b.resize(3000);
            return coap::Response::with(coap::codes::kContent, b);
        };
        EXPECT_EQ(origin.add_resource("big", big), coap::ApiError::Ok);
        coap::ResourceConfig fresh_never;  // block-wise, Max-Age 0: never cached
        fresh_never.handler = [this](const coap::IncomingRequest&) {
            ++origin_calls;
            coap::Response r = coap::Response::with(coap::codes::kContent, std::string(2500, 'z'));
            r.max_age = 0;
            return r;
        };
        EXPECT_EQ(origin.add_resource("live", fresh_never), coap::ApiError::Ok);
        coap::ResourceConfig odd;
        odd.handler = [this](const coap::IncomingRequest&) {
            ++origin_calls;
            coap::Response r = coap::Response::with(coap::codes::kContent, "odd");
            r.options.push_back(opt(65002, "u"));  // unregistered, unsafe to forward
            return r;
        };
        EXPECT_EQ(origin.add_resource("odd", odd), coap::ApiError::Ok);
        coap::ResourceConfig obs;  // observable (RFC 7641)
        obs.observable = true;
        obs.handler = [this](const coap::IncomingRequest&) {
            if (observed_value < 0) return coap::Response::with(coap::codes::kNotFound);  // gone
            std::string v = "v" + std::to_string(observed_value);
            if (v.size() < observed_size) v.resize(observed_size, static_cast<char>('a' + observed_value % 26));
            return coap::Response::with(coap::codes::kContent, v);
        };
        EXPECT_EQ(origin.add_resource("obs", obs), coap::ApiError::Ok);
        coap::ResourceConfig silent;
        silent.handler = [](const coap::IncomingRequest&) { return coap::HandlerResult::defer(); };
        EXPECT_EQ(origin.add_resource("silent", silent), coap::ApiError::Ok);
    }

    bool blocked(const coap::Peer& from, const coap::Peer& to) const { return drop && drop(from, to); }

    void flush() {
        coap::Transmit t;
        for (bool any = true; any;) {
            any = false;
            while (client.poll_transmit(t)) {
                any = true;
                if (!blocked(kC, t.peer)) proxy.handle_datagram(now, Side::Down, kC, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            while (client2.poll_transmit(t)) {
                any = true;
                proxy.handle_datagram(now, Side::Down, kC2, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            while (origin.poll_transmit(t)) {
                any = true;
                if (!blocked(kO, t.peer)) proxy.handle_datagram(now, Side::Up, kO, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            Side side;
            while (proxy.poll_transmit(side, t)) {
                any = true;
                if (side == Side::Down && t.peer == kC2) {
                    client2.handle_datagram(now, kPD, coap::Bytes(t.bytes.data(), t.bytes.size()));
                } else if (side == Side::Down) {
                    if (!blocked(kPD, t.peer)) client.handle_datagram(now, kPD, coap::Bytes(t.bytes.data(), t.bytes.size()));
                } else if (t.peer == kO) {  // (an RST to a forger's port goes nowhere)
                    upstream.push_back(t.bytes);
                    if (!blocked(kPU, t.peer)) origin.handle_datagram(now, kPU, coap::Bytes(t.bytes.data(), t.bytes.size()));
                }
            }
            coap::Event e;
            while (client.poll_event(e)) events.push_back(e);
            while (client2.poll_event(e)) events2.push_back(e);
            while (origin.poll_event(e)) {
            }
        }
    }

    void run_for(Duration d) {
        const TimePoint end = now + d;
        flush();
        while (true) {
            std::optional<TimePoint> next = client.poll_timeout();
            for (const auto& t : {origin.poll_timeout(), proxy.poll_timeout(), client2.poll_timeout()}) {
                if (t && (!next || *t < *next)) next = t;
            }
            if (!next || *next > end) break;
            now = std::max(now, *next);
            client.handle_timeout(now);
            client2.handle_timeout(now);
            origin.handle_timeout(now);
            proxy.handle_timeout(now);
            flush();
        }
        now = end;
    }

    /// Sends a request through the proxy and returns the client's event for it.
    coap::Event get(std::vector<coap::OwnedOption> options, coap::Code method = coap::codes::kGet, std::string payload = {}) {
        coap::Request r;
        r.method = method;
        r.options = std::move(options);
        r.payload.assign(payload.begin(), payload.end());
        const auto sent = client.send_request(now, kPD, std::move(r));
        EXPECT_TRUE(sent.ok());
        run_for(Duration::seconds(1));
        for (const auto& e : events) {
            if (e.id == sent.id) return e;
        }
        run_for(Duration::seconds(300));
        for (const auto& e : events) {
            if (e.id == sent.id) return e;
        }
        ADD_FAILURE() << "no answer";
        return {};
    }
    coap::Event get(std::string_view uri) { return get({opt(coap::options::kProxyUri, uri)}); }
};

std::string text(const coap::Event& e) { return std::string(e.message.payload.begin(), e.message.payload.end()); }

std::optional<std::uint64_t> uint_of(const coap::Message& m, std::uint16_t number) {
    for (const auto& o : m.options) {
        if (o.number == number) return coap::decode_uint(coap::Bytes(o.value.data(), o.value.size()));
    }
    return std::nullopt;
}

coap::Message parsed(const std::vector<std::uint8_t>& d) {
    coap::MessageView v;
    EXPECT_TRUE(coap::parse(coap::Bytes(d.data(), d.size()), v).ok());
    coap::Message m;
    m.code = v.code();
    m.token.assign(v.token().begin(), v.token().end());
    for (std::size_t i = 0; i < v.option_count(); ++i) m.options.push_back({v.option(i).number, std::vector<std::uint8_t>(v.option(i).value.begin(), v.option(i).value.end())});
    return m;
}

}  // namespace

TEST(ForwardProxy, AMissGoesUpstreamOnceAndAFreshHitServesTheRemainingMaxAge) {
    ProxyNet n;
    coap::Event e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(uint_of(e.message, coap::options::kMaxAge), 60u);
    EXPECT_EQ(n.origin_calls, 1);
    n.run_for(Duration::seconds(20));
    e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(n.origin_calls, 1);  // no upstream traffic
    const auto age = uint_of(e.message, coap::options::kMaxAge);
    ASSERT_TRUE(age.has_value());
    EXPECT_GE(*age, 38u);  // 60 - the 21 s that passed, rounded down
    EXPECT_LE(*age, 40u);
    EXPECT_EQ(n.proxy.stats().hits_fresh, 1u);
    // The Proxy-Scheme form of the same target is the same entry.
    e = n.get({opt(coap::options::kProxyScheme, "coap"), opt(coap::options::kUriHost, "10.0.0.3"),
               opt(coap::options::kUriPath, "t")});
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(n.origin_calls, 1);
}

TEST(ForwardProxy, UpstreamRequestsCarryAFreshTokenHopLimitAndNoProxyOptions) {
    ProxyNet n;
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t")};
    ASSERT_TRUE(n.client.send_request(n.now, kPD, std::move(r)).ok());
    coap::Transmit first;
    ASSERT_TRUE(n.client.poll_transmit(first));
    const std::vector<std::uint8_t> client_token = parsed(first.bytes).token;
    n.proxy.handle_datagram(n.now, Side::Down, kC, coap::Bytes(first.bytes.data(), first.bytes.size()));
    n.run_for(Duration::seconds(1));
    ASSERT_FALSE(n.upstream.empty());
    const coap::Message up = parsed(n.upstream.front());
    EXPECT_EQ(up.token.size(), 8u);
    EXPECT_NE(up.token, client_token);
    EXPECT_EQ(uint_of(up, coap::options::kHopLimit), 16u);  // RFC 8768: inserted
    for (const auto& o : up.options) {
        EXPECT_NE(o.number, coap::options::kProxyUri);
        EXPECT_NE(o.number, coap::options::kProxyScheme);
    }
    EXPECT_EQ(n.proxy.stats().hop_limit_inserted, 1u);
}

TEST(ForwardProxy, HopLimit) {
    // RFC 8768 §3: 1 ends here with 5.08 and our identifier; 0 is malformed; otherwise decremented.
    ProxyNet n;
    coap::Event e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), uint_opt(coap::options::kHopLimit, 1)});
    EXPECT_EQ(e.message.code, coap::codes::kHopLimitReached);
    EXPECT_EQ(text(e), "coapbed-proxy");
    e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), uint_opt(coap::options::kHopLimit, 0)});
    EXPECT_EQ(e.message.code, coap::codes::kBadRequest);
    EXPECT_EQ(n.origin_calls, 0);
    e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), uint_opt(coap::options::kHopLimit, 5)});
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(uint_of(parsed(n.upstream.back()), coap::options::kHopLimit), 4u);
}

TEST(ForwardProxy, ConcurrentMissesShareOneUpstreamExchange) {
    ProxyNet n;
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 3; ++i) {
        coap::Request r;
        r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t")};
        ids.push_back(n.client.send_request(n.now, kPD, std::move(r)).id);
    }
    n.run_for(Duration::seconds(5));
    EXPECT_EQ(n.origin_calls, 1);
    EXPECT_EQ(n.proxy.stats().coalesced, 2u);
    int answered = 0;
    for (const auto& e : n.events) answered += e.kind == coap::EventKind::Response && text(e) == "hello";
    EXPECT_EQ(answered, 3);
}

TEST(ForwardProxy, TargetsItRefusesAndWhy) {
    ProxyNet n;
    coap::Event e = n.get("http://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kBadOption);
    EXPECT_EQ(text(e), "Proxy-Uri: unsupported-scheme");
    EXPECT_EQ(n.get("coaps://10.0.0.3/t").message.code, coap::codes::kProxyingNotSupported);
    EXPECT_EQ(n.get("coap://10.0.0.2/t").message.code, coap::codes::kNotFound);  // the proxy itself
    EXPECT_EQ(n.get("coap://origin.example/t").message.code, coap::codes::kBadGateway);  // no resolver
    EXPECT_EQ(n.origin_calls, 0);
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.allow = [](const Target&, const coap::Peer& p) { return p != kO; };
    ProxyNet guarded(pc);
    EXPECT_EQ(guarded.get("coap://10.0.0.3/t").message.code, coap::codes::kForbidden);
    EXPECT_EQ(guarded.origin_calls, 0);
    // A resolver for names: the host is sent as Uri-Host.
    pc = proxy_config();
    pc.resolve = [](const Target& t) -> std::optional<coap::Peer> {
        if (t.host == "origin.example") return coap::Peer::ipv4(0x0a000003, t.port);
        return std::nullopt;
    };
    ProxyNet named(pc);
    e = named.get("coap://Origin.Example/t");
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    bool uri_host = false;
    for (const auto& o : parsed(named.upstream.back()).options) {
        uri_host |= o.number == coap::options::kUriHost && std::string(o.value.begin(), o.value.end()) == "origin.example";
    }
    EXPECT_TRUE(uri_host);
}

TEST(ForwardProxy, UpstreamFailuresBecome504And502) {
    ProxyNet n;
    n.drop = [](const coap::Peer& from, const coap::Peer&) { return from == kPU; };  // the origin never hears us
    coap::Event e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kGatewayTimeout);
    EXPECT_EQ(n.proxy.stats().upstream_timeouts, 1u);
    n.drop = nullptr;
    e = n.get("coap://10.0.0.3/silent");  // an empty ACK upstream, then nothing
    EXPECT_EQ(e.message.code, coap::codes::kGatewayTimeout);
    e = n.get("coap://10.0.0.3/odd");  // §5.7.1: an unsafe option the proxy does not know
    EXPECT_EQ(e.message.code, coap::codes::kBadGateway);
    EXPECT_EQ(n.proxy.inflight(), 0u);
}

TEST(ForwardProxy, OnlyTheOriginsAddressPortAndTokenAreAccepted) {
    // PROXY.md §3.1: forged responses from another port, or with another token, are
    // dropped; the real one is what gets cached and served.
    ProxyNet n;
    n.drop = [](const coap::Peer& from, const coap::Peer&) { return from == kO; };  // hold the origin's answers
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t")};
    const auto id = n.client.send_request(n.now, kPD, std::move(r)).id;
    n.run_for(Duration::milliseconds(100));
    ASSERT_FALSE(n.upstream.empty());
    const coap::Message up = parsed(n.upstream.front());
    auto forge = [&](const coap::Peer& from, std::vector<std::uint8_t> token) {
        coap::Message f;
        f.type = coap::MessageType::Non;
        f.code = coap::codes::kContent;
        f.message_id = 999;
        f.token = std::move(token);
        f.options.push_back(uint_opt(coap::options::kMaxAge, 0xFFFFFFFFu));
        f.payload = {'e', 'v', 'i', 'l'};
        const auto d = coap::encode(f);
        n.proxy.handle_datagram(n.now, Side::Up, from, coap::Bytes(d.data(), d.size()));
    };
    forge(coap::Peer::ipv4(0x0a000003, 9999), up.token);  // right token, wrong port
    std::vector<std::uint8_t> wrong = up.token;
    wrong[0] ^= 1;
    forge(kO, wrong);  // right address, wrong token
    n.drop = nullptr;
    n.run_for(Duration::seconds(10));  // the origin's retransmitted answer... or ours: the real one arrives
    const coap::Event* got = nullptr;
    for (const auto& e : n.events) got = e.id == id ? &e : got;
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(text(*got), "hello");
    EXPECT_EQ(text(n.get("coap://10.0.0.3/t")), "hello");  // and what is cached
}

TEST(ForwardProxy, BlockwiseBodiesAreStoredAndServedWithoutRefetching) {
    // Store-and-forward: the client's Block2 continuations are served from the stored
    // body; a second transfer within Max-Age costs the origin nothing.
    ProxyNet n;
    coap::Event e = n.get("coap://10.0.0.3/big");
    ASSERT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(e.message.payload.size(), 3000u);
    const int fetch = n.origin_calls;  // one upstream transfer: three 1024-byte blocks
    EXPECT_EQ(fetch, 3);
    e = n.get("coap://10.0.0.3/big");
    EXPECT_EQ(e.message.payload.size(), 3000u);
    EXPECT_EQ(n.origin_calls, fetch);
    // A client that asks for small blocks up front (RFC 7959 §2.4) gets them.
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/big")};
    r.block2_szx = 2;
    const auto id = n.client.send_request(n.now, kPD, std::move(r)).id;
    n.run_for(Duration::seconds(5));
    for (const auto& ev : n.events) {
        if (ev.id == id) {
            EXPECT_EQ(ev.message.payload.size(), 3000u);
        }
    }
    EXPECT_EQ(n.origin_calls, fetch);
}

TEST(ForwardProxy, ChangesInvalidateAndStaleEntriesAreRevalidatedByETag) {
    ProxyNet n;
    n.max_age = 10;
    EXPECT_EQ(text(n.get("coap://10.0.0.3/t")), "hello");
    EXPECT_EQ(n.origin_calls, 1);
    // A client that holds the current ETag gets 2.03 from the cache (§5.10.6.2).
    coap::Event e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), opt(coap::options::kETag, "v1")});
    EXPECT_EQ(e.message.code, coap::codes::kValid);
    EXPECT_EQ(n.origin_calls, 1);
    // Stale: revalidated upstream with the stored ETag; 2.03 makes it fresh for 30 s.
    n.run_for(Duration::seconds(15));
    e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(n.origin_calls, 2);
    EXPECT_EQ(n.proxy.stats().revalidated, 1u);
    const auto age = uint_of(e.message, coap::options::kMaxAge);
    ASSERT_TRUE(age.has_value());
    EXPECT_GE(*age, 28u);
    // A PUT to the target (2.04) makes the entry stale: the next GET goes upstream.
    EXPECT_EQ(n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t")}, coap::codes::kPut, "new").message.code,
              coap::codes::kChanged);
    const int after_put = n.origin_calls;
    n.get("coap://10.0.0.3/t");
    EXPECT_EQ(n.origin_calls, after_put + 1);
}

TEST(ForwardProxy, UnknownOptionsUnsafeToForwardAre402AndSafeOnesAreForwarded) {
    ProxyNet n;
    coap::Event e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), opt(65002, "x")});
    EXPECT_EQ(e.message.code, coap::codes::kBadOption);
    EXPECT_EQ(n.origin_calls, 0);
    // 65001: critical, safe to forward, unknown: forwarded (the origin then judges it).
    e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), opt(65001, "y")});
    bool forwarded = false;
    for (const auto& o : parsed(n.upstream.back()).options) forwarded |= o.number == 65001;
    EXPECT_TRUE(forwarded);
    EXPECT_EQ(e.message.code, coap::codes::kBadOption);  // the origin's 4.02, passed on
}

TEST(ForwardProxy, UpstreamExchangesAreBounded) {
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.max_inflight = 4;
    ProxyNet n(pc);
    n.drop = [](const coap::Peer& from, const coap::Peer&) { return from == kPU; };
    for (int i = 0; i < 10; ++i) {
        coap::Request r;
        r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t" + std::to_string(i))};
        ASSERT_TRUE(n.client.send_request(n.now, kPD, std::move(r)).ok());
    }
    n.run_for(Duration::seconds(1));
    EXPECT_EQ(n.proxy.inflight(), 4u);
    EXPECT_EQ(n.proxy.stats().busy, 6u);
    int busy = 0;
    for (const auto& e : n.events) busy += e.message.code == coap::codes::kServiceUnavailable;
    EXPECT_EQ(busy, 6);
    n.run_for(Duration::seconds(500));  // NSTART 1 toward the origin: one after the other
    EXPECT_EQ(n.proxy.inflight(), 0u);
}

TEST(ForwardProxy, BodiesTheCacheDoesNotKeepServeTheirTransferOnce) {
    // Max-Age 0: not cached, but the client's Block2 continuations come from the body
    // kept for its transfer: one upstream fetch (3 blocks) per transfer, not one per block.
    ProxyNet n;
    coap::Event e = n.get("coap://10.0.0.3/live");
    ASSERT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(e.message.payload.size(), 2500u);
    EXPECT_EQ(n.origin_calls, 3);
    EXPECT_EQ(n.proxy.stats().transfer_hits, 2u);
    EXPECT_EQ(n.proxy.cache().size(), 0u);
    // The next transfer fetches again (Max-Age 0), once.
    n.get("coap://10.0.0.3/live");
    EXPECT_EQ(n.origin_calls, 6);
    // Bounded: with room for one body, a second transfer's body displaces the first.
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.max_transfers = 1;
    ProxyNet small(pc);
    small.get("coap://10.0.0.3/live");
    small.get("coap://10.0.0.3/live?other");
    EXPECT_LE(small.proxy.transfers(), 1u);
    EXPECT_GE(small.proxy.stats().transfers_dropped, 1u);
    // Kept for a while only.
    small.run_for(Duration::seconds(100));
    EXPECT_EQ(small.proxy.transfers(), 0u);
}

TEST(Server, ADeferredAnswerWithinTheAckDelayIsPiggybacked) {
    // RFC 7252 §5.2.2: a server may wait before the empty ACK; what it answers meanwhile
    // goes in the ACK (§5.2.1). After the wait: the empty ACK, then a CON response.
    for (const int answer_after_ms : {300, 1500}) {
        TestNetwork net(1);
        coap::EndpointConfig sc;
        sc.separate_ack_delay = Duration::seconds(1);
        TestNetwork::Node& client = net.add({}, 0x0a000001);
        TestNetwork::Node& server = net.add(sc, 0x0a000002);
        std::uint64_t exchange = 0;
        coap::ResourceConfig rc;
        rc.handler = [&](const coap::IncomingRequest& in) {
            exchange = in.exchange_id;
            return coap::HandlerResult::defer();
        };
        ASSERT_EQ(server.endpoint->add_resource("later", rc), coap::ApiError::Ok);
        ASSERT_TRUE(client.endpoint->send_request(net.now(), server.address, coap::Request().path("later")).ok());
        net.flush_all();
        net.drive(net.now() + Duration::milliseconds(answer_after_ms));
        ASSERT_NE(exchange, 0u);
        ASSERT_EQ(server.endpoint->respond(net.now(), exchange, coap::Response::with(coap::codes::kContent, "done")),
                  coap::ApiError::Ok);
        net.flush_all();
        net.drive(net.now() + Duration::seconds(10));
        ASSERT_EQ(client.events.size(), 1u) << answer_after_ms;
        EXPECT_EQ(text(client.events[0]), "done");
        std::vector<coap::MessageType> from_server;
        for (const auto& c : net.log()) {
            if (c.from == server.address) {
                coap::MessageView v;
                ASSERT_TRUE(coap::parse(coap::Bytes(c.bytes.data(), c.bytes.size()), v).ok());
                from_server.push_back(v.type());
            }
        }
        if (answer_after_ms < 1000) {
            EXPECT_EQ(from_server, std::vector<coap::MessageType>({coap::MessageType::Ack}));  // piggybacked
        } else {
            EXPECT_EQ(from_server, std::vector<coap::MessageType>({coap::MessageType::Ack, coap::MessageType::Con}));
        }
    }
}

TEST(Client, ResponsesThatMatchNothingDrawAtMostTenRstsASecond) {
    // A flood of forged responses (any source, random tokens) must not become a flood of
    // RSTs toward the forged source (scenarios/proxy-poisoning.toml): a bucket of 10, 10/s.
    coap::Xoshiro256 rng(5);
    coap::Endpoint ep(coap::EndpointConfig{}, rng);
    const coap::Peer origin = coap::Peer::ipv4(0x0a000003, 5683);
    TimePoint now = TimePoint::from_ns(5'000'000'000);
    auto forge = [&](std::uint16_t mid) {
        coap::Message f;
        f.type = coap::MessageType::Non;
        f.code = coap::codes::kContent;
        f.message_id = mid;
        f.token = {static_cast<std::uint8_t>(mid), 0x42};
        const auto d = coap::encode(f);
        ep.handle_datagram(now, origin, coap::Bytes(d.data(), d.size()));
    };
    auto rsts = [&] {
        std::size_t n = 0;
        coap::Transmit t;
        while (ep.poll_transmit(t)) n += t.bytes.size() == 4 && (t.bytes[0] >> 4 & 3) == 3;
        return n;
    };
    for (std::uint16_t i = 0; i < 1000; ++i) {
        forge(i);
        now += Duration::milliseconds(1);  // 1000 forgeries in one second
    }
    const std::size_t first_second = rsts();
    EXPECT_GE(first_second, 10u);
    EXPECT_LE(first_second, 21u);  // the burst, and one second of refill
    EXPECT_EQ(ep.stats().rst_suppressed, 1000u - first_second);
    now += Duration::seconds(5);  // quiet: the bucket is full again
    for (std::uint16_t i = 0; i < 5; ++i) forge(static_cast<std::uint16_t>(2000 + i));
    EXPECT_EQ(rsts(), 5u);
}

namespace {

/// Two proxies that name each other as the next hop for "loop.example", and a client of
/// the first: a forwarding loop (PROXY.md §3.5).
struct Loop {
    coap::Xoshiro256 rc{11}, r1{12}, r2{13}, r3{14}, r4{15};
    const coap::Peer client_addr = coap::Peer::ipv4(0x0a000001, 40000);
    const coap::Peer a_down = coap::Peer::ipv4(0x0a000002, 5683), a_up = coap::Peer::ipv4(0x0a000002, 41000);
    const coap::Peer b_down = coap::Peer::ipv4(0x0a000004, 5683), b_up = coap::Peer::ipv4(0x0a000004, 41000);
    coap::Endpoint client{patient(), rc};
    std::unique_ptr<ForwardProxy> a, b;
    TimePoint now = TimePoint::from_ns(1'000'000'000);
    std::vector<coap::Event> events;
    std::size_t datagrams = 0;

    explicit Loop(bool honour, bool coalesce = true) {
        auto config = [&](const char* id, const coap::Peer& self, const coap::Peer& other) {
            coap::proxy::ProxyConfig pc;
            pc.identifier = id;
            pc.local_host = self.to_string().substr(0, self.to_string().find(':'));
            pc.honour_hop_limit = honour;
            pc.max_inflight = 8;
            pc.coalesce = coalesce;
            pc.next_hop = [other](const Target& t) -> std::optional<coap::Peer> {
                if (t.host == "loop.example") return other;
                return std::nullopt;
            };
            return pc;
        };
        coap::EndpointConfig down;
        down.separate_response_timeout = Duration::seconds(300);
        a = std::make_unique<ForwardProxy>(down, patient(), config("A", a_down, b_down), r1, r2);
        b = std::make_unique<ForwardProxy>(down, patient(), config("B", b_down, a_down), r3, r4);
    }
    void deliver(const coap::Peer& from, const coap::Peer& to, const std::vector<std::uint8_t>& d) {
        ++datagrams;
        const coap::Bytes bytes(d.data(), d.size());
        if (to == client_addr) client.handle_datagram(now, from, bytes);
        if (to == a_down) a->handle_datagram(now, Side::Down, from, bytes);
        if (to == a_up) a->handle_datagram(now, Side::Up, from, bytes);
        if (to == b_down) b->handle_datagram(now, Side::Down, from, bytes);
        if (to == b_up) b->handle_datagram(now, Side::Up, from, bytes);
    }
    void flush() {
        coap::Transmit t;
        for (bool any = true; any;) {
            any = false;
            while (client.poll_transmit(t)) {
                any = true;
                deliver(client_addr, t.peer, t.bytes);
            }
            for (auto* p : {a.get(), b.get()}) {
                Side side;
                while (p->poll_transmit(side, t)) {
                    any = true;
                    const coap::Peer& self = p == a.get() ? (side == Side::Down ? a_down : a_up)
                                                          : (side == Side::Down ? b_down : b_up);
                    deliver(self, t.peer, t.bytes);
                }
            }
            coap::Event e;
            while (client.poll_event(e)) events.push_back(e);
        }
    }
    void run_for(Duration d) {
        const TimePoint end = now + d;
        flush();
        while (true) {
            std::optional<TimePoint> next = client.poll_timeout();
            for (const auto& t : {a->poll_timeout(), b->poll_timeout()}) {
                if (t && (!next || *t < *next)) next = t;
            }
            if (!next || *next > end) break;
            now = std::max(now, *next);
            client.handle_timeout(now);
            a->handle_timeout(now);
            b->handle_timeout(now);
            flush();
        }
        now = end;
    }
};

}  // namespace

// The first client registers for the origin's /obs through the proxy (asking for blocks
// of `szx` if given), and the network runs for 2 s.
static coap::SendResult observe_obs(ProxyNet& n, std::optional<std::uint8_t> szx) {
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/obs")};
    r.observe = true;
    r.block2_szx = szx;
    const coap::SendResult sent = n.client.send_request(n.now, kPD, std::move(r));
    n.run_for(Duration::seconds(2));
    return sent;
}

TEST(ForwardProxy, ObserveThroughTheProxyIsOneUpstreamRegistrationFannedOutToItsClients) {
    // RFC 7641 §5: two clients observe one target through the proxy; the origin sees one
    // observer (the proxy); each change reaches both; when both have left, the proxy
    // deregisters upstream at the next notification.
    ProxyNet n;
    auto observe = [&](coap::Endpoint& c) {
        coap::Request r;
        r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/obs")};
        r.observe = true;
        const auto sent = c.send_request(n.now, kPD, std::move(r));
        EXPECT_TRUE(sent.ok());
        n.run_for(Duration::seconds(2));
        return sent.id;
    };
    auto last = [](const std::vector<coap::Event>& ev, std::uint64_t id) {
        const coap::Event* found = nullptr;
        for (const auto& e : ev) found = e.id == id ? &e : found;
        return found;
    };
    const std::uint64_t a = observe(n.client);
    const coap::Event* ea = last(n.events, a);
    ASSERT_NE(ea, nullptr);
    EXPECT_EQ(ea->kind, coap::EventKind::Response);
    EXPECT_EQ(text(*ea), "v0");
    EXPECT_TRUE(uint_of(ea->message, coap::options::kObserve).has_value());  // an observer now
    EXPECT_EQ(n.origin.observer_count("obs"), 1u);
    const std::uint64_t b = observe(n.client2);
    const coap::Event* eb = last(n.events2, b);
    ASSERT_NE(eb, nullptr);
    EXPECT_EQ(text(*eb), "v0");
    EXPECT_TRUE(uint_of(eb->message, coap::options::kObserve).has_value());
    EXPECT_EQ(n.origin.observer_count("obs"), 1u);  // still one registration upstream
    EXPECT_EQ(n.proxy.stats().observe_registrations, 1u);
    EXPECT_EQ(n.proxy.stats().observe_joined, 1u);
    EXPECT_EQ(n.proxy.observations(), 1u);

    for (int v = 1; v <= 2; ++v) {
        n.observed_value = v;
        EXPECT_EQ(n.origin.notify(n.now, "obs"), 1u);  // one notification leaves the origin...
        n.run_for(Duration::seconds(2));
        for (const auto* ev : {&n.events, &n.events2}) {  // ...and reaches both clients
            const coap::Event* got = last(*ev, ev == &n.events ? a : b);
            ASSERT_NE(got, nullptr);
            EXPECT_EQ(got->kind, coap::EventKind::Notification);
            EXPECT_EQ(text(*got), "v" + std::to_string(v));
        }
    }
    EXPECT_EQ(n.proxy.stats().notifications_relayed, 2u);
    EXPECT_EQ(n.proxy.downstream_stats().notifications_sent, 4u);

    // The first client leaves (RFC 7641 §3.6 deregistration): the second still gets changes.
    EXPECT_EQ(n.client.cancel(n.now, a, true), coap::ApiError::Ok);
    n.run_for(Duration::seconds(2));
    n.observed_value = 3;
    (void)n.origin.notify(n.now, "obs");
    n.run_for(Duration::seconds(2));
    EXPECT_EQ(text(*last(n.events2, b)), "v3");
    EXPECT_NE(text(*last(n.events, a)), "v3");
    // The second leaves too: at the next change the proxy ends the upstream observation.
    EXPECT_EQ(n.client2.cancel(n.now, b, true), coap::ApiError::Ok);
    n.run_for(Duration::seconds(2));
    EXPECT_EQ(n.origin.observer_count("obs"), 1u);  // nobody told the origin yet
    n.observed_value = 4;
    (void)n.origin.notify(n.now, "obs");
    n.run_for(Duration::seconds(5));
    EXPECT_EQ(n.proxy.stats().observe_cancelled, 1u);
    EXPECT_EQ(n.proxy.observations(), 0u);
    EXPECT_EQ(n.origin.observer_count("obs"), 0u);
    EXPECT_NE(text(*last(n.events2, b)), "v4");
}

TEST(ForwardProxy, ALargeRepresentationIsObservedThroughTheProxyWhole) {
    // RFC 7959 §2.6 on both sides: the proxy fetches the origin's notifications block by
    // block and its client fetches the proxy's the same way; every body arrives whole.
    ProxyNet n;
    n.observed_size = 3000;
    const auto sent = observe_obs(n, std::nullopt);
    ASSERT_TRUE(sent.ok());
    auto expected = [&n] {
        std::string v = "v" + std::to_string(n.observed_value);
        v.resize(3000, static_cast<char>('a' + n.observed_value));
        return v;
    };
    ASSERT_EQ(n.events.size(), 1u);
    EXPECT_EQ(n.events[0].kind, coap::EventKind::Response);
    EXPECT_EQ(text(n.events[0]), expected());
    EXPECT_EQ(n.origin.observer_count("obs"), 1u);
    for (int v = 1; v <= 2; ++v) {
        n.observed_value = v;
        EXPECT_EQ(n.origin.notify(n.now, "obs"), 1u);
        n.run_for(Duration::seconds(2));
        ASSERT_EQ(n.events.size(), static_cast<std::size_t>(1 + v));
        EXPECT_EQ(n.events.back().kind, coap::EventKind::Notification);
        EXPECT_EQ(n.events.back().id, sent.id);
        EXPECT_EQ(text(n.events.back()), expected());
    }
    EXPECT_EQ(n.proxy.stats().notifications_relayed, 2u);
    // A plain GET from another client gets the latest representation too, not the one
    // the cache kept before the notifications.
    coap::Request get;
    get.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/obs")};
    const auto plain = n.client2.send_request(n.now, kPD, std::move(get));
    ASSERT_TRUE(plain.ok());
    n.run_for(Duration::seconds(2));
    ASSERT_EQ(n.events2.size(), 1u);
    EXPECT_EQ(n.events2[0].kind, coap::EventKind::Response);
    EXPECT_EQ(text(n.events2[0]), expected());
}

TEST(ForwardProxy, ARegistrationWithBlock2ZeroIsObservedThroughTheProxyInItsBlockSize) {
    // RFC 7959 §2.6: the client's Block2 0 in its registration asks for 64-byte blocks;
    // the proxy observes upstream for it and its notifications come in that size.
    ProxyNet n;
    n.observed_size = 300;
    const auto sent = observe_obs(n, 2);  // 64-byte blocks
    ASSERT_TRUE(sent.ok());
    ASSERT_EQ(n.events.size(), 1u);
    EXPECT_EQ(n.events[0].kind, coap::EventKind::Response);
    EXPECT_EQ(n.events[0].message.payload.size(), 300u);
    EXPECT_EQ(n.proxy.stats().observe_registrations, 1u);
    n.observed_value = 1;
    EXPECT_EQ(n.origin.notify(n.now, "obs"), 1u);
    n.run_for(Duration::seconds(2));
    ASSERT_EQ(n.events.size(), 2u);
    EXPECT_EQ(n.events[1].kind, coap::EventKind::Notification);
    std::string want = "v1";
    want.resize(300, 'b');
    EXPECT_EQ(text(n.events[1]), want);
    EXPECT_EQ(n.proxy.downstream_stats().notifications_sent, 1u);
}

TEST(ForwardProxy, AnObservationEndedUpstreamEndsTheClientsAndObservedTargetsAreBounded) {
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.max_observations = 1;
    ProxyNet n(pc);
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/obs")};
    r.observe = true;
    const auto a = n.client.send_request(n.now, kPD, std::move(r));
    n.run_for(Duration::seconds(2));
    // A second target past max_observations: served once, not observed (RFC 7641 §4.1).
    coap::Request t;
    t.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t")};
    t.observe = true;
    const auto b = n.client2.send_request(n.now, kPD, std::move(t));
    n.run_for(Duration::seconds(2));
    bool plain = false;
    for (const auto& e : n.events2) {
        plain = plain || (e.id == b.id && e.kind == coap::EventKind::Response && !uint_of(e.message, coap::options::kObserve));
    }
    EXPECT_TRUE(plain);
    EXPECT_EQ(n.proxy.observations(), 1u);
    // The origin ends the observation with an error notification (RFC 7641 §3.2, §4.2):
    // the proxy passes it on and the client's observation ends too.
    n.observed_value = -1;
    EXPECT_EQ(n.origin.notify(n.now, "obs"), 1u);
    n.run_for(Duration::seconds(2));
    const coap::Event* end = nullptr;
    for (const auto& e : n.events) end = e.id == a.id ? &e : end;
    ASSERT_NE(end, nullptr);
    EXPECT_EQ(end->kind, coap::EventKind::ObservationEnded);
    EXPECT_EQ(end->message.code, coap::codes::kNotFound);
    EXPECT_EQ(n.proxy.observations(), 0u);
    // The target is free again: a new registration starts a new upstream observation.
    n.observed_value = 7;
    coap::Request again;
    again.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/obs")};
    again.observe = true;
    (void)n.client.send_request(n.now, kPD, std::move(again));
    n.run_for(Duration::seconds(2));
    EXPECT_EQ(n.proxy.stats().observe_registrations, 2u);
    EXPECT_EQ(text(n.events.back()), "v7");
}

TEST(ForwardProxy, HopLimitEndsAForwardingLoopAfterTheInitialHopCount) {
    // RFC 8768: A inserts 16; each hop decrements; the proxy that receives 1 answers 5.08
    // with its identifier, and every proxy on the way back puts its own in front.
    Loop loop(true);
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://loop.example/x")};
    ASSERT_TRUE(loop.client.send_request(loop.now, loop.a_down, std::move(r)).ok());
    loop.run_for(Duration::seconds(60));
    ASSERT_EQ(loop.events.size(), 1u);
    EXPECT_EQ(loop.events[0].message.code, coap::codes::kHopLimitReached);
    // 16 forwards (Hop-Limit 16 down to 1; as two libcoap proxies do, PROXY.md §0); the
    // 17th proxy, which got 1, says 5.08, and all 17 are named on the way back.
    EXPECT_EQ(loop.a->stats().to_next_hop + loop.b->stats().to_next_hop, 16u);
    EXPECT_EQ(text(loop.events[0]), "A B A B A B A B A B A B A B A B A");
    EXPECT_EQ(loop.a->inflight() + loop.b->inflight(), 0u);
}

TEST(ForwardProxy, WithoutHopLimitALoopRunsUntilTheInflightBoundThenUnwinds) {
    // The RFC 8768-unaware baseline (and no coalescing, as libcoap's proxy): nothing stops
    // the loop but max_inflight (8 each); the request that finds a full table gets 5.03,
    // which unwinds the chain. (With coalescing it stops at the second pass instead, each
    // proxy waiting on its own exchange until a time-out.)
    Loop loop(false, false);
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://loop.example/x")};
    ASSERT_TRUE(loop.client.send_request(loop.now, loop.a_down, std::move(r)).ok());
    loop.run_for(Duration::seconds(600));
    ASSERT_EQ(loop.events.size(), 1u);
    EXPECT_EQ(loop.events[0].message.code, coap::codes::kServiceUnavailable);
    EXPECT_EQ(loop.a->stats().to_next_hop + loop.b->stats().to_next_hop, 16u);  // 8 + 8, then full
    EXPECT_EQ(loop.a->inflight() + loop.b->inflight(), 0u);
}
