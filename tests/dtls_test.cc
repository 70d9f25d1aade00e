// DTLS 1.2 through OpenSSL (src/net/dtls.h), client and server layers wired back to
// back in memory: cookie exchange, handshake, records both ways, wrong keys, no server
// state before a valid cookie, the bounds on server sessions and handshakes, and
// datagrams that fit the MTU.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>

#include <algorithm>
#include <chrono>
#include <thread>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "dtls_test_util.h"
#include "net/dtls.h"
#include "net/key_id.h"

namespace {

using coapbed::net::DtlsConfig;
using coapbed::net::DtlsLayer;
using coapbed::test::kClient;
using coapbed::test::kServer;
using coapbed::test::pump;
using coapbed::test::self_signed;
using coapbed::test::Wire;

DtlsConfig config(bool server, std::string key = "secret-psk", std::string identity = "alice") {
    DtlsConfig c;
    c.server = server;
    c.psk_identity = std::move(identity);
    c.psk_key = std::move(key);
    return c;
}

TEST(Dtls, PskHandshakeWithCookieThenRecordsBothWays) {
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(config(false), error)) << error;
    ASSERT_TRUE(server.init(config(true), error)) << error;
    Wire w;
    const coap::TimePoint now = coap::TimePoint::from_ns(1'000'000'000);
    const std::string hello = "\x40\x01\x12\x34";  // a CoAP ping-sized plaintext
    client.write(now, kServer, coap::Bytes(std::string_view(hello)), w.from(kClient));
    std::vector<std::string> at_client, at_server;
    pump(w, client, server, at_client, at_server);
    ASSERT_TRUE(client.established(kServer)) << client.last_error();
    ASSERT_TRUE(server.established(kClient)) << server.last_error();
    ASSERT_EQ(at_server.size(), 1u);
    EXPECT_EQ(at_server[0], hello);  // queued during the handshake, delivered after it
    EXPECT_EQ(client.cipher(kServer), "PSK-AES128-CCM8");  // RFC 7252 §9.1.3.1
    // The server's first datagram is a HelloVerifyRequest (RFC 6347 §4.2.1): record type
    // 22 (handshake), handshake type 3 after the 13-byte record header.
    const auto first_reply = std::find_if(w.log.begin(), w.log.end(), [](const auto& d) { return d.from == kServer; });
    ASSERT_NE(first_reply, w.log.end());
    ASSERT_GT(first_reply->bytes.size(), 14u);
    EXPECT_EQ(first_reply->bytes[0], 22);
    EXPECT_EQ(first_reply->bytes[13], 3);
    // Records the other way, and nothing in clear on the wire.
    const std::string answer = "\x60\x45\x12\x34 the answer";
    server.write(now, kClient, coap::Bytes(std::string_view(answer)), w.from(kServer));
    pump(w, client, server, at_client, at_server);
    ASSERT_EQ(at_client.size(), 1u);
    EXPECT_EQ(at_client[0], answer);
    for (const auto& d : w.log) {
        const std::string s(d.bytes.begin(), d.bytes.end());
        EXPECT_EQ(s.find("the answer"), std::string::npos);
    }
}

TEST(Dtls, ALostClientHelloIsSentAgainWhenOpenSslsTimerExpires) {
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(config(false), error));
    ASSERT_TRUE(server.init(config(true), error));
    Wire w;
    const coap::TimePoint now = coap::TimePoint::from_ns(1'000'000'000);
    client.write(now, kServer, coap::Bytes(std::string_view("x")), w.from(kClient));
    ASSERT_EQ(w.queue.size(), 1u);
    w.queue.clear();  // the ClientHello is lost
    ASSERT_TRUE(client.next_timeout(now).has_value());
    client.handle_timeouts(now, w.from(kClient));
    EXPECT_TRUE(w.queue.empty());  // not yet: OpenSSL's first timer is one second (wall clock)
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    client.handle_timeouts(now, w.from(kClient));
    ASSERT_EQ(w.queue.size(), 1u);  // sent again
    std::vector<std::string> at_client, at_server;
    pump(w, client, server, at_client, at_server);
    EXPECT_TRUE(client.established(kServer));
    EXPECT_EQ(at_server, std::vector<std::string>{"x"});
}

TEST(Dtls, AWrongKeyOrIdentityNeverEstablishes) {
    for (const auto& [key, identity] : {std::pair<std::string, std::string>{"wrong-key", "alice"},
                                        std::pair<std::string, std::string>{"secret-psk", "mallory"}}) {
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(config(false, key, identity), error));
        ASSERT_TRUE(server.init(config(true), error));
        Wire w;
        client.write(coap::TimePoint::from_ns(1), kServer, coap::Bytes(std::string_view("x")), w.from(kClient));
        std::vector<std::string> at_client, at_server;
        pump(w, client, server, at_client, at_server);
        EXPECT_FALSE(server.established(kClient)) << identity;
        EXPECT_TRUE(at_server.empty()) << identity;
        if (identity == "mallory") {
            // An unknown identity draws a fatal alert from the server: the client's
            // handshake ends at once, refused rather than timed out.
            EXPECT_TRUE(client.refused_by(kServer));
            EXPECT_FALSE(client.refused_by(kClient));
            EXPECT_NE(client.last_error(), "");
        } else {
            // A wrong key only shows as a Finished the server cannot decrypt, and DTLS
            // drops bad records silently (RFC 6347 §4.1.2.7): to the client it looks
            // like loss, so it is not refused and retries until it times out.
            EXPECT_FALSE(client.refused_by(kServer));
        }
    }
}

