#include "coap/codec/message_view.h"

namespace coap {

std::string_view to_string(ParseError e) noexcept {
    switch (e) {
        case ParseError::Ok: return "ok";
        case ParseError::TooShort: return "message-too-short";
        case ParseError::BadVersion: return "bad-version";
        case ParseError::TokenLengthReserved: return "token-length-reserved";
        case ParseError::TokenPastEnd: return "token-past-end";
        case ParseError::EmptyMessageNotEmpty: return "empty-message-not-empty";
        case ParseError::OptionDeltaReserved: return "option-delta-reserved";
        case ParseError::OptionLengthReserved: return "option-length-reserved";
        case ParseError::OptionDeltaPastEnd: return "option-delta-past-end";
        case ParseError::OptionLengthPastEnd: return "option-length-past-end";
        case ParseError::OptionValuePastEnd: return "option-value-past-end";
        case ParseError::OptionNumberTooLarge: return "option-number-too-large";
        case ParseError::PayloadMarkerNoPayload: return "payload-marker-without-payload";
        case ParseError::TooManyOptions: return "too-many-options";
        case ParseError::MessageTooLarge: return "message-too-large";
    }
    return "unknown";
}

namespace {

constexpr std::uint8_t kPayloadMarker = 0xFF;

enum class Ext : std::uint8_t { Ok, Reserved, Missing };

// Reads the extended form of an option delta or length nibble (RFC 7252 §3.1):
// 0-12 is the value itself, 13 adds one byte (value - 13), 14 adds two bytes in network
// byte order (value - 269), 15 is reserved. `pos` advances past the bytes consumed.
Ext read_extended(Bytes d, std::uint8_t nibble, std::size_t& pos, std::uint32_t& value) noexcept {
    if (nibble < 13) {
        value = nibble;
        return Ext::Ok;
    }
    if (nibble == 13) {
        if (d.size() - pos < 1) return Ext::Missing;
        value = static_cast<std::uint32_t>(d[pos]) + 13u;
        pos += 1;
        return Ext::Ok;
    }
    if (nibble == 14) {
        if (d.size() - pos < 2) return Ext::Missing;
        value = ((static_cast<std::uint32_t>(d[pos]) << 8) | d[pos + 1]) + 269u;
        pos += 2;
        return Ext::Ok;
    }
    return Ext::Reserved;
}

}  // namespace

//  RFC 7252 §3:
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Ver| T |  TKL  |      Code     |          Message ID           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   Token (if any, TKL bytes) ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   Options (if any) ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |1 1 1 1 1 1 1 1|    Payload (if any) ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
ParseResult parse(Bytes d, MessageView& out) noexcept {
    if (d.size() > MessageView::kMaxDatagram) return {ParseError::MessageTooLarge, 0};
    if (d.size() < 4) return {ParseError::TooShort, d.size()};
    if ((d[0] >> 6) != 1) return {ParseError::BadVersion, 0};  // RFC 7252 §3: Ver MUST be 1
    const std::uint8_t tkl = d[0] & 0x0f;
    if (tkl > 8) return {ParseError::TokenLengthReserved, 0};  // RFC 7252 §3: 9-15 reserved
    const Code code{d[1]};
    // RFC 7252 §4.1: an Empty message has TKL 0 and nothing after the Message ID.
    if (code.is_empty() && tkl != 0) return {ParseError::EmptyMessageNotEmpty, 0};
    if (code.is_empty() && d.size() > 4) return {ParseError::EmptyMessageNotEmpty, 4};
    if (d.size() - 4 < tkl) return {ParseError::TokenPastEnd, 4};

    out.datagram_ = d;
    out.payload_ = Bytes();

    // The option loop keeps its state in locals (the count is stored once, at the end)
    // so that nothing loops through memory.
    std::size_t pos = 4u + tkl;
    std::uint32_t number = 0;
    std::size_t count = 0;
    MessageView::Entry* const entries = out.entries_.data();
    const std::size_t size = d.size();
    ParseResult result{ParseError::Ok, 0};
    while (pos < size) {
        const std::size_t start = pos;
        const std::uint8_t b = d[pos++];
        if (b == kPayloadMarker) {
            // RFC 7252 §3: a marker followed by a zero-length payload is a format error.
            if (pos == size) {
                result = {ParseError::PayloadMarkerNoPayload, start};
            } else {
                out.payload_ = d.sub(pos, size - pos);
            }
            break;
        }
        std::uint32_t delta = b >> 4;
        std::uint32_t length = b & 0x0f;
        // Common case first: both nibbles below 13, no extended bytes.
        if (delta >= 13 || length >= 13) {
            const Ext de = read_extended(d, static_cast<std::uint8_t>(b >> 4), pos, delta);
            if (de != Ext::Ok) {
                result = {de == Ext::Reserved ? ParseError::OptionDeltaReserved : ParseError::OptionDeltaPastEnd, start};
                break;
            }
            const Ext le = read_extended(d, static_cast<std::uint8_t>(b & 0x0f), pos, length);
            if (le != Ext::Ok) {
                result = {le == Ext::Reserved ? ParseError::OptionLengthReserved : ParseError::OptionLengthPastEnd, start};
                break;
            }
        }
        if (size - pos < length) {
            result = {ParseError::OptionValuePastEnd, start};
            break;
        }
        number += delta;
        if (number > 0xffffu) {
            result = {ParseError::OptionNumberTooLarge, start};
            break;
        }
        if (count == MessageView::kMaxOptions) {
            result = {ParseError::TooManyOptions, start};
            break;
        }
        // pos and length both fit 16 bits: d.size() <= kMaxDatagram was checked above.
        entries[count++] = MessageView::Entry{static_cast<std::uint16_t>(number), static_cast<std::uint16_t>(pos),
                                              static_cast<std::uint16_t>(length)};
        pos += length;
    }
    out.option_count_ = static_cast<std::uint8_t>(count);
    return result;
}

std::size_t MessageView::count(std::uint16_t number) const noexcept {
    std::size_t n = 0;
    for (std::size_t i = find(number); i < option_count_ && entries_[i].number == number; ++i) ++n;
    return n;
}

}  // namespace coap
