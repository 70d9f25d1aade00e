// Fuzz target: a Proxy-Uri decomposed by our proxy (proxy_target, src/coap/proxy/
// cache_key.h, through the uri module) and by libcoap 4.3.1's forward proxy
// (coap_split_proxy_uri, then coap_split_path / coap_split_query for the options it
// sends upstream). They must agree on accept/reject and, when both accept, on the
// scheme, the port, and the Uri-Path and Uri-Query values; the host is compared as
// text after our canonicalisation is applied to libcoap's (lower case, percent-decoded).
//
// Documented differences (inputs in these classes are not compared; each names the rule
// that decides who is right):
//  1. Schemes other than coap/coaps (coap+tcp, http, https, ...): libcoap's proxy accepts
//     them (it can forward to TCP and HTTP); ours is a CoAP-over-UDP proxy and answers
//     5.05 / 4.02. Both allowed (RFC 7252 §5.7.2: a proxy chooses what it supports).
//  2. Inputs where libcoap accepts what RFC 3986 forbids, and we refuse: characters
//     the URI grammar does not allow where they stand (space, control bytes, bytes
//     >= 0x80, '"', '<', '>', '\\', '^', '`', '{', '|', '}' anywhere; '[' and ']' outside
//     an IP literal, RFC 3986 §3.3), a '%' not followed by two hex digits (libcoap then
//     sends no Uri-Path at all for "coap://h/%zz"), userinfo ("u@h": libcoap takes "u@h"
//     as the host), a fragment ("#f": RFC 7252 §6.4 step 4 fails it; libcoap cuts it
//     off), a path or query value over 255 bytes (§5.10.1), a host that is not a valid
//     reg-name or IP literal. libcoap is lenient here; RFC 7252 §5.10.2 makes a Proxy-Uri
//     that is not a valid absolute URI a 4.02.
//  3. Dot-segments: we remove them (RFC 3986 §5.2.4, "a/./b/../c" is a, c), also when
//     percent-encoded ("%2E%2E" is ".." once decoded, RFC 3986 §2.3, §6.2.2.2); libcoap
//     4.3.1 drops "." and ".." segments without resolving them ("a/./b/../c" gives a, b,
//     c) and sends "%2e%2e" as a segment "..". libcoap is wrong here. Compared only when
//     the path has no '.' in any form.
//  4. Percent-encoded characters in the host: we decode them (RFC 7252 §6.4 step 5,
//     "Uri-Host ... after converting percent-encodings"); libcoap keeps "H%41st" as it
//     is. Compared after our decoding is applied to libcoap's host; IP literals are
//     compared as our canonical text only (RFC 5952: libcoap keeps the text as given).
//  7. An empty query ("coap://h/a?"): the URI has a query component, with one (empty)
//     argument, so we send one empty Uri-Query (RFC 7252 §6.4 step 9, "If |url| has a
//     <query> component ... for each argument"; §6.5 composes it back to "?"); libcoap
//     sends none. Compared only when the query is not empty.
// On any other disagreement the harness prints the input and aborts.
#include <coap3/coap.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/options/registry.h"
#include "coap/proxy/cache_key.h"

namespace {

[[noreturn]] void fail(const char* what, const std::uint8_t* data, std::size_t size) {
    std::fprintf(stderr, "proxy_uri: %s\ninput: \"", what);
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\') {
            std::fputc(data[i], stderr);
        } else {
            std::fprintf(stderr, "\\x%02x", data[i]);
        }
    }
    std::fprintf(stderr, "\"\n");
    std::abort();
}

