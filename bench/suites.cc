// coapbed-bench: parse, build and URI suites side by side with libcoap 4.3, plus
// option lookup and the endpoint round trip. Names are a contract:
//   coapbed/<suite>/<mix> and libcoap/<suite>/<mix> for the suites parse, build, uri
//   and option-lookup; coapbed/uri-compose/<mix>, coapbed/endpoint-roundtrip,
//   coapbed/endpoint-roundtrip-recycled, coapbed/endpoint-roundtrip-kept and
//   coapbed/server-peers/<n> for the rest.
// Every benchmark first checks its output against the other library's (SkipWithError on
// a mismatch), then times; items are messages (or URIs, requests), bytes are datagram
// bytes, and `allocs_per_item` counts heap allocations in the timed loop.
#include <benchmark/benchmark.h>
#include <coap3/coap.h>

#include <cstring>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "coap/codec/builder.h"
#include "coap/codec/writer.h"
#include "coap/endpoint/endpoint.h"
#include "coap/options/registry.h"
#include "coap/uri/uri.h"
#include "mixes.h"

namespace {

using coapbed::bench::Mix;
using coapbed::bench::UriMix;

// ---- checks (run once, before timing) ----------------------------------------------

std::string check_parse(const Mix& mix) {
    if (!mix.error.empty()) return mix.error;
    for (const auto& d : mix.datagrams) {
        coap::MessageView v;
        if (!coap::parse(coap::Bytes(d.data(), d.size()), v).ok()) return "coapbed rejects a mix message";
        coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_EMPTY_CODE, 0, d.size());
        if (pdu == nullptr || !coap_pdu_parse(COAP_PROTO_UDP, d.data(), d.size(), pdu)) {
            coap_delete_pdu(pdu);
            return "libcoap rejects a mix message";
        }
        coap_opt_iterator_t it;
        coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
        std::size_t i = 0;
        bool same = true;
        while (coap_opt_t* o = coap_option_next(&it)) {
            same = same && i < v.option_count() && v.option(i).number == it.number &&
                   v.option(i).value == coap::Bytes(coap_opt_value(o), coap_opt_length(o));
            ++i;
        }
        std::size_t len = 0;
        const std::uint8_t* data = nullptr;
        const bool has = coap_get_data(pdu, &len, &data) != 0;
        same = same && i == v.option_count() && (has ? coap::Bytes(data, len) : coap::Bytes()) == v.payload();
        coap_delete_pdu(pdu);
        if (!same) return "coapbed and libcoap parse a mix message differently";
    }
    return {};
}

coap_pdu_t* libcoap_build(const coap::Message& m) {
    coap_pdu_t* pdu = coap_pdu_init(static_cast<coap_pdu_type_t>(m.type), static_cast<coap_pdu_code_t>(m.code.raw),
                                    m.message_id, 1500);
    if (pdu == nullptr) return nullptr;
    coap_add_token(pdu, m.token.size(), m.token.data());
    for (const auto& o : m.options) coap_add_option(pdu, o.number, o.value.size(), o.value.data());
    if (!m.payload.empty()) coap_add_data(pdu, m.payload.size(), m.payload.data());
    return pdu;
}

std::size_t coapbed_build(const coap::Message& m, std::uint8_t* out, std::size_t cap) {
    coap::MessageWriter w(coap::MutableBytes(out, cap), m.type, m.code, m.message_id,
                          coap::Bytes(m.token.data(), m.token.size()));
    for (const auto& o : m.options) (void)w.add_option(o.number, coap::Bytes(o.value.data(), o.value.size()));
    return w.finish(coap::Bytes(m.payload.data(), m.payload.size())).size;
}

