// coap/coaps URIs: RFC 7252 §6.1-§6.5 with RFC 3986.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "coap/uri/scan.h"
#include "coap/uri/uri.h"
#include "test_util.h"

using coap::UriError;
using coap::UriOptions;

namespace {

// "number=value" lines for every option, to compare decompositions.
std::vector<std::string> options_of(const UriOptions& o) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < o.size(); ++i) {
        out.push_back(std::to_string(o[i].number) + "=" + std::string(o[i].value.as_chars()));
    }
    return out;
}

std::vector<std::string> decompose_ok(const std::string& uri) {
    UriOptions o;
    const coap::UriResult r = coap::decompose_uri(uri, o);
    EXPECT_TRUE(r.ok()) << uri << ": " << coap::to_string(r.error) << " at " << r.offset;
    return options_of(o);
}

void expect_fail(const std::string& uri, UriError e, std::size_t offset) {
    UriOptions o;
    const coap::UriResult r = coap::decompose_uri(uri, o);
    EXPECT_EQ(r.error, e) << uri << ": got " << coap::to_string(r.error);
    EXPECT_EQ(r.offset, offset) << uri;
}

std::string compose(const UriOptions& o) {
    std::vector<coap::Option> list;
    for (std::size_t i = 0; i < o.size(); ++i) list.push_back(o[i]);
    std::string out;
    const coap::UriResult r = coap::compose_uri(o.scheme(), o.host(), o.port(), list.data(), list.size(), out);
    EXPECT_TRUE(r.ok()) << coap::to_string(r.error);
    return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST(Uri, EquivalentUrisOfRfc7252Section6_3) {
    const V expected = {"3=example.com", "11=~sensors", "11=temp.xml"};
    EXPECT_EQ(decompose_ok("coap://example.com:5683/~sensors/temp.xml"), expected);
    EXPECT_EQ(decompose_ok("coap://EXAMPLE.com/%7Esensors/temp.xml"), expected);
    EXPECT_EQ(decompose_ok("coap://EXAMPLE.com:/%7esensors/temp.xml"), expected);
    EXPECT_EQ(decompose_ok("COAP://example.COM:05683/%7esensors/temp.xml"), expected);
}

TEST(Uri, PathSegmentsAndQueryArguments) {
    EXPECT_EQ(decompose_ok("coap://h/a//b/"), (V{"3=h", "11=a", "11=", "11=b", "11="}));
    EXPECT_EQ(decompose_ok("coap://h"), (V{"3=h"}));
    EXPECT_EQ(decompose_ok("coap://h/"), (V{"3=h"}));
    EXPECT_EQ(decompose_ok("coap://h//"), (V{"3=h", "11=", "11="}));
    EXPECT_EQ(decompose_ok("coap://h/a%2Fb/%20"), (V{"3=h", "11=a/b", "11= "}));
    EXPECT_EQ(decompose_ok("coap://h/s?a=1&b=%26&&c"), (V{"3=h", "11=s", "15=a=1", "15=b=&", "15=", "15=c"}));
    EXPECT_EQ(decompose_ok("coap://h?"), (V{"3=h", "15="}));
    EXPECT_EQ(decompose_ok("coap://h/?x=/y?z"), (V{"3=h", "15=x=/y?z"}));
}

TEST(Uri, DotSegmentsAreRemovedAsInReferenceResolution) {
    // RFC 7252 §6.4 step 2 resolves the URI, which applies RFC 3986 §5.2.4.
    EXPECT_EQ(decompose_ok("coap://h/a/b/c/./../../g"), (V{"3=h", "11=a", "11=g"}));
    EXPECT_EQ(decompose_ok("coap://h/a/./b"), (V{"3=h", "11=a", "11=b"}));
    EXPECT_EQ(decompose_ok("coap://h/a/.."), (V{"3=h"}));
    EXPECT_EQ(decompose_ok("coap://h/.."), (V{"3=h"}));
    EXPECT_EQ(decompose_ok("coap://h/a/b/.."), (V{"3=h", "11=a", "11="}));
    EXPECT_EQ(decompose_ok("coap://h/%2e/x"), (V{"3=h", "11=.", "11=x"}));  // encoded: data, not a dot-segment
}

TEST(Uri, HostKinds) {
    UriOptions o;
    ASSERT_TRUE(coap::decompose_uri("coap://192.0.2.1:61616/x", o).ok());
    EXPECT_EQ(o.host_kind(), coap::HostKind::IPv4);
    EXPECT_EQ(o.host(), "192.0.2.1");
    EXPECT_EQ(o.port(), 61616);
    EXPECT_EQ(options_of(o), (V{"11=x"}));  // no Uri-Host for an IP literal
    ASSERT_TRUE(coap::decompose_uri("coaps://[2001:DB8::1]/x", o).ok());
    EXPECT_EQ(o.host_kind(), coap::HostKind::IPv6);
    EXPECT_EQ(o.host(), "2001:db8::1");
    EXPECT_EQ(o.port(), 5684);
    EXPECT_EQ(o.scheme(), coap::Scheme::Coaps);
    EXPECT_EQ(options_of(o), (V{"11=x"}));
    // Not an IPv4address by RFC 3986's grammar: a reg-name.
    EXPECT_EQ(decompose_ok("coap://256.1.1.1/"), (V{"3=256.1.1.1"}));
    EXPECT_EQ(decompose_ok("coap://01.2.3.4/"), (V{"3=01.2.3.4"}));
    // Lower-cased, then decoded (§6.4 step 5): "%41" stays an upper-case A.
    EXPECT_EQ(decompose_ok("coap://Ex%41mple/"), (V{"3=exAmple"}));
}

TEST(Uri, PortRange) {
    UriOptions o;
    ASSERT_TRUE(coap::decompose_uri("coap://h:0/", o).ok());
    EXPECT_EQ(o.port(), 0);
    ASSERT_TRUE(coap::decompose_uri("coap://h:65535/", o).ok());
    EXPECT_EQ(o.port(), 65535);
    ASSERT_TRUE(coap::decompose_uri("coap://h:/", o).ok());
    EXPECT_EQ(o.port(), 5683);
    expect_fail("coap://h:65536/", UriError::PortOutOfRange, 9);
    expect_fail("coap://h:99999999999999999999/", UriError::PortOutOfRange, 9);
    expect_fail("coap://h:8a/", UriError::BadPort, 10);
    expect_fail("coap://[::1]x/", UriError::BadPort, 12);
}

TEST(Uri, Failures) {
    expect_fail("", UriError::NotAbsolute, 0);
    expect_fail("/sensors/temp", UriError::NotAbsolute, 0);
    expect_fail("example.com/temp", UriError::NotAbsolute, 11);
    expect_fail("http://example.com/", UriError::UnsupportedScheme, 0);
    expect_fail("coap+tcp://example.com/", UriError::UnsupportedScheme, 0);
    expect_fail("coap:example", UriError::MissingAuthority, 5);
    expect_fail("coap:///x", UriError::EmptyHost, 7);
    expect_fail("coap://:5683/x", UriError::EmptyHost, 7);
    expect_fail("coap://user@h/", UriError::UserinfoNotAllowed, 11);
    expect_fail("coap://h/x#frag", UriError::HasFragment, 10);
    expect_fail("coap://h/x#", UriError::HasFragment, 10);
    expect_fail("coap://h/%4", UriError::BadPercentEncoding, 9);
    expect_fail("coap://h/%", UriError::BadPercentEncoding, 9);
    expect_fail("coap://h/%zz", UriError::BadPercentEncoding, 9);
    expect_fail("coap://h/?a=%g0", UriError::BadPercentEncoding, 12);
    expect_fail("coap://h%2/", UriError::BadPercentEncoding, 8);
    expect_fail("coap://h/a b", UriError::BadCharacter, 10);
    expect_fail("coap://h/\xc3\xa9", UriError::BadCharacter, 9);
    expect_fail("coap://h/x?<", UriError::BadCharacter, 11);
    expect_fail("coap://h_%/", UriError::BadPercentEncoding, 9);
    expect_fail("coap://h^/", UriError::BadHost, 8);
    expect_fail("coap://[::g]/", UriError::BadIpLiteral, 7);
    expect_fail("coap://[::1/", UriError::BadIpLiteral, 7);
    expect_fail("coap://[fe80::1%25eth0]/", UriError::BadIpLiteral, 7);
    expect_fail("coap://[v1.x]/", UriError::BadIpLiteral, 7);
}

TEST(Uri, LengthBounds) {
    const std::string long_segment(256, 'a');
    expect_fail("coap://h/" + long_segment, UriError::SegmentTooLong, 9);
    EXPECT_EQ(decompose_ok("coap://h/" + std::string(255, 'a')).size(), 2u);
    // 255 decoded bytes from 765 characters of percent-encoding are fine.
    std::string encoded;
    for (int i = 0; i < 255; ++i) encoded += "%41";
    EXPECT_EQ(decompose_ok("coap://h/" + encoded).size(), 2u);
    expect_fail("coap://h/?" + long_segment, UriError::QueryTooLong, 10);
    expect_fail("coap://" + long_segment + "/", UriError::HostTooLong, 7);
    std::string many = "coap://h";
    for (std::size_t i = 0; i < UriOptions::kMaxOptions; ++i) many += "/a";  // 64 paths + Uri-Host
    expect_fail(many, UriError::TooManyOptions, many.size() - 1);
    std::string too_long = "coap://h/" + std::string(coap::kMaxUriLength, 'a');
    expect_fail(too_long, UriError::TooLong, coap::kMaxUriLength);
}

TEST(Uri, Ipv6Forms) {
    const char* good[] = {"::", "::1", "1::", "1:2:3:4:5:6:7:8", "::ffff:192.0.2.1", "1:2:3:4:5:6:1.2.3.4",
                          "fe80::abcd:1", "1::8", "1:2:3:4:5:6:7::"};
    for (const char* g : good) {
        UriOptions o;
        EXPECT_TRUE(coap::decompose_uri(std::string("coap://[") + g + "]/", o).ok()) << g;
    }
    const char* bad[] = {"1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1:", "12345::", "::1.2.3",
                         "1:2:3:4:5:6:7:1.2.3.4", ":::", "1:2:3:4:5:6:7", "", "::1.2.3.04"};
    for (const char* b : bad) {
        expect_fail(std::string("coap://[") + b + "]/", UriError::BadIpLiteral, 7);
    }
}

TEST(Uri, ComposeFromOptionsSection6_5) {
    UriOptions o;
    ASSERT_TRUE(coap::decompose_uri("coap://EXAMPLE.com:5683/%7esensors/temp.xml", o).ok());
    EXPECT_EQ(compose(o), "coap://example.com/~sensors/temp.xml");
    ASSERT_TRUE(coap::decompose_uri("coaps://[2001:DB8::1]:5683/", o).ok());
    EXPECT_EQ(compose(o), "coaps://[2001:db8::1]:5683/");
    ASSERT_TRUE(coap::decompose_uri("coap://h/a%20b/c%2fd/x:y@z?q=a%26b&r=%2F?", o).ok());
    EXPECT_EQ(compose(o), "coap://h/a%20b/c%2Fd/x:y@z?q=a%26b&r=/?");
    ASSERT_TRUE(coap::decompose_uri("coap://h/%2e/%2E%2e", o).ok());
    EXPECT_EQ(compose(o), "coap://h/%2E/%2E%2E");
    ASSERT_TRUE(coap::decompose_uri("coap://a%3Ab/", o).ok());
    EXPECT_EQ(compose(o), "coap://a%3Ab/");
    // Found by fuzz/uri_parse: a reg-name that decodes to an IPv4 address stays a Uri-Host.
    ASSERT_TRUE(coap::decompose_uri("coap://1%2e92.0.55/", o).ok());
    EXPECT_EQ(options_of(o), (V{"3=1.92.0.55"}));
    EXPECT_EQ(compose(o), "coap://1%2E92%2E0%2E55/");

    // Uri-Port and Uri-Host given explicitly, destination an IPv4 address.
    const std::string host = "example.net";
    const std::uint8_t port[] = {0x16, 0x34};  // 5684
    const coap::Option opts[] = {{3, coap::Bytes(host)}, {7, coap::Bytes(port, 2)}, {11, coap::Bytes(std::string_view("x"))}};
    std::string out;
    ASSERT_TRUE(coap::compose_uri(coap::Scheme::Coap, "192.0.2.1", 5683, opts, 3, out).ok());
    EXPECT_EQ(out, "coap://example.net:5684/x");
    ASSERT_TRUE(coap::compose_uri(coap::Scheme::Coap, "192.0.2.1", 5683, opts + 2, 1, out).ok());
    EXPECT_EQ(out, "coap://192.0.2.1/x");
    const std::uint8_t bad_port[] = {0, 0, 1};
    const coap::Option bad[] = {{7, coap::Bytes(bad_port, 3)}};
    EXPECT_EQ(coap::compose_uri(coap::Scheme::Coap, "::1", 5683, bad, 1, out).error, UriError::BadOptionValue);
    EXPECT_EQ(coap::compose_uri(coap::Scheme::Coap, "", 5683, nullptr, 0, out).error, UriError::EmptyHost);
}

namespace {
void expect_round_trip(const std::string& uri) {
    UriOptions first;
    if (!coap::decompose_uri(uri, first).ok()) return;
    const std::string composed = compose(first);
    UriOptions second;
    const coap::UriResult r = coap::decompose_uri(composed, second);
    ASSERT_TRUE(r.ok()) << uri << " -> " << composed << ": " << coap::to_string(r.error);
    EXPECT_EQ(options_of(second), options_of(first)) << uri << " -> " << composed;
    EXPECT_EQ(second.port(), first.port()) << uri;
    EXPECT_EQ(second.host(), first.host()) << uri;
}
}  // namespace

TEST(Uri, ComposeThenDecomposeGivesTheSameOptions) {
    for (const char* u : {"coap://h/", "coap://Ex%41mple/%2e/..%2F?%26=&", "coap://h/a//b/", "coaps://h:1/?",
                          "coap://[::1]:5684/x?y", "coap://h/%25/%00?%FF", "coap://h!$&'()*+,;=/@:!"}) {
        expect_round_trip(u);
    }
    // Seeded random URIs over an alphabet rich in delimiters and escapes.
    std::mt19937 rng(6);
    const std::string alphabet = "aZ09-._~!$&'()*+,;=:@/?%.";
    const char* hexes = "0123456789abcdefABCDEF";
    int decomposed = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string uri = (i % 2) ? "coap://Host" : "coaps://[::1]";
        const int len = std::uniform_int_distribution<int>(0, 30)(rng);
        uri += '/';
        for (int k = 0; k < len; ++k) {
            const char c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
            uri += c;
            if (c == '%') {
                uri += hexes[std::uniform_int_distribution<int>(0, 21)(rng)];
                uri += hexes[std::uniform_int_distribution<int>(0, 21)(rng)];
            }
        }
        UriOptions o;
        if (coap::decompose_uri(uri, o).ok()) ++decomposed;
        expect_round_trip(uri);
    }
    EXPECT_GT(decomposed, 4000);  // the generator mostly produces valid URIs
}

