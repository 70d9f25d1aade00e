// RFC 7252 §3, §3.1, §4.1: every message-format rule of the parser, with offsets.
#include <gtest/gtest.h>

#include <vector>

#include "coap/codec/message_view.h"
#include "test_util.h"

using coap::MessageView;
using coap::ParseError;
using coapbed::test::hex;
using coapbed::test::str;
using coapbed::test::view;

namespace {

// Parses hex into `v`; the bytes live in `storage`, which must outlive `v`.
coap::ParseResult parse_hex(const std::string& h, std::vector<std::uint8_t>& storage, MessageView& v) {
    storage = hex(h);
    return coap::parse(view(storage), v);
}

void expect_error(const std::vector<std::uint8_t>& bytes, ParseError error, std::size_t offset) {
    MessageView v;
    const coap::ParseResult r = coap::parse(view(bytes), v);
    EXPECT_EQ(r.error, error) << "got " << coap::to_string(r.error) << " expected " << coap::to_string(error);
    EXPECT_EQ(r.offset, offset) << coap::to_string(error);
}

}  // namespace

TEST(CodecParse, HeaderTokenOptionsPayload) {
    std::vector<std::uint8_t> bytes;
    MessageView v;
    // CON GET mid 0x7b token 12345678, Uri-Path "temp", payload "hi"
    ASSERT_TRUE(parse_hex("44 01 00 7b 12 34 56 78 b4 74 65 6d 70 ff 68 69", bytes, v).ok());
    EXPECT_EQ(v.version(), 1);
    EXPECT_EQ(v.type(), coap::MessageType::Con);
    EXPECT_EQ(v.code(), coap::codes::kGet);
    EXPECT_EQ(v.message_id(), 0x7b);
    EXPECT_EQ(v.token(), view(hex("12345678")));
    ASSERT_EQ(v.option_count(), 1u);
    EXPECT_EQ(v.option(0).number, 11);
    EXPECT_EQ(str(v.option(0).value), "temp");
    EXPECT_EQ(str(v.payload()), "hi");
}

TEST(CodecParse, EveryTypeAndEmptyMessages) {
    std::vector<std::uint8_t> bytes;
    MessageView v;
    // Before any parse the view reads as an empty CON (its header fields come from the datagram).
    EXPECT_EQ(v.type(), coap::MessageType::Con);
    EXPECT_TRUE(v.code().is_empty());
    EXPECT_EQ(v.message_id(), 0);
    EXPECT_TRUE(v.token().empty());
    EXPECT_EQ(v.option_count(), 0u);
    ASSERT_TRUE(parse_hex("60 00 12 34", bytes, v).ok());  // empty ACK
    EXPECT_EQ(v.type(), coap::MessageType::Ack);
    EXPECT_TRUE(v.code().is_empty());
    EXPECT_EQ(v.message_id(), 0x1234);
    ASSERT_TRUE(parse_hex("70 00 00 01", bytes, v).ok());  // RST
    EXPECT_EQ(v.type(), coap::MessageType::Rst);
    ASSERT_TRUE(parse_hex("40 00 00 01", bytes, v).ok());  // CoAP ping
    EXPECT_EQ(v.type(), coap::MessageType::Con);
    ASSERT_TRUE(parse_hex("50 02 ff ff", bytes, v).ok());  // NON POST
    EXPECT_EQ(v.type(), coap::MessageType::Non);
    EXPECT_EQ(v.message_id(), 0xffff);
    EXPECT_EQ(v.option_count(), 0u);
    EXPECT_TRUE(v.payload().empty());
}

TEST(CodecParse, TooShort) {
    expect_error({}, ParseError::TooShort, 0);
    expect_error(hex("40"), ParseError::TooShort, 1);
    expect_error(hex("40 01 00"), ParseError::TooShort, 3);
}

TEST(CodecParse, VersionOtherThanOne) {
    for (std::uint8_t first : {0x00, 0x80, 0xC0, 0x81}) {
        expect_error({first, 0x01, 0x00, 0x01}, ParseError::BadVersion, 0);
    }
}

TEST(CodecParse, TokenLength9To15IsReserved) {
    for (std::uint8_t tkl = 9; tkl <= 15; ++tkl) {
        std::vector<std::uint8_t> m = {static_cast<std::uint8_t>(0x40 | tkl), 0x01, 0x00, 0x01};
        m.resize(4 + 16, 0xab);
        expect_error(m, ParseError::TokenLengthReserved, 0);
    }
}

TEST(CodecParse, TokenPastEnd) {
    expect_error(hex("48 01 00 01 01 02 03 04 05 06 07"), ParseError::TokenPastEnd, 4);
    expect_error(hex("41 01 00 01"), ParseError::TokenPastEnd, 4);
}

