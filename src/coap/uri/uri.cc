#include "coap/uri/uri.h"

#include <cstring>

#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/uri/scan.h"

namespace coap {

std::string_view to_string(UriError e) noexcept {
    switch (e) {
        case UriError::Ok: return "ok";
        case UriError::TooLong: return "uri-too-long";
        case UriError::NotAbsolute: return "not-absolute";
        case UriError::UnsupportedScheme: return "unsupported-scheme";
        case UriError::MissingAuthority: return "missing-authority";
        case UriError::UserinfoNotAllowed: return "userinfo-not-allowed";
        case UriError::EmptyHost: return "empty-host";
        case UriError::BadHost: return "bad-host";
        case UriError::BadIpLiteral: return "bad-ip-literal";
        case UriError::BadPort: return "bad-port";
        case UriError::PortOutOfRange: return "port-out-of-range";
        case UriError::BadCharacter: return "bad-character";
        case UriError::BadPercentEncoding: return "bad-percent-encoding";
        case UriError::HasFragment: return "fragment-not-allowed";
        case UriError::HostTooLong: return "host-too-long";
        case UriError::SegmentTooLong: return "segment-too-long";
        case UriError::QueryTooLong: return "query-too-long";
        case UriError::TooManyOptions: return "too-many-options";
        case UriError::BadOptionValue: return "bad-option-value";
    }
    return "unknown";
}

std::string_view to_string(Scheme s) noexcept { return s == Scheme::Coap ? "coap" : "coaps"; }

namespace {

// RFC 3986 §2.2, §2.3 character classes, as one table lookup per character.
enum : std::uint8_t {
    kUnreserved = 1,  // ALPHA / DIGIT / "-" / "." / "_" / "~"
    kSubDelim = 2,    // "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
    kColonAt = 4,     // ":" / "@"
    kSlash = 8,       // "/"
    kQuestion = 16,   // "?"
    kHexDigit = 32,
    kAlphaBit = 64,
    kDigitBit = 128,
};
struct CharTable {
    std::uint8_t c[256] = {};
    constexpr CharTable() {
        for (int i = 'a'; i <= 'z'; ++i) c[i] = kUnreserved | kAlphaBit;
        for (int i = 'A'; i <= 'Z'; ++i) c[i] = kUnreserved | kAlphaBit;
        for (int i = '0'; i <= '9'; ++i) c[i] = kUnreserved | kDigitBit | kHexDigit;
        for (int i = 'a'; i <= 'f'; ++i) c[i] |= kHexDigit;
        for (int i = 'A'; i <= 'F'; ++i) c[i] |= kHexDigit;
        c[static_cast<int>('-')] = c[static_cast<int>('.')] = c[static_cast<int>('_')] = c[static_cast<int>('~')] = kUnreserved;
        for (char d : {'!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '='}) c[static_cast<unsigned char>(d)] = kSubDelim;
        c[static_cast<int>(':')] = c[static_cast<int>('@')] = kColonAt;
        c[static_cast<int>('/')] = kSlash;
        c[static_cast<int>('?')] = kQuestion;
    }
};
constexpr CharTable kChars;
constexpr std::uint8_t char_class(char c) noexcept { return kChars.c[static_cast<unsigned char>(c)]; }

constexpr bool is_alpha(char c) noexcept { return (char_class(c) & kAlphaBit) != 0; }
constexpr bool is_digit(char c) noexcept { return (char_class(c) & kDigitBit) != 0; }
constexpr bool is_hex(char c) noexcept { return (char_class(c) & kHexDigit) != 0; }
constexpr bool is_unreserved(char c) noexcept { return (char_class(c) & kUnreserved) != 0; }
constexpr bool is_sub_delim(char c) noexcept { return (char_class(c) & kSubDelim) != 0; }
constexpr bool is_pchar(char c) noexcept { return (char_class(c) & (kUnreserved | kSubDelim | kColonAt)) != 0; }
constexpr char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr std::uint8_t hex_value(char c) noexcept {
    return static_cast<std::uint8_t>(is_digit(c) ? c - '0' : (to_lower(c) - 'a' + 10));
}

// dec-octet "." dec-octet "." dec-octet "." dec-octet (RFC 3986 §3.2.2): no leading zeros.
bool is_ipv4(std::string_view s) noexcept {
    const char* p = s.data();
    const char* const end = p + s.size();
    for (int octet = 0; octet < 4; ++octet) {
        if (octet > 0 && (p == end || *p++ != '.')) return false;
        if (p == end || !is_digit(*p)) return false;
        unsigned value = static_cast<unsigned>(*p++ - '0');
        // A leading zero is the whole octet; else up to two more digits.
        for (int i = 0; value != 0 && i < 2 && p != end && is_digit(*p); ++i) value = value * 10 + static_cast<unsigned>(*p++ - '0');
        if (value > 255) return false;
    }
    return p == end;
}

// IPv6address of RFC 3986 §3.2.2 (RFC 4291 §2.2 text forms), without zone identifiers.
bool is_ipv6(std::string_view s) noexcept {
    const std::size_t n = s.size();
    std::size_t i = 0;
    int groups = 0;
    bool compressed = false;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
        if (i == n) return true;
    } else if (n == 0 || s[0] == ':') {
        return false;
    }
    while (true) {
        const std::size_t start = i;
        while (i < n && is_hex(s[i]) && i - start < 5) ++i;
        if (i < n && s[i] == '.') {  // trailing IPv4 takes two groups
            if (!is_ipv4(s.substr(start))) return false;
            groups += 2;
            break;
        }
        if (i == start || i - start > 4) return false;
        ++groups;
        if (i == n) break;
        if (s[i] != ':') return false;
        ++i;
        if (i < n && s[i] == ':') {
            if (compressed) return false;
            compressed = true;
            ++i;
            if (i == n) break;
        } else if (i == n) {
            return false;  // a single trailing colon
        }
        if (groups > 8) return false;
    }
    return compressed ? groups <= 7 : groups == 8;
}

// Checks that every "%" in s[from, to) starts a complete pct-encoded triplet and every
// other character is in `allowed` (a mask of character classes). Returns the offset of
// the first bad character.
UriResult check_chars(std::string_view t, std::size_t from, std::size_t to, std::uint8_t allowed,
                      UriError bad_char) noexcept {
    for (std::size_t i = from; i < to; ++i) {
        const char c = t[i];
        if ((char_class(c) & allowed) != 0) continue;
        if (c != '%') return {bad_char, i};
        if (to - i < 3 || !is_hex(t[i + 1]) || !is_hex(t[i + 2])) return {UriError::BadPercentEncoding, i};
        i += 2;
    }
    return {};
}

// The first position at or after `from` holding one of the (at most three) stop
// characters, or t.size().
std::size_t find_any(std::string_view t, std::size_t from, std::string_view set) noexcept {
    const char a = set[0];
    const char b = set.size() > 1 ? set[1] : a;
    const char c = set.size() > 2 ? set[2] : a;
    for (std::size_t i = from; i < t.size(); ++i) {
        const char x = t[i];
        if (x == a || x == b || x == c) return i;
    }
    return t.size();
}

}  // namespace

UriResult parse_uri(std::string_view t, UriParts& out) noexcept {
    out = UriParts{};
    out.text = t;
    if (t.size() > kMaxUriLength) return {UriError::TooLong, kMaxUriLength};
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1)
    std::size_t i = 0;
    if (t.empty() || !is_alpha(t[0])) return {UriError::NotAbsolute, 0};
    while (i < t.size() && (is_alpha(t[i]) || is_digit(t[i]) || t[i] == '+' || t[i] == '-' || t[i] == '.')) ++i;
    if (i == t.size() || t[i] != ':') return {UriError::NotAbsolute, i};
    const std::string_view scheme = t.substr(0, i);
    auto scheme_is = [&](std::string_view want) {
        if (scheme.size() != want.size()) return false;
        for (std::size_t k = 0; k < want.size(); ++k) {
            if (to_lower(scheme[k]) != want[k]) return false;
        }
        return true;
    };
    if (scheme_is("coap")) {
        out.scheme = Scheme::Coap;
    } else if (scheme_is("coaps")) {
        out.scheme = Scheme::Coaps;
    } else {
        return {UriError::UnsupportedScheme, 0};  // RFC 7252 §6.4 step 3
    }
    ++i;
    // RFC 7252 §6.1: coap-URI = "coap:" "//" host [ ":" port ] path-abempty [ "?" query ]
    if (t.substr(i, 2) != "//") return {UriError::MissingAuthority, i};
    i += 2;
    const std::size_t auth_end = find_any(t, i, "/?#");
    if (const std::size_t at = t.find('@', i); at < auth_end) return {UriError::UserinfoNotAllowed, at};