namespace {
// decompose_uri's one pass against the two-pass reference (parse_uri, then decompose):
// the same error and offset, or the same options, host, port, scheme and host kind.
void expect_same_as_reference(const std::string& uri) {
    UriOptions fast;
    const coap::UriResult a = coap::decompose_uri(uri, fast);
    coap::UriParts parts;
    UriOptions ref;
    coap::UriResult b = coap::parse_uri(uri, parts);
    if (b.ok()) b = coap::decompose(parts, ref);
    ASSERT_EQ(a.error, b.error) << uri << ": " << coap::to_string(a.error) << " vs " << coap::to_string(b.error);
    ASSERT_EQ(a.offset, b.offset) << uri;
    if (!a.ok()) return;
    ASSERT_EQ(options_of(fast), options_of(ref)) << uri;
    ASSERT_EQ(fast.host(), ref.host()) << uri;
    ASSERT_EQ(fast.port(), ref.port()) << uri;
    ASSERT_EQ(fast.scheme(), ref.scheme()) << uri;
    ASSERT_EQ(fast.host_kind(), ref.host_kind()) << uri;
}
}  // namespace

TEST(Uri, OnePassAgreesWithTheReference) {
    for (const char* u : {"coap://example.com/sensors/temp", "coap://[2001:DB8::1]:5683/.well-known/core?rt=x",
                          "coaps://Node-17.example.org:61616/a/b/c?x=1&y=2", "coap://192.0.2.10/s/t%20x/%7Euser",
                          "coap://h", "coap://h/", "coap://h//", "coap://h?", "coap://h/?x=/y?z", "coap://h/a/./b",
                          "coap://h/%2e/x", "coap://h:/", "coap://h:0/", "coap://h:65535", "coap://h:65536/",
                          "coap://h:005683/x", "coap://h/%4", "coap://h/%", "coap://h/x#f", "coap://user@h/",
                          "coap://h/a b", "coap://[::1]x/", "coap://[::1", "coap://1.2.3.4:1/", "coap://1.2.3.04/",
                          "coap://Ex%41mple/", "coap://h/%41%", "coap://h/?%", "coap://h/.", "coap://h/..",
                          "coap://h/.x/..y", "coaps://[::ffff:1.2.3.4]/"}) {
        expect_same_as_reference(u);
    }
    std::string nul = "coap://h/a";
    nul += '\0';
    nul += "b";
    expect_same_as_reference(nul);
    std::string long_host = "coap://" + std::string(255, 'h') + "/";
    expect_same_as_reference(long_host);
    expect_same_as_reference("coap://" + std::string(256, 'h') + "/");
    expect_same_as_reference("coap://h/" + std::string(255, 'a') + "/" + std::string(256, 'b'));
    expect_same_as_reference("coap://h/?" + std::string(256, 'q'));
    std::string many = "coap://h";
    for (std::size_t i = 0; i < UriOptions::kMaxOptions; ++i) many += "/a";
    expect_same_as_reference(many);
    expect_same_as_reference(many.substr(0, many.size() - 2));
    expect_same_as_reference("coap://h/" + std::string(coap::kMaxUriLength - 9, 'a'));
    expect_same_as_reference("coap://h/" + std::string(coap::kMaxUriLength - 8, 'a'));
    // Seeded random URIs: every delimiter, escapes good and bad, upper case, NUL, bytes
    // above 0x7f, after prefixes that select each branch of the one pass.
    std::mt19937 rng(7261);
    const char* prefixes[] = {"coap://", "coaps://", "COAP://", "coap:/", "coap://[::1]", "coap://[", "coap://1.2.3.4",
                              "coap://Host", "coap://h:", ""};
    const std::string alphabet = std::string("aZ09-._~!$&'()*+,;=:@/?%#[] \x7f\xc3") + '\0';
    const char* hexes = "0123456789abcdefABCDEFg";
    for (int i = 0; i < 20000; ++i) {
        std::string uri = prefixes[std::uniform_int_distribution<int>(0, 9)(rng)];
        const int len = std::uniform_int_distribution<int>(0, 24)(rng);
        for (int k = 0; k < len; ++k) {
            const char c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
            uri += c;
            if (c == '%' && rng() % 4 != 0) {
                uri += hexes[std::uniform_int_distribution<int>(0, 22)(rng)];
                uri += hexes[std::uniform_int_distribution<int>(0, 22)(rng)];
            }
        }
        expect_same_as_reference(uri);
        if (HasFatalFailure()) return;
    }
    // IPv6 literals and ports: the one pass validates both itself.
    for (const char* u : {"coap://[1::2:]/", "coap://[1:]/", "coap://[:1]/", "coap://[::]/", "coap://[::1]",
                          "coap://[1:2:3:4:5:6:7:8]/", "coap://[1:2:3:4:5:6:7:8:9]/", "coap://[1::2:3:4:5:6:7:8]/",
                          "coap://[1:2:3:4:5:6:7::]/", "coap://[1:2:3:4:5:6:7]/", "coap://[12345::]/",
                          "coap://[fe80::1%25eth0]/", "coap://[ABCD::EF]/", "coap://[g::1]/", "coap://[1:::2]/",
                          "coap://[]/", "coap://[::1::]/", "coap://[::1:2:3:4:5:6:7]/", "coap://[1:2:3:4:5:6::7:8]/",
                          "coap://h:1", "coap://h:12345/", "coap://h:123456/", "coap://h:99999/", "coap://h:65535/",
                          "coap://h:0001/", "coap://h:5a/", "coap://h::/"}) {
        expect_same_as_reference(u);
    }
    const std::string ipv6_chars = "0123abcdEF:.%]";
    for (int i = 0; i < 20000; ++i) {
        std::string uri = "coap://[";
        const int len = std::uniform_int_distribution<int>(0, 24)(rng);
        for (int k = 0; k < len; ++k) uri += ipv6_chars[std::uniform_int_distribution<std::size_t>(0, ipv6_chars.size() - 1)(rng)];
        uri += rng() % 2 ? "]/x" : "]:61616?q";
        expect_same_as_reference(uri);
        if (HasFatalFailure()) return;
    }
}

