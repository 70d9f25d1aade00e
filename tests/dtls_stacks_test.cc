// The two DTLS stacks behind DtlsLayer (src/net/dtls_stack.h): each against the other in
// PreSharedKey and certificate modes (the cross-stack matrix), RFC 7250 raw public keys
// through GnuTLS with pinned RFC 6920 names (and what is refused: an unpinned key, a
// certificate where a raw key is due, a mode a stack cannot do), and for GnuTLS the
// server's stateless cookie exchange, the MTU and the handshake timer.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "dtls_test_util.h"
#include "net/dtls.h"
#include "net/key_id.h"

namespace {

using coapbed::net::DtlsConfig;
using coapbed::net::DtlsLayer;
using coapbed::net::DtlsStack;
using coapbed::test::kClient;
using coapbed::test::kServer;
using coapbed::test::pump;
using coapbed::test::self_signed;
using coapbed::test::Wire;

const coap::TimePoint kNow = coap::TimePoint::from_ns(1'000'000'000);
const std::string kPing = "\x40\x01\x12\x34";

const char* name_of(DtlsStack s) { return s == DtlsStack::GnuTls ? "gnutls" : "openssl"; }

DtlsConfig psk(bool server, DtlsStack stack) {
    DtlsConfig c;
    c.server = server;
    c.stack = stack;
    c.psk_identity = "alice";
    c.psk_key = "secret-psk";
    return c;
}

/// A P-256 (or other curve) key pair written as libcoap's -M files are: a PUBLIC KEY block
/// and an EC PRIVATE KEY block; its RFC 6920 name and its SubjectPublicKeyInfo (DER).
struct RawKey {
    std::string file, name;
    std::vector<std::uint8_t> spki;
};
RawKey raw_key(const std::string& stem, const char* curve = "P-256") {
    RawKey k;
    k.file = ::testing::TempDir() + "/" + stem + "-rpk.pem";
    EVP_PKEY* key = EVP_EC_gen(curve);
    BIO* f = BIO_new_file(k.file.c_str(), "w");
    PEM_write_bio_PUBKEY(f, key);
    PEM_write_bio_PrivateKey_traditional(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    BIO_free(f);
    k.name = coapbed::net::key_names(key)->ni_sha256_120;
    unsigned char* der = nullptr;
    const int n = i2d_PUBKEY(key, &der);
    k.spki.assign(der, der + n);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    return k;
}

DtlsConfig rpk(bool server, const RawKey& ours, const std::vector<std::string>& pins) {
    DtlsConfig c;
    c.server = server;
    c.rpk_file = ours.file;
    c.pins = pins;
    return c;
}

/// The client writes one datagram; everything is delivered. Whether both are established.
bool connect(DtlsLayer& client, DtlsLayer& server, Wire& w, std::vector<std::string>& at_server) {
    client.write(kNow, kServer, coap::Bytes(std::string_view(kPing)), w.from(kClient));
    std::vector<std::string> at_client;
    pump(w, client, server, at_client, at_server);
    return client.established(kServer) && server.established(kClient);
}

/// Records both ways after the handshake, nothing in clear on the wire.
void exchange_records(DtlsLayer& client, DtlsLayer& server, Wire& w) {
    const std::string answer = "\x60\x45\x12\x34 the answer";
    server.write(kNow, kClient, coap::Bytes(std::string_view(answer)), w.from(kServer));
    std::vector<std::string> at_client, at_server;
    pump(w, client, server, at_client, at_server);
    ASSERT_EQ(at_client.size(), 1u);
    EXPECT_EQ(at_client[0], answer);
    for (const auto& d : w.log) EXPECT_EQ(std::string(d.bytes.begin(), d.bytes.end()).find("the answer"), std::string::npos);
}

bool sent_hello_verify_request(const Wire& w) {
    const auto first = std::find_if(w.log.begin(), w.log.end(), [](const auto& d) { return d.from == kServer; });
    return first != w.log.end() && first->bytes.size() > 14 && first->bytes[0] == 22 && first->bytes[13] == 3;
}

const DtlsStack kStacks[] = {DtlsStack::OpenSsl, DtlsStack::GnuTls};

TEST(DtlsStacks, CrossStackMatrixInPreSharedKeyMode) {
    // RFC 7252 §9.1.3.1: every pairing of the two libraries agrees on TLS_PSK_WITH_AES_128_CCM_8.
    for (const DtlsStack cs : kStacks) {
        for (const DtlsStack ss : kStacks) {
            SCOPED_TRACE(std::string("client ") + name_of(cs) + ", server " + name_of(ss));
            DtlsLayer client, server;
            std::string error;
            ASSERT_TRUE(client.init(psk(false, cs), error)) << error;
            ASSERT_TRUE(server.init(psk(true, ss), error)) << error;
            EXPECT_STREQ(client.stack_name(), name_of(cs));
            Wire w;
            std::vector<std::string> at_server;
            ASSERT_TRUE(connect(client, server, w, at_server)) << client.last_error() << server.last_error();
            EXPECT_EQ(at_server, std::vector<std::string>{kPing});
            EXPECT_TRUE(sent_hello_verify_request(w));  // RFC 6347 §4.2.1, both servers
            const std::string suite = client.cipher(kServer);
            EXPECT_TRUE(suite == "PSK-AES128-CCM8" || suite == "TLS_PSK_WITH_AES_128_CCM_8") << suite;
            EXPECT_EQ(server.peer_credential(kClient), "psk");
            exchange_records(client, server, w);
        }
    }
}

TEST(DtlsStacks, CrossStackMatrixInCertificateMode) {
    // RFC 7252 §9.1.3.3: a self-signed P-256 certificate whose key the client pins.
    const auto [sc0, cc0] = self_signed("dtls-stacks-cert");
    for (const DtlsStack cs : kStacks) {
        for (const DtlsStack ss : kStacks) {
            SCOPED_TRACE(std::string("client ") + name_of(cs) + ", server " + name_of(ss));
            DtlsConfig sc = sc0, cc = cc0;
            sc.stack = ss;
            cc.stack = cs;
            DtlsLayer client, server;
            std::string error;
            ASSERT_TRUE(client.init(cc, error)) << error;
            ASSERT_TRUE(server.init(sc, error)) << error;
            Wire w;
            std::vector<std::string> at_server;
            ASSERT_TRUE(connect(client, server, w, at_server)) << client.last_error() << server.last_error();
            const std::string suite = client.cipher(kServer);
            EXPECT_TRUE(suite == "ECDHE-ECDSA-AES128-CCM8" || suite == "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8") << suite;
            EXPECT_EQ(client.peer_credential(kServer), "x509");
            exchange_records(client, server, w);
        }
    }
    // A pin that names another key is refused by either client.
    for (const DtlsStack cs : kStacks) {
        DtlsConfig sc = sc0, cc = cc0;
        cc.stack = cs;
        cc.pin = "ni:///sha-256-120;AAAAAAAAAAAAAAAAAAAA";
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(cc, error)) << error;
        ASSERT_TRUE(server.init(sc, error)) << error;
        Wire w;
        std::vector<std::string> at_server;
        EXPECT_FALSE(connect(client, server, w, at_server)) << name_of(cs);
        EXPECT_TRUE(client.refused_by(kServer)) << name_of(cs);
    }
}

TEST(DtlsStacks, RawPublicKeysBothWays) {
    // RFC 7250 in RFC 7252 §9.1.3.2: each side pins the other's RFC 6920 name; the
    // Certificate messages carry nothing but the 91-byte SubjectPublicKeyInfo.
    const RawKey s = raw_key("dtls-stacks-server"), c = raw_key("dtls-stacks-client");
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(rpk(false, c, {s.name}), error)) << error;
    ASSERT_TRUE(server.init(rpk(true, s, {c.name}), error)) << error;
    EXPECT_STREQ(client.stack_name(), "gnutls");  // the default stack for raw keys
    Wire w;
    std::vector<std::string> at_server;
    ASSERT_TRUE(connect(client, server, w, at_server)) << client.last_error() << server.last_error();
    EXPECT_EQ(at_server, std::vector<std::string>{kPing});
    EXPECT_EQ(client.cipher(kServer), "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8");
    EXPECT_EQ(client.peer_credential(kServer), "rawpk");
    EXPECT_EQ(server.peer_credential(kClient), "rawpk");
    EXPECT_TRUE(sent_hello_verify_request(w));
    ASSERT_EQ(s.spki.size(), 91u);
    auto carries = [&](const coap::Peer& from, const std::vector<std::uint8_t>& spki) {
        return std::any_of(w.log.begin(), w.log.end(), [&](const auto& d) {
            return d.from == from && std::search(d.bytes.begin(), d.bytes.end(), spki.begin(), spki.end()) != d.bytes.end();
        });
    };
    EXPECT_TRUE(carries(kServer, s.spki));
    EXPECT_TRUE(carries(kClient, c.spki));
    exchange_records(client, server, w);
}

TEST(DtlsStacks, AnUnpinnedRawKeyIsRefusedAtOnce) {
    const RawKey s = raw_key("dtls-stacks-s2"), c = raw_key("dtls-stacks-c2"), other = raw_key("dtls-stacks-o2");
    {
        // The client does not know the server's key: it refuses, naming the key it got.
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(rpk(false, c, {other.name}), error)) << error;
        ASSERT_TRUE(server.init(rpk(true, s, {c.name}), error)) << error;
        Wire w;
        std::vector<std::string> at_server;
        EXPECT_FALSE(connect(client, server, w, at_server));
        EXPECT_TRUE(client.refused_by(kServer));
        EXPECT_NE(client.last_error().find(s.name + " is not pinned"), std::string::npos) << client.last_error();
        EXPECT_TRUE(at_server.empty());
    }
    {
        // The server does not know the client's key: the client learns it from the alert.
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(rpk(false, c, {s.name}), error)) << error;
        ASSERT_TRUE(server.init(rpk(true, s, {other.name}), error)) << error;
        Wire w;
        std::vector<std::string> at_server;
        EXPECT_FALSE(connect(client, server, w, at_server));
        EXPECT_TRUE(client.refused_by(kServer)) << client.last_error();
        EXPECT_FALSE(server.established(kClient));
        EXPECT_NE(server.last_error().find("not pinned"), std::string::npos) << server.last_error();
        EXPECT_TRUE(at_server.empty());
    }
    {
        // A server without pins takes any raw key (as libcoap's tools do).
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(rpk(false, c, {s.name}), error)) << error;
        ASSERT_TRUE(server.init(rpk(true, s, {}), error)) << error;
        Wire w;
        std::vector<std::string> at_server;
        EXPECT_TRUE(connect(client, server, w, at_server)) << client.last_error() << server.last_error();
        EXPECT_EQ(server.peer_credential(kClient), "rawpk");
    }
}