/// The option values libcoap's coap_split_path / coap_split_query wrote into `buf`: each
/// an option header with delta 0 (RFC 7252 §3.1 encoding of the length), then the value.
bool read_segments(const unsigned char* buf, std::size_t len, int count, std::vector<std::string>& out) {
    std::size_t i = 0;
    for (int k = 0; k < count; ++k) {
        if (i >= len) return false;
        std::size_t n = buf[i] & 0x0f;
        ++i;
        if (n == 13) {
            if (i >= len) return false;
            n = 13 + buf[i++];
        } else if (n == 14) {
            if (i + 1 >= len) return false;
            n = 269 + (static_cast<std::size_t>(buf[i]) << 8) + buf[i + 1];
            i += 2;
        }
        if (i + n > len) return false;
        out.emplace_back(reinterpret_cast<const char*>(buf + i), n);
        i += n;
    }
    return true;
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Our host canonicalisation (difference 4) applied to libcoap's raw host text.
std::string canonical_host(std::string_view h) {
    std::string out;
    for (std::size_t i = 0; i < h.size(); ++i) {
        if (h[i] == '%' && i + 2 < h.size() && hex(h[i + 1]) >= 0 && hex(h[i + 2]) >= 0) {
            out += static_cast<char>(hex(h[i + 1]) * 16 + hex(h[i + 2]));
            i += 2;
        } else {
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(h[i])));
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 1034) return 0;  // Proxy-Uri is 1-1034 bytes (RFC 7252 §5.10)
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    // Ours: a GET with this Proxy-Uri, as the proxy reads it.
    coap::Message m;
    m.code = coap::codes::kGet;
    m.message_id = 1;
    m.options.push_back({coap::options::kProxyUri, std::vector<std::uint8_t>(data, data + size)});
    const std::vector<std::uint8_t> wire = coap::encode(m);
    coap::MessageView v;
    if (wire.empty() || !coap::parse(coap::Bytes(wire.data(), wire.size()), v).ok()) fail("our encoding failed", data, size);
    coap::proxy::Target ours;
    const bool ours_ok = coap::proxy::proxy_target(v, "192.0.2.1", 5683, ours).ok();

    // libcoap's proxy.
    coap_uri_t uri{};
    const bool theirs_ok = coap_split_proxy_uri(data, size, &uri) == 0;

    // Difference 1: schemes we do not proxy.
    if (theirs_ok && uri.scheme != COAP_URI_SCHEME_COAP && uri.scheme != COAP_URI_SCHEME_COAPS) return 0;
    // Difference 2: what RFC 3986 / RFC 7252 refuse and libcoap lets through.
    if (theirs_ok && !ours_ok) {
        coap::UriOptions decomposed;
        switch (coap::decompose_uri(text, decomposed).error) {
            case coap::UriError::BadCharacter:
            case coap::UriError::BadPercentEncoding:
            case coap::UriError::HasFragment:
            case coap::UriError::UserinfoNotAllowed:
            case coap::UriError::EmptyHost:
            case coap::UriError::BadHost:
            case coap::UriError::BadIpLiteral:
            case coap::UriError::BadPort:
            case coap::UriError::PortOutOfRange:
            case coap::UriError::HostTooLong:
            case coap::UriError::SegmentTooLong:
            case coap::UriError::QueryTooLong:
            case coap::UriError::TooManyOptions:
            case coap::UriError::TooLong:
                return 0;
            default:
                break;
        }
    }
    if (ours_ok && !theirs_ok) {
        // Difference 6: upper case in the scheme.
        const std::string_view scheme = text.substr(0, text.find(':'));
        if (std::any_of(scheme.begin(), scheme.end(), [](char c) { return std::isupper(static_cast<unsigned char>(c)); })) {
            return 0;
        }
        // Difference 5: the authority ends at a '?'.
        const std::size_t start = text.find("//");
        const std::size_t end = text.find_first_of("/?", start == std::string_view::npos ? 0 : start + 2);
        if (start != std::string_view::npos && end != std::string_view::npos && text[end] == '?') return 0;
    }
    if (ours_ok != theirs_ok) fail(ours_ok ? "we accept, libcoap refuses" : "libcoap accepts, we refuse", data, size);
    if (!ours_ok) return 0;

    if ((ours.scheme == coap::Scheme::Coaps) != (uri.scheme == COAP_URI_SCHEME_COAPS)) fail("scheme", data, size);
    if (ours.port != uri.port) fail("port", data, size);
    std::string host(reinterpret_cast<const char*>(uri.host.s), uri.host.length);
    if (ours.host != canonical_host(host) && !(ours.host_kind == coap::HostKind::IPv6 || ours.host_kind == coap::HostKind::IPv4)) {
        fail("host", data, size);
    }

    const std::string_view path(reinterpret_cast<const char*>(uri.path.s), uri.path.length);
    const std::string_view query(reinterpret_cast<const char*>(uri.query.s), uri.query.length);
    // Difference 3: dot-segments in the path.
    const std::size_t authority = text.find("//") == std::string_view::npos ? 0 : text.find("//") + 2;
    const std::size_t after = text.find_first_of("/?", authority);
    if (after != std::string_view::npos && text[after] == '/') {
        const std::string_view rest = text.substr(after, text.find('?', after) - after);  // the path
        if (rest.find('.') != std::string_view::npos || rest.find("%2e") != std::string_view::npos ||
            rest.find("%2E") != std::string_view::npos) {
            return 0;
        }
    }
    if (text.find('?') != std::string_view::npos && query.empty()) return 0;  // difference 7
    std::vector<std::string> their_path, their_query;
    unsigned char buf[4096];
    if (!path.empty()) {
        std::size_t len = sizeof buf;
        const int n = coap_split_path(uri.path.s, uri.path.length, buf, &len);
        if (n < 0 || !read_segments(buf, len, n, their_path)) return 0;  // libcoap's own buffer limit
    }
    if (!query.empty()) {
        std::size_t len = sizeof buf;
        const int n = coap_split_query(uri.query.s, uri.query.length, buf, &len);
        if (n < 0 || !read_segments(buf, len, n, their_query)) return 0;
    }
    std::vector<std::string> our_path, our_query;
    for (const auto& o : ours.options) {
        std::string value(o.value.begin(), o.value.end());
        if (o.number == coap::options::kUriPath) our_path.push_back(value);
        if (o.number == coap::options::kUriQuery) our_query.push_back(value);
    }
    if (our_path != their_path) fail("Uri-Path values", data, size);
    if (our_query != their_query) fail("Uri-Query values", data, size);
    return 0;
}
