// The proxy's building blocks: 5.05 from an endpoint that is no proxy (RFC 7252 §5.7.2),
// the canonical target and cache key of a proxy request (src/coap/proxy/cache_key.h),
// and the response cache (src/coap/proxy/response_cache.h: §5.6 freshness, ETag
// revalidation, invalidation, bounds).
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/proxy/cache_key.h"
#include "coap/proxy/forward_proxy.h"
#include "coap/proxy/response_cache.h"
#include "test_network.h"

using coap::Duration;
using coap::TimePoint;
using coap::proxy::ResponseCache;
using coap::proxy::StoreResult;
using coap::proxy::Target;
using coap::proxy::TargetError;
using coapbed::test::TestNetwork;

namespace {

// ---- 5.05 without a proxy -----------------------------------------------------------

coap::Code answer_to(coap::Request r) {
    TestNetwork net(1);
    TestNetwork::Node& client = net.add({}, 0x0a000001);
    TestNetwork::Node& server = net.add({}, 0x0a000002);
    coap::ResourceConfig rc;
    rc.handler = [](const coap::IncomingRequest&) { return coap::Response::with(coap::codes::kContent, "local"); };
    EXPECT_EQ(server.endpoint->add_resource("r", rc), coap::ApiError::Ok);
    EXPECT_TRUE(client.endpoint->send_request(net.now(), server.address, std::move(r)).ok());
    net.drive();
    return client.events.empty() ? coap::Code{} : client.events[0].message.code;
}

TEST(Proxy, AnEndpointWithoutAProxyAnswersProxyRequestsWith505) {
    // RFC 7252 §5.7.2 / §5.10.2: Proxy-Uri or Proxy-Scheme to an endpoint that does not
    // proxy is 5.05, never a request for its own resources.
    coap::Request plain;
    plain.path("r");
    EXPECT_EQ(answer_to(std::move(plain)), coap::codes::kContent);
    coap::Request by_uri;
    by_uri.path("r").option(coap::options::kProxyUri, "coap://10.0.0.2/r");
    EXPECT_EQ(answer_to(std::move(by_uri)), coap::codes::kProxyingNotSupported);
    coap::Request by_scheme;
    by_scheme.path("r").option(coap::options::kProxyScheme, "coap");
    EXPECT_EQ(answer_to(std::move(by_scheme)), coap::codes::kProxyingNotSupported);
}

// ---- target and cache key -----------------------------------------------------------

/// A request message with the given options (in any order) and payload, parsed back so
/// that the key functions see what a server sees.
struct Req {
    std::vector<std::uint8_t> wire;
    coap::MessageView view;
    Req(coap::Code code, std::vector<coap::OwnedOption> options, std::string payload = {}) {
        coap::Message m;
        m.type = coap::MessageType::Con;
        m.code = code;
        m.message_id = 7;
        m.token = {1, 2};
        std::stable_sort(options.begin(), options.end(),
                         [](const auto& a, const auto& b) { return a.number < b.number; });
        m.options = std::move(options);
        m.payload.assign(payload.begin(), payload.end());
        wire = coap::encode(m);
        EXPECT_TRUE(coap::parse(coap::Bytes(wire.data(), wire.size()), view).ok());
    }
};

coap::OwnedOption opt(std::uint16_t n, std::string_view v) { return {n, std::vector<std::uint8_t>(v.begin(), v.end())}; }
coap::OwnedOption uint_opt(std::uint16_t n, std::uint64_t v) { return {n, coap::encode_uint(v)}; }

std::string key_of(const Req& r, Target* target = nullptr) {
    Target t;
    const auto res = coap::proxy::proxy_target(r.view, "192.0.2.1", 5683, t);
    EXPECT_TRUE(res.ok()) << static_cast<int>(res.error) << " " << coap::to_string(res.uri.error);
    if (target != nullptr) *target = t;
    return coap::proxy::cache_key(r.view, t);
}

std::string get_uri(std::string_view uri, std::vector<coap::OwnedOption> more = {}) {
    more.push_back(opt(coap::options::kProxyUri, uri));
    return key_of(Req(coap::codes::kGet, more));
}

TEST(ProxyKey, BothRequestFormsOfOneTargetGiveOneKey) {
    // §5.10.2: Proxy-Uri, or Proxy-Scheme with Uri-Host/Port/Path/Query.
    Target a, b;
    const std::string by_uri = key_of(Req(coap::codes::kGet, {opt(coap::options::kProxyUri, "coap://Example.ORG:5683/a/b?x=1&y")}), &a);
    const std::string by_scheme = key_of(Req(coap::codes::kGet, {opt(coap::options::kProxyScheme, "coap"),
                                                                 opt(coap::options::kUriHost, "example.org"),
                                                                 opt(coap::options::kUriPath, "a"),
                                                                 opt(coap::options::kUriPath, "b"),
                                                                 opt(coap::options::kUriQuery, "x=1"),
                                                                 opt(coap::options::kUriQuery, "y")}), &b);
    EXPECT_EQ(by_uri, by_scheme);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.host, "example.org");
    EXPECT_EQ(a.port, 5683);
}

TEST(ProxyKey, CanonicalTargetsShareAKey) {
    const std::string k = get_uri("coap://example.org/a/b");
    EXPECT_EQ(get_uri("coap://EXAMPLE.org:5683/a/b"), k);       // host case, default port
    EXPECT_EQ(get_uri("coap://example.org/a/./c/../b"), k);     // dot-segments (RFC 3986 §5.2.4)
    EXPECT_EQ(get_uri("coap://example.org/%61/b"), k);          // percent-encoding
    EXPECT_EQ(get_uri("coap://[2001:DB8:0::1]/t"), get_uri("coap://[2001:db8::1]/t"));  // RFC 5952 text
    EXPECT_NE(get_uri("coap://example.org:5684/a/b"), k);       // another port
    EXPECT_NE(get_uri("coaps://example.org/a/b"), k);           // another scheme
    EXPECT_NE(get_uri("coap://example.org/a/b/"), k);           // a trailing empty segment
    EXPECT_NE(get_uri("coap://example.org/a%2Fb"), k);          // one segment "a/b" is not two
    EXPECT_NE(get_uri("coap://[2001:db8::1]/t"), get_uri("coap://[2001:db8::2]:5684/t"));
}

