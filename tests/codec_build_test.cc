// The builder: sorted, shortest-form options; bounded output; parse(build(m)) == m.
#include <gtest/gtest.h>

#include <random>

#include "coap/codec/builder.h"
#include "coap/codec/message.h"
#include "test_util.h"

using coap::BuildError;
using coap::MessageBuilder;
using coap::MessageType;
using coapbed::test::hex;
using coapbed::test::view;

namespace {
std::vector<std::uint8_t> build_all(const MessageBuilder& b) {
    std::vector<std::uint8_t> out(b.encoded_size());
    const coap::BuildResult r = b.build(coap::MutableBytes(out.data(), out.size()));
    EXPECT_TRUE(r.ok()) << coap::to_string(r.error);
    out.resize(r.size);
    return out;
}
}  // namespace

TEST(CodecBuild, OptionsInAnyOrderComeOutSortedAndDeltaEncoded) {
    MessageBuilder b(MessageType::Con, coap::codes::kGet, 0x7b);
    const auto token = hex("1234");  // the builder keeps views: the bytes must outlive it
    const auto payload = hex("6869");
    ASSERT_EQ(b.set_token(view(token)), BuildError::Ok);
    ASSERT_EQ(b.add_option(15, std::string_view("q")), BuildError::Ok);   // Uri-Query
    ASSERT_EQ(b.add_option(11, std::string_view("a")), BuildError::Ok);   // Uri-Path
    ASSERT_EQ(b.add_option(3, std::string_view("h")), BuildError::Ok);    // Uri-Host
    ASSERT_EQ(b.add_option(11, std::string_view("b")), BuildError::Ok);   // Uri-Path, after "a"
    b.set_payload(view(payload));
    EXPECT_EQ(build_all(b), hex("42 01 00 7b 12 34  31 68  81 61  01 62  41 71  ff 68 69"));
}

TEST(CodecBuild, ShortestExtendedForms) {
    struct Case {
        std::uint16_t number;
        std::size_t length;
        const char* header;  // option header bytes expected
    };
    const Case cases[] = {
        {12, 12, "cc"},          {13, 13, "dd 00 00"},      {14, 14, "dd 01 01"},
        {268, 268, "dd ff ff"},  {269, 269, "ee 00 00 00 00"}, {270, 270, "ee 00 01 00 01"},
        {65535, 0, "e0 fe f2"},
    };
    for (const Case& c : cases) {
        MessageBuilder b(MessageType::Non, coap::codes::kPost, 1);
        std::vector<std::uint8_t> value(c.length, 0x33);
        ASSERT_EQ(b.add_option(c.number, view(value)), BuildError::Ok);
        std::vector<std::uint8_t> expected = hex(std::string("50 02 00 01 ") + c.header);
        expected.insert(expected.end(), value.begin(), value.end());
        EXPECT_EQ(build_all(b), expected) << c.number;
    }
}

TEST(CodecBuild, UintOptionsUseTheShortestForm) {
    struct Case {
        std::uint64_t value;
        const char* bytes;
    };
    const Case cases[] = {{0, "c0"}, {1, "c1 01"}, {255, "c1 ff"}, {256, "c2 01 00"},
                          {0xffffffffULL, "c4 ff ff ff ff"}, {0x100000000ULL, "c5 01 00 00 00 00"}};
    for (const Case& c : cases) {
        MessageBuilder b(MessageType::Con, coap::codes::kGet, 1);
        ASSERT_EQ(b.add_uint(12, c.value), BuildError::Ok);
        EXPECT_EQ(build_all(b), hex(std::string("40 01 00 01 ") + c.bytes)) << c.value;
    }
}

TEST(CodecBuild, EveryTooSmallBufferIsAnErrorNotAnOverflow) {
    MessageBuilder b(MessageType::Con, coap::codes::kContent, 9);
    const auto token = hex("0102030405060708");
    ASSERT_EQ(b.set_token(view(token)), BuildError::Ok);
    std::vector<std::uint8_t> big(400, 0x44);
    ASSERT_EQ(b.add_option(252, view(big)), BuildError::Ok);
    ASSERT_EQ(b.add_uint(23, 0x1234), BuildError::Ok);
    b.set_payload(view(big));
    const std::size_t need = b.encoded_size();
    for (std::size_t size = 0; size < need; ++size) {
        std::vector<std::uint8_t> out(size);  // exact size: ASan reports any write past it
        const coap::BuildResult r = b.build(coap::MutableBytes(out.data(), out.size()));
        EXPECT_EQ(r.error, BuildError::BufferTooSmall) << size;
    }
    std::vector<std::uint8_t> out(need);
    const coap::BuildResult r = b.build(coap::MutableBytes(out.data(), out.size()));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.size, need);
}

