// Fuzz target: a stateful script against the forward proxy (src/coap/proxy/forward_proxy.h)
// from both sides. The fuzzer chooses proxy requests from four clients (targets from a
// small set or raw Proxy-Uri bytes, Hop-Limit, ETag, Block2, Observe 0/1, method), raw
// datagrams on either side, responses "from the origin" (to the token of an upstream
// request it saw, or a guessed one, from the origin's port or another; with Observe: a
// notification), and how time advances. After
// every step (PROXY.md §6.8): every table within its bound; every upstream request has a
// Hop-Limit (1-254), an 8-byte token, and no Proxy-* or unknown unsafe option; at the
// end, given time, no upstream exchange is left in flight. With per-exchange upstream
// ports (chosen by the input's last byte, as is pass-through block-wise) responses go to the port of the request whose
// token they carry, or to another; a port is open only while its exchange is. (That an upstream token is
// never the client's is a unit test: the random sources are seeded here, so the fuzzer
// learns the upstream tokens and can send them as its own.)
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "byte_reader.h"
#include "check.h"
#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/proxy/forward_proxy.h"

namespace {

using coap::Duration;
using coap::TimePoint;
using Side = coap::proxy::ForwardProxy::Side;

const coap::Peer kOrigin = coap::Peer::ipv4(0x0a000003, 5683);

coap::EndpointConfig small_config() {
    coap::EndpointConfig c;
    c.dedup_capacity = 16;
    c.max_peers = 8;
    c.max_exchanges = 8;
    c.max_queue_per_peer = 4;
    c.max_outstanding = 8;
    c.max_server_exchanges = 6;
    c.max_transmits = 128;
    c.max_events = 64;
    c.max_body = 4096;
    c.max_block1_transfers = 2;
    c.block_szx = 2;  // 64-byte blocks: block-wise paths at small sizes
    return c;
}

coap::proxy::ProxyConfig proxy_config() {
    coap::proxy::ProxyConfig p;
    p.local_host = "10.0.0.2";
    p.cache_config.max_entries = 4;
    p.cache_config.max_entry_bytes = 1024;
    p.cache_config.max_total_bytes = 2048;
    p.cache_config.max_freshness = Duration::seconds(100);
    p.max_inflight = 3;
    p.max_waiters_per_exchange = 2;
    p.max_transfers = 2;
    p.max_transfer_bytes = 4096;
    p.max_observations = 2;
    return p;
}

coap::OwnedOption text(std::uint16_t n, const std::string& v) { return {n, std::vector<std::uint8_t>(v.begin(), v.end())}; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coapbed::fuzz::ByteReader in(data, size);
    coap::Xoshiro256 rd(1), ru(2);
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.ports.per_exchange = size > 0 && (data[size - 1] & 1) != 0;
    if (size > 0 && (data[size - 1] & 2) != 0) pc.blockwise = coap::proxy::ProxyConfig::Blockwise::PassThrough;
    pc.ports.first = 50000;
    pc.ports.count = 64;
    pc.ports.max_ports = 4;
    coap::proxy::ForwardProxy proxy(small_config(), small_config(), pc, rd, ru);
    TimePoint now = TimePoint::from_ns(1'000'000'000);
    std::vector<std::vector<std::uint8_t>> upstream_tokens;
    std::vector<std::uint16_t> upstream_ports;  // the port each of upstream_tokens left from
    std::uint16_t mid = 1;
    const char* targets[] = {"coap://10.0.0.3/a", "coap://10.0.0.3/b?x", "coap://10.0.0.3:5683/a/../b", "coap://10.0.0.2/self"};

    auto drain = [&] {
        Side side;
        coap::Transmit t;
        std::uint16_t port = 0;
        while (proxy.poll_transmit(side, port, t)) {
            coap::MessageView v;
            if (!coap::parse(coap::Bytes(t.bytes.data(), t.bytes.size()), v).ok()) FUZZ_CHECK(false);
            if (side == Side::Up) {
                if (pc.ports.per_exchange) {
                    FUZZ_CHECK(port >= 50000 && port < 50064);
                    FUZZ_CHECK(proxy.ports().is_open(port) || !v.code().is_request());
                } else {
                    FUZZ_CHECK(port == 0);
                }
                if (!v.code().is_request()) continue;  // ACK/RST to the origin side
                FUZZ_CHECK(t.peer != coap::Peer::ipv4(0x0a000002, 5683));  // never to itself (§5.10.2)
                const std::vector<std::uint8_t> tok(v.token().begin(), v.token().end());
                FUZZ_CHECK(tok.size() == 8);
                const std::size_t h = v.find(coap::options::kHopLimit);
                FUZZ_CHECK(h < v.option_count());
                const auto hop = coap::decode_uint(v.option(h).value);
                FUZZ_CHECK(hop && *hop >= 1 && *hop <= 254);  // inserted 16, or the client's less one
                for (std::size_t i = 0; i < v.option_count(); ++i) {
                    const std::uint16_t n = v.option(i).number;
                    FUZZ_CHECK(!(coap::find_option(n) == nullptr && coap::is_unsafe(n)));
                    FUZZ_CHECK(n != coap::options::kProxyUri && n != coap::options::kProxyScheme);
                }
                if (upstream_tokens.size() < 16) {
                    upstream_tokens.push_back(tok);
                    upstream_ports.push_back(port);
                }
            }
        }
        FUZZ_CHECK(proxy.inflight() <= pc.max_inflight);
        FUZZ_CHECK(proxy.cache().size() <= pc.cache_config.max_entries);
        FUZZ_CHECK(proxy.cache().total_bytes() <= pc.cache_config.max_total_bytes);
        FUZZ_CHECK(proxy.transfers() <= pc.max_transfers);
        FUZZ_CHECK(proxy.observations() <= pc.max_observations);
        FUZZ_CHECK(proxy.ports().open_ports() <= pc.ports.max_ports);
        FUZZ_CHECK(proxy.ports().open_ports() <= proxy.upstream().active_exchanges());  // none outlives its exchange
        FUZZ_CHECK(proxy.downstream().queued_events() <= 64 && proxy.upstream().queued_events() <= 64);
    };

    for (int step = 0; step < 200 && !in.empty(); ++step) {
        const std::uint8_t op = in.u8() % 6;
        if (op == 0 || op == 1) {  // a proxy request from one of four clients
            const coap::Peer client = coap::Peer::ipv4(0x0a000010 + (in.u8() & 3), 40000);
            coap::Message m;
            m.type = in.flag() ? coap::MessageType::Con : coap::MessageType::Non;
            const std::uint8_t method = in.u8() % 8;
            m.code = coap::Code::make(0, method == 0 ? 1 : method);
            m.message_id = mid++;
            m.token = in.bytes(8);
            if (op == 0) {
                m.options.push_back(text(coap::options::kProxyUri, targets[in.u8() % 4]));
            } else {
                const auto raw = in.bytes(64);
                m.options.push_back({coap::options::kProxyUri, raw.empty() ? std::vector<std::uint8_t>{'x'} : raw});
            }
            const std::uint8_t extras = in.u8();
            if (extras & 1) m.options.push_back({coap::options::kHopLimit, coap::encode_uint(in.u8())});
            if (extras & 2) m.options.push_back({coap::options::kETag, in.bytes(8)});
            if (extras & 4) m.options.push_back({coap::options::kBlock2, coap::encode_uint(in.u16() & 0x3ff)});
            if (extras & 8) m.options.push_back({static_cast<std::uint16_t>(in.u16()), in.bytes(4)});
            if (extras & 16) m.payload = in.bytes(200);
            if (extras & 32) m.options.push_back({coap::options::kObserve, coap::encode_uint((extras & 64) ? 1 : 0)});
            std::stable_sort(m.options.begin(), m.options.end(), [](const auto& a, const auto& b) { return a.number < b.number; });
            const std::vector<std::uint8_t> wire = coap::encode(m);
            if (!wire.empty()) proxy.handle_datagram(now, Side::Down, client, coap::Bytes(wire.data(), wire.size()));
        } else if (op == 2) {  // raw bytes on either side
            const bool up = in.flag();
            const auto raw = in.bytes(300);
            proxy.handle_datagram(now, up ? Side::Up : Side::Down, up ? kOrigin : coap::Peer::ipv4(0x0a000010, 40000),
                                  coap::Bytes(raw.data(), raw.size()));
        } else if (op == 3) {  // a response "from the origin"
            coap::Message r;
            const std::uint8_t kind = in.u8();
            r.type = static_cast<coap::MessageType>(kind & 3);
            r.code = coap::Code::make(2 + (kind >> 2) % 4, in.u8() % 8);
            r.message_id = in.u16();
            std::uint16_t port = 0;
            if (!upstream_tokens.empty() && (kind & 0x40) == 0) {
                const std::size_t k = in.u8() % upstream_tokens.size();
                r.token = upstream_tokens[k];
                port = upstream_ports[k];
            } else {
                r.token = in.bytes(8);
            }
            const std::uint8_t extras = in.u8();
            if (extras & 1) r.options.push_back({coap::options::kMaxAge, coap::encode_uint(in.u32())});
            if (extras & 2) r.options.push_back({coap::options::kETag, in.bytes(8)});
            if (extras & 4) r.options.push_back({coap::options::kBlock2, coap::encode_uint(in.u16() & 0x3ff)});
            if (extras & 8) r.options.push_back({static_cast<std::uint16_t>(in.u16()), in.bytes(4)});
            if (extras & 16) r.options.push_back({coap::options::kObserve, coap::encode_uint(in.u16())});  // a notification
            r.payload = in.bytes(300);
            std::stable_sort(r.options.begin(), r.options.end(), [](const auto& a, const auto& b) { return a.number < b.number; });
            const std::vector<std::uint8_t> wire = coap::encode(r);
            const coap::Peer from = (extras & 0x80) ? coap::Peer::ipv4(0x0a000003, 9999) : kOrigin;
            if (pc.ports.per_exchange && (kind & 0x80)) port = static_cast<std::uint16_t>(50000 + in.u8() % 64);  // another
            if (!wire.empty()) proxy.handle_upstream_datagram(now, port, from, coap::Bytes(wire.data(), wire.size()));
        } else {  // time passes
            now = now + Duration::milliseconds(static_cast<std::int64_t>(in.u16()) * (op == 5 ? 100 : 1));
            proxy.handle_timeout(now);
        }
        drain();
        if (const auto t = proxy.poll_timeout(); t && *t <= now) {
            proxy.handle_timeout(now);
            drain();
        }
    }
    // Given time, everything in flight ends (5.04 or an answer): no exchange is lost.
    for (int k = 0; k < 2000 && proxy.inflight() > 0; ++k) {
        const auto t = proxy.poll_timeout();
        if (!t) break;
        now = *t > now ? *t : now + Duration::milliseconds(1);
        proxy.handle_timeout(now);
        drain();
    }
    FUZZ_CHECK(proxy.inflight() == 0);
    return 0;
}
