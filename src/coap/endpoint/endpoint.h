// The sans-I/O CoAP endpoint: reliable messaging (RFC 7252 §4), exchanges (§5),
// block-wise transfers (RFC 7959) and observe (RFC 7641), client and server roles in
// one object. It is a thin composition of the engine's layers, each with its own header:
//
//     Endpoint (this file): the driver contract below; routes between the layers
//       ├─ ClientLayer  (client/client.h):   requests, token matching, Block1/Block2, observe client, Echo retry
//       ├─ ServerLayer  (server/server.h):   resources, dispatch, separate responses, block-wise and observe server,
//       │                                      multicast answers, the defences (defence/guard.h)
//       └─ MessageLayer (messaging/message_layer.h): MIDs, CON retransmission through a congestion strategy,
//                                              ACK/RST matching, de-duplication, NSTART, PROBING_RATE, the transmit queue
//
// Driving it (STYLE §1, ARCHITECTURE.md):
//
//     endpoint.handle_datagram(now, peer, bytes);   // for every datagram received
//     endpoint.handle_timeout(now);                 // when poll_timeout() has passed
//     while (auto t = endpoint.poll_transmit()) send(t->peer, t->bytes);
//     while (auto e = endpoint.poll_event()) app(*e);
//     arm the timer at endpoint.poll_timeout();
//
// After every input (handle_*, send_request, respond, notify, cancel, ping) drain
// poll_transmit, then poll_event, then re-arm the timer. The endpoint never reads a
// clock: `now` must not go backwards between calls. handle_timeout called early is a
// harmless no-op. Nothing a peer sends can make it throw, crash or grow a table past
// its configured capacity (types.h, EndpointConfig).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "coap/client/client.h"
#include "coap/codec/message_view.h"
#include "coap/common/random.h"
#include "coap/congestion/congestion.h"
#include "coap/endpoint/event_queue.h"
#include "coap/endpoint/types.h"
#include "coap/messaging/dedup.h"
#include "coap/messaging/message_layer.h"
#include "coap/server/server.h"

namespace coap {

class Endpoint final : private MessageLayer::Upper {
public:
    /// `rng` must outlive the endpoint. An unknown congestion name falls back to
    /// "default" (check with `congestion_name()`); invalid params are replaced by the
    /// RFC defaults.
    Endpoint(EndpointConfig config, Random& rng);
    ~Endpoint();
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    // ---- input -------------------------------------------------------------------
    /// A datagram from `from`. Malformed ones are counted; a malformed CON gets RST.
    void handle_datagram(TimePoint now, const Peer& from, Bytes datagram);
    /// A datagram that was sent to a multicast group this endpoint listens on (RFC 7252
    /// §8): only NON requests for resources open to multicast are answered, after a
    /// random delay within DEFAULT_LEISURE (§8.2), errors not at all (RFC 7390 §2.7).
    void handle_multicast_datagram(TimePoint now, const Peer& from, Bytes datagram);
    /// Runs every timer due at `now` (retransmissions, give-ups, response deadlines).
    void handle_timeout(TimePoint now);
    /// The network said `peer` is unreachable (an ICMP port, host or network unreachable
    /// for a datagram sent to it): its observations end (RFC 7641 §4.5 lets a server drop
    /// an observer it cannot reach).
    void handle_unreachable(TimePoint now, const Peer& peer);

    // ---- client ------------------------------------------------------------------
    /// Starts a request to `to` (queued while NSTART exchanges are outstanding there).
    /// The result's id names it in later events. A request passed as an lvalue is copied
    /// into storage the endpoint keeps from earlier exchanges (no allocation once warm,
    /// for an application that sends a prepared request again); a temporary is moved in.
    [[nodiscard]] SendResult send_request(TimePoint now, const Peer& to, const Request& request);
    [[nodiscard]] SendResult send_request(TimePoint now, const Peer& to, Request&& request);
    /// Cancels a request or an observation. An established observation is ended with
    /// a GET carrying Observe: 1 (RFC 7641 §3.6) when `deregister` is true; otherwise
    /// it is forgotten and the next notification is answered with RST.
    [[nodiscard]] ApiError cancel(TimePoint now, std::uint64_t id, bool deregister = true);
    /// Sends a CoAP ping (an Empty CON, §4.3); a Pong or RequestFailed event follows.
    [[nodiscard]] SendResult ping(TimePoint now, const Peer& to);

