// RFC 7959 block-wise transfers between two endpoints, with and without loss.
#include <gtest/gtest.h>

#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "test_network.h"

using coap::Duration;
using coap::EventKind;
using coapbed::test::TestNetwork;

namespace {

std::vector<std::uint8_t> random_body(std::size_t n, std::uint64_t seed) {
    coap::Xoshiro256 rng(seed);
    std::vector<std::uint8_t> v(n);
    rng.fill(v.data(), v.size());
    return v;
}

struct Pair {
    TestNetwork net;
    TestNetwork::Node& client;
    TestNetwork::Node& server;
    explicit Pair(std::uint64_t seed, coap::EndpointConfig cc = {}, coap::EndpointConfig sc = {})
        : net(seed), client(net.add(cc, 0x0a000001)), server(net.add(sc, 0x0a000002)) {}
    std::uint64_t send(coap::Request r) {
        const coap::SendResult s = client.endpoint->send_request(net.now(), server.address, std::move(r));
        EXPECT_TRUE(s.ok());
        net.flush_all();
        return s.id;
    }
};

coap::ResourceConfig blob(const std::vector<std::uint8_t>& body) {
    coap::ResourceConfig r;
    r.handler = [body](const coap::IncomingRequest&) {
        coap::Response resp;
        resp.payload = body;
        resp.content_format = 42;
        return resp;
    };
    return r;
}

// Block2 options the client sent, in order.
std::vector<coap::Block> client_block2(const TestNetwork& net, const coap::Peer& client) {
    std::vector<coap::Block> out;
    for (const auto& c : net.log()) {
        if (c.from != client || c.dropped) continue;
        const coap::MessageView v = coapbed::test::view_of(c);
        const std::size_t i = v.find(coap::options::kBlock2);
        if (i < v.option_count()) out.push_back(coap::decode_block(v.option(i).value).block);
    }
    return out;
}

}  // namespace

TEST(Blockwise, Block2Download64KiB) {
    Pair p(1);
    const auto body = random_body(64 * 1024, 7);
    ASSERT_EQ(p.server.endpoint->add_resource("big", blob(body)), coap::ApiError::Ok);
    p.send(coap::Request().path("big"));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    const coap::Event& e = p.client.events[0];
    ASSERT_EQ(e.kind, EventKind::Response);
    EXPECT_EQ(e.message.payload, body);
    // 64 blocks of 1024 bytes: the first request has no Block2, then NUM 1..63.
    const auto blocks = client_block2(p.net, p.client.address);
    ASSERT_EQ(blocks.size(), 63u);
    EXPECT_EQ(blocks.front().num, 1u);
    EXPECT_EQ(blocks.back().num, 63u);
    // Size2 on the first block (RFC 7959 §4).
    const coap::MessageView first = coapbed::test::view_of(p.net.log()[1]);
    const std::size_t s2 = first.find(coap::options::kSize2);
    ASSERT_LT(s2, first.option_count());
    EXPECT_EQ(coap::decode_uint(first.option(s2).value), 65536u);
    // Every datagram's buffer is sized for its own block, not for the 64 KiB body.
    for (const auto& c : p.net.log()) EXPECT_LE(c.capacity, 1024u + 128u);
}

TEST(Blockwise, Block2DownloadUnderLossDuplicationAndReordering) {
    Pair p(2);
    p.net.link.loss = 0.1;
    p.net.link.duplicate = 0.05;
    p.net.link.jitter = Duration::milliseconds(100);
    const auto body = random_body(64 * 1024, 8);
    ASSERT_EQ(p.server.endpoint->add_resource("big", blob(body)), coap::ApiError::Ok);
    p.send(coap::Request().path("big"));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    ASSERT_EQ(p.client.events[0].kind, EventKind::Response) << coap::to_string(p.client.events[0].reason);
    EXPECT_EQ(p.client.events[0].message.payload, body);
    EXPECT_GT(p.client.events[0].retransmissions, 0u);
}

