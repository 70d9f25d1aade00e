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
        : s_{out.data(), out.data(), out.data() + out.size(), out.data(), 0, 0, BuildError::Ok,
             BuildError::BufferTooSmall} {
        // Inline for the usual case: a token that fits, a buffer of at least 12 bytes and
        // at most kMaxDatagram, no token on an Empty message.
        if (token.size() <= 8 && out.size() >= 12 && out.size() <= MessageView::kMaxDatagram &&
            (!code.is_empty() || token.empty())) {
            write_start(s_, type, code, message_id, token);
            return;
        }
        s_ = start_slow(s_, out, type, code, message_id, token);
    }

    /// Adds an option with an opaque/string/empty value.
    [[nodiscard]] BuildError add_option(std::uint16_t number, Bytes value) noexcept {
        // Inline for the usual case: in order (a smaller number wraps `delta` around),
        // delta and length below 269 (at most one extended byte each, RFC 7252 §3.1),
        // room for the longest such header, and no error so far (an error leaves no room).
        const std::uint32_t delta = static_cast<std::uint32_t>(number) - s_.last;
        const std::size_t n = value.size();
        if (delta < 269 && n < 269 && n + 3 <= static_cast<std::size_t>(s_.end - s_.p) && s_.count != kMaxOptions) {
            std::uint8_t* q = s_.p + 1;
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
            *s_.p = static_cast<std::uint8_t>((delta_nibble << 4) | length_nibble);
            copy_bytes(q, value.data(), n);
            s_.p = q + n;
            s_.last = number;
            ++s_.count;
            return BuildError::Ok;
        }
        s_ = add_option_slow(s_, number, value);
        return s_.error;
    }
    /// Adds a string option.
    [[nodiscard]] BuildError add_option(std::uint16_t number, std::string_view value) noexcept {
        return add_option(number, Bytes(value));
    }
    /// Adds a uint option in its shortest form (0 is zero bytes, RFC 7252 §3.2).
    [[nodiscard]] BuildError add_uint(std::uint16_t number, std::uint64_t value) noexcept {
        std::uint8_t bytes[8];
        return add_option(number, Bytes(bytes, put_uint(value, bytes)));
    }

    /// Ends the message with `payload` (empty: no payload marker, RFC 7252 §3) and
    /// returns its size, or the first error. Call once, last.
    [[nodiscard]] BuildResult finish(Bytes payload = Bytes()) noexcept {
        // Room for the marker and the payload also means no error so far (an error
        // leaves no room).
        const std::size_t n = payload.size();
        if (n < static_cast<std::size_t>(s_.end - s_.p)) {
            if (n != 0) {
                *s_.p = 0xFF;  // RFC 7252 §3: the marker only when a payload follows
                copy_bytes(s_.p + 1, payload.data(), n);
                s_.p += 1 + n;
            }
            return {BuildError::Ok, size()};
        }
        if (n == 0 && s_.error == BuildError::Ok) return {BuildError::Ok, size()};  // a full buffer
        if (s_.error == BuildError::Ok) s_ = fail(s_, s_.full);  // a payload and no room for it and its marker
        return {s_.error, 0};
    }

    /// Bytes written so far (header, token and options; the payload after `finish`).
    [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(s_.p - s_.begin); }
    [[nodiscard]] std::size_t option_count() const noexcept { return s_.count; }
    /// The first error, or Ok.
    [[nodiscard]] BuildError error() const noexcept { return s_.error; }

private:
    // All of the writer's state, passed to and returned from the out-of-line parts by
    // value: the writer's address never escapes, so the compiler may keep the state in
    // registers even though every byte written through `p` could otherwise alias it.
    struct State {
        std::uint8_t* begin;
        std::uint8_t* p;        ///< where the next byte goes
        std::uint8_t* end;      ///< out's end, or kMaxDatagram past begin; p after an error
        std::uint8_t* options;  ///< where the options start (after the token)
        std::uint32_t last;     ///< number of the last option on the wire
        std::uint32_t count;
        BuildError error;
        BuildError full;  ///< the error for running out of room
    };

    /// The header as one big-endian word (RFC 7252 §3), then the token; an Empty message
    /// ends there.
    static void write_start(State& s, MessageType type, Code code, std::uint16_t message_id, Bytes token) noexcept {
        const std::uint32_t word = (std::uint32_t{0x40} | (static_cast<std::uint32_t>(type) << 4) |
                                    static_cast<std::uint32_t>(token.size())) << 24 |
                                   std::uint32_t{code.raw} << 16 | message_id;
        s.p[0] = static_cast<std::uint8_t>(word >> 24);
        s.p[1] = static_cast<std::uint8_t>(word >> 16);
        s.p[2] = static_cast<std::uint8_t>(word >> 8);
        s.p[3] = static_cast<std::uint8_t>(word);
        copy_bytes(s.p + 4, token.data(), token.size());
        s.p += 4 + token.size();
        s.options = s.p;
        if (code.is_empty()) {
            // RFC 7252 §4.1: an Empty message is the header alone. Any option or payload
            // runs out of room with this error.
            s.full = BuildError::EmptyWithContent;
            s.end = s.p;
        }
    }
    /// Records the first error and leaves no room, so that the inline path refuses too.
    static State fail(State s, BuildError e) noexcept {
        if (s.error == BuildError::Ok) s.error = e;
        s.end = s.p;
        return s;
    }
    /// The constructor's out-of-line rest: every error, the Empty message, a buffer
    /// shorter than 12 bytes or larger than kMaxDatagram.
    static State start_slow(State s, MutableBytes out, MessageType type, Code code, std::uint16_t message_id,
                            Bytes token) noexcept;
    /// add_option's out-of-line rest: an option in order with extended forms.
    static State add_option_slow(State s, std::uint16_t number, Bytes value) noexcept;
    /// And the rarer rest: an option out of order (inserted), every error.
    static State add_option_rare(State s, std::uint16_t number, Bytes value) noexcept;

    State s_;
};

}  // namespace coap