TEST(CodecParse, EmptyMessageWithTokenOrBytes) {
    expect_error(hex("41 00 00 01 aa"), ParseError::EmptyMessageNotEmpty, 0);
    expect_error(hex("60 00 00 01 b1 61"), ParseError::EmptyMessageNotEmpty, 4);
    expect_error(hex("60 00 00 01 ff 61"), ParseError::EmptyMessageNotEmpty, 4);
}

TEST(CodecParse, Nibble15OutsidePayloadMarker) {
    expect_error(hex("40 01 00 01 f0"), ParseError::OptionDeltaReserved, 4);
    expect_error(hex("40 01 00 01 b1 61 f1 00"), ParseError::OptionDeltaReserved, 6);
    expect_error(hex("40 01 00 01 0f"), ParseError::OptionLengthReserved, 4);
    expect_error(hex("40 01 00 01 bf 61"), ParseError::OptionLengthReserved, 4);
}

TEST(CodecParse, MissingExtendedBytes) {
    expect_error(hex("40 01 00 01 d0"), ParseError::OptionDeltaPastEnd, 4);
    expect_error(hex("40 01 00 01 e0 00"), ParseError::OptionDeltaPastEnd, 4);
    expect_error(hex("40 01 00 01 0d"), ParseError::OptionLengthPastEnd, 4);
    expect_error(hex("40 01 00 01 0e 01"), ParseError::OptionLengthPastEnd, 4);
    expect_error(hex("40 01 00 01 de 05 01"), ParseError::OptionLengthPastEnd, 4);
}

TEST(CodecParse, OptionValuePastEnd) {
    expect_error(hex("40 01 00 01 b4 61 62 63"), ParseError::OptionValuePastEnd, 4);
    expect_error(hex("40 01 00 01 0d 00"), ParseError::OptionValuePastEnd, 4);  // length 13, none present
}

TEST(CodecParse, OptionNumberPast65535) {
    // delta 14 with extension 0xfeff: 65279 + 269 = 65548 > 65535
    expect_error(hex("40 01 00 01 e0 fe ff"), ParseError::OptionNumberTooLarge, 4);
    // 65535 exactly is fine: delta 65535 = 269 + 0xfef2
    std::vector<std::uint8_t> bytes;
    MessageView v;
    ASSERT_TRUE(parse_hex("40 01 00 01 e0 fe f2", bytes, v).ok());
    EXPECT_EQ(v.option(0).number, 65535);
    // running sum: 65535 then delta 1
    expect_error(hex("40 01 00 01 e0 fe f2 10"), ParseError::OptionNumberTooLarge, 7);
}

TEST(CodecParse, PayloadMarkerFollowedByNothing) {
    expect_error(hex("40 01 00 01 ff"), ParseError::PayloadMarkerNoPayload, 4);
    expect_error(hex("42 01 00 01 aa bb b1 61 ff"), ParseError::PayloadMarkerNoPayload, 8);
}

TEST(CodecParse, ExtendedDeltaBoundaries) {
    // delta = option number here; value length 0. 12 inline, 13/268 one byte, 269/270 two bytes.
    struct Case {
        const char* bytes;
        std::uint16_t number;
    };
    const Case cases[] = {
        {"c0", 12}, {"d0 00", 13}, {"d0 01", 14}, {"d0 ff", 268}, {"e0 00 00", 269}, {"e0 00 01", 270},
    };
    for (const Case& c : cases) {
        std::vector<std::uint8_t> bytes;
        MessageView v;
        ASSERT_TRUE(parse_hex(std::string("40 01 00 01 ") + c.bytes, bytes, v).ok()) << c.bytes;
        ASSERT_EQ(v.option_count(), 1u);
        EXPECT_EQ(v.option(0).number, c.number) << c.bytes;
        EXPECT_TRUE(v.option(0).value.empty());
    }
}

TEST(CodecParse, ExtendedLengthBoundaries) {
    for (std::size_t length : {12u, 13u, 14u, 268u, 269u, 270u, 1000u}) {
        std::vector<std::uint8_t> m = hex("40 01 00 01");
        if (length < 13) {
            m.push_back(static_cast<std::uint8_t>(0x10 | length));
        } else if (length < 269) {
            m.push_back(0x1d);
            m.push_back(static_cast<std::uint8_t>(length - 13));
        } else {
            m.push_back(0x1e);
            m.push_back(static_cast<std::uint8_t>((length - 269) >> 8));
            m.push_back(static_cast<std::uint8_t>(length - 269));
        }
        m.insert(m.end(), length, 0x5a);
        MessageView v;
        ASSERT_TRUE(coap::parse(view(m), v).ok()) << length;
        EXPECT_EQ(v.option(0).number, 1);
        EXPECT_EQ(v.option(0).value.size(), length);
        m.pop_back();
        expect_error(m, ParseError::OptionValuePastEnd, 4);
    }
}

