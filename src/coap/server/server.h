// The server side of the request/response layer (RFC 7252 §5): resources and dispatch
// (§5.4.1 critical options, §5.8 methods, §5.9 error codes), piggybacked and separate
// responses (§5.2), the block-wise server (RFC 7959, server/blockwise.h), the observe
// server (RFC 7641: observers, notifications, their sequence numbers and CON rule),
// answers to multicast requests (§8.2), and the defences (defence/guard.h) applied where
// requests enter and where responses leave.
//
// Bounds (EndpointConfig): max_server_exchanges deferred requests awaiting `respond`
// (past it: 5.03), max_observers_per_resource observers, max_block1_transfers uploads and
// kept bodies, max_server_exchanges multicast answers waiting for their leisure time,
// 4 x max_observers_per_resource + 64 recent NON notifications remembered for RST,
// max_proxy_observations targets observed through the proxy handler.
//
// A request handler sees every option (IncomingRequest) and may defer its answer
// (HandlerResult::defer(), then respond()): that is where a proxy plugs in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "coap/codec/message_view.h"
#include "coap/common/random.h"
#include "coap/common/tables.h"
#include "coap/common/token.h"
#include "coap/defence/guard.h"
#include "coap/endpoint/event_queue.h"
#include "coap/endpoint/types.h"
#include "coap/messaging/message_layer.h"
#include "coap/options/check.h"
#include "coap/server/blockwise.h"
#include "coap/server/response.h"

namespace coap {

class ServerLayer {
public:
    /// Everything referenced must outlive it; `next_id` is the endpoint's id counter.
    ServerLayer(const EndpointConfig& config, Random& rng, EndpointStats& stats, MessageLayer& messages,
                EventQueue& events, std::uint64_t& next_id);

    // ---- application commands (Endpoint's contract) ----------------------------------
    [[nodiscard]] ApiError add_resource(std::string path, ResourceConfig resource);
    /// The handler for every request that carries Proxy-Uri or Proxy-Scheme (a forward
    /// proxy, RFC 7252 §5.7); without one they are answered 5.05 (§5.7.2). It is served
    /// like a resource that allows every method: Block1 uploads reach it reassembled, it
    /// sees every option (IncomingRequest::message) and may defer; unrecognized options
    /// that are safe to forward do not make the request 4.02 (§5.4.2, §5.7.1).
    [[nodiscard]] ApiError set_proxy_handler(Handler handler);
    [[nodiscard]] ApiError respond(TimePoint now, std::uint64_t exchange_id, Response response);
    std::size_t notify(TimePoint now, const std::string& path);
    [[nodiscard]] std::size_t observer_count(const std::string& path) const;

    // ---- from the message layer -------------------------------------------------------
    void on_request(TimePoint now, const Peer& from, const MessageView& m, bool multicast);
    /// A CON separate response (exchange `id`) was reset or never acknowledged.
    void on_separate_failed(const Peer& peer, std::uint64_t id, FailReason reason);
    /// A CON notification to (peer, token) was acknowledged.
    void on_notification_acked(const Peer& peer, const Token& token);
    /// An RST matching no CON: true when it answered one of our NON notifications, whose
    /// observation it then ends (RFC 7641 §3.6).
    bool on_stray_reset(const Peer& peer, std::uint16_t mid);
    /// Ends the observation of (peer, token) on every resource.
    void remove_observer(const Peer& peer, const Token& token);
    /// Ends every observation of `peer` (it is unreachable).
    void remove_observers_of(const Peer& peer);
    /// Whether `size` more bytes may go to `peer` (the defences' allowance; accounted if so,
    /// counted in amplification_dropped if not).
    [[nodiscard]] bool may_send(TimePoint now, const Peer& peer, std::size_t size);

    // ---- timers -----------------------------------------------------------------------
    /// Sends the multicast answers whose time has come (§8.2).
    void send_delayed(TimePoint now);
    /// Forgets deferred exchanges never answered, and expired block-wise state.
    void handle_timeout(TimePoint now);
    [[nodiscard]] std::optional<TimePoint> next_deadline() const;