TEST(DtlsStacks, ARawKeyClientRefusesACertificateServer) {
    // OpenSSL 3.0 has no RFC 7250: it answers with an X.509 certificate. Even when the
    // certificate's key is the pinned one, no silent X.509 fallback.
    auto [sc, cc] = self_signed("dtls-stacks-x509");
    sc.stack = DtlsStack::OpenSsl;
    const RawKey c = raw_key("dtls-stacks-c3");
    for (const DtlsStack ss : kStacks) {
        sc.stack = ss;
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(rpk(false, c, {cc.pin}), error)) << error;
        ASSERT_TRUE(server.init(sc, error)) << error;
        Wire w;
        std::vector<std::string> at_server;
        EXPECT_FALSE(connect(client, server, w, at_server)) << name_of(ss);
        EXPECT_FALSE(client.established(kServer)) << name_of(ss);
        EXPECT_TRUE(client.refused_by(kServer)) << name_of(ss) << ": " << client.last_error();
        EXPECT_TRUE(at_server.empty());
    }
}

TEST(DtlsStacks, ARawKeyNeedsGnuTlsAPinAndP256) {
    const RawKey k = raw_key("dtls-stacks-k4");
    std::string error;
    {
        DtlsConfig c = rpk(false, k, {k.name});
        c.stack = DtlsStack::OpenSsl;
        DtlsLayer l;
        EXPECT_FALSE(l.init(c, error));
        EXPECT_NE(error.find("RFC 7250"), std::string::npos) << error;
    }
    {
        DtlsLayer l;
        EXPECT_FALSE(l.init(rpk(false, k, {}), error));  // a client must know whom it trusts
        EXPECT_NE(error.find("--pin"), std::string::npos) << error;
    }
    {
        DtlsLayer l;
        EXPECT_FALSE(l.init(rpk(true, raw_key("dtls-stacks-p384", "P-384"), {}), error));
        EXPECT_NE(error.find("P-256"), std::string::npos) << error;
    }
    {
        DtlsLayer l;
        RawKey missing = k;
        missing.file += ".missing";
        EXPECT_FALSE(l.init(rpk(true, missing, {}), error));
        EXPECT_NE(error.find(".missing"), std::string::npos) << error;
    }
    {
        DtlsConfig c = rpk(true, k, {});
        c.psk_key = "secret";
        DtlsLayer l;
        EXPECT_FALSE(l.init(c, error));  // one mode at a time
    }
}