TEST(Blockwise, EarlyNegotiationAndServerSmallerBlocks) {
    Pair p(3);
    const auto body = random_body(1000, 9);
    ASSERT_EQ(p.server.endpoint->add_resource("b", blob(body)), coap::ApiError::Ok);
    coap::Request r;
    r.path("b");
    r.block2_szx = 2;  // 64-byte blocks from the start (RFC 7959 §2.4)
    p.send(std::move(r));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].message.payload, body);
    const auto blocks = client_block2(p.net, p.client.address);
    ASSERT_EQ(blocks.size(), 16u);  // NUM 0..15 of 64 bytes
    for (const auto& b : blocks) EXPECT_EQ(b.szx, 2);

    coap::EndpointConfig sc;
    sc.block_szx = 4;  // the server serves at most 256 bytes per block
    Pair q(4, {}, sc);
    ASSERT_EQ(q.server.endpoint->add_resource("b", blob(body)), coap::ApiError::Ok);
    coap::Request big_blocks;
    big_blocks.path("b");
    big_blocks.block2_szx = 6;
    q.send(std::move(big_blocks));
    q.net.drive();
    ASSERT_EQ(q.client.events.size(), 1u);
    EXPECT_EQ(q.client.events[0].message.payload, body);
    const auto adapted = client_block2(q.net, q.client.address);
    ASSERT_EQ(adapted.size(), 4u);  // NUM 0 (asked at 1024), then 1..3 at 256
    EXPECT_EQ(adapted[0].szx, 6);
    EXPECT_EQ(adapted[1].szx, 4);
    EXPECT_EQ(adapted[3].num, 3u);
}

TEST(Blockwise, Block1UploadIsReassembled) {
    coap::EndpointConfig sc;
    sc.block_szx = 4;  // 256: the client must switch down after the first 2.31
    Pair p(5, {}, sc);
    std::vector<std::uint8_t> received;
    int calls = 0;
    coap::ResourceConfig sink;
    sink.methods = coap::methods::kPut | coap::methods::kPost;
    sink.handler = [&](const coap::IncomingRequest& in) {
        ++calls;
        received = in.payload;
        return coap::Response::with(coap::codes::kChanged);
    };
    ASSERT_EQ(p.server.endpoint->add_resource("sink", std::move(sink)), coap::ApiError::Ok);
    const auto body = random_body(5000, 10);
    coap::Request put;
    put.method = coap::codes::kPut;
    put.path("sink");
    put.payload = body;
    p.send(std::move(put));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].kind, EventKind::Response);
    EXPECT_EQ(p.client.events[0].message.code, coap::codes::kChanged);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(received, body);
    EXPECT_EQ(p.server.endpoint->block1_transfer_count(), 0u);
    // Every request's buffer is sized for its own block, not for the 5000-byte body.
    for (const auto& c : p.net.log()) EXPECT_LE(c.capacity, 1024u + 128u);
}

TEST(Blockwise, Block1UploadThenBlock2Response) {
    Pair p(6);
    p.net.link.loss = 0.05;
    coap::ResourceConfig echo;
    echo.methods = coap::methods::kPost;
    echo.handler = [](const coap::IncomingRequest& in) {
        coap::Response r;
        r.code = coap::codes::kChanged;
        r.payload.assign(in.payload.rbegin(), in.payload.rend());
        return r;
    };
    ASSERT_EQ(p.server.endpoint->add_resource("echo", std::move(echo)), coap::ApiError::Ok);
    const auto body = random_body(3000, 11);
    coap::Request post;
    post.method = coap::codes::kPost;
    post.path("echo");
    post.payload = body;
    p.send(std::move(post));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    ASSERT_EQ(p.client.events[0].kind, EventKind::Response);
    EXPECT_EQ(p.client.events[0].message.payload, std::vector<std::uint8_t>(body.rbegin(), body.rend()));
}

TEST(Blockwise, ServerRejectsOutOfOrderAndOversizedUploads) {
    coap::EndpointConfig sc;
    sc.max_body = 2048;
    sc.max_block1_transfers = 4;
    Pair p(7, {}, sc);
    coap::ResourceConfig sink;
    sink.methods = coap::methods::kPost;
    sink.handler = [](const coap::IncomingRequest&) { return coap::Response::with(coap::codes::kChanged); };
    ASSERT_EQ(p.server.endpoint->add_resource("s", std::move(sink)), coap::ApiError::Ok);
    // Block1 NUM 2 with nothing before it: 4.08 (RFC 7959 §2.9.2).
    std::vector<std::uint8_t> stray = {0x42, 0x02, 0x00, 0x01, 0xaa, 0xbb, 0xb1, 's', 0xd1, 0x03, 0x2a, 0xff};
    stray.insert(stray.end(), 64, 0x11);
    p.net.inject(p.client.address, p.server, stray);
    const coap::MessageView r408 = coapbed::test::view_of(p.net.log().back());
    EXPECT_EQ(r408.code(), coap::codes::kRequestEntityIncomplete);
    // 5000 bytes against a 2048-byte limit: 4.13 with Size1 (RFC 7959 §2.9.3).
    coap::Request post;
    post.method = coap::codes::kPost;
    post.path("s");
    post.payload = random_body(5000, 12);
    p.send(std::move(post));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].message.code, coap::codes::kRequestEntityTooLarge);
    bool has_size1 = false;
    for (const auto& o : p.client.events[0].message.options) {
        if (o.number == coap::options::kSize1) {
            has_size1 = true;
            EXPECT_EQ(coap::decode_uint(coap::Bytes(o.value.data(), o.value.size())), 2048u);
        }
    }
    EXPECT_TRUE(has_size1);
    // Many half-finished uploads: the reassembly table stays at its bound.
    for (std::uint32_t i = 0; i < 50; ++i) {
        std::vector<std::uint8_t> first = {0x42, 0x02, 0x00, static_cast<std::uint8_t>(i), 0xaa, 0xbb, 0xb1, 's',
                                           0xd1, 0x03, 0x0a, 0xff};  // Block1 NUM 0 M 1 SZX 2
        first.insert(first.end(), 64, 0x22);
        p.net.inject(coap::Peer::ipv4(0x0d000000 + i, 9), p.server, first);
        ASSERT_LE(p.server.endpoint->block1_transfer_count(), 4u);
    }
}