std::string check_build(const Mix& mix) {
    if (!mix.error.empty()) return mix.error;
    std::uint8_t buf[2048];
    for (std::size_t k = 0; k < mix.messages.size(); ++k) {
        const std::size_t n = coapbed_build(mix.messages[k], buf, sizeof buf);
        if (n != mix.datagrams[k].size() || std::memcmp(buf, mix.datagrams[k].data(), n) != 0) {
            return "coapbed builds different bytes";
        }
        coap_pdu_t* pdu = libcoap_build(mix.messages[k]);
        if (pdu == nullptr) return "libcoap cannot build a mix message";
        coap_opt_iterator_t it;
        coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
        std::size_t i = 0;
        bool same = true;
        while (coap_opt_t* o = coap_option_next(&it)) {
            const auto& want = mix.messages[k].options;
            same = same && i < want.size() && want[i].number == it.number &&
                   coap::Bytes(want[i].value.data(), want[i].value.size()) ==
                       coap::Bytes(coap_opt_value(o), coap_opt_length(o));
            ++i;
        }
        same = same && i == mix.messages[k].options.size();
        coap_delete_pdu(pdu);
        if (!same) return "libcoap builds a different option list";
    }
    return {};
}

int our_segments(const std::string& uri, int& queries) {
    coap::UriOptions o;
    if (!coap::decompose_uri(uri, o).ok()) return -1;
    int paths = 0;
    queries = 0;
    for (std::size_t i = 0; i < o.size(); ++i) {
        paths += o[i].number == coap::options::kUriPath;
        queries += o[i].number == coap::options::kUriQuery;
    }
    return paths;
}

int libcoap_split(const std::string& text, int& queries, unsigned char* buf, std::size_t cap) {
    coap_uri_t uri;
    if (coap_split_uri(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), &uri) < 0) return -1;
    std::size_t len = cap;
    const int paths = uri.path.length ? coap_split_path(uri.path.s, uri.path.length, buf, &len) : 0;
    len = cap;
    queries = uri.query.length ? coap_split_query(uri.query.s, uri.query.length, buf, &len) : 0;
    return paths;
}

std::string check_uri(const UriMix& mix) {
    unsigned char buf[1024];
    for (const auto& u : mix.uris) {
        int q1 = 0, q2 = 0;
        const int p1 = our_segments(u, q1);
        const int p2 = libcoap_split(u, q2, buf, sizeof buf);
        if (p1 < 0 || p2 < 0 || p1 != p2 || q1 != q2) return "coapbed and libcoap split '" + u + "' differently";
    }
    return {};
}

// ---- timed loops -------------------------------------------------------------------

void finish(benchmark::State& st, std::size_t items_per_iter, std::size_t bytes_per_iter, std::uint64_t allocs) {
    const auto iters = static_cast<std::int64_t>(st.iterations());
    st.SetItemsProcessed(iters * static_cast<std::int64_t>(items_per_iter));
    if (bytes_per_iter) st.SetBytesProcessed(iters * static_cast<std::int64_t>(bytes_per_iter));
    st.counters["allocs_per_item"] =
        benchmark::Counter(static_cast<double>(allocs) / static_cast<double>(iters * items_per_iter));
}

void coapbed_parse(benchmark::State& st, const Mix* mix) {
    if (auto e = check_parse(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    std::uint64_t sink = 0;
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const auto& d : mix->datagrams) {
            coap::MessageView v;
            const coap::ParseResult r = coap::parse(coap::Bytes(d.data(), d.size()), v);
            for (coap::Option o : v) sink += o.number + o.value.size() + (o.value.empty() ? 0 : o.value[0]);
            sink += v.payload().size();
            benchmark::DoNotOptimize(r);
        }
        benchmark::DoNotOptimize(sink);
    }
    finish(st, mix->datagrams.size(), mix->bytes, coapbed::bench::allocations() - a0);
}

void libcoap_parse(benchmark::State& st, const Mix* mix) {
    if (auto e = check_parse(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    std::uint64_t sink = 0;
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const auto& d : mix->datagrams) {
            // As libcoap's receive path does: a PDU per datagram, parsed, then freed.
            coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_EMPTY_CODE, 0, d.size());
            const int ok = coap_pdu_parse(COAP_PROTO_UDP, d.data(), d.size(), pdu);
            coap_opt_iterator_t it;
            coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
            while (coap_opt_t* o = coap_option_next(&it)) {
                const std::uint32_t len = coap_opt_length(o);
                sink += it.number + len + (len ? coap_opt_value(o)[0] : 0);
            }
            std::size_t len = 0;
            const std::uint8_t* data = nullptr;
            coap_get_data(pdu, &len, &data);
            sink += len;
            benchmark::DoNotOptimize(ok);
            coap_delete_pdu(pdu);
        }
        benchmark::DoNotOptimize(sink);
    }
    finish(st, mix->datagrams.size(), mix->bytes, coapbed::bench::allocations() - a0);
}

