// The builder: sorted, shortest-form options; bounded output; parse(build(m)) == m.
// The writer: the builder's bytes for options in any order, bounded output, sticky errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "coap/codec/builder.h"
#include "coap/codec/message.h"
#include "coap/codec/writer.h"
#include "test_util.h"

using coap::BuildError;
using coap::MessageBuilder;
using coap::MessageType;
using coap::MessageWriter;
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
    coap::Message recycled;
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
        // Into a recycled message (bigger vectors left from the last one): the same, and
        // without the payload, everything but the payload.
        coap::to_message(v, recycled);
        ASSERT_EQ(recycled, m) << "message " << i;
        coap::to_message_without_payload(v, recycled);
        coap::Message headless = m;
        headless.payload.clear();
        ASSERT_EQ(recycled, headless) << "message " << i;
        // The encoding is canonical: building what was parsed gives the same bytes.
        ASSERT_EQ(coap::encode(back), wire) << "message " << i;
    }
}

namespace {

// Writes `m` with its options in the order given by `order` (indices into m.options).
coap::BuildResult write_in_order(const coap::Message& m, const std::vector<std::size_t>& order,
                                 std::vector<std::uint8_t>& out) {
    MessageWriter w(coap::MutableBytes(out.data(), out.size()), m.type, m.code, m.message_id, view(m.token));
    for (std::size_t i : order) {
        const coap::BuildError e = w.add_option(m.options[i].number, view(m.options[i].value));
        if (e != BuildError::Ok) {
            EXPECT_EQ(w.finish(view(m.payload)).error, e);  // sticky
            return {e, 0};
        }
    }
    return w.finish(view(m.payload));
}

}  // namespace

TEST(CodecWriter, AnyOrderGivesTheBuildersBytes) {
    std::mt19937 rng(20261128);  // the same 3000 messages as the round-trip property
    for (int i = 0; i < 3000; ++i) {
        const coap::Message m = random_message(rng);
        const std::vector<std::uint8_t> want = coap::encode(m);
        ASSERT_FALSE(want.empty()) << "message " << i;
        // Added in order, reversed, and shuffled: every option but the first of each run
        // of out-of-order ones is inserted. Repeated numbers keep their relative order
        // only when added in that order, so shuffles keep equal numbers in sequence.
        std::vector<std::size_t> in_order(m.options.size());
        for (std::size_t k = 0; k < in_order.size(); ++k) in_order[k] = k;
        std::stable_sort(in_order.begin(), in_order.end(),
                         [&](std::size_t a, std::size_t b) { return m.options[a].number < m.options[b].number; });
        std::vector<std::size_t> reversed = in_order;
        std::stable_sort(reversed.begin(), reversed.end(),
                         [&](std::size_t a, std::size_t b) { return m.options[a].number > m.options[b].number; });
        std::vector<std::size_t> shuffled = in_order;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        std::map<std::uint16_t, std::vector<std::size_t>> by_number;  // indices ascending
        for (std::size_t k = 0; k < m.options.size(); ++k) by_number[m.options[k].number].push_back(k);
        std::map<std::uint16_t, std::size_t> taken;
        for (std::size_t& slot : shuffled) {
            const std::uint16_t number = m.options[slot].number;
            slot = by_number[number][taken[number]++];
        }
        for (const auto* order : {&in_order, &reversed, &shuffled}) {
            std::vector<std::uint8_t> out(want.size());  // exact: ASan reports any write past it
            const coap::BuildResult r = write_in_order(m, *order, out);
            ASSERT_TRUE(r.ok()) << "message " << i << ": " << coap::to_string(r.error);
            out.resize(r.size);
            ASSERT_EQ(out, want) << "message " << i;
            // One byte less is refused, whatever the order, and nothing is written past it.
            std::vector<std::uint8_t> small(want.size() - 1);
            ASSERT_EQ(write_in_order(m, *order, small).error, BuildError::BufferTooSmall) << "message " << i;
        }
    }
}

TEST(CodecWriter, InsertingReEncodesTheNextOptionsDelta) {
    const auto token = hex("1234");
    std::vector<std::uint8_t> out(64);
    MessageWriter w(coap::MutableBytes(out.data(), out.size()), MessageType::Con, coap::codes::kGet, 0x7b,
                    view(token));
    ASSERT_EQ(w.add_option(300, std::string_view("t")), BuildError::Ok);  // delta 300: two extended bytes
    ASSERT_EQ(w.add_option(11, std::string_view("b")), BuildError::Ok);   // before it: 300's delta is now 289
    ASSERT_EQ(w.add_option(299, std::string_view("s")), BuildError::Ok);  // and now 1: no extended byte
    ASSERT_EQ(w.add_option(11, std::string_view("a")), BuildError::Ok);   // a second Uri-Path goes after "b"
    ASSERT_EQ(w.add_option(3, std::string_view("h")), BuildError::Ok);    // first of all
    EXPECT_EQ(w.option_count(), 5u);
    const coap::BuildResult r = w.finish(view(hex("6869")));
    ASSERT_TRUE(r.ok());
    out.resize(r.size);
    EXPECT_EQ(out, hex("42 01 00 7b 12 34  31 68  81 62  01 61  e1 00 13 73  11 74  ff 68 69"));
}