    std::size_t host_end;
    if (i < auth_end && t[i] == '[') {
        const std::size_t close = t.find(']', i);
        if (close >= auth_end) return {UriError::BadIpLiteral, i};
        out.host = t.substr(i + 1, close - i - 1);
        if (!is_ipv6(out.host)) return {UriError::BadIpLiteral, i};
        out.host_kind = HostKind::IPv6;
        host_end = close + 1;
    } else {
        host_end = find_any(t.substr(0, auth_end), i, ":");
        if (host_end == i) return {UriError::EmptyHost, i};
        // reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 §3.2.2)
        const UriResult r = check_chars(t, i, host_end, kUnreserved | kSubDelim, UriError::BadHost);
        if (!r.ok()) return r;
        out.host = t.substr(i, host_end - i);
        out.host_kind = is_ipv4(out.host) ? HostKind::IPv4 : HostKind::RegName;
    }
    out.port = default_port(out.scheme);
    if (host_end < auth_end) {
        if (t[host_end] != ':') return {UriError::BadPort, host_end};
        std::uint32_t port = 0;
        for (std::size_t k = host_end + 1; k < auth_end; ++k) {
            if (!is_digit(t[k])) return {UriError::BadPort, k};
            port = port * 10 + static_cast<std::uint32_t>(t[k] - '0');
            if (port > 0xffff) return {UriError::PortOutOfRange, host_end + 1};
        }
        // An empty port ("coap://h:/") means the default (RFC 7252 §6.3 example).
        if (auth_end > host_end + 1) {
            out.port = static_cast<std::uint16_t>(port);
            out.explicit_port = true;
        }
    }

