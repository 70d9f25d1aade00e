// The message layer of RFC 7252 §4, sans-I/O: Message IDs, Confirmable messages
// retransmitted through a congestion strategy until an ACK or RST (§4.2), the
// de-duplication table (§4.5), NSTART and PROBING_RATE per peer (§4.7), format errors
// (§4.2, §4.3), pings (§4.3), and the queue of datagrams for the driver.
//
// It knows nothing of requests, resources, blocks or observe. What it carries for the
// layer above is opaque: a Confirmable message's Owner (handed back when it is
// acknowledged, reset, retransmitted or given up), and the numbers of the interactions
// waiting for an NSTART slot (handed back when admitted). Requests and responses go up
// through the Upper interface, with the parsed message.
//
// Bounds (EndpointConfig): max_peers per-peer states (the least recently used idle one is
// evicted), max_outstanding Confirmable messages awaiting an ACK (past it a CON is sent
// once without retransmission state), max_queue_per_peer waiting interactions per peer,
// dedup_capacity §4.5 entries, max_transmits datagrams queued for the driver (past it a
// datagram is dropped and counted). Storage is pooled (common/tables.h): once warm, a
// message costs no allocation here except the datagram buffer a driver takes away with
// poll_transmit() (poll_transmit(Transmit&) hands it back).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "coap/codec/message_view.h"
#include "coap/common/random.h"
#include "coap/common/tables.h"
#include "coap/common/token.h"
#include "coap/congestion/congestion.h"
#include "coap/endpoint/types.h"
#include "coap/messaging/dedup.h"

namespace coap {

/// Who a Confirmable message belongs to; opaque to the message layer.
enum class OwnerKind : std::uint8_t { ClientRequest, SeparateResponse, Notification, Ping };
struct Owner {
    OwnerKind kind = OwnerKind::ClientRequest;
    std::uint64_t id = 0;  ///< the exchange (or ping) it belongs to
    Token token;           ///< for notifications: the observer's token
};

class MessageLayer {
public:
    /// The layer above (the endpoint), told of everything that concerns it. Calls are
    /// made from inside handle_datagram, handle_timeout and pump; they may call back into
    /// the message layer (send, release, ...).
    class Upper {
    public:
        /// A request (CON or NON) arrived; `multicast` when through a group (§8).
        virtual void on_request(TimePoint now, const Peer& from, const MessageView& m, bool multicast) = 0;
        /// A separate (CON or NON) response arrived.
        virtual void on_response(TimePoint now, const Peer& from, const MessageView& m) = 0;
        /// The ACK for `owner`'s Confirmable message (Empty, or a piggybacked response).
        virtual void on_acked(TimePoint now, const Peer& from, const Owner& owner, const MessageView& ack,
                              Duration rtt) = 0;
        /// The RST for `owner`'s Confirmable message.
        virtual void on_reset(TimePoint now, const Peer& from, const Owner& owner, TimePoint first_sent) = 0;
        /// An RST that matches no Confirmable message; true when the layer above knew its
        /// Message ID (a NON notification, RFC 7641 §3.6).
        virtual bool on_stray_reset(TimePoint now, const Peer& from, std::uint16_t mid) = 0;
        /// Whether `owner`'s Confirmable message of `size` bytes may be sent again to `peer`
        /// now (a server's amplification allowance); when not, the retransmission is
        /// skipped but its schedule goes on (MAX_RETRANSMIT still ends it).
        virtual bool may_retransmit(TimePoint now, const Peer& peer, const Owner& owner, std::size_t size) = 0;
        /// `owner`'s Confirmable message was retransmitted.
        virtual void on_retransmitted(const Owner& owner) = 0;
        /// MAX_RETRANSMIT was reached without an ACK or RST (§4.2).
        virtual void on_gave_up(TimePoint now, const Peer& peer, const Owner& owner, unsigned retransmissions,
                                TimePoint first_sent) = 0;
        /// A queued interaction may start now: NSTART has room (the layer above takes the
        /// slot with take_slot when it starts it).
        virtual void on_admitted(TimePoint now, std::uint64_t interaction) = 0;

    protected:
        ~Upper() = default;
    };

    /// `config` (already normalised by the endpoint), `rng` and `stats` must outlive it.
    MessageLayer(const EndpointConfig& config, Random& rng, EndpointStats& stats, Upper& upper);
    ~MessageLayer();
    MessageLayer(const MessageLayer&) = delete;
    MessageLayer& operator=(const MessageLayer&) = delete;

