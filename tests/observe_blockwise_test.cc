// RFC 7641 observe of a representation larger than a block (RFC 7959 §2.6): the
// block-wise fetch of the registration and of each notification, on both sides.
#include <gtest/gtest.h>

#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "observe_util.h"

using coap::Duration;
using coap::EventKind;
using coap::TimePoint;
using coapbed::test::TestNetwork;
using coapbed::test::observe_path;
using coapbed::test::observe_value;
using coapbed::test::text;

namespace {

// A resource whose representation (150 bytes of one letter) spans three 64-byte blocks,
// optionally with that letter as its ETag, and a client observing it.
struct BigBench {
    TestNetwork net;
    TestNetwork::Node& server;
    TestNetwork::Node& client;
    char state = 'a';
    BigBench(std::uint64_t seed, bool etag, coap::EndpointConfig sc = small_blocks())
        : net(seed), server(net.add(sc, 0x0a000002)), client(net.add({}, 0x0a000001)) {
        coap::ResourceConfig big;
        big.observable = true;
        big.handler = [this, etag](const coap::IncomingRequest&) {
            coap::Response r = coap::Response::with(coap::codes::kContent, body());
            if (etag) r.options.push_back(coap::OwnedOption{coap::options::kETag, {static_cast<std::uint8_t>(state)}});
            return coap::HandlerResult(std::move(r));
        };
        EXPECT_EQ(server.endpoint->add_resource("big", std::move(big)), coap::ApiError::Ok);
    }
    static coap::EndpointConfig small_blocks() {
        coap::EndpointConfig c;
        c.block_szx = 2;  // 64-byte blocks
        return c;
    }
    std::string body() const { return std::string(150, state); }
    std::uint64_t observe() { return observe_path(net, client, server.address, "big"); }
    void change(char to) {
        state = to;
        server.endpoint->notify(net.now(), "big");
        net.flush_all();
    }
};

}  // namespace

// RFC 7959 §2.6: a representation larger than a block is observed block-wise: the
// registration's first block carries Observe, the rest come with plain GETs, and the
// observation stands once the body is complete; each notification carries the first
// block again and the client fetches the rest before delivering the whole body.
TEST(Observe, LargeRepresentationIsObservedBlockwise) {
    BigBench b(21, false);
    const std::uint64_t id = b.observe();
    auto& events = b.client.events;
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, EventKind::Response);
    EXPECT_EQ(text(events[0]), b.body());
    EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u);
    for (std::size_t i = 1; i <= 2; ++i) {
        b.change(static_cast<char>('a' + i));
        b.net.drive(b.net.now() + Duration::seconds(1));
        ASSERT_EQ(events.size(), 1 + i);
        EXPECT_EQ(events[i].kind, EventKind::Notification);
        EXPECT_EQ(events[i].id, id);
        EXPECT_EQ(text(events[i]), b.body());
        ASSERT_TRUE(observe_value(events[i].message).has_value());  // the first block's value
        EXPECT_GT(*observe_value(events[i].message), *observe_value(events[i - 1].message));
    }
    EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u);
    EXPECT_EQ(b.client.endpoint->stats().notifications_received, 2u);
}

// RFC 7959 §2.6: the state changes while the client fetches a notification's blocks (a
// second notification crosses the GETs, and the next block's ETag differs): the mixed
// body is not delivered; the client asks again (GET Observe 0, same token) and delivers
// the current state whole. The observation goes on.
TEST(Observe, StateChangingDuringABlockwiseNotificationIsFetchedAgain) {
    BigBench b(22, true);
    const std::uint64_t id = b.observe();
    auto& events = b.client.events;
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(text(events[0]), std::string(150, 'a'));
    // Two changes at once: both notifications are on the wire before the client's GET for
    // the first one's second block reaches the server.
    b.change('b');
    b.change('c');
    b.net.drive(b.net.now() + Duration::seconds(2));
    ASSERT_GE(events.size(), 2u);
    for (std::size_t i = 1; i < events.size(); ++i) {
        EXPECT_EQ(events[i].kind, EventKind::Notification);
        const std::string t = text(events[i]);
        EXPECT_TRUE(t == std::string(150, 'b') || t == std::string(150, 'c')) << t;
    }
    EXPECT_EQ(text(events.back()), std::string(150, 'c'));
    // The client registered twice: at the start and when the ETags differed.
    std::size_t registrations = 0;
    for (const auto& c : b.net.log()) {
        coap::MessageView v;
        if (c.from != b.client.address || !coap::parse(coap::Bytes(c.bytes.data(), c.bytes.size()), v).ok()) continue;
        const std::size_t i = v.find(coap::options::kObserve);
        if (v.code() == coap::codes::kGet && i < v.option_count() && v.option(i).value.empty()) ++registrations;
    }
    EXPECT_EQ(registrations, 2u);
    // Still observing: the next change arrives too.
    b.change('d');
    b.net.drive(b.net.now() + Duration::seconds(2));
    EXPECT_EQ(text(events.back()), std::string(150, 'd'));
    EXPECT_EQ(events.back().id, id);
    EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u);
}