TEST(ProxyKey, FramingKeepsDistinctRequestsApart) {
    // libcoap's digest of number||value without lengths makes these collide (PROXY.md §0).
    EXPECT_NE(get_uri("coap://h/a/b"), get_uri("coap://h/a%0B%00b"));
    EXPECT_NE(get_uri("coap://h/a/b"), get_uri("coap://h/a%0Bb"));  // unframed, number-then-value would collide
    EXPECT_NE(get_uri("coap://h/ab"), get_uri("coap://h/a/b"));
    EXPECT_NE(get_uri("coap://h/a?b"), get_uri("coap://h/a/b"));
    // The method is part of the key; so is a FETCH payload.
    const Req get(coap::codes::kGet, {opt(coap::options::kProxyUri, "coap://h/q")});
    const Req fetch1(coap::codes::kFetch, {opt(coap::options::kProxyUri, "coap://h/q")}, "one");
    const Req fetch2(coap::codes::kFetch, {opt(coap::options::kProxyUri, "coap://h/q")}, "two");
    EXPECT_NE(key_of(get), key_of(fetch1));
    EXPECT_NE(key_of(fetch1), key_of(fetch2));
}

TEST(ProxyKey, WhichOptionsAreInTheKey) {
    const std::string k = get_uri("coap://h/t");
    // Accept and Content-Format are kept; an unknown safe option with cache-key bits too.
    EXPECT_NE(get_uri("coap://h/t", {uint_opt(coap::options::kAccept, 50)}), k);
    EXPECT_NE(get_uri("coap://h/t", {opt(2050, "x")}), k);  // 2050 & 0x1e = 2: safe, in the key
    // NoCacheKey ((n & 0x1e) == 0x1c, §5.4.6) and the interpreted options are not.
    EXPECT_EQ(get_uri("coap://h/t", {opt(0x7c, "x")}), k);  // 124: safe-to-forward, NoCacheKey
    EXPECT_EQ(get_uri("coap://h/t", {opt(coap::options::kETag, "e")}), k);
    EXPECT_EQ(get_uri("coap://h/t", {opt(coap::options::kObserve, "")}), k);
    EXPECT_EQ(get_uri("coap://h/t", {uint_opt(coap::options::kBlock2, 0x16)}), k);
    EXPECT_EQ(get_uri("coap://h/t", {uint_opt(coap::options::kSize2, 0)}), k);
    EXPECT_EQ(get_uri("coap://h/t", {uint_opt(coap::options::kHopLimit, 7)}), k);
    EXPECT_EQ(get_uri("coap://h/t", {opt(coap::options::kEcho, "abcd")}), k);
    // Uri-* beside a Proxy-Uri are not used (§5.10.2).
    EXPECT_EQ(get_uri("coap://h/t", {opt(coap::options::kUriPath, "other")}), k);
    EXPECT_TRUE(coap::proxy::in_cache_key(coap::options::kRequestTag, false));
    EXPECT_FALSE(coap::proxy::in_cache_key(coap::options::kRequestTag, true));
}

TEST(ProxyKey, BadTargetsAreErrorsWithTheirReason) {
    Target t;
    const Req bad(coap::codes::kGet, {opt(coap::options::kProxyUri, "http://h/x")});
    auto r = coap::proxy::proxy_target(bad.view, "192.0.2.1", 5683, t);
    EXPECT_EQ(r.error, TargetError::BadProxyUri);
    EXPECT_EQ(r.uri.error, coap::UriError::UnsupportedScheme);
    const Req port(coap::codes::kGet, {opt(coap::options::kProxyUri, "coap://h:99999/x")});
    EXPECT_EQ(coap::proxy::proxy_target(port.view, "192.0.2.1", 5683, t).uri.error, coap::UriError::PortOutOfRange);
    const Req scheme(coap::codes::kGet, {opt(coap::options::kProxyScheme, "http")});
    EXPECT_EQ(coap::proxy::proxy_target(scheme.view, "192.0.2.1", 5683, t).error, TargetError::BadUriOptions);
    const Req none(coap::codes::kGet, {opt(coap::options::kUriPath, "x")});
    EXPECT_EQ(coap::proxy::proxy_target(none.view, "192.0.2.1", 5683, t).error, TargetError::NotProxyRequest);
    const Req both(coap::codes::kGet, {opt(coap::options::kProxyUri, "coap://h/x"), opt(coap::options::kUriPath, "y")});
    EXPECT_TRUE(coap::proxy::proxy_target(both.view, "192.0.2.1", 5683, t).ok());
    EXPECT_EQ(coap::proxy::proxy_target(both.view, "192.0.2.1", 5683, t, /*strict=*/true).error,
              TargetError::UriOptionsWithProxyUri);
}

TEST(ProxyKey, ProxySchemeWithoutUriHostTargetsTheDestination) {
    // §6.5 steps 5-6: no Uri-Host: the request's destination address; no Uri-Port: its port.
    Target t;
    const Req r(coap::codes::kGet, {opt(coap::options::kProxyScheme, "coap"), opt(coap::options::kUriPath, "x")});
    ASSERT_TRUE(coap::proxy::proxy_target(r.view, "192.0.2.1", 5700, t).ok());
    EXPECT_EQ(t.host, "192.0.2.1");
    EXPECT_EQ(t.port, 5700);
    EXPECT_EQ(t.host_kind, coap::HostKind::IPv4);
}

