// The engine's layers on their own: the pooled tables (common/tables.h), the
// de-duplication table, the message layer with a scripted upper layer (RFC 7252 §4),
// the block-wise server's tables and the defences. The end-to-end behaviour of the
// composed Endpoint is in endpoint_test.cc and the others.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "coap/codec/builder.h"
#include "coap/codec/message.h"
#include "coap/common/random.h"
#include "coap/common/tables.h"
#include "coap/defence/guard.h"
#include "coap/messaging/dedup.h"
#include "coap/messaging/message_layer.h"
#include "coap/options/registry.h"
#include "coap/server/blockwise.h"

using coap::Duration;
using coap::MessageType;
using coap::Peer;
using coap::TimePoint;

namespace {

struct IntHash {
    std::uint64_t operator()(std::uint32_t k) const noexcept { return k % 7; }  // collisions on purpose
};

Peer peer(std::uint32_t n) { return Peer::ipv4(0x0a000000 + n, 5683); }

}  // namespace

// ---- tables ---------------------------------------------------------------------------

TEST(Tables, FlatMapAgreesWithStdMapUnderRandomOperations) {
    // A hash that collides constantly exercises probing and backward-shift deletion.
    coap::FlatMap<std::uint32_t, std::uint32_t, IntHash> flat;
    std::map<std::uint32_t, std::uint32_t> ref;
    coap::Xoshiro256 rng(7);
    for (int step = 0; step < 20000; ++step) {
        const auto key = static_cast<std::uint32_t>(rng.below(200));
        switch (rng.below(3)) {
            case 0: {
                const auto v = static_cast<std::uint32_t>(rng.below(1000));
                flat.put(key, v);
                ref[key] = v;
                break;
            }
            case 1: EXPECT_EQ(flat.erase(key), ref.erase(key) == 1) << step; break;
            default: {
                const std::uint32_t* v = flat.find(key);
                const auto it = ref.find(key);
                ASSERT_EQ(v != nullptr, it != ref.end()) << step;
                if (v != nullptr) {
                    EXPECT_EQ(*v, it->second);
                }
            }
        }
        ASSERT_EQ(flat.size(), ref.size());
    }
    std::size_t seen = 0;
    flat.for_each([&](const std::uint32_t& k, const std::uint32_t& v) {
        ++seen;
        EXPECT_EQ(ref.at(k), v);
    });
    EXPECT_EQ(seen, ref.size());
}

TEST(Tables, RingQueueKeepsOrderAcrossGrowthAndErase) {
    coap::RingQueue<int> q;
    for (int i = 0; i < 3; ++i) q.push_back(i);
    q.pop_front();
    for (int i = 3; i < 20; ++i) q.push_back(i);  // wraps, then grows
    q.erase_at(2);                               // removes 3
    std::vector<int> out;
    while (!q.empty()) {
        out.push_back(q.front());
        q.pop_front();
    }
    std::vector<int> want{1, 2};
    for (int i = 4; i < 20; ++i) want.push_back(i);
    EXPECT_EQ(out, want);
}

TEST(Tables, SlotPoolReusesReleasedSlotsAndKeepsAddresses) {
    coap::SlotPool<std::vector<int>> pool;
    const std::uint32_t a = pool.acquire();
    pool[a].assign(100, 1);
    const int* data = pool[a].data();
    std::vector<std::uint32_t> more;
    for (int i = 0; i < 100; ++i) more.push_back(pool.acquire());
    EXPECT_EQ(pool[a].data(), data);  // growth does not move slots
    pool.release(a);
    EXPECT_EQ(pool.acquire(), a);
    EXPECT_GE(pool[a].capacity(), 100u);  // a released slot keeps its buffer
    EXPECT_EQ(pool.live(), 101u);
}

TEST(Tables, PeerHashSpreadsNeighbouringAddressesAndPorts) {
    std::map<std::uint64_t, int> buckets;
    for (std::uint32_t i = 0; i < 4096; ++i) ++buckets[coap::hash_peer(peer(i)) & 1023];
    for (std::uint16_t port = 0; port < 4096; ++port) ++buckets[coap::hash_peer(Peer::ipv4(0x0a000001, port)) & 1023];
    int worst = 0;
    for (const auto& [b, n] : buckets) worst = std::max(worst, n);
    EXPECT_EQ(buckets.size(), 1024u);
    EXPECT_LT(worst, 24);  // 8 expected per bucket
}