TEST(DtlsStacks, GnuTlsServerKeepsNoStateBeforeAValidCookie) {
    // RFC 6347 §4.2.1 through gnutls_dtls_cookie_verify/send: a HelloVerifyRequest for each
    // ClientHello without a valid cookie, nothing kept, everything else dropped.
    DtlsLayer server;
    std::string error;
    ASSERT_TRUE(server.init(psk(true, DtlsStack::GnuTls), error)) << error;
    for (const DtlsStack cs : kStacks) {
        DtlsLayer client;
        ASSERT_TRUE(client.init(psk(false, cs), error));
        Wire w;
        client.write(kNow, kServer, coap::Bytes(std::string_view("x")), w.from(kClient));
        ASSERT_EQ(w.log.size(), 1u);
        const std::vector<std::uint8_t> hello = w.log[0].bytes, junk(40, 0x17);
        std::size_t verify_requests = 0;
        const DtlsLayer::Send count = [&](const coap::Peer&, const std::uint8_t* d, std::size_t n) {
            verify_requests += n > 13 && d[0] == 22 && d[13] == 3;
        };
        std::vector<std::vector<std::uint8_t>> plain;
        for (std::uint16_t i = 0; i < 2000; ++i) {
            const coap::Peer from = coap::Peer::ipv4(0x7f000001, static_cast<std::uint16_t>(20000 + i));
            server.receive(kNow, from, coap::Bytes(hello.data(), hello.size()), count, plain);
            server.receive(kNow, from, coap::Bytes(junk.data(), junk.size()), count, plain);
        }
        EXPECT_EQ(verify_requests, 2000u) << name_of(cs);
        EXPECT_EQ(server.session_count(), 0u);
        EXPECT_TRUE(plain.empty());
    }
    EXPECT_EQ(server.stats().hello_verify_requests, 4000u);
    EXPECT_EQ(server.stats().dropped_before_cookie, 4000u);
    EXPECT_EQ(server.stats().cookies_verified, 0u);
}