TEST(Dtls, PlaintextHeldDuringTheHandshakeIsBounded) {
    // A client holds what it is asked to send until its handshake is done: at most 32
    // datagrams, the oldest dropped first (CoAP retransmits what matters).
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(config(false), error));
    ASSERT_TRUE(server.init(config(true), error));
    Wire w;
    for (int i = 0; i < 40; ++i) {
        const std::string m = "m" + std::to_string(i);
        client.write(coap::TimePoint::from_ns(1), kServer, coap::Bytes(std::string_view(m)), w.from(kClient));
    }
    std::vector<std::string> at_client, at_server;
    pump(w, client, server, at_client, at_server, 200);
    ASSERT_TRUE(client.established(kServer)) << client.last_error();
    ASSERT_EQ(at_server.size(), 32u);
    EXPECT_EQ(at_server.front(), "m8");
    EXPECT_EQ(at_server.back(), "m39");
}

// Several clients and one server on one wire: delivers what is queued, datagram by
// datagram, to whichever layer owns the destination; `drop` may refuse a datagram.
struct Net {
    Wire wire;
    DtlsLayer* server = nullptr;
    std::map<coap::Peer, DtlsLayer*> clients;
    std::vector<std::string> at_server;
    void deliver(const std::function<bool(const Wire::Datagram&)>& drop = nullptr, int max = 10000) {
        const coap::TimePoint now = coap::TimePoint::from_ns(1'000'000'000);
        while (!wire.queue.empty() && max-- > 0) {
            Wire::Datagram d = wire.queue.front();
            wire.queue.pop_front();
            if (drop && drop(d)) continue;
            std::vector<std::vector<std::uint8_t>> plain;
            const coap::Bytes bytes(d.bytes.data(), d.bytes.size());
            if (d.to == kServer) {
                server->receive(now, d.from, bytes, wire.from(kServer), plain);
                for (auto& p : plain) at_server.emplace_back(p.begin(), p.end());
            } else if (auto it = clients.find(d.to); it != clients.end()) {
                it->second->receive(now, d.from, bytes, wire.from(d.to), plain);
            }
        }
    }
    void send(const coap::Peer& from, std::string_view text) {
        clients.at(from)->write(coap::TimePoint::from_ns(1'000'000'000), kServer, coap::Bytes(text), wire.from(from));
    }
};

coap::Peer port(std::uint16_t p) { return coap::Peer::ipv4(0x7f000001, p); }

/// A client's first flight: a ClientHello without a cookie.
std::vector<std::uint8_t> first_client_hello() {
    DtlsLayer client;
    std::string error;
    EXPECT_TRUE(client.init(config(false), error));
    Wire w;
    client.write(coap::TimePoint::from_ns(1), kServer, coap::Bytes(std::string_view("x")), w.from(kClient));
    EXPECT_EQ(w.log.size(), 1u);
    return w.log.at(0).bytes;
}

TEST(Dtls, ServerKeepsNoStateBeforeAValidCookie) {
    // RFC 6347 §4.2.1: a ClientHello without a valid cookie gets a HelloVerifyRequest and
    // leaves nothing behind; anything else from an address without a session is dropped.
    DtlsLayer server;
    std::string error;
    ASSERT_TRUE(server.init(config(true), error));
    const std::vector<std::uint8_t> hello = first_client_hello();
    const std::vector<std::uint8_t> junk(40, 0x17);
    std::size_t verify_requests = 0;
    const DtlsLayer::Send count = [&](const coap::Peer&, const std::uint8_t* d, std::size_t n) {
        verify_requests += n > 13 && d[0] == 22 && d[13] == 3;  // handshake, HelloVerifyRequest
    };
    std::vector<std::vector<std::uint8_t>> plain;
    for (std::uint16_t i = 0; i < 10000; ++i) {
        const coap::Peer from = port(static_cast<std::uint16_t>(20000 + i));
        server.receive(coap::TimePoint::from_ns(i), from, coap::Bytes(hello.data(), hello.size()), count, plain);
        server.receive(coap::TimePoint::from_ns(i), from, coap::Bytes(junk.data(), junk.size()), count, plain);
    }
    EXPECT_EQ(server.session_count(), 0u);
    EXPECT_EQ(verify_requests, 10000u);
    EXPECT_EQ(server.stats().hello_verify_requests, 10000u);
    EXPECT_EQ(server.stats().dropped_before_cookie, 10000u);
    EXPECT_EQ(server.stats().cookies_verified, 0u);
    EXPECT_TRUE(plain.empty());
}

TEST(Dtls, UnverifiedTrafficNeverDisplacesAnEstablishedSession) {
    // Four established sessions (the bound) survive ClientHellos from 10,000 ports and
    // 50 handshakes left open after a valid cookie (bounded apart, at 2); only a fifth
    // completed handshake displaces one, the least recently used.
    DtlsConfig sc = config(true);
    sc.max_sessions = 4;
    sc.max_handshakes = 2;
    DtlsLayer server;
    std::string error;
    ASSERT_TRUE(server.init(sc, error));
    Net net;
    net.server = &server;
    std::deque<DtlsLayer> clients;
    auto add = [&](const coap::Peer& p) {
        clients.emplace_back();
        EXPECT_TRUE(clients.back().init(config(false), error));
        net.clients[p] = &clients.back();
    };
    for (std::uint16_t i = 0; i < 4; ++i) {
        add(port(41000 + i));
        net.send(port(41000 + i), "hello " + std::to_string(i));
        net.deliver();
    }
    for (std::uint16_t i = 0; i < 4; ++i) ASSERT_TRUE(server.established(port(41000 + i)));
    ASSERT_EQ(net.at_server.size(), 4u);

    const std::vector<std::uint8_t> hello = first_client_hello();
    std::vector<std::vector<std::uint8_t>> plain;
    const DtlsLayer::Send ignore = [](const coap::Peer&, const std::uint8_t*, std::size_t) {};
    for (std::uint16_t i = 0; i < 10000; ++i) {
        server.receive(coap::TimePoint::from_ns(2'000'000'000), port(static_cast<std::uint16_t>(10000 + i)),
                       coap::Bytes(hello.data(), hello.size()), ignore, plain);
    }
    // Half-open handshakes: a real client's cookie exchange, its ServerHello flight lost.
    for (std::uint16_t i = 0; i < 50; ++i) {
        const coap::Peer p = port(static_cast<std::uint16_t>(50000 + i));
        add(p);
        net.send(p, "never");
        net.deliver([&](const Wire::Datagram& d) { return d.from == kServer && d.to == p && d.bytes.size() > 13 && d.bytes[13] != 3; });
    }
    EXPECT_EQ(server.stats().cookies_verified, 4u + 50u);
    EXPECT_EQ(server.stats().handshakes_evicted, 48u);
    EXPECT_EQ(server.stats().sessions_evicted, 0u);
    EXPECT_EQ(server.session_count(), 4u + 2u);
    for (std::uint16_t i = 0; i < 4; ++i) {
        EXPECT_TRUE(server.established(port(41000 + i)));
        net.send(port(41000 + i), "again " + std::to_string(i));
    }
    net.deliver();
    EXPECT_EQ(net.at_server.size(), 8u);
    EXPECT_EQ(net.at_server.back(), "again 3");

    // A fifth real handshake: the least recently used established session (the first
    // client's; the others wrote after it) gives way.
    net.send(port(41001), "recent");
    net.send(port(41002), "recent");
    net.send(port(41003), "recent");
    add(port(42000));
    net.send(port(42000), "fifth");
    net.deliver();
    EXPECT_TRUE(server.established(port(42000)));
    EXPECT_FALSE(server.established(port(41000)));
    EXPECT_EQ(server.stats().sessions_evicted, 1u);
    EXPECT_EQ(net.at_server.back(), "fifth");
}

TEST(Dtls, EveryDatagramFitsTheMtuAndSmallRecordsShareOne) {
    // RFC 6347 §4.1.1.1: DTLS should not write datagrams larger than the path MTU; §4.1.1:
    // several records may share a datagram (OpenSSL packs a flight's records so). A
    // certificate flight (ServerHello, Certificate, ServerKeyExchange, ServerHelloDone)
    // is larger than a 512-byte MTU.
    auto [sc, cc] = self_signed("dtls-test-mtu");
    sc.mtu = 512;
    cc.mtu = 512;
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(cc, error)) << error;
    ASSERT_TRUE(server.init(sc, error)) << error;
    Wire w;
    const coap::TimePoint now = coap::TimePoint::from_ns(1'000'000'000);
    client.write(now, kServer, coap::Bytes(std::string_view("\x40\x01\x12\x34")), w.from(kClient));
    std::vector<std::string> at_client, at_server;
    pump(w, client, server, at_client, at_server);
    ASSERT_TRUE(client.established(kServer)) << client.last_error();
    ASSERT_EQ(at_server.size(), 1u);
    EXPECT_EQ(client.cipher(kServer), "ECDHE-ECDSA-AES128-CCM8");  // RFC 7252 §9.1.3.3
    std::size_t server_bytes = 0, server_datagrams = 0, client_datagrams = 0, shared = 0;
    for (const auto& d : w.log) {
        EXPECT_LE(d.bytes.size(), 512u);
        // Walk the records of the datagram: 13-byte header, 2-byte length at offset 11.
        std::size_t records = 0, at = 0;
        while (at + 13 <= d.bytes.size()) {
            at += 13 + (static_cast<std::size_t>(d.bytes[at + 11]) << 8 | d.bytes[at + 12]);
            ++records;
        }
        EXPECT_EQ(at, d.bytes.size());  // whole records only
        shared += records > 1;
        if (d.from == kServer) {
            server_bytes += d.bytes.size();
            ++server_datagrams;
        } else {
            ++client_datagrams;
        }
    }
    EXPECT_GT(server_bytes, 512u);  // the certificate flight needed several datagrams
    EXPECT_GE(server_datagrams, 3u);
    // The client's last flight (ClientKeyExchange, ChangeCipherSpec, Finished) is three
    // small records in one datagram, after its two ClientHellos and before the request.
    EXPECT_GE(shared, 1u);
    EXPECT_EQ(client_datagrams, 4u);
    // Below OpenSSL's smallest MTU the layer refuses to start rather than write larger
    // datagrams than asked.
    DtlsLayer small;
    cc.mtu = DtlsLayer::kMinMtu - 1;
    EXPECT_FALSE(small.init(cc, error));
    EXPECT_NE(error.find("MTU"), std::string::npos);
}

TEST(Dtls, AFlightBeyondTheDatagramQueueBoundFailsTheSession) {
    // A chain of 240 copies of a 300-byte certificate (about 72 KB) makes a flight larger
    // than the 64 KB the layer holds between flushes: the handshake fails, and nothing of
    // the flight goes out.
    const auto [sc, cc] = self_signed("dtls-test-chain");
    {
        std::FILE* f = std::fopen(sc.cert_file.c_str(), "r");
        std::string pem(4096, '\0');
        pem.resize(std::fread(pem.data(), 1, pem.size(), f));
        std::fclose(f);
        f = std::fopen(sc.cert_file.c_str(), "a");
        for (int i = 0; i < 239; ++i) std::fwrite(pem.data(), 1, pem.size(), f);
        std::fclose(f);
    }
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(cc, error)) << error;
    ASSERT_TRUE(server.init(sc, error)) << error;
    Wire w;
    client.write(coap::TimePoint::from_ns(1), kServer, coap::Bytes(std::string_view("x")), w.from(kClient));
    std::vector<std::string> at_client, at_server;
    pump(w, client, server, at_client, at_server);
    EXPECT_FALSE(server.established(kClient));
    EXPECT_EQ(server.session_count(), 0u);
    EXPECT_NE(server.last_error(), "");
    std::size_t sent = 0;
    for (const auto& d : w.log) sent += d.from == kServer ? d.bytes.size() : 0;
    EXPECT_LT(sent, 1000u);  // the HelloVerifyRequest; nothing of the failed flight
}

TEST(KeyId, NamesOfHelloWorld) {
    // SHA-256("Hello World!") = 7f83b165...126d9069. The nih: check digit of the full
    // hash is 'd' (the same as an independent implementation gives).
    EXPECT_EQ(coapbed::net::nih_check_digit("7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069"), 'd');
    const auto n = coapbed::net::ni_names(coap::Bytes(std::string_view("Hello World!")));
    EXPECT_EQ(n.ni_sha256, "ni:///sha-256;f4OxZX_x_FO5LcGBSKHWXfwtSx-j1ncoSt3SABJtkGk");
    EXPECT_EQ(n.nih_sha256_120, "nih:sha-256-120;7f83-b165-7ff1-fc53-b92d-c181-48a1-d6;8");
    EXPECT_EQ(n.ni_sha256_120, "ni:///sha-256-120;f4OxZX_x_FO5LcGBSKHW");
    EXPECT_TRUE(coapbed::net::matches(n, n.nih_sha256_120));
    EXPECT_FALSE(coapbed::net::matches(n, "ni:///sha-256-120;f4OxZX_x_FO5LcGBSKHX"));
}

}  // namespace
