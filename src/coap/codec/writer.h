// Writing a message straight into a caller-provided buffer, field by field
// (RFC 7252 §3, §3.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coap/codec/builder.h"
#include "coap/codec/code.h"
#include "coap/codec/message_view.h"
#include "coap/common/bytes.h"

namespace coap {

/// Bytes of an option header for `delta` and `length`: one byte, plus one or two for
/// each of the two that does not fit a nibble (RFC 7252 §3.1: 0-12 inline, 13-268 one
/// extra byte, 269-65804 two).
constexpr std::size_t option_header_size(std::uint32_t delta, std::uint32_t length) noexcept {
    return 1 + (delta < 13 ? 0 : (delta < 269 ? 1 : 2)) + (length < 13 ? 0 : (length < 269 ? 1 : 2));
}

/// Encodes a message into the caller's buffer as its parts are added: the header and
/// token at construction, each option as it is added, the payload at `finish`. Nothing
/// is kept but a position, so the bytes passed in need not outlive the call (they must
/// not lie inside `out`).
///
/// Options may come in any order. One numbered at or after the last one is appended
/// (the usual case, a few instructions); one that sorts before it is inserted in place:
/// the options after it move up and the next one's delta is re-encoded (repeated
/// options keep the order they were added in, RFC 7252 §5.4.5). The bytes are exactly
/// what `MessageBuilder` writes for the same fields.
///
/// Errors are sticky: the first one ends the message, every later call returns it and
/// `finish` reports it. BufferTooSmall when `out` cannot hold the message;
/// MessageTooLarge when `out` could but the message would pass
/// MessageView::kMaxDatagram; TokenTooLong; EmptyWithContent (code 0.00 with a token,
/// an option or a payload, RFC 7252 §4.1); TooManyOptions (more than kMaxOptions, which
/// our parser would refuse); OptionTooLong. Nothing is written outside `out`, whatever
/// happens; after an error its contents are unspecified. No heap allocation.
class MessageWriter {
public:
    static constexpr std::size_t kMaxOptions = MessageView::kMaxOptions;

    /// Writes the 4-byte header and the token (0-8 bytes) into `out`.
    MessageWriter(MutableBytes out, MessageType type, Code code, std::uint16_t message_id,
                  Bytes token = Bytes()) noexcept
        : begin_(out.data()), p_(out.data()), end_(out.data() + out.size()), options_(out.data()) {
        // Inline for the usual case: a token that fits, a buffer of at least 12 bytes and
        // at most kMaxDatagram, no token on an Empty message.
        if (token.size() <= 8 && out.size() >= 12 && out.size() <= MessageView::kMaxDatagram &&
            (!code.is_empty() || token.empty())) {
            write_start(type, code, message_id, token);
            if (code.is_empty()) {
                // RFC 7252 §4.1: an Empty message is the header alone. Any option or
                // payload runs out of room with this error.
                full_ = BuildError::EmptyWithContent;
                end_ = p_;
            }
            return;
        }
        start_slow(out, type, code, message_id, token);
    }

