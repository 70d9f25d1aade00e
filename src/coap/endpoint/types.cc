// The values that cross the endpoint's API (types.h): names and builders.
#include "coap/endpoint/types.h"

#include <algorithm>

#include "coap/options/registry.h"
#include "coap/options/values.h"

namespace coap {

std::string_view to_string(FailReason r) noexcept {
    switch (r) {
        case FailReason::None: return "none";
        case FailReason::Timeout: return "timeout";
        case FailReason::Reset: return "reset";
        case FailReason::Cancelled: return "cancelled";
        case FailReason::ResponseRejected: return "response-rejected";
        case FailReason::BodyTooLarge: return "body-too-large";
        case FailReason::RepresentationChanged: return "representation-changed";
        case FailReason::BlockError: return "block-error";
    }
    return "unknown";
}

std::string_view to_string(EventKind k) noexcept {
    switch (k) {
        case EventKind::Response: return "response";
        case EventKind::Notification: return "notification";
        case EventKind::RequestFailed: return "request-failed";
        case EventKind::ObservationEnded: return "observation-ended";
        case EventKind::Pong: return "pong";
        case EventKind::SeparateResponseFailed: return "separate-response-failed";
    }
    return "unknown";
}

std::string_view to_string(ApiError e) noexcept {
    switch (e) {
        case ApiError::Ok: return "ok";
        case ApiError::TooManyExchanges: return "too-many-exchanges";
        case ApiError::QueueFull: return "queue-full";
        case ApiError::UnknownExchange: return "unknown-exchange";
        case ApiError::MessageTooLarge: return "message-too-large";
        case ApiError::BadResource: return "bad-resource";
    }
    return "unknown";
}

Request& Request::path(std::string_view p) & {
    while (!p.empty() && p.front() == '/') p.remove_prefix(1);
    if (p.empty()) return *this;
    options.reserve(options.size() + 1 + static_cast<std::size_t>(std::count(p.begin(), p.end(), '/')));
    std::size_t pos = 0;
    while (true) {
        const std::size_t end = p.find('/', pos);
        const std::string_view seg = p.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        options.push_back(OwnedOption{options::kUriPath, {seg.begin(), seg.end()}});
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
    return *this;
}

Request& Request::query(std::string_view q) & { return option(options::kUriQuery, q); }

Request& Request::option(std::uint16_t number, std::string_view value) & {
    options.push_back(OwnedOption{number, {value.begin(), value.end()}});
    return *this;
}

Request& Request::option_uint(std::uint16_t number, std::uint64_t value) & {
    options.push_back(OwnedOption{number, encode_uint(value)});
    return *this;
}

Request& Request::body(std::string_view text) & {
    payload.assign(text.begin(), text.end());
    return *this;
}

Response Response::with(Code code, std::string_view text) {
    Response r;
    r.code = code;
    r.payload.assign(text.begin(), text.end());
    return r;
}

}  // namespace coap
