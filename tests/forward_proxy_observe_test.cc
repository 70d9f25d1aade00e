// Observe through the forward proxy (RFC 7641 §5): one upstream registration fanned out,
// representations larger than a block on both sides (RFC 7959 §2.6), the end of an
// observation and the bound on observed targets.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "coap/options/registry.h"
#include "proxy_net.h"

using coap::Duration;
using coapbed::test::kPD;
using coapbed::test::opt;
using coapbed::test::proxy_config;
using coapbed::test::ProxyNet;
using coapbed::test::text;
using coapbed::test::uint_of;

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
