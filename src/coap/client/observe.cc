// ClientLayer, continued (client.h): delivering a response or notification, and the
// observe client's block-wise fetch of a representation larger than a block (RFC 7641,
// RFC 7959 §2.6).
#include <algorithm>

#include "coap/client/client.h"
#include "coap/codec/message.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

namespace coap {

namespace {
// Inserts Observe: `value` among `m`'s options, in number order.
void add_observe(Message& m, std::uint64_t value) {
    const auto at = std::find_if(m.options.begin(), m.options.end(),
                                 [](const OwnedOption& o) { return o.number > options::kObserve; });
    m.options.insert(at, OwnedOption{options::kObserve, encode_uint(value)});
}
}  // namespace

void ClientLayer::deliver(TimePoint now, Exchange& x, const MessageView& m, const std::optional<std::uint64_t>& observe) {
    if (x.assembling && x.refresh && !x.have_etag) {
        // RFC 7959 §2.6: a fresher notification crossed this fetch, so the state changed
        // while its blocks were asked for, and no ETag shows them to be of one
        // representation: the body may mix two states. It is not delivered; the current
        // state is asked for again (with an ETag, a change shows as a mismatch in
        // take_block, and an unchanged body is delivered).
        ++stats_.observe_bodies_discarded;
        reregister(now, x);
        return;
    }
    Event& e = events_.scratch();
    to_message_without_payload(m, e.message);  // the payload is the body gathered in x.body
    e.message.payload.swap(x.body);
    restart_body(x);
    if (x.assembling) {
        // The whole body of a notification fetched block-wise carries its Observe value.
        if (observe && m.find(options::kObserve) == m.option_count()) add_observe(e.message, *observe);
        x.assembling = false;
    }

    // RFC 7641: a success response with Observe establishes (or continues) the observation.
    if (x.request.observe && !x.deregistering) {
        const bool registered = observe.has_value() && m.code().is_success();
        if (registered) {
            const auto seq = static_cast<std::uint32_t>(*observe & 0xffffff);
            if (!x.observing) {
                x.observing = true;
                x.freshness.accept(seq, now);
                x.state = Exchange::State::Observing;
                x.has_deadline = false;
                ++stats_.exchanges_completed;
                e.kind = EventKind::Response;
                e.id = x.id;
                e.peer = x.peer;
                e.retransmissions = x.retransmissions;
                e.elapsed = now - x.started;
                e.in_flight = now - x.first_sent;
                events_.push(e);
                release_slot(now, x);
                if (x.refresh) reregister(now, x);  // a notification crossed the fetch
                return;
            }
            ++stats_.notifications_received;
            // RFC 7641 §3.4: only a fresher notification replaces what we have.
            if (x.freshness.is_fresh(seq, now)) {
                x.freshness.accept(seq, now);
                e.kind = EventKind::Notification;
                e.id = x.id;
                e.peer = x.peer;
                e.elapsed = now - x.started;
                events_.push(e);
            } else {
                ++stats_.stale_notifications;
            }
            if (x.state != Exchange::State::Observing) end_fetch(now, x);
            return;
        }
        if (x.observing) {
            // RFC 7641 §3.2: a notification without Observe, or an error, ends it.
            e.kind = EventKind::ObservationEnded;
            finish(now, x.id, e);
            return;
        }
    }
    e.kind = EventKind::Response;
    finish(now, x.id, e);
}

ClientLayer::Step ClientLayer::notification_blocks(TimePoint now, Exchange& x, const MessageView& m,
                                                   const Block& block2, std::uint64_t observe) {
    const auto seq = static_cast<std::uint32_t>(observe & 0xffffff);
    if (x.assembling) {
        if (seq == x.assembling_seq || !x.freshness.is_fresh(seq, now)) return Step::Done;
        // A fresher notification crossing the fetch of an earlier one's blocks. While the
        // fetch's block GET is on its first transmission the fetch goes on, and the newer
        // state is asked for once it is complete (deliver). A GET already retransmitted is
        // stalled (its next try may be tens of seconds away, RFC 7252 §4.2, while this
        // notification shows that the path from the server works): the older state is
        // dropped and the newer one fetched instead (RFC 7641 §3.4: only the newest state
        // is worth having). Under 30 % loss this multiplies the notifications observers get
        // (scenarios/observe-lossy.toml).
        const std::optional<unsigned> tries = messages_.retransmissions_of(x.peer, x.mid);
        if (!tries || *tries == 0 || block2.num != 0 || !block2.more) {
            x.refresh = true;
            return Step::Done;
        }
        messages_.forget(x.peer, x.mid);
        ++stats_.observe_fetches_abandoned;
        x.assembling = false;
        x.refresh = false;
    }
    if (block2.num != 0 || !block2.more) {
        x.body.assign(m.payload().begin(), m.payload().end());
        return Step::Continue;
    }
    if (!x.freshness.is_fresh(seq, now)) {  // RFC 7641 §3.4: not worth fetching
        ++stats_.notifications_received;
        ++stats_.stale_notifications;
        return Step::Done;
    }
    // RFC 7959 §2.6: a notification carries the first block; the rest are fetched with
    // GETs as if it had answered one, and the whole body is delivered.
    restart_body(x);
    x.assembling = true;
    x.assembling_seq = seq;
    hold_slot(now, x);
    return take_block(now, x, m, block2, observe);
}

void ClientLayer::end_fetch(TimePoint now, Exchange& x) {
    // The GETs for a notification's blocks are answered: back to waiting for notifications.
    x.state = Exchange::State::Observing;
    x.has_deadline = false;
    release_slot(now, x);
    if (x.refresh) reregister(now, x);  // a fresher notification crossed the fetch
}

bool ClientLayer::keep_observing(TimePoint now, Exchange& x) {
    if (!x.observing || x.deregistering || x.state == Exchange::State::Observing) return false;
    // The server still holds the registration: its notification came. Ending the
    // observation here would answer its next notification with RST (RFC 7641 §3.6), so
    // one lost exchange on a lossy link would cost the whole observation. The partial body
    // is dropped; after a lost block GET the client registers again (§3.3.1: same token,
    // Observe 0) to get the state it missed; after a lost re-registration it waits for
    // the next notification.
    ++stats_.observe_fetches_abandoned;
    x.has_deadline = false;
    if (x.assembling) {
        reregister(now, x);
        return true;
    }
    restart_body(x);
    x.refresh = false;
    end_fetch(now, x);  // back to waiting for notifications
    return true;
}

void ClientLayer::reregister(TimePoint now, Exchange& x) {
    // RFC 7641 §3.3.1: a GET with Observe 0 and the same token asks for the current state
    // again; its answer is delivered as a notification.
    x.refresh = false;
    x.assembling = false;
    restart_body(x);
    x.block2_szx = requested_szx(x.request);  // as the first registration asked
    hold_slot(now, x);
    send_message(now, x);
}

}  // namespace coap