TEST(Uri, ScanMarksEveryByteThatIsNotQuiet) {
    // Each byte value at each of the sixteen positions, among quiet and loud neighbours.
    for (int v = 0; v < 256; ++v) {
        for (int at = 0; at < 16; ++at) {
            for (const std::uint8_t fill : {std::uint8_t{'a'}, std::uint8_t{'/'}}) {
                std::uint8_t src[16];
                std::uint8_t dst[16] = {};
                for (std::uint8_t& b : src) b = fill;
                src[at] = static_cast<std::uint8_t>(v);
                const std::uint32_t quiet = coap::uri_scan::copy16(src, dst);
                std::uint32_t want = 0;
                for (int i = 0; i < 16; ++i) want |= static_cast<std::uint32_t>(coap::uri_scan::is_quiet(src[i])) << i;
                ASSERT_EQ(quiet, want) << "byte " << v << " at " << at;
                ASSERT_EQ(std::memcmp(src, dst, 16), 0);
            }
        }
    }
    // The quiet set itself: a-z, 0-9, "-" and "." only.
    for (int v = 0; v < 256; ++v) {
        const bool want = (v >= 'a' && v <= 'z') || (v >= '0' && v <= '9') || v == '-' || v == '.';
        EXPECT_EQ(coap::uri_scan::is_quiet(static_cast<std::uint8_t>(v)), want) << v;
    }
}

