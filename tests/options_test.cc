// Option registry, typed values and the receiver checks (RFC 7252 §5.4, §5.10, §12.2;
// RFC 7959; RFC 7641; RFC 9175).
#include <gtest/gtest.h>

#include <set>

#include "coap/codec/builder.h"
#include "coap/options/check.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "test_util.h"

using coap::OptionFormat;
using coapbed::test::hex;
using coapbed::test::view;

namespace {
struct Expected {
    std::uint16_t number;
    const char* name;
    OptionFormat format;
    std::uint16_t min;
    std::uint16_t max;
    bool repeatable;
};
// Copied by hand from the IANA "CoAP Option Numbers" registry and the defining RFCs'
// option tables, independently of registry.cc.
const Expected kExpected[] = {
    {1, "If-Match", OptionFormat::Opaque, 0, 8, true},
    {3, "Uri-Host", OptionFormat::String, 1, 255, false},
    {4, "ETag", OptionFormat::Opaque, 1, 8, true},
    {5, "If-None-Match", OptionFormat::Empty, 0, 0, false},
    {6, "Observe", OptionFormat::Uint, 0, 3, false},
    {7, "Uri-Port", OptionFormat::Uint, 0, 2, false},
    {8, "Location-Path", OptionFormat::String, 0, 255, true},
    {9, "OSCORE", OptionFormat::Opaque, 0, 255, false},
    {11, "Uri-Path", OptionFormat::String, 0, 255, true},
    {12, "Content-Format", OptionFormat::Uint, 0, 2, false},
    {14, "Max-Age", OptionFormat::Uint, 0, 4, false},
    {15, "Uri-Query", OptionFormat::String, 0, 255, true},
    {16, "Hop-Limit", OptionFormat::Uint, 1, 1, false},
    {17, "Accept", OptionFormat::Uint, 0, 2, false},
    {19, "Q-Block1", OptionFormat::Uint, 0, 3, false},
    {20, "Location-Query", OptionFormat::String, 0, 255, true},
    {21, "EDHOC", OptionFormat::Empty, 0, 0, false},
    {23, "Block2", OptionFormat::Uint, 0, 3, false},
    {27, "Block1", OptionFormat::Uint, 0, 3, false},
    {28, "Size2", OptionFormat::Uint, 0, 4, false},
    {31, "Q-Block2", OptionFormat::Uint, 0, 3, false},
    {35, "Proxy-Uri", OptionFormat::String, 1, 1034, false},
    {39, "Proxy-Scheme", OptionFormat::String, 1, 255, false},
    {60, "Size1", OptionFormat::Uint, 0, 4, false},
    {252, "Echo", OptionFormat::Opaque, 1, 40, false},
    {258, "No-Response", OptionFormat::Uint, 0, 1, false},
    {292, "Request-Tag", OptionFormat::Opaque, 0, 8, true},
    {2049, "OCF-Accept-Content-Format-Version", OptionFormat::Uint, 2, 2, false},
    {2053, "OCF-Content-Format-Version", OptionFormat::Uint, 2, 2, false},
};
}  // namespace

TEST(OptionRegistry, EveryEntryMatchesIana) {
    ASSERT_EQ(coap::registry_size(), std::size(kExpected));
    for (const Expected& e : kExpected) {
        SCOPED_TRACE(e.name);
        const coap::OptionInfo* by_number = coap::find_option(e.number);
        ASSERT_NE(by_number, nullptr);
        EXPECT_EQ(by_number->name, e.name);
        EXPECT_EQ(by_number->format, e.format);
        EXPECT_EQ(by_number->min_length, e.min);
        EXPECT_EQ(by_number->max_length, e.max);
        EXPECT_EQ(by_number->repeatable, e.repeatable);
        EXPECT_EQ(coap::find_option(std::string_view(e.name)), by_number);
    }
}

TEST(OptionRegistry, SortedUniqueAndUnknownNumbersAbsent) {
    std::uint16_t previous = 0;
    for (const coap::OptionInfo* o = coap::registry_begin(); o != coap::registry_end(); ++o) {
        EXPECT_GT(o->number, previous);
        previous = o->number;
    }
    for (std::uint16_t n : {0, 2, 10, 13, 128, 259, 65535}) EXPECT_EQ(coap::find_option(n), nullptr) << n;
    EXPECT_EQ(coap::find_option(std::string_view("uri-path")), nullptr);  // IANA spelling only
}