TEST(ProxyKey, TenThousandRandomDistinctRequestsHaveDistinctKeys) {
    // Property: requests that differ (in path segments, query, host, port or a kept
    // option, with bytes chosen to defeat unframed digests) never share a key.
    std::mt19937 rng(42);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::string alphabet = std::string("ab/?&%=.\x0b\x00", 10);
    std::set<std::vector<std::string>> canonical_forms;
    std::set<std::string> keys;
    for (int i = 0; i < 10000; ++i) {
        std::vector<coap::OwnedOption> o;
        o.push_back(opt(coap::options::kProxyScheme, "coap"));
        o.push_back(opt(coap::options::kUriHost, std::string(1 + pick(2), "hk"[pick(2)])));
        if (pick(2) != 0) o.push_back(uint_opt(coap::options::kUriPort, 5683 + pick(2)));
        for (std::size_t s = pick(3); s > 0; --s) {
            std::string seg;
            for (std::size_t c = pick(3); c > 0; --c) seg.push_back(alphabet[pick(alphabet.size())]);
            o.push_back(opt(pick(3) == 0 ? coap::options::kUriQuery : coap::options::kUriPath, seg));
        }
        if (pick(3) == 0) o.push_back(uint_opt(coap::options::kAccept, pick(2)));
        const Req r(coap::codes::kGet, o);
        Target t;
        if (!coap::proxy::proxy_target(r.view, "192.0.2.1", 5683, t).ok()) continue;
        // The canonical form by another route: the target's fields and the kept options
        // as a list of strings (nothing to frame, nothing to get wrong).
        std::vector<std::string> form{t.host, std::to_string(t.port)};
        for (const auto& u : t.options) {
            form.push_back(std::to_string(u.number));
            form.emplace_back(u.value.begin(), u.value.end());
        }
        for (std::size_t k = 0; k < r.view.option_count(); ++k) {
            if (r.view.option(k).number != coap::options::kAccept) continue;
            form.emplace_back("accept");
            form.emplace_back(r.view.option(k).value.as_chars());
        }
        const bool new_form = canonical_forms.insert(form).second;
        const bool new_key = keys.insert(coap::proxy::cache_key(r.view, t)).second;
        EXPECT_EQ(new_form, new_key) << i;
    }
    EXPECT_GT(keys.size(), 1000u);
}

// ---- response cache -----------------------------------------------------------------

coap::Message response(coap::Code code, std::string payload, std::optional<std::uint32_t> max_age = std::nullopt,
                       std::string etag = {}) {
    coap::Message m;
    m.code = code;
    if (!etag.empty()) m.options.push_back(opt(coap::options::kETag, etag));
    if (max_age) m.options.push_back(uint_opt(coap::options::kMaxAge, *max_age));
    m.payload.assign(payload.begin(), payload.end());
    return m;
}

