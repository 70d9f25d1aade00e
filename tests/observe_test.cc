// RFC 7641 observe between endpoints: registration, notifications, freshness,
// deregistration and the server's bounds.
#include <gtest/gtest.h>

#include "coap/observe/freshness.h"
#include "observe_util.h"

using coap::Duration;
using coap::EventKind;
using coap::TimePoint;
using coapbed::test::TestNetwork;
using coapbed::test::observe_path;
using coapbed::test::observe_value;
using coapbed::test::text;

namespace {

struct ObserveBench {
    TestNetwork net;
    TestNetwork::Node& server;
    int value = 0;
    explicit ObserveBench(std::uint64_t seed, coap::EndpointConfig sc = {}) : net(seed), server(net.add(sc, 0x0a000002)) {
        coap::ResourceConfig counter;
        counter.observable = true;
        counter.handler = [this](const coap::IncomingRequest&) {
            if (value < 0) return coap::Response::with(coap::codes::kNotFound);
            return coap::Response::with(coap::codes::kContent, std::to_string(value));
        };
        EXPECT_EQ(server.endpoint->add_resource("counter", std::move(counter)), coap::ApiError::Ok);
    }
    std::uint64_t observe(TestNetwork::Node& client) { return observe_path(net, client, server.address, "counter"); }
    void bump() {
        ++value;
        server.endpoint->notify(net.now(), "counter");
        net.flush_all();
        net.drive(net.now() + Duration::seconds(1));
    }
};

}  // namespace

TEST(Observe, FreshnessRuleOfSection3_4) {
    coap::ObserveFreshness f;
    const TimePoint t0 = TimePoint::origin();
    EXPECT_TRUE(f.is_fresh(5, t0));
    f.accept(5, t0);
    EXPECT_TRUE(f.is_fresh(6, t0));
    EXPECT_FALSE(f.is_fresh(5, t0));
    EXPECT_FALSE(f.is_fresh(4, t0));
    EXPECT_TRUE(f.is_fresh(5 + (1u << 23) - 1, t0));
    EXPECT_FALSE(f.is_fresh(5 + (1u << 23), t0));
    f.accept(0xfffffe, t0);  // wrap-around: small numbers after large ones are newer
    EXPECT_TRUE(f.is_fresh(3, t0));
    EXPECT_FALSE(f.is_fresh(0xfffffd, t0));
    // More than 128 s later anything is fresh.
    EXPECT_FALSE(f.is_fresh(0xfffffd, t0 + Duration::seconds(128)));
    EXPECT_TRUE(f.is_fresh(0xfffffd, t0 + Duration::seconds(128) + Duration::nanoseconds(1)));
}

TEST(Observe, RegistrationAndNotifications) {
    ObserveBench s(1);
    auto& client = s.net.add({}, 0x0a000001);
    const std::uint64_t id = s.observe(client);
    ASSERT_EQ(client.events.size(), 1u);
    EXPECT_EQ(client.events[0].kind, EventKind::Response);
    EXPECT_EQ(text(client.events[0]), "0");
    ASSERT_TRUE(observe_value(client.events[0].message).has_value());
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 1u);
    for (int i = 0; i < 3; ++i) s.bump();
    ASSERT_EQ(client.events.size(), 4u);
    std::uint64_t previous = *observe_value(client.events[0].message);
    for (int i = 1; i <= 3; ++i) {
        EXPECT_EQ(client.events[i].kind, EventKind::Notification);
        EXPECT_EQ(client.events[i].id, id);
        EXPECT_EQ(text(client.events[i]), std::to_string(i));
        const std::uint64_t seq = *observe_value(client.events[i].message);
        EXPECT_GT(seq, previous);
        previous = seq;
    }
    EXPECT_EQ(client.endpoint->stats().notifications_received, 3u);
}

TEST(Observe, LostNotificationsAndStaleOnes) {
    ObserveBench s(2);
    auto& client = s.net.add({}, 0x0a000001);
    s.observe(client);
    int notifications = 0;
    std::vector<std::uint8_t> second;
    s.net.drop = [&](const coapbed::test::Captured& c) {
        if (c.from != s.server.address) return false;
        if (++notifications == 2) {
            second = c.bytes;  // lose it, but keep it to replay late
            return true;
        }
        return false;
    };
    for (int i = 0; i < 3; ++i) s.bump();
    ASSERT_EQ(client.events.size(), 3u);  // response, notification 1, notification 3
    EXPECT_EQ(text(client.events[1]), "1");
    EXPECT_EQ(text(client.events[2]), "3");
    // The lost notification arrives late: older than what we have, so not delivered.
    s.net.inject(s.server.address, client, second);
    EXPECT_EQ(client.events.size(), 3u);
    EXPECT_EQ(client.endpoint->stats().stale_notifications, 1u);
}