    // ---- server ------------------------------------------------------------------
    /// Serves `path` ("sensors/temp", no leading "/"). Errors: BadResource.
    [[nodiscard]] ApiError add_resource(std::string path, ResourceConfig resource);
    /// Handles every request carrying Proxy-Uri or Proxy-Scheme (a forward proxy, see
    /// ServerLayer::set_proxy_handler and proxy/forward_proxy.h); without it they get 5.05.
    [[nodiscard]] ApiError set_proxy_handler(Handler handler) { return server_.set_proxy_handler(std::move(handler)); }
    /// Answers a request whose handler returned HandlerResult::defer() with a separate
    /// response (CON for a CON request, §5.2.2; NON for a NON request).
    [[nodiscard]] ApiError respond(TimePoint now, std::uint64_t exchange_id, Response response);
    /// Sends a notification to every observer of `path` (RFC 7641 §4.2); returns how many.
    std::size_t notify(TimePoint now, const std::string& path);
    [[nodiscard]] std::size_t observer_count(const std::string& path) const;

    // ---- output ------------------------------------------------------------------
    [[nodiscard]] std::optional<Transmit> poll_transmit();
    [[nodiscard]] std::optional<Event> poll_event();
    /// The same, swapping with `into`: a driver that keeps one Transmit (Event) and polls
    /// into it hands its old buffers back, so that steady state allocates nothing.
    [[nodiscard]] bool poll_transmit(Transmit& into) { return messages_.poll_transmit(into); }
    [[nodiscard]] bool poll_event(Event& into) { return events_.poll(into); }
    /// The earliest time handle_timeout has work, or nothing when idle.
    [[nodiscard]] std::optional<TimePoint> poll_timeout() const;

    // ---- state -------------------------------------------------------------------
    [[nodiscard]] const EndpointStats& stats() const noexcept { return stats_; }
    [[nodiscard]] const EndpointConfig& config() const noexcept { return config_; }
    [[nodiscard]] std::string_view congestion_name() const noexcept { return congestion_name_; }
    /// The current RTO toward `peer` (the strategy's base RTO), if the peer is known.
    [[nodiscard]] std::optional<Duration> current_rto(TimePoint now, const Peer& peer) const;
    /// The congestion strategy's state toward `peer` (FASOR: FAST, FAST_SLOW_FAST,
    /// SLOW_FAST), empty when there is none; for traces.
    [[nodiscard]] std::string_view congestion_state(const Peer& peer) const;
    [[nodiscard]] std::size_t active_exchanges() const noexcept { return client_.active(); }
    /// The token of the client request `id` while it is active; nothing once it has ended.
    [[nodiscard]] std::optional<Token> token_of(std::uint64_t id) const { return client_.token_of(id); }
    [[nodiscard]] std::size_t dedup_size() const noexcept { return messages_.dedup().size(); }
    [[nodiscard]] std::size_t peer_count() const noexcept { return messages_.peer_count(); }
    [[nodiscard]] std::size_t outstanding_count() const noexcept { return messages_.outstanding_count(); }
    [[nodiscard]] std::size_t block1_transfer_count() const noexcept { return server_.block1_transfer_count(); }
    [[nodiscard]] std::size_t cached_response_count() const noexcept { return server_.cached_response_count(); }
    [[nodiscard]] std::size_t queued_transmits() const noexcept { return messages_.queued_transmits(); }
    [[nodiscard]] std::size_t queued_events() const noexcept { return events_.size(); }
    [[nodiscard]] std::size_t defence_entries() const noexcept { return server_.defence_entries(); }

private:
    // MessageLayer::Upper: the message layer reports here; the endpoint routes each report
    // to the client or the server by the Confirmable message's owner.
    void on_request(TimePoint now, const Peer& from, const MessageView& m, bool multicast) override;
    void on_response(TimePoint now, const Peer& from, const MessageView& m) override;
    void on_acked(TimePoint now, const Peer& from, const Owner& owner, const MessageView& ack, Duration rtt) override;
    void on_reset(TimePoint now, const Peer& from, const Owner& owner, TimePoint first_sent) override;
    bool on_stray_reset(TimePoint now, const Peer& from, std::uint16_t mid) override;
    bool may_retransmit(TimePoint now, const Peer& peer, const Owner& owner, std::size_t size) override;
    void on_retransmitted(const Owner& owner) override;
    void on_gave_up(TimePoint now, const Peer& peer, const Owner& owner, unsigned retransmissions,
                    TimePoint first_sent) override;
    void on_admitted(TimePoint now, std::uint64_t interaction) override;
    void ping_event(EventKind kind, std::uint64_t id, const Peer& peer, Duration elapsed, unsigned retransmissions);

    EndpointConfig config_;
    Random& rng_;
    std::string congestion_name_;
    EndpointStats stats_;
    std::uint64_t next_id_ = 1;  ///< ids of requests, pings and deferred server exchanges
    EventQueue events_;
    MessageLayer messages_;
    ClientLayer client_;
    ServerLayer server_;
};

}  // namespace coap