const TimePoint t0 = TimePoint::from_ns(1'000'000'000);

TEST(ProxyCache, MaxAgeIsTheRemainingFreshness) {
    // §5.6.1: origin Max-Age 60; a hit at t=20 s serves 40, at 59.9 s serves 0, at 60 s stale.
    ResponseCache c;
    ASSERT_EQ(c.store(t0, "k", "T", response(coap::codes::kContent, "v", 60)), StoreResult::Stored);
    auto l = c.lookup(t0 + Duration::seconds(20), "k");
    ASSERT_NE(l.entry, nullptr);
    EXPECT_TRUE(l.fresh);
    EXPECT_EQ(l.max_age, 40u);
    EXPECT_EQ(std::string(l.entry->payload.begin(), l.entry->payload.end()), "v");
    for (const auto& o : l.entry->options) EXPECT_NE(o.number, coap::options::kMaxAge);
    l = c.lookup(t0 + Duration::milliseconds(59'900), "k");
    EXPECT_TRUE(l.fresh);
    EXPECT_EQ(l.max_age, 0u);
    l = c.lookup(t0 + Duration::seconds(60), "k");
    EXPECT_FALSE(l.fresh);
    EXPECT_EQ(c.lookup(t0, "other").entry, nullptr);
    EXPECT_EQ(c.stats().hits_fresh, 2u);
    EXPECT_EQ(c.stats().hits_stale, 1u);
    EXPECT_EQ(c.stats().misses, 1u);
}

TEST(ProxyCache, WhatIsStoredAndForHowLong) {
    ResponseCache c;
    // No Max-Age: 60 s (§5.10.5). Max-Age 2^32-1 is clamped to max_freshness (1 h).
    c.store(t0, "a", "T", response(coap::codes::kContent, "v"));
    EXPECT_EQ(c.lookup(t0, "a").max_age, 60u);
    c.store(t0, "b", "T", response(coap::codes::kContent, "v", 0xFFFFFFFFu));
    EXPECT_EQ(c.lookup(t0, "b").max_age, 3600u);
    // Max-Age 0: not stored, and a stored entry under that key goes.
    EXPECT_EQ(c.store(t0, "b", "T", response(coap::codes::kContent, "v", 0)), StoreResult::NoFreshness);
    EXPECT_EQ(c.lookup(t0, "b").entry, nullptr);
    // 2.01/2.02/2.04 and unknown 2.xx (2.06) are not stored; errors are, for 10 s at most.
    for (const coap::Code code : {coap::codes::kCreated, coap::codes::kDeleted, coap::codes::kChanged,
                                  coap::codes::kValid, coap::Code::make(2, 6)}) {
        EXPECT_EQ(c.store(t0, "c", "T", response(code, "v")), StoreResult::Uncacheable);
    }
    EXPECT_EQ(c.store(t0, "d", "T", response(coap::codes::kNotFound, "", 300)), StoreResult::Stored);
    EXPECT_EQ(c.lookup(t0, "d").max_age, 10u);
    coap::proxy::CacheConfig no_errors;
    no_errors.cache_errors = false;
    ResponseCache strict(no_errors);
    EXPECT_EQ(strict.store(t0, "d", "T", response(coap::codes::kNotFound, "")), StoreResult::Uncacheable);
}

TEST(ProxyCache, A203RefreshesTheEntryAndReplacesItsOptions) {
    // §5.6.2, §5.9.1.3: a stale entry validated by its ETag is fresh again for the
    // 2.03's Max-Age, with the 2.03's options.
    ResponseCache c;
    c.store(t0, "k", "T", response(coap::codes::kContent, "body", 10, "e1"));
    auto l = c.lookup(t0 + Duration::seconds(30), "k");
    ASSERT_FALSE(l.fresh);
    ASSERT_NE(l.entry->etag(), nullptr);
    EXPECT_EQ(*l.entry->etag(), std::vector<std::uint8_t>({'e', '1'}));
    coap::Message valid = response(coap::codes::kValid, "", 100, "e1");
    valid.options.push_back(uint_opt(coap::options::kContentFormat, 0));
    ASSERT_TRUE(c.revalidate(t0 + Duration::seconds(30), "k", valid));
    l = c.lookup(t0 + Duration::seconds(40), "k");
    EXPECT_TRUE(l.fresh);
    EXPECT_EQ(l.max_age, 90u);
    EXPECT_EQ(l.entry->code, coap::codes::kContent);
    EXPECT_EQ(std::string(l.entry->payload.begin(), l.entry->payload.end()), "body");
    bool content_format = false;
    for (const auto& o : l.entry->options) content_format |= o.number == coap::options::kContentFormat;
    EXPECT_TRUE(content_format);
    EXPECT_FALSE(c.revalidate(t0, "absent", valid));
}

TEST(ProxyCache, ChangesToTheTargetMakeItsEntriesStale) {
    // §5.9.1.1-4: after a 2.01/2.02/2.04 to the target, its stored responses are not fresh.
    ResponseCache c;
    c.store(t0, "k1", "T", response(coap::codes::kContent, "a"));
    c.store(t0, "k2", "T", response(coap::codes::kContent, "b"));  // e.g. another Accept
    c.store(t0, "k3", "U", response(coap::codes::kContent, "c"));
    EXPECT_EQ(c.invalidate(t0 + Duration::seconds(1), "T"), 2u);
    EXPECT_FALSE(c.lookup(t0 + Duration::seconds(1), "k1").fresh);
    EXPECT_FALSE(c.lookup(t0 + Duration::seconds(1), "k2").fresh);
    EXPECT_TRUE(c.lookup(t0 + Duration::seconds(1), "k3").fresh);
}

TEST(ProxyCache, EntriesAndBytesAreBoundedLeastRecentlyUsedFirst) {
    coap::proxy::CacheConfig cfg;
    cfg.max_entries = 3;
    cfg.max_entry_bytes = 1000;
    cfg.max_total_bytes = 2500;
    ResponseCache c(cfg);
    c.store(t0, "a", "T", response(coap::codes::kContent, "1"));
    c.store(t0, "b", "T", response(coap::codes::kContent, "2"));
    c.store(t0, "c", "T", response(coap::codes::kContent, "3"));
    (void)c.lookup(t0, "a");  // a is now the most recently used
    c.store(t0, "d", "T", response(coap::codes::kContent, "4"));
    EXPECT_EQ(c.size(), 3u);
    EXPECT_EQ(c.lookup(t0, "b").entry, nullptr);  // the least recently used went
    EXPECT_NE(c.lookup(t0, "a").entry, nullptr);
    EXPECT_EQ(c.stats().evicted_lru, 1u);
    // Too big for one entry: refused, and counted.
    EXPECT_EQ(c.store(t0, "big", "T", response(coap::codes::kContent, std::string(2000, 'x'))), StoreResult::TooBig);
    EXPECT_EQ(c.stats().refused_too_big, 1u);
    // Bytes: three 900-byte bodies do not fit in 2500 bytes; the oldest goes.
    for (const char* k : {"x", "y", "z"}) c.store(t0, k, "T", response(coap::codes::kContent, std::string(900, 'v')));
    EXPECT_LE(c.total_bytes(), 2500u);
    EXPECT_EQ(c.lookup(t0, "x").entry, nullptr);
    EXPECT_NE(c.lookup(t0, "z").entry, nullptr);
    // A flood of distinct keys never grows it past its bounds.
    for (int i = 0; i < 10000; ++i) {
        c.store(t0, "flood" + std::to_string(i), "T", response(coap::codes::kContent, std::string(i % 700, 'f')));
        ASSERT_LE(c.size(), 3u);
        ASSERT_LE(c.total_bytes(), 2500u);
    }
}

}  // namespace

// ---- forward proxy --------------------------------------------------------------------

namespace {

using coap::proxy::ForwardProxy;
using Side = coap::proxy::ForwardProxy::Side;

const coap::Peer kC = coap::Peer::ipv4(0x0a000001, 40000);   // the client
const coap::Peer kPD = coap::Peer::ipv4(0x0a000002, 5683);   // the proxy, downstream socket
const coap::Peer kPU = coap::Peer::ipv4(0x0a000002, 41000);  // the proxy, upstream socket
const coap::Peer kO = coap::Peer::ipv4(0x0a000003, 5683);    // the origin

coap::EndpointConfig patient() {
    coap::EndpointConfig c;
    c.separate_response_timeout = Duration::seconds(300);  // the client outwaits the proxy's upstream give-up
    c.params.nstart = 8;  // several requests to the proxy at once (coalescing)
    return c;
}

coap::proxy::ProxyConfig proxy_config() {
    coap::proxy::ProxyConfig p;
    p.local_host = "10.0.0.2";
    p.local_port = 5683;
    return p;
}

/// A client, the proxy and an origin on a lossless wire; `drop` can hold back datagrams.
struct ProxyNet {
    coap::Xoshiro256 rc{1}, rd{2}, ru{3}, ro{4};
    coap::Endpoint client{patient(), rc};
    ForwardProxy proxy;
    coap::Endpoint origin{coap::EndpointConfig{}, ro};
    TimePoint now = TimePoint::from_ns(1'000'000'000);
    std::vector<coap::Event> events;                   // the client's
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
            while (origin.poll_transmit(t)) {
                any = true;
                if (!blocked(kO, t.peer)) proxy.handle_datagram(now, Side::Up, kO, coap::Bytes(t.bytes.data(), t.bytes.size()));
            }
            Side side;
            while (proxy.poll_transmit(side, t)) {
                any = true;
                if (side == Side::Down) {
                    if (!blocked(kPD, t.peer)) client.handle_datagram(now, kPD, coap::Bytes(t.bytes.data(), t.bytes.size()));
                } else if (t.peer == kO) {  // (an RST to a forger's port goes nowhere)
                    upstream.push_back(t.bytes);
                    if (!blocked(kPU, t.peer)) origin.handle_datagram(now, kPU, coap::Bytes(t.bytes.data(), t.bytes.size()));
                }
            }
            coap::Event e;
            while (client.poll_event(e)) events.push_back(e);
            while (origin.poll_event(e)) {
            }
        }
    }

    void run_for(Duration d) {
        const TimePoint end = now + d;
        flush();
        while (true) {
            std::optional<TimePoint> next = client.poll_timeout();
            for (const auto& t : {origin.poll_timeout(), proxy.poll_timeout()}) {
                if (t && (!next || *t < *next)) next = t;
            }
            if (!next || *next > end) break;
            now = std::max(now, *next);
            client.handle_timeout(now);
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

std::string text(const coap::Event& e) { return std::string(e.message.payload.begin(), e.message.payload.end()); }

std::optional<std::uint64_t> uint_of(const coap::Message& m, std::uint16_t number) {
    for (const auto& o : m.options) {
        if (o.number == number) return coap::decode_uint(coap::Bytes(o.value.data(), o.value.size()));
    }
    return std::nullopt;
}

coap::Message parsed(const std::vector<std::uint8_t>& d) {
    coap::MessageView v;
    EXPECT_TRUE(coap::parse(coap::Bytes(d.data(), d.size()), v).ok());
    coap::Message m;
    m.code = v.code();
    m.token.assign(v.token().begin(), v.token().end());
    for (std::size_t i = 0; i < v.option_count(); ++i) m.options.push_back({v.option(i).number, std::vector<std::uint8_t>(v.option(i).value.begin(), v.option(i).value.end())});
    return m;
}

}  // namespace

TEST(ForwardProxy, AMissGoesUpstreamOnceAndAFreshHitServesTheRemainingMaxAge) {
    ProxyNet n;
    coap::Event e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(uint_of(e.message, coap::options::kMaxAge), 60u);
    EXPECT_EQ(n.origin_calls, 1);
    n.run_for(Duration::seconds(20));
    e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(n.origin_calls, 1);  // no upstream traffic
    const auto age = uint_of(e.message, coap::options::kMaxAge);
    ASSERT_TRUE(age.has_value());
    EXPECT_GE(*age, 38u);  // 60 - the 21 s that passed, rounded down
    EXPECT_LE(*age, 40u);
    EXPECT_EQ(n.proxy.stats().hits_fresh, 1u);
    // The Proxy-Scheme form of the same target is the same entry.
    e = n.get({opt(coap::options::kProxyScheme, "coap"), opt(coap::options::kUriHost, "10.0.0.3"),
               opt(coap::options::kUriPath, "t")});
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(n.origin_calls, 1);
}

TEST(ForwardProxy, UpstreamRequestsCarryAFreshTokenHopLimitAndNoProxyOptions) {
    ProxyNet n;
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t")};
    ASSERT_TRUE(n.client.send_request(n.now, kPD, std::move(r)).ok());
    coap::Transmit first;
    ASSERT_TRUE(n.client.poll_transmit(first));
    const std::vector<std::uint8_t> client_token = parsed(first.bytes).token;
    n.proxy.handle_datagram(n.now, Side::Down, kC, coap::Bytes(first.bytes.data(), first.bytes.size()));
    n.run_for(Duration::seconds(1));
    ASSERT_FALSE(n.upstream.empty());
    const coap::Message up = parsed(n.upstream.front());
    EXPECT_EQ(up.token.size(), 8u);
    EXPECT_NE(up.token, client_token);
    EXPECT_EQ(uint_of(up, coap::options::kHopLimit), 16u);  // RFC 8768: inserted
    for (const auto& o : up.options) {
        EXPECT_NE(o.number, coap::options::kProxyUri);
        EXPECT_NE(o.number, coap::options::kProxyScheme);
    }
    EXPECT_EQ(n.proxy.stats().hop_limit_inserted, 1u);
}

TEST(ForwardProxy, HopLimit) {
    // RFC 8768 §3: 1 ends here with 5.08 and our identifier; 0 is malformed; otherwise decremented.
    ProxyNet n;
    coap::Event e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), uint_opt(coap::options::kHopLimit, 1)});
    EXPECT_EQ(e.message.code, coap::codes::kHopLimitReached);
    EXPECT_EQ(text(e), "coapbed-proxy");
    e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), uint_opt(coap::options::kHopLimit, 0)});
    EXPECT_EQ(e.message.code, coap::codes::kBadRequest);
    EXPECT_EQ(n.origin_calls, 0);
    e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), uint_opt(coap::options::kHopLimit, 5)});
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(uint_of(parsed(n.upstream.back()), coap::options::kHopLimit), 4u);
}