// ---- de-duplication (RFC 7252 §4.5) -------------------------------------------------------

TEST(Dedup, BoundedOldestEvictedAndExpiredRemoved) {
    coap::DedupCache d(4);
    TimePoint t;
    for (std::uint16_t mid = 0; mid < 10; ++mid) {
        d.insert(t, peer(1), mid, Duration::seconds(100)).reply.assign(3, static_cast<std::uint8_t>(mid));
        EXPECT_LE(d.size(), 4u);
    }
    EXPECT_EQ(d.evictions(), 6u);
    EXPECT_EQ(d.find(t, peer(1), 5), nullptr);  // evicted, oldest first
    ASSERT_NE(d.find(t, peer(1), 6), nullptr);
    EXPECT_EQ(d.find(t, peer(1), 9)->reply, std::vector<std::uint8_t>(3, 9));
    EXPECT_EQ(d.find(t, peer(2), 9), nullptr);  // another peer, another key
    EXPECT_EQ(d.find(t + Duration::seconds(100), peer(1), 9), nullptr);  // expired
    d.expire(t + Duration::seconds(100));
    EXPECT_EQ(d.size(), 0u);
}

TEST(Dedup, ReinsertedKeysDoNotGrowTheOrderRecordsWithoutBound) {
    coap::DedupCache d(8);
    TimePoint t;
    // The same few keys expire and come back: dead order records must be compacted.
    for (int round = 0; round < 10000; ++round) {
        const auto mid = static_cast<std::uint16_t>(round % 3);
        (void)d.find(t, peer(1), mid);
        d.insert(t, peer(1), mid, Duration::milliseconds(1));
        t += Duration::microseconds(400);
    }
    EXPECT_LE(d.size(), 8u);
    EXPECT_EQ(d.evictions(), 0u);
}

// ---- the message layer (RFC 7252 §4) -------------------------------------------------------

namespace {

// An upper layer that records what the message layer reports.
struct Recorder : coap::MessageLayer::Upper {
    std::vector<std::string> log;
    std::vector<std::uint64_t> admitted;
    coap::MessageLayer* layer = nullptr;
    void on_request(TimePoint, const Peer&, const coap::MessageView& m, bool) override {
        log.push_back("request " + std::to_string(m.message_id()));
    }
    void on_response(TimePoint, const Peer&, const coap::MessageView& m) override {
        log.push_back("response " + std::to_string(m.message_id()));
    }
    void on_acked(TimePoint, const Peer&, const coap::Owner& o, const coap::MessageView&, Duration rtt) override {
        log.push_back("acked " + std::to_string(o.id) + " rtt " + std::to_string(rtt.ns() / 1000000) + "ms");
    }
    void on_reset(TimePoint, const Peer&, const coap::Owner& o, TimePoint) override {
        log.push_back("reset " + std::to_string(o.id));
    }
    bool on_stray_reset(TimePoint, const Peer&, std::uint16_t mid) override {
        log.push_back("stray " + std::to_string(mid));
        return false;
    }
    bool may_retransmit(TimePoint, const Peer&, const coap::Owner&, std::size_t) override { return allow_retransmit; }
    void on_retransmitted(const coap::Owner& o) override { log.push_back("retransmitted " + std::to_string(o.id)); }
    bool allow_retransmit = true;
    void on_gave_up(TimePoint, const Peer&, const coap::Owner& o, unsigned n, TimePoint) override {
        log.push_back("gave up " + std::to_string(o.id) + " after " + std::to_string(n));
    }
    void on_admitted(TimePoint now, std::uint64_t id) override {
        admitted.push_back(id);
        layer->take_slot(now, Peer::ipv4(0x0a000002, 5683));
    }
};

struct Layer {
    coap::EndpointConfig config;
    coap::Xoshiro256 rng{1};
    coap::EndpointStats stats;
    Recorder up;
    std::unique_ptr<coap::MessageLayer> ml;
    explicit Layer(coap::EndpointConfig c = {}) : config(std::move(c)) {
        config.params.ack_random_factor = 1.0;  // exact timeouts
        ml = std::make_unique<coap::MessageLayer>(config, rng, stats, up);
        up.layer = ml.get();
    }
    std::vector<std::uint8_t> con(std::uint16_t mid) {
        coap::Message m;
        m.code = coap::codes::kGet;
        m.message_id = mid;
        return coap::encode(m);
    }
    std::vector<std::vector<std::uint8_t>> drain() {
        std::vector<std::vector<std::uint8_t>> out;
        while (auto t = ml->poll_transmit()) out.push_back(std::move(t->bytes));
        return out;
    }
};

std::vector<std::uint8_t> empty(MessageType type, std::uint16_t mid) {
    std::vector<std::uint8_t> b;
    coap::MessageLayer::empty_message(b, type, mid);
    return b;
}

}  // namespace

