// The sans-I/O CoAP endpoint: reliable messaging (RFC 7252 §4), exchanges (§5),
// block-wise transfers (RFC 7959) and observe (RFC 7641), client and server roles in
// one object.
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
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coap/codec/message_view.h"
#include "coap/common/random.h"
#include "coap/congestion/congestion.h"
#include "coap/endpoint/types.h"
#include "coap/messaging/dedup.h"

namespace coap {

class Endpoint {
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

    // ---- client ------------------------------------------------------------------
    /// Starts a request to `to` (queued while NSTART exchanges are outstanding there).
    /// The result's id names it in later events.
    [[nodiscard]] SendResult send_request(TimePoint now, const Peer& to, Request request);
    /// Cancels a request or an observation. An established observation is ended with
    /// a GET carrying Observe: 1 (RFC 7641 §3.6) when `deregister` is true; otherwise
    /// it is forgotten and the next notification is answered with RST.
    [[nodiscard]] ApiError cancel(TimePoint now, std::uint64_t id, bool deregister = true);
    /// Sends a CoAP ping (an Empty CON, §4.3); a Pong or RequestFailed event follows.
    [[nodiscard]] SendResult ping(TimePoint now, const Peer& to);

    // ---- server ------------------------------------------------------------------
    /// Serves `path` ("sensors/temp", no leading "/"). Errors: BadResource.
    [[nodiscard]] ApiError add_resource(std::string path, ResourceConfig resource);
    /// Answers a request whose handler returned HandlerResult::defer() with a separate
    /// response (CON for a CON request, §5.2.2; NON for a NON request).
    [[nodiscard]] ApiError respond(TimePoint now, std::uint64_t exchange_id, Response response);
    /// Sends a notification to every observer of `path` (RFC 7641 §4.2); returns how many.
    std::size_t notify(TimePoint now, const std::string& path);
    [[nodiscard]] std::size_t observer_count(const std::string& path) const;

    // ---- output ------------------------------------------------------------------
    [[nodiscard]] std::optional<Transmit> poll_transmit();
    [[nodiscard]] std::optional<Event> poll_event();
    /// The earliest time handle_timeout has work, or nothing when idle.
    [[nodiscard]] std::optional<TimePoint> poll_timeout() const;

    // ---- state -------------------------------------------------------------------
    [[nodiscard]] const EndpointStats& stats() const noexcept { return stats_; }
    [[nodiscard]] const EndpointConfig& config() const noexcept { return config_; }
    [[nodiscard]] std::string_view congestion_name() const noexcept { return congestion_name_; }
    /// The current RTO toward `peer` (the strategy's base RTO), if the peer is known.
    [[nodiscard]] std::optional<Duration> current_rto(TimePoint now, const Peer& peer) const;
    [[nodiscard]] std::size_t active_exchanges() const noexcept { return exchanges_.size(); }
    [[nodiscard]] std::size_t dedup_size() const noexcept { return dedup_.size(); }
    [[nodiscard]] std::size_t peer_count() const noexcept { return peers_.size(); }
    [[nodiscard]] std::size_t outstanding_count() const noexcept { return outstanding_.size(); }
    [[nodiscard]] std::size_t block1_transfer_count() const noexcept { return block1_.size(); }
    [[nodiscard]] std::size_t cached_response_count() const noexcept { return block2_cache_.size(); }
    [[nodiscard]] std::size_t queued_transmits() const noexcept { return transmits_.size(); }
    [[nodiscard]] std::size_t queued_events() const noexcept { return events_.size(); }
    [[nodiscard]] std::size_t defence_entries() const noexcept { return defence_.size(); }

private:
    struct Token {
        std::array<std::uint8_t, 8> bytes{};
        std::uint8_t length = 0;
        [[nodiscard]] Bytes view() const noexcept { return Bytes(bytes.data(), length); }
        friend bool operator<(const Token& a, const Token& b) noexcept {
            return a.length != b.length ? a.length < b.length : a.bytes < b.bytes;
        }
        friend bool operator==(const Token& a, const Token& b) noexcept {
            return a.length == b.length && a.bytes == b.bytes;
        }
    };
    enum class Owner : std::uint8_t { ClientRequest, SeparateResponse, Notification, Ping };
    struct Outstanding;
    struct PeerState;
    struct ClientExchange;
    struct ServerExchange;
    struct Resource;
    struct Observer;
    struct Block1Transfer;