    i = auth_end;
    const std::size_t path_end = find_any(t, i, "?#");
    if (UriResult r = check_chars(t, i, path_end, kUnreserved | kSubDelim | kColonAt | kSlash, UriError::BadCharacter);
        !r.ok()) {
        return r;
    }
    out.path = t.substr(i, path_end - i);
    i = path_end;
    if (i < t.size() && t[i] == '?') {
        const std::size_t query_end = find_any(t, i + 1, "#");
        if (UriResult r = check_chars(t, i + 1, query_end, kUnreserved | kSubDelim | kColonAt | kSlash | kQuestion,
                                      UriError::BadCharacter);
            !r.ok()) {
            return r;
        }
        out.has_query = true;
        out.query = t.substr(i + 1, query_end - i - 1);
        i = query_end;
    }
    if (i < t.size()) return {UriError::HasFragment, i};  // RFC 7252 §6.4 step 4
    return {};
}

bool UriOptions::push(std::uint16_t number, std::size_t offset, std::size_t length) noexcept {
    if (count_ == kMaxOptions) return false;
    entries_[count_++] = Entry{number, static_cast<std::uint16_t>(offset), static_cast<std::uint16_t>(length)};
    return true;
}

namespace {

// Percent-decodes an already validated component into `dst`; returns the bytes written.
// With `lower`, ASCII letters are lower-cased before decoding (RFC 7252 §6.4 step 5).
std::size_t decode_into(std::string_view s, std::uint8_t* dst, bool lower) noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            dst[n++] = static_cast<std::uint8_t>((hex_value(s[i + 1]) << 4) | hex_value(s[i + 2]));
            i += 2;
        } else {
            dst[n++] = static_cast<std::uint8_t>(lower ? to_lower(s[i]) : s[i]);
        }
    }
    return n;
}

}  // namespace