TEST(MessageLayer, RetransmitsOnTheDoublingScheduleThenGivesUp) {
    Layer l;
    const Peer p = peer(2);
    TimePoint t;
    l.ml->send_con(t, p, 7, l.con(7), coap::Owner{coap::OwnerKind::ClientRequest, 42, {}});
    EXPECT_EQ(l.drain().size(), 1u);
    // RFC 7252 §4.2: 2, 4, 8, 16 s after each transmission, then 32 s to give up.
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(l.ml->next_deadline().has_value());
        EXPECT_EQ(*l.ml->next_deadline() - t, Duration::seconds(2 << i)) << i;
        t = *l.ml->next_deadline();
        l.ml->handle_timeout(t);
        EXPECT_EQ(l.drain().size(), i < 4 ? 1u : 0u);
    }
    EXPECT_EQ(l.up.log.back(), "gave up 42 after 4");
    EXPECT_EQ(l.stats.retransmissions, 4u);
    EXPECT_EQ(l.ml->outstanding_count(), 0u);
    EXPECT_FALSE(l.ml->next_deadline().has_value());
}

TEST(MessageLayer, ARetransmissionTheUpperLayerHoldsBackIsSkippedAndTheScheduleGoesOn) {
    Layer l;
    l.up.allow_retransmit = false;  // e.g. over an unverified address's allowance
    TimePoint t;
    l.ml->send_con(t, peer(2), 7, l.con(7), coap::Owner{coap::OwnerKind::SeparateResponse, 9, {}});
    EXPECT_EQ(l.drain().size(), 1u);
    for (int i = 0; i < 5; ++i) {
        t = *l.ml->next_deadline();
        l.ml->handle_timeout(t);
        EXPECT_TRUE(l.drain().empty());
    }
    EXPECT_EQ(l.stats.retransmissions, 0u);
    EXPECT_EQ(l.up.log.back(), "gave up 9 after 4");  // still ends after MAX_RETRANSMIT
}

TEST(MessageLayer, AckAndRstMatchByPeerAndMessageId) {
    Layer l;
    TimePoint t;
    l.ml->send_con(t, peer(2), 7, l.con(7), coap::Owner{coap::OwnerKind::ClientRequest, 1, {}});
    l.ml->send_con(t, peer(3), 7, l.con(7), coap::Owner{coap::OwnerKind::ClientRequest, 2, {}});
    const auto ack = empty(MessageType::Ack, 7);
    const auto rst = empty(MessageType::Rst, 7);
    l.ml->handle_datagram(t + Duration::milliseconds(300), peer(3), coap::Bytes(ack.data(), ack.size()), false);
    l.ml->handle_datagram(t + Duration::milliseconds(400), peer(3), coap::Bytes(ack.data(), ack.size()), false);  // duplicate
    l.ml->handle_datagram(t + Duration::milliseconds(500), peer(2), coap::Bytes(rst.data(), rst.size()), false);
    l.ml->handle_datagram(t + Duration::milliseconds(600), peer(4), coap::Bytes(rst.data(), rst.size()), false);  // stray
    EXPECT_EQ(l.up.log, (std::vector<std::string>{"acked 2 rtt 300ms", "reset 1", "stray 7"}));
    EXPECT_EQ(l.stats.dropped_unexpected, 2u);  // the duplicate ACK and the stray RST
    EXPECT_EQ(l.stats.rtt_samples, 1u);
}

