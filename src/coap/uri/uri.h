// coap:// and coaps:// URIs (RFC 7252 §6, RFC 3986): parsing, decomposition into
// request options (§6.4) and composition back from options (§6.5).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "coap/codec/message_view.h"
#include "coap/common/bytes.h"

namespace coap {

/// Why a URI was refused. Every value is a "fail this input" error: the URI came from a
/// user or a peer (Proxy-Uri) and nothing else is affected.
enum class UriError : std::uint8_t {
    Ok = 0,
    TooLong,             ///< longer than kMaxUriLength
    NotAbsolute,         ///< no scheme (RFC 7252 §6.4 step 1)
    UnsupportedScheme,   ///< scheme other than coap/coaps (§6.4 step 3)
    MissingAuthority,    ///< no "//" after the scheme (§6.1: coap-URI needs a host)
    UserinfoNotAllowed,  ///< "user@" in the authority (§6.1 has no userinfo)
    EmptyHost,           ///< "coap:///x" (§6.1: host is required)
    BadHost,             ///< a character a reg-name may not contain (RFC 3986 §3.2.2)
    BadIpLiteral,        ///< "[...]" that is not an IPv6 address (zones, IPvFuture: unsupported)
    BadPort,             ///< a non-digit after ":" (RFC 3986 §3.2.3)
    PortOutOfRange,      ///< port above 65535
    BadCharacter,        ///< a character not allowed in the path or query (RFC 3986 §3.3, §3.4)
    BadPercentEncoding,  ///< "%" not followed by two hex digits, or cut short
    HasFragment,         ///< "#..." (§6.4 step 4)
    HostTooLong,         ///< decoded Uri-Host over 255 bytes (§5.10.1)
    SegmentTooLong,      ///< a decoded Uri-Path over 255 bytes (§5.10.1)
    QueryTooLong,        ///< a decoded Uri-Query over 255 bytes (§5.10.1)
    TooManyOptions,      ///< more than UriOptions::kMaxOptions options
    BadOptionValue,      ///< compose: a Uri-Port that is not a 0-2 byte uint
};

/// A short kebab-case name ("port-out-of-range"); never renamed (scripts read it).
[[nodiscard]] std::string_view to_string(UriError e) noexcept;

struct UriResult {
    UriError error = UriError::Ok;
    std::size_t offset = 0;  ///< byte of the input where the problem was found
    [[nodiscard]] constexpr bool ok() const noexcept { return error == UriError::Ok; }
};

enum class Scheme : std::uint8_t { Coap, Coaps };
[[nodiscard]] std::string_view to_string(Scheme s) noexcept;
/// 5683 for coap, 5684 for coaps (RFC 7252 §6.1, §6.2).
[[nodiscard]] constexpr std::uint16_t default_port(Scheme s) noexcept {
    return s == Scheme::Coap ? 5683 : 5684;
}

enum class HostKind : std::uint8_t { RegName, IPv4, IPv6 };

/// The longest URI accepted: the maximum length of a Proxy-Uri option (RFC 7252 §5.10).
inline constexpr std::size_t kMaxUriLength = 1034;

/// The components of a parsed URI, as views into the parsed text (valid while it lives).
/// Nothing is decoded yet: `host`, `path` and `query` are exactly as written.
struct UriParts {
    std::string_view text;     ///< the whole URI
    Scheme scheme = Scheme::Coap;
    HostKind host_kind = HostKind::RegName;
    std::string_view host;     ///< without the brackets of an IPv6 literal
    std::uint16_t port = 0;    ///< the explicit port, or the scheme's default
    bool explicit_port = false;///< a non-empty port was written
    std::string_view path;     ///< "" or starting with "/"
    bool has_query = false;    ///< a "?" was present (the query may be empty)
    std::string_view query;    ///< after "?"
};

/// Parses and validates an absolute coap/coaps URI (RFC 3986 §3 with RFC 7252 §6.1's
/// restrictions). No allocation.
[[nodiscard]] UriResult parse_uri(std::string_view text, UriParts& out) noexcept;

/// The options a URI decomposes into, with their decoded values stored inside this
/// object (fixed capacity, no allocation). Also records the scheme, host and port the
/// request goes to.
class UriOptions {
public:
    static constexpr std::size_t kMaxOptions = 64;

    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    /// The i-th option; `i < size()`. Its value views this object's storage.
    [[nodiscard]] Option operator[](std::size_t i) const noexcept {
        return Option{entries_[i].number, Bytes(storage_.data() + entries_[i].offset, entries_[i].length)};
    }
    [[nodiscard]] Scheme scheme() const noexcept { return scheme_; }
    [[nodiscard]] HostKind host_kind() const noexcept { return host_kind_; }
    /// The destination host: the lower-cased, decoded reg-name, or the IP literal
    /// (IPv6 lower-cased, without brackets). Views this object's storage.
    [[nodiscard]] std::string_view host() const noexcept {
        return std::string_view(reinterpret_cast<const char*>(storage_.data()) + host_offset_, host_length_);
    }
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

private:
    friend UriResult decompose(const UriParts& parts, UriOptions& out) noexcept;
    friend struct UriOnePass;
    struct Entry {
        std::uint16_t number;
        std::uint16_t offset;
        std::uint16_t length;
    };
    [[nodiscard]] bool push(std::uint16_t number, std::size_t offset, std::size_t length) noexcept;