TEST(Blockwise, ClientBodyBoundAndEtagChange) {
    coap::EndpointConfig cc;
    cc.max_body = 10000;
    Pair p(8, cc);
    ASSERT_EQ(p.server.endpoint->add_resource("big", blob(random_body(64 * 1024, 13))), coap::ApiError::Ok);
    p.send(coap::Request().path("big"));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].kind, EventKind::RequestFailed);
    EXPECT_EQ(p.client.events[0].reason, coap::FailReason::BodyTooLarge);

    Pair q(9);
    int version = 0;
    coap::ResourceConfig changing;
    changing.handler = [&](const coap::IncomingRequest&) {
        coap::Response r;
        r.payload.assign(4000, static_cast<std::uint8_t>(version));
        r.options.push_back(coap::OwnedOption{coap::options::kETag, {static_cast<std::uint8_t>(version++)}});
        return r;
    };
    ASSERT_EQ(q.server.endpoint->add_resource("c", std::move(changing)), coap::ApiError::Ok);
    q.send(coap::Request().path("c"));
    q.net.drive();
    ASSERT_EQ(q.client.events.size(), 1u);
    EXPECT_EQ(q.client.events[0].reason, coap::FailReason::RepresentationChanged);
}

TEST(Blockwise, ABlockWithoutAnETagDoesNotMeanTheRepresentationChanged) {
    // RFC 7959 §2.4 compares the ETags that are present. libcoap 4.3.1 sometimes sends
    // the last block without one; only a different ETag is a change.
    Pair p(15);
    const auto body = random_body(2500, 15);  // three blocks of 1024
    int calls = 0;
    coap::ResourceConfig rc;
    rc.handler = [&](const coap::IncomingRequest&) {
        coap::Response r;
        r.payload = body;
        if (++calls != 3) r.options.push_back(coap::OwnedOption{coap::options::kETag, {0x5a}});
        return r;
    };
    ASSERT_EQ(p.server.endpoint->add_resource("e", std::move(rc)), coap::ApiError::Ok);
    p.send(coap::Request().path("e"));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].kind, EventKind::Response) << coap::to_string(p.client.events[0].reason);
    EXPECT_EQ(p.client.events[0].message.payload, body);
    EXPECT_EQ(calls, 3);
}

TEST(Blockwise, AHandlerMayAnswerWithJustTheBlockAskedFor) {
    // Response::body_size: the handler reads only IncomingRequest::block2's bytes of a
    // large body (a file), and the client still gets the whole body.
    coap::EndpointConfig sc;
    sc.block_szx = 4;  // 256-byte blocks; the client asks for 1024 and is served 256
    Pair p(16, {}, sc);
    const auto body = random_body(70000, 16);
    std::size_t calls = 0, largest = 0;
    coap::ResourceConfig rc;
    rc.handler = [&](const coap::IncomingRequest& in) {
        ++calls;
        coap::Response r;
        const std::size_t offset = static_cast<std::size_t>(in.block2.offset());
        const std::size_t n = std::min<std::size_t>(in.block2.size(), body.size() - std::min(offset, body.size()));
        r.payload.assign(body.begin() + static_cast<std::ptrdiff_t>(std::min(offset, body.size())),
                         body.begin() + static_cast<std::ptrdiff_t>(std::min(offset, body.size()) + n));
        largest = std::max(largest, r.payload.size());
        r.body_size = body.size();
        return r;
    };
    ASSERT_EQ(p.server.endpoint->add_resource("file", std::move(rc)), coap::ApiError::Ok);
    coap::Request get;
    get.path("file");
    get.block2_szx = 6;
    p.send(std::move(get));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].kind, EventKind::Response) << coap::to_string(p.client.events[0].reason);
    EXPECT_EQ(p.client.events[0].message.payload, body);
    EXPECT_EQ(largest, 256u);                   // never more than a block in memory
    EXPECT_EQ(calls, (body.size() + 255) / 256);  // one call per block
    // Past the end: 4.02 (RFC 7959 §2.4), as for a whole body.
    p.net.inject(p.client.address, p.server, {0x40, 0x01, 0x00, 0x09, 0xb4, 'f', 'i', 'l', 'e', 0xc3, 0x7f, 0xff, 0xf4});
    EXPECT_EQ(coapbed::test::view_of(p.net.log().back()).code(), coap::codes::kBadOption);
}

