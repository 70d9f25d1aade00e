// The forward proxy's upstream side. Per-exchange upstream ports (src/coap/proxy/
// upstream_ports.h): each upstream exchange leaves from a random port of its own, a
// datagram from upstream counts only on the port of the exchange it answers, ports close
// with their exchange, and the number open at once is bounded (5.03 past it). Block-wise
// modes (ProxyConfig::blockwise): store-and-forward fetches the whole body for a Block2 #0
// request, pass-through one block, relayed as the origin sent it and cached on its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coap/codec/builder.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/proxy/forward_proxy.h"
#include "coap/proxy/upstream_ports.h"
#include "proxy_test_util.h"

using coap::Duration;
using coap::TimePoint;
using coap::proxy::ForwardProxy;
using coapbed::test::opt;
using Side = ForwardProxy::Side;

namespace {

const coap::Peer kC = coap::Peer::ipv4(0x0a000001, 40000);  // the client
const coap::Peer kPD = coap::Peer::ipv4(0x0a000002, 5683);  // the proxy, downstream socket
const std::uint32_t kPU = 0x0a000002;                       // the proxy's address upstream
const coap::Peer kO = coap::Peer::ipv4(0x0a000003, 5683);   // the origin

coap::proxy::ProxyConfig per_exchange(std::size_t max_ports = 512) {
    coap::proxy::ProxyConfig p;
    p.local_host = "10.0.0.2";
    p.ports.per_exchange = true;
    p.ports.first = 50000;
    p.ports.count = 1000;
    p.ports.max_ports = max_ports;
    return p;
}

/// One datagram the proxy sent upstream: the port it left from and its header.
struct Sent {
    std::uint16_t port;
    std::vector<std::uint8_t> bytes;
    [[nodiscard]] coap::MessageView view() const {
        coap::MessageView v;
        EXPECT_TRUE(coap::parse(coap::Bytes(bytes.data(), bytes.size()), v).ok());
        return v;
    }
};

coap::EndpointConfig up_config(std::size_t token_length = 8) {
    coap::EndpointConfig c;
    c.params.nstart = 8;  // several upstream exchanges at once toward the one origin
    c.token_length = token_length;
    c.allow_short_tokens = true;
    return c;
}

struct PortNet {
    coap::Xoshiro256 rc{1}, rd{2}, ru{3}, ro{4};
    coap::Endpoint client{[] {
                              coap::EndpointConfig c;
                              c.separate_response_timeout = Duration::seconds(300);
                              c.params.nstart = 8;
                              return c;
                          }(),
                          rc};
    ForwardProxy proxy;
    coap::Endpoint origin{coap::EndpointConfig{}, ro};
    TimePoint now = TimePoint::from_ns(1'000'000'000);
    std::vector<coap::Event> events;
    std::vector<Sent> upstream;                  // every datagram the proxy sent upstream
    std::function<bool(const Sent&)> hold;       // true: the origin does not get it
    std::vector<std::uint64_t> deferred;         // the origin's /slow exchanges

    explicit PortNet(coap::proxy::ProxyConfig pc, std::size_t up_token_length = 8)
        : proxy(coap::EndpointConfig{}, up_config(up_token_length), std::move(pc), rd, ru) {
        coap::ResourceConfig t;
        t.handler = [](const coap::IncomingRequest& in) {
            std::string q;
            for (const auto& s : in.query) q += s;
            return coap::HandlerResult(coap::Response::with(coap::codes::kContent, "t" + q));
        };
        EXPECT_EQ(origin.add_resource("t", t), coap::ApiError::Ok);
        coap::ResourceConfig slow;  // answered later, as a separate response (§5.2.2)
        slow.handler = [this](const coap::IncomingRequest& in) {
            deferred.push_back(in.exchange_id);
            return coap::HandlerResult::defer();
        };
        EXPECT_EQ(origin.add_resource("slow", slow), coap::ApiError::Ok);
        coap::ResourceConfig big;  // 3000 bytes: three blocks of 1024
        big.handler = [](const coap::IncomingRequest&) {
            std::string b;
            for (int i = 0; b.size() < 3000; ++i) b += "line " + std::to_string(i) + "\n";
            b.resize(3000);
            coap::Response r = coap::Response::with(coap::codes::kContent, b);
            r.max_age = 60;
            return coap::HandlerResult(r);
        };
        EXPECT_EQ(origin.add_resource("big", big), coap::ApiError::Ok);
    }

    void flush() {
        coap::Transmit t;
        for (bool any = true; any;) {
            any = false;
            while (client.poll_transmit(t)) {
                any = true;
                proxy.handle_datagram(now, Side::Down, kC, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            while (origin.poll_transmit(t)) {
                any = true;
                proxy.handle_upstream_datagram(now, t.peer.port, kO, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            Side side;
            std::uint16_t port = 0;
            while (proxy.poll_transmit(side, port, t)) {
                any = true;
                if (side == Side::Down) {
                    client.handle_datagram(now, kPD, coap::Bytes(t.bytes.data(), t.bytes.size()));
                    continue;
                }
                upstream.push_back(Sent{port, t.bytes});
                if (hold && hold(upstream.back())) continue;
                origin.handle_datagram(now, coap::Peer::ipv4(kPU, port), coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            coap::Event e;
            while (client.poll_event(e)) events.push_back(e);
            while (origin.poll_event(e)) {
            }
        }
    }

    void run_for(Duration d) {
        const TimePoint end = now + d;
        flush();
        while (true) {
            std::optional<TimePoint> next = client.poll_timeout();
            for (const auto& t : {origin.poll_timeout(), proxy.poll_timeout()}) {
                if (t && (!next || *t < *next)) next = t;
            }
            if (!next || *next > end) break;
            now = std::max(now, *next);
            client.handle_timeout(now);
            origin.handle_timeout(now);
            proxy.handle_timeout(now);
            flush();
        }
        now = end;
    }

    std::uint64_t send(std::string_view uri, std::optional<std::uint32_t> only_block = std::nullopt) {
        coap::Request r;
        r.options = {opt(coap::options::kProxyUri, uri)};
        r.single_block2 = only_block;
        const auto sent = client.send_request(now, kPD, std::move(r));
        EXPECT_TRUE(sent.ok());
        return sent.id;
    }
    const coap::Event* event(std::uint64_t id) const {
        for (const auto& e : events) {
            if (e.id == id) return &e;
        }
        return nullptr;
    }
    /// The upstream requests (CON with a code) sent so far.
    std::vector<Sent> requests() const {
        std::vector<Sent> out;
        for (const auto& s : upstream) {
            if (s.view().code() != coap::codes::kEmpty && s.view().code().cls() == 0) out.push_back(s);
        }
        return out;
    }
    /// A forged response "from" the origin with `token`, to our local `port`.
    void forge(std::uint16_t port, coap::MessageType type, std::uint16_t mid, coap::Bytes token) {
        coap::MessageBuilder b(type, coap::codes::kContent, mid);
        (void)b.set_token(token);
        b.set_payload(coap::Bytes(std::string_view("forged")));
        std::vector<std::uint8_t> d(64);
        const coap::BuildResult r = b.build(coap::MutableBytes(d.data(), d.size()));
        ASSERT_TRUE(r.ok());
        proxy.handle_upstream_datagram(now, port, kO, coap::Bytes(d.data(), r.size));
        flush();
    }
};

std::string text(const coap::Event& e) { return std::string(e.message.payload.begin(), e.message.payload.end()); }

}  // namespace

TEST(ProxyPorts, EachUpstreamExchangeLeavesFromARandomPortOfItsOwnWhichClosesWithIt) {
    PortNet net(per_exchange());
    std::vector<std::uint64_t> ids;
    for (const char* q : {"a", "b", "c", "d"}) ids.push_back(net.send(std::string("coap://10.0.0.3/t?") + q));
    net.run_for(Duration::seconds(5));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const coap::Event* e = net.event(ids[i]);
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(text(*e), std::string("t") + "abcd"[i]);
    }
    const auto reqs = net.requests();
    ASSERT_EQ(reqs.size(), 4u);
    std::set<std::uint16_t> ports;
    for (const auto& r : reqs) {
        EXPECT_GE(r.port, 50000);
        EXPECT_LT(r.port, 51000);
        ports.insert(r.port);
    }
    EXPECT_EQ(ports.size(), 4u) << "four exchanges at once, four ports";
    // Every port closed with its exchange, and the driver is told which.
    EXPECT_EQ(net.proxy.ports().open_ports(), 0u);
    std::set<std::uint16_t> closed;
    for (std::uint16_t p = 0; net.proxy.poll_closed_port(p);) closed.insert(p);
    EXPECT_EQ(closed, ports);
    EXPECT_EQ(net.proxy.ports().stats().opened, 4u);
    EXPECT_EQ(net.proxy.ports().stats().peak, 4u);
}

TEST(ProxyPorts, ExchangesWithTheSameTokenShareAPort) {
    // With no token at all, responses cannot tell exchanges apart: one port for them all,
    // open while any of them is, and every exchange completes.
    PortNet net(per_exchange(), 0);
    std::vector<std::uint64_t> ids;
    for (const char* q : {"a", "b", "c"}) ids.push_back(net.send(std::string("coap://10.0.0.3/t?") + q));
    net.run_for(Duration::seconds(5));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ASSERT_NE(net.event(ids[i]), nullptr);
        EXPECT_EQ(text(*net.event(ids[i])), std::string("t") + "abc"[i]);
    }
    std::set<std::uint16_t> ports;
    for (const auto& r : net.requests()) ports.insert(r.port);
    EXPECT_EQ(ports.size(), 1u);
    EXPECT_EQ(net.proxy.ports().stats().opened, 1u);
    EXPECT_EQ(net.proxy.ports().open_ports(), 0u);
}

TEST(ProxyPorts, AFixedPortIsPortZeroAndAdmitsEverything) {
    coap::proxy::ProxyConfig pc = per_exchange();
    pc.ports.per_exchange = false;
    PortNet net(pc);
    const auto id = net.send("coap://10.0.0.3/t");
    net.run_for(Duration::seconds(5));
    ASSERT_NE(net.event(id), nullptr);
    for (const auto& s : net.upstream) EXPECT_EQ(s.port, 0);
    EXPECT_EQ(net.proxy.ports().stats().opened, 0u);
}

TEST(ProxyPorts, AForgedResponseWithTheRightTokenCountsOnlyOnItsExchangesPort) {
    PortNet net(per_exchange());
    net.hold = [](const Sent&) { return true; };  // the origin never hears of it: only forgeries answer
    const auto a = net.send("coap://10.0.0.3/t?a");
    const auto b = net.send("coap://10.0.0.3/t?b");
    net.run_for(Duration::milliseconds(10));
    const auto reqs = net.requests();
    ASSERT_EQ(reqs.size(), 2u);
    const Sent& ra = reqs[0];
    const Sent& rb = reqs[1];
    ASSERT_NE(ra.port, rb.port);
    const coap::Bytes token_a = ra.view().token();
    // The right token, on the other exchange's port, on a port not open, on port 0.
    net.forge(rb.port, coap::MessageType::Non, 1, token_a);
    std::uint16_t unused = 50000;
    while (unused == ra.port || unused == rb.port) ++unused;
    net.forge(unused, coap::MessageType::Non, 2, token_a);
    net.forge(0, coap::MessageType::Non, 3, token_a);
    // A forged piggybacked response: the right MID and token, on the other port.
    net.forge(rb.port, coap::MessageType::Ack, ra.view().message_id(), token_a);
    EXPECT_EQ(net.event(a), nullptr) << "no forgery reached the client";
    EXPECT_EQ(net.proxy.ports().stats().wrong_port, 2u);
    EXPECT_EQ(net.proxy.ports().stats().closed_port, 2u);
    // The same forgery on the exchange's own port is taken: the port is what refused it.
    net.forge(ra.port, coap::MessageType::Non, 4, token_a);
    ASSERT_NE(net.event(a), nullptr);
    EXPECT_EQ(text(*net.event(a)), "forged");
    EXPECT_EQ(net.event(b), nullptr);
}

TEST(ProxyPorts, AnUnknownTokenOrMessageIdOnAnOpenPortIsDropped) {
    PortNet net(per_exchange());
    net.hold = [](const Sent&) { return true; };
    const auto a = net.send("coap://10.0.0.3/t?a");
    net.run_for(Duration::milliseconds(10));
    const auto reqs = net.requests();
    ASSERT_EQ(reqs.size(), 1u);
    const std::uint8_t other[] = {1, 2, 3, 4, 5, 6, 7, 8};
    net.forge(reqs[0].port, coap::MessageType::Non, 7, coap::Bytes(other, sizeof other));
    net.forge(reqs[0].port, coap::MessageType::Ack, static_cast<std::uint16_t>(reqs[0].view().message_id() + 1),
              reqs[0].view().token());
    EXPECT_EQ(net.proxy.ports().stats().unmatched, 2u);
    EXPECT_EQ(net.event(a), nullptr);
}

TEST(ProxyPorts, ASeparateResponseIsAcknowledgedFromThePortItCameTo) {
    PortNet net(per_exchange());
    const auto id = net.send("coap://10.0.0.3/slow");
    net.run_for(Duration::seconds(3));  // the origin's empty ACK, then silence
    ASSERT_EQ(net.deferred.size(), 1u);
    const std::uint16_t port = net.requests().at(0).port;
    ASSERT_EQ(net.origin.respond(net.now, net.deferred[0], coap::Response::with(coap::codes::kContent, "late")),
              coap::ApiError::Ok);
    const std::size_t before = net.upstream.size();
    net.run_for(Duration::seconds(1));
    ASSERT_NE(net.event(id), nullptr);
    EXPECT_EQ(text(*net.event(id)), "late");
    // The proxy's ACK of the origin's CON left from the exchange's port.
    ASSERT_GT(net.upstream.size(), before) << "unsent " << net.proxy.ports().stats().unsent << " unmatched "
                                           << net.proxy.ports().stats().unmatched;
    const Sent& ack = net.upstream[before];
    EXPECT_EQ(ack.view().type(), coap::MessageType::Ack);
    EXPECT_EQ(ack.port, port);
    EXPECT_EQ(net.proxy.ports().stats().unsent, 0u);
}

TEST(ProxyPorts, PastMaxPortsExchangesTheProxyAnswers503AndNoMorePortsOpen) {
    PortNet net(per_exchange(2));
    net.hold = [](const Sent&) { return true; };
    std::vector<std::uint64_t> ids;
    for (const char* q : {"a", "b", "c", "d"}) ids.push_back(net.send(std::string("coap://10.0.0.3/t?") + q));
    net.run_for(Duration::seconds(1));
    EXPECT_EQ(net.proxy.ports().open_ports(), 2u);
    int busy = 0;
    for (auto id : ids) {
        if (const coap::Event* e = net.event(id)) busy += e->message.code == coap::codes::kServiceUnavailable;
    }
    EXPECT_EQ(busy, 2);
    EXPECT_EQ(net.proxy.ports().stats().exhausted, 2u);
    EXPECT_EQ(net.proxy.stats().busy, 2u);
    // The two held exchanges time out (5.04); their ports close; new exchanges get ports again.
    net.run_for(Duration::seconds(120));
    EXPECT_EQ(net.proxy.ports().open_ports(), 0u);
    net.hold = nullptr;
    const auto again = net.send("coap://10.0.0.3/t?e");
    net.run_for(Duration::seconds(5));
    ASSERT_NE(net.event(again), nullptr);
    EXPECT_EQ(text(*net.event(again)), "te");
}

TEST(ProxyPorts, TheClosedPortQueueIsBoundedWhenTheDriverNeverReadsIt) {
    coap::Xoshiro256 rng(9);
    coap::proxy::UpstreamPortConfig c;
    c.per_exchange = true;
    c.first = 60000;
    c.count = 100;
    c.max_ports = 8;
    coap::proxy::UpstreamPorts ports(c, rng);
    for (std::uint64_t id = 1; id <= 1000; ++id) {
        coap::Token t;
        t.length = 8;
        t.bytes[0] = static_cast<std::uint8_t>(id);
        t.bytes[1] = static_cast<std::uint8_t>(id >> 8);
        ASSERT_TRUE(ports.open(id, kO, t));
        ports.close(id);
    }
    int n = 0;
    for (std::uint16_t p = 0; ports.poll_closed(p);) {
        EXPECT_GE(p, 60000);
        EXPECT_LT(p, 60100);
        ++n;
    }
    EXPECT_LE(n, 8);
    // The range is honoured even at its top (65535 wraps to `first`, never to 0).
    c.first = 65530;
    c.count = 6;
    c.max_ports = 6;
    coap::proxy::UpstreamPorts top(c, rng);
    std::set<std::uint16_t> seen;
    for (std::uint64_t id = 1; id <= 6; ++id) {
        coap::Token t;
        t.length = 1;
        t.bytes[0] = static_cast<std::uint8_t>(id);
        ASSERT_TRUE(top.open(id, kO, t));
    }
    EXPECT_TRUE(top.full());
    for (std::uint16_t p = 65530; p != 0; ++p) seen.insert(top.is_open(p) ? p : 0);
    seen.erase(0);
    EXPECT_EQ(seen.size(), 6u);
}

namespace {

coap::proxy::ProxyConfig blockwise(coap::proxy::ProxyConfig::Blockwise mode) {
    coap::proxy::ProxyConfig p;
    p.local_host = "10.0.0.2";
    p.blockwise = mode;
    return p;
}

std::string big_body() {
    std::string b;
    for (int i = 0; b.size() < 3000; ++i) b += "line " + std::to_string(i) + "\n";
    b.resize(3000);
    return b;
}

std::optional<coap::Block> block2_of(const coap::Message& m) {
    for (const auto& o : m.options) {
        if (o.number != coap::options::kBlock2) continue;
        const coap::BlockResult b = coap::decode_block(coap::Bytes(o.value.data(), o.value.size()));
        if (b.ok()) return b.block;
    }
    return std::nullopt;
}

}  // namespace

TEST(ProxyBlockwise, ABlock2ZeroRequestCostsTheWholeBodyStoredButOneBlockPassedThrough) {
    // PROXY.md §3.4 (b): a client that asks for block 0 only.
    using Mode = coap::proxy::ProxyConfig::Blockwise;
    for (const Mode mode : {Mode::StoreAndForward, Mode::PassThrough}) {
        PortNet net(blockwise(mode));
        const auto id = net.send("coap://10.0.0.3/big", 0);
        net.run_for(Duration::seconds(5));
        const coap::Event* e = net.event(id);
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(text(*e), big_body().substr(0, 1024));
        const auto b = block2_of(e->message);
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(b->num, 0u);
        EXPECT_TRUE(b->more);
        const std::size_t upstream = net.requests().size();
        if (mode == Mode::StoreAndForward) {
            EXPECT_EQ(upstream, 3u) << "the whole body, three blocks, for one block asked";
        } else {
            EXPECT_EQ(upstream, 1u) << "one block upstream for one block asked";
            // The relayed block keeps the origin's Size2.
            bool size2 = false;
            for (const auto& o : e->message.options) size2 |= o.number == coap::options::kSize2;
            EXPECT_TRUE(size2);
        }
    }
}

TEST(ProxyBlockwise, PassThroughRelaysEveryBlockAndCachesThemOneByOne) {
    PortNet net(blockwise(coap::proxy::ProxyConfig::Blockwise::PassThrough));
    const auto first = net.send("coap://10.0.0.3/big");
    net.run_for(Duration::seconds(5));
    ASSERT_NE(net.event(first), nullptr);
    EXPECT_EQ(text(*net.event(first)), big_body()) << "the client reassembles the relayed blocks";
    const auto reqs = net.requests();
    ASSERT_EQ(reqs.size(), 3u) << "one upstream request per block";
    for (std::uint32_t i = 0; i < 3; ++i) {
        const coap::MessageView v = reqs[i].view();
        const std::size_t b = v.find(coap::options::kBlock2);
        ASSERT_LT(b, v.option_count());
        EXPECT_EQ(coap::decode_block(v.option(b).value).block.num, i);
    }
    // A second client transfer: every block from the cache, nothing upstream.
    const auto second = net.send("coap://10.0.0.3/big");
    net.run_for(Duration::seconds(5));
    ASSERT_NE(net.event(second), nullptr);
    EXPECT_EQ(text(*net.event(second)), big_body());
    EXPECT_EQ(net.requests().size(), 3u);
    EXPECT_EQ(net.proxy.stats().hits_fresh, 3u);
    EXPECT_EQ(net.proxy.cache().size(), 3u) << "three blocks, three entries";
}
