// Helpers shared by the proxy tests (proxy_key_test.cc, forward_proxy_test.cc).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "coap/codec/message.h"
#include "coap/options/values.h"

namespace coapbed::test {

/// An option with a text (or opaque) value.
inline coap::OwnedOption opt(std::uint16_t n, std::string_view v) {
    return {n, std::vector<std::uint8_t>(v.begin(), v.end())};
}
/// An option with a uint value in its shortest form.
inline coap::OwnedOption uint_opt(std::uint16_t n, std::uint64_t v) { return {n, coap::encode_uint(v)}; }

}  // namespace coapbed::test
