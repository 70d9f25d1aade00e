// Fuzz target: a DTLS server (src/net/dtls.h) on either stack, OpenSSL or GnuTLS, in PSK or
// (GnuTLS) raw-public-key mode, fed a script of datagrams from several source ports:
// garbage, truncated and bit-flipped records, real ClientHellos with bytes of the input
// spliced into their extensions, replays of anything seen on the wire, and real clients
// that complete the cookie exchange and a handshake before sending records the input
// makes. Invariants after every step: no crash; the server holds no state for a port
// that never sent a ClientHello carrying a valid cookie (RFC 6347 §4.2.1: the fuzzer
// cannot forge the HMAC; it can only replay a real client's from that client's port);
// sessions stay within their bounds; a plaintext the server passes up came from a
// session.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "byte_reader.h"
#include "check.h"
#include "net/dtls.h"
#include "sim/model/dtls-keys.h"

namespace {

using coapbed::net::DtlsConfig;
using coapbed::net::DtlsLayer;
using coapbed::net::DtlsStack;
namespace keys = coapbed::sim::keys;

const coap::Peer kServer = coap::Peer::ipv4(0xc0000201, 5684);
coap::Peer port(std::uint8_t k) { return coap::Peer::ipv4(0xc0000202, static_cast<std::uint16_t>(40000 + k % 8)); }

DtlsConfig config(bool server, DtlsStack stack, bool rpk) {
    DtlsConfig c;
    c.server = server;
    c.stack = stack;
    c.max_sessions = 4;
    c.max_handshakes = 2;
    if (rpk) {
        c.key_pem = server ? keys::kServerKey : keys::kClientKey;
        c.pins = {server ? keys::kClientKeyName : keys::kServerKeyName};
    } else {
        c.psk_identity = keys::kPskIdentity;
        c.psk_key = keys::kPskKey;
    }
    return c;
}

struct Datagram {
    coap::Peer from, to;
    std::vector<std::uint8_t> bytes;
};

struct Harness {
    DtlsStack stack;
    bool rpk;
    DtlsLayer server;
    std::map<std::uint8_t, std::unique_ptr<DtlsLayer>> clients;  // real clients by port index
    std::deque<Datagram> queue;
    std::vector<std::vector<std::uint8_t>> seen;  // every datagram on the wire, for replays
    std::set<coap::Peer> real_ports;              // ports a real client ran its handshake from
    coap::TimePoint now = coap::TimePoint::from_ns(1'000'000'000);
    std::size_t plain_up = 0;

    DtlsLayer::Send from(const coap::Peer& self) {
        return [this, self](const coap::Peer& to, const std::uint8_t* d, std::size_t n) {
            queue.push_back({self, to, std::vector<std::uint8_t>(d, d + n)});
        };
    }
    void remember(const std::vector<std::uint8_t>& d) {
        if (seen.size() < 64) seen.push_back(d);
    }
    void to_server(const coap::Peer& p, const std::vector<std::uint8_t>& d) {
        remember(d);
        std::vector<std::vector<std::uint8_t>> plain;
        const std::uint64_t before = server.stats().handshakes_started;
        server.receive(now, p, coap::Bytes(d.data(), d.size()), from(kServer), plain);
        // Only a real client's own cookie, from its own port, starts a handshake: the input
        // cannot forge the HMAC, and a cookie replayed from another port does not verify.
        FUZZ_CHECK(server.stats().handshakes_started == before || real_ports.count(p) != 0);
        plain_up += plain.size();
        FUZZ_CHECK(plain.empty() || server.established(p));
    }
    void deliver(int max = 200) {
        while (!queue.empty() && max-- > 0) {
            Datagram d = queue.front();
            queue.pop_front();
            if (d.to == kServer) {
                to_server(d.from, d.bytes);
            } else if (auto it = clients.find(static_cast<std::uint8_t>(d.to.port - 40000)); it != clients.end()) {
                remember(d.bytes);
                std::vector<std::vector<std::uint8_t>> plain;
                it->second->receive(now, d.from, coap::Bytes(d.bytes.data(), d.bytes.size()), from(d.to), plain);
            }
        }
        queue.clear();
    }
    /// A real client's first ClientHello (no cookie yet), from a throw-away client.
    std::vector<std::uint8_t> client_hello() {
        DtlsLayer c;
        std::string error;
        if (!c.init(config(false, stack, rpk), error)) return {};
        std::vector<std::uint8_t> hello;
        c.write(now, kServer, coap::Bytes(std::string_view("\x40\x01\x00\x01")),
                [&](const coap::Peer&, const std::uint8_t* d, std::size_t n) { hello.assign(d, d + n); });
        return hello;
    }
    void check() {
        // No state before a valid cookie: every session belongs to a real client's port.
        FUZZ_CHECK(server.session_count() <= real_ports.size());
        FUZZ_CHECK(server.session_count() <= 4 + 2);
        FUZZ_CHECK(plain_up == 0 || !real_ports.empty());
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coapbed::fuzz::ByteReader in(data, size);
    const std::uint8_t mode = in.u8();
    const DtlsStack stack = (mode & 1) != 0 ? DtlsStack::GnuTls : DtlsStack::OpenSsl;
    const bool rpk = stack == DtlsStack::GnuTls && (mode & 2) != 0;
    Harness h{stack, rpk, {}, {}, {}, {}, {}};
    std::string error;
    FUZZ_CHECK(h.server.init(config(true, stack, rpk), error));
    for (int step = 0; step < 24 && !in.empty(); ++step) {
        const std::uint8_t op = in.u8();
        const coap::Peer p = port(in.u8());
        switch (op % 6) {
            case 0:  // anything
                h.to_server(p, in.bytes(1500));
                break;
            case 1: {  // a real ClientHello, truncated or with bytes of the input spliced in
                std::vector<std::uint8_t> hello = h.client_hello();
                if (hello.empty()) break;
                const std::size_t at = in.u16() % hello.size();
                const std::vector<std::uint8_t> splice = in.bytes(64);
                if (in.flag()) {
                    hello.resize(at);
                } else {
                    hello.insert(hello.begin() + static_cast<std::ptrdiff_t>(at), splice.begin(), splice.end());
                }
                h.to_server(p, hello);
                break;
            }
            case 2: {  // a real ClientHello with bits flipped
                std::vector<std::uint8_t> hello = h.client_hello();
                for (int k = 0, n = in.u8() % 8; k < n && !hello.empty(); ++k) {
                    hello[in.u16() % hello.size()] ^= static_cast<std::uint8_t>(1u << (in.u8() % 8));
                }
                h.to_server(p, hello);
                break;
            }
            case 3:  // a replay of something seen, maybe from another port
                if (!h.seen.empty()) {
                    const std::vector<std::uint8_t> again = h.seen[in.u8() % h.seen.size()];  // a copy: seen grows
                    h.to_server(p, again);
                }
                break;
            case 4: {  // a real client handshakes from this port, then the input writes records
                h.real_ports.insert(p);
                auto& c = h.clients[static_cast<std::uint8_t>(p.port - 40000)];
                if (!c) {
                    c = std::make_unique<DtlsLayer>();
                    FUZZ_CHECK(c->init(config(false, stack, rpk), error));
                }
                const std::vector<std::uint8_t> text = in.bytes(200);
                c->write(h.now, kServer, coap::Bytes(text.data(), text.size()), h.from(p));
                h.deliver();
                // A record of the input's in the session's epoch (header 23, 254 253, epoch 1).
                std::vector<std::uint8_t> rec = {23, 254, 253, 0, 1};
                const std::vector<std::uint8_t> body = in.bytes(300);
                rec.insert(rec.end(), body.begin(), body.end());
                h.to_server(p, rec);
                break;
            }
            case 5:  // time passes: retransmissions, give-ups
                h.now += coap::Duration::milliseconds(in.u16());
                h.server.handle_timeouts(h.now, h.from(kServer));
                h.deliver();
                break;
        }
        h.queue.clear();  // the server's answers to forged sources go nowhere
        h.check();
    }
    return 0;
}
