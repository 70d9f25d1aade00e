#include "coap/client/client.h"

#include <algorithm>

#include "coap/codec/message.h"
#include "coap/codec/writer.h"
#include "coap/options/check.h"
#include "coap/options/lookup.h"
#include "coap/options/registry.h"

namespace coap {

namespace {
// A body buffer larger than this is freed with its exchange, not kept in the slot.
constexpr std::size_t kKeptBodyCapacity = 4096;
}  // namespace

ClientLayer::ClientLayer(const EndpointConfig& config, Random& rng, EndpointStats& stats, MessageLayer& messages,
                         EventQueue& events, std::uint64_t& next_id)
    : config_(config),
      rng_(rng),
      stats_(stats),
      messages_(messages),
      events_(events),
      next_id_(next_id),
      // OSCORE (RFC 8613) and EDHOC (RFC 9668) protect or carry what this client cannot
      // read; Q-Block (RFC 9177) is a transfer mode it does not speak.
      recognized_(RecognizedOptions::registered_except(
          {options::kOscore, options::kEdhoc, options::kQBlock1, options::kQBlock2})) {}

std::optional<Token> ClientLayer::token_of(std::uint64_t id) const {
    const std::uint32_t* slot = by_id_.find(id);
    if (slot == nullptr) return std::nullopt;
    return exchanges_[*slot].token;
}

ClientLayer::Exchange* ClientLayer::find(std::uint64_t id) {
    const std::uint32_t* slot = by_id_.find(id);
    return slot == nullptr ? nullptr : &exchanges_[*slot];
}

Token ClientLayer::new_token(const Peer& peer) {
    Token t;
    t.length = static_cast<std::uint8_t>(config_.token_length);
    // RFC 7252 §5.3.1: random tokens; retry on the (unlikely) collision with a live one.
    for (int attempt = 0; attempt < 16; ++attempt) {
        rng_.fill(t.bytes.data(), t.length);
        if (by_token_.find(TokenKey{peer, t}) == nullptr) break;
    }
    return t;
}

SendResult ClientLayer::send_request(TimePoint now, const Peer& to, const Request& request) {
    if (const ApiError e = admissible(now, to); e != ApiError::Ok) return {e, 0};
    const std::uint32_t slot = exchanges_.acquire();
    exchanges_[slot].request = request;  // into the slot's kept buffers
    return launch(now, to, slot);
}

SendResult ClientLayer::send_request(TimePoint now, const Peer& to, Request&& request) {
    if (const ApiError e = admissible(now, to); e != ApiError::Ok) return {e, 0};
    const std::uint32_t slot = exchanges_.acquire();
    exchanges_[slot].request = std::move(request);
    return launch(now, to, slot);
}

ApiError ClientLayer::admissible(TimePoint now, const Peer& to) {
    if (by_id_.size() >= config_.max_exchanges) return ApiError::TooManyExchanges;
    if (!messages_.can_add_peer(to)) return ApiError::TooManyExchanges;
    if (!messages_.queue_has_room(now, to)) return ApiError::QueueFull;
    return ApiError::Ok;
}

SendResult ClientLayer::launch(TimePoint now, const Peer& to, std::uint32_t slot) {
    Exchange& x = exchanges_[slot];
    x.id = next_id_++;
    x.peer = to;
    x.token = new_token(to);
    x.state = Exchange::State::Queued;
    x.holds_slot = false;
    x.mid = 0;
    x.started = now;
    x.first_sent = TimePoint();
    x.sent = false;
    x.has_deadline = false;
    x.deadline = TimePoint();
    x.retransmissions = 0;
    x.deregistering = false;
    x.echo.clear();
    x.block2_num = x.request.single_block2.value_or(0);
    x.block2_szx = requested_szx(x.request);
    if (x.request.single_block2 && !x.block2_szx) x.block2_szx = config_.block_szx;  // Block2 always sent
    x.body.clear();
    x.have_etag = false;
    x.etag.clear();
    x.block1_done = false;
    x.block1_num = 0;
    x.block1_szx = config_.block_szx;
    x.observing = false;
    x.freshness = ObserveFreshness{};
    x.assembling = false;
    x.refresh = false;
    const std::uint64_t id = x.id;
    by_token_.put(TokenKey{to, x.token}, id);
    by_id_.put(id, slot);
    if (messages_.admits_now(now, to)) {
        start(now, x);  // what pump() would do at once with it queued (§4.7)
    } else {
        messages_.enqueue(to, id);
        messages_.pump(now, to);
    }
    return {ApiError::Ok, id};
}

void ClientLayer::on_admitted(TimePoint now, std::uint64_t id) {
    if (Exchange* x = find(id)) start(now, *x);
}

void ClientLayer::start(TimePoint now, Exchange& x) {
    messages_.take_slot(now, x.peer);
    x.holds_slot = true;
    x.sent = true;
    x.first_sent = now;
    ++stats_.exchanges_started;
    send_message(now, x);
}

void ClientLayer::send_message(TimePoint now, Exchange& x) {
    const std::uint16_t mid = messages_.next_mid(now, x.peer);
    const MessageType type = x.request.confirmable ? MessageType::Con : MessageType::Non;
    // RFC 7959 §2.5: a payload larger than a block goes in Block1 pieces.
    const std::size_t block1_size = std::size_t{16} << x.block1_szx;
    const std::vector<std::uint8_t>& body = x.request.payload;
    Bytes payload(body.data(), body.size());
    const bool block1 = !x.block1_done && body.size() > block1_size;
    bool more = false;
    if (block1) {
        const std::size_t offset = std::size_t{x.block1_num} * block1_size;
        const std::size_t n = std::min(block1_size, body.size() - std::min(offset, body.size()));
        more = offset + n < body.size();
        payload = Bytes(body.data() + offset, n);
    } else if (x.block1_done) {
        payload = Bytes();  // Block2 continuation after an upload carries no payload
    }
    // Request options, then Echo, Observe, Block1, Size1, Block2 (the writer sorts them in),
    // into a buffer sized for this message's payload, not the whole body.
    std::vector<std::uint8_t> out = messages_.buffer(message_bound(x.request.options, 4, 5 + x.echo.size(), payload.size()));
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
        if (x.block1_num == 0) (void)w.add_uint(options::kSize1, body.size());  // RFC 7959 §4
    }
    if (x.block2_szx || x.block2_num > 0) {
        (void)w.add_uint(options::kBlock2,
                         encode_block(Block{x.block2_num, false, x.block2_szx.value_or(config_.block_szx)}));
    }
    const BuildResult built = w.finish(payload);  // errors are sticky
    out.resize(built.ok() ? built.size : 0);
    if (out.empty()) {
        fail(now, x.id, FailReason::BlockError);
        return;
    }
    x.mid = mid;
    messages_.pace(now, x.peer, out.size());
    if (type == MessageType::Con) {
        x.state = Exchange::State::AwaitingAck;
        x.has_deadline = false;
        if (!messages_.send_con(now, x.peer, mid, std::move(out), Owner{OwnerKind::ClientRequest, x.id, Token{}})) {
            // The retransmission table was full: sent once, so bound the wait instead.
            await_response(x, now + config_.params.max_transmit_wait());
        }
    } else {
        await_response(x, now + config_.non_request_timeout);
        messages_.transmit(x.peer, std::move(out));
    }
}

