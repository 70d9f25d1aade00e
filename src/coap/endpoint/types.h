// Values that cross the endpoint's API: configuration, requests, responses, events and
// statistics.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coap/codec/message.h"
#include "coap/codec/parse_error.h"
#include "coap/common/peer.h"
#include "coap/common/time.h"
#include "coap/defence/echo.h"
#include "coap/messaging/params.h"
#include "coap/options/values.h"

namespace coap {

class MessageView;

/// Server-side defences against reflection and amplification (RFC 7252 §11.3, RFC 9175
/// §2.4). Every one is off by default; per-address state is bounded by max_peers.
struct ServerDefences {
    /// Answer a response larger than the allowance of an unverified address with 4.01
    /// and an Echo option (piggybacked or NON, never separate); a valid Echo verifies it.
    bool echo = false;
    std::shared_ptr<const MacFunction> echo_key;       ///< required for `echo`
    Duration echo_freshness = Duration::seconds(60);  ///< how old an Echo value may be
    Duration verified_for = Duration::seconds(600);   ///< how long a verified address stays so
    /// Bytes an unverified address may be sent, as a multiple of the bytes received from
    /// it (QUIC's anti-amplification rule uses 3). 0: no limit, or 3 when `echo` is on.
    double amplification_limit = 0;
    /// Bytes an unverified address may always be sent on top (RFC 9175 §2.4 suggests 136
    /// as the whole limit: set amplification_limit to a tiny ratio and this to 136).
    std::size_t initial_allowance = 0;
    /// Requests per second accepted from one address (token bucket, RFC 7252 §4.7 asks
    /// servers to limit the rate of responses); 0: no limit.
    double rate_limit = 0;
    double rate_burst = 10;  ///< bucket size, requests
    /// Only verified addresses may register as observers (RFC 7641); others get the
    /// representation without a registration.
    bool observe_verified_only = false;
    /// Observations one IP address (any port) may hold over all resources; 0: no limit
    /// beyond max_observers_per_resource.
    std::size_t max_observations_per_address = 0;

    /// Echo challenges are on (they need a key).
    [[nodiscard]] bool echo_enabled() const noexcept { return echo && echo_key != nullptr; }
    [[nodiscard]] bool any() const noexcept {
        return echo_enabled() || amplification_limit > 0 || rate_limit > 0 || observe_verified_only ||
               max_observations_per_address > 0;
    }
};

/// Everything an endpoint is configured with. Every table has a capacity here.
struct EndpointConfig {
    TransmissionParams params;               ///< RFC 7252 §4.8
    std::string congestion = "default";      ///< a name from congestion.h's registry
    std::size_t token_length = 8;            ///< 0-8; raised to 4 when !secured (§5.3.1)
    bool secured = false;                    ///< the transport is DTLS (tokens may be short)
    bool allow_short_tokens = false;         ///< experiments only: keep token_length < 4 without DTLS
    bool random_initial_mid = true;          ///< start each peer's MIDs at a random value (§4.4)
    std::size_t max_peers = 1024;            ///< per-peer state entries (MIDs, RTO state, queue)
    std::size_t dedup_capacity = 1024;       ///< §4.5 de-duplication entries, oldest evicted
    std::size_t max_exchanges = 1024;        ///< client exchanges, queued ones included
    std::size_t max_queue_per_peer = 64;     ///< requests waiting for NSTART per peer
    std::size_t max_outstanding = 1024;      ///< Confirmable messages awaiting an ACK
    std::size_t max_server_exchanges = 256;  ///< deferred requests awaiting `respond`
    std::size_t max_transmits = 4096;        ///< datagrams queued for the driver
    std::size_t max_events = 4096;           ///< events queued for the application
    std::size_t max_body = 1u << 20;         ///< largest block-wise body reassembled (bytes)
    std::size_t max_block1_transfers = 16;   ///< concurrent Block1 uploads reassembled, and POST/PUT
                                             ///< response bodies kept for Block2 continuation (server)
    std::uint8_t block_szx = 6;              ///< largest block this endpoint sends/serves (6: 1024 B)
    std::size_t max_observers_per_resource = 32;  ///< RFC 7641 observers per resource
    std::size_t max_proxy_observations = 64;      ///< targets observed through the proxy handler (Response::observe_key)
    bool confirmable_notifications = false;  ///< send every notification as CON
    Duration con_notification_interval = Duration::seconds(24 * 3600);  ///< RFC 7641 §4.5: a CON at least this often
    Duration non_request_timeout = Duration::seconds(93);     ///< wait for a NON request's response (MAX_TRANSMIT_WAIT)
    Duration separate_response_timeout = Duration::seconds(93); ///< wait after an empty ACK
    /// RSTs per second (burst as many, at least 1) for responses that match no request
    /// (RFC 7252 §4.2, §4.3); 0: no limit. Anyone can forge such responses from any address.
    double unmatched_rst_rate = 10;
    /// Server: how long a deferred CON request waits for `respond` before its empty ACK
    /// (RFC 7252 §5.2.2); an answer within it goes piggybacked in the ACK. 0: ACK at once.
    Duration separate_ack_delay = Duration::zero();
    ServerDefences defences;                 ///< server side, off by default
};

/// A request the application sends.
struct Request {
    Code method = Code::make(0, 1);
    bool confirmable = true;
    std::vector<OwnedOption> options;       ///< Uri-Path etc.; Block1/Block2/Observe are the endpoint's
    std::vector<std::uint8_t> payload;      ///< sent block-wise (Block1) when larger than a block
    bool observe = false;                   ///< register as an observer (Observe: 0, RFC 7641)
    std::optional<std::uint8_t> block2_szx; ///< ask for this block size up front (RFC 7959 §2.4)
    /// Ask for this one block only (Block2 with this number and `block2_szx`, or the
    /// endpoint's size) and deliver its response as it comes, Block2 and Size2 among its
    /// options: the application carries the transfer on itself (a pass-through proxy).
    std::optional<std::uint32_t> single_block2;