void coapbed_build_bench(benchmark::State& st, const Mix* mix) {
    if (auto e = check_build(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    std::uint8_t buf[2048];
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const auto& m : mix->messages) {
            const std::size_t n = coapbed_build(m, buf, sizeof buf);
            benchmark::DoNotOptimize(n);
            benchmark::ClobberMemory();
        }
    }
    finish(st, mix->messages.size(), mix->bytes, coapbed::bench::allocations() - a0);
}

void libcoap_build_bench(benchmark::State& st, const Mix* mix) {
    if (auto e = check_build(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const auto& m : mix->messages) {
            coap_pdu_t* pdu = libcoap_build(m);
            benchmark::DoNotOptimize(pdu);
            benchmark::ClobberMemory();
            coap_delete_pdu(pdu);
        }
    }
    finish(st, mix->messages.size(), mix->bytes, coapbed::bench::allocations() - a0);
}

void coapbed_uri(benchmark::State& st, const UriMix* mix) {
    if (auto e = check_uri(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    std::size_t bytes = 0;
    for (const auto& u : mix->uris) bytes += u.size();
    coap::UriOptions out;
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const auto& u : mix->uris) {
            const coap::UriResult r = coap::decompose_uri(u, out);
            benchmark::DoNotOptimize(r);
            benchmark::DoNotOptimize(out);
        }
    }
    finish(st, mix->uris.size(), bytes, coapbed::bench::allocations() - a0);
}

void libcoap_uri(benchmark::State& st, const UriMix* mix) {
    if (auto e = check_uri(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    std::size_t bytes = 0;
    for (const auto& u : mix->uris) bytes += u.size();
    unsigned char buf[1024];
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const auto& u : mix->uris) {
            int q = 0;
            const int p = libcoap_split(u, q, buf, sizeof buf);
            benchmark::DoNotOptimize(p);
            benchmark::DoNotOptimize(buf);
        }
    }
    finish(st, mix->uris.size(), bytes, coapbed::bench::allocations() - a0);
}

void coapbed_compose(benchmark::State& st, const UriMix* mix) {
    std::vector<coap::UriOptions> decomposed(mix->uris.size());
    for (std::size_t i = 0; i < mix->uris.size(); ++i) {
        if (!coap::decompose_uri(mix->uris[i], decomposed[i]).ok()) return st.SkipWithError("a mix URI is invalid");
    }
    std::vector<std::vector<coap::Option>> lists;
    for (const auto& d : decomposed) {
        lists.emplace_back();
        for (std::size_t i = 0; i < d.size(); ++i) lists.back().push_back(d[i]);
    }
    std::string out;
    out.reserve(2048);
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (std::size_t i = 0; i < lists.size(); ++i) {
            const auto& d = decomposed[i];
            const coap::UriResult r = coap::compose_uri(d.scheme(), d.host(), d.port(), lists[i].data(),
                                                        lists[i].size(), out);
            benchmark::DoNotOptimize(r);
            benchmark::DoNotOptimize(out.data());
        }
    }
    finish(st, mix->uris.size(), 0, coapbed::bench::allocations() - a0);
}

// The option numbers looked up in every message of a mix: present in some mixes, absent
// in others (a lookup that finds nothing walks the whole list).
constexpr std::uint16_t kLookedUp[] = {coap::options::kUriPath, coap::options::kContentFormat, coap::options::kBlock1,
                                      coap::options::kObserve, coap::options::kRequestTag};