TEST(ForwardProxy, ConcurrentMissesShareOneUpstreamExchange) {
    ProxyNet n;
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 3; ++i) {
        coap::Request r;
        r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t")};
        ids.push_back(n.client.send_request(n.now, kPD, std::move(r)).id);
    }
    n.run_for(Duration::seconds(5));
    EXPECT_EQ(n.origin_calls, 1);
    EXPECT_EQ(n.proxy.stats().coalesced, 2u);
    int answered = 0;
    for (const auto& e : n.events) answered += e.kind == coap::EventKind::Response && text(e) == "hello";
    EXPECT_EQ(answered, 3);
}

TEST(ForwardProxy, TargetsItRefusesAndWhy) {
    ProxyNet n;
    coap::Event e = n.get("http://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kBadOption);
    EXPECT_EQ(text(e), "Proxy-Uri: unsupported-scheme");
    EXPECT_EQ(n.get("coaps://10.0.0.3/t").message.code, coap::codes::kProxyingNotSupported);
    EXPECT_EQ(n.get("coap://10.0.0.2/t").message.code, coap::codes::kNotFound);  // the proxy itself
    EXPECT_EQ(n.get("coap://origin.example/t").message.code, coap::codes::kBadGateway);  // no resolver
    EXPECT_EQ(n.origin_calls, 0);
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.allow = [](const Target&, const coap::Peer& p) { return p != kO; };
    ProxyNet guarded(pc);
    EXPECT_EQ(guarded.get("coap://10.0.0.3/t").message.code, coap::codes::kForbidden);
    EXPECT_EQ(guarded.origin_calls, 0);
    // A resolver for names: the host is sent as Uri-Host.
    pc = proxy_config();
    pc.resolve = [](const Target& t) -> std::optional<coap::Peer> {
        if (t.host == "origin.example") return coap::Peer::ipv4(0x0a000003, t.port);
        return std::nullopt;
    };
    ProxyNet named(pc);
    e = named.get("coap://Origin.Example/t");
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    bool uri_host = false;
    for (const auto& o : parsed(named.upstream.back()).options) {
        uri_host |= o.number == coap::options::kUriHost && std::string(o.value.begin(), o.value.end()) == "origin.example";
    }
    EXPECT_TRUE(uri_host);
}

TEST(ForwardProxy, UpstreamFailuresBecome504And502) {
    ProxyNet n;
    n.drop = [](const coap::Peer& from, const coap::Peer&) { return from == kPU; };  // the origin never hears us
    coap::Event e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kGatewayTimeout);
    EXPECT_EQ(n.proxy.stats().upstream_timeouts, 1u);
    n.drop = nullptr;
    e = n.get("coap://10.0.0.3/silent");  // an empty ACK upstream, then nothing
    EXPECT_EQ(e.message.code, coap::codes::kGatewayTimeout);
    e = n.get("coap://10.0.0.3/odd");  // §5.7.1: an unsafe option the proxy does not know
    EXPECT_EQ(e.message.code, coap::codes::kBadGateway);
    EXPECT_EQ(n.proxy.inflight(), 0u);
}

