// Fuzz target: a stateful script against two endpoints (a client A and a server B)
// and a few attacker addresses. The fuzzer chooses datagrams (raw or spoofed), which
// of the endpoints' own datagrams are delivered, lost or corrupted, how time advances
// and which application calls are made. After every step: every table within its
// bound, no deadline in the past after handle_timeout, no event for an unknown request.
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <array>
#include <memory>

#include "byte_reader.h"
#include "check.h"
#include "coap/endpoint/endpoint.h"
#include "coap/options/registry.h"

namespace {

using coap::Duration;
using coap::TimePoint;

coap::EndpointConfig small_config() {
    coap::EndpointConfig c;
    c.dedup_capacity = 8;
    c.max_peers = 4;
    c.max_exchanges = 8;
    c.max_queue_per_peer = 4;
    c.max_outstanding = 8;
    c.max_server_exchanges = 4;
    c.max_transmits = 64;
    c.max_events = 64;
    c.max_body = 8192;
    c.max_block1_transfers = 2;
    c.max_observers_per_resource = 2;
    c.params.nstart = 2;
    return c;
}

/// Not cryptography: a keyed FNV-1a spread over 32 bytes, so the harness exercises the
/// Echo paths without OpenSSL (fuzz/build.sh links the engine alone).
class ToyMac final : public coap::MacFunction {
public:
    void mac(coap::Bytes data, std::array<std::uint8_t, 32>& out) const override {
        std::uint64_t h = 0xcbf29ce484222325ull ^ 0x5eed;
        for (std::size_t i = 0; i < data.size(); ++i) h = (h ^ data[i]) * 0x100000001b3ull;
        for (std::size_t i = 0; i < out.size(); ++i) {
            h = (h ^ i) * 0x100000001b3ull;
            out[i] = static_cast<std::uint8_t>(h >> 56);
        }
    }
};

/// B is also a defended server: Echo, the 3x allowance, a rate limit, bounded observers.
coap::EndpointConfig defended_config() {
    coap::EndpointConfig c = small_config();
    c.defences.echo = true;
    c.defences.echo_key = std::make_shared<ToyMac>();
    c.defences.echo_freshness = Duration::seconds(20);
    c.defences.verified_for = Duration::seconds(60);
    c.defences.rate_limit = 20;
    c.defences.max_observations_per_address = 1;
    return c;
}

void check_bounds(const coap::Endpoint& e) {
    const coap::EndpointConfig& c = e.config();
    FUZZ_CHECK(e.dedup_size() <= c.dedup_capacity);
    FUZZ_CHECK(e.peer_count() <= c.max_peers);
    FUZZ_CHECK(e.active_exchanges() <= c.max_exchanges);
    FUZZ_CHECK(e.outstanding_count() <= c.max_outstanding);
    FUZZ_CHECK(e.block1_transfer_count() <= c.max_block1_transfers);
    FUZZ_CHECK(e.cached_response_count() <= c.max_block1_transfers);
    FUZZ_CHECK(e.queued_transmits() <= c.max_transmits);
    FUZZ_CHECK(e.queued_events() <= c.max_events);
    FUZZ_CHECK(e.observer_count("obs") <= c.max_observers_per_resource);
    FUZZ_CHECK(e.defence_entries() <= c.max_peers);
}

struct Harness {
    coap::Xoshiro256 rng_a{1};
    coap::Xoshiro256 rng_b{2};
    coap::Endpoint a{small_config(), rng_a};
    coap::Endpoint b{defended_config(), rng_b};
    coap::Peer addr_a = coap::Peer::ipv4(0x0a000001, 5683);
    coap::Peer addr_b = coap::Peer::ipv4(0x0a000002, 5683);
    TimePoint now;
    std::deque<coap::Transmit> from_a, from_b;
    std::map<std::uint64_t, bool> live;  // request id -> is an observe request
    std::set<std::uint64_t> established;    // observations the client confirmed
    std::set<std::uint64_t> deregistering;  // cancelled with a GET Observe: 1
    std::set<std::uint64_t> pings;
    std::vector<std::uint64_t> ids;
    std::vector<std::uint64_t> deferred;
    int counter = 0;