// The same while the registration's own body is fetched: the first response delivered
// is the state after the change, whole, and the observation stands.
TEST(Observe, StateChangingDuringTheRegistrationsBlockwiseFetch) {
    BigBench b(23, true);
    coap::Request r;
    r.path("big");
    r.observe = true;
    const coap::SendResult s = b.client.endpoint->send_request(b.net.now(), b.server.address, std::move(r));
    ASSERT_TRUE(s.ok());
    b.net.flush_all();
    // 50 ms links: the first block is back at 100 ms, the GET for the second reaches the
    // server at 150 ms; the change at 120 ms is between the two.
    b.net.drive(b.net.now() + Duration::milliseconds(120));
    ASSERT_TRUE(b.client.events.empty());
    b.change('b');
    b.net.drive(b.net.now() + Duration::seconds(2));
    auto& events = b.client.events;
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, EventKind::Response);
    EXPECT_EQ(text(events[0]), std::string(150, 'b'));
    b.change('c');
    b.net.drive(b.net.now() + Duration::seconds(2));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].kind, EventKind::Notification);
    EXPECT_EQ(events[1].id, s.id);
    EXPECT_EQ(text(events[1]), std::string(150, 'c'));
}

// RFC 7959 §2.6: a registration may carry Block2 0 with the block size the client wants;
// the server registers it and sends that size (at most) in the notifications too.
TEST(Observe, RegistrationWithBlock2SetsTheNotificationsBlockSize) {
    TestNetwork net(24);
    auto& server = net.add({}, 0x0a000002);  // 1024-byte blocks of its own
    char state = 'a';
    coap::ResourceConfig big;
    big.observable = true;
    big.handler = [&state](const coap::IncomingRequest&) {
        return coap::Response::with(coap::codes::kContent, std::string(150, state));
    };
    ASSERT_EQ(server.endpoint->add_resource("big", std::move(big)), coap::ApiError::Ok);
    auto& client = net.add({}, 0x0a000001);
    coap::Request r;
    r.path("big");
    r.observe = true;
    r.block2_szx = 1;  // 32-byte blocks
    const coap::SendResult s = client.endpoint->send_request(net.now(), server.address, std::move(r));
    ASSERT_TRUE(s.ok());
    net.flush_all();
    net.drive(net.now() + Duration::seconds(1));
    ASSERT_EQ(client.events.size(), 1u);
    EXPECT_EQ(client.events[0].kind, EventKind::Response);
    EXPECT_EQ(text(client.events[0]), std::string(150, 'a'));
    EXPECT_EQ(server.endpoint->observer_count("big"), 1u);
    const std::size_t before = net.log().size();
    state = 'b';
    server.endpoint->notify(net.now(), "big");
    net.flush_all();
    net.drive(net.now() + Duration::seconds(1));
    ASSERT_EQ(client.events.size(), 2u);
    EXPECT_EQ(client.events[1].kind, EventKind::Notification);
    EXPECT_EQ(text(client.events[1]), std::string(150, 'b'));
    std::size_t largest = 0;
    for (std::size_t i = before; i < net.log().size(); ++i) {
        coap::MessageView v;
        const auto& c = net.log()[i];
        if (c.from == server.address && coap::parse(coap::Bytes(c.bytes.data(), c.bytes.size()), v).ok()) {
            largest = std::max(largest, v.payload().size());
        }
    }
    EXPECT_EQ(largest, 32u);  // five blocks of at most 32 bytes, the notification's first among them
}

