// Serialising a message into a caller-provided buffer (RFC 7252 §3, §3.1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coap/codec/code.h"
#include "coap/codec/message_view.h"
#include "coap/common/bytes.h"

namespace coap {

/// Why a message could not be built. All are "API misuse or resource" errors of the
/// caller, never caused by a peer: the caller fixes its input or gives a larger buffer.
enum class BuildError : std::uint8_t {
    Ok = 0,
    BufferTooSmall,      ///< the output buffer cannot hold the message
    TokenTooLong,        ///< token longer than 8 bytes (RFC 7252 §3)
    TooManyOptions,      ///< more than kMaxOptions options
    OptionTooLong,       ///< an option value longer than 65535 bytes
    EmptyWithContent,    ///< code 0.00 with a token, options or payload (RFC 7252 §4.1)
    MessageTooLarge,     ///< the message would exceed MessageView::kMaxDatagram
};

[[nodiscard]] std::string_view to_string(BuildError e) noexcept;

/// The outcome of `MessageBuilder::build`: an error, or the number of bytes written.
struct BuildResult {
    BuildError error = BuildError::Ok;
    std::size_t size = 0;  ///< bytes written on success
    [[nodiscard]] constexpr bool ok() const noexcept { return error == BuildError::Ok; }
};

/// Writes the shortest big-endian form of a uint option value into `out` (0 takes no
/// bytes, RFC 7252 §3.2) and returns its length, 0-8.
inline std::size_t put_uint(std::uint64_t value, std::uint8_t (&out)[8]) noexcept {
    std::size_t n = 0;
    for (std::uint64_t v = value; v != 0; v >>= 8) ++n;
    for (std::size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
    return n;
}

/// Collects a message's fields and writes it in wire form (through a MessageWriter), as
/// often as asked and into any buffer; to write one message straight into a buffer,
/// use MessageWriter, which keeps no table. Options may be added in any order: they
/// come out sorted by number (repeated options keep the order they were added in),
/// delta-encoded with the shortest extended form.
///
/// The builder does not copy option values, the token or the payload: the bytes passed
/// in must stay alive until `build` returns. Unsigned-integer options added with
/// `add_uint` are stored inside the builder. No heap allocation.
class MessageBuilder {
public:
    static constexpr std::size_t kMaxOptions = MessageView::kMaxOptions;

    MessageBuilder(MessageType type, Code code, std::uint16_t message_id) noexcept
        : type_(type), code_(code), mid_(message_id) {}

    /// Sets the token (0-8 bytes). Errors: TokenTooLong.
    [[nodiscard]] BuildError set_token(Bytes token) noexcept {
        if (token.size() > 8) return BuildError::TokenTooLong;  // RFC 7252 §3: TKL 0-8
        token_ = token;
        return BuildError::Ok;
    }
    /// Adds an option with an opaque/string/empty value. Errors: TooManyOptions, OptionTooLong.
    [[nodiscard]] BuildError add_option(std::uint16_t number, Bytes value) noexcept;
    /// Adds a string option (the characters are not copied).
    [[nodiscard]] BuildError add_option(std::uint16_t number, std::string_view value) noexcept {
        return add_option(number, Bytes(value));
    }
    /// Adds a uint option in its shortest form (0 is zero bytes, RFC 7252 §3.2).
    [[nodiscard]] BuildError add_uint(std::uint16_t number, std::uint64_t value) noexcept;
    /// Sets the payload (empty: no payload marker is written).
    void set_payload(Bytes payload) noexcept { payload_ = payload; }

    /// The exact number of bytes `build` will write.
    [[nodiscard]] std::size_t encoded_size() const noexcept;
    /// Writes the message into `out`. Errors: BufferTooSmall, EmptyWithContent,
    /// MessageTooLarge. `out` is not written past its size whatever happens.
    [[nodiscard]] BuildResult build(MutableBytes out) const noexcept;

    [[nodiscard]] std::size_t option_count() const noexcept { return count_; }

private:
    // Trivial on purpose (no member initialisers): the table is not cleared per message.
    // 16 bytes, so that keeping the table sorted moves little.
    struct Pending {
        union {
            const std::uint8_t* data;                ///< external value when !is_inline
            std::uint8_t inline_value[8];            ///< value stored here (add_uint)
        };
        std::uint16_t number;
        std::uint16_t length;
        bool is_inline;
        [[nodiscard]] Bytes bytes() const noexcept {
            return is_inline ? Bytes(inline_value, length) : Bytes(data, length);
        }
        /// An option whose value stays where the caller keeps it (`value` <= 65535 bytes).
        [[nodiscard]] static Pending external(std::uint16_t number, Bytes value) noexcept {
            Pending p;
            p.data = value.data();
            p.number = number;
            p.length = static_cast<std::uint16_t>(value.size());
            p.is_inline = false;
            return p;
        }
    };
    [[nodiscard]] BuildError insert(const Pending& p) noexcept;

    MessageType type_;
    Code code_;
    std::uint16_t mid_;
    Bytes token_;
    Bytes payload_;
    std::size_t count_ = 0;
    std::size_t value_bytes_ = 0;  ///< sum of option value lengths (for the size bound)
    // Only the first count_ entries are meaningful (no 2 KiB clear per message).
    std::array<Pending, kMaxOptions> options_;
};

}  // namespace coap