TEST(MessageLayer, APiggybackedResponseWithAnotherTokenAcknowledgesNothing) {
    // RFC 7252 §5.3.2: a piggybacked response matches its request by Message ID and by
    // token. One with the right MID and another token (a forger who guessed the MID) is
    // no answer: the CON stays outstanding and is retransmitted, and the real
    // piggybacked response still completes it. An empty ACK matches by MID alone (§4.2).
    Layer l;
    TimePoint t;
    coap::Message request;
    request.code = coap::codes::kGet;
    request.message_id = 7;
    request.token = {1, 2, 3, 4};
    l.ml->send_con(t, peer(2), 7, coap::encode(request), coap::Owner{coap::OwnerKind::ClientRequest, 1, {}});
    EXPECT_EQ(l.drain().size(), 1u);
    coap::Message forged;
    forged.type = MessageType::Ack;
    forged.code = coap::codes::kContent;
    forged.message_id = 7;
    forged.token = {9, 9, 9, 9};
    const auto f = coap::encode(forged);
    l.ml->handle_datagram(t + Duration::milliseconds(100), peer(2), coap::Bytes(f.data(), f.size()), false);
    EXPECT_TRUE(l.up.log.empty());
    EXPECT_EQ(l.stats.dropped_unexpected, 1u);
    EXPECT_EQ(l.ml->outstanding_count(), 1u);
    l.ml->handle_timeout(*l.ml->next_deadline());
    EXPECT_EQ(l.drain().size(), 1u) << "retransmitted as if the forgery had not come";
    coap::Message real = forged;
    real.token = request.token;
    const auto r = coap::encode(real);
    l.ml->handle_datagram(t + Duration::seconds(3), peer(2), coap::Bytes(r.data(), r.size()), false);
    EXPECT_EQ(l.up.log, (std::vector<std::string>{"retransmitted 1", "acked 1 rtt 3000ms"}));
    // An empty ACK needs no token.
    l.ml->send_con(t, peer(2), 8, coap::encode(request), coap::Owner{coap::OwnerKind::ClientRequest, 2, {}});
    const auto ack = empty(MessageType::Ack, 8);
    l.ml->handle_datagram(t + Duration::seconds(4), peer(2), coap::Bytes(ack.data(), ack.size()), false);
    EXPECT_EQ(l.up.log.back(), "acked 2 rtt 4000ms");
}

TEST(MessageLayer, FormatErrorsPingsAndReservedClasses) {
    Layer l;
    TimePoint t;
    const std::vector<std::uint8_t> bad_con{0x40, 0x01, 0x12, 0x34, 0xf0};  // option nibble 15
    const std::vector<std::uint8_t> bad_non{0x50, 0x01, 0x12, 0x35, 0xf0};
    const auto ping = empty(MessageType::Con, 0x99);
    l.ml->handle_datagram(t, peer(2), coap::Bytes(bad_con.data(), bad_con.size()), false);
    l.ml->handle_datagram(t, peer(2), coap::Bytes(bad_non.data(), bad_non.size()), false);
    l.ml->handle_datagram(t, peer(2), coap::Bytes(ping.data(), ping.size()), false);
    l.ml->handle_datagram(t, peer(2), coap::Bytes(bad_con.data(), bad_con.size()), true);  // through a group: silence
    const auto out = l.drain();
    ASSERT_EQ(out.size(), 2u);  // §4.2 RST for the CON, §4.3 RST for the ping
    EXPECT_EQ(out[0], empty(MessageType::Rst, 0x1234));
    EXPECT_EQ(out[1], empty(MessageType::Rst, 0x99));
    EXPECT_EQ(l.stats.format_errors, 3u);
    EXPECT_TRUE(l.up.log.empty());
}

TEST(MessageLayer, NstartAdmitsOneAtATimeAndTheQueueIsBounded) {
    coap::EndpointConfig c;
    c.max_queue_per_peer = 3;
    Layer l(c);
    const Peer p = Peer::ipv4(0x0a000002, 5683);
    TimePoint t;
    for (std::uint64_t id = 1; id <= 3; ++id) {
        ASSERT_TRUE(l.ml->queue_has_room(t, p));
        l.ml->enqueue(p, id);
    }
    EXPECT_FALSE(l.ml->queue_has_room(t, p));
    l.ml->pump(t, p);
    EXPECT_EQ(l.up.admitted, (std::vector<std::uint64_t>{1}));  // NSTART = 1 (§4.7)
    l.ml->dequeue(p, 2);                                         // cancelled before it started
    l.ml->release_slot(t, p, true);
    EXPECT_EQ(l.up.admitted, (std::vector<std::uint64_t>{1, 3}));
}