// The same on a lossy link that duplicates and reorders, with CON notifications: over
// twenty seeds and twenty changes each, every body the client delivers is one state whole
// (never blocks of two), and while the observation stands the last one delivered is the
// current state.
TEST(Observe, BlockwiseNotificationsUnderLossAreWholeAndEventuallyCurrent) {
    int standing = 0;  // seeds whose observation stands at the end, with notifications delivered
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        coap::EndpointConfig sc = BigBench::small_blocks();
        sc.confirmable_notifications = true;
        BigBench b(seed, true, sc);
        b.net.link.loss = 0.2;
        b.net.link.duplicate = 0.1;
        b.net.link.jitter = Duration::milliseconds(80);
        const std::uint64_t id = b.observe();
        b.net.drive(b.net.now() + Duration::seconds(120));
        coap::Xoshiro256 when(seed);
        for (int k = 0; k < 20; ++k) {
            b.change(static_cast<char>('b' + k));
            b.net.drive(b.net.now() + Duration::milliseconds(static_cast<std::int64_t>(when.below(3000))));
        }
        b.net.drive(b.net.now() + Duration::seconds(300));
        bool ended = false;
        for (const coap::Event& e : b.client.events) {
            ASSERT_EQ(e.id, id);
            if (e.kind != EventKind::Response && e.kind != EventKind::Notification) {
                ended = true;
                continue;
            }
            const std::string t = text(e);
            ASSERT_EQ(t.size(), 150u) << "seed " << seed;
            EXPECT_EQ(t, std::string(150, t[0])) << "seed " << seed;
        }
        if (!ended && b.server.endpoint->observer_count("big") == 1) {
            ASSERT_FALSE(b.client.events.empty());
            EXPECT_EQ(text(b.client.events.back()), b.body()) << "seed " << seed;
            if (b.client.events.size() >= 3) ++standing;
        }
    }
    // The registration's own block GETs may exhaust MAX_RETRANSMIT (that request fails, as
    // any would), and an unacknowledged CON notification makes the server drop the
    // observer (RFC 7641 §4.5), but most observations must live through all of it with
    // notifications delivered.
    EXPECT_GE(standing, 15);
}

// Some clients (node-coap 1.5) repeat Observe 0 in the GETs for a notification's later
// blocks and read the freshness of the whole body from its last block. An observer that
// does gets the sequence number in those blocks too, as a re-registration would (RFC 7641
// §4.1); a GET with Observe 0 for a later block from no observer is no registration and
// gets none.
TEST(Observe, LaterBlocksAskedWithObserveZeroByAnObserverCarryTheSequenceNumber) {
    BigBench b(25, false);
    const coap::Peer node = coap::Peer::ipv4(0x0a000009, 40000);
    auto get = [&](std::uint16_t mid, std::vector<std::uint8_t> token, std::uint32_t block) {
        coap::Message m;
        m.type = coap::MessageType::Con;
        m.code = coap::codes::kGet;
        m.message_id = mid;
        m.token = std::move(token);
        m.options = {{coap::options::kObserve, {}}, {coap::options::kUriPath, {'b', 'i', 'g'}}};
        if (block > 0) m.options.push_back({coap::options::kBlock2, coap::encode_uint(coap::encode_block({block, false, 2}))});
        const std::vector<std::uint8_t> wire = coap::encode(m);
        b.server.endpoint->handle_datagram(b.net.now(), node, coap::Bytes(wire.data(), wire.size()));
        std::optional<std::uint64_t> observe;
        while (auto t = b.server.endpoint->poll_transmit()) {
            coap::MessageView v;
            if (!coap::parse(coap::Bytes(t->bytes.data(), t->bytes.size()), v).ok()) continue;
            const std::size_t i = v.find(coap::options::kObserve);
            if (i < v.option_count()) observe = coap::decode_uint(v.option(i).value);
        }
        return observe;
    };
    const auto registered = get(1, {1, 2, 3, 4}, 0);  // registers; the first block carries Observe
    ASSERT_TRUE(registered.has_value());
    EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u);
    b.change('b');  // a notification (block 0) goes out; the observer asks for the rest
    EXPECT_GT(get(2, {1, 2, 3, 4}, 1), registered);
    EXPECT_GT(get(3, {1, 2, 3, 4}, 2), registered);
    EXPECT_FALSE(get(4, {9, 9, 9, 9}, 1).has_value());  // not an observer: a plain block
    EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u);
}