// The mix parsed once by each library, outside the timed loop, and a check that both
// find the same first option (or none) for every number looked up.
struct Parsed {
    std::vector<coap::MessageView> views;
    std::vector<coap_pdu_t*> pdus;
    Parsed() = default;
    Parsed(const Parsed&) = delete;
    Parsed& operator=(const Parsed&) = delete;
    ~Parsed() {
        for (coap_pdu_t* p : pdus) coap_delete_pdu(p);
    }
    std::string load(const Mix& mix) {
        if (auto e = check_parse(mix); !e.empty()) return e;
        views.resize(mix.datagrams.size());
        for (std::size_t i = 0; i < views.size(); ++i) {
            const auto& d = mix.datagrams[i];
            (void)coap::parse(coap::Bytes(d.data(), d.size()), views[i]);
            pdus.push_back(coap_pdu_init(COAP_MESSAGE_CON, COAP_EMPTY_CODE, 0, d.size()));
            (void)coap_pdu_parse(COAP_PROTO_UDP, d.data(), d.size(), pdus.back());
            for (std::uint16_t n : kLookedUp) {
                const std::size_t k = views[i].find(n);
                coap_opt_iterator_t it;
                const coap_opt_t* o = coap_check_option(pdus.back(), n, &it);
                const bool same = (k == views[i].option_count())
                                      ? o == nullptr
                                      : o != nullptr && views[i].option(k).value ==
                                                            coap::Bytes(coap_opt_value(o), coap_opt_length(o));
                if (!same) return "coapbed and libcoap find different options";
            }
        }
        return {};
    }
};

void coapbed_option_lookup(benchmark::State& st, const Mix* mix) {
    Parsed p;
    if (auto e = p.load(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    std::uint64_t sink = 0;
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const auto& v : p.views) {
            for (std::uint16_t n : kLookedUp) sink += v.find(n);
        }
        benchmark::DoNotOptimize(sink);
    }
    finish(st, p.views.size() * std::size(kLookedUp), 0, coapbed::bench::allocations() - a0);
}

void libcoap_option_lookup(benchmark::State& st, const Mix* mix) {
    Parsed p;
    if (auto e = p.load(*mix); !e.empty()) return st.SkipWithError(e.c_str());
    std::uint64_t sink = 0;
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) {
        for (const coap_pdu_t* pdu : p.pdus) {
            for (std::uint16_t n : kLookedUp) {
                coap_opt_iterator_t it;
                sink += coap_check_option(pdu, n, &it) != nullptr;
            }
        }
        benchmark::DoNotOptimize(sink);
    }
    finish(st, p.pdus.size() * std::size(kLookedUp), 0, coapbed::bench::allocations() - a0);
}

// A client and a server endpoint exchanging one CON GET and its piggybacked response,
// with the application's part of the work (building the request, the handler's response)
// counted apart: `engine_allocs_per_item` is what the endpoints allocate themselves.
struct RoundTrip {
    coap::Xoshiro256 rc{1}, rs{2};
    coap::EndpointConfig config = [] {
        coap::EndpointConfig cfg;
        cfg.params.nstart = 1;
        return cfg;
    }();
    coap::Endpoint client{config, rc}, server{config, rs};
    coap::Peer c = coap::Peer::ipv4(0x0a000001, 5683), s = coap::Peer::ipv4(0x0a000002, 5683);
    coap::TimePoint now;
    std::uint64_t app_allocs = 0;  ///< made by the application's code (request, handler)