TEST(ForwardProxy, OnlyTheOriginsAddressPortAndTokenAreAccepted) {
    // PROXY.md §3.1: forged responses from another port, or with another token, are
    // dropped; the real one is what gets cached and served.
    ProxyNet n;
    n.drop = [](const coap::Peer& from, const coap::Peer&) { return from == kO; };  // hold the origin's answers
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t")};
    const auto id = n.client.send_request(n.now, kPD, std::move(r)).id;
    n.run_for(Duration::milliseconds(100));
    ASSERT_FALSE(n.upstream.empty());
    const coap::Message up = parsed(n.upstream.front());
    auto forge = [&](const coap::Peer& from, std::vector<std::uint8_t> token) {
        coap::Message f;
        f.type = coap::MessageType::Non;
        f.code = coap::codes::kContent;
        f.message_id = 999;
        f.token = std::move(token);
        f.options.push_back(uint_opt(coap::options::kMaxAge, 0xFFFFFFFFu));
        f.payload = {'e', 'v', 'i', 'l'};
        const auto d = coap::encode(f);
        n.proxy.handle_datagram(n.now, Side::Up, from, coap::Bytes(d.data(), d.size()));
    };
    forge(coap::Peer::ipv4(0x0a000003, 9999), up.token);  // right token, wrong port
    std::vector<std::uint8_t> wrong = up.token;
    wrong[0] ^= 1;
    forge(kO, wrong);  // right address, wrong token
    n.drop = nullptr;
    n.run_for(Duration::seconds(10));  // the origin's retransmitted answer... or ours: the real one arrives
    const coap::Event* got = nullptr;
    for (const auto& e : n.events) got = e.id == id ? &e : got;
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(text(*got), "hello");
    EXPECT_EQ(text(n.get("coap://10.0.0.3/t")), "hello");  // and what is cached
}

TEST(ForwardProxy, BlockwiseBodiesAreStoredAndServedWithoutRefetching) {
    // Store-and-forward: the client's Block2 continuations are served from the stored
    // body; a second transfer within Max-Age costs the origin nothing.
    ProxyNet n;
    coap::Event e = n.get("coap://10.0.0.3/big");
    ASSERT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(e.message.payload.size(), 3000u);
    const int fetch = n.origin_calls;  // one upstream transfer: three 1024-byte blocks
    EXPECT_EQ(fetch, 3);
    e = n.get("coap://10.0.0.3/big");
    EXPECT_EQ(e.message.payload.size(), 3000u);
    EXPECT_EQ(n.origin_calls, fetch);
    // A client that asks for small blocks up front (RFC 7959 §2.4) gets them.
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/big")};
    r.block2_szx = 2;
    const auto id = n.client.send_request(n.now, kPD, std::move(r)).id;
    n.run_for(Duration::seconds(5));
    for (const auto& ev : n.events) {
        if (ev.id == id) {
            EXPECT_EQ(ev.message.payload.size(), 3000u);
        }
    }
    EXPECT_EQ(n.origin_calls, fetch);
}

TEST(ForwardProxy, ChangesInvalidateAndStaleEntriesAreRevalidatedByETag) {
    ProxyNet n;
    n.max_age = 10;
    EXPECT_EQ(text(n.get("coap://10.0.0.3/t")), "hello");
    EXPECT_EQ(n.origin_calls, 1);
    // A client that holds the current ETag gets 2.03 from the cache (§5.10.6.2).
    coap::Event e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), opt(coap::options::kETag, "v1")});
    EXPECT_EQ(e.message.code, coap::codes::kValid);
    EXPECT_EQ(n.origin_calls, 1);
    // Stale: revalidated upstream with the stored ETag; 2.03 makes it fresh for 30 s.
    n.run_for(Duration::seconds(15));
    e = n.get("coap://10.0.0.3/t");
    EXPECT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(text(e), "hello");
    EXPECT_EQ(n.origin_calls, 2);
    EXPECT_EQ(n.proxy.stats().revalidated, 1u);
    const auto age = uint_of(e.message, coap::options::kMaxAge);
    ASSERT_TRUE(age.has_value());
    EXPECT_GE(*age, 28u);
    // A PUT to the target (2.04) makes the entry stale: the next GET goes upstream.
    EXPECT_EQ(n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t")}, coap::codes::kPut, "new").message.code,
              coap::codes::kChanged);
    const int after_put = n.origin_calls;
    n.get("coap://10.0.0.3/t");
    EXPECT_EQ(n.origin_calls, after_put + 1);
}

TEST(ForwardProxy, UnknownOptionsUnsafeToForwardAre402AndSafeOnesAreForwarded) {
    ProxyNet n;
    coap::Event e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), opt(65002, "x")});
    EXPECT_EQ(e.message.code, coap::codes::kBadOption);
    EXPECT_EQ(n.origin_calls, 0);
    // 65001: critical, safe to forward, unknown: forwarded (the origin then judges it).
    e = n.get({opt(coap::options::kProxyUri, "coap://10.0.0.3/t"), opt(65001, "y")});
    bool forwarded = false;
    for (const auto& o : parsed(n.upstream.back()).options) forwarded |= o.number == 65001;
    EXPECT_TRUE(forwarded);
    EXPECT_EQ(e.message.code, coap::codes::kBadOption);  // the origin's 4.02, passed on
}