TEST(DtlsStacks, GnuTlsDatagramsFitTheMtu) {
    // RFC 6347 §4.1.1.1: the certificate flight is cut into datagrams of at most 512 bytes.
    auto [sc, cc] = self_signed("dtls-stacks-mtu");
    sc.stack = cc.stack = DtlsStack::GnuTls;
    sc.mtu = cc.mtu = 512;
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(cc, error)) << error;
    ASSERT_TRUE(server.init(sc, error)) << error;
    Wire w;
    std::vector<std::string> at_server;
    ASSERT_TRUE(connect(client, server, w, at_server)) << client.last_error() << server.last_error();
    std::size_t server_bytes = 0;
    for (const auto& d : w.log) {
        EXPECT_LE(d.bytes.size(), 512u);
        if (d.from == kServer) server_bytes += d.bytes.size();
    }
    EXPECT_GT(server_bytes, 512u);
}

TEST(DtlsStacks, GnuTlsSendsALostClientHelloAgainWhenItsTimerExpires) {
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(psk(false, DtlsStack::GnuTls), error));
    ASSERT_TRUE(server.init(psk(true, DtlsStack::GnuTls), error));
    Wire w;
    client.write(kNow, kServer, coap::Bytes(std::string_view("x")), w.from(kClient));
    ASSERT_EQ(w.queue.size(), 1u);
    w.queue.clear();  // the ClientHello is lost
    const auto t = client.next_timeout(kNow);
    ASSERT_TRUE(t.has_value());
    EXPECT_LE(*t - kNow, coap::Duration::seconds(1));
    client.handle_timeouts(kNow, w.from(kClient));
    EXPECT_TRUE(w.queue.empty());  // not yet: GnuTLS's first timer is one second (wall clock)
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    client.handle_timeouts(kNow, w.from(kClient));
    ASSERT_EQ(w.queue.size(), 1u);  // sent again
    std::vector<std::string> at_client, at_server;
    pump(w, client, server, at_client, at_server);
    EXPECT_TRUE(client.established(kServer)) << client.last_error();
    EXPECT_EQ(at_server, std::vector<std::string>{"x"});
}

}  // namespace