TEST(OptionRegistry, PropertiesFromNumberBits) {
    // RFC 7252 §5.4.6 and the C/U/N columns of the defining RFCs' tables.
    struct Bits {
        std::uint16_t number;
        bool critical, unsafe, no_cache_key;
    };
    const Bits cases[] = {
        {1, true, false, false},     // If-Match
        {3, true, true, false},      // Uri-Host
        {4, false, false, false},    // ETag
        {6, false, true, false},     // Observe
        {11, true, true, false},     // Uri-Path
        {14, false, true, false},    // Max-Age
        {16, false, false, false},   // Hop-Limit
        {23, true, true, false},     // Block2
        {28, false, false, true},    // Size2
        {35, true, true, false},     // Proxy-Uri
        {60, false, false, true},    // Size1
        {252, false, false, true},   // Echo
        {258, false, true, false},   // No-Response
        {292, false, false, false},  // Request-Tag
    };
    for (const Bits& b : cases) {
        EXPECT_EQ(coap::is_critical(b.number), b.critical) << b.number;
        EXPECT_EQ(coap::is_unsafe(b.number), b.unsafe) << b.number;
        EXPECT_EQ(coap::is_no_cache_key(b.number), b.no_cache_key) << b.number;
    }
}

TEST(OptionValues, UintAcceptsLeadingZeros) {
    EXPECT_EQ(coap::decode_uint(view(hex(""))), 0u);
    EXPECT_EQ(coap::decode_uint(view(hex("01"))), 1u);
    EXPECT_EQ(coap::decode_uint(view(hex("00 00 01 00"))), 256u);
    EXPECT_EQ(coap::decode_uint(view(hex("ff ff ff ff ff ff ff ff"))), 0xffffffffffffffffULL);
    EXPECT_EQ(coap::decode_uint(view(hex("00 ff ff ff ff ff ff ff ff"))), 0xffffffffffffffffULL);
    EXPECT_FALSE(coap::decode_uint(view(hex("01 00 00 00 00 00 00 00 00"))).has_value());
}

TEST(OptionValues, StringsMustBeUtf8) {
    EXPECT_EQ(coap::decode_string(view(hex("74 65 6d 70"))), "temp");
    EXPECT_TRUE(coap::is_valid_utf8(view(hex("c3 a9"))));           // é
    EXPECT_TRUE(coap::is_valid_utf8(view(hex("e2 82 ac"))));        // €
    EXPECT_TRUE(coap::is_valid_utf8(view(hex("f0 9f 98 80"))));     // U+1F600
    EXPECT_FALSE(coap::is_valid_utf8(view(hex("c0 af"))));          // overlong
    EXPECT_FALSE(coap::is_valid_utf8(view(hex("e0 80 af"))));       // overlong
    EXPECT_FALSE(coap::is_valid_utf8(view(hex("ed a0 80"))));       // surrogate
    EXPECT_FALSE(coap::is_valid_utf8(view(hex("f4 90 80 80"))));    // > U+10FFFF
    EXPECT_FALSE(coap::is_valid_utf8(view(hex("e2 82"))));          // cut short
    EXPECT_FALSE(coap::is_valid_utf8(view(hex("80"))));             // lone continuation
    EXPECT_FALSE(coap::decode_string(view(hex("ff"))).has_value());
}

