// Message-format errors of the codec (RFC 7252 §3, §3.1, §4.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace coap {

/// Why a datagram is not a well-formed CoAP message. Every value means the same caller
/// action: the datagram is a message format error (a CON is rejected with RST, anything
/// else is silently dropped, RFC 7252 §4.2, §4.3). The messaging layer decides which.
enum class ParseError : std::uint8_t {
    Ok = 0,
    TooShort,                ///< fewer than the 4 header bytes (§3)
    BadVersion,              ///< Ver is not 1 (§3)
    TokenLengthReserved,     ///< TKL 9-15 (§3)
    TokenPastEnd,            ///< the token runs past the end of the datagram (§3)
    EmptyMessageNotEmpty,    ///< code 0.00 with a token or any byte after the header (§4.1)
    OptionDeltaReserved,     ///< delta nibble 15 on a byte that is not 0xFF (§3.1)
    OptionLengthReserved,    ///< length nibble 15 on a byte that is not 0xFF (§3.1)
    OptionDeltaPastEnd,      ///< extended delta bytes missing (§3.1)
    OptionLengthPastEnd,     ///< extended length bytes missing (§3.1)
    OptionValuePastEnd,      ///< the option value runs past the end (§3.1)
    OptionNumberTooLarge,    ///< the running option number exceeds 65535 (§3.1, §12.2)
    PayloadMarkerNoPayload,  ///< 0xFF followed by nothing (§3)
    TooManyOptions,          ///< more than MessageView::kMaxOptions options (our bound)
    MessageTooLarge,         ///< more than 65535 bytes: no UDP datagram is (our bound)
};

/// A short, stable, kebab-case name for the rule ("token-length-reserved"). Scripts parse
/// it from `coapbed decode`'s `error: <rule> at byte <offset>`; never rename one.
[[nodiscard]] std::string_view to_string(ParseError e) noexcept;

/// The result of parsing: the error and the byte offset of the element that broke the
/// rule (0 for the header, 4 for the token, the option's first byte, the payload marker;
/// the datagram size for TooShort).
struct ParseResult {
    ParseError error = ParseError::Ok;  ///< Ok on success
    std::size_t offset = 0;             ///< where parsing stopped
    [[nodiscard]] constexpr bool ok() const noexcept { return error == ParseError::Ok; }
};

}  // namespace coap