    Scheme scheme_ = Scheme::Coap;
    HostKind host_kind_ = HostKind::RegName;
    std::uint16_t port_ = 0;
    std::uint16_t host_offset_ = 0;
    std::uint16_t host_length_ = 0;
    std::size_t count_ = 0;
    std::size_t used_ = 0;
    std::array<Entry, kMaxOptions> entries_{};
    // One byte more than the longest URI: the one-pass decomposition copies the URI in
    // and ends it with a zero byte that stops every scanning loop.
    std::array<std::uint8_t, kMaxUriLength + 1> storage_{};
};

/// RFC 7252 §6.4 for a request sent to the URI's own host and port: Uri-Host for a
/// reg-name only (lower-cased, then percent-decoded), no Uri-Port, dot-segments removed
/// (RFC 3986 §5.2.4), one Uri-Path per remaining segment and one Uri-Query per
/// "&"-separated argument, each percent-decoded. Options come out in ascending order.
[[nodiscard]] UriResult decompose(const UriParts& parts, UriOptions& out) noexcept;
/// parse_uri, then decompose: the same result (error, offset, options) in every case.
/// A URI of the common shape (lower-case scheme, reg-name or IP host, plain or
/// percent-encoded path segments and query arguments, no dot-segments) is decomposed in
/// one pass over a copy of the text, without the two-pass reference; everything else,
/// errors included, goes through parse_uri and decompose.
[[nodiscard]] UriResult decompose_uri(std::string_view text, UriOptions& out) noexcept;
/// decompose_uri's one pass alone: true when it decomposed `text` (with decompose_uri's
/// result), false when `text` is not of the common shape, which decompose_uri hands to
/// the reference path (`out` is then unspecified). For tests.
[[nodiscard]] bool decompose_one_pass(std::string_view text, UriOptions& out) noexcept;

/// RFC 7252 §6.5: composes a URI from a request's Uri-Host, Uri-Port, Uri-Path and
/// Uri-Query options (others are ignored) and its destination. `dest_host` is an IP
/// address (used when there is no Uri-Host; IPv6 is bracketed) and `dest_port` the
/// destination port (used when there is no Uri-Port). The default port is omitted.
/// Characters outside the sets §6.5 allows are percent-encoded with upper-case hex; a
/// path segment that is exactly "." or ".." is encoded too, and so are the dots of a
/// Uri-Host that reads like an IPv4 address, so that decomposing the result gives back
/// the same options. Errors: BadOptionValue (Uri-Port not a uint
/// of 0-2 bytes). `out` is overwritten.
[[nodiscard]] UriResult compose_uri(Scheme scheme, std::string_view dest_host, std::uint16_t dest_port,
                                    const Option* options, std::size_t count, std::string& out);

}  // namespace coap