    /// Adds an option with an opaque/string/empty value.
    [[nodiscard]] BuildError add_option(std::uint16_t number, Bytes value) noexcept {
        // Inline for the usual case: in order (a smaller number wraps `delta` around),
        // delta and length below 269 (at most one extended byte each, RFC 7252 §3.1),
        // room for the longest such header, and no error so far (an error leaves no room).
        const std::uint32_t delta = static_cast<std::uint32_t>(number) - last_;
        const std::size_t n = value.size();
        if (delta < 269 && n < 269 && n + 3 <= static_cast<std::size_t>(end_ - p_) && count_ != kMaxOptions) {
            std::uint8_t* q = p_ + 1;
            std::uint32_t delta_nibble = delta;
            auto length_nibble = static_cast<std::uint32_t>(n);
            if (delta >= 13) {
                *q++ = static_cast<std::uint8_t>(delta - 13);
                delta_nibble = 13;
            }
            if (n >= 13) {
                *q++ = static_cast<std::uint8_t>(n - 13);
                length_nibble = 13;
            }
            *p_ = static_cast<std::uint8_t>((delta_nibble << 4) | length_nibble);
            copy_bytes(q, value.data(), n);
            p_ = q + n;
            last_ = number;
            ++count_;
            return BuildError::Ok;
        }
        return add_option_slow(number, value);
    }
    /// Adds a string option.
    [[nodiscard]] BuildError add_option(std::uint16_t number, std::string_view value) noexcept {
        return add_option(number, Bytes(value));
    }
    /// Adds a uint option in its shortest form (0 is zero bytes, RFC 7252 §3.2).
    [[nodiscard]] BuildError add_uint(std::uint16_t number, std::uint64_t value) noexcept {
        std::uint8_t bytes[8];
        std::size_t n = 0;
        for (std::uint64_t v = value; v != 0; v >>= 8) ++n;
        for (std::size_t i = 0; i < n; ++i) bytes[n - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
        return add_option(number, Bytes(bytes, n));
    }

    /// Ends the message with `payload` (empty: no payload marker, RFC 7252 §3) and
    /// returns its size, or the first error. Call once, last.
    [[nodiscard]] BuildResult finish(Bytes payload = Bytes()) noexcept {
        // Room for the marker and the payload also means no error so far (an error
        // leaves no room).
        const std::size_t n = payload.size();
        if (n < static_cast<std::size_t>(end_ - p_)) {
            if (n != 0) {
                *p_ = 0xFF;  // RFC 7252 §3: the marker only when a payload follows
                copy_bytes(p_ + 1, payload.data(), n);
                p_ += 1 + n;
            }
            return {BuildError::Ok, size()};
        }
        if (n == 0 && error_ == BuildError::Ok) return {BuildError::Ok, size()};  // a full buffer
        return finish_slow();
    }

    /// Bytes written so far (header, token and options; the payload after `finish`).
    [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
    [[nodiscard]] std::size_t option_count() const noexcept { return count_; }
    /// The first error, or Ok.
    [[nodiscard]] BuildError error() const noexcept { return error_; }

private:
    /// The header as one big-endian word (RFC 7252 §3), then the token.
    void write_start(MessageType type, Code code, std::uint16_t message_id, Bytes token) noexcept {
        const std::uint32_t word = (std::uint32_t{0x40} | (static_cast<std::uint32_t>(type) << 4) |
                                    static_cast<std::uint32_t>(token.size())) << 24 |
                                   std::uint32_t{code.raw} << 16 | message_id;
        p_[0] = static_cast<std::uint8_t>(word >> 24);
        p_[1] = static_cast<std::uint8_t>(word >> 16);
        p_[2] = static_cast<std::uint8_t>(word >> 8);
        p_[3] = static_cast<std::uint8_t>(word);
        copy_bytes(p_ + 4, token.data(), token.size());
        p_ += 4 + token.size();
        options_ = p_;
    }
    /// The constructor's out-of-line rest: every error, the Empty message, a buffer
    /// shorter than 12 bytes or larger than kMaxDatagram.
    void start_slow(MutableBytes out, MessageType type, Code code, std::uint16_t message_id, Bytes token) noexcept;
    /// finish's out-of-line rest: an earlier error, or no room for the payload.
    [[nodiscard]] BuildResult finish_slow() noexcept;
    /// add_option's out-of-line rest: an option in order with extended forms.
    [[nodiscard]] BuildError add_option_slow(std::uint16_t number, Bytes value) noexcept;
    /// And the rarer rest: an option out of order (inserted), every error.
    [[nodiscard]] BuildError add_option_rare(std::uint16_t number, Bytes value) noexcept;
    /// Records the first error and leaves no room, so that the inline path refuses too.
    BuildError fail(BuildError e) noexcept;

    std::uint8_t* begin_;
    std::uint8_t* p_;            ///< where the next byte goes
    std::uint8_t* end_;          ///< out's end, or kMaxDatagram past begin_; p_ after an error
    std::uint8_t* options_;      ///< where the options start (after the token)
    std::uint32_t last_ = 0;     ///< number of the last option on the wire
    std::size_t count_ = 0;
    BuildError error_ = BuildError::Ok;
    BuildError full_ = BuildError::BufferTooSmall;  ///< the error for running out of room
};

}  // namespace coap