void ClientLayer::await_response(Exchange& x, TimePoint until) {
    x.state = Exchange::State::AwaitingResponse;
    x.has_deadline = true;
    x.deadline = until;
}

void ClientLayer::hold_slot(TimePoint now, Exchange& x) {
    if (x.holds_slot) return;
    messages_.take_slot(now, x.peer);  // §4.7: it counts against NSTART again
    x.holds_slot = true;
}

std::optional<std::uint8_t> ClientLayer::requested_szx(const Request& r) {
    if (!r.block2_szx) return std::nullopt;
    return std::min<std::uint8_t>(*r.block2_szx, 6);  // RFC 7959 §2.2: SZX 7 is reserved
}

void ClientLayer::restart_body(Exchange& x) {
    x.body.clear();
    x.block2_num = 0;
    x.have_etag = false;
}

void ClientLayer::release_slot(TimePoint now, Exchange& x) {
    if (!x.holds_slot) return;
    x.holds_slot = false;
    messages_.release_slot(now, x.peer, true);
}

void ClientLayer::fail(TimePoint now, std::uint64_t id, FailReason reason) {
    Event& e = events_.scratch();
    e.kind = EventKind::RequestFailed;
    e.reason = reason;
    finish(now, id, e);
}

void ClientLayer::finish(TimePoint now, std::uint64_t id, Event& e) {
    std::uint32_t* found = by_id_.find(id);
    if (found == nullptr) return;
    const std::uint32_t slot = *found;
    Exchange& x = exchanges_[slot];
    const Peer peer = x.peer;
    const bool held = x.holds_slot;
    by_id_.erase_found(found);
    by_token_.erase(TokenKey{peer, x.token});
    if (x.sent) {
        messages_.forget(peer, x.mid);  // its CON, if still retransmitted
    } else {
        messages_.dequeue(peer, id);  // never started: it holds no Message ID, only a place in the queue
    }
    e.id = id;
    e.peer = peer;
    e.retransmissions = x.retransmissions;
    e.elapsed = now - x.started;
    if (x.sent) e.in_flight = now - x.first_sent;
    // The request's buffers stay in the slot for the next one copied in (send_request);
    // a large body does not.
    if (x.request.payload.capacity() > kKeptBodyCapacity) std::vector<std::uint8_t>().swap(x.request.payload);
    if (x.body.capacity() > kKeptBodyCapacity) std::vector<std::uint8_t>().swap(x.body);
    exchanges_.release(slot);
    if (e.kind == EventKind::RequestFailed) {
        ++stats_.exchanges_failed;
    } else if (e.kind == EventKind::Response) {
        ++stats_.exchanges_completed;
    }
    events_.push(e);
    if (held) messages_.release_slot(now, peer, false);
    messages_.pump(now, peer);
}