UriResult decompose(const UriParts& parts, UriOptions& out) noexcept {
    out.count_ = 0;
    out.used_ = 0;
    out.scheme_ = parts.scheme;
    out.host_kind_ = parts.host_kind;
    out.port_ = parts.port;
    auto offset_of = [&](std::string_view piece) {
        return static_cast<std::size_t>(piece.data() - parts.text.data());
    };
    // Every decoded byte comes from a distinct byte of the URI, and the URI is at most
    // kMaxUriLength long, so storage_ cannot overflow.
    std::uint8_t* const base = out.storage_.data();

    out.host_offset_ = static_cast<std::uint16_t>(out.used_);
    if (parts.host_kind == HostKind::RegName) {
        // RFC 7252 §6.4 step 5: lower-case, then decode; only for a reg-name.
        const std::size_t n = decode_into(parts.host, base + out.used_, true);
        if (n > 255) return {UriError::HostTooLong, offset_of(parts.host)};  // RFC 7252 §5.10.1
        if (!out.push(options::kUriHost, out.used_, n)) return {UriError::TooManyOptions, offset_of(parts.host)};
        out.host_length_ = static_cast<std::uint16_t>(n);
        out.used_ += n;
    } else {
        for (char c : parts.host) base[out.used_++] = static_cast<std::uint8_t>(to_lower(c));
        out.host_length_ = static_cast<std::uint16_t>(parts.host.size());
    }
    // RFC 7252 §6.4 step 6: no Uri-Port, the request goes to the URI's own port.

    // RFC 7252 §6.4 step 2 resolves the reference, which removes dot-segments
    // (RFC 3986 §5.2.4). One pass: each segment is decoded straight into storage as a
    // Uri-Path; ".." drops the last one again (it is the newest in storage, so its
    // bytes are simply reused).
    const std::string_view path = parts.path;
    const std::size_t first_path = out.count_;
    if (!path.empty()) {
        std::size_t pos = 1;  // path-abempty starts with "/"
        while (true) {
            const std::size_t end = find_any(path, pos, "/");
            const std::string_view seg = path.substr(pos, end - pos);
            const bool last = end == path.size();
            const bool dot = seg.size() == 1 && seg[0] == '.';
            const bool dotdot = seg.size() == 2 && seg[0] == '.' && seg[1] == '.';
            if (dot || dotdot) {
                if (dotdot && out.count_ > first_path) out.used_ = out.entries_[--out.count_].offset;
                if (last && !out.push(options::kUriPath, out.used_, 0)) {  // the path now ends with "/"
                    return {UriError::TooManyOptions, offset_of(seg)};
                }
            } else {
                const std::size_t n = decode_into(seg, base + out.used_, false);
                if (n > 255) return {UriError::SegmentTooLong, offset_of(seg)};  // RFC 7252 §5.10.1
                if (!out.push(options::kUriPath, out.used_, n)) return {UriError::TooManyOptions, offset_of(seg)};
                out.used_ += n;
            }
            if (last) break;
            pos = end + 1;
        }
    }
    // RFC 7252 §6.4 step 8: an empty path or a lone "/" gives no Uri-Path.
    if (out.count_ == first_path + 1 && out.entries_[first_path].length == 0) out.count_ = first_path;
    // RFC 7252 §6.4 step 9: one Uri-Query per "&"-separated argument.
    if (parts.has_query) {
        std::size_t pos = 0;
        while (true) {
            const std::size_t end = find_any(parts.query, pos, "&");
            const std::string_view arg = parts.query.substr(pos, end - pos);
            const std::size_t n = decode_into(arg, base + out.used_, false);
            if (n > 255) return {UriError::QueryTooLong, offset_of(arg)};  // RFC 7252 §5.10.1
            if (!out.push(options::kUriQuery, out.used_, n)) return {UriError::TooManyOptions, offset_of(arg)};
            out.used_ += n;
            if (end == parts.query.size()) break;
            pos = end + 1;
        }
    }
    return {};
}

namespace {

// The characters each component of the one-pass decomposition takes as they are.
enum : std::uint8_t {
    kHostPlain = 1,   // reg-name: unreserved / sub-delims (RFC 3986 §3.2.2)
    kPathPlain = 2,   // segment: pchar without pct-encoded (RFC 3986 §3.3)
    kQueryPlain = 4,  // query: pchar / "/" / "?" (RFC 3986 §3.4) without the "&" that splits it (RFC 7252 §6.4 step 9)
};
struct ScanTable {
    std::uint8_t c[256] = {};
    constexpr ScanTable() {
        for (int i = 0; i < 256; ++i) {
            const std::uint8_t k = kChars.c[i];
            if ((k & (kUnreserved | kSubDelim)) != 0) c[i] |= kHostPlain;
            if ((k & (kUnreserved | kSubDelim | kColonAt)) != 0) c[i] |= kPathPlain;
            if ((k & (kUnreserved | kSubDelim | kColonAt | kSlash | kQuestion)) != 0 && i != '&') c[i] |= kQueryPlain;
        }
    }
};
constexpr ScanTable kScan;

// The scan of a URI copied into the option storage: the bytes that are not quiet
// (uri_scan::copy16), as a cursor going through them in order. The zero byte ending the
// copy is not quiet, nor is anything after it, so every search stops there at the latest.
//
// ShortScan: a URI of at most 63 bytes, whose bits (and the zero byte's) fit one word.
struct ShortScan {
    static constexpr std::size_t kMaxLength = 63;
    std::uint64_t m;  // the bits not returned yet

