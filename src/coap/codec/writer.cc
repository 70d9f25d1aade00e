#include "coap/codec/writer.h"

#include <cstring>

namespace coap {

namespace {

// RFC 7252 §3.1: 0-12 inline, 13 + one byte (value - 13), 14 + two bytes (value - 269).
constexpr std::uint8_t nibble_for(std::uint32_t v) noexcept {
    return v < 13 ? static_cast<std::uint8_t>(v) : (v < 269 ? 13 : 14);
}

std::uint8_t* write_extended(std::uint8_t* p, std::uint32_t v) noexcept {
    if (v >= 269) {
        const std::uint32_t x = v - 269;
        *p++ = static_cast<std::uint8_t>(x >> 8);
        *p++ = static_cast<std::uint8_t>(x);
    } else if (v >= 13) {
        *p++ = static_cast<std::uint8_t>(v - 13);
    }
    return p;
}

// Writes an option header (option_header_size(delta, length) bytes); returns the end.
std::uint8_t* write_header(std::uint8_t* p, std::uint32_t delta, std::uint32_t length) noexcept {
    *p++ = static_cast<std::uint8_t>((nibble_for(delta) << 4) | nibble_for(length));
    p = write_extended(p, delta);
    return write_extended(p, length);
}

// The inverse of write_extended, for bytes this writer wrote (well-formed, in bounds).
std::uint32_t read_extended(std::uint8_t*& p, std::uint32_t nibble) noexcept {
    if (nibble == 13) return 13u + *p++;
    if (nibble == 14) {
        const std::uint32_t v = 269u + ((static_cast<std::uint32_t>(p[0]) << 8) | p[1]);
        p += 2;
        return v;
    }
    return nibble;
}

}  // namespace

MessageWriter::State MessageWriter::start_slow(State s, MutableBytes out, MessageType type, Code code,
                                              std::uint16_t message_id, Bytes token) noexcept {
    if (out.size() > MessageView::kMaxDatagram) {
        s.end = s.begin + MessageView::kMaxDatagram;
        s.full = BuildError::MessageTooLarge;
    }
    if (token.size() > 8) return fail(s, BuildError::TokenTooLong);  // RFC 7252 §3: TKL 0-8
    // RFC 7252 §4.1: an Empty message is the header alone.
    if (code.is_empty() && !token.empty()) return fail(s, BuildError::EmptyWithContent);
    if (static_cast<std::size_t>(s.end - s.p) < 4 + token.size()) return fail(s, s.full);
    write_start(s, type, code, message_id, token);
    return s;
}

MessageWriter::State MessageWriter::add_option_slow(State s, std::uint16_t number, Bytes value) noexcept {
    // In order with an extended delta or length: the room check also covers an earlier
    // error (which leaves no room).
    if (number >= s.last && value.size() <= 0xffff && s.count != kMaxOptions) {
        const std::uint32_t delta = number - s.last;
        const auto n = static_cast<std::uint32_t>(value.size());
        if (option_header_size(delta, n) + n <= static_cast<std::size_t>(s.end - s.p)) {
            s.p = write_header(s.p, delta, n);
            copy_bytes(s.p, value.data(), n);
            s.p += n;
            s.last = number;
            ++s.count;
            return s;
        }
    }
    return add_option_rare(s, number, value);
}

[[gnu::noinline]] MessageWriter::State MessageWriter::add_option_rare(State s, std::uint16_t number,
                                                                    Bytes value) noexcept {
    if (s.error != BuildError::Ok) return s;
    if (value.size() > 0xffff) return fail(s, BuildError::OptionTooLong);
    if (s.count == kMaxOptions) return fail(s, BuildError::TooManyOptions);
    if (number >= s.last) return fail(s, s.full);
    const auto n = static_cast<std::uint32_t>(value.size());
    const auto room = static_cast<std::size_t>(s.end - s.p);
    // Out of order: find the first option numbered above `number` (one exists, the last),
    // walking the headers written so far. An equal number stays before the new option.
    std::uint8_t* at = s.options;
    std::uint32_t prev = 0;
    for (;;) {
        std::uint8_t* q = at + 1;
        const std::uint32_t delta = read_extended(q, *at >> 4);
        const std::uint32_t length = read_extended(q, *at & 0x0f);
        if (prev + delta > number) {
            // [at, q) is the next option's header; its value and everything after move up
            // by `grow`, the new option goes at `at`, then the next option's new header
            // (its delta from `number` is smaller than from `prev`, so `grow` > 0).
            const std::uint32_t next = prev + delta;
            const std::size_t old_header = static_cast<std::size_t>(q - at);
            const std::size_t grow =
                option_header_size(number - prev, n) + n + option_header_size(next - number, length) - old_header;
            if (grow > room) return fail(s, s.full);
            std::uint8_t* const tail = at + old_header;
            std::memmove(tail + grow, tail, static_cast<std::size_t>(s.p - tail));
            std::uint8_t* w = write_header(at, number - prev, n);
            copy_bytes(w, value.data(), n);
            write_header(w + n, next - number, length);
            s.p += grow;
            ++s.count;
            return s;
        }
        prev += delta;
        at = q + length;
    }
}

}  // namespace coap