TEST(MessageLayer, AdmitsNowExactlyWhenPumpWouldStartAQueuedInteractionAtOnce) {
    Layer l;
    const Peer p = Peer::ipv4(0x0a000002, 5683);
    TimePoint t;
    EXPECT_FALSE(l.ml->admits_now(t, p));  // no state for the peer yet: it queues (and pump makes none)
    ASSERT_TRUE(l.ml->queue_has_room(t, p));
    EXPECT_TRUE(l.ml->admits_now(t, p));   // nothing queued, a free slot
    l.ml->take_slot(t, p);
    EXPECT_FALSE(l.ml->admits_now(t, p));  // NSTART = 1 in use (§4.7)
    l.ml->enqueue(p, 7);
    l.ml->release_slot(t, p, false);
    EXPECT_FALSE(l.ml->admits_now(t, p));  // one queued before it
    l.ml->pump(t, p);
    EXPECT_EQ(l.up.admitted, (std::vector<std::uint64_t>{7}));
    l.ml->release_slot(t, p, false);
    EXPECT_TRUE(l.ml->admits_now(t, p));
    // A CON that times out makes the peer unresponsive: PROBING_RATE paces the next one.
    l.ml->send_con(t, p, 1, l.con(1), coap::Owner{coap::OwnerKind::Ping, 1, {}});
    for (int k = 0; k < 10; ++k) {
        t = t + Duration::seconds(100);
        l.ml->handle_timeout(t);
    }
    ASSERT_NE(std::find(l.up.log.begin(), l.up.log.end(), "gave up 1 after 4"), l.up.log.end());
    l.ml->pace(t, p, 1000);  // 1000 bytes at PROBING_RATE 1 byte/s: the next in 1000 s
    EXPECT_FALSE(l.ml->admits_now(t, p));
    EXPECT_TRUE(l.ml->admits_now(t + Duration::seconds(1000), p));
}

TEST(MessageLayer, TablesStayWithinTheirBounds) {
    coap::EndpointConfig c;
    c.max_peers = 4;
    c.max_outstanding = 8;
    c.max_transmits = 16;
    Layer l(c);
    TimePoint t;
    for (std::uint16_t i = 0; i < 100; ++i) {
        l.ml->send_con(t, peer(i % 10), i, l.con(i), coap::Owner{coap::OwnerKind::Ping, i, {}});
        EXPECT_LE(l.ml->peer_count(), 4u);
        EXPECT_LE(l.ml->outstanding_count(), 8u);
        EXPECT_LE(l.ml->queued_transmits(), 16u);
    }
    EXPECT_EQ(l.stats.transmits_dropped, 100u - 16u);
    // Past the outstanding table's bound a CON is sent once, untracked: nothing leaks.
    EXPECT_EQ(l.ml->outstanding_count(), 8u);
}

TEST(MessageLayer, RecyclingPollHandsBuffersBack) {
    Layer l;
    coap::Transmit kept;
    l.ml->send_rst(peer(2), 1);
    ASSERT_TRUE(l.ml->poll_transmit(kept));
    const std::uint8_t* first = kept.bytes.data();
    l.ml->send_rst(peer(2), 2);  // built in a new buffer: the driver still holds the first
    ASSERT_TRUE(l.ml->poll_transmit(kept));
    l.ml->send_rst(peer(2), 3);  // the first came back with the second poll: reused now
    ASSERT_TRUE(l.ml->poll_transmit(kept));
    EXPECT_EQ(kept.bytes.data(), first);
    EXPECT_EQ(kept.bytes, empty(MessageType::Rst, 3));
    EXPECT_FALSE(l.ml->poll_transmit(kept));
}

// ---- the block-wise server's tables (RFC 7959) ----------------------------------------------