TEST(ForwardProxy, UpstreamExchangesAreBounded) {
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.max_inflight = 4;
    ProxyNet n(pc);
    n.drop = [](const coap::Peer& from, const coap::Peer&) { return from == kPU; };
    for (int i = 0; i < 10; ++i) {
        coap::Request r;
        r.options = {opt(coap::options::kProxyUri, "coap://10.0.0.3/t" + std::to_string(i))};
        ASSERT_TRUE(n.client.send_request(n.now, kPD, std::move(r)).ok());
    }
    n.run_for(Duration::seconds(1));
    EXPECT_EQ(n.proxy.inflight(), 4u);
    EXPECT_EQ(n.proxy.stats().busy, 6u);
    int busy = 0;
    for (const auto& e : n.events) busy += e.message.code == coap::codes::kServiceUnavailable;
    EXPECT_EQ(busy, 6);
    n.run_for(Duration::seconds(500));  // NSTART 1 toward the origin: one after the other
    EXPECT_EQ(n.proxy.inflight(), 0u);
}

TEST(ForwardProxy, BodiesTheCacheDoesNotKeepServeTheirTransferOnce) {
    // Max-Age 0: not cached, but the client's Block2 continuations come from the body
    // kept for its transfer: one upstream fetch (3 blocks) per transfer, not one per block.
    ProxyNet n;
    coap::Event e = n.get("coap://10.0.0.3/live");
    ASSERT_EQ(e.message.code, coap::codes::kContent);
    EXPECT_EQ(e.message.payload.size(), 2500u);
    EXPECT_EQ(n.origin_calls, 3);
    EXPECT_EQ(n.proxy.stats().transfer_hits, 2u);
    EXPECT_EQ(n.proxy.cache().size(), 0u);
    // The next transfer fetches again (Max-Age 0), once.
    n.get("coap://10.0.0.3/live");
    EXPECT_EQ(n.origin_calls, 6);
    // Bounded: with room for one body, a second transfer's body displaces the first.
    coap::proxy::ProxyConfig pc = proxy_config();
    pc.max_transfers = 1;
    ProxyNet small(pc);
    small.get("coap://10.0.0.3/live");
    small.get("coap://10.0.0.3/live?other");
    EXPECT_LE(small.proxy.transfers(), 1u);
    EXPECT_GE(small.proxy.stats().transfers_dropped, 1u);
    // Kept for a while only.
    small.run_for(Duration::seconds(100));
    EXPECT_EQ(small.proxy.transfers(), 0u);
}

TEST(Server, ADeferredAnswerWithinTheAckDelayIsPiggybacked) {
    // RFC 7252 §5.2.2: a server may wait before the empty ACK; what it answers meanwhile
    // goes in the ACK (§5.2.1). After the wait: the empty ACK, then a CON response.
    for (const int answer_after_ms : {300, 1500}) {
        TestNetwork net(1);
        coap::EndpointConfig sc;
        sc.separate_ack_delay = Duration::seconds(1);
        TestNetwork::Node& client = net.add({}, 0x0a000001);
        TestNetwork::Node& server = net.add(sc, 0x0a000002);
        std::uint64_t exchange = 0;
        coap::ResourceConfig rc;
        rc.handler = [&](const coap::IncomingRequest& in) {
            exchange = in.exchange_id;
            return coap::HandlerResult::defer();
        };
        ASSERT_EQ(server.endpoint->add_resource("later", rc), coap::ApiError::Ok);
        ASSERT_TRUE(client.endpoint->send_request(net.now(), server.address, coap::Request().path("later")).ok());
        net.flush_all();
        net.drive(net.now() + Duration::milliseconds(answer_after_ms));
        ASSERT_NE(exchange, 0u);
        ASSERT_EQ(server.endpoint->respond(net.now(), exchange, coap::Response::with(coap::codes::kContent, "done")),
                  coap::ApiError::Ok);
        net.flush_all();
        net.drive(net.now() + Duration::seconds(10));
        ASSERT_EQ(client.events.size(), 1u) << answer_after_ms;
        EXPECT_EQ(text(client.events[0]), "done");
        std::vector<coap::MessageType> from_server;
        for (const auto& c : net.log()) {
            if (c.from == server.address) {
                coap::MessageView v;
                ASSERT_TRUE(coap::parse(coap::Bytes(c.bytes.data(), c.bytes.size()), v).ok());
                from_server.push_back(v.type());
            }
        }
        if (answer_after_ms < 1000) {
            EXPECT_EQ(from_server, std::vector<coap::MessageType>({coap::MessageType::Ack}));  // piggybacked
        } else {
            EXPECT_EQ(from_server, std::vector<coap::MessageType>({coap::MessageType::Ack, coap::MessageType::Con}));
        }
    }
}

