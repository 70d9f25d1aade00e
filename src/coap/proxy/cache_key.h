// The target of a proxy request and the key its response is cached under (RFC 7252
// §5.6, §5.7, §6.4/§6.5). Pure functions: no state, no I/O.
//
// A request names its target either with Proxy-Uri, or with Proxy-Scheme and the Uri-*
// options (§5.10.2). Both forms of one target give one canonical Target: scheme, host
// (reg-names lower-cased and percent-decoded, IP literals in their canonical text), an
// explicit port, and the decoded Uri-Path / Uri-Query values with dot-segments removed
// (through the uri module's decomposition). The cache key frames every part with its
// length, so that no two distinct requests share a key ("a","b" is not "a\x0b\x00b"),
// and is stored and compared in full, never as a bare hash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coap/codec/message.h"
#include "coap/codec/message_view.h"
#include "coap/uri/uri.h"

namespace coap::proxy {

/// The canonical target of a proxy request.
struct Target {
    Scheme scheme = Scheme::Coap;
    HostKind host_kind = HostKind::RegName;
    std::string host;                  ///< canonical: lower-cased reg-name, or IPv4 / IPv6 text (RFC 5952)
    std::uint16_t port = 0;            ///< always explicit (the scheme's default filled in)
    std::vector<OwnedOption> options;  ///< Uri-Host (reg-names only), Uri-Path, Uri-Query, as sent upstream
    friend bool operator==(const Target& a, const Target& b) {
        return a.scheme == b.scheme && a.host == b.host && a.port == b.port && a.options == b.options;
    }
};

enum class TargetError : std::uint8_t {
    Ok = 0,
    NotProxyRequest,  ///< neither Proxy-Uri nor Proxy-Scheme
    BadProxyUri,      ///< the uri module refused the Proxy-Uri (see `uri`): 4.02 (§5.10.2)
    BadUriOptions,    ///< Proxy-Scheme with Uri-* options that do not make a URI: 4.02
    UriOptionsWithProxyUri,  ///< Proxy-Uri beside Uri-* options (only an error when strict)
};

struct TargetResult {
    TargetError error = TargetError::Ok;
    UriResult uri;  ///< the uri module's verdict when error is BadProxyUri / BadUriOptions
    [[nodiscard]] bool ok() const noexcept { return error == TargetError::Ok; }
};

/// The target of request `m` sent to the proxy at `local_host`:`local_port` (an IP
/// address as text: the request's destination). Proxy-Uri wins over Uri-* options
/// (§5.10.2: they are discarded; `strict` makes their presence an error instead). With
/// Proxy-Scheme, a missing Uri-Host means the destination address and a missing Uri-Port
/// the destination port (§6.5 steps 5-6).
[[nodiscard]] TargetResult proxy_target(const MessageView& m, std::string_view local_host, std::uint16_t local_port,
                                        Target& out, bool strict = false);

/// The target alone, framed like the key: what a 2.01/2.02/2.04 invalidates.
[[nodiscard]] std::string target_id(const Target& target);

/// Whether option `number` is part of the cache key of a request (§5.4.6, §5.6): not
/// when its NoCacheKey bits are set, not when the target or the proxy interprets it
/// (Proxy-*, Uri-*, Observe, ETag, Block1/2, Size1/2, Hop-Limit, Echo), and not
/// Request-Tag for a Block2 continuation.
[[nodiscard]] bool in_cache_key(std::uint16_t number, bool block2_continuation) noexcept;

/// The cache key: frame(1) frame(method) frame(scheme) frame(host) frame(port), then
/// frame(number) frame(value) for every option in the key in wire order, then the
/// payload of a FETCH, then `domain` (a security domain, e.g. a DTLS identity; empty
/// for the shared NoSec cache). frame(x) = varint(length) x.
[[nodiscard]] std::string cache_key(const MessageView& m, const Target& target, bool block2_continuation = false,
                                    std::string_view domain = {});

}  // namespace coap::proxy