// Every strict prefix of a message either fails with the error its cut predicts, or is
// itself well formed (a cut right after an option or inside the payload).
TEST(CodecParse, EveryStrictPrefix) {
    std::vector<std::uint8_t> m = hex("42 01 12 34 aa bb");           // 0..5: header + token
    const auto uri_path = hex("b4 74 65 6d 70");                         // 6..10: Uri-Path "temp"
    m.insert(m.end(), uri_path.begin(), uri_path.end());
    m.push_back(0xdd);                                                  // 11: delta 13+228=241 -> 252, length 13+7=20
    m.push_back(228);
    m.push_back(7);
    m.insert(m.end(), 20, 0x01);                                        // 14..33
    m.push_back(0xee);                                                  // 34: delta 300, length 300
    m.push_back(0x00);
    m.push_back(31);
    m.push_back(0x00);
    m.push_back(31);
    m.insert(m.end(), 300, 0x02);                                       // 39..338
    m.push_back(0xff);                                                  // 339
    m.insert(m.end(), {0x70, 0x6c, 0x64});                              // 340..342
    ASSERT_EQ(m.size(), 343u);
    {
        MessageView v;
        ASSERT_TRUE(coap::parse(view(m), v).ok());
        ASSERT_EQ(v.option_count(), 3u);
        EXPECT_EQ(v.option(1).number, 252);
        EXPECT_EQ(v.option(2).number, 552);
        EXPECT_EQ(v.option(2).value.size(), 300u);
    }
    for (std::size_t len = 0; len < m.size(); ++len) {
        ParseError e = ParseError::Ok;
        std::size_t at = 0;
        if (len < 4) { e = ParseError::TooShort; at = len; }
        else if (len < 6) { e = ParseError::TokenPastEnd; at = 4; }
        else if (len > 6 && len < 11) { e = ParseError::OptionValuePastEnd; at = 6; }
        else if (len == 12) { e = ParseError::OptionDeltaPastEnd; at = 11; }
        else if (len == 13) { e = ParseError::OptionLengthPastEnd; at = 11; }
        else if (len > 13 && len < 34) { e = ParseError::OptionValuePastEnd; at = 11; }
        else if (len == 35 || len == 36) { e = ParseError::OptionDeltaPastEnd; at = 34; }
        else if (len == 37 || len == 38) { e = ParseError::OptionLengthPastEnd; at = 34; }
        else if (len > 38 && len < 339) { e = ParseError::OptionValuePastEnd; at = 34; }
        else if (len == 340) { e = ParseError::PayloadMarkerNoPayload; at = 339; }
        SCOPED_TRACE(len);
        std::vector<std::uint8_t> prefix(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(len));
        expect_error(prefix, e, at);
    }
}

TEST(CodecParse, OptionTableBound) {
    std::vector<std::uint8_t> m = hex("40 01 00 01");
    m.insert(m.end(), MessageView::kMaxOptions, 0x00);  // option 0, repeated, empty
    MessageView v;
    ASSERT_TRUE(coap::parse(view(m), v).ok());
    EXPECT_EQ(v.option_count(), MessageView::kMaxOptions);
    m.push_back(0x00);
    expect_error(m, ParseError::TooManyOptions, 4 + MessageView::kMaxOptions);
}

TEST(CodecParse, DatagramSizeBound) {
    std::vector<std::uint8_t> m = hex("40 01 00 01 ff");
    m.resize(MessageView::kMaxDatagram, 0x61);
    MessageView v;
    ASSERT_TRUE(coap::parse(view(m), v).ok());
    EXPECT_EQ(v.payload().size(), MessageView::kMaxDatagram - 5);
    m.push_back(0x61);
    expect_error(m, ParseError::MessageTooLarge, 0);
}

TEST(CodecParse, FindAndCountRepeatedOptions) {
    std::vector<std::uint8_t> bytes;
    MessageView v;
    // Uri-Path a, Uri-Path b, Uri-Query x
    ASSERT_TRUE(parse_hex("40 01 00 01 b1 61 01 62 41 78", bytes, v).ok());
    EXPECT_EQ(v.count(11), 2u);
    EXPECT_EQ(v.count(15), 1u);
    EXPECT_EQ(v.count(3), 0u);
    EXPECT_EQ(v.find(11), 0u);
    EXPECT_EQ(v.find(15), 2u);
    EXPECT_EQ(v.find(12), v.option_count());
    std::string joined;
    for (coap::Option o : v) joined += str(o.value);
    EXPECT_EQ(joined, "abx");
}

TEST(CodecParse, ErrorNamesAreStable) {
    EXPECT_EQ(coap::to_string(ParseError::TooShort), "message-too-short");
    EXPECT_EQ(coap::to_string(ParseError::TokenLengthReserved), "token-length-reserved");
    EXPECT_EQ(coap::to_string(ParseError::PayloadMarkerNoPayload), "payload-marker-without-payload");
    EXPECT_EQ(coap::to_string(ParseError::OptionNumberTooLarge), "option-number-too-large");
}