TEST(Client, ResponsesThatMatchNothingDrawAtMostTenRstsASecond) {
    // A flood of forged responses (any source, random tokens) must not become a flood of
    // RSTs toward the forged source (scenarios/proxy-poisoning.toml): a bucket of 10, 10/s.
    coap::Xoshiro256 rng(5);
    coap::Endpoint ep(coap::EndpointConfig{}, rng);
    const coap::Peer origin = coap::Peer::ipv4(0x0a000003, 5683);
    TimePoint now = TimePoint::from_ns(5'000'000'000);
    auto forge = [&](std::uint16_t mid) {
        coap::Message f;
        f.type = coap::MessageType::Non;
        f.code = coap::codes::kContent;
        f.message_id = mid;
        f.token = {static_cast<std::uint8_t>(mid), 0x42};
        const auto d = coap::encode(f);
        ep.handle_datagram(now, origin, coap::Bytes(d.data(), d.size()));
    };
    auto rsts = [&] {
        std::size_t n = 0;
        coap::Transmit t;
        while (ep.poll_transmit(t)) n += t.bytes.size() == 4 && (t.bytes[0] >> 4 & 3) == 3;
        return n;
    };
    for (std::uint16_t i = 0; i < 1000; ++i) {
        forge(i);
        now += Duration::milliseconds(1);  // 1000 forgeries in one second
    }
    const std::size_t first_second = rsts();
    EXPECT_GE(first_second, 10u);
    EXPECT_LE(first_second, 21u);  // the burst, and one second of refill
    EXPECT_EQ(ep.stats().rst_suppressed, 1000u - first_second);
    now += Duration::seconds(5);  // quiet: the bucket is full again
    for (std::uint16_t i = 0; i < 5; ++i) forge(static_cast<std::uint16_t>(2000 + i));
    EXPECT_EQ(rsts(), 5u);
}

namespace {

/// Two proxies that name each other as the next hop for "loop.example", and a client of
/// the first: a forwarding loop (PROXY.md §3.5).
struct Loop {
    coap::Xoshiro256 rc{11}, r1{12}, r2{13}, r3{14}, r4{15};
    const coap::Peer client_addr = coap::Peer::ipv4(0x0a000001, 40000);
    const coap::Peer a_down = coap::Peer::ipv4(0x0a000002, 5683), a_up = coap::Peer::ipv4(0x0a000002, 41000);
    const coap::Peer b_down = coap::Peer::ipv4(0x0a000004, 5683), b_up = coap::Peer::ipv4(0x0a000004, 41000);
    coap::Endpoint client{patient(), rc};
    std::unique_ptr<ForwardProxy> a, b;
    TimePoint now = TimePoint::from_ns(1'000'000'000);
    std::vector<coap::Event> events;
    std::size_t datagrams = 0;

    explicit Loop(bool honour, bool coalesce = true) {
        auto config = [&](const char* id, const coap::Peer& self, const coap::Peer& other) {
            coap::proxy::ProxyConfig pc;
            pc.identifier = id;
            pc.local_host = self.to_string().substr(0, self.to_string().find(':'));
            pc.honour_hop_limit = honour;
            pc.max_inflight = 8;
            pc.coalesce = coalesce;
            pc.next_hop = [other](const Target& t) -> std::optional<coap::Peer> {
                if (t.host == "loop.example") return other;
                return std::nullopt;
            };
            return pc;
        };
        coap::EndpointConfig down;
        down.separate_response_timeout = Duration::seconds(300);
        a = std::make_unique<ForwardProxy>(down, patient(), config("A", a_down, b_down), r1, r2);
        b = std::make_unique<ForwardProxy>(down, patient(), config("B", b_down, a_down), r3, r4);
    }
    void deliver(const coap::Peer& from, const coap::Peer& to, const std::vector<std::uint8_t>& d) {
        ++datagrams;
        const coap::Bytes bytes(d.data(), d.size());
        if (to == client_addr) client.handle_datagram(now, from, bytes);
        if (to == a_down) a->handle_datagram(now, Side::Down, from, bytes);
        if (to == a_up) a->handle_datagram(now, Side::Up, from, bytes);
        if (to == b_down) b->handle_datagram(now, Side::Down, from, bytes);
        if (to == b_up) b->handle_datagram(now, Side::Up, from, bytes);
    }
    void flush() {
        coap::Transmit t;
        for (bool any = true; any;) {
            any = false;
            while (client.poll_transmit(t)) {
                any = true;
                deliver(client_addr, t.peer, t.bytes);
            }
            for (auto* p : {a.get(), b.get()}) {
                Side side;
                while (p->poll_transmit(side, t)) {
                    any = true;
                    const coap::Peer& self = p == a.get() ? (side == Side::Down ? a_down : a_up)
                                                          : (side == Side::Down ? b_down : b_up);
                    deliver(self, t.peer, t.bytes);
                }
            }
            coap::Event e;
            while (client.poll_event(e)) events.push_back(e);
        }
    }
    void run_for(Duration d) {
        const TimePoint end = now + d;
        flush();
        while (true) {
            std::optional<TimePoint> next = client.poll_timeout();
            for (const auto& t : {a->poll_timeout(), b->poll_timeout()}) {
                if (t && (!next || *t < *next)) next = t;
            }
            if (!next || *next > end) break;
            now = std::max(now, *next);
            client.handle_timeout(now);
            a->handle_timeout(now);
            b->handle_timeout(now);
            flush();
        }
        now = end;
    }
};

}  // namespace

TEST(ForwardProxy, HopLimitEndsAForwardingLoopAfterTheInitialHopCount) {
    // RFC 8768: A inserts 16; each hop decrements; the proxy that receives 1 answers 5.08
    // with its identifier, and every proxy on the way back puts its own in front.
    Loop loop(true);
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://loop.example/x")};
    ASSERT_TRUE(loop.client.send_request(loop.now, loop.a_down, std::move(r)).ok());
    loop.run_for(Duration::seconds(60));
    ASSERT_EQ(loop.events.size(), 1u);
    EXPECT_EQ(loop.events[0].message.code, coap::codes::kHopLimitReached);
    // 16 forwards (Hop-Limit 16 down to 1; as two libcoap proxies do, PROXY.md §0); the
    // 17th proxy, which got 1, says 5.08, and all 17 are named on the way back.
    EXPECT_EQ(loop.a->stats().to_next_hop + loop.b->stats().to_next_hop, 16u);
    EXPECT_EQ(text(loop.events[0]), "A B A B A B A B A B A B A B A B A");
    EXPECT_EQ(loop.a->inflight() + loop.b->inflight(), 0u);
}

TEST(ForwardProxy, WithoutHopLimitALoopRunsUntilTheInflightBoundThenUnwinds) {
    // The RFC 8768-unaware baseline (and no coalescing, as libcoap's proxy): nothing stops
    // the loop but max_inflight (8 each); the request that finds a full table gets 5.03,
    // which unwinds the chain. (With coalescing it stops at the second pass instead, each
    // proxy waiting on its own exchange until a time-out.)
    Loop loop(false, false);
    coap::Request r;
    r.options = {opt(coap::options::kProxyUri, "coap://loop.example/x")};
    ASSERT_TRUE(loop.client.send_request(loop.now, loop.a_down, std::move(r)).ok());
    loop.run_for(Duration::seconds(600));
    ASSERT_EQ(loop.events.size(), 1u);
    EXPECT_EQ(loop.events[0].message.code, coap::codes::kServiceUnavailable);
    EXPECT_EQ(loop.a->stats().to_next_hop + loop.b->stats().to_next_hop, 16u);  // 8 + 8, then full
    EXPECT_EQ(loop.a->inflight() + loop.b->inflight(), 0u);
}
