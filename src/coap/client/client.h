// The client side of the request/response layer (RFC 7252 §5): requests and their
// exchanges, matched to responses by peer and token (§5.3.2); block-wise uploads (Block1)
// and downloads (Block2, RFC 7959); observations (RFC 7641); the Echo retry (RFC 9175
// §2.3). Sans-I/O: it sends through the message layer and reports through the event queue.
//
// Bounds: max_exchanges exchanges (queued ones included), max_queue_per_peer waiting for
// NSTART per peer (message layer), max_body bytes of a block-wise body. Exchanges live in
// pooled slots found by id and by (peer, token): once warm, a request costs no allocation
// here (a slot keeps its body buffer up to a few kilobytes for the next exchange).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "coap/codec/message_view.h"
#include "coap/common/random.h"
#include "coap/common/tables.h"
#include "coap/common/token.h"
#include "coap/endpoint/event_queue.h"
#include "coap/endpoint/types.h"
#include "coap/messaging/message_layer.h"
#include "coap/observe/freshness.h"
#include "coap/options/check.h"
#include "coap/options/values.h"

namespace coap {

class ClientLayer {
public:
    /// Everything referenced must outlive it; `next_id` is the endpoint's id counter
    /// (shared with pings and server exchanges).
    ClientLayer(const EndpointConfig& config, Random& rng, EndpointStats& stats, MessageLayer& messages,
                EventQueue& events, std::uint64_t& next_id);

    // ---- application commands (Endpoint's contract) ----------------------------------
    /// Copies `request` into the exchange slot's kept storage (no allocation once warm).
    [[nodiscard]] SendResult send_request(TimePoint now, const Peer& to, const Request& request);
    [[nodiscard]] SendResult send_request(TimePoint now, const Peer& to, Request&& request);
    [[nodiscard]] ApiError cancel(TimePoint now, std::uint64_t id, bool deregister);

    // ---- from the message layer -------------------------------------------------------
    /// A separate (CON or NON) response or notification (§5.2.2, RFC 7641).
    void on_response(TimePoint now, const Peer& from, const MessageView& m);
    /// The ACK of request `id`: Empty (a separate response follows) or piggybacked.
    void on_acked(TimePoint now, std::uint64_t id, const MessageView& ack);
    void on_reset(TimePoint now, std::uint64_t id);
    void on_retransmitted(std::uint64_t id);
    void on_gave_up(TimePoint now, std::uint64_t id);
    /// Request `id` got its NSTART slot: send it.
    void on_admitted(TimePoint now, std::uint64_t id);

    // ---- timers -----------------------------------------------------------------------
    /// Fails (Timeout) every exchange whose response deadline has passed, in id order.
    void handle_timeout(TimePoint now);
    [[nodiscard]] std::optional<TimePoint> next_deadline() const;

    [[nodiscard]] std::size_t active() const noexcept { return by_id_.size(); }
    /// The token of the request `id` while it is active (a proxy keys its upstream ports by it).
    [[nodiscard]] std::optional<Token> token_of(std::uint64_t id) const;

private:
    struct Exchange {
        enum class State : std::uint8_t { Queued, AwaitingAck, AwaitingResponse, Observing };
        std::uint64_t id = 0;
        Peer peer;
        Token token;
        Request request;
        State state = State::Queued;
        bool holds_slot = false;
        std::uint16_t mid = 0;
        /// RFC 7959 §2.6: with `assembling`, the Observe value of a registration response or
        /// notification whose body is being fetched block by block (the later blocks carry
        /// no Observe). (Placed in padding: the exchange stays 288 bytes.)
        std::uint32_t assembling_seq = 0;
        TimePoint started;
        TimePoint first_sent;
        bool sent = false;
        bool has_deadline = false;
        TimePoint deadline;
        unsigned retransmissions = 0;
        bool deregistering = false;       ///< the next message carries Observe: 1
        bool assembling = false;          ///< a body with an Observe value (assembling_seq) is being fetched
        bool refresh = false;             ///< a fresher notification crossed that fetch: register again after it
        std::vector<std::uint8_t> echo;   ///< RFC 9175 §2.3: the server's Echo, repeated in our requests
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
    struct TokenKey {
        Peer peer;
        Token token;
        friend bool operator==(const TokenKey& a, const TokenKey& b) noexcept {
            return a.token == b.token && a.peer == b.peer;
        }
    };
    struct TokenKeyHash {
        std::uint64_t operator()(const TokenKey& k) const noexcept { return hash_peer(k.peer, k.token.word()); }
    };
    /// What process_response does next with a response, after a step.
    enum class Step : std::uint8_t { Done, Continue };

    Exchange* find(std::uint64_t id);
    ApiError admissible(TimePoint now, const Peer& to);
    SendResult launch(TimePoint now, const Peer& to, std::uint32_t slot);
    Token new_token(const Peer& peer);
    void start(TimePoint now, Exchange& x);
    void send_message(TimePoint now, Exchange& x);
    void await_response(Exchange& x, TimePoint until);
    /// The block size the application asked for, if any.
    static std::optional<std::uint8_t> requested_szx(const Request& r);
    /// Drops the body gathered so far: the next Block2 transfer starts at block 0.
    static void restart_body(Exchange& x);
    void hold_slot(TimePoint now, Exchange& x);
    void release_slot(TimePoint now, Exchange& x);
    void fail(TimePoint now, std::uint64_t id, FailReason reason);
    void finish(TimePoint now, std::uint64_t id, Event& e);
    void process_response(TimePoint now, Exchange& x, const MessageView& m);
    Step retry_with_echo(TimePoint now, Exchange& x, const MessageView& m);
    Step continue_upload(TimePoint now, Exchange& x, const MessageView& m, const std::optional<Block>& block1);
    Step notification_blocks(TimePoint now, Exchange& x, const MessageView& m, const Block& block2,
                             std::uint64_t observe);
    void end_fetch(TimePoint now, Exchange& x);
    /// A message of a standing observation (a block GET of a notification's fetch, or a
    /// re-registration) got no answer in time: returns true when the observation stays
    /// (the fetch is dropped, and registered again once), false when the exchange fails.
    bool keep_observing(TimePoint now, Exchange& x);
    void reregister(TimePoint now, Exchange& x);
    Step take_block(TimePoint now, Exchange& x, const MessageView& m, const Block& block2,
                    const std::optional<std::uint64_t>& observe);
    void deliver(TimePoint now, Exchange& x, const MessageView& m, const std::optional<std::uint64_t>& observe);
    /// Rejects a response with RST (RFC 7252 §4.2, §4.3), within unmatched_rst_rate.
    void reject(TimePoint now, const Peer& from, std::uint16_t mid, DedupCache::Entry& entry);

    const EndpointConfig& config_;
    Random& rng_;
    EndpointStats& stats_;
    MessageLayer& messages_;
    EventQueue& events_;
    std::uint64_t& next_id_;
    /// The options this client implements in a response: every registered one but those
    /// whose meaning it cannot honour (RFC 7252 §5.4.1 makes a critical one reject it).
    RecognizedOptions recognized_;

    SlotPool<Exchange> exchanges_;
    FlatMap<std::uint64_t, std::uint32_t, IdHash> by_id_;
    std::vector<std::uint64_t> late_;  ///< scratch for handle_timeout (its capacity is kept)
    FlatMap<TokenKey, std::uint64_t, TokenKeyHash> by_token_;
    double rst_budget_ = -1;  ///< reject(): RSTs that may go now (a token bucket; -1: not started)
    TimePoint rst_refilled_;
};

}  // namespace coap
