// Fuzz target: parse a datagram, walk every option, decode each by its registered
// format, read the payload, run the receiver checks (RFC 7252 §3, §5.4).
#include <cstdint>

#include "check.h"
#include "coap/codec/message_view.h"
#include "coap/options/check.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::MessageView v;
    const coap::ParseResult r = coap::parse(coap::Bytes(data, size), v);
    if (!r.ok()) {
        FUZZ_CHECK(r.offset <= size);
        FUZZ_CHECK(!coap::to_string(r.error).empty());
        return 0;
    }
    FUZZ_CHECK(v.version() == 1 && v.datagram().size() == size);
    FUZZ_CHECK(coap::to_string(coap::ParseError::Ok) == "ok");
    FUZZ_CHECK(size >= 4 && v.token().size() <= 8);
    std::uint32_t previous = 0;
    std::size_t sum = 0;
    for (std::size_t i = 0; i < v.option_count(); ++i) {
        const coap::Option o = v.option(i);
        FUZZ_CHECK(o.number >= previous);
        previous = o.number;
        FUZZ_CHECK(o.value.data() >= data && o.value.data() + o.value.size() <= data + size);
        for (std::uint8_t b : o.value) sum += b;  // touch every byte
        const std::size_t first = v.find(o.number);
        FUZZ_CHECK(first <= i && v.option(first).number == o.number);
        FUZZ_CHECK(v.count(o.number) >= 1);
        (void)coap::is_unsafe(o.number);
        (void)coap::is_no_cache_key(o.number);
        const coap::OptionInfo* info = coap::find_option(o.number);
        if (info == nullptr) continue;
        FUZZ_CHECK(coap::find_option(info->name) == info);
        FUZZ_CHECK(!coap::to_string(info->format).empty());
        switch (info->format) {
            case coap::OptionFormat::Uint: {
                const auto u = coap::decode_uint(o.value);
                if (o.value.size() <= 8) FUZZ_CHECK(u.has_value());
                if (o.number == coap::options::kBlock1 || o.number == coap::options::kBlock2) {
                    const coap::BlockResult b = coap::decode_block(o.value);
                    if (b.ok()) FUZZ_CHECK(b.block.szx < 7 && b.block.num < (1u << 20));
                }
                if (u && (o.number == coap::options::kContentFormat || o.number == coap::options::kAccept)) {
                    if (const auto name = coap::content_format_name(*u)) FUZZ_CHECK(coap::content_format_id(*name) == *u);
                }
                break;
            }
            case coap::OptionFormat::String:
                (void)coap::decode_string(o.value);
                break;
            default:
                break;
        }
    }
    for (std::uint8_t b : v.payload()) sum += b;
    FUZZ_CHECK(v.payload().empty() || v.payload().data() + v.payload().size() == data + size);
    const coap::OptionCheck c = coap::check_options(v);
    if (c.verdict != coap::OptionVerdict::Accept) FUZZ_CHECK(coap::is_critical(c.number));
    FUZZ_CHECK(!coap::to_string(c.problem).empty());
    FUZZ_CHECK(v.find(0xffff) <= v.option_count());
    return sum == 0xffffffff ? 1 : 0;
}
