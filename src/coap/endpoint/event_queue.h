// The bounded queue of events for the application (poll_event), with recycled storage:
// an event is built in a scratch slot whose buffers (message token, options, payload)
// come from events the application handed back, then swapped into the queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "coap/common/tables.h"
#include "coap/endpoint/types.h"

namespace coap {

/// Exchanges two events member by member (the vectors swap their buffers): cheaper than
/// std::swap's three moves of the whole event.
inline void swap_events(Event& a, Event& b) noexcept {
    std::swap(a.kind, b.kind);
    std::swap(a.id, b.id);
    std::swap(a.peer, b.peer);
    std::swap(a.message.type, b.message.type);
    std::swap(a.message.code, b.message.code);
    std::swap(a.message.message_id, b.message.message_id);
    a.message.token.swap(b.message.token);
    a.message.options.swap(b.message.options);
    a.message.payload.swap(b.message.payload);
    std::swap(a.reason, b.reason);
    std::swap(a.retransmissions, b.retransmissions);
    std::swap(a.elapsed, b.elapsed);
    std::swap(a.in_flight, b.in_flight);
}

class EventQueue {
public:
    /// At most `capacity` events; pushing onto a full queue drops the oldest and counts
    /// it in `dropped`.
    EventQueue(std::size_t capacity, std::uint64_t& dropped) : capacity_(capacity), dropped_(dropped) {}

    /// An empty event to fill and push (its vectors keep their capacity). Only one at a
    /// time: the next call resets it.
    [[nodiscard]] Event& scratch() {
        Event& e = scratch_;
        e.kind = EventKind::Response;
        e.id = 0;
        e.peer = Peer{};
        e.message.type = MessageType::Con;
        e.message.code = Code{};
        e.message.message_id = 0;
        e.message.token.clear();
        e.message.options.clear();
        e.message.payload.clear();
        e.reason = FailReason::None;
        e.retransmissions = 0;
        e.elapsed = Duration::zero();
        e.in_flight = Duration::zero();
        return e;
    }

    /// Queues `e` (moved from; it is left holding recycled buffers).
    void push(Event& e) {
        if (capacity_ == 0) {
            ++dropped_;
            return;
        }
        if (events_.size() >= capacity_) {
            events_.pop_front();
            ++dropped_;
        }
        swap_events(events_.push_slot(), e);
    }

    [[nodiscard]] std::optional<Event> poll() {
        if (events_.empty()) return std::nullopt;
        Event e = std::move(events_.front());
        events_.pop_front();
        return e;
    }
    /// As poll, swapping with `into` so that its buffers are reused.
    [[nodiscard]] bool poll(Event& into) {
        if (events_.empty()) return false;
        swap_events(into, events_.front());
        events_.pop_front();
        return true;
    }
    [[nodiscard]] std::size_t size() const noexcept { return events_.size(); }

private:
    std::size_t capacity_;
    std::uint64_t& dropped_;
    RingQueue<Event> events_;
    Event scratch_;
};

}  // namespace coap
