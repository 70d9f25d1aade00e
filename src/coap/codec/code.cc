#include "coap/codec/code.h"

namespace coap {

std::string_view to_string(MessageType t) noexcept {
    switch (t) {
        case MessageType::Con: return "CON";
        case MessageType::Non: return "NON";
        case MessageType::Ack: return "ACK";
        case MessageType::Rst: return "RST";
    }
    return "?";
}

void format_code(Code c, char out[4]) noexcept {
    out[0] = static_cast<char>('0' + c.cls());
    out[1] = '.';
    out[2] = static_cast<char>('0' + c.detail() / 10);
    out[3] = static_cast<char>('0' + c.detail() % 10);
}

namespace {
struct CodeName {
    std::uint8_t cls;
    std::uint8_t detail;
    std::string_view name;
};

// IANA "CoAP Method Codes" (RFC 7252 §12.1.1, RFC 8132) and "CoAP Response Codes"
// (RFC 7252 §12.1.2, RFC 7959, RFC 8132, RFC 8516, RFC 8768, RFC 9175).
constexpr CodeName kNames[] = {
    {0, 0, "Empty"},
    {0, 1, "GET"},
    {0, 2, "POST"},
    {0, 3, "PUT"},
    {0, 4, "DELETE"},
    {0, 5, "FETCH"},
    {0, 6, "PATCH"},
    {0, 7, "iPATCH"},
    {2, 1, "Created"},
    {2, 2, "Deleted"},
    {2, 3, "Valid"},
    {2, 4, "Changed"},
    {2, 5, "Content"},
    {2, 31, "Continue"},
    {4, 0, "Bad Request"},
    {4, 1, "Unauthorized"},
    {4, 2, "Bad Option"},
    {4, 3, "Forbidden"},
    {4, 4, "Not Found"},
    {4, 5, "Method Not Allowed"},
    {4, 6, "Not Acceptable"},
    {4, 8, "Request Entity Incomplete"},
    {4, 9, "Conflict"},
    {4, 12, "Precondition Failed"},
    {4, 13, "Request Entity Too Large"},
    {4, 15, "Unsupported Content-Format"},
    {4, 22, "Unprocessable Entity"},
    {4, 29, "Too Many Requests"},
    {5, 0, "Internal Server Error"},
    {5, 1, "Not Implemented"},
    {5, 2, "Bad Gateway"},
    {5, 3, "Service Unavailable"},
    {5, 4, "Gateway Timeout"},
    {5, 5, "Proxying Not Supported"},
    {5, 8, "Hop Limit Reached"},
};
}  // namespace

std::optional<std::string_view> code_name(Code c) noexcept {
    for (const auto& n : kNames) {
        if (n.cls == c.cls() && n.detail == c.detail()) return n.name;
    }
    return std::nullopt;
}

}  // namespace coap
