// Fuzz target: URI parsing and decomposition (RFC 7252 §6.4), with decompose_uri's one
// pass checked against the two-pass reference on every input; whenever decomposition
// succeeds, composing the options (§6.5) and decomposing again gives the same options.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "coap/uri/uri.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    coap::UriParts parts;
    const coap::UriResult parsed = coap::parse_uri(text, parts);
    // Differential: decompose_uri's one pass gives what the two-pass reference gives.
    coap::UriOptions fast;
    const coap::UriResult one_pass = coap::decompose_uri(text, fast);
    if (!parsed.ok()) {
        FUZZ_CHECK(parsed.offset <= size || parsed.error == coap::UriError::TooLong);
        FUZZ_CHECK(!coap::to_string(parsed.error).empty());
        FUZZ_CHECK(one_pass.error == parsed.error && one_pass.offset == parsed.offset);
        return 0;
    }
    FUZZ_CHECK(coap::to_string(coap::UriError::Ok) == "ok");
    coap::UriOptions first;
    const coap::UriResult r = coap::decompose(parts, first);
    FUZZ_CHECK(one_pass.error == r.error && one_pass.offset == r.offset);
    if (!r.ok()) return 0;
    FUZZ_CHECK(fast.size() == first.size() && fast.host() == first.host() && fast.port() == first.port() &&
               fast.scheme() == first.scheme() && fast.host_kind() == first.host_kind());
    for (std::size_t i = 0; i < first.size(); ++i) {
        FUZZ_CHECK(fast[i].number == first[i].number && fast[i].value == first[i].value);
    }
    FUZZ_CHECK(first.size() <= coap::UriOptions::kMaxOptions);
    std::vector<coap::Option> list;
    for (std::size_t i = 0; i < first.size(); ++i) {
        list.push_back(first[i]);
        FUZZ_CHECK(first[i].value.size() <= 255);
        if (i > 0) FUZZ_CHECK(first[i].number >= first[i - 1].number);
    }
    std::string composed;
    FUZZ_CHECK(coap::compose_uri(first.scheme(), first.host(), first.port(), list.data(), list.size(), composed).ok());
    coap::UriOptions second;
    const coap::UriResult again = coap::decompose_uri(composed, second);
    if (again.error == coap::UriError::TooLong) return 0;  // percent-encoding can grow past the bound
    if (!again.ok()) {
        std::fprintf(stderr, "composed URI does not decompose: %s (%s)\n", composed.c_str(),
                     std::string(coap::to_string(again.error)).c_str());
        std::abort();
    }
    FUZZ_CHECK(second.size() == first.size());
    for (std::size_t i = 0; i < first.size(); ++i) {
        FUZZ_CHECK(second[i].number == first[i].number);
        FUZZ_CHECK(second[i].value == first[i].value);
    }
    FUZZ_CHECK(second.port() == first.port());
    FUZZ_CHECK(second.host() == first.host());
    FUZZ_CHECK(second.scheme() == first.scheme());
    FUZZ_CHECK(second.host_kind() == first.host_kind());
    // Uri-Port from the input's last two bytes: any 0-2 byte value composes, longer fails.
    const coap::Bytes port_bytes(data + (size >= 3 ? size - 3 : 0), size >= 3 ? 3 - (data[0] % 2) : 0);
    std::vector<coap::Option> with_port = list;
    with_port.push_back(coap::Option{7, port_bytes});
    std::string out;
    const coap::UriResult pr = coap::compose_uri(first.scheme(), first.host(), first.port(), with_port.data(),
                                                 with_port.size(), out);
    FUZZ_CHECK(pr.ok() == (port_bytes.size() <= 2));
    const coap::Option empty_host{3, coap::Bytes()};
    FUZZ_CHECK(coap::compose_uri(first.scheme(), first.host(), first.port(), &empty_host, 1, out).error ==
               coap::UriError::EmptyHost);
    FUZZ_CHECK(coap::compose_uri(first.scheme(), "", first.port(), nullptr, 0, out).error == coap::UriError::EmptyHost);
    return 0;
}