    RoundTrip() {
        coap::ResourceConfig temp;
        temp.handler = [this](const coap::IncomingRequest&) {
            const std::uint64_t a = coapbed::bench::allocations();
            coap::Response r = coap::Response::with(coap::codes::kContent, "22.5");
            app_allocs += coapbed::bench::allocations() - a;
            return r;
        };
        (void)server.add_resource("sensors/temp", temp);
    }
    coap::Request request() {
        const std::uint64_t a = coapbed::bench::allocations();
        coap::Request r = coap::Request().path("sensors/temp");
        app_allocs += coapbed::bench::allocations() - a;
        return r;
    }
    // The driver as the simulator and the runtime write it: poll_transmit/poll_event by value.
    bool one() {
        if (!client.send_request(now, s, request()).ok()) return false;
        while (auto t = client.poll_transmit()) server.handle_datagram(now, c, coap::Bytes(t->bytes.data(), t->bytes.size()));
        while (auto t = server.poll_transmit()) client.handle_datagram(now, s, coap::Bytes(t->bytes.data(), t->bytes.size()));
        bool ok = false;
        while (auto e = client.poll_event()) ok = e->kind == coap::EventKind::Response;
        now += coap::Duration::microseconds(100);
        return ok;
    }
    // A driver that keeps its Transmit and Event and polls into them (buffers go back).
    coap::Transmit kept_transmit;
    coap::Event kept_event;
    bool one_recycled() { return one_polled_into(request()); }
    // The same driver with an application that sends one prepared request again (copied
    // into storage the endpoint keeps): what is left is the handler's response.
    const coap::Request prepared = coap::Request().path("sensors/temp");
    bool one_kept() { return one_polled_into(prepared); }
    template <class R>
    bool one_polled_into(R&& r) {
        coap::Transmit& t = kept_transmit;
        if (!client.send_request(now, s, std::forward<R>(r)).ok()) return false;
        while (client.poll_transmit(t)) server.handle_datagram(now, c, coap::Bytes(t.bytes.data(), t.bytes.size()));
        while (server.poll_transmit(t)) client.handle_datagram(now, s, coap::Bytes(t.bytes.data(), t.bytes.size()));
        bool ok = false;
        while (client.poll_event(kept_event)) ok = kept_event.kind == coap::EventKind::Response;
        now += coap::Duration::microseconds(100);
        return ok;
    }
};

enum class Driver { ByValue, Recycled, Kept };

void endpoint_roundtrip(benchmark::State& st, Driver driver) {
    RoundTrip rt;
    auto one = [&] {
        switch (driver) {
            case Driver::ByValue: return rt.one();
            case Driver::Recycled: return rt.one_recycled();
            case Driver::Kept: return rt.one_kept();
        }
        return false;
    };
    // Warm up past the de-duplication table's capacity, so the timed loop is steady state.
    for (std::size_t i = 0; i <= rt.config.dedup_capacity; ++i) {
        if (!one()) return st.SkipWithError("a request did not complete");
    }
    std::size_t completed = 0;
    rt.app_allocs = 0;
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) completed += one() ? 1 : 0;
    const std::uint64_t allocs = coapbed::bench::allocations() - a0;
    if (completed != static_cast<std::size_t>(st.iterations())) return st.SkipWithError("a request did not complete");
    finish(st, 1, 0, allocs);
    st.counters["engine_allocs_per_item"] = benchmark::Counter(static_cast<double>(allocs - rt.app_allocs) /
                                                               static_cast<double>(st.iterations()));
}

void coapbed_endpoint_roundtrip(benchmark::State& st) { endpoint_roundtrip(st, Driver::ByValue); }
void coapbed_endpoint_roundtrip_recycled(benchmark::State& st) { endpoint_roundtrip(st, Driver::Recycled); }
void coapbed_endpoint_roundtrip_kept(benchmark::State& st) { endpoint_roundtrip(st, Driver::Kept); }