TEST(OptionValues, BlockFields) {
    // RFC 7959 §2.2: NUM | M | SZX
    coap::BlockResult r = coap::decode_block(view(hex("")));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.block, (coap::Block{0, false, 0}));
    EXPECT_EQ(r.block.size(), 16u);
    r = coap::decode_block(view(hex("1e")));  // NUM 1, M 1, SZX 6
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.block, (coap::Block{1, true, 6}));
    EXPECT_EQ(r.block.size(), 1024u);
    EXPECT_EQ(r.block.offset(), 1024u);
    r = coap::decode_block(view(hex("ff ff f6")));  // the largest NUM
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.block.num, 0xfffffu);
    EXPECT_EQ(r.block.offset(), 0xfffffULL * 1024);  // no 32-bit overflow
    EXPECT_EQ(coap::decode_block(view(hex("07"))).error, coap::BlockError::SzxReserved);
    EXPECT_EQ(coap::decode_block(view(hex("00 00 00 10"))).error, coap::BlockError::TooLong);
    for (std::uint32_t num : {0u, 1u, 15u, 4095u, 0xfffffu}) {
        for (std::uint8_t szx = 0; szx < 7; ++szx) {
            const coap::Block b{num, (num & 1) != 0, szx};
            coap::MessageBuilder builder(coap::MessageType::Con, coap::codes::kGet, 1);
            ASSERT_EQ(builder.add_uint(23, coap::encode_block(b)), coap::BuildError::Ok);
            std::vector<std::uint8_t> out(16);
            const auto built = builder.build(coap::MutableBytes(out.data(), out.size()));
            ASSERT_TRUE(built.ok());
            coap::MessageView v;
            ASSERT_TRUE(coap::parse(coap::Bytes(out.data(), built.size), v).ok());
            EXPECT_EQ(coap::decode_block(v.option(0).value).block, b);
        }
    }
    EXPECT_EQ(coap::szx_for_size(16), 0);
    EXPECT_EQ(coap::szx_for_size(1024), 6);
    EXPECT_FALSE(coap::szx_for_size(2048).has_value());
    EXPECT_FALSE(coap::szx_for_size(100).has_value());
}

TEST(OptionValues, ContentFormatNames) {
    EXPECT_EQ(coap::content_format_name(0), "text/plain;charset=utf-8");
    EXPECT_EQ(coap::content_format_name(40), "application/link-format");
    EXPECT_EQ(coap::content_format_name(50), "application/json");
    EXPECT_EQ(coap::content_format_name(60), "application/cbor");
    EXPECT_FALSE(coap::content_format_name(1).has_value());
    EXPECT_EQ(coap::content_format_id("application/cbor"), 60);
    EXPECT_FALSE(coap::content_format_id("text/html").has_value());
}

namespace {

struct Built {
    std::vector<std::uint8_t> bytes;
    coap::MessageView view;
};

// Builds a message with the given options (number, hex value) and parses it.
void make(Built& b, coap::MessageType type, coap::Code code,
          std::initializer_list<std::pair<std::uint16_t, std::string>> opts) {
    coap::MessageBuilder builder(type, code, 7);
    std::vector<std::vector<std::uint8_t>> values;
    values.reserve(opts.size());
    for (const auto& [number, value] : opts) {
        values.push_back(hex(value));
        ASSERT_EQ(builder.add_option(number, view(values.back())), coap::BuildError::Ok);
    }
    b.bytes.resize(builder.encoded_size());
    ASSERT_TRUE(builder.build(coap::MutableBytes(b.bytes.data(), b.bytes.size())).ok());
    ASSERT_TRUE(coap::parse(view(b.bytes), b.view).ok());
}

}  // namespace

TEST(OptionCheck, UnrecognizedCriticalInConRequestDeserves402) {
    Built b;
    make(b, coap::MessageType::Con, coap::codes::kGet, {{11, "61"}, {9999, "00"}});
    const coap::OptionCheck c = coap::check_options(b.view);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::RespondBadOption);
    EXPECT_EQ(c.number, 9999);
    EXPECT_EQ(c.problem, coap::OptionProblem::Unrecognized);
}

TEST(OptionCheck, UnrecognizedCriticalInResponseOrNonIsRejected) {
    Built ack;
    make(ack, coap::MessageType::Ack, coap::codes::kContent, {{9999, ""}});
    EXPECT_EQ(coap::check_options(ack.view).verdict, coap::OptionVerdict::Reject);
    Built con_response;
    make(con_response, coap::MessageType::Con, coap::codes::kContent, {{9999, ""}});
    EXPECT_EQ(coap::check_options(con_response.view).verdict, coap::OptionVerdict::Reject);
    Built non_request;
    make(non_request, coap::MessageType::Non, coap::codes::kGet, {{9999, ""}});
    EXPECT_EQ(coap::check_options(non_request.view).verdict, coap::OptionVerdict::Reject);
}