namespace {

std::string slurp(const std::string& file) {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    std::string s(1 << 16, '\0');
    s.resize(std::fread(s.data(), 1, s.size(), f));
    std::fclose(f);
    return s;
}

TEST(DtlsStacks, HandshakeFiguresWithAndWithoutHelloVerifyRequest) {
    // The counters the simulator reports (runs.csv handshake_*, dtls_record_overhead_bytes),
    // with keys given as PEM text as the simulator gives them.
    const RawKey s = raw_key("dtls-stacks-fig-s"), c = raw_key("dtls-stacks-fig-c");
    std::uint64_t bytes[2] = {0, 0};
    for (const bool cookies : {true, false}) {
        DtlsConfig sc = rpk(true, s, {c.name}), cc = rpk(false, c, {s.name});
        sc.key_pem = slurp(s.file);
        cc.key_pem = slurp(c.file);
        sc.rpk_file.clear();
        cc.rpk_file.clear();
        sc.verify_cookies = cookies;
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(cc, error)) << error;
        ASSERT_TRUE(server.init(sc, error)) << error;
        Wire w;
        std::vector<std::string> at_server;
        ASSERT_TRUE(connect(client, server, w, at_server)) << client.last_error() << server.last_error();
        EXPECT_EQ(sent_hello_verify_request(w), cookies);
        EXPECT_EQ(server.stats().hello_verify_requests, cookies ? 1u : 0u);
        for (const DtlsLayer* l : {&client, &server}) {
            EXPECT_EQ(l->stats().handshakes_started, 1u);
            EXPECT_EQ(l->stats().handshakes_completed, 1u);
            EXPECT_EQ(l->stats().handshakes_failed, 0u);
        }
        ASSERT_EQ(client.stats().handshake_seconds.size(), 1u);
        EXPECT_TRUE(server.stats().handshake_seconds.empty());
        // Every handshake datagram was sent by one of the two, and counted there.
        std::uint64_t on_wire = 0;
        for (const auto& d : w.log) on_wire += d.bytes.size();
        const std::uint64_t records = on_wire - client.stats().handshake_bytes - server.stats().handshake_bytes;
        // The rest is the one request: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 adds a 13-byte
        // record header, an 8-byte explicit nonce and an 8-byte tag (RFC 6655 §3).
        EXPECT_EQ(records, kPing.size() + 29);
        EXPECT_EQ(client.stats().record_overhead_bytes, 29u);
        bytes[cookies ? 0 : 1] = client.stats().handshake_bytes + server.stats().handshake_bytes;
    }
    EXPECT_GT(bytes[0], bytes[1]);  // the cookie round trip costs a flight each way
    // A refused handshake counts as failed on both sides.
    DtlsLayer client, server;
    std::string error;
    ASSERT_TRUE(client.init(rpk(false, c, {c.name}), error));
    ASSERT_TRUE(server.init(rpk(true, s, {}), error));
    Wire w;
    std::vector<std::string> at_server;
    EXPECT_FALSE(connect(client, server, w, at_server));
    EXPECT_EQ(client.stats().handshakes_failed, 1u);
    EXPECT_EQ(server.stats().handshakes_failed, 1u);
}

}  // namespace

#include "net/dtls_sim.h"

namespace {

TEST(DtlsStacks, OnSimulatedTimeAndEntropyAHandshakeIsTheSameEveryTime) {
    // What the simulator relies on (net/dtls_sim.h): with the clock and the entropy given,
    // a GnuTLS handshake in a fresh thread puts the same bytes on the wire every time, and
    // its retransmission timer follows the given clock, not the wall clock.
    const RawKey s = raw_key("dtls-stacks-sim-s"), c = raw_key("dtls-stacks-sim-c");
    auto run = [&](std::uint64_t seed) {
        std::int64_t now_ns = 5'000'000'000;
        coapbed::net::SimulatedDtls sim(seed, [&] { return coap::TimePoint::from_ns(now_ns); });
        std::vector<std::vector<std::uint8_t>> wire;
        coapbed::net::run_in_fresh_thread([&] {
            DtlsConfig sc = rpk(true, s, {c.name}), cc = rpk(false, c, {s.name});
            DtlsLayer client, server;
            std::string error;
            ASSERT_TRUE(client.init(cc, error)) << error;
            ASSERT_TRUE(server.init(sc, error)) << error;
            const coap::TimePoint t0 = coap::TimePoint::from_ns(now_ns);
            Wire w;
            client.write(t0, kServer, coap::Bytes(std::string_view(kPing)), w.from(kClient));
            ASSERT_EQ(w.queue.size(), 1u);
            w.queue.clear();  // the first ClientHello is lost
            EXPECT_EQ(client.next_timeout(t0), t0 + coap::Duration::seconds(1));
            client.handle_timeouts(t0, w.from(kClient));
            EXPECT_TRUE(w.queue.empty());
            now_ns += 1'000'000'000;  // one simulated second later: sent again
            client.handle_timeouts(coap::TimePoint::from_ns(now_ns), w.from(kClient));
            EXPECT_EQ(w.queue.size(), 1u);
            std::vector<std::string> at_client, at_server;
            pump(w, client, server, at_client, at_server);
            EXPECT_TRUE(client.established(kServer)) << client.last_error();
            for (const auto& d : w.log) wire.push_back(d.bytes);
        });
        return wire;
    };
    const auto a = run(7), b = run(7), other = run(8);
    ASSERT_GT(a.size(), 6u);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, other);
}

}  // namespace

