#include "coap/options/registry.h"

#include <iterator>

namespace coap {

std::string_view to_string(OptionFormat f) noexcept {
    switch (f) {
        case OptionFormat::Empty: return "empty";
        case OptionFormat::Opaque: return "opaque";
        case OptionFormat::Uint: return "uint";
        case OptionFormat::String: return "string";
    }
    return "unknown";
}

namespace {

using F = OptionFormat;

// IANA "CoAP Option Numbers" (RFC 7252 §12.2 and the documents named in each row).
// Formats and length bounds are those of the defining document's option table.
constexpr OptionInfo kRegistry[] = {
    {options::kIfMatch, "If-Match", F::Opaque, 0, 8, true, "RFC 7252"},
    {options::kUriHost, "Uri-Host", F::String, 1, 255, false, "RFC 7252"},
    {options::kETag, "ETag", F::Opaque, 1, 8, true, "RFC 7252"},
    {options::kIfNoneMatch, "If-None-Match", F::Empty, 0, 0, false, "RFC 7252"},
    {options::kObserve, "Observe", F::Uint, 0, 3, false, "RFC 7641"},
    {options::kUriPort, "Uri-Port", F::Uint, 0, 2, false, "RFC 7252"},
    {options::kLocationPath, "Location-Path", F::String, 0, 255, true, "RFC 7252"},
    {options::kOscore, "OSCORE", F::Opaque, 0, 255, false, "RFC 8613"},
    {options::kUriPath, "Uri-Path", F::String, 0, 255, true, "RFC 7252"},
    {options::kContentFormat, "Content-Format", F::Uint, 0, 2, false, "RFC 7252"},
    {options::kMaxAge, "Max-Age", F::Uint, 0, 4, false, "RFC 7252"},
    {options::kUriQuery, "Uri-Query", F::String, 0, 255, true, "RFC 7252"},
    {options::kHopLimit, "Hop-Limit", F::Uint, 1, 1, false, "RFC 8768"},
    {options::kAccept, "Accept", F::Uint, 0, 2, false, "RFC 7252"},
    {options::kQBlock1, "Q-Block1", F::Uint, 0, 3, false, "RFC 9177"},
    {options::kLocationQuery, "Location-Query", F::String, 0, 255, true, "RFC 7252"},
    {options::kEdhoc, "EDHOC", F::Empty, 0, 0, false, "RFC 9668"},
    {options::kBlock2, "Block2", F::Uint, 0, 3, false, "RFC 7959"},
    {options::kBlock1, "Block1", F::Uint, 0, 3, false, "RFC 7959"},
    {options::kSize2, "Size2", F::Uint, 0, 4, false, "RFC 7959"},
    {options::kQBlock2, "Q-Block2", F::Uint, 0, 3, false, "RFC 9177"},
    {options::kProxyUri, "Proxy-Uri", F::String, 1, 1034, false, "RFC 7252"},
    {options::kProxyScheme, "Proxy-Scheme", F::String, 1, 255, false, "RFC 7252"},
    {options::kSize1, "Size1", F::Uint, 0, 4, false, "RFC 7252"},
    {options::kEcho, "Echo", F::Opaque, 1, 40, false, "RFC 9175"},
    {options::kNoResponse, "No-Response", F::Uint, 0, 1, false, "RFC 7967"},
    {options::kRequestTag, "Request-Tag", F::Opaque, 0, 8, true, "RFC 9175"},
    {options::kOcfAcceptContentFormatVersion, "OCF-Accept-Content-Format-Version", F::Uint, 2, 2,
     false, "OCF Core Specification"},
    {options::kOcfContentFormatVersion, "OCF-Content-Format-Version", F::Uint, 2, 2, false,
     "OCF Core Specification"},
};

}  // namespace

const OptionInfo* registry_begin() noexcept { return std::begin(kRegistry); }
const OptionInfo* registry_end() noexcept { return std::end(kRegistry); }
std::size_t registry_size() noexcept { return std::size(kRegistry); }

namespace {
// Direct index for the numbers most messages carry (every option below 64): one load
// instead of a scan on every option of every message. 0xff: not registered.
constexpr std::size_t kDirect = 64;
struct DirectIndex {
    std::uint8_t at[kDirect];
    constexpr DirectIndex() : at() {
        for (std::size_t n = 0; n < kDirect; ++n) at[n] = 0xff;
        for (std::size_t i = 0; i < std::size(kRegistry); ++i) {
            if (kRegistry[i].number < kDirect) at[kRegistry[i].number] = static_cast<std::uint8_t>(i);
        }
    }
};
constexpr DirectIndex kDirectIndex;
}  // namespace

const OptionInfo* find_option(std::uint16_t number) noexcept {
    if (number < kDirect) {
        const std::uint8_t i = kDirectIndex.at[number];
        return i == 0xff ? nullptr : &kRegistry[i];
    }
    // The rest of the table is small and sorted; a linear scan that stops early.
    for (const OptionInfo& o : kRegistry) {
        if (o.number == number) return &o;
        if (o.number > number) break;
    }
    return nullptr;
}

const OptionInfo* find_option(std::string_view name) noexcept {
    for (const OptionInfo& o : kRegistry) {
        if (o.name == name) return &o;
    }
    return nullptr;
}

}  // namespace coap
