// Fuzz target: every valid message re-encodes to exactly its own bytes (the CoAP
// encoding of a given message is unique: each extended-length form covers a disjoint
// range, RFC 7252 §3.1), and parse(build(m)) == m. The writer gives the same bytes
// with the options added last first (every one but the first inserted).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "check.h"
#include "coap/codec/message.h"
#include "coap/codec/writer.h"

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
    // The writer, options added from the highest number down (repeated ones in their own
    // order), into a buffer of exactly the right size and one byte short.
    for (const std::size_t room : {wire.size(), wire.size() - 1}) {
        std::vector<std::uint8_t> out(room);
        coap::MessageWriter w(coap::MutableBytes(out.data(), out.size()), m.type, m.code, m.message_id,
                              coap::Bytes(m.token.data(), m.token.size()));
        for (std::size_t end = m.options.size(); end > 0;) {
            std::size_t begin = end - 1;
            while (begin > 0 && m.options[begin - 1].number == m.options[end - 1].number) --begin;
            for (std::size_t i = begin; i < end; ++i) {
                (void)w.add_option(m.options[i].number, coap::Bytes(m.options[i].value.data(), m.options[i].value.size()));
            }
            end = begin;
        }
        const coap::BuildResult r = w.finish(coap::Bytes(m.payload.data(), m.payload.size()));
        if (room == wire.size()) {
            FUZZ_CHECK(r.ok() && r.size == wire.size() && out == wire);
        } else {
            FUZZ_CHECK(r.error == coap::BuildError::BufferTooSmall);
        }
    }
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