ApiError ClientLayer::cancel(TimePoint now, std::uint64_t id, bool deregister) {
    Exchange* found = find(id);
    if (found == nullptr) return ApiError::UnknownExchange;
    Exchange& x = *found;
    if (x.observing && deregister) {
        // RFC 7641 §3.6: a GET with Observe: 1 and the same token ends the observation;
        // its response completes this request.
        x.deregistering = true;
        x.observing = false;
        restart_body(x);
        x.assembling = false;
        x.refresh = false;
        hold_slot(now, x);
        send_message(now, x);
        return ApiError::Ok;
    }
    Event& e = events_.scratch();
    e.kind = x.observing ? EventKind::ObservationEnded : EventKind::RequestFailed;
    e.reason = FailReason::Cancelled;
    finish(now, id, e);
    return ApiError::Ok;
}

void ClientLayer::on_acked(TimePoint now, std::uint64_t id, const MessageView& m) {
    Exchange* found = find(id);
    if (found == nullptr) return;
    Exchange& x = *found;
    if (m.code().is_empty()) {
        // §5.2.2: an empty ACK; the response comes separately. The request no longer
        // counts against NSTART (§4.7).
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
    if (check_options(m, recognized_).verdict != OptionVerdict::Accept) {
        fail(now, x.id, FailReason::ResponseRejected);
        return;
    }
    process_response(now, x, m);
}

void ClientLayer::on_reset(TimePoint now, std::uint64_t id) { fail(now, id, FailReason::Reset); }

void ClientLayer::on_retransmitted(std::uint64_t id) {
    if (Exchange* x = find(id)) ++x->retransmissions;
}

void ClientLayer::on_gave_up(TimePoint now, std::uint64_t id) {
    if (Exchange* x = find(id); x != nullptr && keep_observing(now, *x)) return;
    ++stats_.timeouts;
    fail(now, id, FailReason::Timeout);
}

void ClientLayer::reject(TimePoint now, const Peer& from, std::uint16_t mid, DedupCache::Entry& entry) {
    // Responses that match nothing can be forged by anyone, from any source address: each
    // RST would go to that (forged) address. A token bucket bounds them, so that a flood
    // of forgeries cannot turn this endpoint into a stream of RSTs toward an origin (a
    // proxy's upstream side, measured in scenarios/proxy-poisoning.toml). Beyond it an RST
    // is not sent, as if lost; a CON's retransmission draws it later (§4.2).
    if (config_.unmatched_rst_rate > 0) {
        const double burst = std::max(1.0, config_.unmatched_rst_rate);
        rst_budget_ = rst_budget_ < 0 ? burst  // the first: a full bucket
                                      : std::min(burst, rst_budget_ + (now - rst_refilled_).seconds_f() *
                                                                          config_.unmatched_rst_rate);
        rst_refilled_ = now;
        if (rst_budget_ < 1.0) {
            ++stats_.rst_suppressed;
            return;
        }
        rst_budget_ -= 1.0;
    }
    std::vector<std::uint8_t> rst = messages_.buffer(4);
    MessageLayer::empty_message(rst, MessageType::Rst, mid);
    entry.reply = rst;
    messages_.transmit(from, std::move(rst));
}

void ClientLayer::on_response(TimePoint now, const Peer& from, const MessageView& m) {
    DedupCache& dedup = messages_.dedup();
    // §4.5: a duplicate CON gets the same reply again; a duplicate NON is ignored.
    if (DedupCache::Entry* dup = dedup.find(now, from, m.message_id())) {
        ++stats_.duplicates_received;
        if (m.type() == MessageType::Con && !dup->reply.empty()) messages_.transmit_copy(from, dup->reply);
        return;
    }
    const Duration lifetime = m.type() == MessageType::Con ? config_.params.exchange_lifetime()
                                                           : config_.params.non_lifetime();
    DedupCache::Entry& entry = dedup.insert(now, from, m.message_id(), lifetime);
    stats_.dedup_evictions = dedup.evictions();

    const std::uint64_t* id = by_token_.find(TokenKey{from, Token::from(m.token())});
    Exchange* x = id == nullptr ? nullptr : find(*id);
    if (x == nullptr || x->state == Exchange::State::Queued) {
        // §5.3.2: a response matching no request is rejected (RFC 7641 §3.6 relies on
        // this to end unwanted notifications).
        reject(now, from, m.message_id(), entry);
        return;
    }
    if (check_options(m, recognized_).verdict != OptionVerdict::Accept) {
        // §5.4.1: a response with an unrecognized critical option is rejected.
        reject(now, from, m.message_id(), entry);
        fail(now, x->id, FailReason::ResponseRejected);
        return;
    }
    if (m.type() == MessageType::Con) messages_.send_empty_ack(from, m.message_id(), &entry);
    // RFC 7641 §3.6: while deregistering, a notification still in flight is not the
    // answer to the GET with Observe: 1; acknowledge it and keep waiting.
    const bool notification = m.find(options::kObserve) < m.option_count();
    if (x->deregistering && notification) return;
    // §5.2.2: a separate response may overtake the ACK; it acknowledges the request too.
    // A notification crossing the GETs for another one's blocks (RFC 7959 §2.6) does not.
    if (!(notification && x->assembling)) messages_.forget(x->peer, x->mid);
    process_response(now, *x, m);
}

ClientLayer::Step ClientLayer::retry_with_echo(TimePoint now, Exchange& x, const MessageView& m) {
    // RFC 9175 §2.3: a 4.01 with an Echo option asks for the request again, with that
    // Echo; once per exchange, so a server that keeps asking cannot loop us.
    if (m.code() != codes::kUnauthorized || !x.echo.empty()) return Step::Continue;
    const std::size_t i = m.find(options::kEcho);
    if (i == m.option_count() || m.option(i).value.empty() || m.option(i).value.size() > 40) return Step::Continue;
    const Bytes v = m.option(i).value;
    x.echo.assign(v.begin(), v.end());
    ++stats_.echo_retries;
    send_message(now, x);
    return Step::Done;
}

ClientLayer::Step ClientLayer::continue_upload(TimePoint now, Exchange& x, const MessageView& m,
                                               const std::optional<Block>& block1) {
    const std::size_t block1_size = std::size_t{16} << x.block1_szx;
    if (x.block1_done || x.request.payload.size() <= block1_size || x.observing) return Step::Continue;
    // RFC 7959 §2.3: 2.31 Continue asks for the next Block1 block, possibly smaller.
    if (m.code() == codes::kContinue) {
        const std::size_t sent = std::min(x.request.payload.size(), std::size_t{x.block1_num + 1} * block1_size);
        if (block1 && block1->szx < x.block1_szx) x.block1_szx = block1->szx;
        const std::size_t size = std::size_t{16} << x.block1_szx;
        if (sent >= x.request.payload.size() || sent % size != 0) {
            fail(now, x.id, FailReason::BlockError);
            return Step::Done;
        }
        x.block1_num = static_cast<std::uint32_t>(sent / size);
        send_message(now, x);
        return Step::Done;
    }
    x.block1_done = true;  // the final response (or an error) to the upload
    return Step::Continue;
}

ClientLayer::Step ClientLayer::take_block(TimePoint now, Exchange& x, const MessageView& m, const Block& block2,
                                          const std::optional<std::uint64_t>& observe) {
    // RFC 7959 §2.4: Block2 pieces of the response body.
    if (block2.num != x.block2_num && !(x.block2_num == 0 && block2.num == 0)) {
        // A stale block (e.g. a late duplicate): ignore it. If it also acknowledged our
        // request, keep waiting for the right block as a separate response.
        if (!messages_.is_outstanding(x.peer, x.mid) && !x.has_deadline) {
            await_response(x, now + config_.separate_response_timeout);
        }
        return Step::Done;
    }
    // RFC 7959 §2.4: the ETags that are present must be equal; a block without one says
    // nothing (libcoap 4.3.1 sometimes sends the last block without it).
    const std::size_t etag_i = m.find(options::kETag);
    if (etag_i < m.option_count()) {
        const Bytes etag = m.option(etag_i).value;
        if (!x.have_etag) {
            x.have_etag = true;
            x.etag.assign(etag.begin(), etag.end());
        } else if (etag != Bytes(x.etag.data(), x.etag.size())) {
            if (x.assembling) {
                reregister(now, x);  // RFC 7959 §2.6: changed while an observed body was fetched
                return Step::Done;
            }
            fail(now, x.id, FailReason::RepresentationChanged);
            return Step::Done;
        }
    }
    if (block2.offset() != x.body.size()) {
        fail(now, x.id, FailReason::BlockError);
        return Step::Done;
    }
    if (x.body.size() + m.payload().size() > config_.max_body) {
        fail(now, x.id, FailReason::BodyTooLarge);
        return Step::Done;
    }
    x.body.insert(x.body.end(), m.payload().begin(), m.payload().end());
    if (!block2.more) return Step::Continue;
    if (m.payload().size() != block2.size()) {  // §2.2: all but the last block are full
        fail(now, x.id, FailReason::BlockError);
        return Step::Done;
    }
    x.block2_num = block2.num + 1;
    x.block2_szx = block2.szx;
    if (x.request.observe && observe && !x.observing && block2.num == 0) {
        // Registration answered with a block: the observation stands once the body is
        // complete (RFC 7959 §2.6); the later blocks are plain GETs (no Observe).
        x.assembling = true;
        x.assembling_seq = static_cast<std::uint32_t>(*observe & 0xffffff);
    }
    send_message(now, x);
    return Step::Done;
}

void ClientLayer::process_response(TimePoint now, Exchange& x, const MessageView& m) {
    bool invalid = false;
    const std::optional<Block> block1 = block_option(m, options::kBlock1, invalid);
    const std::optional<Block> block2 = block_option(m, options::kBlock2, invalid);
    const std::optional<std::uint64_t> observe = uint_option(m, options::kObserve);
    if (invalid) {
        fail(now, x.id, FailReason::BlockError);
        return;
    }
    if (retry_with_echo(now, x, m) == Step::Done) return;
    if (continue_upload(now, x, m, block1) == Step::Done) return;
    const bool blockwise = block2 && m.code().is_success() && !x.request.single_block2;
    if (blockwise && observe && (x.observing || x.assembling)) {
        if (notification_blocks(now, x, m, *block2, *observe) == Step::Done) return;
    } else if (blockwise) {
        if (take_block(now, x, m, *block2, observe) == Step::Done) return;
    } else {
        x.body.assign(m.payload().begin(), m.payload().end());
    }
    if (x.assembling && !observe) {
        // The last block of a fetch carries no Observe: the value is its first block's.
        deliver(now, x, m, std::optional<std::uint64_t>(x.assembling_seq));
        return;
    }
    deliver(now, x, m, observe);
}

void ClientLayer::handle_timeout(TimePoint now) {
    // Response deadlines: NON requests and separate responses that never came.
    late_.clear();
    by_id_.for_each([&](const std::uint64_t& id, const std::uint32_t& slot) {
        const Exchange& x = exchanges_[slot];
        if (x.has_deadline && x.deadline <= now) late_.push_back(id);
    });
    std::sort(late_.begin(), late_.end());
    for (std::uint64_t id : late_) {  // fail() never calls handle_timeout()
        if (Exchange* x = find(id); x != nullptr && keep_observing(now, *x)) continue;
        ++stats_.timeouts;
        fail(now, id, FailReason::Timeout);
    }
}

std::optional<TimePoint> ClientLayer::next_deadline() const {
    std::optional<TimePoint> t;
    by_id_.for_each([&](const std::uint64_t&, const std::uint32_t& slot) {
        const Exchange& x = exchanges_[slot];
        if (x.has_deadline && (!t || x.deadline < *t)) t = x.deadline;
    });
    return t;
}

}  // namespace coap
