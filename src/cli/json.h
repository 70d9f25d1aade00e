// A small JSON writer for the command line's machine-readable output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "coap/common/bytes.h"

namespace coapbed::cli {

/// Appends `s` as a JSON string literal. Valid UTF-8 passes through (control characters,
/// quotes and backslashes escaped); each byte that is not part of valid UTF-8 becomes
/// U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);
/// Appends the bytes as lowercase hex, without quotes.
void append_hex(std::string& out, coap::Bytes bytes);

/// Parses hex digits with optional whitespace between them ("40 01 00 7b").
/// Returns false on a non-hex character or an odd number of digits.
[[nodiscard]] bool parse_hex(std::string_view text, std::string& bytes_out);

}  // namespace coapbed::cli