    // ---- input -------------------------------------------------------------------
    /// Parses and classifies a datagram (§4.2, §4.3), then hands it up.
    void handle_datagram(TimePoint now, const Peer& from, Bytes datagram, bool multicast);
    /// Retransmits or gives up every Confirmable message due at `now` (§4.2), in (peer,
    /// Message ID) order; expires de-duplication entries.
    void handle_timeout(TimePoint now);
    /// Admits what NSTART and PROBING_RATE now allow, for every peer with a queue (in
    /// peer order).
    void pump_all(TimePoint now);
    /// The earliest retransmission or probing deadline.
    [[nodiscard]] std::optional<TimePoint> next_deadline() const;

    // ---- peers (§4.4, §4.7) ---------------------------------------------------------
    /// Whether state for `peer` exists or could be made now (there is room, or an idle
    /// peer to evict).
    [[nodiscard]] bool can_add_peer(const Peer& peer) const;
    /// The next Message ID toward `peer` (§4.4), its state made if needed (evicting the
    /// least recently used idle peer when the table is full).
    [[nodiscard]] std::uint16_t next_mid(TimePoint now, const Peer& peer);
    /// The same, but when the table is full and `peer` is not in it, a shared fallback
    /// counter instead of evicting (responses and notifications).
    [[nodiscard]] std::uint16_t mid_for(TimePoint now, const Peer& peer);
    [[nodiscard]] std::optional<Duration> current_rto(TimePoint now, const Peer& peer) const;
    /// The peer's congestion strategy's state name (CongestionControl::state_name), empty
    /// when the peer has no state or the strategy none.
    [[nodiscard]] std::string_view congestion_state(const Peer& peer) const;
    [[nodiscard]] std::size_t peer_count() const noexcept { return peer_index_.size(); }

    // ---- NSTART (§4.7) ---------------------------------------------------------------
    /// Makes `peer`'s state if needed; whether its queue has room for one more.
    [[nodiscard]] bool queue_has_room(TimePoint now, const Peer& peer);
    /// Queues interaction `id` toward `peer` (after queue_has_room said yes).
    void enqueue(const Peer& peer, std::uint64_t id);
    /// Removes a queued interaction (it was cancelled or failed before it started).
    void dequeue(const Peer& peer, std::uint64_t id);
    /// Admits queued interactions while NSTART and PROBING_RATE allow (Upper::on_admitted).
    void pump(TimePoint now, const Peer& peer);
    /// Whether an interaction queued now would be admitted at once by pump(): nothing
    /// queued before it, a free NSTART slot, no PROBING_RATE wait. The caller may then
    /// start it without queueing (the same order and the same effect, minus the queue).
    [[nodiscard]] bool admits_now(TimePoint now, const Peer& peer) const;
    /// Takes an NSTART slot without queueing (a deregistration, RFC 7641 §3.6).
    void take_slot(TimePoint now, const Peer& peer);
    /// Gives a slot back; `then_pump`: admit the next queued interaction at once.
    void release_slot(TimePoint now, const Peer& peer, bool then_pump);
    /// A request of `size` bytes goes to `peer`: PROBING_RATE paces the next one while
    /// the peer is unresponsive (§4.7).
    void pace(TimePoint now, const Peer& peer, std::size_t size);

    // ---- sending ----------------------------------------------------------------------
    /// A buffer to build a datagram in (recycled when one is spare), `size` bytes long.
    [[nodiscard]] std::vector<std::uint8_t> buffer(std::size_t size);
    /// Queues a datagram for the driver (counted by type). Shorter than 4 bytes: dropped.
    void transmit(const Peer& peer, std::vector<std::uint8_t> bytes);
    /// Queues a copy of `bytes`.
    void transmit_copy(const Peer& peer, const std::vector<std::uint8_t>& bytes);
    /// Sends a Confirmable message and keeps it for retransmission (§4.2); false when the
    /// retransmission table was full (then it is sent once, untracked).
    bool send_con(TimePoint now, const Peer& peer, std::uint16_t mid, std::vector<std::uint8_t> bytes,
                  const Owner& owner);
    void send_rst(const Peer& peer, std::uint16_t mid);
    /// An Empty ACK (§4.2), also kept in `entry` for duplicates.
    void send_empty_ack(const Peer& peer, std::uint16_t mid, DedupCache::Entry* entry);
    /// Writes an Empty message (§4.1) into `out`.
    static void empty_message(std::vector<std::uint8_t>& out, MessageType type, std::uint16_t mid);

    // ---- Confirmable messages awaiting an ACK ---------------------------------------------
    [[nodiscard]] bool is_outstanding(const Peer& peer, std::uint16_t mid) const;
    /// How many times (peer, mid) has been retransmitted so far; nullopt when it is not outstanding.
    [[nodiscard]] std::optional<unsigned> retransmissions_of(const Peer& peer, std::uint16_t mid) const;
    /// Stops retransmitting (peer, mid); nothing is reported.
    void forget(const Peer& peer, std::uint16_t mid);
    /// RFC 7641 §4.5.2: a newer notification replaces the one in flight as (peer, old_mid),
    /// keeping its retransmission counter and timeout; false when there is none.
    bool replace(const Peer& peer, std::uint16_t old_mid, std::uint16_t mid, std::vector<std::uint8_t> bytes);
    [[nodiscard]] std::size_t outstanding_count() const noexcept { return outstanding_index_.size(); }