// A block GET of a notification's fetch that gets no answer (MAX_RETRANSMIT exhausted)
// does not end a standing observation: the server still holds the registration, and
// ending it would answer its next notification with RST (RFC 7641 §3.6). The partial
// body is dropped and the client registers again (§3.3.1) for the state it missed; if
// that is lost too, the next notification is fetched whole.
TEST(Observe, AnUnansweredBlockFetchKeepsTheObservation) {
    for (const bool con : {true, false}) {
        // A CON message is sent five times (MAX_RETRANSMIT 4), a NON once (then the
        // response deadline passes). Lost: the block GET; then the re-registration too.
        const int tries = con ? 5 : 1;
        for (const int lost : {tries, 2 * tries}) {
            BigBench b(27, false);
            coap::Request r;
            r.path("big");
            r.observe = true;
            r.confirmable = con;
            const coap::SendResult id = b.client.endpoint->send_request(b.net.now(), b.server.address, std::move(r));
            ASSERT_TRUE(id.ok());
            b.net.flush_all();
            b.net.drive(b.net.now() + Duration::seconds(1));
            int dropped = 0;
            b.net.drop = [&](const coapbed::test::Captured& c) {
                return c.from == b.client.address && dropped < lost && ++dropped > 0;
            };
            b.change('b');  // its first block arrives; the GETs for the rest are lost
            b.net.drive(b.net.now() + Duration::seconds(400));
            ASSERT_EQ(dropped, lost);
            EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u) << lost;
            EXPECT_EQ(b.client.endpoint->stats().observe_fetches_abandoned, static_cast<std::uint64_t>(lost / tries));
            b.change('c');
            b.net.drive(b.net.now() + Duration::seconds(5));
            std::string delivered;
            for (const coap::Event& e : b.client.events) {
                ASSERT_EQ(e.id, id.id);
                ASSERT_TRUE(e.kind == EventKind::Response || e.kind == EventKind::Notification) << con << " " << lost;
                ASSERT_EQ(text(e).size(), 150u);
                delivered += text(e)[0];
            }
            // With the block GET lost, the re-registration brings 'b'; with it lost too, 'b' is
            // never seen and 'c' comes with the next notification.
            EXPECT_EQ(delivered, lost == tries ? "abc" : "ac") << con;
            EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u) << con << " " << lost;
            EXPECT_EQ(b.client.endpoint->stats().rst_sent, 0u);
        }
    }
}

// RFC 7959 §2.6: without ETags nothing ties a notification's blocks to one state. When a
// fresher notification crosses the fetch, the blocks asked for after the change belong to
// the new state: the body is not delivered (it would mix two states) and the client
// registers again for the current one. With ETags the change shows as a mismatch and an
// unchanged body is delivered (StateChangingDuringABlockwiseNotificationIsFetchedAgain).
TEST(Observe, ABodyThatMayMixTwoStatesIsNotDelivered) {
    BigBench b(29, false);
    const std::uint64_t id = b.observe();
    int dropped = 0;
    b.net.drop = [&](const coapbed::test::Captured& c) { return c.from == b.client.address && dropped < 1 && ++dropped > 0; };
    b.change('b');  // the GET for its second block is lost once
    b.net.drive(b.net.now() + Duration::milliseconds(500));
    b.change('c');  // before that GET's retransmission: its blocks come from 'c'
    b.net.drive(b.net.now() + Duration::seconds(30));
    ASSERT_EQ(dropped, 1);
    std::string delivered;
    for (const coap::Event& e : b.client.events) {
        ASSERT_EQ(e.id, id);
        EXPECT_EQ(text(e), std::string(150, text(e)[0]));  // one state, whole
        delivered += text(e)[0];
    }
    EXPECT_EQ(delivered, "ac");
    EXPECT_EQ(b.client.endpoint->stats().observe_bodies_discarded, 1u);
    EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u);
}

// A fresher notification arrives while the block GET of an earlier one's fetch has been
// lost twice (sent and retransmitted once): its next try is seconds away, while the
// notification shows the path works. The stalled fetch is dropped and the newer state
// fetched at once; the older one is never delivered.
TEST(Observe, AFresherNotificationReplacesAStalledFetch) {
    BigBench b(28, true);
    const std::uint64_t id = b.observe();
    int dropped = 0;
    b.net.drop = [&](const coapbed::test::Captured& c) { return c.from == b.client.address && dropped < 2 && ++dropped > 0; };
    b.change('b');
    b.net.drive(b.net.now() + Duration::seconds(4));  // the GET went twice, both lost
    ASSERT_EQ(dropped, 2);
    b.change('c');
    b.net.drive(b.net.now() + Duration::seconds(1));
    std::string delivered;
    for (const coap::Event& e : b.client.events) {
        ASSERT_EQ(e.id, id);
        EXPECT_EQ(text(e), std::string(150, text(e)[0]));
        delivered += text(e)[0];
    }
    EXPECT_EQ(delivered, "ac");  // before: "a" (the 'b' fetch waited for its GET's next try)
    EXPECT_EQ(b.client.endpoint->stats().observe_fetches_abandoned, 1u);
    EXPECT_EQ(b.server.endpoint->observer_count("big"), 1u);
}
