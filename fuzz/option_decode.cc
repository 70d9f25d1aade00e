// Fuzz target: typed option decoders and the receiver checks of RFC 7252 §5.4 on
// arbitrary option lists, against a direct restatement of the rules.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "byte_reader.h"
#include "check.h"
#include "coap/codec/builder.h"
#include "coap/options/check.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coapbed::fuzz::ByteReader in(data, size);
    const auto type = static_cast<coap::MessageType>(in.u8() & 3);
    coap::Code code{in.u8()};
    if (code.is_empty()) code = coap::codes::kGet;
    coap::MessageBuilder b(type, code, in.u16());
    const auto token = in.bytes(12);
    const coap::BuildError token_result = b.set_token(coap::Bytes(token.data(), token.size()));
    FUZZ_CHECK((token_result == coap::BuildError::TokenTooLong) == (token.size() > 8));
    FUZZ_CHECK(!coap::to_string(token_result).empty());
    // The receiver's own set: every registered option, or only those the input names.
    const bool own_set = in.flag();
    coap::RecognizedOptions recognized = own_set ? coap::RecognizedOptions::none() : coap::RecognizedOptions::registered();
    std::vector<std::uint16_t> own;
    if (own_set) {
        const std::size_t k = in.u8() % 80;
        for (std::size_t i = 0; i < k; ++i) {
            const std::uint16_t number = (coap::registry_begin() + in.u8() % coap::registry_size())->number;
            const bool added = recognized.add(number);
            const bool present = std::find(own.begin(), own.end(), number) != own.end();
            FUZZ_CHECK(added == (present || own.size() < coap::RecognizedOptions::kCapacity));
            if (added && !present) own.push_back(number);
        }
    }
    struct Opt {
        std::uint16_t number;
        std::vector<std::uint8_t> value;
    };
    std::vector<Opt> opts;
    const std::size_t n = in.u8() % (coap::MessageBuilder::kMaxOptions + 1);
    for (std::size_t i = 0; i < n && !in.empty(); ++i) {
        // Mostly registered numbers (and their neighbours), sometimes anything.
        std::uint16_t number = in.u16();
        if ((number & 0x8000) == 0) {
            const std::size_t k = number % coap::registry_size();
            number = static_cast<std::uint16_t>((coap::registry_begin() + k)->number + ((number >> 8) & 1));
        }
        opts.push_back(Opt{number, in.bytes(300)});
    }
    for (const Opt& o : opts) FUZZ_CHECK(b.add_option(o.number, coap::Bytes(o.value.data(), o.value.size())) == coap::BuildError::Ok);
    if (opts.size() == coap::MessageBuilder::kMaxOptions) FUZZ_CHECK(b.add_uint(1, 1) == coap::BuildError::TooManyOptions);
    std::vector<std::uint8_t> wire(b.encoded_size());
    const coap::BuildResult built = b.build(coap::MutableBytes(wire.data(), wire.size()));
    if (!built.ok()) return 0;
    coap::MessageView v;
    FUZZ_CHECK(coap::parse(coap::Bytes(wire.data(), built.size), v).ok());
    FUZZ_CHECK(v.option_count() == opts.size());

    // Restate §5.4.1, §5.4.3, §5.4.5 directly.
    std::stable_sort(opts.begin(), opts.end(), [](const Opt& a, const Opt& c) { return a.number < c.number; });
    bool critical_problem = false;
    std::uint64_t ignored = 0;
    for (std::size_t i = 0; i < opts.size(); ++i) {
        const coap::OptionInfo* info = coap::find_option(opts[i].number);
        const bool known = own_set ? std::find(own.begin(), own.end(), opts[i].number) != own.end() : info != nullptr;
        const bool bad = !known || info == nullptr || opts[i].value.size() < info->min_length ||
                         opts[i].value.size() > info->max_length ||
                         (!info->repeatable && i > 0 && opts[i - 1].number == opts[i].number);
        if (!bad) continue;
        if (coap::is_critical(opts[i].number)) {
            critical_problem = true;
            break;
        }
        ignored |= std::uint64_t{1} << i;
    }
    const coap::OptionCheck c = coap::check_options(v, recognized);
    FUZZ_CHECK((c.verdict != coap::OptionVerdict::Accept) == critical_problem);
    if (!critical_problem) FUZZ_CHECK(c.ignored_mask == ignored);
    if (critical_problem) {
        const bool con_request = code.is_request() && type == coap::MessageType::Con;
        FUZZ_CHECK((c.verdict == coap::OptionVerdict::RespondBadOption) == con_request);
    }
    // Typed decoders never fail on in-range values.
    for (const Opt& o : opts) {
        const coap::Bytes value(o.value.data(), o.value.size());
        const auto u = coap::decode_uint(value);
        if (o.value.size() <= 8) FUZZ_CHECK(u.has_value());
        const coap::BlockResult blk = coap::decode_block(value);
        FUZZ_CHECK(!coap::to_string(blk.error).empty());
        if (o.value.size() <= 3 && blk.ok()) {
            FUZZ_CHECK(coap::encode_block(blk.block) == (u.value_or(0) & 0xffffffu));
            FUZZ_CHECK(coap::szx_for_size(blk.block.size()) == blk.block.szx);
            const coap::BlockResult again = coap::decode_block(value);
            FUZZ_CHECK(again.block == blk.block);
        }
        if (u && *u <= 0xffffffffu) {
            const auto szx = coap::szx_for_size(static_cast<std::uint32_t>(*u));
            if (szx) FUZZ_CHECK((16u << *szx) == *u);
        }
        (void)coap::decode_string(value);
        if (u) (void)coap::content_format_name(*u);
    }
    return 0;
}
