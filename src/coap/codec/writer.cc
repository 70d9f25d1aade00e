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

void MessageWriter::start_slow(MutableBytes out, MessageType type, Code code, std::uint16_t message_id,
                               Bytes token) noexcept {
    if (out.size() > MessageView::kMaxDatagram) {
        end_ = begin_ + MessageView::kMaxDatagram;
        full_ = BuildError::MessageTooLarge;
    }
    if (token.size() > 8) {  // RFC 7252 §3: TKL 0-8
        fail(BuildError::TokenTooLong);
        return;
    }
    if (code.is_empty() && !token.empty()) {  // RFC 7252 §4.1: an Empty message is the header alone
        fail(BuildError::EmptyWithContent);
        return;
    }
    if (static_cast<std::size_t>(end_ - p_) < 4 + token.size()) {
        fail(full_);
        return;
    }
    write_start(type, code, message_id, token);
    if (code.is_empty()) {
        // Nothing may follow: any option or payload runs out of room with this error.
        full_ = BuildError::EmptyWithContent;
        end_ = p_;
    }
}

BuildError MessageWriter::fail(BuildError e) noexcept {
    if (error_ == BuildError::Ok) error_ = e;
    end_ = p_;
    return error_;
}

BuildError MessageWriter::add_option_slow(std::uint16_t number, Bytes value) noexcept {
    // In order with an extended delta or length: the room check also covers an earlier
    // error (which leaves no room).
    if (number >= last_ && value.size() <= 0xffff && count_ != kMaxOptions) {
        const std::uint32_t delta = number - last_;
        const auto n = static_cast<std::uint32_t>(value.size());
        if (option_header_size(delta, n) + n <= static_cast<std::size_t>(end_ - p_)) {
            p_ = write_header(p_, delta, n);
            copy_bytes(p_, value.data(), n);
            p_ += n;
            last_ = number;
            ++count_;
            return BuildError::Ok;
        }
    }
    return add_option_rare(number, value);
}

[[gnu::noinline]] BuildError MessageWriter::add_option_rare(std::uint16_t number, Bytes value) noexcept {
    if (error_ != BuildError::Ok) return error_;
    if (value.size() > 0xffff) return fail(BuildError::OptionTooLong);
    if (count_ == kMaxOptions) return fail(BuildError::TooManyOptions);
    if (number >= last_) return fail(full_);
    const auto n = static_cast<std::uint32_t>(value.size());
    const auto room = static_cast<std::size_t>(end_ - p_);
    // Out of order: find the first option numbered above `number` (one exists, the last),
    // walking the headers written so far. An equal number stays before the new option.
    std::uint8_t* at = options_;
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
            if (grow > room) return fail(full_);
            std::uint8_t* const tail = at + old_header;
            std::memmove(tail + grow, tail, static_cast<std::size_t>(p_ - tail));
            std::uint8_t* w = write_header(at, number - prev, n);
            copy_bytes(w, value.data(), n);
            write_header(w + n, next - number, length);
            p_ += grow;
            ++count_;
            return BuildError::Ok;
        }
        prev += delta;
        at = q + length;
    }
}

BuildResult MessageWriter::finish_slow() noexcept {
    if (error_ != BuildError::Ok) return {error_, 0};
    return {fail(full_), 0};  // a payload and no room for it and its marker
}

}  // namespace coap
