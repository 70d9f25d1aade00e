#include "coap/codec/builder.h"

namespace coap {

std::string_view to_string(BuildError e) noexcept {
    switch (e) {
        case BuildError::Ok: return "ok";
        case BuildError::BufferTooSmall: return "buffer-too-small";
        case BuildError::TokenTooLong: return "token-too-long";
        case BuildError::TooManyOptions: return "too-many-options";
        case BuildError::OptionTooLong: return "option-too-long";
        case BuildError::EmptyWithContent: return "empty-message-with-content";
        case BuildError::MessageTooLarge: return "message-too-large";
    }
    return "unknown";
}

namespace {

// RFC 7252 §3.1: 0-12 inline, 13-268 one extra byte, 269-65804 two extra bytes.
constexpr std::uint8_t nibble_for(std::uint32_t v) noexcept {
    return v < 13 ? static_cast<std::uint8_t>(v) : (v < 269 ? 13 : 14);
}
constexpr std::size_t extended_bytes(std::uint32_t v) noexcept {
    return v < 13 ? 0 : (v < 269 ? 1 : 2);
}
void write_extended(std::uint8_t*& p, std::uint32_t v) noexcept {
    if (v >= 269) {
        const std::uint32_t x = v - 269;
        *p++ = static_cast<std::uint8_t>(x >> 8);
        *p++ = static_cast<std::uint8_t>(x);
    } else if (v >= 13) {
        *p++ = static_cast<std::uint8_t>(v - 13);
    }
}

}  // namespace

BuildError MessageBuilder::insert(const Pending& p) noexcept {
    if (count_ == kMaxOptions) return BuildError::TooManyOptions;
    // Keep the table sorted; an equal number goes after the existing ones so that
    // repeated options keep the order they were added in (RFC 7252 §5.4.5).
    std::size_t at = count_;
    while (at > 0 && options_[at - 1].number > p.number) {
        options_[at] = options_[at - 1];
        --at;
    }
    options_[at] = p;
    ++count_;
    value_bytes_ += p.length;
    return BuildError::Ok;
}

BuildError MessageBuilder::add_option_sorted(std::uint16_t number, Bytes value) noexcept {
    if (value.size() > 0xffff) return BuildError::OptionTooLong;
    return insert(Pending::external(number, value));
}

BuildError MessageBuilder::add_uint(std::uint16_t number, std::uint64_t value) noexcept {
    Pending p;
    std::uint8_t n = 0;
    for (std::uint64_t v = value; v != 0; v >>= 8) ++n;
    for (std::uint8_t i = 0; i < n; ++i) {
        p.inline_value[n - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
    }
    p.number = number;
    p.length = n;
    p.is_inline = true;
    return insert(p);
}

std::size_t MessageBuilder::encoded_size() const noexcept {
    std::size_t size = 4 + token_.size();
    std::uint32_t prev = 0;
    for (std::size_t i = 0; i < count_; ++i) {
        const Bytes v = options_[i].bytes();
        const std::uint32_t delta = options_[i].number - prev;
        size += 1 + extended_bytes(delta) + extended_bytes(static_cast<std::uint32_t>(v.size())) + v.size();
        prev = options_[i].number;
    }
    if (!payload_.empty()) size += 1 + payload_.size();
    return size;
}

BuildResult MessageBuilder::build(MutableBytes out) const noexcept {
    // RFC 7252 §4.1: an Empty message is the 4-byte header alone.
    if (code_.is_empty() && (!token_.empty() || count_ != 0 || !payload_.empty())) {
        return {BuildError::EmptyWithContent, 0};
    }
    // Each option costs at most 5 header bytes (RFC 7252 §3.1): when even that bound
    // fits the buffer and the datagram limit, skip the exact sizing pass.
    const std::size_t bound = 4 + token_.size() + count_ * 5 + value_bytes_ + 1 + payload_.size();
    if (bound > out.size() || bound > MessageView::kMaxDatagram) {
        const std::size_t size = encoded_size();
        if (size > MessageView::kMaxDatagram) return {BuildError::MessageTooLarge, 0};
        if (size > out.size()) return {BuildError::BufferTooSmall, 0};
    }

    std::uint8_t* p = out.data();
    const std::uint8_t header[4] = {
        static_cast<std::uint8_t>(0x40 | (static_cast<std::uint8_t>(type_) << 4) | token_.size()), code_.raw,
        static_cast<std::uint8_t>(mid_ >> 8), static_cast<std::uint8_t>(mid_)};
    std::memcpy(p, header, 4);
    p += 4;
    copy_bytes(p, token_.data(), token_.size());
    p += token_.size();
    std::uint32_t prev = 0;
    for (const Pending* o = options_.data(), *const last = o + count_; o != last; ++o) {
        const std::uint32_t delta = o->number - prev;
        const std::uint32_t length = o->length;
        const std::uint8_t* const value = o->is_inline ? o->inline_value : o->data;
        if (delta < 13 && length < 13) {
            *p++ = static_cast<std::uint8_t>((delta << 4) | length);
        } else {
            *p++ = static_cast<std::uint8_t>((nibble_for(delta) << 4) | nibble_for(length));
            write_extended(p, delta);
            write_extended(p, length);
        }
        copy_bytes(p, value, length);
        p += length;
        prev = o->number;
    }
    if (!payload_.empty()) {
        *p++ = 0xFF;
        copy_bytes(p, payload_.data(), payload_.size());
        p += payload_.size();
    }
    return {BuildError::Ok, static_cast<std::size_t>(p - out.data())};
}

}  // namespace coap
