#include "coap/proxy/cache_key.h"

#include <arpa/inet.h>

#include <array>

#include "coap/options/registry.h"

namespace coap::proxy {

namespace {

bool equals_ignoring_case(Bytes value, std::string_view word) {
    if (value.size() != word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i) {
        char c = static_cast<char>(value.data()[i]);
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != word[i]) return false;
    }
    return true;
}

/// An IP literal in its one canonical text (RFC 5952 for IPv6): "2001:DB8:0::1" and
/// "2001:db8::1" name one host.
std::string canonical_host(HostKind kind, std::string_view host) {
    std::string text(host);
    if (kind == HostKind::RegName) return text;
    const int family = kind == HostKind::IPv4 ? AF_INET : AF_INET6;
    std::array<unsigned char, 16> addr{};
    std::array<char, INET6_ADDRSTRLEN> out{};
    if (inet_pton(family, text.c_str(), addr.data()) != 1 ||
        inet_ntop(family, addr.data(), out.data(), static_cast<socklen_t>(out.size())) == nullptr) {
        return text;
    }
    return out.data();
}

TargetResult from_uri(std::string_view text, TargetError on_error, Target& out) {
    UriOptions uo;
    const UriResult r = decompose_uri(text, uo);
    if (!r.ok()) return {on_error, r};
    out.scheme = uo.scheme();
    out.host_kind = uo.host_kind();
    out.port = uo.port();
    std::string_view host = uo.host();
    if (out.host_kind == HostKind::RegName) {
        // A Uri-Host holding an IP address ("10.0.0.3", "[2001:db8::1]", as libcoap's -O 3,...
        // sends it) names that address, not a host name: be liberal in what we accept.
        const std::string_view bare = host.size() > 2 && host.front() == '[' && host.back() == ']'
                                          ? host.substr(1, host.size() - 2)
                                          : host;
        std::array<unsigned char, 16> addr{};
        const std::string literal(bare);
        if (inet_pton(AF_INET, literal.c_str(), addr.data()) == 1) {
            out.host_kind = HostKind::IPv4;
            host = bare;
        } else if (inet_pton(AF_INET6, literal.c_str(), addr.data()) == 1) {
            out.host_kind = HostKind::IPv6;
            host = bare;
        }
    }
    out.host = canonical_host(out.host_kind, host);
    out.options.clear();
    for (std::size_t i = 0; i < uo.size(); ++i) {
        const Option o = uo[i];
        // §6.4 step 5: an IP host is not sent as Uri-Host.
        if (o.number == options::kUriHost && out.host_kind != HostKind::RegName) continue;
        out.options.push_back(OwnedOption{o.number, std::vector<std::uint8_t>(o.value.begin(), o.value.end())});
    }
    return {};
}

bool is_uri_option(std::uint16_t n) {
    return n == options::kUriHost || n == options::kUriPort || n == options::kUriPath || n == options::kUriQuery;
}

void put_varint(std::string& key, std::uint64_t v) {
    do {
        const auto b = static_cast<std::uint8_t>(v & 0x7f);
        v >>= 7;
        key.push_back(static_cast<char>(v != 0 ? (b | 0x80) : b));
    } while (v != 0);
}

void put_frame(std::string& key, std::string_view bytes) {
    put_varint(key, bytes.size());
    key.append(bytes);
}

}  // namespace