TEST(Observe, DeregisterWithGetObserve1) {
    ObserveBench s(3);
    auto& client = s.net.add({}, 0x0a000001);
    const std::uint64_t id = s.observe(client);
    ASSERT_EQ(s.server.endpoint->observer_count("counter"), 1u);
    ASSERT_EQ(client.endpoint->cancel(s.net.now(), id, true), coap::ApiError::Ok);
    s.net.flush_all();
    s.net.drive(s.net.now() + Duration::seconds(1));
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 0u);
    // The deregistration request carried Observe: 1 (RFC 7641 §3.6).
    bool saw = false;
    for (const auto& c : s.net.log()) {
        if (c.from != client.address) continue;
        const auto v = coapbed::test::view_of(c);
        const std::size_t i = v.find(coap::options::kObserve);
        if (i < v.option_count() && coap::decode_uint(v.option(i).value) == 1u) saw = true;
    }
    EXPECT_TRUE(saw);
    s.bump();
    ASSERT_EQ(client.events.size(), 2u);  // the registration response and the final response
    EXPECT_EQ(client.events[1].kind, EventKind::Response);
}

TEST(Observe, DeregisterByRst) {
    ObserveBench s(4);
    auto& client = s.net.add({}, 0x0a000001);
    const std::uint64_t id = s.observe(client);
    ASSERT_EQ(client.endpoint->cancel(s.net.now(), id, false), coap::ApiError::Ok);
    s.net.flush_all();
    ASSERT_EQ(client.events.back().kind, EventKind::ObservationEnded);
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 1u);
    s.bump();  // the client answers the NON notification with RST
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 0u);
    EXPECT_EQ(client.endpoint->stats().rst_sent, 1u);
}

TEST(Observe, ObserverTableIsBoundedPerResource) {
    coap::EndpointConfig sc;
    sc.max_observers_per_resource = 3;
    ObserveBench s(5, sc);
    std::vector<TestNetwork::Node*> clients;
    for (std::uint32_t i = 0; i < 5; ++i) clients.push_back(&s.net.add({}, 0x0a000010 + i));
    for (auto* c : clients) s.observe(*c);
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 3u);
    // The last two got a plain response: no Observe option, no observation.
    EXPECT_FALSE(observe_value(clients[3]->events[0].message).has_value());
    EXPECT_FALSE(observe_value(clients[4]->events[0].message).has_value());
    s.bump();
    EXPECT_EQ(clients[0]->events.size(), 2u);
    EXPECT_EQ(clients[4]->events.size(), 1u);
}

TEST(Observe, UnacknowledgedConNotificationRemovesTheObserver) {
    coap::EndpointConfig sc;
    sc.confirmable_notifications = true;
    ObserveBench s(6, sc);
    auto& client = s.net.add({}, 0x0a000001);
    s.observe(client);
    s.net.drop = [&](const coapbed::test::Captured& c) { return c.to == client.address; };
    ++s.value;
    s.server.endpoint->notify(s.net.now(), "counter");
    s.net.flush_all();
    s.net.drive();
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 0u);  // RFC 7641 §4.5
    EXPECT_EQ(s.server.endpoint->stats().retransmissions, 4u);
}

TEST(Observe, AnUnreachableObserverIsDropped) {
    // The driver reports ICMP unreachable for an observer's address (RFC 7641 §4.5).
    ObserveBench s(7);
    auto& gone = s.net.add({}, 0x0a000001);
    auto& live = s.net.add({}, 0x0a000003);
    s.observe(gone);
    s.observe(live);
    ASSERT_EQ(s.server.endpoint->observer_count("counter"), 2u);
    s.server.endpoint->handle_unreachable(s.net.now(), gone.address);
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 1u);
    EXPECT_EQ(s.server.endpoint->stats().observers_unreachable, 1u);
    s.bump();
    EXPECT_EQ(live.events.size(), 2u);
    EXPECT_EQ(gone.events.size(), 1u);
}

TEST(Observe, ConAtLeastOncePerInterval) {
    coap::EndpointConfig sc;
    sc.con_notification_interval = Duration::seconds(10);
    ObserveBench s(7, sc);
    auto& client = s.net.add({}, 0x0a000001);
    s.observe(client);
    std::vector<coap::MessageType> types;
    s.net.drop = [&](const coapbed::test::Captured& c) {
        if (c.from == s.server.address) types.push_back(coapbed::test::view_of(c).type());
        return false;
    };
    for (int i = 0; i < 25; ++i) s.bump();  // one per simulated second
    int cons = 0;
    for (auto t : types) cons += t == coap::MessageType::Con ? 1 : 0;
    EXPECT_GE(cons, 2);
    EXPECT_LE(cons, 3);
    EXPECT_EQ(client.events.size(), 26u);
}

