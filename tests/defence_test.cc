// Server defences against reflection (RFC 7252 §11.3, RFC 9175 §2.4): Echo values,
// the anti-amplification allowance, per-address rate limits, observe for verified
// addresses only, and the bound on the per-address table.
#include <gtest/gtest.h>

#include "coap/defence/guard.h"

#include <memory>

#include "coap/codec/builder.h"
#include "coap/codec/message_view.h"
#include "coap/defence/echo.h"
#include "coap/options/registry.h"
#include "net/hmac.h"
#include "test_network.h"

using coap::Duration;
using coap::TimePoint;
using coapbed::test::TestNetwork;

namespace {

std::shared_ptr<const coap::MacFunction> key(std::uint8_t k = 7) {
    return std::make_shared<coapbed::net::HmacSha256>(std::vector<std::uint8_t>(32, k));
}

TEST(Echo, AValueVerifiesForItsAddressWithinItsFreshnessOnly) {
    const auto k = key();
    const coap::Peer a = coap::Peer::ipv4(0x0a000001, 40000), b = coap::Peer::ipv4(0x0a000009, 40000);
    const coap::Peer a_other_port = coap::Peer::ipv4(0x0a000001, 40001);
    const TimePoint t0 = TimePoint::from_ns(5'000'000'000);
    auto v = coap::mint_echo(*k, a, t0);
    const coap::Bytes bytes(v.data(), v.size());
    const Duration fresh = Duration::seconds(30);
    EXPECT_EQ(coap::verify_echo(*k, a, bytes, t0 + Duration::seconds(29), fresh), coap::EchoVerdict::Valid);
    EXPECT_EQ(coap::verify_echo(*k, a, bytes, t0 + Duration::seconds(31), fresh), coap::EchoVerdict::Expired);
    EXPECT_EQ(coap::verify_echo(*k, a, bytes, t0 - Duration::seconds(1), fresh), coap::EchoVerdict::Expired);
    // Replayed from another address (or port): not ours for that address.
    EXPECT_EQ(coap::verify_echo(*k, b, bytes, t0, fresh), coap::EchoVerdict::Forged);
    EXPECT_EQ(coap::verify_echo(*k, a_other_port, bytes, t0, fresh), coap::EchoVerdict::Forged);
    // Another server's key, a flipped bit, a moved time stamp, a wrong length.
    EXPECT_EQ(coap::verify_echo(*key(8), a, bytes, t0, fresh), coap::EchoVerdict::Forged);
    for (std::size_t i = 0; i < v.size(); ++i) {
        auto w = v;
        w[i] ^= 0x01;
        EXPECT_NE(coap::verify_echo(*k, a, coap::Bytes(w.data(), w.size()), t0, fresh), coap::EchoVerdict::Valid) << i;
    }
    EXPECT_EQ(coap::verify_echo(*k, a, coap::Bytes(v.data(), 12), t0, fresh), coap::EchoVerdict::Malformed);
}

struct Reflector {
    TestNetwork net{11};
    TestNetwork::Node& server;
    explicit Reflector(coap::ServerDefences d, std::size_t size = 1000, std::size_t max_peers = 1024)
        : server(net.add(config(d, max_peers), 0x0a000002)) {
        coap::ResourceConfig big;
        big.observable = true;
        big.handler = [size](const coap::IncomingRequest&) {
            coap::Response r = coap::Response::with(coap::codes::kContent);
            r.payload.assign(size, 'x');
            return r;
        };
        EXPECT_EQ(server.endpoint->add_resource("big", std::move(big)), coap::ApiError::Ok);
    }
    static coap::EndpointConfig config(coap::ServerDefences d, std::size_t max_peers) {
        coap::EndpointConfig c;
        c.defences = std::move(d);
        c.max_peers = max_peers;
        return c;
    }
    /// A GET /big as an attacker would spoof it from `from` (no such node: replies vanish).
    void spoof(const coap::Peer& from, std::uint16_t mid, bool observe = false, const std::vector<std::uint8_t>& echo = {}) {
        coap::MessageBuilder b(coap::MessageType::Con, coap::codes::kGet, mid);
        const std::uint8_t tok[2] = {0x12, static_cast<std::uint8_t>(mid)};
        (void)b.set_token(coap::Bytes(tok, 2));
        if (observe) (void)b.add_uint(coap::options::kObserve, 0);
        (void)b.add_option(coap::options::kUriPath, coap::Bytes(std::string_view("big")));
        if (!echo.empty()) (void)b.add_option(coap::options::kEcho, coap::Bytes(echo.data(), echo.size()));
        std::vector<std::uint8_t> bytes(b.encoded_size());
        (void)b.build(coap::MutableBytes(bytes.data(), bytes.size()));
        received += bytes.size();
        net.inject(from, server, std::move(bytes));
    }
    std::size_t bytes_to(const coap::Peer& p) const {
        std::size_t n = 0;
        for (const auto& c : net.log()) n += c.to == p ? c.bytes.size() : 0;
        return n;
    }
    std::size_t received = 0;
};

const coap::Peer kVictim = coap::Peer::ipv4(0xc0000201, 5683);

TEST(Defences, WithoutDefencesALargeGetReflectsManyTimesItsSize) {
    Reflector r({});
    for (std::uint16_t i = 0; i < 10; ++i) r.spoof(kVictim, i);
    EXPECT_GT(r.bytes_to(kVictim), 20 * r.received);
}

TEST(Defences, AmplificationLimitBoundsWhatAnUnverifiedAddressGets) {
    coap::ServerDefences d;
    d.amplification_limit = 3;
    Reflector r(d);
    for (std::uint16_t i = 0; i < 50; ++i) r.spoof(kVictim, i);
    EXPECT_LE(r.bytes_to(kVictim), 3 * r.received);
    // A 1000-byte response fits only once the address has sent a third of it.
    EXPECT_GE(r.server.endpoint->stats().amplification_dropped, 45u);
}

TEST(Defences, SeparateResponsesAndTheirRetransmissionsStayWithinTheAllowance) {
    // A resource that answers later (§5.2.2): its separate CON responses, and every
    // retransmission of them (the victim never acknowledges), go through the defences.
    for (const bool echo : {false, true}) {
        coap::ServerDefences d;
        d.amplification_limit = 3;
        d.echo = echo;
        if (echo) d.echo_key = key();
        Reflector r(d, 1000);
        std::vector<std::uint64_t> deferred;
        coap::ResourceConfig slow;
        slow.handler = [&](const coap::IncomingRequest& in) {
            deferred.push_back(in.exchange_id);
            return coap::HandlerResult::defer();
        };
        ASSERT_EQ(r.server.endpoint->add_resource("slow", std::move(slow)), coap::ApiError::Ok);
        for (std::uint16_t i = 0; i < 30; ++i) {
            coap::MessageBuilder b(coap::MessageType::Con, coap::codes::kGet, i);
            const std::uint8_t tok[2] = {0x34, static_cast<std::uint8_t>(i)};
            (void)b.set_token(coap::Bytes(tok, 2));
            (void)b.add_option(coap::options::kUriPath, coap::Bytes(std::string_view("slow")));
            std::vector<std::uint8_t> bytes(b.encoded_size());
            (void)b.build(coap::MutableBytes(bytes.data(), bytes.size()));
            r.received += bytes.size();
            r.net.inject(kVictim, r.server, std::move(bytes));
        }
        ASSERT_EQ(deferred.size(), 30u);
        for (std::uint64_t id : deferred) {
            coap::Response big = coap::Response::with(coap::codes::kContent);
            big.payload.assign(600, 'y');
            ASSERT_EQ(r.server.endpoint->respond(r.net.now(), id, std::move(big)), coap::ApiError::Ok);
        }
        r.net.flush_all();
        r.net.drive(r.net.now() + Duration::seconds(300));  // every retransmission, to the give-up
        EXPECT_LE(r.bytes_to(kVictim), 3 * r.received) << (echo ? "with Echo" : "without Echo");
        EXPECT_GT(r.server.endpoint->stats().amplification_dropped, 0u);
    }
}

TEST(Defences, EchoChallengesSpoofedRequestsWithinTheLimit) {
    coap::ServerDefences d;
    d.echo = true;
    d.echo_key = key();
    Reflector r(d);
    for (std::uint16_t i = 0; i < 50; ++i) r.spoof(kVictim, i);
    EXPECT_LE(r.bytes_to(kVictim), 3 * r.received);
    EXPECT_EQ(r.server.endpoint->stats().echo_challenges, 50u);
    for (const auto& c : r.net.log()) {
        coap::MessageView m;
        ASSERT_TRUE(coap::parse(coap::Bytes(c.bytes.data(), c.bytes.size()), m).ok());
        EXPECT_EQ(m.code(), coap::codes::kUnauthorized);
        EXPECT_EQ(m.type(), coap::MessageType::Ack);  // piggybacked, never separate
        EXPECT_LT(m.find(coap::options::kEcho), m.option_count());
    }
}

TEST(Defences, ALegitimateClientCompletesWithOneExtraRoundTrip) {
    coap::ServerDefences d;
    d.echo = true;
    d.echo_key = key();
    Reflector r(d, 3000);  // block-wise: three blocks
    auto& client = r.net.add({}, 0x0a000001, 40000);
    r.net.link.latency = Duration::milliseconds(50);
    for (int round = 0; round < 3; ++round) {
        coap::Request req;
        req.path("big");
        const auto s = client.endpoint->send_request(r.net.now(), r.server.address, std::move(req));
        ASSERT_TRUE(s.ok());
        r.net.flush_all();
        r.net.drive(r.net.now() + Duration::seconds(30));
    }
    ASSERT_EQ(client.events.size(), 3u);
    for (const auto& e : client.events) {
        EXPECT_EQ(e.kind, coap::EventKind::Response);
        EXPECT_EQ(e.message.code, coap::codes::kContent);
        EXPECT_EQ(e.message.payload.size(), 3000u);
    }
    // The first exchange: challenge, retry with Echo, then three blocks (4 round trips
    // instead of 3); later ones: the address is verified, no challenge.
    EXPECT_NEAR(client.events[0].elapsed.seconds_f(), 0.4, 0.01);
    EXPECT_NEAR(client.events[1].elapsed.seconds_f(), 0.3, 0.01);
    EXPECT_EQ(client.endpoint->stats().echo_retries, 1u);
    EXPECT_EQ(r.server.endpoint->stats().echo_challenges, 1u);
    // The client repeats the Echo in the first exchange's three block requests.
    EXPECT_EQ(r.server.endpoint->stats().echo_verified, 3u);
}

TEST(Defences, ReplayedForgedAndExpiredEchoValuesDoNotVerify) {
    coap::ServerDefences d;
    d.echo = true;
    d.echo_key = key();
    d.echo_freshness = Duration::seconds(10);
    Reflector r(d);
    const coap::Peer a = coap::Peer::ipv4(0x0a000001, 40000);
    r.spoof(a, 1);
    // The Echo the server gave `a`.
    coap::MessageView m;
    const auto& reply = r.net.log().back().bytes;
    ASSERT_TRUE(coap::parse(coap::Bytes(reply.data(), reply.size()), m).ok());
    const auto ev = m.option(m.find(coap::options::kEcho)).value;
    const std::vector<std::uint8_t> echo(ev.begin(), ev.end());
    r.spoof(kVictim, 2, false, echo);  // replayed from the victim's address
    EXPECT_EQ(r.server.endpoint->stats().echo_forged, 1u);
    std::vector<std::uint8_t> forged = echo;
    forged.back() ^= 0xff;
    r.spoof(a, 3, false, forged);
    EXPECT_EQ(r.server.endpoint->stats().echo_forged, 2u);
    r.net.advance(Duration::seconds(11));
    r.spoof(a, 4, false, echo);
    EXPECT_EQ(r.server.endpoint->stats().echo_expired, 1u);
    EXPECT_EQ(r.server.endpoint->stats().echo_verified, 0u);
    EXPECT_EQ(r.server.endpoint->stats().echo_challenges, 4u);
    r.spoof(a, 5, false, std::vector<std::uint8_t>(echo));  // still expired
    const auto fresh_reply = r.net.log().back().bytes;
    ASSERT_TRUE(coap::parse(coap::Bytes(fresh_reply.data(), fresh_reply.size()), m).ok());
    const auto fv = m.option(m.find(coap::options::kEcho)).value;
    r.spoof(a, 6, false, std::vector<std::uint8_t>(fv.begin(), fv.end()));  // a fresh one works
    EXPECT_EQ(r.server.endpoint->stats().echo_verified, 1u);
    EXPECT_GT(r.net.log().back().bytes.size(), 1000u);
}

TEST(Defences, RateLimitIsPerAddress) {
    coap::ServerDefences d;
    d.rate_limit = 2;
    d.rate_burst = 2;
    Reflector r(d, 10);
    const coap::Peer other = coap::Peer::ipv4(0x0a000077, 1234);
    for (std::uint16_t i = 0; i < 10; ++i) r.spoof(kVictim, i);
    r.spoof(other, 100);
    EXPECT_EQ(r.server.endpoint->stats().rate_limited, 8u);
    EXPECT_EQ(r.server.endpoint->stats().responses_sent, 3u);
    r.net.advance(Duration::seconds(1));
    r.spoof(kVictim, 50);
    r.spoof(kVictim, 51);
    r.spoof(kVictim, 52);
    EXPECT_EQ(r.server.endpoint->stats().rate_limited, 9u);  // 2 tokens back after a second
}

TEST(Defences, RateLimitCountsTheAddressWhateverThePort) {
    // Rotating the source port must not lift the limit (it is the IP address's).
    coap::ServerDefences d;
    d.rate_limit = 1;
    d.rate_burst = 10;
    Reflector r(d, 10);
    for (std::uint16_t i = 0; i < 100; ++i) r.spoof(coap::Peer::ipv4(0xc0000201, static_cast<std::uint16_t>(2000 + i % 10)), i);
    EXPECT_EQ(r.server.endpoint->stats().responses_sent, 10u);
    EXPECT_EQ(r.server.endpoint->stats().rate_limited, 90u);
}

TEST(Defences, RateBucketsAreBounded) {
    coap::EndpointConfig c;
    c.max_peers = 8;
    c.defences.rate_limit = 5;
    coap::EndpointStats stats;
    coap::DefenceGuard g(c, stats);
    const std::vector<std::uint8_t> get{0x40, 0x01, 0x00, 0x01};
    coap::MessageView v;
    ASSERT_TRUE(coap::parse(coap::Bytes(get.data(), get.size()), v).ok());
    for (std::uint32_t i = 0; i < 100; ++i) {
        ASSERT_TRUE(g.admit(TimePoint() + Duration::milliseconds(i), coap::Peer::ipv4(0x0b000000 + i, 5683), v));
        EXPECT_LE(g.rate_buckets(), 8u);
        EXPECT_LE(g.entries(), 8u);
    }
}

TEST(Defences, OnlyVerifiedAddressesMayObserve) {
    coap::ServerDefences d;
    d.echo = true;
    d.echo_key = key();
    d.observe_verified_only = true;
    Reflector r(d, 20);  // small: within the allowance, so no challenge
    r.spoof(kVictim, 1, true);
    EXPECT_EQ(r.server.endpoint->observer_count("big"), 0u);
    EXPECT_EQ(r.server.endpoint->stats().observe_refused, 1u);
    coap::MessageView m;
    const auto& reply = r.net.log().back().bytes;
    ASSERT_TRUE(coap::parse(coap::Bytes(reply.data(), reply.size()), m).ok());
    EXPECT_EQ(m.code(), coap::codes::kContent);
    EXPECT_EQ(m.find(coap::options::kObserve), m.option_count());  // no registration
}

TEST(Defences, NotificationsToAnUnverifiedObserverStopAtTheAllowance) {
    coap::ServerDefences d;
    d.amplification_limit = 3;
    Reflector r(d, 20);
    r.spoof(kVictim, 1, true);
    ASSERT_EQ(r.server.endpoint->observer_count("big"), 1u);
    for (int i = 0; i < 20; ++i) {
        r.server.endpoint->notify(r.net.now(), "big");
        r.net.flush_all();
    }
    EXPECT_LE(r.bytes_to(kVictim), 3 * r.received);
    EXPECT_EQ(r.server.endpoint->observer_count("big"), 0u);
}

TEST(Defences, PerAddressStateIsBounded) {
    coap::ServerDefences d;
    d.amplification_limit = 3;
    Reflector r(d, 10, 8);
    for (std::uint32_t i = 0; i < 100; ++i) r.spoof(coap::Peer::ipv4(0x0b000000 + i, 5683), static_cast<std::uint16_t>(i));
    EXPECT_LE(r.server.endpoint->defence_entries(), 8u);
}

TEST(Defences, ObservationsPerAddressAreBounded) {
    coap::ServerDefences d;
    d.max_observations_per_address = 3;
    Reflector r(d, 20);
    for (std::uint16_t i = 0; i < 10; ++i) r.spoof(coap::Peer::ipv4(0xc0000201, static_cast<std::uint16_t>(1000 + i)), i, true);
    EXPECT_EQ(r.server.endpoint->observer_count("big"), 3u);
    EXPECT_EQ(r.server.endpoint->stats().observe_refused, 7u);
    // RFC 7641 §4.1: the first observer registers again (same endpoint and token, a new
    // message ID): its entry is replaced, so it is not refused at the limit.
    r.spoof(coap::Peer::ipv4(0xc0000201, 1000), 256, true);
    EXPECT_EQ(r.server.endpoint->stats().observe_refused, 7u);
    EXPECT_EQ(r.server.endpoint->observer_count("big"), 3u);
}

TEST(Defences, AtTheLimitAnObserverRefreshesItsOwnRegistration) {
    // RFC 7641 §3.3.1: the same client and token registering again refreshes its entry;
    // at max_observations_per_address = 1 that entry is the one it holds, not one more.
    coap::ServerDefences d;
    d.max_observations_per_address = 1;
    Reflector r(d, 20);
    const coap::Peer client = coap::Peer::ipv4(0xc0000201, 1000);
    for (std::uint16_t mid : {0, 256, 512}) {  // the same token (0x12 0x00), new Message IDs
        r.spoof(client, mid, true);
        coap::MessageView m;
        const auto& reply = r.net.log().back().bytes;
        ASSERT_TRUE(coap::parse(coap::Bytes(reply.data(), reply.size()), m).ok());
        EXPECT_LT(m.find(coap::options::kObserve), m.option_count()) << "registration " << mid << " answered as a plain GET";
    }
    EXPECT_EQ(r.server.endpoint->observer_count("big"), 1u);
    EXPECT_EQ(r.server.endpoint->stats().observe_refused, 0u);
    // Another port of the same address is a second observation: refused at the limit.
    r.spoof(coap::Peer::ipv4(0xc0000201, 1001), 3, true);
    EXPECT_EQ(r.server.endpoint->stats().observe_refused, 1u);
}

// ---- multicast (RFC 7252 §8) ---------------------------------------------------------

struct Group : Reflector {
    explicit Group(bool open) : Reflector({}, 100) {
        coap::ResourceConfig r;
        r.multicast = open;
        r.handler = [](const coap::IncomingRequest&) { return coap::Response::with(coap::codes::kContent, "hello"); };
        EXPECT_EQ(server.endpoint->add_resource("hello", std::move(r)), coap::ApiError::Ok);
    }
    void to_group(coap::MessageType type, std::string_view path, std::uint16_t mid) {
        coap::MessageBuilder b(type, coap::codes::kGet, mid);
        const std::uint8_t tok[1] = {0x42};
        (void)b.set_token(coap::Bytes(tok, 1));
        (void)b.add_option(coap::options::kUriPath, coap::Bytes(path));
        std::vector<std::uint8_t> bytes(b.encoded_size());
        (void)b.build(coap::MutableBytes(bytes.data(), bytes.size()));
        server.endpoint->handle_multicast_datagram(net.now(), kVictim, coap::Bytes(bytes.data(), bytes.size()));
        net.flush_all();
    }
};

TEST(Multicast, AnOpenResourceAnswersWithinTheLeisurePeriodAsUnicastNon) {
    Group g(true);
    g.to_group(coap::MessageType::Non, "hello", 1);
    EXPECT_EQ(g.bytes_to(kVictim), 0u);  // not at once (§8.2)
    g.net.drive(g.net.now() + Duration::seconds(6));
    ASSERT_EQ(g.net.log().size(), 1u);
    const auto& c = g.net.log().front();
    EXPECT_LE(c.at, TimePoint::origin() + Duration::seconds(5));  // within DEFAULT_LEISURE
    coap::MessageView m;
    ASSERT_TRUE(coap::parse(coap::Bytes(c.bytes.data(), c.bytes.size()), m).ok());
    EXPECT_EQ(m.type(), coap::MessageType::Non);
    EXPECT_EQ(m.code(), coap::codes::kContent);
}

TEST(Multicast, ConClosedResourcesErrorsAndGarbageGetNothing) {
    Group g(false);
    g.to_group(coap::MessageType::Non, "hello", 1);     // not open to multicast
    g.to_group(coap::MessageType::Con, "hello", 2);     // §8.1: CON through a group
    g.to_group(coap::MessageType::Non, "missing", 3);   // 4.04 suppressed
    const std::uint8_t garbage[] = {0x40, 0x01, 0x00, 0x07, 0xf0};  // a CON with a format error
    g.server.endpoint->handle_multicast_datagram(g.net.now(), kVictim, coap::Bytes(garbage, sizeof garbage));
    g.net.flush_all();
    g.net.drive(g.net.now() + Duration::seconds(10));
    EXPECT_EQ(g.net.log().size(), 0u);
    EXPECT_EQ(g.server.endpoint->stats().multicast_ignored, 2u);
    EXPECT_EQ(g.server.endpoint->stats().multicast_suppressed, 1u);
}

}  // namespace