    // Copies `n` bytes of `src` (n <= kMaxLength) to `dst` and ends the copy with a zero
    // byte. The loads read `src`, not the copy just written (a wide load of narrower
    // stores waits for them): blocks at 0, 16 and 32 as far as the URI goes, and the last
    // one ending at its end (a byte read twice has the same bit).
    // A URI shorter than 16 bytes goes through a zero-filled block.
    void fill(const std::uint8_t* src, std::size_t n, std::uint8_t* dst) noexcept {
        if (n < 16) {
            std::uint8_t block[16] = {};
            std::memcpy(block, src, n);
            m = ~std::uint64_t{uri_scan::copy16(block, dst)};
            return;
        }
        const std::size_t last = n - 16;
        std::uint64_t quiet = std::uint64_t{uri_scan::copy16(src, dst)} | std::uint64_t{uri_scan::copy16(src + last, dst + last)} << last;
        if (n > 32) {
            quiet |= std::uint64_t{uri_scan::copy16(src + 16, dst + 16)} << 16;
            if (n > 48) quiet |= std::uint64_t{uri_scan::copy16(src + 32, dst + 32)} << 32;
        }
        m = ~quiet;
        dst[n] = 0;
    }
    // The next byte that is not quiet, after the one returned last.
    [[nodiscard]] std::size_t next() noexcept {
        const std::size_t at = static_cast<unsigned>(__builtin_ctzll(m));
        m &= m - 1;
        return at;
    }
    // Moves the cursor past `pos` (at most the URI's length): next() returns a byte after
    // it. At the URI's end nothing is left to return.
    void skip_past(std::size_t pos) noexcept { m &= ~std::uint64_t{1} << pos; }
};

// LongScan: any URI up to kMaxUriLength, one word per 64 bytes.
struct LongScan {
    static constexpr std::size_t kMaxLength = kMaxUriLength;
    std::uint64_t word[(kMaxUriLength + 1) / 64 + 2];
    std::size_t w;    // the word the cursor is in
    std::uint64_t m;  // its bits not returned yet