TEST(Blockwise, BlockBeyondTheEndIsBadOption) {
    Pair p(10);
    ASSERT_EQ(p.server.endpoint->add_resource("b", blob(random_body(100, 14))), coap::ApiError::Ok);
    // GET with Block2 NUM 5 SZX 0 (offset 80 is fine), then NUM 7 (offset 112 > 100).
    p.net.inject(p.client.address, p.server, {0x40, 0x01, 0x00, 0x01, 0xb1, 'b', 0xc1, 0x50});
    EXPECT_EQ(coapbed::test::view_of(p.net.log().back()).code(), coap::codes::kContent);
    p.net.inject(p.client.address, p.server, {0x40, 0x01, 0x00, 0x02, 0xb1, 'b', 0xc1, 0x70});
    EXPECT_EQ(coapbed::test::view_of(p.net.log().back()).code(), coap::codes::kBadOption);
}

TEST(Blockwise, PostResponseBodiesAreCachedWithinABound) {
    coap::EndpointConfig sc;
    sc.max_block1_transfers = 4;
    Pair p(11, {}, sc);
    int calls = 0;
    coap::ResourceConfig gen;
    gen.methods = coap::methods::kPost;
    gen.handler = [&](const coap::IncomingRequest&) {
        ++calls;
        coap::Response r;
        r.code = coap::codes::kChanged;
        r.payload.assign(5000, static_cast<std::uint8_t>(calls));
        return r;
    };
    ASSERT_EQ(p.server.endpoint->add_resource("gen", std::move(gen)), coap::ApiError::Ok);
    coap::Request post;
    post.method = coap::codes::kPost;
    post.path("gen");
    p.send(std::move(post));
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].message.payload, std::vector<std::uint8_t>(5000, 1));
    EXPECT_EQ(calls, 1);  // the four continuation blocks came from the cache
    for (std::uint32_t i = 0; i < 20; ++i) {
        p.net.inject(coap::Peer::ipv4(0x0e000000 + i, 7), p.server, {0x42, 0x02, 0x00, 0x01, 0xaa, 0xbb, 0xb3, 'g', 'e', 'n'});
        ASSERT_LE(p.server.endpoint->cached_response_count(), 4u);
    }
}

// Found by fuzz/endpoint: a piggybacked ACK carrying the wrong Block2 number used to
// leave the exchange with nothing outstanding and no deadline, forever.
TEST(Blockwise, StaleBlockInAnAckStillEndsTheExchange) {
    Pair p(12);
    p.net.drop = [&](const coapbed::test::Captured& c) { return c.to == p.server.address; };
    p.send(coap::Request().path("big"));
    const coap::MessageView req = coapbed::test::view_of(p.net.log().back());
    std::vector<std::uint8_t> ack = {static_cast<std::uint8_t>(0x60 | req.token().size()), 0x45,
                                     static_cast<std::uint8_t>(req.message_id() >> 8),
                                     static_cast<std::uint8_t>(req.message_id())};
    ack.insert(ack.end(), req.token().begin(), req.token().end());
    ack.insert(ack.end(), {0xd1, 0x0a, 0x56, 0xff, 0x61});  // Block2 NUM 5 (stale), M 0, SZX 6
    p.net.inject(p.server.address, p.client, ack);
    EXPECT_EQ(p.client.endpoint->outstanding_count(), 0u);
    p.net.drive();
    ASSERT_EQ(p.client.events.size(), 1u);
    EXPECT_EQ(p.client.events[0].reason, coap::FailReason::Timeout);
    EXPECT_EQ(p.client.endpoint->active_exchanges(), 0u);
}
