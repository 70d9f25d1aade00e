// The proxy's building blocks: 5.05 from an endpoint that is no proxy (RFC 7252 §5.7.2),
// the canonical target and cache key of a proxy request (src/coap/proxy/cache_key.h),
// and the response cache (src/coap/proxy/response_cache.h: §5.6 freshness, ETag
// revalidation, invalidation, bounds).
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/proxy/cache_key.h"
#include "coap/proxy/response_cache.h"
#include "proxy_test_util.h"
#include "test_network.h"

using coap::Duration;
using coap::TimePoint;
using coap::proxy::ResponseCache;
using coap::proxy::StoreResult;
using coap::proxy::Target;
using coap::proxy::TargetError;
using coapbed::test::TestNetwork;
using coapbed::test::opt;
using coapbed::test::uint_opt;

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
