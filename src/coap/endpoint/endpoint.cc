#include "coap/endpoint/endpoint.h"

#include <algorithm>

#include "coap/codec/message.h"
#include "coap/codec/writer.h"
#include "coap/observe/freshness.h"
#include "coap/options/check.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

namespace coap {

// ---------------------------------------------------------------------------------
// Internal state

struct Endpoint::Outstanding {
    Peer peer;
    std::uint16_t mid = 0;
    std::vector<std::uint8_t> bytes;
    TimePoint first_sent;
    TimePoint deadline;
    Duration timeout;
    FirstTimeout first;
    unsigned retransmissions = 0;
    Owner owner = Owner::ClientRequest;
    std::uint64_t owner_id = 0;
    Token token;  ///< for notifications: the observer's token
};

struct Endpoint::PeerState {
    std::unique_ptr<CongestionControl> cc;
    std::uint16_t mid = 0;
    std::size_t in_flight = 0;        ///< NSTART slots in use (§4.7)
    std::deque<std::uint64_t> queue;  ///< exchanges waiting for a slot
    TimePoint last_used;
    bool unresponsive = false;        ///< a CON to it timed out and nothing was heard since (§4.7)
    TimePoint next_probe_allowed;     ///< PROBING_RATE pacing while unresponsive
};

struct Endpoint::DefenceState {
    std::uint64_t received = 0;  ///< bytes received from the address
    std::uint64_t sent = 0;      ///< bytes sent to it while unverified
    TimePoint verified_until;    ///< verified before this (never: the clock's origin)
    double tokens = 0;           ///< rate-limit bucket
    TimePoint refilled;
    TimePoint last_seen;
};

struct Endpoint::ClientExchange {
    enum class State : std::uint8_t { Queued, AwaitingAck, AwaitingResponse, Observing };
    std::uint64_t id = 0;
    Peer peer;
    Token token;
    Request request;
    State state = State::Queued;
    bool holds_slot = false;
    std::uint16_t mid = 0;
    TimePoint started;
    TimePoint first_sent;
    bool sent = false;
    bool has_deadline = false;
    TimePoint deadline;
    unsigned retransmissions = 0;
    bool deregistering = false;  ///< the next message carries Observe: 1
    std::vector<std::uint8_t> echo;  ///< RFC 9175 §2.3: the server's Echo, repeated in our requests
    // RFC 7959 Block2 download
    std::uint32_t block2_num = 0;
    std::optional<std::uint8_t> block2_szx;
    std::vector<std::uint8_t> body;
    bool have_etag = false;
    std::vector<std::uint8_t> etag;
    // RFC 7959 Block1 upload
    bool block1_done = false;
    std::uint32_t block1_num = 0;
    std::uint8_t block1_szx = 6;
    // RFC 7641
    bool observing = false;
    ObserveFreshness freshness;
};

struct Endpoint::ServerExchange {
    Peer peer;
    Token token;
    bool confirmable = true;
    TimePoint expires;
};

struct Endpoint::Observer {
    Peer peer;
    Token token;
    std::vector<std::string> query;
    std::optional<std::uint16_t> accept;
    TimePoint last_con;
    bool con_outstanding = false;
    std::uint16_t con_mid = 0;
};

struct Endpoint::Resource {
    std::string path;
    ResourceConfig config;
    std::uint32_t seq = 0;  ///< RFC 7641 §4.4: 24-bit notification sequence
    std::vector<Observer> observers;
};

struct Endpoint::Block1Transfer {
    std::vector<std::uint8_t> body;
    TimePoint expires;
};

struct Endpoint::CachedResponse {
    Response response;
    TimePoint expires;
};

/// How a response is shaped besides its content: the request's Block2 wishes, the
/// Block1 option to echo, the Observe sequence number.
struct Endpoint::ResponseShape {
    std::optional<Block> request_block2;
    std::optional<Block> block1_echo;
    std::optional<std::uint32_t> observe_seq;
};

// ---------------------------------------------------------------------------------
// Small helpers

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

Request& Request::path(std::string_view p) {
    while (!p.empty() && p.front() == '/') p.remove_prefix(1);
    if (p.empty()) return *this;
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

Request& Request::query(std::string_view q) { return option(options::kUriQuery, q); }

Request& Request::option(std::uint16_t number, std::string_view value) {
    options.push_back(OwnedOption{number, {value.begin(), value.end()}});
    return *this;
}

Request& Request::option_uint(std::uint16_t number, std::uint64_t value) {
    options.push_back(OwnedOption{number, encode_uint(value)});
    return *this;
}

Request& Request::body(std::string_view text) {
    payload.assign(text.begin(), text.end());
    return *this;
}

Response Response::with(Code code, std::string_view text) {
    Response r;
    r.code = code;
    r.payload.assign(text.begin(), text.end());
    return r;
}

namespace {

// Room for a message with `options`, a token of up to 8 bytes and `payload` bytes of
// payload (size_bound), plus `uints` uint options of at most 8 bytes and
// `extra_options` bytes of other options (headers included).
std::size_t message_bound(const std::vector<OwnedOption>& options, std::size_t uints, std::size_t extra_options,
                          std::size_t payload) {
    return size_bound(options, 8, payload) + uints * (5 + 8) + extra_options;
}

// What a writer into `out` wrote: `out` cut to the message, or empty on error.
std::vector<std::uint8_t> written(std::vector<std::uint8_t> out, BuildResult r) {
    out.resize(r.ok() ? r.size : 0);
    return out;
}

// A reply of a header and a token alone (error codes).
std::vector<std::uint8_t> header_only(MessageType type, Code code, std::uint16_t mid, Bytes token) {
    std::vector<std::uint8_t> out(4 + 8);
    MessageWriter w(MutableBytes(out.data(), out.size()), type, code, mid, token);
    return written(std::move(out), w.finish());
}

// An Empty message (RFC 7252 §4.1): ACK, RST or ping.
std::vector<std::uint8_t> empty_message(MessageType type, std::uint16_t mid) {
    return header_only(type, codes::kEmpty, mid, Bytes());
}

std::optional<std::uint64_t> uint_option(const MessageView& m, std::uint16_t number) {
    const std::size_t i = m.find(number);
    if (i == m.option_count()) return std::nullopt;
    return decode_uint(m.option(i).value);
}

std::optional<Block> block_option(const MessageView& m, std::uint16_t number, bool& invalid) {
    const std::size_t i = m.find(number);
    if (i == m.option_count()) return std::nullopt;
    const BlockResult r = decode_block(m.option(i).value);
    if (!r.ok()) {
        invalid = true;
        return std::nullopt;
    }
    return r.block;
}

constexpr bool is_success(Code c) noexcept { return c.cls() == 2; }

}  // namespace

// ---------------------------------------------------------------------------------
// Construction and bookkeeping

Endpoint::Endpoint(EndpointConfig config, Random& rng)
    : config_(std::move(config)), rng_(rng), dedup_(config_.dedup_capacity) {
    if (!config_.params.valid()) config_.params = TransmissionParams{};
    if (find_congestion_strategy(config_.congestion) == nullptr) config_.congestion = "default";
    congestion_name_ = config_.congestion;
    config_.token_length = std::min<std::size_t>(config_.token_length, 8);
    // RFC 7252 §5.3.1: without transport security, at least 32 bits of random token.
    if (!config_.secured && !config_.allow_short_tokens) {
        config_.token_length = std::max<std::size_t>(config_.token_length, 4);
    }
    config_.block_szx = std::min<std::uint8_t>(config_.block_szx, 6);
    if (config_.max_peers == 0) config_.max_peers = 1;
}

Endpoint::~Endpoint() = default;

Endpoint::PeerState* Endpoint::find_peer(const Peer& peer) {
    auto it = peers_.find(peer);
    return it == peers_.end() ? nullptr : it->second.get();
}

Endpoint::PeerState& Endpoint::peer_state(TimePoint now, const Peer& peer) {
    if (PeerState* ps = find_peer(peer)) {
        ps->last_used = now;
        return *ps;
    }
    if (peers_.size() >= config_.max_peers) {
        // Evict the least recently used idle peer; CoCoA asks for state to be kept at
        // least 255 s, which holds unless more than max_peers peers are active within it.
        auto victim = peers_.end();
        for (auto it = peers_.begin(); it != peers_.end(); ++it) {
            const PeerState& s = *it->second;
            if (s.in_flight != 0 || !s.queue.empty()) continue;
            if (victim == peers_.end() || s.last_used < victim->second->last_used) victim = it;
        }
        if (victim != peers_.end()) peers_.erase(victim);
    }
    auto ps = std::make_unique<PeerState>();
    ps->cc = make_congestion_control(config_.congestion, config_.params);
    // RFC 7252 §4.4: the initial Message ID should be randomized.
    ps->mid = config_.random_initial_mid ? static_cast<std::uint16_t>(rng_.below(65536)) : 0;
    ps->last_used = now;
    PeerState& ref = *ps;
    peers_[peer] = std::move(ps);
    return ref;
}

std::uint16_t Endpoint::next_mid(PeerState& ps) { return ps.mid++; }

std::uint16_t Endpoint::mid_for(TimePoint now, const Peer& peer) {
    if (peers_.size() < config_.max_peers || find_peer(peer) != nullptr) return next_mid(peer_state(now, peer));
    return fallback_mid_++;  // the peer table is full of busy peers
}

void Endpoint::transmit(const Peer& peer, std::vector<std::uint8_t> bytes) {
    if (bytes.size() < 4) return;
    if (transmits_.size() >= config_.max_transmits) {
        ++stats_.transmits_dropped;
        return;
    }
    const auto type = static_cast<std::size_t>((bytes[0] >> 4) & 0x03);
    ++stats_.sent_messages[type];
    stats_.sent_bytes[type] += bytes.size();
    if (type == static_cast<std::size_t>(MessageType::Rst)) ++stats_.rst_sent;
    transmits_.push_back(Transmit{peer, std::move(bytes)});
}

void Endpoint::emit(Event e) {
    if (events_.size() >= config_.max_events) {
        events_.pop_front();
        ++stats_.events_dropped;
    }
    events_.push_back(std::move(e));
}

std::optional<Transmit> Endpoint::poll_transmit() {
    if (transmits_.empty()) return std::nullopt;
    Transmit t = std::move(transmits_.front());
    transmits_.pop_front();
    return t;
}

std::optional<Event> Endpoint::poll_event() {
    if (events_.empty()) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
}

std::optional<TimePoint> Endpoint::poll_timeout() const {
    std::optional<TimePoint> t;
    auto consider = [&](TimePoint x) {
        if (!t || x < *t) t = x;
    };
    for (const auto& [key, o] : outstanding_) consider(o->deadline);
    for (const auto& [id, x] : exchanges_) {
        if (x->has_deadline) consider(x->deadline);
    }
    for (const auto& [id, s] : server_exchanges_) consider(s->expires);
    if (!delayed_.empty()) consider(delayed_.begin()->first);
    for (const auto& [peer, ps] : peers_) {
        if (!ps->queue.empty() && ps->unresponsive && ps->in_flight < config_.params.nstart) {
            consider(ps->next_probe_allowed);
        }
    }
    return t;
}

std::optional<Duration> Endpoint::current_rto(TimePoint now, const Peer& peer) const {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return std::nullopt;
    return it->second->cc->current_rto(now);
}

// ---------------------------------------------------------------------------------
// Messaging layer (RFC 7252 §4)

void Endpoint::send_con(TimePoint now, const Peer& peer, std::uint16_t mid, std::vector<std::uint8_t> bytes,
                        Owner owner, std::uint64_t owner_id) {
    PeerState& ps = peer_state(now, peer);
    if (outstanding_.size() >= config_.max_outstanding) {
        // The table is full: send once without retransmission state rather than
        // growing it; the exchange then ends by its own deadline.
        transmit(peer, std::move(bytes));
        return;
    }
    std::size_t in_flight = 0;
    for (const auto& [key, o] : outstanding_) {
        if (key.first == peer) ++in_flight;
    }
    auto o = std::make_unique<Outstanding>();
    o->peer = peer;
    o->mid = mid;
    o->first_sent = now;
    o->first = ps.cc->initial_timeout(now, rng_, in_flight);
    o->timeout = o->first.timeout;
    o->deadline = now + o->timeout;
    o->owner = owner;
    o->owner_id = owner_id;
    o->bytes = bytes;
    transmit(peer, std::move(bytes));
    outstanding_[{peer, mid}] = std::move(o);
}

void Endpoint::send_rst(const Peer& peer, std::uint16_t mid) { transmit(peer, empty_message(MessageType::Rst, mid)); }

void Endpoint::send_empty_ack(TimePoint, const Peer& peer, std::uint16_t mid, DedupCache::Entry* entry) {
    std::vector<std::uint8_t> ack = empty_message(MessageType::Ack, mid);
    if (entry != nullptr) entry->reply = ack;
    transmit(peer, std::move(ack));
}

void Endpoint::handle_datagram(TimePoint now, const Peer& from, Bytes datagram) {
    PeerState* known = find_peer(from);
    if (known != nullptr && known->unresponsive) {
        // §4.7: it answers again, so PROBING_RATE no longer holds back what is queued.
        known->unresponsive = false;
        process_datagram(now, from, datagram);
        pump_queue(now, from);
        return;
    }
    process_datagram(now, from, datagram);
}

void Endpoint::handle_multicast_datagram(TimePoint now, const Peer& from, Bytes datagram) {
    multicast_rx_ = true;
    process_datagram(now, from, datagram);
    multicast_rx_ = false;
}

void Endpoint::process_datagram(TimePoint now, const Peer& from, Bytes datagram) {
    MessageView m;
    const ParseResult r = parse(datagram, m);
    if (!r.ok()) {
        ++stats_.format_errors;
        ++stats_.format_error_reasons[static_cast<std::size_t>(r.error) & 0x0f];
        // RFC 7252 §4.2: a CON with a format error is rejected with RST; §4.3: anything
        // else is silently ignored. The RST needs the Message ID, so a header first.
        if (!multicast_rx_ && datagram.size() >= 4 && (datagram[0] >> 6) == 1 && ((datagram[0] >> 4) & 0x03) == 0) {
            send_rst(from, static_cast<std::uint16_t>((datagram[2] << 8) | datagram[3]));
        }
        return;
    }
    const auto type_index = static_cast<std::size_t>(m.type());
    ++stats_.received_messages[type_index];
    stats_.received_bytes[type_index] += datagram.size();
    const Code code = m.code();
    if (m.type() == MessageType::Ack || m.type() == MessageType::Rst) {
        if (m.type() == MessageType::Rst) ++stats_.rst_received;
        // §4.2: an ACK carries a response or is Empty; an RST is always Empty.
        if ((m.type() == MessageType::Rst && !code.is_empty()) || code.is_request() ||
            (!code.is_empty() && !code.is_response())) {
            ++stats_.dropped_unexpected;
            return;
        }
        on_ack_or_rst(now, from, m);
    } else if (multicast_rx_ && !code.is_request()) {
        ++stats_.dropped_unexpected;  // §8.1: nothing but requests through a group, and no RST
    } else if (code.is_empty()) {
        // §4.3: an Empty CON is a ping, answered with RST; an Empty NON is rejected.
        if (m.type() == MessageType::Con) {
            send_rst(from, m.message_id());
        } else {
            ++stats_.dropped_unexpected;
        }
    } else if (code.is_request()) {
        on_request(now, from, m);
    } else if (code.is_response()) {
        on_response(now, from, m);
    } else {
        // Reserved classes 1, 6, 7 (§3): reject a CON, ignore a NON (§4.2, §4.3).
        ++stats_.dropped_unexpected;
        if (m.type() == MessageType::Con) send_rst(from, m.message_id());
    }
}

void Endpoint::on_ack_or_rst(TimePoint now, const Peer& from, const MessageView& m) {
    auto it = outstanding_.find({from, m.message_id()});
    if (it == outstanding_.end()) {
        if (m.type() == MessageType::Rst) {
            // RFC 7641 §3.6: an RST to a NON notification ends that observation.
            auto nit = recent_non_.find({from, m.message_id()});
            if (nit != recent_non_.end()) {
                remove_observer(from, nit->second);
                recent_non_.erase(nit);
                return;
            }
        }
        ++stats_.dropped_unexpected;  // late or duplicate ACK/RST
        return;
    }
    const std::unique_ptr<Outstanding> o = std::move(it->second);
    outstanding_.erase(it);

    if (m.type() == MessageType::Rst) {
        switch (o->owner) {
            case Owner::ClientRequest: {
                fail_exchange(now, o->owner_id, FailReason::Reset);
                break;
            }
            case Owner::Ping: {
                Event e;
                e.kind = EventKind::Pong;
                e.id = o->owner_id;
                e.peer = from;
                e.elapsed = now - o->first_sent;
                emit(std::move(e));
                break;
            }
            case Owner::SeparateResponse: {
                Event e;
                e.kind = EventKind::SeparateResponseFailed;
                e.id = o->owner_id;
                e.peer = from;
                e.reason = FailReason::Reset;
                emit(std::move(e));
                break;
            }
            case Owner::Notification:
                remove_observer(from, o->token);  // RFC 7641 §3.6
                break;
        }
        return;
    }

    // An ACK: an RTT sample for the peer's strategy, measured from the first transmission.
    const Duration rtt = now - o->first_sent;
    if (PeerState* ps = find_peer(from)) ps->cc->on_ack(now, rtt, o->retransmissions);
    ++stats_.rtt_samples;
    stats_.rtt_sum += rtt;
    stats_.rtt_min = std::min(stats_.rtt_min, rtt);
    stats_.rtt_max = std::max(stats_.rtt_max, rtt);

    switch (o->owner) {
        case Owner::ClientRequest: {
            auto xit = exchanges_.find(o->owner_id);
            if (xit == exchanges_.end()) return;
            ClientExchange& x = *xit->second;
            if (m.code().is_empty()) {
                // §5.2.2: an empty ACK; the response comes separately. The request no
                // longer counts against NSTART (§4.7).
                await_response(x, now + config_.separate_response_timeout);
                release_slot(now, x);
                return;
            }
            // §5.2.1: a piggybacked response must carry the request's token.
            if (m.token() != x.token.view()) {
                ++stats_.dropped_unexpected;
                await_response(x, now + config_.separate_response_timeout);
                return;
            }
            const OptionCheck check = check_options(m);
            if (check.verdict != OptionVerdict::Accept) {
                fail_exchange(now, x.id, FailReason::ResponseRejected);
                return;
            }
            process_response(now, x, m);
            return;
        }
        case Owner::SeparateResponse:
            return;
        case Owner::Notification:
            for (auto& [path, res] : resources_) {
                for (Observer& obs : res->observers) {
                    if (obs.peer == from && obs.token == o->token) obs.con_outstanding = false;
                }
            }
            return;
        case Owner::Ping: {
            Event e;  // an ACK to a ping still proves the peer alive
            e.kind = EventKind::Pong;
            e.id = o->owner_id;
            e.peer = from;
            e.elapsed = rtt;
            emit(std::move(e));
            return;
        }
    }
}

void Endpoint::handle_timeout(TimePoint now) {
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
        Transmit t = std::move(delayed_.begin()->second);
        delayed_.erase(delayed_.begin());
        transmit(t.peer, std::move(t.bytes));
    }
    dedup_.expire(now);
    stats_.dedup_evictions = dedup_.evictions();
    // Retransmissions and give-ups (§4.2).
    std::vector<std::pair<Peer, std::uint16_t>> due;
    for (const auto& [key, o] : outstanding_) {
        if (o->deadline <= now) due.push_back(key);
    }
    for (const auto& key : due) {
        auto it = outstanding_.find(key);
        if (it == outstanding_.end()) continue;
        Outstanding& o = *it->second;
        if (o.retransmissions < config_.params.max_retransmit) {
            ++o.retransmissions;
            PeerState& ps = peer_state(now, o.peer);
            o.timeout = ps.cc->next_timeout(now, o.first, o.timeout, o.retransmissions);
            o.deadline = now + o.timeout;
            ++stats_.retransmissions;
            if (o.owner == Owner::ClientRequest) {
                auto xit = exchanges_.find(o.owner_id);
                if (xit != exchanges_.end()) ++xit->second->retransmissions;
            }
            transmit(o.peer, o.bytes);
            continue;
        }
        const std::unique_ptr<Outstanding> gone = std::move(it->second);
        outstanding_.erase(it);
        give_up(now, *gone);
    }
    // Response deadlines: NON requests and separate responses that never came.
    std::vector<std::uint64_t> late;
    for (const auto& [id, x] : exchanges_) {
        if (x->has_deadline && x->deadline <= now) late.push_back(id);
    }
    for (std::uint64_t id : late) {
        ++stats_.timeouts;
        fail_exchange(now, id, FailReason::Timeout);
    }
    // Deferred server exchanges the application never answered.
    for (auto it = server_exchanges_.begin(); it != server_exchanges_.end();) {
        it = it->second->expires <= now ? server_exchanges_.erase(it) : std::next(it);
    }
    for (auto it = block1_.begin(); it != block1_.end();) {
        it = it->second->expires <= now ? block1_.erase(it) : std::next(it);
    }
    for (auto it = block2_cache_.begin(); it != block2_cache_.end();) {
        it = it->second->expires <= now ? block2_cache_.erase(it) : std::next(it);
    }
    std::vector<Peer> waiting;
    for (const auto& [peer, ps] : peers_) {
        if (!ps->queue.empty()) waiting.push_back(peer);
    }
    for (const Peer& p : waiting) pump_queue(now, p);
}

void Endpoint::give_up(TimePoint now, const Outstanding& o) {
    if (PeerState* ps = find_peer(o.peer)) {
        ps->unresponsive = true;  // §4.7: from now on, PROBING_RATE applies
        ps->next_probe_allowed = now;
    }
    switch (o.owner) {
        case Owner::ClientRequest: {
            ++stats_.timeouts;
            fail_exchange(now, o.owner_id, FailReason::Timeout);
            break;
        }
        case Owner::Ping: {
            Event e;
            e.kind = EventKind::RequestFailed;
            e.id = o.owner_id;
            e.peer = o.peer;
            e.reason = FailReason::Timeout;
            e.retransmissions = o.retransmissions;
            e.elapsed = now - o.first_sent;
            emit(std::move(e));
            break;
        }
        case Owner::SeparateResponse: {
            Event e;
            e.kind = EventKind::SeparateResponseFailed;
            e.id = o.owner_id;
            e.peer = o.peer;
            e.reason = FailReason::Timeout;
            emit(std::move(e));
            break;
        }
        case Owner::Notification:
            remove_observer(o.peer, o.token);  // RFC 7641 §4.5: an unacknowledged CON notification
            break;
    }
}

// ---------------------------------------------------------------------------------
// Client: requests, block-wise, observe

Endpoint::Token Endpoint::new_token(const Peer& peer) {
    Token t;
    t.length = static_cast<std::uint8_t>(config_.token_length);
    // §5.3.1: random tokens; retry on the (unlikely) collision with a live one.
    for (int attempt = 0; attempt < 16; ++attempt) {
        rng_.fill(t.bytes.data(), t.length);
        if (by_token_.find({peer, t}) == by_token_.end()) break;
    }
    return t;
}

SendResult Endpoint::send_request(TimePoint now, const Peer& to, Request request) {
    if (exchanges_.size() >= config_.max_exchanges) return {ApiError::TooManyExchanges, 0};
    PeerState* existing = find_peer(to);
    if (existing == nullptr && peers_.size() >= config_.max_peers) {
        bool evictable = false;
        for (const auto& [p, s] : peers_) evictable = evictable || (s->in_flight == 0 && s->queue.empty());
        if (!evictable) return {ApiError::TooManyExchanges, 0};
    }
    PeerState& ps = peer_state(now, to);
    if (ps.queue.size() >= config_.max_queue_per_peer) return {ApiError::QueueFull, 0};
    auto x = std::make_unique<ClientExchange>();
    x->id = next_id_++;
    x->peer = to;
    x->token = new_token(to);
    x->request = std::move(request);
    x->started = now;
    x->block2_szx = x->request.block2_szx;
    if (x->block2_szx) x->block2_szx = std::min<std::uint8_t>(*x->block2_szx, 6);
    x->block1_szx = config_.block_szx;
    const std::uint64_t id = x->id;
    by_token_[{to, x->token}] = id;
    exchanges_[id] = std::move(x);
    ps.queue.push_back(id);
    pump_queue(now, to);
    return {ApiError::Ok, id};
}

void Endpoint::pump_queue(TimePoint now, const Peer& peer) {
    PeerState* ps = find_peer(peer);
    if (ps == nullptr) return;
    // §4.7: at most NSTART outstanding interactions per peer.
    while (!ps->queue.empty() && ps->in_flight < config_.params.nstart) {
        if (ps->unresponsive && now < ps->next_probe_allowed) {
            ++stats_.probing_delays;
            return;  // PROBING_RATE (§4.7); poll_timeout() wakes us at next_probe_allowed
        }
        const std::uint64_t id = ps->queue.front();
        ps->queue.pop_front();
        auto it = exchanges_.find(id);
        if (it == exchanges_.end()) continue;
        start_exchange(now, *it->second);
    }
}

void Endpoint::start_exchange(TimePoint now, ClientExchange& x) {
    PeerState& ps = peer_state(now, x.peer);
    ++ps.in_flight;
    x.holds_slot = true;
    x.sent = true;
    x.first_sent = now;
    ++stats_.exchanges_started;
    send_exchange_message(now, x);
}

void Endpoint::send_exchange_message(TimePoint now, ClientExchange& x) {
    PeerState& ps = peer_state(now, x.peer);
    const std::uint16_t mid = next_mid(ps);
    const MessageType type = x.request.confirmable ? MessageType::Con : MessageType::Non;
    // RFC 7959 §2.5: a payload larger than a block goes in Block1 pieces.
    const std::size_t block1_size = std::size_t{16} << x.block1_szx;
    Bytes payload(x.request.payload.data(), x.request.payload.size());
    const bool block1 = !x.block1_done && x.request.payload.size() > block1_size;
    bool more = false;
    if (block1) {
        const std::size_t offset = std::size_t{x.block1_num} * block1_size;
        const std::size_t n = std::min(block1_size, x.request.payload.size() - std::min(offset, x.request.payload.size()));
        more = offset + n < x.request.payload.size();
        payload = Bytes(x.request.payload.data() + offset, n);
    } else if (x.block1_done) {
        payload = Bytes();  // Block2 continuation after an upload carries no payload
    }
    // Request options, then Echo, Observe, Block1, Size1, Block2 (the writer sorts them in),
    // into a buffer sized for this message's payload, not the whole body.
    std::vector<std::uint8_t> out(message_bound(x.request.options, 4, 5 + x.echo.size(), payload.size()));
    MessageWriter w(MutableBytes(out.data(), out.size()), type, x.request.method, mid, x.token.view());
    for (const OwnedOption& o : x.request.options) (void)w.add_option(o.number, Bytes(o.value.data(), o.value.size()));
    if (!x.echo.empty()) (void)w.add_option(options::kEcho, Bytes(x.echo.data(), x.echo.size()));
    if (x.deregistering) {
        (void)w.add_uint(options::kObserve, 1);  // RFC 7641 §3.6
    } else if (x.request.observe && x.block2_num == 0) {
        (void)w.add_uint(options::kObserve, 0);  // RFC 7641 §3.1
    }
    if (block1) {
        (void)w.add_uint(options::kBlock1, encode_block(Block{x.block1_num, more, x.block1_szx}));
        if (x.block1_num == 0) (void)w.add_uint(options::kSize1, x.request.payload.size());  // RFC 7959 §4
    }
    if (x.block2_szx || x.block2_num > 0) {
        (void)w.add_uint(options::kBlock2,
                         encode_block(Block{x.block2_num, false, x.block2_szx.value_or(config_.block_szx)}));
    }
    std::vector<std::uint8_t> bytes = written(std::move(out), w.finish(payload));  // errors are sticky
    if (bytes.empty()) {
        fail_exchange(now, x.id, FailReason::BlockError);
        return;
    }
    x.mid = mid;
    if (ps.unresponsive) {
        // §4.7: PROBING_RATE bytes per second on average toward an unresponsive peer.
        ps.next_probe_allowed =
            now + Duration::from_seconds(static_cast<double>(bytes.size()) / config_.params.probing_rate);
    }
    if (type == MessageType::Con) {
        x.state = ClientExchange::State::AwaitingAck;
        x.has_deadline = false;
        send_con(now, x.peer, mid, std::move(bytes), Owner::ClientRequest, x.id);
        if (outstanding_.count({x.peer, mid}) == 0) {
            // The retransmission table was full: sent once, so bound the wait instead.
            await_response(x, now + config_.params.max_transmit_wait());
        }
    } else {
        await_response(x, now + config_.non_request_timeout);
        transmit(x.peer, std::move(bytes));
    }
}

void Endpoint::fail_exchange(TimePoint now, std::uint64_t id, FailReason reason) {
    Event e;
    e.kind = EventKind::RequestFailed;
    e.reason = reason;
    finish_exchange(now, id, std::move(e));
}

void Endpoint::await_response(ClientExchange& x, TimePoint until) {
    x.state = ClientExchange::State::AwaitingResponse;
    x.has_deadline = true;
    x.deadline = until;
}

void Endpoint::release_slot(TimePoint now, ClientExchange& x) {
    if (!x.holds_slot) return;
    x.holds_slot = false;
    if (PeerState* ps = find_peer(x.peer)) {
        if (ps->in_flight > 0) --ps->in_flight;
        pump_queue(now, x.peer);
    }
}

void Endpoint::finish_exchange(TimePoint now, std::uint64_t id, Event e) {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return;
    std::unique_ptr<ClientExchange> x = std::move(it->second);
    exchanges_.erase(it);
    by_token_.erase({x->peer, x->token});
    outstanding_.erase({x->peer, x->mid});
    if (PeerState* ps = find_peer(x->peer)) {
        auto q = std::find(ps->queue.begin(), ps->queue.end(), id);
        if (q != ps->queue.end()) ps->queue.erase(q);
    }
    e.id = id;
    e.peer = x->peer;
    e.retransmissions = x->retransmissions;
    e.elapsed = now - x->started;
    if (x->sent) e.in_flight = now - x->first_sent;
    if (e.kind == EventKind::RequestFailed) {
        ++stats_.exchanges_failed;
    } else if (e.kind == EventKind::Response) {
        ++stats_.exchanges_completed;
    }
    emit(std::move(e));
    if (x->holds_slot) {
        x->holds_slot = false;
        if (PeerState* ps = find_peer(x->peer)) {
            if (ps->in_flight > 0) --ps->in_flight;
        }
    }
    pump_queue(now, x->peer);
}

ApiError Endpoint::cancel(TimePoint now, std::uint64_t id, bool deregister) {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return ApiError::UnknownExchange;
    ClientExchange& x = *it->second;
    if (x.observing && deregister) {
        // RFC 7641 §3.6: a GET with Observe: 1 and the same token ends the observation;
        // its response completes this request.
        x.deregistering = true;
        x.observing = false;
        x.block2_num = 0;
        x.body.clear();
        x.have_etag = false;
        if (!x.holds_slot) {
            PeerState& ps = peer_state(now, x.peer);
            ++ps.in_flight;
            x.holds_slot = true;
        }
        send_exchange_message(now, x);
        return ApiError::Ok;
    }
    Event e;
    e.kind = x.observing ? EventKind::ObservationEnded : EventKind::RequestFailed;
    e.reason = FailReason::Cancelled;
    finish_exchange(now, id, std::move(e));
    return ApiError::Ok;
}

SendResult Endpoint::ping(TimePoint now, const Peer& to) {
    if (outstanding_.size() >= config_.max_outstanding) return {ApiError::TooManyExchanges, 0};
    const std::uint64_t id = next_id_++;
    const std::uint16_t mid = mid_for(now, to);
    send_con(now, to, mid, empty_message(MessageType::Con, mid), Owner::Ping, id);
    return {ApiError::Ok, id};
}

void Endpoint::on_response(TimePoint now, const Peer& from, const MessageView& m) {
    // §4.5: a duplicate CON gets the same reply again; a duplicate NON is ignored.
    if (DedupCache::Entry* dup = dedup_.find(now, from, m.message_id())) {
        ++stats_.duplicates_received;
        if (m.type() == MessageType::Con && !dup->reply.empty()) transmit(from, dup->reply);
        return;
    }
    const Duration lifetime = m.type() == MessageType::Con ? config_.params.exchange_lifetime()
                                                           : config_.params.non_lifetime();
    DedupCache::Entry& entry = dedup_.insert(now, from, m.message_id(), lifetime);
    stats_.dedup_evictions = dedup_.evictions();

    Token token;
    token.length = static_cast<std::uint8_t>(m.token().size());
    std::copy(m.token().begin(), m.token().end(), token.bytes.begin());
    auto tit = by_token_.find({from, token});
    auto xit = tit == by_token_.end() ? exchanges_.end() : exchanges_.find(tit->second);
    if (xit == exchanges_.end() || xit->second->state == ClientExchange::State::Queued) {
        // §5.3.2: a response matching no request is rejected (RFC 7641 §3.6 relies on
        // this to end unwanted notifications).
        entry.reply = empty_message(MessageType::Rst, m.message_id());
        transmit(from, entry.reply);
        return;
    }
    ClientExchange& x = *xit->second;
    if (check_options(m).verdict != OptionVerdict::Accept) {
        // §5.4.1: a response with an unrecognized critical option is rejected.
        entry.reply = empty_message(MessageType::Rst, m.message_id());
        transmit(from, entry.reply);
        fail_exchange(now, x.id, FailReason::ResponseRejected);
        return;
    }
    if (m.type() == MessageType::Con) send_empty_ack(now, from, m.message_id(), &entry);
    // RFC 7641 §3.6: while deregistering, a notification still in flight is not the
    // answer to the GET with Observe: 1; acknowledge it and keep waiting.
    if (x.deregistering && m.find(options::kObserve) < m.option_count()) return;
    // §5.2.2: a separate response may overtake the ACK; it acknowledges the request too.
    outstanding_.erase({x.peer, x.mid});
    process_response(now, x, m);
}

void Endpoint::process_response(TimePoint now, ClientExchange& x, const MessageView& m) {
    const Code code = m.code();
    bool invalid = false;
    const std::optional<Block> block1 = block_option(m, options::kBlock1, invalid);
    const std::optional<Block> block2 = block_option(m, options::kBlock2, invalid);
    const std::optional<std::uint64_t> observe = uint_option(m, options::kObserve);
    auto fail = [&](FailReason reason) {
        fail_exchange(now, x.id, reason);
    };
    if (invalid) {
        fail(FailReason::BlockError);
        return;
    }
    // RFC 9175 §2.3: a 4.01 with an Echo option asks for the request again, with that
    // Echo; once per exchange, so a server that keeps asking cannot loop us.
    if (code == codes::kUnauthorized && x.echo.empty()) {
        const std::size_t i = m.find(options::kEcho);
        if (i < m.option_count() && !m.option(i).value.empty() && m.option(i).value.size() <= 40) {
            const Bytes v = m.option(i).value;
            x.echo.assign(v.begin(), v.end());
            ++stats_.echo_retries;
            send_exchange_message(now, x);
            return;
        }
    }

    // RFC 7959 §2.3: 2.31 Continue asks for the next Block1 block, possibly smaller.
    const std::size_t block1_size = std::size_t{16} << x.block1_szx;
    if (!x.block1_done && x.request.payload.size() > block1_size && !x.observing) {
        if (code == codes::kContinue) {
            std::size_t sent = std::min(x.request.payload.size(), std::size_t{x.block1_num + 1} * block1_size);
            if (block1 && block1->szx < x.block1_szx) x.block1_szx = block1->szx;
            const std::size_t size = std::size_t{16} << x.block1_szx;
            if (sent >= x.request.payload.size() || sent % size != 0) {
                fail(FailReason::BlockError);
                return;
            }
            x.block1_num = static_cast<std::uint32_t>(sent / size);
            send_exchange_message(now, x);
            return;
        }
        x.block1_done = true;  // the final response (or an error) to the upload
    }

    // RFC 7959 §2.4: Block2 pieces of the response body.
    if (block2 && is_success(code) && !(x.observing && observe)) {
        if (block2->num != x.block2_num && !(x.block2_num == 0 && block2->num == 0)) {
            // A stale block (e.g. a late duplicate): ignore it. If it also acknowledged
            // our request, keep waiting for the right block as a separate response.
            if (outstanding_.count({x.peer, x.mid}) == 0 && !x.has_deadline) {
                await_response(x, now + config_.separate_response_timeout);
            }
            return;
        }
        const std::size_t etag_i = m.find(options::kETag);
        const Bytes etag = etag_i < m.option_count() ? m.option(etag_i).value : Bytes();
        if (!x.have_etag) {
            x.have_etag = true;
            x.etag.assign(etag.begin(), etag.end());
        } else if (etag != Bytes(x.etag.data(), x.etag.size())) {
            fail(FailReason::RepresentationChanged);
            return;
        }
        if (block2->offset() != x.body.size()) {
            fail(FailReason::BlockError);
            return;
        }
        if (x.body.size() + m.payload().size() > config_.max_body) {
            fail(FailReason::BodyTooLarge);
            return;
        }
        x.body.insert(x.body.end(), m.payload().begin(), m.payload().end());
        if (block2->more) {
            if (m.payload().size() != block2->size()) {  // §2.2: all but the last block are full
                fail(FailReason::BlockError);
                return;
            }
            x.block2_num = block2->num + 1;
            x.block2_szx = block2->szx;
            if (x.request.observe && observe && !x.observing) {
                // Registration answered with a block: keep the observation once the body
                // is complete (RFC 7959 §3.4); later blocks are plain GETs.
                x.observing = false;
            }
            send_exchange_message(now, x);
            return;
        }
    } else {
        x.body.assign(m.payload().begin(), m.payload().end());
    }

    Event e;
    e.message = to_message(m);
    e.message.payload = x.body;
    x.body.clear();
    x.block2_num = 0;
    x.have_etag = false;

    // RFC 7641: a success response with Observe establishes (or continues) the observation.
    if (x.request.observe && !x.deregistering) {
        const bool registered = observe.has_value() && is_success(code);
        if (registered) {
            const auto seq = static_cast<std::uint32_t>(*observe & 0xffffff);
            if (!x.observing) {
                x.observing = true;
                x.freshness.accept(seq, now);
                x.state = ClientExchange::State::Observing;
                x.has_deadline = false;
                ++stats_.exchanges_completed;
                e.kind = EventKind::Response;
                e.id = x.id;
                e.peer = x.peer;
                e.retransmissions = x.retransmissions;
                e.elapsed = now - x.started;
                e.in_flight = now - x.first_sent;
                emit(std::move(e));
                release_slot(now, x);
                return;
            }
            ++stats_.notifications_received;
            // RFC 7641 §3.4: only a fresher notification replaces what we have.
            if (!x.freshness.is_fresh(seq, now)) {
                ++stats_.stale_notifications;
                return;
            }
            x.freshness.accept(seq, now);
            e.kind = EventKind::Notification;
            e.id = x.id;
            e.peer = x.peer;
            e.elapsed = now - x.started;
            emit(std::move(e));
            return;
        }
        if (x.observing) {
            // RFC 7641 §3.2: a notification without Observe, or an error, ends it.
            e.kind = EventKind::ObservationEnded;
            finish_exchange(now, x.id, std::move(e));
            return;
        }
    }
    e.kind = EventKind::Response;
    finish_exchange(now, x.id, std::move(e));
}

// ---------------------------------------------------------------------------------
// Server: resources, block-wise, observe, separate responses

ApiError Endpoint::add_resource(std::string path, ResourceConfig resource) {
    while (!path.empty() && path.front() == '/') path.erase(path.begin());
    if (!resource.handler || resources_.count(path) != 0) return ApiError::BadResource;
    auto r = std::make_unique<Resource>();
    r->path = path;
    r->config = std::move(resource);
    resources_[path] = std::move(r);
    return ApiError::Ok;
}

std::size_t Endpoint::observer_count(const std::string& path) const {
    auto it = resources_.find(path);
    return it == resources_.end() ? 0 : it->second->observers.size();
}

std::vector<std::uint8_t> Endpoint::build_response(MessageType type, std::uint16_t mid, Bytes token,
                                                   const Response& r, const ResponseShape& shape) {
    Bytes payload(r.payload.data(), r.payload.size());
    // RFC 7959 §2.4: serve the block asked for, or the first block of a body larger
    // than our block size, with the smaller of the two sizes.
    std::uint8_t szx = config_.block_szx;
    std::uint64_t offset = 0;
    if (shape.request_block2) {
        offset = shape.request_block2->offset();
        szx = std::min(szx, shape.request_block2->szx);
    }
    const std::size_t size = std::size_t{16} << szx;
    const bool block2 = is_success(r.code) && (shape.request_block2 || r.payload.size() > size);
    std::uint32_t block2_value = 0;
    if (block2) {
        if (offset > r.payload.size() || (offset == r.payload.size() && offset != 0)) {
            return header_only(type, codes::kBadOption, mid, token);  // RFC 7959 §2.4: no such block
        }
        const std::size_t n = std::min<std::size_t>(size, r.payload.size() - offset);
        block2_value = encode_block(Block{static_cast<std::uint32_t>(offset / size), offset + n < r.payload.size(), szx});
        payload = Bytes(r.payload.data() + offset, n);
    }
    // Into a buffer sized for this block, not the whole body.
    std::vector<std::uint8_t> out(message_bound(r.options, 6, 0, payload.size()));
    MessageWriter w(MutableBytes(out.data(), out.size()), type, r.code, mid, token);
    for (const OwnedOption& o : r.options) (void)w.add_option(o.number, Bytes(o.value.data(), o.value.size()));
    if (r.content_format) (void)w.add_uint(options::kContentFormat, *r.content_format);
    if (r.max_age) (void)w.add_uint(options::kMaxAge, *r.max_age);
    if (shape.observe_seq) (void)w.add_uint(options::kObserve, *shape.observe_seq);
    if (shape.block1_echo) (void)w.add_uint(options::kBlock1, encode_block(*shape.block1_echo));
    if (block2) {
        (void)w.add_uint(options::kBlock2, block2_value);
        if (offset == 0) (void)w.add_uint(options::kSize2, r.payload.size());  // RFC 7959 §4
    }
    std::vector<std::uint8_t> bytes = written(std::move(out), w.finish(payload));  // errors are sticky
    if (bytes.empty()) return header_only(type, codes::kInternalServerError, mid, token);
    return bytes;
}

void Endpoint::reply_to_request(TimePoint now, const Peer& from, const MessageView& m, DedupCache::Entry& entry,
                                const Response& r, const ResponseShape& shape) {
    // §5.2.1 piggybacked in the ACK for a CON; §5.2.3 a NON for a NON.
    const bool con = m.type() == MessageType::Con;
    const MessageType type = con ? MessageType::Ack : MessageType::Non;
    const std::uint16_t mid = con ? m.message_id() : mid_for(now, from);
    if (multicast_rx_ && !is_success(r.code)) {
        ++stats_.multicast_suppressed;  // RFC 7390 §2.7: no error responses to a group request
        return;
    }
    std::vector<std::uint8_t> bytes = build_response(type, mid, m.token(), r, shape);
    if (config_.defences.any()) {
        bytes = limit_reply(now, from, std::move(bytes), type, mid, m.token());
        if (bytes.empty()) return;
    }
    ++stats_.responses_sent;
    if (multicast_rx_) {
        // RFC 7252 §8.2: answer at a random point within the leisure period. Bounded.
        if (delayed_.size() >= config_.max_server_exchanges) {
            ++stats_.transmits_dropped;
            return;
        }
        const TimePoint at = now + rng_.uniform(Duration::zero(), config_.params.default_leisure);
        delayed_.emplace(at, Transmit{from, std::move(bytes)});
        return;
    }
    entry.reply = bytes;
    transmit(from, std::move(bytes));
}

Endpoint::DefenceState* Endpoint::defence_state(TimePoint now, const Peer& peer) {
    auto it = defence_.find(peer);
    if (it == defence_.end()) {
        if (defence_.size() >= config_.max_peers) {
            // Bounded: forget the address seen least recently (it starts unverified again).
            auto oldest = std::min_element(defence_.begin(), defence_.end(), [](const auto& a, const auto& b) {
                return a.second.last_seen < b.second.last_seen;
            });
            defence_.erase(oldest);
        }
        it = defence_.emplace(peer, DefenceState{}).first;
        it->second.tokens = config_.defences.rate_burst;
        it->second.refilled = now;
    }
    it->second.last_seen = now;
    return &it->second;
}

bool Endpoint::verified(const DefenceState& d, TimePoint now) const { return now < d.verified_until; }

bool Endpoint::may_send(TimePoint now, const Peer& peer, std::size_t size) {
    const ServerDefences& def = config_.defences;
    const double ratio = def.amplification_limit > 0 ? def.amplification_limit : (def.echo_enabled() ? 3.0 : 0.0);
    if (ratio <= 0) return true;
    auto it = defence_.find(peer);
    if (it == defence_.end()) return static_cast<double>(size) <= static_cast<double>(def.initial_allowance);
    DefenceState& d = it->second;
    if (verified(d, now)) return true;
    // RFC 9175 §2.4 / RFC 9000 §8: at most `ratio` times what the address sent us.
    const double allowance = ratio * static_cast<double>(d.received) + static_cast<double>(def.initial_allowance);
    if (static_cast<double>(d.sent + size) > allowance) return false;
    d.sent += size;
    return true;
}

std::vector<std::uint8_t> Endpoint::limit_reply(TimePoint now, const Peer& peer, std::vector<std::uint8_t> bytes,
                                                MessageType type, std::uint16_t mid, Bytes token) {
    if (may_send(now, peer, bytes.size())) return bytes;
    const ServerDefences& def = config_.defences;
    if (def.echo_enabled()) {
        // RFC 9175 §2.4: 4.01 with a fresh Echo instead of the large response.
        const auto echo = mint_echo(*def.echo_key, peer, now);
        std::vector<std::uint8_t> out(message_bound({}, 0, 5 + echo.size(), 0));
        MessageWriter w(MutableBytes(out.data(), out.size()), type, codes::kUnauthorized, mid, token);
        (void)w.add_option(options::kEcho, Bytes(echo.data(), echo.size()));
        std::vector<std::uint8_t> challenge = written(std::move(out), w.finish());
        if (!challenge.empty() && may_send(now, peer, challenge.size())) {
            ++stats_.echo_challenges;
            return challenge;
        }
    }
    ++stats_.amplification_dropped;
    return {};
}

void Endpoint::on_request(TimePoint now, const Peer& from, const MessageView& m) {
    const ServerDefences& def = config_.defences;
    if (def.any()) {
        DefenceState& d = *defence_state(now, from);
        d.received += m.datagram().size();
        if (def.rate_limit > 0) {
            // RFC 7252 §4.7: a server should limit the rate at which it responds.
            d.tokens = std::min(def.rate_burst, d.tokens + (now - d.refilled).seconds_f() * def.rate_limit);
            d.refilled = now;
            if (d.tokens < 1.0) {
                ++stats_.rate_limited;
                return;
            }
            d.tokens -= 1.0;
        }
        const std::size_t ei = m.find(options::kEcho);
        if (def.echo_enabled() && ei < m.option_count()) {
            switch (verify_echo(*def.echo_key, from, m.option(ei).value, now, def.echo_freshness)) {
                case EchoVerdict::Valid:
                    ++stats_.echo_verified;
                    d.verified_until = now + def.verified_for;
                    break;
                case EchoVerdict::Expired: ++stats_.echo_expired; break;
                case EchoVerdict::Forged:
                case EchoVerdict::Malformed: ++stats_.echo_forged; break;
            }
        }
    }
    if (multicast_rx_) {
        ++stats_.multicast_requests;
        if (m.type() == MessageType::Con) {  // §8.1: multicast requests are NON
            ++stats_.multicast_ignored;
            return;
        }
    }
    if (DedupCache::Entry* dup = dedup_.find(now, from, m.message_id())) {
        ++stats_.duplicates_received;
        if (m.type() == MessageType::Con && !dup->reply.empty() && may_send(now, from, dup->reply.size())) {
            transmit(from, dup->reply);
        }
        return;
    }
    const Duration lifetime = m.type() == MessageType::Con ? config_.params.exchange_lifetime()
                                                           : config_.params.non_lifetime();
    DedupCache::Entry& entry = dedup_.insert(now, from, m.message_id(), lifetime);
    stats_.dedup_evictions = dedup_.evictions();
    ++stats_.requests_received;

    ResponseShape shape;
    const OptionCheck check = check_options(m);
    if (check.verdict == OptionVerdict::RespondBadOption) {
        ++stats_.bad_option_responses;
        reply_to_request(now, from, m, entry, Response::with(codes::kBadOption), shape);  // §5.4.1
        return;
    }
    if (check.verdict == OptionVerdict::Reject) return;  // a NON request: silently rejected

    IncomingRequest req;
    req.peer = from;
    req.method = m.code();
    req.now = now;
    std::string tag;
    bool first_segment = true;
    for (std::size_t i = 0; i < m.option_count(); ++i) {
        if ((check.ignored_mask >> i) & 1u) continue;  // §5.4.1: unrecognized elective
        const Option o = m.option(i);
        if (o.number == options::kUriPath) {
            if (!first_segment) req.path.push_back('/');
            req.path.append(o.value.as_chars());
            first_segment = false;
        } else if (o.number == options::kUriQuery) {
            req.query.emplace_back(o.value.as_chars());
        } else if (o.number == options::kContentFormat) {
            req.content_format = static_cast<std::uint16_t>(decode_uint(o.value).value_or(0));
        } else if (o.number == options::kAccept) {
            req.accept = static_cast<std::uint16_t>(decode_uint(o.value).value_or(0));
        } else if (o.number == options::kRequestTag) {
            tag.assign(o.value.as_chars());
        }
    }
    bool invalid_block = false;
    const std::optional<Block> block1 = block_option(m, options::kBlock1, invalid_block);
    shape.request_block2 = block_option(m, options::kBlock2, invalid_block);
    if (invalid_block) {
        reply_to_request(now, from, m, entry, Response::with(codes::kBadRequest), ResponseShape{});  // RFC 7959 §2.2
        return;
    }

    auto rit = resources_.find(req.path);
    if (rit == resources_.end()) {
        reply_to_request(now, from, m, entry, Response::with(codes::kNotFound), shape);  // §5.9.2.5
        return;
    }
    Resource& res = *rit->second;
    if (multicast_rx_ && !res.config.multicast) {
        ++stats_.multicast_ignored;  // only resources configured for it answer a group
        return;
    }
    if (req.method.cls() != 0 || req.method.detail() > 5 || ((res.config.methods >> req.method.detail()) & 1u) == 0) {
        reply_to_request(now, from, m, entry, Response::with(codes::kMethodNotAllowed), shape);  // §5.9.2.6
        return;
    }
    if (!res.config.accepted_formats.empty() && !m.payload().empty()) {
        const auto& ok = res.config.accepted_formats;
        if (!req.content_format || std::find(ok.begin(), ok.end(), *req.content_format) == ok.end()) {
            reply_to_request(now, from, m, entry, Response::with(codes::kUnsupportedContentFormat), shape);  // §5.9.2.9
            return;
        }
    }

    // RFC 7959 §2.5: reassemble a Block1 upload; only the last block reaches the handler.
    if (block1) {
        const std::pair<Peer, std::string> key{from, req.path + "|" + tag};
        auto bit = block1_.find(key);
        if (block1->num == 0) {
            if (bit == block1_.end()) {
                if (block1_.size() >= config_.max_block1_transfers) {
                    // Bounded: the transfer closest to expiry makes room.
                    auto oldest = std::min_element(block1_.begin(), block1_.end(), [](const auto& a, const auto& b) {
                        return a.second->expires < b.second->expires;
                    });
                    block1_.erase(oldest);
                }
                bit = block1_.emplace(key, std::make_unique<Block1Transfer>()).first;
            }
            bit->second->body.clear();
        } else if (bit == block1_.end() || bit->second->body.size() != block1->offset()) {
            // RFC 7959 §2.9.2: 4.08 when the blocks do not line up.
            if (bit != block1_.end()) block1_.erase(bit);
            reply_to_request(now, from, m, entry, Response::with(codes::kRequestEntityIncomplete), shape);
            return;
        }
        Block1Transfer& t = *bit->second;
        t.expires = now + config_.params.exchange_lifetime();
        if (t.body.size() + m.payload().size() > config_.max_body) {
            block1_.erase(bit);
            Response too_large = Response::with(codes::kRequestEntityTooLarge);  // RFC 7959 §2.9.3
            too_large.options.push_back(OwnedOption{options::kSize1, encode_uint(config_.max_body)});
            reply_to_request(now, from, m, entry, too_large, shape);
            return;
        }
        t.body.insert(t.body.end(), m.payload().begin(), m.payload().end());
        const std::uint8_t szx = std::min(block1->szx, config_.block_szx);
        if (block1->more) {
            shape.block1_echo = Block{block1->num, true, szx};
            reply_to_request(now, from, m, entry, Response::with(codes::kContinue), shape);  // RFC 7959 §2.3
            return;
        }
        req.payload = std::move(t.body);
        block1_.erase(bit);
        shape.block1_echo = Block{block1->num, false, szx};
    } else {
        req.payload.assign(m.payload().begin(), m.payload().end());
    }

    // RFC 7641 §2: Observe 0 registers, 1 deregisters (GET and FETCH only).
    const std::optional<std::uint64_t> observe = uint_option(m, options::kObserve);
    const bool can_observe = req.method == codes::kGet || req.method == codes::kFetch;
    const bool safe = can_observe;  // GET and FETCH may simply run again for each block
    const std::pair<Peer, std::string> cache_key{from, req.path + "|" + tag};
    if (!safe && shape.request_block2 && shape.request_block2->num > 0) {
        // RFC 7959 §3.3: Block2 continuation of a POST/PUT response: serve it from the
        // cached body instead of running the handler again.
        auto cit = block2_cache_.find(cache_key);
        if (cit != block2_cache_.end() && cit->second->expires > now) {
            reply_to_request(now, from, m, entry, cit->second->response, shape);
            return;
        }
    }
    Token token;
    token.length = static_cast<std::uint8_t>(m.token().size());
    std::copy(m.token().begin(), m.token().end(), token.bytes.begin());
    if (observe && *observe == 1 && can_observe) remove_observer(from, token);

    req.exchange_id = next_id_++;
    HandlerResult result = res.config.handler(req);
    if (result.deferred) {
        if (server_exchanges_.size() >= config_.max_server_exchanges) {
            reply_to_request(now, from, m, entry, Response::with(codes::kServiceUnavailable), shape);
            return;
        }
        auto s = std::make_unique<ServerExchange>();
        s->peer = from;
        s->token = token;
        s->confirmable = m.type() == MessageType::Con;
        s->expires = now + config_.params.exchange_lifetime();
        server_exchanges_[req.exchange_id] = std::move(s);
        // §5.2.2: acknowledge now, answer later.
        if (m.type() == MessageType::Con) send_empty_ack(now, from, m.message_id(), &entry);
        return;
    }
    const bool registers = observe && *observe == 0;  // RFC 7641 §2
    bool may_observe = true;
    if (registers && def.observe_verified_only) {
        const auto dit = defence_.find(from);
        may_observe = dit != defence_.end() && verified(dit->second, now);
        if (!may_observe) ++stats_.observe_refused;  // answered as a plain GET (RFC 7641 §4.1)
    }
    // RFC 7641 §4.1: the same client and token again replaces its entry; it holds no new one.
    const bool reregisters = registers && std::any_of(res.observers.begin(), res.observers.end(), [&](const Observer& o) {
                                 return o.peer == from && o.token == token;
                             });
    if (registers && may_observe && !reregisters && def.max_observations_per_address > 0) {
        std::size_t held = 0;
        for (const auto& [path, r] : resources_) {
            for (const Observer& o : r->observers) {
                held += (o.peer.family == from.family && o.peer.address == from.address) ? 1 : 0;
            }
        }
        may_observe = held < def.max_observations_per_address;
        if (!may_observe) ++stats_.observe_refused;
    }
    if (registers && can_observe && may_observe && res.config.observable &&
        is_success(result.response.code) && !shape.request_block2.has_value()) {
        auto oit = std::find_if(res.observers.begin(), res.observers.end(),
                                [&](const Observer& o) { return o.peer == from && o.token == token; });
        if (oit == res.observers.end() && res.observers.size() < config_.max_observers_per_resource) {
            res.observers.push_back(Observer{});
            oit = std::prev(res.observers.end());
        }
        if (oit != res.observers.end()) {  // full: answered as a plain GET (RFC 7641 §4.1)
            oit->peer = from;
            oit->token = token;
            oit->query = req.query;
            oit->accept = req.accept;
            oit->last_con = now;
            shape.observe_seq = res.seq;
        }
    }
    if (!safe && is_success(result.response.code) &&
        result.response.payload.size() > (std::size_t{16} << config_.block_szx)) {
        if (block2_cache_.size() >= config_.max_block1_transfers && block2_cache_.count(cache_key) == 0) {
            auto oldest = std::min_element(block2_cache_.begin(), block2_cache_.end(), [](const auto& a, const auto& b) {
                return a.second->expires < b.second->expires;
            });
            block2_cache_.erase(oldest);
        }
        auto c = std::make_unique<CachedResponse>();
        c->response = result.response;
        c->expires = now + config_.params.exchange_lifetime();
        block2_cache_[cache_key] = std::move(c);
    }
    reply_to_request(now, from, m, entry, result.response, shape);
}

ApiError Endpoint::respond(TimePoint now, std::uint64_t exchange_id, Response response) {
    auto it = server_exchanges_.find(exchange_id);
    if (it == server_exchanges_.end()) return ApiError::UnknownExchange;
    const std::unique_ptr<ServerExchange> s = std::move(it->second);
    server_exchanges_.erase(it);
    const std::uint16_t mid = mid_for(now, s->peer);
    ++stats_.responses_sent;
    if (s->confirmable) {
        // §5.2.2: the separate response to a CON request is itself a CON.
        std::vector<std::uint8_t> bytes = build_response(MessageType::Con, mid, s->token.view(), response, {});
        send_con(now, s->peer, mid, std::move(bytes), Owner::SeparateResponse, exchange_id);
    } else {
        transmit(s->peer, build_response(MessageType::Non, mid, s->token.view(), response, {}));
    }
    return ApiError::Ok;
}

std::size_t Endpoint::notify(TimePoint now, const std::string& path) {
    auto it = resources_.find(path);
    if (it == resources_.end()) return 0;
    Resource& res = *it->second;
    res.seq = (res.seq + 1) & 0xffffff;  // RFC 7641 §4.4: 24-bit sequence numbers
    const std::vector<Observer> snapshot = res.observers;  // send_notification may remove
    for (const Observer& o : snapshot) {
        auto live = std::find_if(res.observers.begin(), res.observers.end(),
                                 [&](const Observer& x) { return x.peer == o.peer && x.token == o.token; });
        if (live != res.observers.end()) send_notification(now, res, *live);
    }
    return snapshot.size();
}

void Endpoint::send_notification(TimePoint now, Resource& res, Observer& obs) {
    IncomingRequest req;
    req.peer = obs.peer;
    req.method = codes::kGet;
    req.path = res.path;
    req.query = obs.query;
    req.accept = obs.accept;
    req.is_notification = true;
    req.now = now;
    HandlerResult result = res.config.handler(req);
    if (result.deferred) return;  // a notification cannot be deferred
    ResponseShape shape;
    const bool ends = !is_success(result.response.code);
    if (!ends) shape.observe_seq = res.seq;
    // RFC 7641 §4.5: CON when configured, and at least once every 24 hours.
    const bool con = config_.confirmable_notifications || now - obs.last_con >= config_.con_notification_interval;
    const Peer peer = obs.peer;
    const Token token = obs.token;
    const std::uint16_t mid = mid_for(now, peer);
    std::vector<std::uint8_t> bytes =
        build_response(con ? MessageType::Con : MessageType::Non, mid, token.view(), result.response, shape);
    if (config_.defences.any() && !may_send(now, peer, bytes.size())) {
        // An unverified observer past its allowance: stop reflecting toward it.
        ++stats_.amplification_dropped;
        remove_observer(peer, token);
        return;
    }
    ++stats_.notifications_sent;
    if (con) {
        obs.last_con = now;
        auto old = obs.con_outstanding ? outstanding_.find({peer, obs.con_mid}) : outstanding_.end();
        if (old != outstanding_.end()) {
            // RFC 7641 §4.5.2: the newer notification replaces the one still in flight,
            // keeping its retransmission counter and timeout.
            std::unique_ptr<Outstanding> o = std::move(old->second);
            outstanding_.erase(old);
            o->mid = mid;
            o->bytes = bytes;
            transmit(peer, std::move(bytes));
            outstanding_[{peer, mid}] = std::move(o);
        } else {
            send_con(now, peer, mid, std::move(bytes), Owner::Notification, 0);
            auto fresh = outstanding_.find({peer, mid});
            if (fresh != outstanding_.end()) fresh->second->token = token;
        }
        obs.con_outstanding = true;
        obs.con_mid = mid;
    } else {
        transmit(peer, std::move(bytes));
        recent_non_[{peer, mid}] = token;
        recent_non_order_.emplace_back(peer, mid);
        while (recent_non_order_.size() > 4 * config_.max_observers_per_resource + 64) {
            recent_non_.erase(recent_non_order_.front());
            recent_non_order_.pop_front();
        }
    }
    if (ends) remove_observer(peer, token);  // RFC 7641 §4.2: an error ends the observation
}

void Endpoint::remove_observer(const Peer& peer, const Token& token) {
    for (auto& [path, res] : resources_) {
        auto& v = res->observers;
        v.erase(std::remove_if(v.begin(), v.end(), [&](const Observer& o) { return o.peer == peer && o.token == token; }),
                v.end());
    }
}

}  // namespace coap
