// Message types and codes (RFC 7252 §3, §12.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace coap {

/// The 2-bit Type field (RFC 7252 §3).
enum class MessageType : std::uint8_t { Con = 0, Non = 1, Ack = 2, Rst = 3 };

/// "CON", "NON", "ACK" or "RST".
[[nodiscard]] std::string_view to_string(MessageType t) noexcept;

/// The 8-bit Code field: a 3-bit class and a 5-bit detail, written "c.dd" (RFC 7252 §3).
struct Code {
    std::uint8_t raw = 0;  ///< the byte on the wire

    [[nodiscard]] static constexpr Code make(std::uint8_t cls, std::uint8_t detail) noexcept {
        return Code{static_cast<std::uint8_t>(((cls & 0x07u) << 5) | (detail & 0x1fu))};
    }
    [[nodiscard]] constexpr std::uint8_t cls() const noexcept { return raw >> 5; }
    [[nodiscard]] constexpr std::uint8_t detail() const noexcept { return raw & 0x1f; }
    /// 0.00 (RFC 7252 §4.1).
    [[nodiscard]] constexpr bool is_empty() const noexcept { return raw == 0; }
    /// Class 0 with a non-zero detail (RFC 7252 §5.8).
    [[nodiscard]] constexpr bool is_request() const noexcept { return cls() == 0 && raw != 0; }
    /// Classes 2, 4 and 5 (RFC 7252 §5.9).
    [[nodiscard]] constexpr bool is_response() const noexcept {
        return cls() == 2 || cls() == 4 || cls() == 5;
    }
    /// Class 2, Success (RFC 7252 §5.9.1).
    [[nodiscard]] constexpr bool is_success() const noexcept { return cls() == 2; }
    friend constexpr bool operator==(Code a, Code b) noexcept { return a.raw == b.raw; }
    friend constexpr bool operator!=(Code a, Code b) noexcept { return a.raw != b.raw; }
};

namespace codes {
inline constexpr Code kEmpty = Code::make(0, 0);
inline constexpr Code kGet = Code::make(0, 1);
inline constexpr Code kPost = Code::make(0, 2);
inline constexpr Code kPut = Code::make(0, 3);
inline constexpr Code kDelete = Code::make(0, 4);
inline constexpr Code kFetch = Code::make(0, 5);
inline constexpr Code kPatch = Code::make(0, 6);
inline constexpr Code kIPatch = Code::make(0, 7);
inline constexpr Code kCreated = Code::make(2, 1);
inline constexpr Code kDeleted = Code::make(2, 2);
inline constexpr Code kValid = Code::make(2, 3);
inline constexpr Code kChanged = Code::make(2, 4);
inline constexpr Code kContent = Code::make(2, 5);
inline constexpr Code kContinue = Code::make(2, 31);
inline constexpr Code kBadRequest = Code::make(4, 0);
inline constexpr Code kUnauthorized = Code::make(4, 1);
inline constexpr Code kBadOption = Code::make(4, 2);
inline constexpr Code kForbidden = Code::make(4, 3);
inline constexpr Code kNotFound = Code::make(4, 4);
inline constexpr Code kMethodNotAllowed = Code::make(4, 5);
inline constexpr Code kNotAcceptable = Code::make(4, 6);
inline constexpr Code kRequestEntityIncomplete = Code::make(4, 8);
inline constexpr Code kPreconditionFailed = Code::make(4, 12);
inline constexpr Code kRequestEntityTooLarge = Code::make(4, 13);
inline constexpr Code kUnsupportedContentFormat = Code::make(4, 15);
inline constexpr Code kInternalServerError = Code::make(5, 0);
inline constexpr Code kNotImplemented = Code::make(5, 1);
inline constexpr Code kBadGateway = Code::make(5, 2);
inline constexpr Code kServiceUnavailable = Code::make(5, 3);
inline constexpr Code kGatewayTimeout = Code::make(5, 4);
inline constexpr Code kProxyingNotSupported = Code::make(5, 5);
inline constexpr Code kHopLimitReached = Code::make(5, 8);  // RFC 8768 §3
}  // namespace codes

/// Writes "c.dd" into `out` (exactly 4 characters, no terminator).
void format_code(Code c, char out[4]) noexcept;

/// The registered name of a code ("GET", "Content", "Empty" ...), or nothing when the
/// code is not in the IANA CoAP Method / Response Code registries (RFC 7252 §12.1).
[[nodiscard]] std::optional<std::string_view> code_name(Code c) noexcept;

}  // namespace coap
