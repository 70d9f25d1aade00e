#include "coap/messaging/message_layer.h"

#include <algorithm>

#include "coap/codec/writer.h"

namespace coap {

namespace {
constexpr std::size_t kSpareBuffers = 64;         ///< datagram buffers kept for reuse
constexpr std::size_t kSpareCapacity = 2048;      ///< larger buffers are freed, not kept
}  // namespace

MessageLayer::MessageLayer(const EndpointConfig& config, Random& rng, EndpointStats& stats, Upper& upper)
    : config_(config), rng_(rng), stats_(stats), upper_(upper), dedup_(config.dedup_capacity) {
    spare_.reserve(kSpareBuffers);
}

MessageLayer::~MessageLayer() = default;

// ---------------------------------------------------------------------------------
// Peers (§4.4, §4.7)

MessageLayer::PeerState* MessageLayer::find_peer_indexed(const Peer& peer) {
    const std::uint32_t* slot = peer_index_.find(peer);
    if (slot == nullptr) return nullptr;
    last_peer_ = &peers_[*slot];
    return last_peer_;
}

void MessageLayer::evict_idle_peer() {
    // The least recently used idle peer (ties: the lowest address); CoCoA asks for state
    // to be kept at least 255 s, which holds unless more than max_peers peers are active
    // within it.
    const std::uint32_t* victim = nullptr;
    peer_index_.for_each([&](const Peer& p, const std::uint32_t& slot) {
        const PeerState& s = peers_[slot];
        if (s.in_flight != 0 || !s.queue.empty()) return;
        if (victim == nullptr) {
            victim = &slot;
            return;
        }
        const PeerState& v = peers_[*victim];
        if (s.last_used < v.last_used || (s.last_used == v.last_used && p < v.peer)) victim = &slot;
    });
    if (victim == nullptr) return;
    const std::uint32_t slot = *victim;
    PeerState& gone = peers_[slot];
    if (gone.outstanding != 0) orphan_outstanding_.put(gone.peer, gone.outstanding);
    peer_index_.erase(gone.peer);
    peers_.release(slot);
    if (last_peer_ == &gone) last_peer_ = nullptr;
}

MessageLayer::PeerState& MessageLayer::peer_state_slow(TimePoint now, const Peer& peer) {
    if (PeerState* ps = find_peer_indexed(peer)) {
        ps->last_used = now;
        return *ps;
    }
    if (peer_index_.size() >= config_.max_peers) evict_idle_peer();
    const std::uint32_t slot = peers_.acquire();
    PeerState& ps = peers_[slot];
    ps.peer = peer;
    ps.cc = make_congestion_control(config_.congestion, config_.params);
    // RFC 7252 §4.4: the initial Message ID should be randomized.
    ps.mid = config_.random_initial_mid ? static_cast<std::uint16_t>(rng_.below(65536)) : 0;
    ps.in_flight = 0;
    ps.queue.clear();
    ps.last_used = now;
    ps.unresponsive = false;
    ps.next_probe_allowed = TimePoint();
    ps.outstanding = 0;
    if (!orphan_outstanding_.empty()) {
        if (const std::size_t* n = orphan_outstanding_.find(peer)) {
            ps.outstanding = *n;
            orphan_outstanding_.erase(peer);
        }
    }
    peer_index_.put(peer, slot);
    last_peer_ = &ps;
    return ps;
}

bool MessageLayer::can_add_peer(const Peer& peer) const {
    if (find_peer(peer) != nullptr || peer_index_.size() < config_.max_peers) return true;
    bool evictable = false;
    peer_index_.for_each([&](const Peer&, const std::uint32_t& slot) {
        const PeerState& s = peers_[slot];
        evictable = evictable || (s.in_flight == 0 && s.queue.empty());
    });
    return evictable;
}

std::uint16_t MessageLayer::next_mid(TimePoint now, const Peer& peer) { return peer_state(now, peer).mid++; }

std::uint16_t MessageLayer::mid_for(TimePoint now, const Peer& peer) {
    if (peer_index_.size() < config_.max_peers || find_peer(peer) != nullptr) return next_mid(now, peer);
    return fallback_mid_++;  // the peer table is full of busy peers
}

std::optional<Duration> MessageLayer::current_rto(TimePoint now, const Peer& peer) const {
    const PeerState* ps = find_peer(peer);
    if (ps == nullptr) return std::nullopt;
    return ps->cc->current_rto(now);
}

std::string_view MessageLayer::congestion_state(const Peer& peer) const {
    const PeerState* ps = find_peer(peer);
    return ps == nullptr ? std::string_view() : ps->cc->state_name();
}

// ---------------------------------------------------------------------------------
// NSTART and PROBING_RATE (§4.7)

bool MessageLayer::queue_has_room(TimePoint now, const Peer& peer) {
    return peer_state(now, peer).queue.size() < config_.max_queue_per_peer;
}

void MessageLayer::enqueue(const Peer& peer, std::uint64_t id) {
    PeerState* ps = find_peer(peer);
    if (ps == nullptr) return;
    if (ps->queue.empty()) ++peers_queueing_;
    ps->queue.push_back(id);
}

void MessageLayer::dequeue(const Peer& peer, std::uint64_t id) {
    PeerState* ps = find_peer(peer);
    if (ps == nullptr) return;
    for (std::size_t k = 0; k < ps->queue.size(); ++k) {
        if (ps->queue[k] != id) continue;
        ps->queue.erase_at(k);
        if (ps->queue.empty()) --peers_queueing_;
        return;
    }
}

void MessageLayer::pump(TimePoint now, const Peer& peer) {
    PeerState* ps = find_peer(peer);
    if (ps == nullptr) return;
    // §4.7: at most NSTART outstanding interactions per peer.
    while (!ps->queue.empty() && ps->in_flight < config_.params.nstart) {
        if (probing_holds(*ps, now)) {
            ++stats_.probing_delays;
            return;  // PROBING_RATE (§4.7); next_deadline() wakes us at next_probe_allowed
        }
        const std::uint64_t id = ps->queue.front();
        ps->queue.pop_front();
        if (ps->queue.empty()) --peers_queueing_;
        upper_.on_admitted(now, id);
    }
}

bool MessageLayer::admits_now(TimePoint now, const Peer& peer) const {
    const PeerState* ps = find_peer(peer);
    return ps != nullptr && ps->queue.empty() && ps->in_flight < config_.params.nstart && !probing_holds(*ps, now);
}

void MessageLayer::pump_all(TimePoint now) {
    if (peers_queueing_ == 0) return;
    waiting_.clear();
    peer_index_.for_each([&](const Peer& p, const std::uint32_t& slot) {
        if (!peers_[slot].queue.empty()) waiting_.push_back(p);
    });
    std::sort(waiting_.begin(), waiting_.end());
    for (const Peer& p : waiting_) pump(now, p);  // pump() never calls pump_all()
}

void MessageLayer::take_slot(TimePoint now, const Peer& peer) { ++peer_state(now, peer).in_flight; }

void MessageLayer::release_slot(TimePoint now, const Peer& peer, bool then_pump) {
    PeerState* ps = find_peer(peer);
    if (ps == nullptr) return;
    if (ps->in_flight > 0) --ps->in_flight;
    if (then_pump) pump(now, peer);
}

void MessageLayer::pace(TimePoint now, const Peer& peer, std::size_t size) {
    PeerState& ps = peer_state(now, peer);
    if (ps.unresponsive) {
        // §4.7: PROBING_RATE bytes per second on average toward an unresponsive peer.
        ps.next_probe_allowed = now + Duration::from_seconds(static_cast<double>(size) / config_.params.probing_rate);
    }
}

// ---------------------------------------------------------------------------------
// Sending

std::vector<std::uint8_t> MessageLayer::buffer(std::size_t size) {
    std::vector<std::uint8_t> b;
    if (!spare_.empty()) {
        b.swap(spare_.back());
        spare_.pop_back();
    }
    b.resize(size);
    return b;
}

void MessageLayer::recycle(std::vector<std::uint8_t>&& b) {
    if (b.capacity() == 0 || b.capacity() > kSpareCapacity || spare_.size() >= kSpareBuffers) return;
    b.clear();
    spare_.push_back(std::move(b));
}

void MessageLayer::transmit(const Peer& peer, std::vector<std::uint8_t> bytes) {
    if (bytes.size() < 4) return recycle(std::move(bytes));
    if (transmits_.size() >= config_.max_transmits) {
        ++stats_.transmits_dropped;
        return recycle(std::move(bytes));
    }
    const auto type = static_cast<std::size_t>((bytes[0] >> 4) & 0x03);
    ++stats_.sent_messages[type];
    stats_.sent_bytes[type] += bytes.size();
    if (type == static_cast<std::size_t>(MessageType::Rst)) ++stats_.rst_sent;
    Transmit& t = transmits_.push_slot();
    t.peer = peer;
    t.bytes.swap(bytes);
    recycle(std::move(bytes));  // what the slot held: a buffer a driver handed back
}

void MessageLayer::transmit_copy(const Peer& peer, const std::vector<std::uint8_t>& bytes) {
    std::vector<std::uint8_t> b = buffer(bytes.size());
    std::copy(bytes.begin(), bytes.end(), b.begin());
    transmit(peer, std::move(b));
}

void MessageLayer::empty_message(std::vector<std::uint8_t>& out, MessageType type, std::uint16_t mid) {
    // An Empty message (§4.1): a header alone.
    out.resize(4);
    MessageWriter w(MutableBytes(out.data(), out.size()), type, codes::kEmpty, mid, Bytes());
    const BuildResult r = w.finish();
    out.resize(r.ok() ? r.size : 0);
}

void MessageLayer::send_rst(const Peer& peer, std::uint16_t mid) {
    std::vector<std::uint8_t> b = buffer(4);
    empty_message(b, MessageType::Rst, mid);
    transmit(peer, std::move(b));
}

void MessageLayer::send_empty_ack(const Peer& peer, std::uint16_t mid, DedupCache::Entry* entry) {
    std::vector<std::uint8_t> b = buffer(4);
    empty_message(b, MessageType::Ack, mid);
    if (entry != nullptr) entry->reply = b;
    transmit(peer, std::move(b));
}

void MessageLayer::count_outstanding(const Peer& peer, int delta) {
    PeerState* ps = find_peer(peer);
    if (ps != nullptr) {
        ps->outstanding = delta > 0 ? ps->outstanding + 1 : ps->outstanding - (ps->outstanding > 0 ? 1 : 0);
        return;
    }
    std::size_t* n = orphan_outstanding_.find(peer);  // its state was evicted meanwhile
    if (delta > 0) {
        orphan_outstanding_.put(peer, n == nullptr ? 1 : *n + 1);
    } else if (n != nullptr && --*n == 0) {
        orphan_outstanding_.erase(peer);
    }
}

bool MessageLayer::send_con(TimePoint now, const Peer& peer, std::uint16_t mid, std::vector<std::uint8_t> bytes,
                            const Owner& owner) {
    PeerState& ps = peer_state(now, peer);
    if (outstanding_index_.size() >= config_.max_outstanding) {
        // The table is full: send once without retransmission state rather than
        // growing it; the exchange then ends by its own deadline.
        transmit(peer, std::move(bytes));
        return false;
    }
    if (std::uint32_t* old = outstanding_index_.find(PeerMid{peer, mid})) remove_outstanding(old);
    const std::uint32_t slot = outstanding_.acquire();
    Outstanding& o = outstanding_[slot];
    o.peer = peer;
    o.mid = mid;
    o.first_sent = now;
    o.first = ps.cc->initial_timeout(now, rng_, ps.outstanding);
    o.timeout = o.first.timeout;
    o.deadline = now + o.timeout;
    o.retransmissions = 0;
    o.owner = owner;
    o.bytes.assign(bytes.begin(), bytes.end());  // kept for retransmission
    transmit(peer, std::move(bytes));
    outstanding_index_.put(PeerMid{peer, mid}, slot);
    ++ps.outstanding;  // count_outstanding(peer, +1) with the state at hand
    return true;
}

// ---------------------------------------------------------------------------------
// Confirmable messages awaiting an ACK (§4.2)

void MessageLayer::remove_outstanding(std::uint32_t* indexed) {
    const std::uint32_t slot = *indexed;
    Outstanding& o = outstanding_[slot];
    outstanding_index_.erase_found(indexed);
    count_outstanding(o.peer, -1);
    if (o.bytes.capacity() > kSpareCapacity) std::vector<std::uint8_t>().swap(o.bytes);
    outstanding_.release(slot);
}

bool MessageLayer::is_outstanding(const Peer& peer, std::uint16_t mid) const {
    return outstanding_index_.find(PeerMid{peer, mid}) != nullptr;
}

std::optional<unsigned> MessageLayer::retransmissions_of(const Peer& peer, std::uint16_t mid) const {
    const std::uint32_t* slot = outstanding_index_.find(PeerMid{peer, mid});
    if (slot == nullptr) return std::nullopt;
    return outstanding_[*slot].retransmissions;
}

void MessageLayer::forget(const Peer& peer, std::uint16_t mid) {
    if (std::uint32_t* slot = outstanding_index_.find(PeerMid{peer, mid})) remove_outstanding(slot);
}

bool MessageLayer::replace(const Peer& peer, std::uint16_t old_mid, std::uint16_t mid, std::vector<std::uint8_t> bytes) {
    const std::uint32_t* found = outstanding_index_.find(PeerMid{peer, old_mid});
    if (found == nullptr) return false;
    const std::uint32_t slot = *found;
    outstanding_index_.erase(PeerMid{peer, old_mid});
    if (std::uint32_t* other = outstanding_index_.find(PeerMid{peer, mid})) remove_outstanding(other);
    Outstanding& o = outstanding_[slot];
    o.mid = mid;
    o.bytes = bytes;
    transmit(peer, std::move(bytes));
    outstanding_index_.put(PeerMid{peer, mid}, slot);
    return true;
}

void MessageLayer::handle_timeout(TimePoint now) {
    dedup_.expire(now);
    stats_.dedup_evictions = dedup_.evictions();
    // Retransmissions and give-ups (§4.2), in (peer, Message ID) order.
    due_.clear();
    outstanding_index_.for_each([&](const PeerMid& key, const std::uint32_t& slot) {
        if (outstanding_[slot].deadline <= now) due_.push_back(key);
    });
    if (due_.empty()) return;
    std::sort(due_.begin(), due_.end(), [](const PeerMid& a, const PeerMid& b) {
        return a.peer != b.peer ? a.peer < b.peer : a.mid < b.mid;
    });
    for (const PeerMid& key : due_) {
        std::uint32_t* slot = outstanding_index_.find(key);
        if (slot != nullptr) retransmit_or_give_up(now, slot);
    }
}

void MessageLayer::retransmit_or_give_up(TimePoint now, std::uint32_t* indexed) {
    Outstanding& o = outstanding_[*indexed];
    if (o.retransmissions < config_.params.max_retransmit) {
        ++o.retransmissions;
        PeerState& ps = peer_state(now, o.peer);
        o.timeout = ps.cc->next_timeout(now, o.first, o.timeout, o.retransmissions);
        o.deadline = now + o.timeout;
        if (!upper_.may_retransmit(now, o.peer, o.owner, o.bytes.size())) return;
        ++stats_.retransmissions;
        upper_.on_retransmitted(o.owner);
        transmit_copy(o.peer, o.bytes);
        return;
    }
    const Peer peer = o.peer;
    const Owner owner = o.owner;
    const unsigned retransmissions = o.retransmissions;
    const TimePoint first_sent = o.first_sent;
    remove_outstanding(indexed);
    if (PeerState* ps = find_peer(peer)) {
        ps->unresponsive = true;  // §4.7: from now on, PROBING_RATE applies
        ps->next_probe_allowed = now;
    }
    upper_.on_gave_up(now, peer, owner, retransmissions, first_sent);
}

std::optional<TimePoint> MessageLayer::next_deadline() const {
    std::optional<TimePoint> t;
    auto consider = [&](TimePoint x) {
        if (!t || x < *t) t = x;
    };
    outstanding_index_.for_each([&](const PeerMid&, const std::uint32_t& slot) { consider(outstanding_[slot].deadline); });
    if (peers_queueing_ > 0) {
        peer_index_.for_each([&](const Peer&, const std::uint32_t& slot) {
            const PeerState& ps = peers_[slot];
            if (!ps.queue.empty() && ps.unresponsive && ps.in_flight < config_.params.nstart) {
                consider(ps.next_probe_allowed);
            }
        });
    }
    return t;
}

// ---------------------------------------------------------------------------------
// Input (§4.2, §4.3)

void MessageLayer::handle_datagram(TimePoint now, const Peer& from, Bytes datagram, bool multicast) {
    PeerState* known = multicast ? nullptr : find_peer(from);
    const bool was_unresponsive = known != nullptr && known->unresponsive;
    // §4.7: it answers again, so PROBING_RATE no longer holds back what is queued.
    if (was_unresponsive) known->unresponsive = false;

    MessageView m;
    const ParseResult r = parse(datagram, m);
    if (!r.ok()) {
        ++stats_.format_errors;
        ++stats_.format_error_reasons[static_cast<std::size_t>(r.error) & 0x0f];
        // §4.2: a CON with a format error is rejected with RST; §4.3: anything else is
        // silently ignored. The RST needs the Message ID, so a header first.
        if (!multicast && datagram.size() >= 4 && (datagram[0] >> 6) == 1 && ((datagram[0] >> 4) & 0x03) == 0) {
            send_rst(from, static_cast<std::uint16_t>((datagram[2] << 8) | datagram[3]));
        }
    } else {
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
            } else {
                on_ack_or_rst(now, from, m);
            }
        } else if (multicast && !code.is_request()) {
            ++stats_.dropped_unexpected;  // §8.1: nothing but requests through a group, and no RST
        } else if (code.is_empty()) {
            // §4.3: an Empty CON is a ping, answered with RST; an Empty NON is rejected.
            if (m.type() == MessageType::Con) {
                send_rst(from, m.message_id());
            } else {
                ++stats_.dropped_unexpected;
            }
        } else if (code.is_request()) {
            upper_.on_request(now, from, m, multicast);
        } else if (code.is_response()) {
            upper_.on_response(now, from, m);
        } else {
            // Reserved classes 1, 6, 7 (§3): reject a CON, ignore a NON (§4.2, §4.3).
            ++stats_.dropped_unexpected;
            if (m.type() == MessageType::Con) send_rst(from, m.message_id());
        }
    }
    if (was_unresponsive) pump(now, from);
}

