#include "mixes.h"

#include <cstdlib>

#include "pcap.h"

#include "coap/codec/builder.h"
#include "coap/common/random.h"
#include "coap/endpoint/endpoint.h"
#include "coap/options/registry.h"

namespace coapbed::bench {

namespace {

std::vector<std::uint8_t> build(const coap::MessageBuilder& b) {
    std::vector<std::uint8_t> out(b.encoded_size());
    const auto r = b.build(coap::MutableBytes(out.data(), out.size()));
    out.resize(r.ok() ? r.size : 0);
    return out;
}

void add(Mix& mix, std::vector<std::uint8_t> bytes) {
    coap::MessageView v;
    if (!coap::parse(coap::Bytes(bytes.data(), bytes.size()), v).ok()) return;
    mix.messages.push_back(coap::to_message(v));
    mix.bytes += bytes.size();
    mix.datagrams.push_back(std::move(bytes));
}

Mix con_get(coap::Random& rng) {
    Mix m{"con-get", {}, {}, 0, {}};
    static const char* const kPaths[][2] = {{"sensors", "temp"}, {"sensors", "hum"}, {"actuators", "led"},
                                            {".well-known", "core"}};
    for (int i = 0; i < 64; ++i) {
        coap::MessageBuilder b(coap::MessageType::Con, coap::codes::kGet, static_cast<std::uint16_t>(rng.next_u64()));
        std::uint8_t token[4];
        rng.fill(token, 4);
        (void)b.set_token(coap::Bytes(token, 4));
        (void)b.add_option(coap::options::kUriPath, std::string_view(kPaths[i % 4][0]));
        (void)b.add_option(coap::options::kUriPath, std::string_view(kPaths[i % 4][1]));
        if (i % 3 == 0) (void)b.add_uint(coap::options::kAccept, 50);
        add(m, build(b));
    }
    return m;
}

Mix piggybacked(coap::Random& rng) {
    Mix m{"piggybacked-content", {}, {}, 0, {}};
    for (int i = 0; i < 64; ++i) {
        coap::MessageBuilder b(coap::MessageType::Ack, coap::codes::kContent, static_cast<std::uint16_t>(rng.next_u64()));
        std::uint8_t token[4];
        rng.fill(token, 4);
        (void)b.set_token(coap::Bytes(token, 4));
        (void)b.add_uint(coap::options::kContentFormat, 50);
        (void)b.add_uint(coap::options::kMaxAge, 60);
        std::string payload = "{\"t\":" + std::to_string(20 + i % 10) + ".5,\"u\":\"C\",\"id\":\"node-" +
                              std::to_string(i) + "\"}";
        b.set_payload(coap::Bytes(std::string_view(payload)));
        add(m, build(b));
    }
    return m;
}

Mix notification(coap::Random& rng) {
    Mix m{"observe-notification", {}, {}, 0, {}};
    for (int i = 0; i < 64; ++i) {
        coap::MessageBuilder b(i % 8 == 0 ? coap::MessageType::Con : coap::MessageType::Non, coap::codes::kContent,
                               static_cast<std::uint16_t>(rng.next_u64()));
        std::uint8_t token[8];
        rng.fill(token, 8);
        (void)b.set_token(coap::Bytes(token, 8));
        (void)b.add_uint(coap::options::kObserve, 1000 + i);
        (void)b.add_uint(coap::options::kContentFormat, 0);
        const std::string payload = std::to_string(1000 + i * 7);
        b.set_payload(coap::Bytes(std::string_view(payload)));
        add(m, build(b));
    }
    return m;
}

Mix block_request(coap::Random& rng) {
    Mix m{"block-request", {}, {}, 0, {}};
    std::vector<std::uint8_t> chunk(256);
    rng.fill(chunk.data(), chunk.size());
    for (int i = 0; i < 64; ++i) {
        coap::MessageBuilder b(coap::MessageType::Con, coap::codes::kPut, static_cast<std::uint16_t>(rng.next_u64()));
        std::uint8_t token[8];
        rng.fill(token, 8);
        (void)b.set_token(coap::Bytes(token, 8));
        (void)b.add_option(coap::options::kUriHost, std::string_view("gateway.example.org"));
        (void)b.add_option(coap::options::kUriPath, std::string_view("firmware"));
        (void)b.add_option(coap::options::kUriPath, std::string_view("image"));
        (void)b.add_uint(coap::options::kContentFormat, 42);
        (void)b.add_uint(coap::options::kBlock1, (static_cast<std::uint32_t>(i) << 4) | 0x08 | 4);
        (void)b.add_uint(coap::options::kSize1, 16384);
        const std::uint8_t tag[2] = {0x5a, static_cast<std::uint8_t>(i)};
        (void)b.add_option(coap::options::kRequestTag, coap::Bytes(tag, 2));  // number 292: extended delta
        b.set_payload(coap::Bytes(chunk.data(), chunk.size()));
        add(m, build(b));
    }
    return m;
}

Mix empty_ack_rst(coap::Random& rng) {
    Mix m{"empty-ack-rst", {}, {}, 0, {}};
    for (int i = 0; i < 64; ++i) {
        const auto mid = static_cast<std::uint16_t>(rng.next_u64());
        add(m, {static_cast<std::uint8_t>(i % 4 == 3 ? 0x70 : 0x60), 0x00, static_cast<std::uint8_t>(mid >> 8),
                static_cast<std::uint8_t>(mid)});
    }
    return m;
}

// Every datagram of a seeded in-memory run: two endpoints, 10 % loss, 30 GETs, a
// 4 KiB block-wise download and an observation with 20 notifications.
Mix sim() {
    Mix m{"sim", {}, {}, 0, {}};
    coap::Xoshiro256 rng_c(11), rng_s(12), loss(13);
    coap::Endpoint client({}, rng_c), server({}, rng_s);
    const coap::Peer c = coap::Peer::ipv4(0x0a000001, 5683), s = coap::Peer::ipv4(0x0a000002, 5683);
    int value = 0;
    coap::ResourceConfig temp;
    temp.observable = true;
    temp.handler = [&](const coap::IncomingRequest&) {
        coap::Response r = coap::Response::with(coap::codes::kContent, std::to_string(200 + value));
        r.content_format = 0;
        r.max_age = 30;
        return r;
    };
    (void)server.add_resource("sensors/temp", temp);
    coap::ResourceConfig fw;
    fw.handler = [](const coap::IncomingRequest&) {
        coap::Response r;
        r.payload.assign(4096, 0xa5);
        r.content_format = 42;
        return r;
    };
    (void)server.add_resource("fw", fw);
    coap::TimePoint now;
    auto pump = [&] {
        for (int round = 0; round < 10000; ++round) {
            bool moved = false;
            while (auto t = client.poll_transmit()) {
                moved = true;
                add(m, t->bytes);
                if (loss.unit() >= 0.1) server.handle_datagram(now, c, coap::Bytes(t->bytes.data(), t->bytes.size()));
            }
            while (auto t = server.poll_transmit()) {
                moved = true;
                add(m, t->bytes);
                if (loss.unit() >= 0.1) client.handle_datagram(now, s, coap::Bytes(t->bytes.data(), t->bytes.size()));
            }
            while (client.poll_event()) {
            }
            if (moved) continue;
            auto tc = client.poll_timeout();
            auto ts = server.poll_timeout();
            if (!tc && !ts) break;
            now = tc && (!ts || *tc < *ts) ? *tc : *ts;
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    };
    for (int i = 0; i < 30; ++i) (void)client.send_request(now, s, coap::Request().path("sensors/temp"));
    pump();
    (void)client.send_request(now, s, coap::Request().path("fw"));
    pump();
    coap::Request obs;
    obs.path("sensors/temp");
    obs.observe = true;
    (void)client.send_request(now, s, std::move(obs));
    pump();
    for (int i = 0; i < 20; ++i) {
        ++value;
        now += coap::Duration::seconds(5);
        server.notify(now, "sensors/temp");
        pump();
    }
    return m;
}

// Every CoAP datagram of the capture bench/data/bench-mix.pcap (or the file
// $COAPBED_BENCH_PCAP names), in capture order.
Mix sim_pcap() {
    Mix m{"sim-pcap", {}, {}, 0, {}};
    const char* env = std::getenv("COAPBED_BENCH_PCAP");
    const PcapPayloads p = read_udp_payloads(env != nullptr ? env : COAPBED_BENCH_PCAP, 5683);
    if (!p.error.empty()) {
        m.error = p.error;
        return m;
    }
    for (const auto& d : p.payloads) add(m, d);
    if (m.datagrams.size() != p.payloads.size()) m.error = "a datagram of the capture is not a valid CoAP message";
    return m;
}

}  // namespace

const std::vector<Mix>& message_mixes() {
    static const std::vector<Mix> mixes = [] {
        coap::Xoshiro256 rng(20261128);
        return std::vector<Mix>{con_get(rng), piggybacked(rng), notification(rng), block_request(rng),
                                empty_ack_rst(rng), sim(), sim_pcap()};
    }();
    return mixes;
}

const std::vector<UriMix>& uri_mixes() {
    static const std::vector<UriMix> mixes = {{"typical",
                                               {"coap://example.com/sensors/temp",
                                                "coap://[2001:db8::1]:5683/.well-known/core?rt=temperature",
                                                "coaps://node-17.example.org:61616/a/b/c/d?x=1&y=2",
                                                "coap://192.0.2.10/s/t%20x/%7Euser",
                                                "coap://gateway.example.org/firmware/image?version=2.1.7&force",
                                                "coap://[fe80::1]/actuators/led",
                                                "coap://localhost:5683/",
                                                "coaps://sensor.iot.example.net/rooms/12/temperature?unit=C"}}};
    return mixes;
}

}  // namespace coapbed::bench
