#include "coap/endpoint/endpoint.h"

#include <algorithm>

namespace coap {

namespace {

EndpointConfig normalised(EndpointConfig c) {
    if (!c.params.valid()) c.params = TransmissionParams{};
    if (find_congestion_strategy(c.congestion) == nullptr) c.congestion = "default";
    c.token_length = std::min<std::size_t>(c.token_length, 8);
    // RFC 7252 §5.3.1: without transport security, at least 32 bits of random token.
    if (!c.secured && !c.allow_short_tokens) c.token_length = std::max<std::size_t>(c.token_length, 4);
    c.block_szx = std::min<std::uint8_t>(c.block_szx, 6);
    if (c.max_peers == 0) c.max_peers = 1;
    return c;
}

}  // namespace

Endpoint::Endpoint(EndpointConfig config, Random& rng)
    : config_(normalised(std::move(config))),
      rng_(rng),
      congestion_name_(config_.congestion),
      events_(config_.max_events, stats_.events_dropped),
      messages_(config_, rng_, stats_, *this),
      client_(config_, rng_, stats_, messages_, events_, next_id_),
      server_(config_, rng_, stats_, messages_, events_, next_id_) {}

Endpoint::~Endpoint() = default;

// ---- input ------------------------------------------------------------------------

void Endpoint::handle_datagram(TimePoint now, const Peer& from, Bytes datagram) {
    messages_.handle_datagram(now, from, datagram, false);
}

void Endpoint::handle_multicast_datagram(TimePoint now, const Peer& from, Bytes datagram) {
    messages_.handle_datagram(now, from, datagram, true);
}

void Endpoint::handle_timeout(TimePoint now) {
    server_.send_delayed(now);
    messages_.handle_timeout(now);  // de-duplication expiry, retransmissions, give-ups
    client_.handle_timeout(now);    // response deadlines
    server_.handle_timeout(now);    // deferred exchanges and block-wise state
    messages_.pump_all(now);        // NSTART and PROBING_RATE may admit queued requests
}

void Endpoint::handle_unreachable(TimePoint, const Peer& peer) { server_.remove_observers_of(peer); }

// ---- commands ---------------------------------------------------------------------

SendResult Endpoint::send_request(TimePoint now, const Peer& to, const Request& request) {
    return client_.send_request(now, to, request);
}

SendResult Endpoint::send_request(TimePoint now, const Peer& to, Request&& request) {
    return client_.send_request(now, to, std::move(request));
}

ApiError Endpoint::cancel(TimePoint now, std::uint64_t id, bool deregister) { return client_.cancel(now, id, deregister); }

SendResult Endpoint::ping(TimePoint now, const Peer& to) {
    if (messages_.outstanding_count() >= config_.max_outstanding) return {ApiError::TooManyExchanges, 0};
    const std::uint64_t id = next_id_++;
    const std::uint16_t mid = messages_.mid_for(now, to);
    std::vector<std::uint8_t> bytes = messages_.buffer(4);
    MessageLayer::empty_message(bytes, MessageType::Con, mid);  // §4.3
    messages_.send_con(now, to, mid, std::move(bytes), Owner{OwnerKind::Ping, id, Token{}});
    return {ApiError::Ok, id};
}

ApiError Endpoint::add_resource(std::string path, ResourceConfig resource) {
    return server_.add_resource(std::move(path), std::move(resource));
}

ApiError Endpoint::respond(TimePoint now, std::uint64_t exchange_id, Response response) {
    return server_.respond(now, exchange_id, std::move(response));
}

std::size_t Endpoint::notify(TimePoint now, const std::string& path) { return server_.notify(now, path); }

std::size_t Endpoint::observer_count(const std::string& path) const { return server_.observer_count(path); }

// ---- output -----------------------------------------------------------------------

std::optional<Transmit> Endpoint::poll_transmit() { return messages_.poll_transmit(); }

std::optional<Event> Endpoint::poll_event() { return events_.poll(); }

std::optional<TimePoint> Endpoint::poll_timeout() const {
    std::optional<TimePoint> t = messages_.next_deadline();
    for (const std::optional<TimePoint>& x : {client_.next_deadline(), server_.next_deadline()}) {
        if (x && (!t || *x < *t)) t = x;
    }
    return t;
}

std::optional<Duration> Endpoint::current_rto(TimePoint now, const Peer& peer) const {
    return messages_.current_rto(now, peer);
}

std::string_view Endpoint::congestion_state(const Peer& peer) const { return messages_.congestion_state(peer); }

// ---- routing the message layer's reports -----------------------------------------

void Endpoint::on_request(TimePoint now, const Peer& from, const MessageView& m, bool multicast) {
    server_.on_request(now, from, m, multicast);
}

void Endpoint::on_response(TimePoint now, const Peer& from, const MessageView& m) { client_.on_response(now, from, m); }

void Endpoint::ping_event(EventKind kind, std::uint64_t id, const Peer& peer, Duration elapsed, unsigned retransmissions) {
    Event& e = events_.scratch();
    e.kind = kind;
    e.id = id;
    e.peer = peer;
    e.elapsed = elapsed;
    e.retransmissions = retransmissions;
    if (kind == EventKind::RequestFailed) e.reason = FailReason::Timeout;
    events_.push(e);
}

void Endpoint::on_acked(TimePoint now, const Peer& from, const Owner& owner, const MessageView& ack, Duration rtt) {
    switch (owner.kind) {
        case OwnerKind::ClientRequest: client_.on_acked(now, owner.id, ack); return;
        case OwnerKind::SeparateResponse: return;
        case OwnerKind::Notification: server_.on_notification_acked(from, owner.token); return;
        case OwnerKind::Ping: ping_event(EventKind::Pong, owner.id, from, rtt, 0); return;  // an ACK proves it alive too
    }
}

void Endpoint::on_reset(TimePoint now, const Peer& from, const Owner& owner, TimePoint first_sent) {
    switch (owner.kind) {
        case OwnerKind::ClientRequest: client_.on_reset(now, owner.id); return;
        case OwnerKind::Ping: ping_event(EventKind::Pong, owner.id, from, now - first_sent, 0); return;
        case OwnerKind::SeparateResponse: server_.on_separate_failed(from, owner.id, FailReason::Reset); return;
        case OwnerKind::Notification: server_.remove_observer(from, owner.token); return;  // RFC 7641 §3.6
    }
}

bool Endpoint::on_stray_reset(TimePoint, const Peer& from, std::uint16_t mid) { return server_.on_stray_reset(from, mid); }

bool Endpoint::may_retransmit(TimePoint now, const Peer& peer, const Owner& owner, std::size_t size) {
    // What the server sends on its own (separate responses, notifications) stays within
    // an unverified address's allowance on every copy (RFC 9175 §2.4).
    const bool server_sent = owner.kind == OwnerKind::SeparateResponse || owner.kind == OwnerKind::Notification;
    return !server_sent || server_.may_send(now, peer, size);
}

void Endpoint::on_retransmitted(const Owner& owner) {
    if (owner.kind == OwnerKind::ClientRequest) client_.on_retransmitted(owner.id);
}

void Endpoint::on_gave_up(TimePoint now, const Peer& peer, const Owner& owner, unsigned retransmissions,
                          TimePoint first_sent) {
    switch (owner.kind) {
        case OwnerKind::ClientRequest: client_.on_gave_up(now, owner.id); return;
        case OwnerKind::Ping:
            ping_event(EventKind::RequestFailed, owner.id, peer, now - first_sent, retransmissions);
            return;
        case OwnerKind::SeparateResponse: server_.on_separate_failed(peer, owner.id, FailReason::Timeout); return;
        case OwnerKind::Notification:
            server_.remove_observer(peer, owner.token);  // RFC 7641 §4.5: an unacknowledged CON notification
            return;
    }
}

void Endpoint::on_admitted(TimePoint now, std::uint64_t interaction) { client_.on_admitted(now, interaction); }

}  // namespace coap