TEST(Observe, ErrorNotificationEndsTheObservation) {
    ObserveBench s(8);
    auto& client = s.net.add({}, 0x0a000001);
    s.observe(client);
    s.value = -2;  // the next notification is 4.04
    s.bump();
    ASSERT_EQ(client.events.size(), 2u);
    EXPECT_EQ(client.events[1].kind, EventKind::ObservationEnded);
    EXPECT_EQ(client.events[1].message.code, coap::codes::kNotFound);
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 0u);
    EXPECT_EQ(client.endpoint->active_exchanges(), 0u);
}

// Found by fuzz/endpoint: a notification crossing the GET with Observe: 1 used to be
// taken as the answer to the deregistration.
TEST(Observe, NotificationCrossingTheDeregistrationIsNotItsAnswer) {
    ObserveBench s(9);
    auto& client = s.net.add({}, 0x0a000001);
    const std::uint64_t id = s.observe(client);
    bool dropped = false;
    s.net.drop = [&](const coapbed::test::Captured& c) {
        if (c.from == client.address && !dropped) return dropped = true;  // lose the first GET Observe: 1
        return false;
    };
    ASSERT_EQ(client.endpoint->cancel(s.net.now(), id, true), coap::ApiError::Ok);
    s.net.flush_all();
    s.bump();  // this notification reaches the client while it deregisters
    EXPECT_EQ(client.events.size(), 1u);
    s.net.drive();
    ASSERT_EQ(client.events.size(), 2u);
    EXPECT_EQ(client.events[1].kind, EventKind::Response);
    EXPECT_FALSE(observe_value(client.events[1].message).has_value());
    EXPECT_EQ(s.server.endpoint->observer_count("counter"), 0u);
}

// A resource that answers a request later (a slow sensor: the handler defers, the
// application calls respond()) can still be observed: the registration is made when it is
// answered, with Observe in that separate response (RFC 7641 §2 with RFC 7252 §5.2.2);
// its notifications come from the handler at once (a notification cannot be deferred).
TEST(Observe, ARegistrationAnsweredLaterIsAnObservation) {
    TestNetwork net(26);
    auto& server = net.add({}, 0x0a000002);
    std::vector<std::uint64_t> waiting;
    int value = 0;
    coap::ResourceConfig slow;
    slow.observable = true;
    slow.handler = [&](const coap::IncomingRequest& in) {
        if (in.is_notification) return coap::HandlerResult(coap::Response::with(coap::codes::kContent, std::to_string(value)));
        waiting.push_back(in.exchange_id);
        return coap::HandlerResult::defer();
    };
    ASSERT_EQ(server.endpoint->add_resource("slow", std::move(slow)), coap::ApiError::Ok);
    auto& client = net.add({}, 0x0a000001);
    const std::uint64_t id = observe_path(net, client, server.address, "slow");
    ASSERT_EQ(waiting.size(), 1u);
    EXPECT_TRUE(client.events.empty());
    EXPECT_EQ(server.endpoint->observer_count("slow"), 0u);  // not before it is answered
    ASSERT_EQ(server.endpoint->respond(net.now(), waiting[0], coap::Response::with(coap::codes::kContent, "0")),
              coap::ApiError::Ok);
    net.flush_all();
    net.drive(net.now() + Duration::seconds(1));
    ASSERT_EQ(client.events.size(), 1u);
    EXPECT_EQ(client.events[0].kind, EventKind::Response);
    EXPECT_TRUE(observe_value(client.events[0].message).has_value());
    EXPECT_EQ(server.endpoint->observer_count("slow"), 1u);
    value = 1;
    server.endpoint->notify(net.now(), "slow");
    net.flush_all();
    net.drive(net.now() + Duration::seconds(1));
    ASSERT_EQ(client.events.size(), 2u);
    EXPECT_EQ(client.events[1].kind, EventKind::Notification);
    EXPECT_EQ(client.events[1].id, id);
    EXPECT_EQ(text(client.events[1]), "1");
    // An error answer registers nobody (RFC 7641 §4.1: only a success does).
    auto& other = net.add({}, 0x0a000003);
    (void)observe_path(net, other, server.address, "slow");
    ASSERT_EQ(waiting.size(), 2u);
    ASSERT_EQ(server.endpoint->respond(net.now(), waiting[1], coap::Response::with(coap::codes::kServiceUnavailable)),
              coap::ApiError::Ok);
    net.flush_all();
    net.drive(net.now() + Duration::seconds(1));
    EXPECT_EQ(server.endpoint->observer_count("slow"), 1u);
}