namespace {
// Whether the path of an absolute URI has a "." or ".." segment.
bool has_dot_segment(const std::string& uri) {
    const std::size_t authority = uri.find("//") + 2;
    std::size_t at = uri.find('/', authority);
    const std::size_t end = std::min(uri.find('?', authority), uri.size());
    while (at < end) {
        const std::size_t next = std::min(uri.find('/', at + 1), end);
        const std::string segment = uri.substr(at + 1, next - at - 1);
        if (segment == "." || segment == "..") return true;
        at = next;
    }
    return false;
}
}  // namespace

TEST(Uri, OnePassAgreesWithTheReferenceAtEveryLength) {
    // The one pass scans 16 bytes at a time into 64-bit words: URIs of every length from 8
    // to 200 and around the longest, valid ones and ones with a byte changed, so that
    // delimiters, escapes and bad bytes fall on every block and word boundary.
    std::mt19937 rng(1034);
    auto pick = [&rng](const std::string& from) { return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)]; };
    const std::string quiet = "abcdefghijklmnopqrstuvwxyz0123456789-.";
    const std::string any = quiet + "ABCZ_~!$&'()*+,;=:@/?%#[] \x7f\xc3" + std::string(1, '\0');
    const char* hosts[] = {"example.com", "[2001:db8::1]", "192.0.2.10", "Gateway.Example.org", "[fe80::AB]", "h"};
    const char* ports[] = {"", ":5683", ":61616", ":", ":70000"};
    std::vector<std::size_t> lengths;
    for (std::size_t n = 8; n <= 200; ++n) lengths.push_back(n);
    for (std::size_t n = coap::kMaxUriLength - 70; n <= coap::kMaxUriLength + 1; ++n) lengths.push_back(n);
    int taken = 0;
    for (const std::size_t n : lengths) {
        for (int round = 0; round < 12; ++round) {
            std::string uri = std::string(rng() % 2 ? "coap://" : "coaps://") + hosts[rng() % 6] + ports[rng() % 5];
            // Segments and arguments of 0-12 bytes, mostly quiet, some escaped.
            bool query = false;
            while (uri.size() < n) {
                if (!query && rng() % 6 == 0) {
                    uri += '?';
                    query = true;
                } else {
                    uri += query ? '&' : '/';
                }
                const int len = std::uniform_int_distribution<int>(0, 12)(rng);
                for (int k = 0; k < len; ++k) {
                    const unsigned r = rng() % 16;
                    if (r == 0) {
                        uri += "%4";
                        uri += pick("0123456789abcdefABCDEF");
                    } else if (r == 1) {
                        uri += pick("=ABCZ~_!$'()*+,;:@");
                    } else {
                        uri += pick(quiet);
                    }
                }
            }
            uri.resize(n, 'x');
            if (round % 2 == 1) uri[std::uniform_int_distribution<std::size_t>(7, n - 1)(rng)] = pick(any);
            expect_same_as_reference(uri);
            if (HasFatalFailure()) return;
            // A valid URI without dot-segments is the common shape: the one pass takes it
            // (at every length, so each word of the scan ends where it should).
            UriOptions o;
            if (coap::decompose_uri(uri, o).ok() && !has_dot_segment(uri)) {
                ++taken;
                EXPECT_TRUE(coap::decompose_one_pass(uri, o)) << uri;
            }
        }
    }
    EXPECT_GT(taken, 1000);  // valid URIs among them, not only refusals
}