    // As ShortScan::fill, for 16 <= n <= kMaxLength: blocks of 16 bytes, the last one
    // ending at the URI's end.
    void fill(const std::uint8_t* src, std::size_t n, std::uint8_t* dst) noexcept {
        std::uint64_t quiet = 0;
        std::size_t i = 0;
        for (; i + 16 < n; i += 16) {
            quiet |= std::uint64_t{uri_scan::copy16(src + i, dst + i)} << (i % 64);
            if (i % 64 == 48) {
                word[i / 64] = ~quiet;
                quiet = 0;
            }
        }
        // The last 1-16 bytes, [i, n): i % 64 + (n - i) <= 64.
        quiet |= std::uint64_t{uri_scan::copy16(src + n - 16, dst + n - 16) >> (16 - (n - i))} << (i % 64);
        word[i / 64] = ~quiet;
        word[i / 64 + 1] = ~std::uint64_t{0};  // the zero byte's bit when n % 64 == 0
        dst[n] = 0;
        w = 0;
        m = word[0];
    }
    [[nodiscard]] std::size_t next() noexcept {
        while (m == 0) m = word[++w];
        const std::size_t at = w * 64 + static_cast<unsigned>(__builtin_ctzll(m));
        m &= m - 1;
        return at;
    }
    void skip_past(std::size_t pos) noexcept {
        w = (pos + 1) / 64;
        m = word[w] & (~std::uint64_t{0} << ((pos + 1) % 64));
    }
};

// The value of each hex digit (RFC 3986 §2.1: either case), 0xff for other bytes.
struct HexValueTable {
    std::uint8_t v[256] = {};
    constexpr HexValueTable() {
        for (int i = 0; i < 256; ++i) v[i] = is_hex(static_cast<char>(i)) ? hex_value(static_cast<char>(i)) : 0xff;
    }
};
constexpr HexValueTable kHexValue;

// Decodes the rest of a component in place, from `p` (at a "%") to the first character
// neither `plain` nor a pct-encoded triplet; `p` is left there. Returns the end of the
// decoded bytes, or nullptr for a malformed triplet. The zero byte after the copied URI
// stops the loop, and p[2] is read only when p[1] is a hex digit, that is, before it.
std::uint8_t* decode_in_place(std::uint8_t*& p, std::uint8_t plain) noexcept {
    std::uint8_t* w = p;
    while (true) {
        const std::uint8_t c = *p;
        if ((kScan.c[c] & plain) != 0) {
            *w++ = c;
            ++p;
        } else if (c == '%') {
            const std::uint8_t hi = kHexValue.v[p[1]];
            if (hi > 15) return nullptr;
            const std::uint8_t lo = kHexValue.v[p[2]];
            if (lo > 15) return nullptr;
            *w++ = static_cast<std::uint8_t>((hi << 4) | lo);
            p += 3;
        } else {
            return w;
        }
    }
}

// is_ipv4 for a host in the copy: *end ends the host, so it is neither a digit nor a
// "." and no read goes past it.
bool ipv4_literal(const std::uint8_t* p, const std::uint8_t* end) noexcept {
    for (int octet = 0; octet < 4; ++octet) {
        if (octet > 0 && *p++ != '.') return false;
        unsigned value = static_cast<unsigned>(*p) - '0';
        if (value > 9) return false;
        ++p;
        // A leading zero is the whole octet (RFC 3986 §3.2.2 dec-octet); else up to two more digits.
        unsigned d;
        if (value != 0 && (d = static_cast<unsigned>(*p) - '0') <= 9) {
            value = value * 10 + d;
            if ((d = static_cast<unsigned>(*++p) - '0') <= 9) {
                value = value * 10 + d;
                ++p;
            }
        }
        if (value > 255) return false;
    }
    return p == end;
}

// An IPv6 literal's text at `p` up to its "]", in the forms most URIs use: 1-4 hex digits
// per group, groups split by ":", at most one "::" (RFC 3986 §3.2.2: 8 groups, or at most
// 7 with "::"). Lower-cases it in place (RFC 7252 §6.4 step 5) and returns the "]", or
// nullptr for anything else (an embedded IPv4 address, a zone, an error), which the
// reference path decides.
std::uint8_t* ipv6_literal(std::uint8_t* p) noexcept {
    int groups = 0;
    bool elided = false;
    if (p[0] == ':') {
        if (p[1] != ':') return nullptr;
        elided = true;
        p += 2;
    }
    // A group must follow every single ":" and the leading "::" unless "]" does.
    while (*p != ']') {
        int k = 0;
        // 0x20 lower-cases A-F and leaves 0-9 and a-f as they are.
        for (; k < 4 && kHexValue.v[p[k]] <= 15; ++k) p[k] |= 0x20;
        if (k == 0) return nullptr;
        p += k;
        ++groups;
        if (*p == ']') break;
        if (*p != ':') return nullptr;
        ++p;
        if (*p == ':') {
            if (elided) return nullptr;
            elided = true;
            ++p;
        } else if (*p == ']') {
            return nullptr;
        }
    }
    return (elided ? groups <= 7 : groups == 8) ? p : nullptr;
}

}  // namespace

// The one-pass decomposition of decompose_uri. The URI is copied into the option storage
// and every value is decoded in place (a decoded value is never longer than its text),
// so the options view their own bytes of the copy. Returns false, leaving `out` to be
// overwritten, for anything but the common shape: the reference path then gives the
// result, so this function only has to be right when it returns true.
struct UriOnePass {
    template <class Scan>
    static bool run(std::string_view t, UriOptions& out) noexcept;
};

