// The CoAP option registry (RFC 7252 §5.4, §5.10, §12.2 and later RFCs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace coap {

/// Option value formats (RFC 7252 §3.2).
enum class OptionFormat : std::uint8_t { Empty, Opaque, Uint, String };

[[nodiscard]] std::string_view to_string(OptionFormat f) noexcept;

/// Registered option numbers, named as in the IANA "CoAP Option Numbers" registry.
namespace options {
inline constexpr std::uint16_t kIfMatch = 1;
inline constexpr std::uint16_t kUriHost = 3;
inline constexpr std::uint16_t kETag = 4;
inline constexpr std::uint16_t kIfNoneMatch = 5;
inline constexpr std::uint16_t kObserve = 6;
inline constexpr std::uint16_t kUriPort = 7;
inline constexpr std::uint16_t kLocationPath = 8;
inline constexpr std::uint16_t kOscore = 9;
inline constexpr std::uint16_t kUriPath = 11;
inline constexpr std::uint16_t kContentFormat = 12;
inline constexpr std::uint16_t kMaxAge = 14;
inline constexpr std::uint16_t kUriQuery = 15;
inline constexpr std::uint16_t kHopLimit = 16;
inline constexpr std::uint16_t kAccept = 17;
inline constexpr std::uint16_t kQBlock1 = 19;
inline constexpr std::uint16_t kLocationQuery = 20;
inline constexpr std::uint16_t kEdhoc = 21;
inline constexpr std::uint16_t kBlock2 = 23;
inline constexpr std::uint16_t kBlock1 = 27;
inline constexpr std::uint16_t kSize2 = 28;
inline constexpr std::uint16_t kQBlock2 = 31;
inline constexpr std::uint16_t kProxyUri = 35;
inline constexpr std::uint16_t kProxyScheme = 39;
inline constexpr std::uint16_t kSize1 = 60;
inline constexpr std::uint16_t kEcho = 252;
inline constexpr std::uint16_t kNoResponse = 258;
inline constexpr std::uint16_t kRequestTag = 292;
inline constexpr std::uint16_t kOcfAcceptContentFormatVersion = 2049;
inline constexpr std::uint16_t kOcfContentFormatVersion = 2053;
}  // namespace options

/// One registry entry.
struct OptionInfo {
    std::uint16_t number;     ///< option number
    std::string_view name;    ///< IANA name ("Uri-Path")
    OptionFormat format;      ///< value format
    std::uint16_t min_length; ///< shortest valid value, bytes
    std::uint16_t max_length; ///< longest valid value, bytes
    bool repeatable;          ///< may occur more than once (RFC 7252 §5.4.5)
    std::string_view reference; ///< the defining document ("RFC 7252")
};

/// The entry for `number`, or nullptr when the number is not registered.
[[nodiscard]] const OptionInfo* find_option(std::uint16_t number) noexcept;
/// The entry named `name` (case-sensitive, IANA spelling), or nullptr.
[[nodiscard]] const OptionInfo* find_option(std::string_view name) noexcept;
/// All entries, ascending by number.
[[nodiscard]] const OptionInfo* registry_begin() noexcept;
[[nodiscard]] const OptionInfo* registry_end() noexcept;
[[nodiscard]] std::size_t registry_size() noexcept;

// RFC 7252 §5.4.6: the properties encoded in the option number's bits.
/// Bit 0: critical (odd numbers).
[[nodiscard]] constexpr bool is_critical(std::uint16_t number) noexcept { return (number & 0x01) != 0; }
/// Bit 1: unsafe to forward.
[[nodiscard]] constexpr bool is_unsafe(std::uint16_t number) noexcept { return (number & 0x02) != 0; }
/// Bits 2-4 all set (and safe to forward): NoCacheKey.
[[nodiscard]] constexpr bool is_no_cache_key(std::uint16_t number) noexcept {
    return (number & 0x1e) == 0x1c;
}

}  // namespace coap