namespace {

TEST(DtlsStacks, AGnuTlsServerSendsItsLastFlightAgainWhenTheClientRepeatsItsOwn) {
    // RFC 6347 §4.2.4: the server's last flight (ChangeCipherSpec, Finished) is lost; the
    // client, still waiting, retransmits its own last flight; the server, already done,
    // must answer it with its last flight once more, or the client times out. (A GnuTLS
    // client: OpenSSL's retransmission timer reads the wall clock, not the given one.)
    for (const DtlsStack cs : {DtlsStack::GnuTls}) {
        std::int64_t now_ns = 1'000'000'000;
        coapbed::net::SimulatedDtls sim(3, [&] { return coap::TimePoint::from_ns(now_ns); });
        coapbed::net::run_in_fresh_thread([&] {
            DtlsConfig cc = psk(false, cs), sc = psk(true, DtlsStack::GnuTls);
            DtlsLayer client, server;
            std::string error;
            ASSERT_TRUE(client.init(cc, error)) << error;
            ASSERT_TRUE(server.init(sc, error)) << error;
            auto t = [&] { return coap::TimePoint::from_ns(now_ns); };
            Wire w;
            client.write(t(), kServer, coap::Bytes(std::string_view(kPing)), w.from(kClient));
            std::size_t lost = 0, resent = 0;
            std::vector<std::string> at_server;
            for (int round = 0; round < 40 && !client.established(kServer); ++round) {
                while (!w.queue.empty()) {
                    Wire::Datagram d = w.queue.front();
                    w.queue.pop_front();
                    std::vector<std::vector<std::uint8_t>> plain;
                    const coap::Bytes bytes(d.bytes.data(), d.bytes.size());
                    if (d.to == kServer) {
                        server.receive(t(), d.from, bytes, w.from(kServer), plain);
                        for (auto& p : plain) at_server.emplace_back(p.begin(), p.end());
                    } else if (server.established(kClient) && lost == 0 && resent == 0 && d.bytes[0] == 20) {
                        lost = 1 + w.queue.size();  // the last flight, from its ChangeCipherSpec on
                        w.queue.clear();
                    } else {
                        resent += lost > 0 ? 1 : 0;
                        client.receive(t(), d.from, bytes, w.from(kClient), plain);
                    }
                }
                now_ns += 250'000'000;
                client.handle_timeouts(t(), w.from(kClient));
                server.handle_timeouts(t(), w.from(kServer));
            }
            EXPECT_TRUE(client.established(kServer)) << name_of(cs) << ": " << client.last_error();
            EXPECT_GE(lost, 1u) << name_of(cs);
            EXPECT_EQ(resent, lost) << name_of(cs);  // the flight once again, not once per record
            EXPECT_EQ(at_server, std::vector<std::string>{kPing});
        });
    }
}

}  // namespace

namespace {

TEST(DtlsStacks, AnEmptyDatagramIsNoRecordAndEndsNothing) {
    // Found by the dtls_server fuzzer (GnuTLS read an empty datagram as a zero-length
    // pull). A forged empty UDP datagram to an established session changes nothing.
    for (const DtlsStack ss : kStacks) {
        DtlsLayer client, server;
        std::string error;
        ASSERT_TRUE(client.init(psk(false, ss), error)) << error;
        ASSERT_TRUE(server.init(psk(true, ss), error)) << error;
        Wire w;
        std::vector<std::string> at_server;
        ASSERT_TRUE(connect(client, server, w, at_server)) << name_of(ss);
        std::vector<std::vector<std::uint8_t>> plain;
        server.receive(kNow, kClient, coap::Bytes(), w.from(kServer), plain);
        client.receive(kNow, kServer, coap::Bytes(), w.from(kClient), plain);
        EXPECT_TRUE(plain.empty());
        EXPECT_TRUE(server.established(kClient)) << name_of(ss);
        EXPECT_TRUE(client.established(kServer)) << name_of(ss);
        exchange_records(client, server, w);
    }
}

}  // namespace