void MessageLayer::on_ack_or_rst(TimePoint now, const Peer& from, const MessageView& m) {
    std::uint32_t* found = outstanding_index_.find(PeerMid{from, m.message_id()});
    if (found == nullptr) {
        if (m.type() == MessageType::Rst && upper_.on_stray_reset(now, from, m.message_id())) return;
        ++stats_.dropped_unexpected;  // late or duplicate ACK/RST
        return;
    }
    if (m.type() == MessageType::Ack && !m.code().is_empty()) {
        // RFC 7252 §5.3.2: a piggybacked response matches by Message ID and token. With
        // another token it answers nothing: the CON stays outstanding (one guessed MID
        // must not stop its retransmissions nor leave it waiting for a separate response).
        const std::vector<std::uint8_t>& con = outstanding_[*found].bytes;
        const std::size_t tkl = con.empty() ? 0 : con[0] & 0x0f;
        const Bytes token = con.size() >= 4 + tkl ? Bytes(con.data() + 4, tkl) : Bytes();
        if (m.token() != token) {
            ++stats_.dropped_unexpected;
            return;
        }
    }
    const Owner owner = outstanding_[*found].owner;
    const unsigned retransmissions = outstanding_[*found].retransmissions;
    const TimePoint first_sent = outstanding_[*found].first_sent;
    remove_outstanding(found);
    if (m.type() == MessageType::Rst) {
        upper_.on_reset(now, from, owner, first_sent);
        return;
    }
    // An ACK: an RTT sample for the peer's strategy, measured from the first transmission.
    const Duration rtt = now - first_sent;
    if (PeerState* ps = find_peer(from); ps && ps->cc->on_ack(now, rtt, retransmissions)) ++stats_.rtt_samples_taken;
    ++stats_.rtt_samples;
    stats_.rtt_sum += rtt;
    stats_.rtt_min = std::min(stats_.rtt_min, rtt);
    stats_.rtt_max = std::max(stats_.rtt_max, rtt);
    upper_.on_acked(now, from, owner, m, rtt);
}

std::optional<Transmit> MessageLayer::poll_transmit() {
    if (transmits_.empty()) return std::nullopt;
    Transmit t;
    t.peer = transmits_.front().peer;
    t.bytes.swap(transmits_.front().bytes);
    transmits_.pop_front();
    return t;
}

bool MessageLayer::poll_transmit(Transmit& into) {
    if (transmits_.empty()) return false;
    Transmit& front = transmits_.front();
    into.peer = front.peer;
    into.bytes.swap(front.bytes);
    recycle(std::move(front.bytes));  // the driver's previous buffer, for the next datagram
    front.bytes = {};
    transmits_.pop_front();
    return true;
}

}  // namespace coap