    /// Adds one Uri-Path option per "/"-separated segment of `path` (no decoding).
    Request& path(std::string_view path) &;
    /// Adds a Uri-Query option.
    Request& query(std::string_view q) &;
    /// Adds an option with a uint value in its shortest form.
    Request& option_uint(std::uint16_t number, std::uint64_t value) &;
    Request& option(std::uint16_t number, std::string_view value) &;
    Request& body(std::string_view text) &;
    // The same on a temporary, which they return as one, so that
    // `send_request(now, to, Request().path("a/b"))` moves the request instead of copying it.
    Request&& path(std::string_view p) && { return std::move(path(p)); }
    Request&& query(std::string_view q) && { return std::move(query(q)); }
    Request&& option_uint(std::uint16_t number, std::uint64_t value) && { return std::move(option_uint(number, value)); }
    Request&& option(std::uint16_t number, std::string_view value) && { return std::move(option(number, value)); }
    Request&& body(std::string_view text) && { return std::move(body(text)); }
};

/// A response a server handler produces.
struct Response {
    Code code = Code::make(2, 5);
    std::vector<OwnedOption> options;
    std::vector<std::uint8_t> payload;
    std::optional<std::uint16_t> content_format;
    std::optional<std::uint32_t> max_age;
    /// Set when `payload` holds only the block IncomingRequest::block2 names, of a body of
    /// this many bytes (RFC 7959 §2.4): a handler that reads just that block (a large
    /// file) instead of the whole body. The endpoint adds Block2 and Size2 as usual.
    std::optional<std::uint64_t> body_size;
    /// Set when `payload` is one block of a body the handler serves block by block itself
    /// (a pass-through proxy relaying an origin's block): sent with this Block2 as it is,
    /// neither sliced nor given a Size2 (put one in `options` if wanted).
    std::optional<Block> block2;
    /// A proxy handler's answer to an RFC 7641 registration (a GET with Observe: 0): the
    /// client becomes an observer under this key (the proxy's name for the observed target)
    /// as if it had registered with a resource of that name; Endpoint::notify(key) then
    /// calls the proxy handler again (IncomingRequest::is_notification, path = the key)
    /// for each of them. Empty: an ordinary answer. Resource handlers leave it empty.
    std::string observe_key;