    // messaging
    void process_datagram(TimePoint now, const Peer& from, Bytes datagram);
    PeerState& peer_state(TimePoint now, const Peer& peer);
    std::uint16_t next_mid(PeerState& ps);
    void transmit(const Peer& peer, std::vector<std::uint8_t> bytes);
    void emit(Event e);
    void send_con(TimePoint now, const Peer& peer, std::uint16_t mid, std::vector<std::uint8_t> bytes,
                  Owner owner, std::uint64_t owner_id);
    void send_rst(const Peer& peer, std::uint16_t mid);
    void send_empty_ack(TimePoint now, const Peer& peer, std::uint16_t mid, DedupCache::Entry* entry);
    void on_ack_or_rst(TimePoint now, const Peer& from, const MessageView& m);
    void give_up(TimePoint now, const Outstanding& o);
    // client
    Token new_token(const Peer& peer);
    void start_exchange(TimePoint now, ClientExchange& x);
    void send_exchange_message(TimePoint now, ClientExchange& x);
    void pump_queue(TimePoint now, const Peer& peer);
    void on_response(TimePoint now, const Peer& from, const MessageView& m);
    void process_response(TimePoint now, ClientExchange& x, const MessageView& m);
    void finish_exchange(TimePoint now, std::uint64_t id, Event e);
    void fail_exchange(TimePoint now, std::uint64_t id, FailReason reason);
    /// Waits for a (separate or NON) response until `until`, then fails with Timeout.
    void await_response(ClientExchange& x, TimePoint until);
    void release_slot(TimePoint now, ClientExchange& x);
    // server
    void on_request(TimePoint now, const Peer& from, const MessageView& m);
    struct ResponseShape;
    std::vector<std::uint8_t> build_response(MessageType type, std::uint16_t mid, Bytes token, const Response& r,
                                             const ResponseShape& shape);
    void reply_to_request(TimePoint now, const Peer& from, const MessageView& m, DedupCache::Entry& entry,
                          const Response& r, const ResponseShape& shape);
    PeerState* find_peer(const Peer& peer);
    // server defences (types.h, ServerDefences)
    struct DefenceState;
    DefenceState* defence_state(TimePoint now, const Peer& peer);
    [[nodiscard]] bool verified(const DefenceState& d, TimePoint now) const;
    /// Whether `size` more bytes may go to `peer` now; accounts them if so.
    bool may_send(TimePoint now, const Peer& peer, std::size_t size);
    /// The reply to a request from an unverified address, limited by its allowance: the
    /// reply, a 4.01 with an Echo option, or nothing (empty).
    std::vector<std::uint8_t> limit_reply(TimePoint now, const Peer& peer, std::vector<std::uint8_t> bytes,
                                          MessageType type, std::uint16_t mid, Bytes token);
    std::uint16_t mid_for(TimePoint now, const Peer& peer);
    void send_notification(TimePoint now, Resource& res, Observer& obs);
    void remove_observer(const Peer& peer, const Token& token);

    EndpointConfig config_;
    Random& rng_;
    std::string congestion_name_;
    EndpointStats stats_;
    DedupCache dedup_;
    std::uint64_t next_id_ = 1;

    std::map<Peer, std::unique_ptr<PeerState>> peers_;
    std::map<std::pair<Peer, std::uint16_t>, std::unique_ptr<Outstanding>> outstanding_;
    std::map<std::uint64_t, std::unique_ptr<ClientExchange>> exchanges_;
    std::map<std::pair<Peer, Token>, std::uint64_t> by_token_;
    std::map<std::uint64_t, std::unique_ptr<ServerExchange>> server_exchanges_;
    std::map<std::string, std::unique_ptr<Resource>> resources_;
    /// Block1 uploads being reassembled, by peer and "path|Request-Tag" (RFC 7959 §2.5).
    std::map<std::pair<Peer, std::string>, std::unique_ptr<Block1Transfer>> block1_;
    /// Bodies of POST/PUT/DELETE responses served block-wise: the handler must not run
    /// again for each Block2 continuation (RFC 7959 §3.3). Bounded like block1_.
    struct CachedResponse;
    std::map<std::pair<Peer, std::string>, std::unique_ptr<CachedResponse>> block2_cache_;
    std::uint16_t fallback_mid_ = 0;
    /// NON notifications recently sent, so an RST to one ends the observation (RFC 7641 §3.6).
    std::map<std::pair<Peer, std::uint16_t>, Token> recent_non_;
    std::deque<std::pair<Peer, std::uint16_t>> recent_non_order_;
    std::map<Peer, DefenceState> defence_;
    bool multicast_rx_ = false;  ///< the datagram being processed came through a multicast group
    /// Responses to multicast requests waiting for their point in the leisure period.
    std::multimap<TimePoint, Transmit> delayed_;
    std::deque<Transmit> transmits_;
    std::deque<Event> events_;
};

}  // namespace coap