    // ---- the rest ----------------------------------------------------------------------
    [[nodiscard]] DedupCache& dedup() noexcept { return dedup_; }
    [[nodiscard]] const DedupCache& dedup() const noexcept { return dedup_; }
    [[nodiscard]] std::optional<Transmit> poll_transmit();
    /// As poll_transmit, swapping buffers with `into` so that its old buffer is reused.
    [[nodiscard]] bool poll_transmit(Transmit& into);
    [[nodiscard]] std::size_t queued_transmits() const noexcept { return transmits_.size(); }

private:
    struct PeerState {
        Peer peer;
        std::unique_ptr<CongestionControl> cc;
        std::uint16_t mid = 0;
        std::size_t in_flight = 0;           ///< NSTART slots in use (§4.7)
        RingQueue<std::uint64_t> queue;      ///< interactions waiting for a slot
        TimePoint last_used;
        bool unresponsive = false;           ///< a CON to it timed out and nothing was heard since (§4.7)
        TimePoint next_probe_allowed;        ///< PROBING_RATE pacing while unresponsive
        std::size_t outstanding = 0;         ///< its Confirmable messages awaiting an ACK
    };
    struct Outstanding {
        Peer peer;
        std::uint16_t mid = 0;
        std::vector<std::uint8_t> bytes;
        TimePoint first_sent;
        TimePoint deadline;
        Duration timeout;
        FirstTimeout first;
        unsigned retransmissions = 0;
        Owner owner;
    };

    /// One message touches its peer's state several times: the last one found is tried first.
    PeerState* find_peer(const Peer& peer) {
        if (last_peer_ != nullptr && last_peer_->peer == peer) return last_peer_;
        return find_peer_indexed(peer);
    }
    const PeerState* find_peer(const Peer& peer) const {
        if (last_peer_ != nullptr && last_peer_->peer == peer) return last_peer_;
        const std::uint32_t* slot = peer_index_.find(peer);
        return slot == nullptr ? nullptr : &peers_[*slot];
    }
    PeerState* find_peer_indexed(const Peer& peer);
    /// §4.7: an unresponsive peer gets its next interaction only at PROBING_RATE (pump()
    /// and admits_now() ask the same question).
    static bool probing_holds(const PeerState& ps, TimePoint now) noexcept {
        return ps.unresponsive && now < ps.next_probe_allowed;
    }
    PeerState& peer_state(TimePoint now, const Peer& peer) {
        if (last_peer_ != nullptr && last_peer_->peer == peer) {
            last_peer_->last_used = now;
            return *last_peer_;
        }
        return peer_state_slow(now, peer);
    }
    PeerState& peer_state_slow(TimePoint now, const Peer& peer);
    void evict_idle_peer();
    void on_ack_or_rst(TimePoint now, const Peer& from, const MessageView& m);
    void retransmit_or_give_up(TimePoint now, std::uint32_t* indexed);
    /// Removes the CON whose outstanding_index_ entry is `indexed` (from find()).
    void remove_outstanding(std::uint32_t* indexed);
    void recycle(std::vector<std::uint8_t>&& buffer);
    void count_outstanding(const Peer& peer, int delta);

    const EndpointConfig& config_;
    Random& rng_;
    EndpointStats& stats_;
    Upper& upper_;
    DedupCache dedup_;

    SlotPool<PeerState> peers_;
    FlatMap<Peer, std::uint32_t, PeerHashOf> peer_index_;
    PeerState* last_peer_ = nullptr;  ///< the state find_peer found last (a live peer; slots do not move)
    std::size_t peers_queueing_ = 0;  ///< peers with a non-empty queue
    std::uint16_t fallback_mid_ = 0;

    SlotPool<Outstanding> outstanding_;
    FlatMap<PeerMid, std::uint32_t, PeerMidHash> outstanding_index_;
    /// Outstanding messages of peers whose state was evicted while some were in flight
    /// (separate responses, notifications): restored if the peer's state is made again.
    FlatMap<Peer, std::size_t, PeerHashOf> orphan_outstanding_;
    std::vector<PeerMid> due_;  ///< scratch for handle_timeout (its capacity is kept)
    std::vector<Peer> waiting_;  ///< scratch for pump_all (likewise)

    RingQueue<Transmit> transmits_;
    std::vector<std::vector<std::uint8_t>> spare_;  ///< buffers handed back, for reuse
};

}  // namespace coap