    [[nodiscard]] static Response with(Code code, std::string_view text = {});
};

/// What a resource handler sees.
struct IncomingRequest {
    Peer peer;
    Code method;
    std::string path;                   ///< Uri-Path segments joined by "/", no leading "/"
    std::vector<std::string> query;     ///< Uri-Query values
    std::vector<std::uint8_t> payload;  ///< the whole body (Block1 reassembled)
    std::optional<std::uint16_t> content_format;
    std::optional<std::uint16_t> accept;
    bool is_notification = false;       ///< called to produce an RFC 7641 notification
    std::uint64_t exchange_id = 0;      ///< pass to Endpoint::respond after deferring
    TimePoint now;
    /// The whole request, every option in wire order; valid only during the handler call
    /// (nullptr for a notification).
    const MessageView* message = nullptr;
    /// The block a block-wise response to this request serves (RFC 7959 §2.4): the
    /// request's Block2 with its size capped at this endpoint's, or block 0 of this
    /// endpoint's size. See Response::body_size.
    Block block2{0, false, 6};
};

/// A handler's answer: a response now (piggybacked), or later through `respond`.
struct HandlerResult {
    bool deferred = false;
    Response response;
    [[nodiscard]] static HandlerResult defer() { HandlerResult r; r.deferred = true; return r; }
    HandlerResult() = default;
    HandlerResult(Response r) : response(std::move(r)) {}  // NOLINT: implicit by design
};

using Handler = std::function<HandlerResult(const IncomingRequest&)>;

/// Method bits for ResourceConfig::methods.
namespace methods {
inline constexpr unsigned kGet = 1u << 1, kPost = 1u << 2, kPut = 1u << 3, kDelete = 1u << 4, kFetch = 1u << 5;
inline constexpr unsigned kAll = kGet | kPost | kPut | kDelete | kFetch;
}  // namespace methods

struct ResourceConfig {
    unsigned methods = methods::kGet;          ///< others get 4.05 (RFC 7252 §5.9.2.6)
    /// Accepts RFC 7641 registrations. A registration the handler defers is made when
    /// `respond` answers it with a success; a notification calls the handler with
    /// `is_notification` set and must be answered at once (it cannot be deferred).
    bool observable = false;
    bool multicast = false;                    ///< answers requests sent to a multicast group (RFC 7252 §8.2)
    std::vector<std::uint16_t> accepted_formats; ///< non-empty: other request Content-Formats get 4.15
    Handler handler;
    /// The ETag of the current representation, for If-Match (RFC 7252 §5.10.8.1); empty:
    /// the resource has none, so an If-Match with a value never matches.
    std::function<std::vector<std::uint8_t>()> current_etag;
};

enum class EventKind : std::uint8_t {
    Response,          ///< a request completed (block-wise body assembled)
    Notification,      ///< a fresh RFC 7641 notification on an observation
    RequestFailed,     ///< a request ended without a response; see `reason`
    ObservationEnded,  ///< an observation was cancelled or the server ended it
    Pong,              ///< a CoAP ping was answered with RST (§4.3)
    SeparateResponseFailed, ///< server: a CON separate response or notification was not acknowledged
};

enum class FailReason : std::uint8_t {
    None,
    Timeout,             ///< MAX_RETRANSMIT reached, or no response in time
    Reset,               ///< the peer answered with RST
    Cancelled,           ///< the application cancelled it
    ResponseRejected,    ///< the response carried an unrecognized critical option (§5.4.1)
    BodyTooLarge,        ///< a block-wise body above EndpointConfig::max_body
    RepresentationChanged, ///< the ETag changed during a Block2 transfer (RFC 7959 §2.4)
    BlockError,          ///< an invalid or unexpected Block option
};
[[nodiscard]] std::string_view to_string(FailReason r) noexcept;
[[nodiscard]] std::string_view to_string(EventKind k) noexcept;

struct Event {  // swap_events (event_queue.h) names every member: add new ones there too
    EventKind kind = EventKind::Response;
    std::uint64_t id = 0;       ///< the request (or ping, or server exchange) it concerns
    Peer peer;
    Message message;            ///< the response or notification (payload: the whole body)
    FailReason reason = FailReason::None;
    unsigned retransmissions = 0;  ///< retransmissions this request needed, all blocks together
    Duration elapsed;           ///< from send_request to this event (queueing included)
    Duration in_flight;         ///< from the first transmission to this event (zero if never sent)
};

/// Why an application call was refused (API misuse or a full table; never a peer's doing).
enum class ApiError : std::uint8_t {
    Ok = 0,
    TooManyExchanges,   ///< max_exchanges reached
    QueueFull,          ///< max_queue_per_peer reached
    UnknownExchange,    ///< no such request / server exchange
    MessageTooLarge,    ///< the request cannot be encoded
    BadResource,        ///< add_resource with an empty handler or a duplicate path
};
[[nodiscard]] std::string_view to_string(ApiError e) noexcept;

struct SendResult {
    ApiError error = ApiError::Ok;
    std::uint64_t id = 0;
    [[nodiscard]] bool ok() const noexcept { return error == ApiError::Ok; }
};

/// A datagram for the driver to send.
struct Transmit {
    Peer peer;
    std::vector<std::uint8_t> bytes;
};

/// Counters per endpoint. The simulator and the reports read these.
struct EndpointStats {
    std::array<std::uint64_t, 4> sent_messages{};    ///< by MessageType (CON, NON, ACK, RST)
    std::array<std::uint64_t, 4> sent_bytes{};
    std::array<std::uint64_t, 4> received_messages{};
    std::array<std::uint64_t, 4> received_bytes{};
    std::uint64_t retransmissions = 0;       ///< CON retransmissions sent
    std::uint64_t duplicates_received = 0;   ///< §4.5 duplicates (CON and NON)
    std::uint64_t rst_sent = 0;
    std::uint64_t rst_received = 0;
    std::uint64_t rst_suppressed = 0;        ///< RSTs for unmatched responses not sent (unmatched_rst_rate)
    std::uint64_t exchanges_started = 0;     ///< client requests first sent
    std::uint64_t exchanges_completed = 0;
    std::uint64_t exchanges_failed = 0;
    std::uint64_t timeouts = 0;              ///< requests failed by timeout
    std::uint64_t requests_received = 0;     ///< server: new requests processed
    std::uint64_t responses_sent = 0;
    std::uint64_t notifications_sent = 0;
    std::uint64_t notifications_received = 0;
    std::uint64_t stale_notifications = 0;   ///< dropped by the RFC 7641 §3.4 freshness rule
    /// client: block-wise fetches of a standing observation given up: a block GET (or a
    /// re-registration) that got no answer (the observation stays), or a retransmitted block
    /// GET when a fresher notification came (that one is fetched instead)
    std::uint64_t observe_fetches_abandoned = 0;
    /// client: block-wise bodies of an observation not delivered because a fresher
    /// notification crossed their fetch and no ETag showed the blocks to be of one state
    std::uint64_t observe_bodies_discarded = 0;
    std::uint64_t format_errors = 0;         ///< datagrams that failed to parse
    std::array<std::uint64_t, 16> format_error_reasons{};  ///< by ParseError value
    std::uint64_t dropped_unexpected = 0;    ///< ACK/RST for nothing, reserved classes, misplaced codes
    std::uint64_t bad_option_responses = 0;  ///< 4.02 sent (§5.4.1)
    std::uint64_t proxying_not_supported = 0;  ///< 5.05 sent: Proxy-Uri/Proxy-Scheme to a non-proxy (§5.7.2)
    std::uint64_t dedup_evictions = 0;
    std::uint64_t transmits_dropped = 0;     ///< transmit queue full
    std::uint64_t events_dropped = 0;        ///< event queue full
    std::uint64_t probing_delays = 0;        ///< sends delayed by PROBING_RATE (§4.7)
    std::uint64_t echo_challenges = 0;       ///< 4.01 + Echo sent instead of a large response
    std::uint64_t echo_verified = 0;         ///< requests whose Echo verified their address
    std::uint64_t echo_expired = 0;          ///< Echo values that were ours but too old
    std::uint64_t echo_forged = 0;           ///< Echo values that were not ours for that address
    std::uint64_t amplification_dropped = 0; ///< responses not sent: over an unverified address's allowance
    std::uint64_t rate_limited = 0;          ///< requests dropped by the per-address rate limit
    std::uint64_t observe_refused = 0;       ///< registrations refused to unverified addresses
    std::uint64_t observers_unreachable = 0; ///< observers dropped because ICMP said their address is unreachable
    std::uint64_t echo_retries = 0;          ///< client: requests resent with a server's Echo
    std::uint64_t multicast_requests = 0;    ///< requests that arrived through a multicast group
    std::uint64_t multicast_ignored = 0;     ///< ... CON, or for a resource not open to multicast
    std::uint64_t multicast_suppressed = 0;  ///< ... whose error response was not sent (RFC 7390 §2.7)
    std::uint64_t rtt_samples = 0;        ///< ACKs timed from the first transmission
    std::uint64_t rtt_samples_taken = 0;  ///< those the congestion strategy took as a sample
    Duration rtt_sum;                        ///< over all samples (mean = sum / samples)
    Duration rtt_min = Duration::max();
    Duration rtt_max;
};

}  // namespace coap
