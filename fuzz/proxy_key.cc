// Fuzz target: a proxy request's target and cache key (src/coap/proxy/cache_key.h), the
// code that reads Proxy-Uri / Proxy-Scheme + Uri-* from hostile datagrams. Invariants:
// no crash, the key is a pure function of the request, and the canonical target is a
// fixed point: the request rebuilt from it (as Proxy-Uri, §6.5 composition) has the same
// target, and the same key.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "check.h"
#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/proxy/cache_key.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::MessageView m;
    if (!coap::parse(coap::Bytes(data, size), m).ok()) return 0;
    coap::proxy::Target t;
    const coap::proxy::TargetResult r = coap::proxy::proxy_target(m, "192.0.2.1", 5683, t);
    coap::proxy::Target strict;
    const coap::proxy::TargetResult rs = coap::proxy::proxy_target(m, "192.0.2.1", 5683, strict, true);
    FUZZ_CHECK(!rs.ok() || (r.ok() && strict == t));  // strict accepts a subset
    if (!r.ok()) return 0;
    const std::string key = coap::proxy::cache_key(m, t);
    FUZZ_CHECK(key == coap::proxy::cache_key(m, t));
    // Rebuild the request as Proxy-Uri from the canonical target, keeping the options
    // that are neither Proxy-* nor Uri-*.
    std::vector<coap::Option> uri_options;
    for (const auto& o : t.options) uri_options.push_back(coap::Option{o.number, coap::Bytes(o.value.data(), o.value.size())});
    std::string uri;
    const std::string host = t.host_kind == coap::HostKind::RegName ? std::string("192.0.2.9") : t.host;
    if (!coap::compose_uri(t.scheme, host, t.port, uri_options.data(), uri_options.size(), uri).ok()) return 0;
    if (uri.size() > coap::kMaxUriLength) return 0;
    coap::Message again;
    again.type = m.type();
    again.code = m.code();
    again.message_id = m.message_id();
    for (std::size_t i = 0; i < m.option_count(); ++i) {
        const coap::Option o = m.option(i);
        if (o.number == coap::options::kProxyUri || o.number == coap::options::kProxyScheme ||
            o.number == coap::options::kUriHost || o.number == coap::options::kUriPort ||
            o.number == coap::options::kUriPath || o.number == coap::options::kUriQuery) {
            continue;
        }
        again.options.push_back(coap::OwnedOption{o.number, std::vector<std::uint8_t>(o.value.begin(), o.value.end())});
    }
    again.options.push_back(coap::OwnedOption{coap::options::kProxyUri, std::vector<std::uint8_t>(uri.begin(), uri.end())});
    std::stable_sort(again.options.begin(), again.options.end(),
                     [](const auto& a, const auto& b) { return a.number < b.number; });
    again.payload.assign(m.payload().begin(), m.payload().end());
    const std::vector<std::uint8_t> wire = coap::encode(again);
    coap::MessageView m2;
    if (wire.empty() || !coap::parse(coap::Bytes(wire.data(), wire.size()), m2).ok()) return 0;
    coap::proxy::Target t2;
    FUZZ_CHECK(coap::proxy::proxy_target(m2, "192.0.2.1", 5683, t2).ok());
    FUZZ_CHECK(t2 == t);
    FUZZ_CHECK(coap::proxy::cache_key(m2, t2) == key);
    return 0;
}
