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
#include "proxy_net.h"
#include "proxy_test_util.h"
#include "test_network.h"

using coap::Duration;
using coap::TimePoint;
using coap::proxy::Target;
using coapbed::test::opt;
using coapbed::test::TestNetwork;
using coapbed::test::uint_opt;

// ---- forward proxy --------------------------------------------------------------------

using coapbed::test::kC;
using coapbed::test::kC2;
using coapbed::test::kO;
using coapbed::test::kPD;
using coapbed::test::kPU;
using coapbed::test::parsed;
using coapbed::test::patient;
using coapbed::test::proxy_config;
using coapbed::test::ProxyNet;
using coapbed::test::text;
using coapbed::test::uint_of;
using coap::proxy::ForwardProxy;
using Side = coap::proxy::ForwardProxy::Side;

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