TEST(CodecBuild, RejectsWhatTheParserWouldReject) {
    MessageBuilder b(MessageType::Con, coap::codes::kGet, 1);
    EXPECT_EQ(b.set_token(view(hex("010203040506070809"))), BuildError::TokenTooLong);

    std::vector<std::uint8_t> out(64);
    MessageBuilder empty_with_token(MessageType::Ack, coap::codes::kEmpty, 1);
    const auto token = hex("01");
    ASSERT_EQ(empty_with_token.set_token(view(token)), BuildError::Ok);
    EXPECT_EQ(empty_with_token.build(coap::MutableBytes(out.data(), out.size())).error, BuildError::EmptyWithContent);
    MessageBuilder empty_with_option(MessageType::Ack, coap::codes::kEmpty, 1);
    ASSERT_EQ(empty_with_option.add_uint(12, 0), BuildError::Ok);
    EXPECT_EQ(empty_with_option.build(coap::MutableBytes(out.data(), out.size())).error, BuildError::EmptyWithContent);
    MessageBuilder empty_ok(MessageType::Rst, coap::codes::kEmpty, 0xbeef);
    EXPECT_EQ(build_all(empty_ok), hex("70 00 be ef"));

    MessageBuilder many(MessageType::Con, coap::codes::kGet, 1);
    for (std::size_t i = 0; i < MessageBuilder::kMaxOptions; ++i) ASSERT_EQ(many.add_uint(60, 1), BuildError::Ok);
    EXPECT_EQ(many.add_uint(60, 1), BuildError::TooManyOptions);

    MessageBuilder huge(MessageType::Con, coap::codes::kPost, 1);
    std::vector<std::uint8_t> payload(coap::MessageView::kMaxDatagram, 0);
    huge.set_payload(view(payload));
    std::vector<std::uint8_t> big_out(payload.size() + 16);
    EXPECT_EQ(huge.build(coap::MutableBytes(big_out.data(), big_out.size())).error, BuildError::MessageTooLarge);
    std::vector<std::uint8_t> too_long_value(0x10000, 0);
    EXPECT_EQ(huge.add_option(1, view(too_long_value)), BuildError::OptionTooLong);
}

namespace {

// A random well-formed message: options drawn around every encoding threshold.
coap::Message random_message(std::mt19937& rng) {
    auto pick = [&](std::uint32_t lo, std::uint32_t hi) {
        return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
    };
    coap::Message m;
    m.type = static_cast<MessageType>(pick(0, 3));
    m.message_id = static_cast<std::uint16_t>(pick(0, 0xffff));
    if (pick(0, 9) == 0) {
        m.code = coap::codes::kEmpty;  // Empty: header only (RFC 7252 §4.1)
        return m;
    }
    m.code = coap::Code{static_cast<std::uint8_t>(pick(1, 255))};
    m.token.resize(pick(0, 8));
    for (auto& b : m.token) b = static_cast<std::uint8_t>(pick(0, 255));
    static constexpr std::uint32_t kEdges[] = {0, 1, 12, 13, 14, 268, 269, 270, 1000, 65535};
    const std::uint32_t n = pick(0, 12);
    for (std::uint32_t i = 0; i < n; ++i) {
        coap::OwnedOption o;
        o.number = static_cast<std::uint16_t>(pick(0, 3) == 0 ? kEdges[pick(0, 9)] : pick(0, 300));
        const std::uint32_t len = pick(0, 4) == 0 ? kEdges[pick(0, 7)] : pick(0, 20);
        o.value.resize(len);
        for (auto& b : o.value) b = static_cast<std::uint8_t>(pick(0, 255));
        m.options.push_back(std::move(o));
    }
    m.payload.resize(pick(0, 3) == 0 ? 0 : pick(1, 200));
    for (auto& b : m.payload) b = static_cast<std::uint8_t>(pick(0, 255));
    return m;
}

}  // namespace

TEST(CodecBuild, RoundTripPropertyOverSeededMessages) {
    std::mt19937 rng(20261128);  // fixed seed: the same 3000 messages every run
    for (int i = 0; i < 3000; ++i) {
        const coap::Message m = random_message(rng);
        BuildError err = BuildError::Ok;
        const std::vector<std::uint8_t> wire = coap::encode(m, &err);
        ASSERT_EQ(err, BuildError::Ok) << "message " << i;
        coap::MessageView v;
        const coap::ParseResult r = coap::parse(view(wire), v);
        ASSERT_TRUE(r.ok()) << "message " << i << ": " << coap::to_string(r.error) << " at " << r.offset;
        const coap::Message back = coap::to_message(v);
        ASSERT_EQ(back, m) << "message " << i;
        // The encoding is canonical: building what was parsed gives the same bytes.
        ASSERT_EQ(coap::encode(back), wire) << "message " << i;
    }
}