TEST(CodecWriter, ErrorsAreStickyAndNothingIsWrittenPastTheBuffer) {
    std::vector<std::uint8_t> out(64);
    const coap::MutableBytes buf(out.data(), out.size());
    EXPECT_EQ(MessageWriter(buf, MessageType::Con, coap::codes::kGet, 1, view(hex("010203040506070809"))).finish().error,
              BuildError::TokenTooLong);

    // RFC 7252 §4.1: an Empty message is the header alone.
    EXPECT_EQ(MessageWriter(buf, MessageType::Ack, coap::codes::kEmpty, 1, view(hex("01"))).finish().error,
              BuildError::EmptyWithContent);
    MessageWriter empty_option(buf, MessageType::Ack, coap::codes::kEmpty, 1);
    EXPECT_EQ(empty_option.add_uint(12, 0), BuildError::EmptyWithContent);
    EXPECT_EQ(empty_option.finish().error, BuildError::EmptyWithContent);
    MessageWriter empty_payload(buf, MessageType::Ack, coap::codes::kEmpty, 1);
    EXPECT_EQ(empty_payload.finish(view(hex("00"))).error, BuildError::EmptyWithContent);
    MessageWriter empty_ok(buf, MessageType::Rst, coap::codes::kEmpty, 0xbeef);
    const coap::BuildResult r = empty_ok.finish();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::vector<std::uint8_t>(out.begin(), out.begin() + static_cast<long>(r.size)), hex("70 00 be ef"));

    // The option table bound of the parser: one more is refused, and so is all that follows.
    std::vector<std::uint8_t> big(1024);
    MessageWriter many(coap::MutableBytes(big.data(), big.size()), MessageType::Con, coap::codes::kGet, 1);
    for (std::size_t i = 0; i < MessageWriter::kMaxOptions; ++i) ASSERT_EQ(many.add_uint(60, 1), BuildError::Ok);
    EXPECT_EQ(many.add_uint(60, 1), BuildError::TooManyOptions);
    EXPECT_EQ(many.add_uint(61, 1), BuildError::TooManyOptions);
    EXPECT_EQ(many.finish().error, BuildError::TooManyOptions);

    // A buffer larger than the datagram limit: the limit is MessageTooLarge.
    std::vector<std::uint8_t> payload(coap::MessageView::kMaxDatagram, 0);
    std::vector<std::uint8_t> huge_out(payload.size() + 16);
    MessageWriter huge(coap::MutableBytes(huge_out.data(), huge_out.size()), MessageType::Con, coap::codes::kPost, 1);
    EXPECT_EQ(huge.finish(view(payload)).error, BuildError::MessageTooLarge);
    MessageWriter too_long(coap::MutableBytes(huge_out.data(), huge_out.size()), MessageType::Con, coap::codes::kPost, 1);
    std::vector<std::uint8_t> too_long_value(0x10000, 0);
    EXPECT_EQ(too_long.add_option(1, view(too_long_value)), BuildError::OptionTooLong);
    EXPECT_EQ(too_long.add_option(2, std::string_view("")), BuildError::OptionTooLong);

    // Every buffer shorter than the message, for the inline and the out-of-line paths
    // (extended forms, an inserted option): BufferTooSmall, from the first add that
    // does not fit to finish.
    const auto token = hex("0102030405060708");
    std::vector<std::uint8_t> value(300, 0x44);
    std::size_t need = 0;
    for (std::size_t size = 0;; ++size) {
        std::vector<std::uint8_t> exact(size);
        MessageWriter w(coap::MutableBytes(exact.data(), exact.size()), MessageType::Con, coap::codes::kContent, 9,
                        view(token));
        (void)w.add_option(11, std::string_view("abc"));
        (void)w.add_option(252, view(value));
        (void)w.add_uint(23, 0x1234);  // inserted before 252
        (void)w.add_option(1, std::string_view("x"));
        const coap::BuildResult res = w.finish(view(value));
        if (res.ok()) {
            need = res.size;
            break;
        }
        ASSERT_EQ(res.error, BuildError::BufferTooSmall) << size;
    }
    EXPECT_EQ(need, 4u + 8 + (1 + 1) + (1 + 3) + (1 + 2) + (1 + 1 + 2 + 300) + 1 + 300);
}
