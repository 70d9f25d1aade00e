// Typed lookups of the first option of a number in a parsed message.
#pragma once

#include <cstdint>
#include <optional>

#include "coap/codec/message_view.h"
#include "coap/options/values.h"

namespace coap {

/// The first `number` option's uint value, or nothing (absent, or longer than 8 bytes).
[[nodiscard]] inline std::optional<std::uint64_t> uint_option(const MessageView& m, std::uint16_t number) {
    const std::size_t i = m.find(number);
    if (i == m.option_count()) return std::nullopt;
    return decode_uint(m.option(i).value);
}

/// The first `number` option as a Block value (RFC 7959 §2.2); sets `invalid` when the
/// value is not one.
[[nodiscard]] inline std::optional<Block> block_option(const MessageView& m, std::uint16_t number, bool& invalid) {
    const std::size_t i = m.find(number);
    if (i == m.option_count()) return std::nullopt;
    const BlockResult r = decode_block(m.option(i).value);
    if (!r.ok()) {
        invalid = true;
        return std::nullopt;
    }
    return r.block;
}

}  // namespace coap
