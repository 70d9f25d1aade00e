// Fuzz target: every valid message re-encodes to exactly its own bytes (the CoAP
// encoding of a given message is unique: each extended-length form covers a disjoint
// range, RFC 7252 §3.1), and parse(build(m)) == m.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "check.h"
#include "coap/codec/message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::MessageView v;
    if (!coap::parse(coap::Bytes(data, size), v).ok()) return 0;
    const coap::Message m = coap::to_message(v);
    coap::BuildError err = coap::BuildError::Ok;
    const std::vector<std::uint8_t> wire = coap::encode(m, &err);
    FUZZ_CHECK(err == coap::BuildError::Ok);
    if (wire != std::vector<std::uint8_t>(data, data + size)) {
        std::fprintf(stderr, "re-encoding differs: %zu vs %zu bytes\n", wire.size(), size);
        std::abort();
    }
    // Every buffer one byte too small is refused, never overrun.
    std::vector<std::uint8_t> small(wire.size() - 1);
    const coap::BuildResult short_build = coap::build(m, coap::MutableBytes(small.data(), small.size()));
    FUZZ_CHECK(short_build.error == coap::BuildError::BufferTooSmall);
    FUZZ_CHECK(coap::to_string(short_build.error) == "buffer-too-small");
    coap::MessageView again;
    FUZZ_CHECK(coap::parse(coap::Bytes(wire.data(), wire.size()), again).ok());
    FUZZ_CHECK(!(coap::to_message(again) != m));
    if (!m.token.empty() || !m.options.empty()) {
        coap::Message changed = m;
        changed.code = coap::codes::kEmpty;  // RFC 7252 §4.1: nothing may follow an Empty header
        coap::BuildError e = coap::BuildError::Ok;
        FUZZ_CHECK(coap::encode(changed, &e).empty() && e == coap::BuildError::EmptyWithContent);
    }
    return 0;
}
