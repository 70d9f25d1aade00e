// JSON form of a list of options, shared by `decode` and `uri`.
#pragma once

#include <cstddef>
#include <string>

#include "coap/codec/message_view.h"

namespace coapbed::cli {

/// Appends one option as `{"number": N, "name": "...", "value": V}`: V is a JSON
/// number for a uint option of at most 8 bytes (0 for a zero-length value), a JSON
/// string for a string option, "" for an empty option, lowercase hex otherwise
/// (opaque, unregistered, or a value that does not fit its format). Block options add
/// `"block": {"num", "m", "szx", "size"}`, Content-Format and Accept add
/// `"content_format"` when the number is registered.
void append_option_json(std::string& out, const coap::Option& option);

/// Appends `[...]` of the options in the given order.
template <typename Options>
void append_options_json(std::string& out, const Options& options, std::size_t count) {
    out.push_back('[');
    for (std::size_t i = 0; i < count; ++i) {
        if (i > 0) out.push_back(',');
        append_option_json(out, options[i]);
    }
    out.push_back(']');
}

/// The `coapbed decode` JSON object of a parsed message, with a trailing newline.
std::string message_json(const coap::MessageView& view);

}  // namespace coapbed::cli