TEST(OptionCheck, UnrecognizedElectiveIsIgnored) {
    Built b;
    make(b, coap::MessageType::Con, coap::codes::kGet, {{11, "61"}, {9998, "00"}, {60, "01"}});
    const coap::OptionCheck c = coap::check_options(b.view);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::Accept);
    EXPECT_EQ(c.ignored_mask, 0b100u);  // wire order: 11, 60, 9998
}

TEST(OptionCheck, LengthOutsideBoundsIsUnrecognized) {
    Built empty_host;  // Uri-Host is 1-255 bytes and critical
    make(empty_host, coap::MessageType::Con, coap::codes::kGet, {{3, ""}});
    coap::OptionCheck c = coap::check_options(empty_host.view);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::RespondBadOption);
    EXPECT_EQ(c.problem, coap::OptionProblem::BadLength);
    Built long_etag;  // ETag is 1-8 bytes and elective
    make(long_etag, coap::MessageType::Con, coap::codes::kGet, {{4, "010203040506070809"}});
    c = coap::check_options(long_etag.view);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::Accept);
    EXPECT_EQ(c.ignored_mask, 1u);
    Built long_block;  // Block2 is 0-3 bytes and critical
    make(long_block, coap::MessageType::Con, coap::codes::kGet, {{23, "00000010"}});
    EXPECT_EQ(coap::check_options(long_block.view).problem, coap::OptionProblem::BadLength);
}

TEST(OptionCheck, RepeatedNonRepeatable) {
    Built hosts;  // Uri-Host twice: the second is supernumerary and critical
    make(hosts, coap::MessageType::Con, coap::codes::kGet, {{3, "61"}, {3, "62"}});
    coap::OptionCheck c = coap::check_options(hosts.view);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::RespondBadOption);
    EXPECT_EQ(c.problem, coap::OptionProblem::Repeated);
    Built max_age;  // Max-Age twice: elective, the second is ignored
    make(max_age, coap::MessageType::Ack, coap::codes::kContent, {{14, "3c"}, {14, "0a"}});
    c = coap::check_options(max_age.view);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::Accept);
    EXPECT_EQ(c.ignored_mask, 0b10u);
    Built paths;  // Uri-Path is repeatable
    make(paths, coap::MessageType::Con, coap::codes::kGet, {{11, "61"}, {11, "62"}, {11, ""}});
    c = coap::check_options(paths.view);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::Accept);
    EXPECT_EQ(c.ignored_mask, 0u);
}

TEST(OptionCheck, ApplicationChoosesWhatItRecognizes) {
    Built b;
    make(b, coap::MessageType::Con, coap::codes::kGet, {{3, "61"}, {11, "62"}});
    coap::RecognizedOptions only_path = coap::RecognizedOptions::none();
    ASSERT_TRUE(only_path.add(11));
    const coap::OptionCheck c = coap::check_options(b.view, only_path);
    EXPECT_EQ(c.verdict, coap::OptionVerdict::RespondBadOption);
    EXPECT_EQ(c.number, 3);
    coap::RecognizedOptions with_private = coap::RecognizedOptions::registered();
    ASSERT_TRUE(with_private.add(65001));
    Built p;
    make(p, coap::MessageType::Con, coap::codes::kGet, {{65001, "01"}});
    EXPECT_EQ(coap::check_options(p.view, with_private).verdict, coap::OptionVerdict::Accept);
    EXPECT_EQ(coap::check_options(p.view).verdict, coap::OptionVerdict::RespondBadOption);
}

TEST(OptionCheck, RecognizedSetIsBounded) {
    coap::RecognizedOptions set = coap::RecognizedOptions::none();
    for (std::uint16_t n = 0; n < coap::RecognizedOptions::kCapacity; ++n) ASSERT_TRUE(set.add(1000 + n));
    EXPECT_TRUE(set.add(1000));  // already present
    EXPECT_FALSE(set.add(5000));
    EXPECT_FALSE(set.contains(5000));
}
