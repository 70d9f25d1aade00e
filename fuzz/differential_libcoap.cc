// Fuzz target: the same bytes through our parser and libcoap 4.3's coap_pdu_parse
// (Debian's libcoap3-dev). They must agree on accept/reject and, when both accept, on
// type, code, message ID, token, every option (number and value) and the payload.
//
// Documented, reasoned differences (inputs in these classes are not compared):
//  1. More than MessageView::kMaxOptions (64) options: our implementation bound; libcoap
//     has none. Both behaviours are allowed by RFC 7252.
//  2. A registered option whose value length is outside the range libcoap 4.3 checks
//     (coap_pdu_parse_opt_base): libcoap fails the whole parse. RFC 7252 §5.4.3 says
//     such an option is treated as unrecognized: an elective one is ignored, a
//     critical one makes a CON request deserve 4.02 (§5.4.1). It is not a message
//     format error, so we parse the message and leave the verdict to check_options.
//     libcoap is wrong here against RFC 7252, and also disagrees with it on the ranges
//     themselves: it requires Uri-Query to be 1-255 bytes (RFC 7252 §5.10: 0-255).
//  3. Codes of class 7: libcoap applies the RFC 8323 signaling-option rules (e.g.
//     Max-Message-Size at most 4 bytes) even to UDP datagrams. Over UDP class 7 is
//     reserved (RFC 7252 §3, §12.1; RFC 8323 §5 defines signaling for reliable
//     transports only): not a format error, and our messaging layer rejects such a
//     message (RST for a CON, §4.2). Both end up refusing it; only the layer differs.
//  4. An option number past 65535 (a delta that carries the running number beyond 16
//     bits): libcoap accepts the message (its running number wraps); option numbers
//     are 16-bit (RFC 7252 §3.1, §12.2), so the message is malformed and we reject it
//     as option-number-too-large. libcoap is wrong here.
//  (Further entries are added here as the fuzzer finds them, each with the RFC rule
//  that decides who is right.)
// On disagreement the harness prints the input as hex and aborts.
#include <coap3/coap.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "coap/codec/message_view.h"

namespace {

void fail(const char* what, const std::uint8_t* data, std::size_t size) {
    std::fprintf(stderr, "differential_libcoap: %s\ninput:", what);
    for (std::size_t i = 0; i < size; ++i) std::fprintf(stderr, " %02x", data[i]);
    std::fprintf(stderr, "\n");
    std::abort();
}

// The length ranges libcoap 4.3 enforces while parsing (number, min, max).
struct Range {
    std::uint16_t number, min, max;
};
constexpr Range kLibcoapRanges[] = {
    {1, 0, 8},    {3, 1, 255},  {4, 1, 8},     {5, 0, 0},   {6, 0, 3},   {7, 0, 2},  {8, 0, 255},
    {9, 0, 255},  {11, 0, 255}, {12, 0, 2},    {14, 0, 4},  {15, 1, 255}, {16, 1, 1}, {17, 0, 2},
    {20, 0, 255}, {23, 0, 3},   {27, 0, 3},    {28, 0, 4},  {35, 1, 1034}, {39, 1, 255}, {60, 0, 4},
    {252, 0, 40}, {258, 0, 1},  {292, 0, 8},
};

bool libcoap_length_rule_applies(const coap::MessageView& m) {  // difference (2)
    for (coap::Option o : m) {
        for (const Range& r : kLibcoapRanges) {
            if (r.number == o.number && (o.value.size() < r.min || o.value.size() > r.max)) return true;
        }
    }
    return false;
}

struct LibcoapInit {
    LibcoapInit() {
        coap_startup();
        coap_set_log_level(LOG_EMERG);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static LibcoapInit init;
    coap::MessageView ours;
    const coap::ParseResult r = coap::parse(coap::Bytes(data, size), ours);
    if (r.error == coap::ParseError::TooManyOptions || r.error == coap::ParseError::MessageTooLarge) return 0;  // (1)
    if (r.error == coap::ParseError::OptionNumberTooLarge) return 0;                                          // (4)

    coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_EMPTY_CODE, 0, size);
    if (pdu == nullptr) return 0;
    const bool theirs = size > 0 && coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu) != 0;
    if (r.ok() && !theirs && (libcoap_length_rule_applies(ours) || ours.code().cls() == 7)) {  // (2), (3)
        coap_delete_pdu(pdu);
        return 0;
    }
    if (r.ok() != theirs) {
        coap_delete_pdu(pdu);
        fail(r.ok() ? "we accept, libcoap rejects" : "we reject, libcoap accepts", data, size);
    }
    if (!theirs) {
        coap_delete_pdu(pdu);
        return 0;
    }
    if (static_cast<int>(coap_pdu_get_type(pdu)) != static_cast<int>(ours.type())) fail("type differs", data, size);
    if (static_cast<std::uint8_t>(coap_pdu_get_code(pdu)) != ours.code().raw) fail("code differs", data, size);
    if (static_cast<std::uint16_t>(coap_pdu_get_mid(pdu)) != ours.message_id()) fail("mid differs", data, size);
    const coap_bin_const_t token = coap_pdu_get_token(pdu);
    if (coap::Bytes(token.s, token.length) != ours.token()) fail("token differs", data, size);
    coap_opt_iterator_t it;
    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    std::size_t i = 0;
    while (coap_opt_t* opt = coap_option_next(&it)) {
        if (i >= ours.option_count()) fail("libcoap has more options", data, size);
        const coap::Option o = ours.option(i++);
        if (it.number != o.number) fail("option number differs", data, size);
        if (coap::Bytes(coap_opt_value(opt), coap_opt_length(opt)) != o.value) fail("option value differs", data, size);
    }
    if (i != ours.option_count()) fail("we have more options", data, size);
    std::size_t len = 0;
    const std::uint8_t* payload = nullptr;
    const int has_data = coap_get_data(pdu, &len, &payload);
    const coap::Bytes theirs_payload = has_data ? coap::Bytes(payload, len) : coap::Bytes();
    if (theirs_payload != ours.payload()) fail("payload differs", data, size);
    coap_delete_pdu(pdu);
    return 0;
}