    // ---- state ------------------------------------------------------------------------
    [[nodiscard]] std::size_t block1_transfer_count() const noexcept { return blockwise_.uploads(); }
    [[nodiscard]] std::size_t cached_response_count() const noexcept { return blockwise_.kept(); }
    [[nodiscard]] std::size_t defence_entries() const noexcept { return guard_.entries(); }

private:
    struct Observer {
        Peer peer;
        Token token;
        std::vector<std::string> query;
        std::optional<std::uint16_t> accept;
        TimePoint last_con;
        bool con_outstanding = false;
        std::uint16_t con_mid = 0;
        std::uint8_t szx = 6;  ///< block size of its notifications: at most what it registered with (RFC 7959 §2.6)
    };
    struct Resource {
        std::string path;
        ResourceConfig config;
        std::uint32_t seq = 0;  ///< RFC 7641 §4.4: 24-bit notification sequence
        std::vector<Observer> observers;
        /// A target observed through the proxy handler (Response::observe_key): it holds
        /// observers and is notified like a resource, but no request reaches it by path,
        /// and it goes when its last observer does.
        bool proxied = false;
    };
    struct Deferred {
        Peer peer;
        Token token;
        bool confirmable = true;
        TimePoint expires;
        ResponseShape shape;  ///< the client's Block2, the Block1 to echo (RFC 7959): kept for the answer
        std::uint16_t request_mid = 0;
        std::optional<TimePoint> ack_due;  ///< the empty ACK not sent yet (separate_ack_delay)
        bool registers = false;            ///< an RFC 7641 registration to the proxy handler
        std::optional<std::uint16_t> accept;
        /// An RFC 7641 registration with this observable resource, made when answered with
        /// a success (empty: none), and the query it asked with.
        std::string resource;
        std::vector<std::string> query;
    };
    /// The request being dispatched, and what was decided about it so far.
    struct Dispatch {
        TimePoint now;
        const Peer& from;
        const MessageView& m;
        bool multicast;
        DedupCache::Entry& entry;
        ResponseShape shape;
        std::string tag;  ///< Request-Tag (RFC 9175 §3)
        bool slash_in_segment = false;  ///< a Uri-Path segment holds a "/": it names no resource here
    };

    // server.cc: dispatch
    bool read_request(Dispatch& d, std::uint64_t ignored_mask);
    /// For a request to the proxy handler: 4.02 only for an unrecognized option that is
    /// unsafe to forward (and the length and repetition problems of §5.4.3/§5.4.5).
    [[nodiscard]] bool proxy_options_acceptable(const MessageView& m, const OptionCheck& check) const;
    void serve(Dispatch& d, Resource& res, std::optional<Block> block1);
    bool reassemble(Dispatch& d, const Block& block1);
    /// RFC 7252 §5.10.8: If-Match / If-None-Match; false when answered 4.12.
    bool preconditions_hold(Dispatch& d, const Resource& res);
    void run_handler(Dispatch& d, Resource& res);
    void reply(Dispatch& d, const Response& r);
    void reply_error(Dispatch& d, Code code);
    // observe.cc: observers and notifications
    bool may_register(TimePoint now, const Peer& from, const Token& token, const Resource& res);
    static bool is_observer(const Resource& res, const Peer& peer, const Token& token);
    void register_observer(Dispatch& d, Resource& res, const Token& token);
    /// Registers (peer, token) with `res`; sets the Observe value `shape` carries. False when full.
    bool add_observer(TimePoint now, const Peer& peer, const Token& token, Resource& res,
                      const std::vector<std::string>& query, std::optional<std::uint16_t> accept, ResponseShape& shape);
    /// The resource of a target observed through the proxy handler, made if there is room.
    Resource* proxied_resource(const std::string& key);
    /// Registers a client of the proxy handler under `key` if the defences allow it.
    void register_proxied(TimePoint now, const Peer& peer, const Token& token, const std::string& key,
                          const std::vector<std::string>& query, std::optional<std::uint16_t> accept,
                          ResponseShape& shape);
    /// Drops proxied resources without observers (not while notify walks one).
    void prune_proxied();
    void send_notification(TimePoint now, Resource& res, Observer& obs);
    void send_notification_datagram(TimePoint now, Observer& obs, bool con, std::uint16_t mid,
                                    std::vector<std::uint8_t> bytes);

    const EndpointConfig& config_;
    const Duration con_lifetime_;  ///< §4.5: EXCHANGE_LIFETIME, NON_LIFETIME (the config never changes)
    const Duration non_lifetime_;
    Random& rng_;
    EndpointStats& stats_;
    MessageLayer& messages_;
    EventQueue& events_;
    std::uint64_t& next_id_;
    DefenceGuard guard_;
    BlockwiseServer blockwise_;
    /// The options this server implements in a request (RFC 7252 §5.4.1: any other
    /// critical one is answered 4.02).
    RecognizedOptions recognized_;

    std::map<std::string, Resource, std::less<>> resources_;
    std::optional<Resource> proxy_;  ///< set_proxy_handler
    SlotPool<Deferred> deferred_;
    FlatMap<std::uint64_t, std::uint32_t, IdHash> deferred_index_;
    /// NON notifications recently sent, so an RST to one ends the observation (RFC 7641 §3.6).
    FlatMap<PeerMid, Token, PeerMidHash> recent_non_;
    RingQueue<PeerMid> recent_non_order_;
    /// Responses to multicast requests waiting for their point in the leisure period.
    std::multimap<TimePoint, Transmit> delayed_;
    IncomingRequest request_;  ///< reused for every request (its buffers keep their capacity)
    std::size_t proxied_ = 0;  ///< proxied resources (max_proxy_observations)
    bool notifying_ = false;   ///< notify() is walking a resource: prune after it
};

}  // namespace coap