TEST(BlockwiseServer, UploadsAreBoundedAndTheSoonestToExpireMakesRoom) {
    coap::EndpointConfig c;
    c.max_block1_transfers = 2;
    coap::BlockwiseServer b(c);
    std::vector<std::uint8_t> body;
    const std::vector<std::uint8_t> block(16, 0xab);
    const coap::Bytes data(block.data(), block.size());
    TimePoint t;
    using U = coap::BlockwiseServer::Upload;
    EXPECT_EQ(b.add_block(t, peer(1), "a|", coap::Block{0, true, 0}, data, body), U::More);
    EXPECT_EQ(b.add_block(t + Duration::seconds(1), peer(2), "a|", coap::Block{0, true, 0}, data, body), U::More);
    EXPECT_EQ(b.add_block(t + Duration::seconds(2), peer(3), "a|", coap::Block{0, true, 0}, data, body), U::More);
    EXPECT_EQ(b.uploads(), 2u);
    // peer 1's upload was the one closest to expiry: gone, so its next block does not line up.
    EXPECT_EQ(b.add_block(t + Duration::seconds(3), peer(1), "a|", coap::Block{1, false, 0}, data, body), U::Incomplete);
    EXPECT_EQ(b.add_block(t + Duration::seconds(3), peer(2), "a|", coap::Block{1, false, 0}, data, body), U::Complete);
    EXPECT_EQ(body.size(), 32u);
    b.expire(t + Duration::seconds(2) + c.params.exchange_lifetime());
    EXPECT_EQ(b.uploads(), 0u);
}

TEST(BlockwiseServer, OneAddressCannotEvictTheUploadsOfOthers) {
    // ~650 upload starts from other ports of one address must not push out a legitimate
    // client's upload: that address holds at most a quarter of the table.
    coap::EndpointConfig c;  // 16 uploads
    coap::BlockwiseServer b(c);
    std::vector<std::uint8_t> body;
    const std::vector<std::uint8_t> block(1024, 0x11);
    const coap::Bytes data(block.data(), block.size());
    using U = coap::BlockwiseServer::Upload;
    TimePoint t;
    const Peer legit = Peer::ipv4(0x0a000001, 40000);
    ASSERT_EQ(b.add_block(t, legit, "sink|", coap::Block{0, true, 6}, data, body), U::More);
    for (std::uint16_t port = 1; port <= 650; ++port) {
        t += Duration::microseconds(150);
        (void)b.add_block(t, Peer::ipv4(0x0a000066, port), "sink|", coap::Block{0, true, 6}, data, body);
        ASSERT_LE(b.uploads(), 16u);
    }
    EXPECT_EQ(b.uploads(), 1u + 4u);  // the legitimate upload and the flooder's share
    EXPECT_EQ(b.add_block(t, legit, "sink|", coap::Block{1, false, 6}, data, body), U::Complete);
    EXPECT_EQ(body.size(), 2048u);
    // Many addresses filling the table: the address holding the most makes room first.
    coap::BlockwiseServer full(c);
    for (std::uint32_t a = 0; a < 16; ++a) {
        (void)full.add_block(t, Peer::ipv4(0x0b000000 + a / 4, static_cast<std::uint16_t>(a)), "k|", coap::Block{0, true, 6}, data, body);
    }
    EXPECT_EQ(full.uploads(), 16u);
    (void)full.add_block(t, Peer::ipv4(0x0c000000, 1), "k|", coap::Block{0, true, 6}, data, body);
    EXPECT_EQ(full.uploads(), 16u);
}

// ---- defences (RFC 9175 §2.4) ---------------------------------------------------------------

TEST(DefenceGuard, UnverifiedAddressesGetThreeTimesWhatTheySentAndTheTableIsBounded) {
    coap::EndpointConfig c;
    c.max_peers = 8;
    c.defences.amplification_limit = 3;
    coap::EndpointStats stats;
    coap::DefenceGuard g(c, stats);
    coap::Message m;
    m.code = coap::codes::kGet;
    m.payload.assign(16, 0);
    const auto request = coap::encode(m);  // 21 bytes
    coap::MessageView v;
    ASSERT_TRUE(coap::parse(coap::Bytes(request.data(), request.size()), v).ok());
    TimePoint t;
    EXPECT_FALSE(g.may_send(t, peer(1), 1));  // nothing received from it yet
    ASSERT_TRUE(g.admit(t, peer(1), v));
    EXPECT_TRUE(g.may_send(t, peer(1), 60));
    EXPECT_FALSE(g.may_send(t, peer(1), 4));  // 60 + 4 > 3 x 21
    EXPECT_TRUE(g.may_send(t, peer(1), 3));
    for (std::uint32_t i = 0; i < 100; ++i) {
        ASSERT_TRUE(g.admit(t + Duration::milliseconds(i), peer(100 + i), v));
        EXPECT_LE(g.entries(), 8u);
    }
}
