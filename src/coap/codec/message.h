// An owning message value, for the parts of coapbed that keep messages around
// (tests, the CLI, round-trip fuzzing, the endpoint's own requests and responses). The
// hot paths use MessageView and MessageWriter, which do not allocate.
#pragma once

#include <cstdint>
#include <vector>

#include "coap/codec/builder.h"
#include "coap/codec/code.h"
#include "coap/codec/message_view.h"

namespace coap {

struct OwnedOption {
    std::uint16_t number = 0;
    std::vector<std::uint8_t> value;
    friend bool operator==(const OwnedOption& a, const OwnedOption& b) {
        return a.number == b.number && a.value == b.value;
    }
};

struct Message {
    MessageType type = MessageType::Con;
    Code code;
    std::uint16_t message_id = 0;
    std::vector<std::uint8_t> token;
    std::vector<OwnedOption> options;  ///< any order; equality compares them sorted (stably)
    std::vector<std::uint8_t> payload;

    /// Equal when every field is equal and the options are equal once stably sorted by
    /// number: the order in which a message is sent on the wire (RFC 7252 §3.1).
    friend bool operator==(const Message& a, const Message& b);
    friend bool operator!=(const Message& a, const Message& b) { return !(a == b); }
};

/// Copies a parsed view into an owning message.
[[nodiscard]] Message to_message(const MessageView& view);
/// The same into `out`, reusing the capacity of its vectors.
void to_message(const MessageView& view, Message& out);
/// As to_message(view, out) without the payload (left empty): for a caller that puts
/// a body of its own there (a block-wise transfer's reassembled body).
void to_message_without_payload(const MessageView& view, Message& out);

/// At most how many bytes a message with `options`, a token of `token` bytes and a
/// payload of `payload` bytes takes: the 4-byte header, the token, per option at most 5
/// header bytes plus its value (RFC 7252 §3.1), the payload marker and the payload.
[[nodiscard]] std::size_t size_bound(const std::vector<OwnedOption>& options, std::size_t token,
                                     std::size_t payload) noexcept;

/// Room for a message with `options`, a token of up to 8 bytes and `payload` bytes of
/// payload (size_bound), plus `uints` uint options of at most 8 bytes and `extra_options`
/// bytes of other options (headers included).
[[nodiscard]] inline std::size_t message_bound(const std::vector<OwnedOption>& options, std::size_t uints,
                                               std::size_t extra_options, std::size_t payload) noexcept {
    return size_bound(options, 8, payload) + uints * (5 + 8) + extra_options;
}

/// Builds `m` into `out` (see MessageBuilder for errors).
[[nodiscard]] BuildResult build(const Message& m, MutableBytes out) noexcept;

/// Builds `m` into a new vector; empty with `error` set on failure.
[[nodiscard]] std::vector<std::uint8_t> encode(const Message& m, BuildError* error = nullptr);

}  // namespace coap
