// The forward proxy's test wire (tests/forward_proxy_test.cc, forward_proxy_observe_test.cc):
// a client (and a second one), the proxy and an origin with the resources the tests ask for,
// on a lossless wire whose `drop` can hold back datagrams; and helpers to read events.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/proxy/forward_proxy.h"
#include "proxy_test_util.h"

namespace coapbed::test {

using coap::Duration;
using coap::TimePoint;


using coap::proxy::ForwardProxy;
using Side = coap::proxy::ForwardProxy::Side;

const coap::Peer kC = coap::Peer::ipv4(0x0a000001, 40000);   // the client
const coap::Peer kC2 = coap::Peer::ipv4(0x0a000004, 40001);  // a second client (observe)
const coap::Peer kPD = coap::Peer::ipv4(0x0a000002, 5683);   // the proxy, downstream socket
const coap::Peer kPU = coap::Peer::ipv4(0x0a000002, 41000);  // the proxy, upstream socket
const coap::Peer kO = coap::Peer::ipv4(0x0a000003, 5683);    // the origin

inline coap::EndpointConfig patient() {
    coap::EndpointConfig c;
    c.separate_response_timeout = Duration::seconds(300);  // the client outwaits the proxy's upstream give-up
    c.params.nstart = 8;  // several requests to the proxy at once (coalescing)
    return c;
}

inline coap::proxy::ProxyConfig proxy_config() {
    coap::proxy::ProxyConfig p;
    p.local_host = "10.0.0.2";
    p.local_port = 5683;
    return p;
}

/// A client, the proxy and an origin on a lossless wire; `drop` can hold back datagrams.
struct ProxyNet {
    coap::Xoshiro256 rc{1}, rd{2}, ru{3}, ro{4}, rc2{5};
    coap::Endpoint client{patient(), rc};
    coap::Endpoint client2{patient(), rc2};
    ForwardProxy proxy;
    coap::Endpoint origin{coap::EndpointConfig{}, ro};
    TimePoint now = TimePoint::from_ns(1'000'000'000);
    std::vector<coap::Event> events;                   // the client's
    std::vector<coap::Event> events2;                  // the second client's
    int observed_value = 0;                            // the origin's /obs
    std::size_t observed_size = 0;                     // /obs padded to this many bytes
    std::vector<std::vector<std::uint8_t>> upstream;   // proxy -> origin datagrams
    std::function<bool(const coap::Peer& from, const coap::Peer& to)> drop;
    int origin_calls = 0;
    std::string body = "hello";
    std::uint32_t max_age = 60;

    explicit ProxyNet(coap::proxy::ProxyConfig pc = proxy_config())
        : proxy(coap::EndpointConfig{}, coap::EndpointConfig{}, std::move(pc), rd, ru) {
        coap::ResourceConfig t;
        t.methods = coap::methods::kGet | coap::methods::kPut | coap::methods::kFetch;
        t.handler = [this](const coap::IncomingRequest& in) {
            ++origin_calls;
            if (in.method == coap::codes::kPut) return coap::HandlerResult(coap::Response::with(coap::codes::kChanged));
            coap::Response r = coap::Response::with(coap::codes::kContent, body);
            r.max_age = max_age;
            r.options.push_back(opt(coap::options::kETag, "v1"));
            // §5.10.6.2: a request that names the current ETag gets 2.03.
            for (std::size_t i = 0; in.message != nullptr && i < in.message->option_count(); ++i) {
                if (in.message->option(i).number == coap::options::kETag && in.message->option(i).value.as_chars() == "v1") {
                    coap::Response valid;
                    valid.code = coap::codes::kValid;
                    valid.max_age = 30;
                    valid.options.push_back(opt(coap::options::kETag, "v1"));
                    return coap::HandlerResult(valid);
                }
            }
            return coap::HandlerResult(r);
        };
        EXPECT_EQ(origin.add_resource("t", t), coap::ApiError::Ok);
        coap::ResourceConfig big;
        big.handler = [this](const coap::IncomingRequest&) {
            ++origin_calls;
            std::string b;
            for (int i = 0; b.size() < 3000; ++i) b += "line " + std::to_string(i) + "\n";
            b.resize(3000);
            return coap::Response::with(coap::codes::kContent, b);
        };
        EXPECT_EQ(origin.add_resource("big", big), coap::ApiError::Ok);
        coap::ResourceConfig fresh_never;  // block-wise, Max-Age 0: never cached
        fresh_never.handler = [this](const coap::IncomingRequest&) {
            ++origin_calls;
            coap::Response r = coap::Response::with(coap::codes::kContent, std::string(2500, 'z'));
            r.max_age = 0;
            return r;
        };
        EXPECT_EQ(origin.add_resource("live", fresh_never), coap::ApiError::Ok);
        coap::ResourceConfig odd;
        odd.handler = [this](const coap::IncomingRequest&) {
            ++origin_calls;
            coap::Response r = coap::Response::with(coap::codes::kContent, "odd");
            r.options.push_back(opt(65002, "u"));  // unregistered, unsafe to forward
            return r;
        };
        EXPECT_EQ(origin.add_resource("odd", odd), coap::ApiError::Ok);
        coap::ResourceConfig obs;  // observable (RFC 7641)
        obs.observable = true;
        obs.handler = [this](const coap::IncomingRequest&) {
            if (observed_value < 0) return coap::Response::with(coap::codes::kNotFound);  // gone
            std::string v = "v" + std::to_string(observed_value);
            if (v.size() < observed_size) v.resize(observed_size, static_cast<char>('a' + observed_value % 26));
            return coap::Response::with(coap::codes::kContent, v);
        };
        EXPECT_EQ(origin.add_resource("obs", obs), coap::ApiError::Ok);
        coap::ResourceConfig silent;
        silent.handler = [](const coap::IncomingRequest&) { return coap::HandlerResult::defer(); };
        EXPECT_EQ(origin.add_resource("silent", silent), coap::ApiError::Ok);
    }

    bool blocked(const coap::Peer& from, const coap::Peer& to) const { return drop && drop(from, to); }

    void flush() {
        coap::Transmit t;
        for (bool any = true; any;) {
            any = false;
            while (client.poll_transmit(t)) {
                any = true;
                if (!blocked(kC, t.peer)) proxy.handle_datagram(now, Side::Down, kC, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            while (client2.poll_transmit(t)) {
                any = true;
                proxy.handle_datagram(now, Side::Down, kC2, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            while (origin.poll_transmit(t)) {
                any = true;
                if (!blocked(kO, t.peer)) proxy.handle_datagram(now, Side::Up, kO, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            Side side;
            while (proxy.poll_transmit(side, t)) {
                any = true;
                if (side == Side::Down && t.peer == kC2) {
                    client2.handle_datagram(now, kPD, coap::Bytes(t.bytes.data(), t.bytes.size()));
                } else if (side == Side::Down) {
                    if (!blocked(kPD, t.peer)) client.handle_datagram(now, kPD, coap::Bytes(t.bytes.data(), t.bytes.size()));
                } else if (t.peer == kO) {  // (an RST to a forger's port goes nowhere)
                    upstream.push_back(t.bytes);
                    if (!blocked(kPU, t.peer)) origin.handle_datagram(now, kPU, coap::Bytes(t.bytes.data(), t.bytes.size()));
                }
            }
            coap::Event e;
            while (client.poll_event(e)) events.push_back(e);
            while (client2.poll_event(e)) events2.push_back(e);
            while (origin.poll_event(e)) {
            }
        }
    }

    void run_for(Duration d) {
        const TimePoint end = now + d;
        flush();
        while (true) {
            std::optional<TimePoint> next = client.poll_timeout();
            for (const auto& t : {origin.poll_timeout(), proxy.poll_timeout(), client2.poll_timeout()}) {
                if (t && (!next || *t < *next)) next = t;
            }
            if (!next || *next > end) break;
            now = std::max(now, *next);
            client.handle_timeout(now);
            client2.handle_timeout(now);
            origin.handle_timeout(now);
            proxy.handle_timeout(now);
            flush();
        }
        now = end;
    }

    /// Sends a request through the proxy and returns the client's event for it.
    coap::Event get(std::vector<coap::OwnedOption> options, coap::Code method = coap::codes::kGet, std::string payload = {}) {
        coap::Request r;
        r.method = method;
        r.options = std::move(options);
        r.payload.assign(payload.begin(), payload.end());
        const auto sent = client.send_request(now, kPD, std::move(r));
        EXPECT_TRUE(sent.ok());
        run_for(Duration::seconds(1));
        for (const auto& e : events) {
            if (e.id == sent.id) return e;
        }
        run_for(Duration::seconds(300));
        for (const auto& e : events) {
            if (e.id == sent.id) return e;
        }
        ADD_FAILURE() << "no answer";
        return {};
    }
    coap::Event get(std::string_view uri) { return get({opt(coap::options::kProxyUri, uri)}); }
};

inline std::string text(const coap::Event& e) { return std::string(e.message.payload.begin(), e.message.payload.end()); }

inline std::optional<std::uint64_t> uint_of(const coap::Message& m, std::uint16_t number) {
    for (const auto& o : m.options) {
        if (o.number == number) return coap::decode_uint(coap::Bytes(o.value.data(), o.value.size()));
    }
    return std::nullopt;
}

inline coap::Message parsed(const std::vector<std::uint8_t>& d) {
    coap::MessageView v;
    EXPECT_TRUE(coap::parse(coap::Bytes(d.data(), d.size()), v).ok());
    coap::Message m;
    m.code = v.code();
    m.token.assign(v.token().begin(), v.token().end());
    for (std::size_t i = 0; i < v.option_count(); ++i) m.options.push_back({v.option(i).number, std::vector<std::uint8_t>(v.option(i).value.begin(), v.option(i).value.end())});
    return m;
}


}  // namespace coapbed::test