template <class Scan>
[[gnu::always_inline]] inline bool UriOnePass::run(std::string_view t, UriOptions& out) noexcept {
    // A short URI cannot hold a component over 255 bytes or more than kMaxOptions options.
    constexpr bool kShort = Scan::kMaxLength < 64;
    static_assert(!kShort || Scan::kMaxLength < UriOptions::kMaxOptions);
    const std::size_t n = t.size();
    if (n > Scan::kMaxLength || n < 8) return false;
    std::uint8_t* const s = out.storage_.data();
    Scan scan;
    scan.fill(reinterpret_cast<const std::uint8_t*>(t.data()), n, s);
    std::size_t pos;
    if (std::memcmp(s, "coap://", 7) == 0) {
        out.scheme_ = Scheme::Coap;
        pos = 7;
    } else if (std::memcmp(s, "coaps://", 8) == 0) {
        out.scheme_ = Scheme::Coaps;
        pos = 8;
    } else {
        return false;
    }
    out.port_ = default_port(out.scheme_);
    std::size_t count = 0;
    auto push = [&out, &count](std::uint16_t number, std::size_t offset, std::size_t length) {
        if (!kShort && count == UriOptions::kMaxOptions) return false;
        out.entries_[count++] = UriOptions::Entry{number, static_cast<std::uint16_t>(offset), static_cast<std::uint16_t>(length)};
        return true;
    };
    // The scan's cursor goes from one byte that is not quiet to the next; `c` is the byte
    // at `pos`.
    std::uint8_t c;
    auto step = [&] {
        pos = scan.next();
        c = s[pos];
    };

    // RFC 7252 §6.1: host [ ":" port ].
    std::size_t host = pos;
    if (s[pos] == '[') {
        ++host;
        const std::uint8_t* const bracket = ipv6_literal(s + host);
        if (bracket == nullptr) return false;
        out.host_kind_ = HostKind::IPv6;
        pos = static_cast<std::size_t>(bracket - s);
        out.host_length_ = static_cast<std::uint16_t>(pos - host);
        // The byte after the "]" whether it is quiet or not (one that is ends nothing).
        c = s[++pos];
        scan.skip_past(pos);
    } else {
        // Up to the first byte that is neither quiet nor another reg-name character; an
        // upper-case letter is lower-cased (RFC 7252 §6.4 step 5).
        scan.skip_past(pos - 1);
        for (step(); (kScan.c[c] & kHostPlain) != 0; step()) s[pos] = static_cast<std::uint8_t>(to_lower(static_cast<char>(c)));
        const std::size_t len = pos - host;
        if (len == 0 || (!kShort && len > 255)) return false;  // RFC 7252 §5.10.1
        if (is_digit(static_cast<char>(s[host])) && ipv4_literal(s + host, s + pos)) {
            out.host_kind_ = HostKind::IPv4;
        } else {
            out.host_kind_ = HostKind::RegName;
            (void)push(options::kUriHost, host, len);
        }
        out.host_length_ = static_cast<std::uint16_t>(len);
    }
    out.host_offset_ = static_cast<std::uint16_t>(host);
    if (c == ':') {
        // One to five digits (none: the default port; more are left to the reference path).
        const std::size_t first = pos + 1;
        step();
        if (pos - first > 5) return false;
        std::uint32_t port = 0;
        for (std::size_t i = first; i < pos; ++i) {
            const unsigned d = static_cast<unsigned>(s[i]) - '0';
            if (d > 9) return false;
            port = port * 10 + d;
        }
        if (port > 0xffff) return false;
        if (pos != first) out.port_ = static_cast<std::uint16_t>(port);
    }

    // One option per component: from `start`, the byte after `pos`, to the first one
    // outside `plain` (a "%" goes on decoding in place).
    std::size_t start = 0;
    auto take = [&](std::uint8_t plain, std::uint16_t number) {
        start = pos + 1;
        step();
        while ((kScan.c[c] & plain) != 0) step();
        std::size_t len = pos - start;
        if (c == '%') {
            // The decoded bytes end before the next byte read, so the scan still holds
            // from there on.
            std::uint8_t* p = s + pos;
            const std::uint8_t* const end = decode_in_place(p, plain);
            if (end == nullptr) return false;
            len = static_cast<std::size_t>(end - s) - start;
            pos = static_cast<std::size_t>(p - s);
            c = *p;
            scan.skip_past(pos);
        }
        return (kShort || len <= 255) && push(number, start, len);  // RFC 7252 §5.10.1
    };
    // RFC 7252 §6.4 step 8: one Uri-Path per segment.
    const std::size_t first_path = count;
    while (c == '/') {
        if (!take(kPathPlain, options::kUriPath)) return false;
        // A dot-segment (as written: one of up to two bytes holds no "%") is left to the
        // reference path.
        if (s[start] == '.' && pos - start <= 2 && (pos - start == 1 || s[start + 1] == '.')) return false;
    }
    if (count == first_path + 1 && pos == start) count = first_path;  // the path is "/"
    // RFC 7252 §6.4 step 9: one Uri-Query per "&"-separated argument.
    if (c == '?') {
        do {
            if (!take(kQueryPlain, options::kUriQuery)) return false;
        } while (c == '&');
    }
    out.count_ = count;
    out.used_ = n;
    return pos == n;
}

