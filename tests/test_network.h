// A deterministic in-memory network for endpoint tests (STYLE §11): endpoints, a
// virtual clock, per-link latency, seeded loss, duplication and reordering, and a
// script hook to drop or rewrite chosen datagrams. step() jumps to the earliest
// delivery or endpoint deadline; drive() runs until idle or a time limit.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "coap/codec/message_view.h"
#include "coap/common/random.h"
#include "coap/endpoint/endpoint.h"

namespace coapbed::test {

struct LinkParams {
    coap::Duration latency = coap::Duration::milliseconds(50);
    double loss = 0.0;          ///< probability a datagram is lost
    double duplicate = 0.0;     ///< probability a datagram is delivered twice
    coap::Duration jitter;      ///< extra uniform delay in [0, jitter]: reorders
};

struct Captured {
    coap::TimePoint at;
    coap::Peer from;
    coap::Peer to;
    std::vector<std::uint8_t> bytes;
    bool dropped = false;
    std::size_t capacity = 0;  ///< of the buffer the endpoint handed over (what it allocated for the datagram)
};

class TestNetwork {
public:
    struct Node {
        coap::Peer address;
        std::unique_ptr<coap::Xoshiro256> rng;
        std::unique_ptr<coap::Endpoint> endpoint;
        std::vector<coap::Event> events;
    };

    explicit TestNetwork(std::uint64_t seed) : rng_(seed), seed_(seed) {}

    Node& add(coap::EndpointConfig config, std::uint32_t ipv4, std::uint16_t port = 5683) {
        auto n = std::make_unique<Node>();
        n->address = coap::Peer::ipv4(ipv4, port);
        n->rng = std::make_unique<coap::Xoshiro256>(seed_ * 1000003 + ipv4);
        n->endpoint = std::make_unique<coap::Endpoint>(std::move(config), *n->rng);
        nodes_.push_back(std::move(n));
        return *nodes_.back();
    }

    LinkParams link;  ///< applies to every direction
    /// Return true to drop this datagram (called before random loss).
    std::function<bool(const Captured&)> drop;

    coap::TimePoint now() const { return now_; }
    const std::vector<Captured>& log() const { return log_; }

    /// Delivers a hand-made datagram to `to` at the current time (as if from `from`).
    void inject(const coap::Peer& from, Node& to, std::vector<std::uint8_t> bytes) {
        to.endpoint->handle_datagram(now_, from, coap::Bytes(bytes.data(), bytes.size()));
        flush_all();
    }

    /// Moves every node's queued datagrams onto the wire and its events into `events`.
    void flush_all() {
        for (auto& n : nodes_) flush(*n);
    }

    /// One step: the earliest delivery or deadline. False when nothing is left.
    bool step() {
        std::optional<coap::TimePoint> next;
        if (!in_flight_.empty()) next = in_flight_.begin()->first.first;
        for (auto& n : nodes_) {
            if (auto t = n->endpoint->poll_timeout(); t && (!next || *t < *next)) next = *t;
        }
        if (!next) return false;
        if (*next > now_) now_ = *next;
        while (!in_flight_.empty() && in_flight_.begin()->first.first <= now_) {
            Packet p = std::move(in_flight_.begin()->second);
            in_flight_.erase(in_flight_.begin());
            if (Node* n = find(p.to)) {
                n->endpoint->handle_datagram(now_, p.from, coap::Bytes(p.bytes.data(), p.bytes.size()));
            }
        }
        for (auto& n : nodes_) n->endpoint->handle_timeout(now_);
        flush_all();
        return true;
    }

    /// Steps until idle, `until`, or `max_steps`. Returns the number of steps.
    std::size_t drive(coap::TimePoint until = coap::TimePoint::from_ns(INT64_MAX), std::size_t max_steps = 10000000) {
        std::size_t steps = 0;
        while (steps < max_steps) {
            std::optional<coap::TimePoint> next;
            if (!in_flight_.empty()) next = in_flight_.begin()->first.first;
            for (auto& n : nodes_) {
                if (auto t = n->endpoint->poll_timeout(); t && (!next || *t < *next)) next = *t;
            }
            if (!next || *next > until) break;
            step();
            ++steps;
        }
        if (until.ns() != INT64_MAX && now_ < until) now_ = until;
        return steps;
    }

    /// Advances the clock without events (for timers that must not have fired yet).
    void advance(coap::Duration d) { now_ += d; }

    Node* find(const coap::Peer& p) {
        for (auto& n : nodes_) {
            if (n->address == p) return n.get();
        }
        return nullptr;
    }

    std::size_t in_flight() const { return in_flight_.size(); }

private:
    struct Packet {
        coap::Peer from;
        coap::Peer to;
        std::vector<std::uint8_t> bytes;
    };

    void flush(Node& n) {
        while (auto t = n.endpoint->poll_transmit()) {
            Captured c{now_, n.address, t->peer, t->bytes, false, t->bytes.capacity()};
            if ((drop && drop(c)) || rng_.unit() < link.loss) {
                c.dropped = true;
                log_.push_back(std::move(c));
                continue;
            }
            const int copies = rng_.unit() < link.duplicate ? 2 : 1;
            for (int i = 0; i < copies; ++i) {
                coap::Duration delay = link.latency;
                if (link.jitter > coap::Duration::zero()) delay += rng_.uniform(coap::Duration::zero(), link.jitter);
                in_flight_.emplace(std::make_pair(now_ + delay, seq_++), Packet{n.address, t->peer, t->bytes});
            }
            log_.push_back(std::move(c));
        }
        while (auto e = n.endpoint->poll_event()) n.events.push_back(std::move(*e));
    }

    coap::Xoshiro256 rng_;
    std::uint64_t seed_;
    coap::TimePoint now_;
    std::uint64_t seq_ = 0;
    std::vector<std::unique_ptr<Node>> nodes_;
    std::multimap<std::pair<coap::TimePoint, std::uint64_t>, Packet> in_flight_;
    std::vector<Captured> log_;
};

/// The parsed view of a captured datagram (the capture must outlive the view).
inline coap::MessageView view_of(const Captured& c) {
    coap::MessageView v;
    (void)coap::parse(coap::Bytes(c.bytes.data(), c.bytes.size()), v);
    return v;
}

}  // namespace coapbed::test