TargetResult proxy_target(const MessageView& m, std::string_view local_host, std::uint16_t local_port, Target& out,
                          bool strict) {
    const std::size_t n = m.option_count();
    const std::size_t proxy_uri = m.find(options::kProxyUri);
    if (proxy_uri < n) {
        if (m.count(options::kProxyUri) > 1) return {TargetError::BadProxyUri, {UriError::Ok, 0}};  // §5.4.5
        if (strict) {
            for (std::size_t i = 0; i < n; ++i) {
                if (is_uri_option(m.option(i).number)) return {TargetError::UriOptionsWithProxyUri, {}};
            }
        }
        // §5.10.2: Proxy-Uri takes precedence; any Uri-* options are not used.
        return from_uri(m.option(proxy_uri).value.as_chars(), TargetError::BadProxyUri, out);
    }
    const std::size_t proxy_scheme = m.find(options::kProxyScheme);
    if (proxy_scheme >= n) return {TargetError::NotProxyRequest, {}};
    const Bytes scheme_value = m.option(proxy_scheme).value;
    Scheme scheme = Scheme::Coap;
    if (equals_ignoring_case(scheme_value, "coaps")) {
        scheme = Scheme::Coaps;
    } else if (!equals_ignoring_case(scheme_value, "coap")) {
        return {TargetError::BadUriOptions, {UriError::UnsupportedScheme, 0}};
    }
    // §6.5: compose the URI from the Uri-* options and the request's destination, then
    // decompose it like any Proxy-Uri, so that both forms meet in one canonical target.
    std::array<Option, UriOptions::kMaxOptions> uri{};
    std::size_t count = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const Option o = m.option(i);
        if (!is_uri_option(o.number)) continue;
        if (count == uri.size()) return {TargetError::BadUriOptions, {UriError::TooManyOptions, 0}};
        uri[count++] = o;
    }
    std::string text;
    const UriResult composed = compose_uri(scheme, local_host, local_port, uri.data(), count, text);
    if (!composed.ok()) return {TargetError::BadUriOptions, composed};
    return from_uri(text, TargetError::BadUriOptions, out);
}

bool in_cache_key(std::uint16_t number, bool block2_continuation) noexcept {
    if ((number & 0x1e) == 0x1c) return false;  // §5.4.6: NoCacheKey
    switch (number) {
        case options::kProxyUri:
        case options::kProxyScheme:
        case options::kUriHost:
        case options::kUriPort:
        case options::kUriPath:
        case options::kUriQuery:  // in the target
        case options::kObserve:   // RFC 7641 §2: not part of the cache key
        case options::kETag:      // validation, interpreted by the cache (§5.6.2)
        case options::kBlock1:
        case options::kBlock2:
        case options::kSize1:
        case options::kSize2:     // RFC 7959 §2.10: interpreted
        case options::kHopLimit:  // RFC 8768 §3: interpreted by every proxy
        case options::kEcho:      // RFC 9175 §2.2: between two endpoints only
            return false;
        case options::kRequestTag:  // RFC 9175 §3.4: not part of a Block2 continuation's key
            return !block2_continuation;
        default:
            return true;
    }
}

namespace {

void put_target(std::string& key, const Target& target) {
    put_varint(key, static_cast<std::uint64_t>(target.scheme));
    put_frame(key, target.host);
    put_varint(key, target.port);
    for (const OwnedOption& o : target.options) {
        put_varint(key, o.number);
        put_frame(key, std::string_view(reinterpret_cast<const char*>(o.value.data()), o.value.size()));
    }
    put_varint(key, 0);  // end of the target (no option has number 0)
}

}  // namespace

std::string target_id(const Target& target) {
    std::string id;
    put_target(id, target);
    return id;
}

std::string cache_key(const MessageView& m, const Target& target, bool block2_continuation, std::string_view domain) {
    std::string key;
    key.reserve(64);
    put_varint(key, 1);  // the key format's version
    put_varint(key, m.code().raw);
    put_target(key, target);
    for (std::size_t i = 0; i < m.option_count(); ++i) {
        const Option o = m.option(i);
        if (!in_cache_key(o.number, block2_continuation)) continue;
        put_varint(key, o.number);
        put_frame(key, o.value.as_chars());
    }
    put_varint(key, 0);
    put_frame(key, m.code() == codes::kFetch ? m.payload().as_chars() : std::string_view());
    put_frame(key, domain);
    return key;
}

}  // namespace coap::proxy
