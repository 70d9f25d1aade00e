// Typed option values: uint, string, Block1/Block2, Content-Format
// (RFC 7252 §3.2, §12.3; RFC 7959 §2.2).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "coap/common/bytes.h"

namespace coap {

/// Decodes a uint option value in network byte order. Leading zero bytes are accepted
/// (RFC 7252 §3.2: senders SHOULD but need not use the shortest form); an empty value is
/// 0. Nothing when the value does not fit 64 bits.
[[nodiscard]] std::optional<std::uint64_t> decode_uint(Bytes value) noexcept;

/// The shortest big-endian form of a uint option value (0 is empty, RFC 7252 §3.2).
[[nodiscard]] std::vector<std::uint8_t> encode_uint(std::uint64_t value);

/// A value is a string option if it is valid UTF-8 (RFC 7252 §3.2, RFC 3629): no
/// overlong forms, no surrogates, nothing above U+10FFFF. Nothing otherwise.
[[nodiscard]] std::optional<std::string_view> decode_string(Bytes value) noexcept;
[[nodiscard]] bool is_valid_utf8(Bytes value) noexcept;

/// A Block1 / Block2 / Q-Block value (RFC 7959 §2.2).
struct Block {
    std::uint32_t num = 0;   ///< block number, 0 .. 2^20-1
    bool more = false;       ///< M: more blocks follow
    std::uint8_t szx = 0;    ///< size exponent 0-6; the block is 2^(szx+4) bytes
    [[nodiscard]] constexpr std::uint32_t size() const noexcept { return 16u << szx; }
    /// Byte offset of the block in the representation.
    [[nodiscard]] constexpr std::uint64_t offset() const noexcept {
        return static_cast<std::uint64_t>(num) * size();
    }
    friend constexpr bool operator==(const Block& a, const Block& b) noexcept {
        return a.num == b.num && a.more == b.more && a.szx == b.szx;
    }
};

/// Why a Block value is not valid. A request carrying one deserves 4.00 Bad Request
/// (RFC 7959 §2.2); a response carrying one is rejected.
enum class BlockError : std::uint8_t {
    Ok = 0,
    TooLong,      ///< more than 3 bytes of value (RFC 7959 §2.1: length 0-3)
    SzxReserved,  ///< SZX 7 (RFC 7959 §2.2: reserved, MUST be treated as an error)
};
[[nodiscard]] std::string_view to_string(BlockError e) noexcept;

struct BlockResult {
    BlockError error = BlockError::Ok;
    Block block;
    [[nodiscard]] constexpr bool ok() const noexcept { return error == BlockError::Ok; }
};

/// Decodes a Block value: NUM = v >> 4, M = bit 3, SZX = bits 0-2 (RFC 7959 §2.2).
[[nodiscard]] BlockResult decode_block(Bytes value) noexcept;
/// The uint to send for `b` (pass it to MessageBuilder::add_uint). `b.num` < 2^20.
[[nodiscard]] constexpr std::uint32_t encode_block(const Block& b) noexcept {
    return (b.num << 4) | (b.more ? 0x08u : 0u) | (b.szx & 0x07u);
}
/// The SZX for a block size of 16..1024 bytes (a power of two), or nothing.
[[nodiscard]] std::optional<std::uint8_t> szx_for_size(std::uint32_t size) noexcept;

/// The media type registered for a Content-Format number (IANA "CoAP Content-Formats",
/// RFC 7252 §12.3), e.g. 50 -> "application/json"; nothing if unregistered.
[[nodiscard]] std::optional<std::string_view> content_format_name(std::uint64_t id) noexcept;
/// The number of a registered Content-Format given its exact media-type string.
[[nodiscard]] std::optional<std::uint16_t> content_format_id(std::string_view name) noexcept;

}  // namespace coap