namespace {
// Out of line, so that the common case pays nothing for the reference path's frame.
[[gnu::noinline]] UriResult decompose_reference(std::string_view text, UriOptions& out) noexcept {
    UriParts parts;
    if (UriResult r = parse_uri(text, parts); !r.ok()) return r;
    return decompose(parts, out);
}

[[gnu::always_inline]] inline bool one_pass(std::string_view text, UriOptions& out) noexcept {
    return text.size() <= ShortScan::kMaxLength ? UriOnePass::run<ShortScan>(text, out) : UriOnePass::run<LongScan>(text, out);
}
}  // namespace

bool decompose_one_pass(std::string_view text, UriOptions& out) noexcept { return one_pass(text, out); }

UriResult decompose_uri(std::string_view text, UriOptions& out) noexcept {
    if (one_pass(text, out)) return {};
    return decompose_reference(text, out);
}

namespace {

void append_encoded(std::string& out, Bytes value, bool (*keep)(char)) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::uint8_t b : value) {
        const char c = static_cast<char>(b);
        if (b < 0x80 && keep(c)) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 0x0f]);
        }
    }
}

// RFC 7252 §6.5 step 8: keep unreserved, sub-delims, ":" and "@".
bool keep_in_path(char c) { return is_pchar(c); }
// RFC 7252 §6.5 step 9: keep unreserved, sub-delims except "&", ":", "@", "/" and "?".
bool keep_in_query(char c) { return (is_pchar(c) && c != '&') || c == '/' || c == '?'; }
// A reg-name; upper-case letters are encoded because §6.4 lower-cases the host before
// decoding, so only "%41" decomposes back to an "A" in Uri-Host.
bool keep_in_host(char c) { return (is_unreserved(c) || is_sub_delim(c)) && !(c >= 'A' && c <= 'Z'); }
bool keep_in_host_no_dot(char c) { return keep_in_host(c) && c != '.'; }

}  // namespace

UriResult compose_uri(Scheme scheme, std::string_view dest_host, std::uint16_t dest_port,
                      const Option* options, std::size_t count, std::string& out) {
    out.clear();
    out.append(to_string(scheme));
    out.append("://");
    const Option* host = nullptr;
    std::uint16_t port = dest_port;
    for (std::size_t i = 0; i < count; ++i) {
        if (options[i].number == options::kUriHost && host == nullptr) host = &options[i];
        if (options[i].number == options::kUriPort) {
            const auto v = decode_uint(options[i].value);
            if (options[i].value.size() > 2 || !v) return {UriError::BadOptionValue, 0};
            port = static_cast<std::uint16_t>(*v);
        }
    }
    // RFC 7252 §6.5 steps 4-5: Uri-Host, else the destination IP address. A Uri-Host
    // value is always written as a reg-name: one that reads like an IPv4 address has
    // its dots percent-encoded ("1%2E2%2E3%2E4"), because §6.4 would turn a literal
    // address back into no Uri-Host at all, and the composed URI must decompose to the
    // options it was composed from.
    if (host != nullptr) {
        if (host->value.empty()) return {UriError::EmptyHost, 0};
        const bool looks_ipv4 = is_ipv4(host->value.as_chars());
        append_encoded(out, host->value, looks_ipv4 ? keep_in_host_no_dot : keep_in_host);
    } else if (dest_host.empty()) {
        return {UriError::EmptyHost, 0};
    } else if (dest_host.find(':') != std::string_view::npos) {
        out.push_back('[');
        out.append(dest_host);
        out.push_back(']');
    } else {
        out.append(dest_host);
    }
    // RFC 7252 §6.5 step 7: the port is omitted when it is the scheme's default.
    if (port != default_port(scheme)) {
        out.push_back(':');
        out.append(std::to_string(port));
    }
    // RFC 7252 §6.5 step 8.
    bool any_path = false;
    for (std::size_t i = 0; i < count; ++i) {
        if (options[i].number != options::kUriPath) continue;
        any_path = true;
        out.push_back('/');
        const std::string_view v = options[i].value.as_chars();
        if (v == "." || v == "..") {
            for (std::size_t k = 0; k < v.size(); ++k) out.append("%2E");
        } else {
            append_encoded(out, options[i].value, keep_in_path);
        }
    }
    if (!any_path) out.push_back('/');
    // RFC 7252 §6.5 step 9.
    bool first_query = true;
    for (std::size_t i = 0; i < count; ++i) {
        if (options[i].number != options::kUriQuery) continue;
        out.push_back(first_query ? '?' : '&');
        first_query = false;
        append_encoded(out, options[i].value, keep_in_query);
    }
    return {};
}

}  // namespace coap
