// Zero-copy parsing of a CoAP datagram (RFC 7252 §3).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "coap/codec/code.h"
#include "coap/codec/parse_error.h"
#include "coap/common/bytes.h"

namespace coap {

/// One option of a parsed message: its number and a view of its value bytes.
struct Option {
    std::uint16_t number = 0;  ///< the absolute option number (sum of deltas)
    Bytes value;               ///< the value bytes, inside the parsed datagram
};

/// A parsed message: header fields plus a fixed-capacity table of option positions.
///
/// The view does not own the datagram: every `Bytes` it returns (token, option values,
/// payload) points into the datagram passed to `parse` and stays valid as long as that
/// buffer lives and is unchanged. Parsing and iterating never allocate.
class MessageView {
public:
    /// At most this many options per message; more is ParseError::TooManyOptions.
    /// RFC 7252 sets no limit; 64 is far above what any registered use needs
    /// (a 1152-byte message with 64 options already spends ~6% of itself on headers).
    static constexpr std::size_t kMaxOptions = 64;
    /// The largest datagram accepted (larger ones are ParseError::MessageTooLarge).
    static constexpr std::size_t kMaxDatagram = 65535;

    /// Parses `datagram` into `out`. On failure `out` is left in an unspecified but
    /// valid state and must not be used. Checks every rule of RFC 7252 §3, §3.1 and §4.1
    /// before touching a byte; never reads outside `datagram`.
    friend ParseResult parse(Bytes datagram, MessageView& out) noexcept;

    // The header fields are read from the datagram's first four bytes (RFC 7252 §3),
    // which parse checked; nothing is copied out of them.
    [[nodiscard]] std::uint8_t version() const noexcept { return 1; }
    [[nodiscard]] MessageType type() const noexcept { return static_cast<MessageType>((datagram_[0] >> 4) & 0x03); }
    [[nodiscard]] Code code() const noexcept { return Code{datagram_[1]}; }
    [[nodiscard]] std::uint16_t message_id() const noexcept {
        return static_cast<std::uint16_t>((datagram_[2] << 8) | datagram_[3]);
    }
    [[nodiscard]] Bytes token() const noexcept { return datagram_.sub(4, datagram_[0] & 0x0f); }
    /// Options in wire order (ascending number; repeated options in the order sent).
    [[nodiscard]] std::size_t option_count() const noexcept { return option_count_; }
    /// The i-th option; `i < option_count()` (API misuse otherwise).
    [[nodiscard]] Option option(std::size_t i) const noexcept {
        const Entry& e = entries_[i];
        return Option{e.number, datagram_.sub(e.offset, e.length)};
    }
    /// Index of the first option with `number`, or `option_count()` if absent.
    [[nodiscard]] std::size_t find(std::uint16_t number) const noexcept {
        for (std::size_t i = 0; i < option_count_; ++i) {
            if (entries_[i].number == number) return i;
            if (entries_[i].number > number) break;  // options are in ascending order
        }
        return option_count_;
    }
    /// How many times `number` occurs.
    [[nodiscard]] std::size_t count(std::uint16_t number) const noexcept;
    /// The payload (empty when there is no payload marker).
    [[nodiscard]] Bytes payload() const noexcept { return payload_; }
    /// The whole datagram this view points into.
    [[nodiscard]] Bytes datagram() const noexcept { return datagram_; }

    /// Iteration over options: `for (Option o : view) ...`.
    class Iterator {
    public:
        Iterator(const MessageView* v, std::size_t i) noexcept : v_(v), i_(i) {}
        Option operator*() const noexcept { return v_->option(i_); }
        Iterator& operator++() noexcept { ++i_; return *this; }
        bool operator!=(const Iterator& o) const noexcept { return i_ != o.i_; }
    private:
        const MessageView* v_;
        std::size_t i_;
    };
    [[nodiscard]] Iterator begin() const noexcept { return Iterator(this, 0); }
    [[nodiscard]] Iterator end() const noexcept { return Iterator(this, option_count_); }

private:
    struct Entry {
        std::uint16_t number;  ///< absolute option number
        std::uint16_t offset;  ///< offset of the value in the datagram
        std::uint16_t length;  ///< value length
    };
    /// Before any parse: an empty CON, so that a default view reads as a valid message.
    static constexpr std::uint8_t kNoMessage[4] = {0x40, 0x00, 0x00, 0x00};
    Bytes datagram_{kNoMessage, 4};
    Bytes payload_;
    std::uint8_t option_count_ = 0;
    // Only the first option_count_ entries are meaningful; the rest is left
    // uninitialised on purpose (no 384-byte clear per parse).
    std::array<Entry, kMaxOptions> entries_;
};

/// See MessageView: parses `datagram` into `out`.
[[nodiscard]] ParseResult parse(Bytes datagram, MessageView& out) noexcept;

}  // namespace coap
