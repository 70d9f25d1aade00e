#include "cli/options_json.h"

#include "cli/json.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

namespace coapbed::cli {

void append_option_json(std::string& out, const coap::Option& o) {
    using coap::OptionFormat;
    const coap::OptionInfo* info = coap::find_option(o.number);
    out.append("{\"number\":");
    out.append(std::to_string(o.number));
    out.append(",\"name\":");
    append_json_string(out, info != nullptr ? info->name : std::string_view("Unknown"));
    out.append(",\"value\":");
    const OptionFormat format = info != nullptr ? info->format : OptionFormat::Opaque;
    // decode_uint accepts leading zeros beyond 8 bytes; the JSON number is for values
    // that fit the uint format's 8-byte ceiling.
    const bool fits_uint = o.value.size() <= 8;
    const std::uint64_t uint_value = fits_uint ? coap::decode_uint(o.value).value_or(0) : 0;
    if (format == OptionFormat::Uint && fits_uint) {
        out.append(std::to_string(uint_value));
    } else if (format == OptionFormat::String) {
        append_json_string(out, o.value.as_chars());
    } else {
        // Empty options have an empty value and print as ""; a non-empty value of an
        // empty option, like an opaque one, prints as hex.
        out.push_back('"');
        append_hex(out, o.value);
        out.push_back('"');
    }
    const bool is_block = o.number == coap::options::kBlock1 || o.number == coap::options::kBlock2 ||
                          o.number == coap::options::kQBlock1 || o.number == coap::options::kQBlock2;
    if (is_block) {
        if (const coap::BlockResult b = coap::decode_block(o.value); b.ok()) {
            out.append(",\"block\":{\"num\":" + std::to_string(b.block.num) +
                       ",\"m\":" + (b.block.more ? "true" : "false") +
                       ",\"szx\":" + std::to_string(b.block.szx) +
                       ",\"size\":" + std::to_string(b.block.size()) + "}");
        }
    }
    const bool is_format = o.number == coap::options::kContentFormat || o.number == coap::options::kAccept;
    if (is_format && fits_uint) {
        if (const auto name = coap::content_format_name(uint_value)) {
            out.append(",\"content_format\":");
            append_json_string(out, *name);
        }
    }
    out.push_back('}');
}

std::string message_json(const coap::MessageView& view) {
    std::string json = "{\"version\":1,\"type\":\"";
    json.append(coap::to_string(view.type()));
    json.append("\",\"code\":\"");
    char code[4];
    coap::format_code(view.code(), code);
    json.append(code, 4);
    json.push_back('"');
    if (const auto name = coap::code_name(view.code())) {
        json.append(",\"code_name\":");
        append_json_string(json, *name);
    }
    json.append(",\"mid\":" + std::to_string(view.message_id()));
    json.append(",\"token\":\"");
    append_hex(json, view.token());
    json.append("\",\"options\":");
    struct ByIndex {
        const coap::MessageView& v;
        coap::Option operator[](std::size_t i) const { return v.option(i); }
    };
    append_options_json(json, ByIndex{view}, view.option_count());
    json.append(",\"payload\":\"");
    append_hex(json, view.payload());
    json.append("\"}\n");
    return json;
}

}  // namespace coapbed::cli
