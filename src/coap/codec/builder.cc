#include "coap/codec/builder.h"

#include "coap/codec/writer.h"

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

BuildError MessageBuilder::add_option(std::uint16_t number, Bytes value) noexcept {
    if (value.size() > 0xffff) return BuildError::OptionTooLong;
    return insert(Pending::external(number, value));
}

BuildError MessageBuilder::add_uint(std::uint16_t number, std::uint64_t value) noexcept {
    Pending p;
    p.number = number;
    p.length = static_cast<std::uint16_t>(put_uint(value, p.inline_value));
    p.is_inline = true;
    return insert(p);
}

std::size_t MessageBuilder::encoded_size() const noexcept {
    std::size_t size = 4 + token_.size();
    std::uint32_t prev = 0;
    for (std::size_t i = 0; i < count_; ++i) {
        size += option_header_size(options_[i].number - prev, options_[i].length) + options_[i].length;
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

    // The table is sorted: the writer appends every option in order.
    MessageWriter w(out, type_, code_, mid_, token_);
    for (const Pending* o = options_.data(), *const last = o + count_; o != last; ++o) {
        (void)w.add_option(o->number, o->bytes());
    }
    return w.finish(payload_);
}

}  // namespace coap
