// Helpers shared by the unit tests.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/json.h"
#include "coap/common/bytes.h"

namespace coapbed::test {

/// Hex digits (whitespace allowed) to bytes, with the CLI's own parser. The tests pass
/// only well-formed hex; anything else aborts the test binary loudly.
inline std::vector<std::uint8_t> hex(const std::string& s) {
    std::string bytes;
    if (!coapbed::cli::parse_hex(s, bytes)) {
        std::fprintf(stderr, "test bug: bad hex '%s'\n", s.c_str());
        std::abort();
    }
    return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

inline coap::Bytes view(const std::vector<std::uint8_t>& v) { return coap::Bytes(v.data(), v.size()); }

inline std::string str(coap::Bytes b) { return std::string(b.as_chars()); }

}  // namespace coapbed::test