// One server endpoint answering CON GETs from `peers` distinct clients in turn (each
// request from the next address): the per-peer tables (de-duplication, defences) are
// looked up with that many peers known. Requests are pre-built datagrams; the server's
// responses are polled into one Transmit. Items are requests.
void coapbed_server_peers(benchmark::State& st, std::uint32_t peers) {
    coap::Xoshiro256 rng(3);
    coap::EndpointConfig config;
    config.max_peers = peers;
    config.dedup_capacity = peers;
    config.defences.amplification_limit = 3;  // per-address byte accounting on every request
    config.defences.initial_allowance = 136;
    coap::Endpoint server(config, rng);
    coap::ResourceConfig temp;
    temp.handler = [](const coap::IncomingRequest&) {
        coap::Response r;
        r.code = coap::codes::kContent;
        return coap::HandlerResult(std::move(r));
    };
    (void)server.add_resource("sensors/temp", temp);
    // 256 request datagrams with distinct Message IDs, reused across peers.
    std::vector<std::vector<std::uint8_t>> requests;
    for (std::uint16_t mid = 0; mid < 256; ++mid) {
        coap::Message m;
        m.type = coap::MessageType::Con;
        m.code = coap::codes::kGet;
        m.message_id = mid;
        m.token = {1, 2, 3, 4};
        m.options = {{coap::options::kUriPath, {'s', 'e', 'n', 's', 'o', 'r', 's'}}, {coap::options::kUriPath, {'t', 'e', 'm', 'p'}}};
        requests.push_back(coap::encode(m));
    }
    coap::TimePoint now;
    coap::Transmit t;
    std::uint64_t n = 0;
    auto one = [&]() -> bool {
        // Peer k sends its (n / peers)-th request: a new Message ID each round, so none is a duplicate.
        const auto k = static_cast<std::uint32_t>(n % peers);
        const auto& d = requests[(n / peers) % requests.size()];
        ++n;
        server.handle_datagram(now, coap::Peer::ipv4(0x0a000000 + k, 5683), coap::Bytes(d.data(), d.size()));
        bool answered = false;
        while (server.poll_transmit(t)) answered = t.bytes.size() > 4;
        now += coap::Duration::microseconds(1);
        return answered;
    };
    for (std::uint32_t i = 0; i < peers; ++i) {
        if (!one()) return st.SkipWithError("a request was not answered");
    }
    std::uint64_t answered = 0;
    const std::uint64_t a0 = coapbed::bench::allocations();
    for (auto _ : st) answered += one() ? 1 : 0;
    if (answered != static_cast<std::uint64_t>(st.iterations())) return st.SkipWithError("a request was not answered");
    finish(st, 1, 0, coapbed::bench::allocations() - a0);
    st.counters["peers"] = static_cast<double>(peers);
}

}  // namespace

int main(int argc, char** argv) {
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    for (const Mix& m : coapbed::bench::message_mixes()) {
        benchmark::RegisterBenchmark(("coapbed/parse/" + m.name).c_str(), coapbed_parse, &m);
        benchmark::RegisterBenchmark(("libcoap/parse/" + m.name).c_str(), libcoap_parse, &m);
    }
    for (const Mix& m : coapbed::bench::message_mixes()) {
        benchmark::RegisterBenchmark(("coapbed/build/" + m.name).c_str(), coapbed_build_bench, &m);
        benchmark::RegisterBenchmark(("libcoap/build/" + m.name).c_str(), libcoap_build_bench, &m);
    }
    for (const UriMix& m : coapbed::bench::uri_mixes()) {
        benchmark::RegisterBenchmark(("coapbed/uri/" + m.name).c_str(), coapbed_uri, &m);
        benchmark::RegisterBenchmark(("libcoap/uri/" + m.name).c_str(), libcoap_uri, &m);
        benchmark::RegisterBenchmark(("coapbed/uri-compose/" + m.name).c_str(), coapbed_compose, &m);
    }
    for (const Mix& m : coapbed::bench::message_mixes()) {
        benchmark::RegisterBenchmark(("coapbed/option-lookup/" + m.name).c_str(), coapbed_option_lookup, &m);
        benchmark::RegisterBenchmark(("libcoap/option-lookup/" + m.name).c_str(), libcoap_option_lookup, &m);
    }
    benchmark::RegisterBenchmark("coapbed/endpoint-roundtrip", coapbed_endpoint_roundtrip);
    benchmark::RegisterBenchmark("coapbed/endpoint-roundtrip-recycled", coapbed_endpoint_roundtrip_recycled);
    benchmark::RegisterBenchmark("coapbed/endpoint-roundtrip-kept", coapbed_endpoint_roundtrip_kept);
    for (const std::uint32_t peers : {10u, 1000u, 100000u}) {
        benchmark::RegisterBenchmark(("coapbed/server-peers/" + std::to_string(peers)).c_str(), coapbed_server_peers,
                                     peers);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
