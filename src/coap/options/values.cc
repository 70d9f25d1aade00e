#include "coap/options/values.h"

#include "coap/codec/builder.h"

namespace coap {

std::optional<std::uint64_t> decode_uint(Bytes value) noexcept {
    std::size_t i = 0;
    while (i < value.size() && value[i] == 0) ++i;  // RFC 7252 §3.2: leading zeros allowed
    if (value.size() - i > 8) return std::nullopt;
    std::uint64_t v = 0;
    for (; i < value.size(); ++i) v = (v << 8) | value[i];
    return v;
}

std::vector<std::uint8_t> encode_uint(std::uint64_t value) {
    std::uint8_t bytes[8];
    return std::vector<std::uint8_t>(bytes, bytes + put_uint(value, bytes));
}

bool is_valid_utf8(Bytes s) noexcept {
    // RFC 3629 §4 syntax: checks lead byte, continuation count, overlongs, surrogates
    // and the U+10FFFF ceiling through the second byte's allowed range.
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const std::uint8_t c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t extra = 0;
        std::uint8_t lo = 0x80;
        std::uint8_t hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0) lo = 0xA0;  // overlong
            if (c == 0xED) hi = 0x9F;  // surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0) lo = 0x90;  // overlong
            if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
        } else {
            return false;
        }
        if (n - i - 1 < extra) return false;
        const std::uint8_t second = s[i + 1];
        if (second < lo || second > hi) return false;
        for (std::size_t k = 2; k <= extra; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
        }
        i += extra + 1;
    }
    return true;
}

std::optional<std::string_view> decode_string(Bytes value) noexcept {
    if (!is_valid_utf8(value)) return std::nullopt;
    return value.as_chars();
}

std::string_view to_string(BlockError e) noexcept {
    switch (e) {
        case BlockError::Ok: return "ok";
        case BlockError::TooLong: return "block-value-too-long";
        case BlockError::SzxReserved: return "block-szx-reserved";
    }
    return "unknown";
}

BlockResult decode_block(Bytes value) noexcept {
    BlockResult r;
    if (value.size() > 3) {  // RFC 7959 §2.1: Block1/Block2 are 0-3 bytes
        r.error = BlockError::TooLong;
        return r;
    }
    const std::uint32_t v = static_cast<std::uint32_t>(*decode_uint(value));
    r.block.num = v >> 4;
    r.block.more = (v & 0x08u) != 0;
    r.block.szx = static_cast<std::uint8_t>(v & 0x07u);
    if (r.block.szx == 7) r.error = BlockError::SzxReserved;  // RFC 7959 §2.2
    return r;
}

std::optional<std::uint8_t> szx_for_size(std::uint32_t size) noexcept {
    for (std::uint8_t szx = 0; szx <= 6; ++szx) {
        if ((16u << szx) == size) return szx;
    }
    return std::nullopt;
}

namespace {
struct ContentFormat {
    std::uint16_t id;
    std::string_view name;
};
// IANA "CoAP Content-Formats" (RFC 7252 §12.3 and later registrations), common entries.
constexpr ContentFormat kContentFormats[] = {
    {0, "text/plain;charset=utf-8"},
    {16, "application/cose;cose-type=\"cose-encrypt0\""},
    {17, "application/cose;cose-type=\"cose-mac0\""},
    {18, "application/cose;cose-type=\"cose-sign1\""},
    {19, "application/ace+cbor"},
    {21, "image/gif"},
    {22, "image/jpeg"},
    {23, "image/png"},
    {40, "application/link-format"},
    {41, "application/xml"},
    {42, "application/octet-stream"},
    {47, "application/exi"},
    {50, "application/json"},
    {51, "application/json-patch+json"},
    {52, "application/merge-patch+json"},
    {60, "application/cbor"},
    {61, "application/cwt"},
    {62, "application/multipart-core"},
    {63, "application/cbor-seq"},
    {96, "application/cose;cose-type=\"cose-encrypt\""},
    {97, "application/cose;cose-type=\"cose-mac\""},
    {98, "application/cose;cose-type=\"cose-sign\""},
    {101, "application/cose-key"},
    {102, "application/cose-key-set"},
    {110, "application/senml+json"},
    {111, "application/sensml+json"},
    {112, "application/senml+cbor"},
    {113, "application/sensml+cbor"},
    {114, "application/senml-exi"},
    {115, "application/sensml-exi"},
    {256, "application/coap-group+json"},
    {271, "application/dots+cbor"},
    {272, "application/missing-blocks+cbor-seq"},
    {280, "application/pkcs7-mime;smime-type=server-generated-key"},
    {281, "application/pkcs7-mime;smime-type=certs-only"},
    {284, "application/pkcs8"},
    {285, "application/csrattrs"},
    {286, "application/pkcs10"},
    {287, "application/pkix-cert"},
    {310, "application/senml+xml"},
    {311, "application/sensml+xml"},
    {320, "application/senml-etch+json"},
    {322, "application/senml-etch+cbor"},
    {432, "application/td+json"},
    {10000, "application/vnd.ocf+cbor"},
    {10001, "application/oscore"},
    {11050, "application/json;deflate"},
    {11060, "application/cbor;deflate"},
    {11542, "application/vnd.oma.lwm2m+tlv"},
    {11543, "application/vnd.oma.lwm2m+json"},
    {11544, "application/vnd.oma.lwm2m+cbor"},
    {20000, "text/css"},
    {30000, "image/svg+xml"},
};
}  // namespace

std::optional<std::string_view> content_format_name(std::uint64_t id) noexcept {
    for (const auto& cf : kContentFormats) {
        if (cf.id == id) return cf.name;
    }
    return std::nullopt;
}

std::optional<std::uint16_t> content_format_id(std::string_view name) noexcept {
    for (const auto& cf : kContentFormats) {
        if (cf.name == name) return cf.id;
    }
    return std::nullopt;
}

}  // namespace coap