    Harness() {
        coap::ResourceConfig text;
        text.methods = coap::methods::kAll;
        text.multicast = true;
        text.handler = [](const coap::IncomingRequest&) { return coap::Response::with(coap::codes::kContent, "x"); };
        (void)b.add_resource("r", text);
        coap::ResourceConfig big;
        big.handler = [](const coap::IncomingRequest&) {
            coap::Response r;
            r.payload.assign(3000, 'b');
            return r;
        };
        (void)b.add_resource("big", big);
        coap::ResourceConfig obs;
        obs.observable = true;
        obs.multicast = true;
        obs.handler = [this](const coap::IncomingRequest&) {
            return coap::Response::with(counter % 7 == 6 ? coap::codes::kNotFound : coap::codes::kContent,
                                        std::string(static_cast<std::size_t>(counter % 3) * 700, 'o'));
        };
        (void)b.add_resource("obs", obs);
        coap::ResourceConfig slow;
        slow.handler = [this](const coap::IncomingRequest& in) {
            deferred.push_back(in.exchange_id);
            return coap::HandlerResult::defer();
        };
        (void)b.add_resource("slow", slow);
        coap::ResourceConfig sink;
        sink.methods = coap::methods::kPost | coap::methods::kPut;
        sink.handler = [](const coap::IncomingRequest& in) {
            FUZZ_CHECK(in.payload.size() <= 8192);
            coap::Response r;
            r.code = coap::codes::kChanged;
            r.payload.assign(in.payload.size() / 2, 's');
            return r;
        };
        (void)b.add_resource("sink", sink);
    }

    void drain() {
        while (auto t = a.poll_transmit()) {
            from_a.push_back(std::move(*t));
            if (from_a.size() > 64) from_a.pop_front();
        }
        while (auto t = b.poll_transmit()) {
            from_b.push_back(std::move(*t));
            if (from_b.size() > 64) from_b.pop_front();
        }
        while (auto e = a.poll_event()) {
            switch (e->kind) {
                case coap::EventKind::Pong:
                    FUZZ_CHECK(pings.erase(e->id) == 1);
                    break;
                case coap::EventKind::RequestFailed:
                    if (pings.erase(e->id) == 1) break;
                    FUZZ_CHECK(live.erase(e->id) == 1);
                    break;
                case coap::EventKind::Response: {
                    auto it = live.find(e->id);
                    FUZZ_CHECK(it != live.end());
                    bool has_observe = false;
                    for (const auto& o : e->message.options) has_observe |= o.number == coap::options::kObserve;
                    // RFC 7641 §3.1: only a 2.xx response with Observe establishes the observation.
                    if (it->second && has_observe && e->message.code.cls() == 2 && deregistering.count(e->id) == 0) {
                        established.insert(e->id);  // the observation is up; the request stays live
                    } else {
                        live.erase(it);
                    }
                    FUZZ_CHECK(e->message.payload.size() <= a.config().max_body);
                    break;
                }
                case coap::EventKind::Notification:
                    FUZZ_CHECK(live.count(e->id) == 1 && established.count(e->id) == 1);
                    FUZZ_CHECK(deregistering.count(e->id) == 0);
                    break;
                case coap::EventKind::ObservationEnded:
                    FUZZ_CHECK(live.erase(e->id) == 1);
                    break;
                case coap::EventKind::SeparateResponseFailed:
                    FUZZ_CHECK(false);  // A never sends separate responses
                    break;
            }
        }
        while (auto e = b.poll_event()) {
            // B only serves: it may report a failed separate response or notification.
            FUZZ_CHECK(e->kind == coap::EventKind::SeparateResponseFailed);
        }
        check_bounds(a);
        check_bounds(b);
    }

    coap::Peer source(std::uint8_t k) {
        switch (k % 6) {
            case 0: return addr_a;
            case 1: return addr_b;
            default: return coap::Peer::ipv4(0x0b000000 + (k % 6), static_cast<std::uint16_t>(1000 + k % 3));
        }
    }

    coap::Request request(coapbed::fuzz::ByteReader& in) {
        static const char* const kPaths[] = {"r", "big", "obs", "slow", "sink", "missing"};
        coap::Request r;
        const std::uint8_t v = in.u8();
        r.path(kPaths[v % 6]);
        r.confirmable = (v & 0x40) == 0;
        const std::uint8_t m = in.u8() % 4;
        r.method = m == 0 ? coap::codes::kGet : m == 1 ? coap::codes::kPost : m == 2 ? coap::codes::kPut : coap::codes::kFetch;
        r.observe = (v & 0x80) != 0;
        if (in.flag()) r.block2_szx = static_cast<std::uint8_t>(in.u8() % 7);
        r.payload.assign(static_cast<std::size_t>(in.u16() % 6000), 'p');
        return r;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coapbed::fuzz::ByteReader in(data, size);
    Harness h;
    for (int step = 0; step < 400 && !in.empty(); ++step) {
        switch (in.u8() % 10) {
            case 0: {  // a raw datagram to B, sometimes through a multicast group
                const std::uint8_t k = in.u8();
                const coap::Peer from = h.source(k);
                const auto bytes = in.bytes(300);
                if (k & 0x80) {
                    h.b.handle_multicast_datagram(h.now, from, coap::Bytes(bytes.data(), bytes.size()));
                } else {
                    h.b.handle_datagram(h.now, from, coap::Bytes(bytes.data(), bytes.size()));
                }
                break;
            }
            case 1: {  // a raw datagram to A
                const coap::Peer from = h.source(in.u8());
                const auto bytes = in.bytes(300);
                h.a.handle_datagram(h.now, from, coap::Bytes(bytes.data(), bytes.size()));
                break;
            }
            case 2: {  // time passes
                const std::uint16_t d = in.u16();
                h.now += in.flag() ? Duration::milliseconds(d) : Duration::seconds(d % 600);
                break;
            }
            case 3: {  // timers
                h.a.handle_timeout(h.now);
                h.b.handle_timeout(h.now);
                h.drain();
                for (const coap::Endpoint* e : {&h.a, &h.b}) {
                    if (auto t = e->poll_timeout()) FUZZ_CHECK(*t > h.now);
                }
                break;
            }
            case 4: {
                coap::Request r = h.request(in);
                const bool observe = r.observe;
                const coap::SendResult s = h.a.send_request(h.now, h.addr_b, std::move(r));
                if (s.ok()) {
                    h.live[s.id] = observe;
                    h.ids.push_back(s.id);
                }
                break;
            }
            case 5: {
                if (h.ids.empty()) break;
                const std::uint64_t id = h.ids[in.u8() % h.ids.size()];
                const bool known = h.live.count(id) == 1;
                const bool deregister = in.flag();
                FUZZ_CHECK((h.a.cancel(h.now, id, deregister) == coap::ApiError::Ok) == known);
                if (known && deregister && h.established.count(id) == 1) h.deregistering.insert(id);
                break;
            }
            case 6:
                ++h.counter;
                h.b.notify(h.now, "obs");
                break;
            case 7: {
                if (h.deferred.empty()) break;
                const std::uint64_t id = h.deferred[in.u8() % h.deferred.size()];
                (void)h.b.respond(h.now, id, coap::Response::with(coap::codes::kContent, "late"));
                break;
            }
            case 8: {
                const coap::SendResult s = h.a.ping(h.now, h.addr_b);
                if (s.ok()) h.pings.insert(s.id);
                break;
            }
            case 9: {  // deliver, lose or corrupt what the endpoints sent
                const std::uint8_t mask = in.u8();
                for (int k = 0; k < 8; ++k) {
                    auto& queue = (k & 1) ? h.from_b : h.from_a;
                    if (queue.empty()) continue;
                    coap::Transmit t = std::move(queue.front());
                    queue.pop_front();
                    if (((mask >> k) & 1) == 0) continue;  // lost
                    if (in.flag() && !t.bytes.empty()) t.bytes[in.u8() % t.bytes.size()] ^= in.u8();
                    const coap::Peer sender = (k & 1) ? h.addr_b : h.addr_a;
                    coap::Endpoint& to = t.peer == h.addr_a ? h.a : h.b;
                    if (t.peer == h.addr_a || t.peer == h.addr_b) {
                        to.handle_datagram(h.now, sender, coap::Bytes(t.bytes.data(), t.bytes.size()));
                    }
                }
                break;
            }
        }
        h.drain();
    }
    // Run the clock out: everything must end, and the client must say how.
    for (int i = 0; i < 100000; ++i) {
        auto ta = h.a.poll_timeout();
        auto tb = h.b.poll_timeout();
        if (!ta && !tb) break;
        TimePoint next = ta ? *ta : *tb;
        if (tb && *tb < next) next = *tb;
        if (next > h.now) h.now = next;  // deadlines may have passed while the script skipped timers
        h.a.handle_timeout(h.now);
        h.b.handle_timeout(h.now);
        h.from_a.clear();
        h.from_b.clear();
        h.drain();
    }
    if (h.a.stats().events_dropped == 0) {
        for (const auto& [id, observe] : h.live) FUZZ_CHECK(observe);  // only observations outlive the clock
        FUZZ_CHECK(h.pings.empty());
    }
    return 0;
}
