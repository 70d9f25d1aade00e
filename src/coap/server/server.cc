#include "coap/server/server.h"

#include <algorithm>

#include "coap/options/check.h"
#include "coap/options/lookup.h"
#include "coap/options/registry.h"

namespace coap {

namespace {
// Max-Age of a 5.03 for a full deferred-request table: about the time a deferred
// request takes here (the CLI's /slow answers after 1 s).
constexpr std::uint32_t kRetryAfterSeconds = 2;
}  // namespace

ServerLayer::ServerLayer(const EndpointConfig& config, Random& rng, EndpointStats& stats, MessageLayer& messages,
                         EventQueue& events, std::uint64_t& next_id)
    : config_(config),
      con_lifetime_(config.params.exchange_lifetime()),
      non_lifetime_(config.params.non_lifetime()),
      rng_(rng),
      stats_(stats),
      messages_(messages),
      events_(events),
      next_id_(next_id),
      guard_(config, stats),
      blockwise_(config),
      // OSCORE and EDHOC need a security context this server does not have; Q-Block
      // (RFC 9177) is a transfer mode it does not implement.
      recognized_(RecognizedOptions::registered_except(
          {options::kOscore, options::kEdhoc, options::kQBlock1, options::kQBlock2})) {}

ApiError ServerLayer::add_resource(std::string path, ResourceConfig resource) {
    while (!path.empty() && path.front() == '/') path.erase(path.begin());
    if (!resource.handler || resources_.count(path) != 0) return ApiError::BadResource;
    Resource r;
    r.path = path;
    r.config = std::move(resource);
    resources_.emplace(path, std::move(r));
    return ApiError::Ok;
}

ApiError ServerLayer::set_proxy_handler(Handler handler) {
    if (!handler) return ApiError::BadResource;
    Resource r;
    r.config.methods = methods::kGet | methods::kPost | methods::kPut | methods::kDelete | methods::kFetch |
                       (1u << 6) | (1u << 7);  // PATCH, iPATCH (RFC 8132): forwarded like the rest
    r.config.handler = std::move(handler);
    proxy_ = std::move(r);
    return ApiError::Ok;
}

bool ServerLayer::proxy_options_acceptable(const MessageView& m, const OptionCheck& check) const {
    if (check.verdict == OptionVerdict::Accept) return true;
    if (check.problem != OptionProblem::Unrecognized) return false;  // §5.4.3 length, §5.4.5 repeat
    // §5.4.2, §5.7.1: a proxy forwards an option it does not know when it is safe to
    // forward, critical or not; one that is unsafe to forward makes the request 4.02.
    for (std::size_t i = 0; i < m.option_count(); ++i) {
        const std::uint16_t n = m.option(i).number;
        if (!recognized_.contains(n) && (n & 0x02) != 0) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------
// Dispatch

void ServerLayer::on_request(TimePoint now, const Peer& from, const MessageView& m, bool multicast) {
    if (guard_.active() && !guard_.admit(now, from, m)) return;
    if (multicast) {
        ++stats_.multicast_requests;
        if (m.type() == MessageType::Con) {  // §8.1: multicast requests are NON
            ++stats_.multicast_ignored;
            return;
        }
    }
    DedupCache& dedup = messages_.dedup();
    // §4.5: a duplicate CON gets the same reply again (within the defences' allowance).
    if (DedupCache::Entry* dup = dedup.find(now, from, m.message_id())) {
        ++stats_.duplicates_received;
        if (m.type() == MessageType::Con && !dup->reply.empty() && guard_.may_send(now, from, dup->reply.size())) {
            messages_.transmit_copy(from, dup->reply);
        }
        return;
    }
    const Duration lifetime = m.type() == MessageType::Con ? con_lifetime_ : non_lifetime_;
    DedupCache::Entry& entry = dedup.insert(now, from, m.message_id(), lifetime);
    stats_.dedup_evictions = dedup.evictions();
    ++stats_.requests_received;

    Dispatch d{now, from, m, multicast, entry, {}, {}};
    const bool for_proxy = m.find(options::kProxyUri) < m.option_count() || m.find(options::kProxyScheme) < m.option_count();
    OptionCheck check = check_options(m, recognized_);
    if (for_proxy && proxy_ && proxy_options_acceptable(m, check)) check = OptionCheck{};
    if (check.verdict == OptionVerdict::RespondBadOption) {
        ++stats_.bad_option_responses;
        reply_error(d, codes::kBadOption);  // §5.4.1
        return;
    }
    if (check.verdict == OptionVerdict::Reject) return;  // a NON request: silently rejected
    if (!read_request(d, check.ignored_mask)) return;
    if (for_proxy && !proxy_) {
        ++stats_.proxying_not_supported;
        reply_error(d, codes::kProxyingNotSupported);  // §5.7.2: we are no proxy
        return;
    }
    bool invalid_block = false;
    const std::optional<Block> block1 = block_option(m, options::kBlock1, invalid_block);
    d.shape.request_block2 = block_option(m, options::kBlock2, invalid_block);
    if (invalid_block) {
        d.shape = ResponseShape{};
        reply_error(d, codes::kBadRequest);  // RFC 7959 §2.2
        return;
    }
    const std::uint8_t szx = d.shape.request_block2 ? std::min(d.shape.request_block2->szx, config_.block_szx)
                                                    : config_.block_szx;
    request_.block2 = Block{d.shape.request_block2 ? d.shape.request_block2->num : 0, false, szx};
    if (d.shape.request_block2 && d.shape.request_block2->szx > szx) {
        // A smaller block than asked: the same offset in blocks of our size (RFC 7959 §2.4).
        request_.block2.num = static_cast<std::uint32_t>(d.shape.request_block2->offset() / request_.block2.size());
    }
    if (for_proxy) {
        serve(d, *proxy_, block1);
        return;
    }
    auto rit = d.slash_in_segment ? resources_.end() : resources_.find(request_.path);
    if (rit == resources_.end() || rit->second.proxied) {  // a target observed through the proxy is no path here
        reply_error(d, codes::kNotFound);  // §5.9.2.5
        return;
    }
    serve(d, rit->second, block1);
}

bool ServerLayer::read_request(Dispatch& d, std::uint64_t ignored_mask) {
    IncomingRequest& req = request_;
    req.peer = d.from;
    req.method = d.m.code();
    req.path.clear();
    req.query.clear();
    req.payload.clear();
    req.content_format.reset();
    req.accept.reset();
    req.is_notification = false;
    req.exchange_id = 0;
    req.message = &d.m;
    req.now = d.now;
    bool first_segment = true;
    for (std::size_t i = 0; i < d.m.option_count(); ++i) {
        if ((ignored_mask >> i) & 1u) continue;  // §5.4.1: unrecognized elective
        const Option o = d.m.option(i);
        if (o.number == options::kUriPath) {
            if (!first_segment) req.path.push_back('/');
            req.path.append(o.value.as_chars());
            first_segment = false;
            // RFC 7252 §6.4/§6.5: a segment is opaque; "a/b" in one segment is not "a", "b".
            if (o.value.as_chars().find('/') != std::string_view::npos) d.slash_in_segment = true;
        } else if (o.number == options::kUriQuery) {
            req.query.emplace_back(o.value.as_chars());
        } else if (o.number == options::kContentFormat) {
            req.content_format = static_cast<std::uint16_t>(decode_uint(o.value).value_or(0));
        } else if (o.number == options::kAccept) {
            req.accept = static_cast<std::uint16_t>(decode_uint(o.value).value_or(0));
        } else if (o.number == options::kRequestTag) {
            d.tag.assign(o.value.as_chars());
        }
    }
    return true;
}

void ServerLayer::serve(Dispatch& d, Resource& res, std::optional<Block> block1) {
    if (d.multicast && !res.config.multicast) {
        ++stats_.multicast_ignored;  // only resources configured for it answer a group
        return;
    }
    const Code method = request_.method;
    if (method.cls() != 0 || method.detail() > 5 || ((res.config.methods >> method.detail()) & 1u) == 0) {
        reply_error(d, codes::kMethodNotAllowed);  // §5.9.2.6
        return;
    }
    if (!res.config.accepted_formats.empty() && !d.m.payload().empty()) {
        const auto& ok = res.config.accepted_formats;
        const auto& cf = request_.content_format;
        if (!cf || std::find(ok.begin(), ok.end(), *cf) == ok.end()) {
            reply_error(d, codes::kUnsupportedContentFormat);  // §5.9.2.9
            return;
        }
    }
    if (!preconditions_hold(d, res)) return;
    if (block1) {
        if (!reassemble(d, *block1)) return;
    } else {
        request_.payload.assign(d.m.payload().begin(), d.m.payload().end());
    }
    run_handler(d, res);
}

bool ServerLayer::preconditions_hold(Dispatch& d, const Resource& res) {
    // RFC 7252 §5.10.8: conditional requests. A resource served here exists, so
    // If-None-Match fails; If-Match holds when empty (the target exists) or when one of
    // its values is the current ETag.
    bool any_if_match = false, matched = false, if_none_match = false;
    std::vector<std::uint8_t> etag;
    bool have_etag = false;
    for (std::size_t i = 0; i < d.m.option_count(); ++i) {
        const Option o = d.m.option(i);
        if (o.number == options::kIfNoneMatch) if_none_match = true;
        if (o.number != options::kIfMatch) continue;
        any_if_match = true;
        if (o.value.empty()) {
            matched = true;  // §5.10.8.1: an empty value matches any current representation
            continue;
        }
        if (!have_etag && res.config.current_etag) {
            etag = res.config.current_etag();
            have_etag = true;
        }
        matched = matched || (have_etag && !etag.empty() && o.value == Bytes(etag.data(), etag.size()));
    }
    if ((any_if_match && !matched) || if_none_match) {
        reply_error(d, codes::kPreconditionFailed);  // §5.9.2.8
        return false;
    }
    return true;
}

bool ServerLayer::reassemble(Dispatch& d, const Block& block1) {
    // RFC 7959 §2.5: reassemble a Block1 upload; only the last block reaches the handler.
    const std::string key = request_.path + "|" + d.tag;
    switch (blockwise_.add_block(d.now, d.from, key, block1, d.m.payload(), request_.payload)) {
        case BlockwiseServer::Upload::Incomplete:
            reply_error(d, codes::kRequestEntityIncomplete);  // RFC 7959 §2.9.2
            return false;
        case BlockwiseServer::Upload::TooLarge: {
            Response too_large = Response::with(codes::kRequestEntityTooLarge);  // RFC 7959 §2.9.3
            too_large.options.push_back(OwnedOption{options::kSize1, encode_uint(config_.max_body)});
            reply(d, too_large);
            return false;
        }
        case BlockwiseServer::Upload::More:
            d.shape.block1_echo = Block{block1.num, true, std::min(block1.szx, config_.block_szx)};
            reply_error(d, codes::kContinue);  // RFC 7959 §2.3
            return false;
        case BlockwiseServer::Upload::Complete:
            d.shape.block1_echo = Block{block1.num, false, std::min(block1.szx, config_.block_szx)};
            return true;
    }
    return false;
}

void ServerLayer::run_handler(Dispatch& d, Resource& res) {
    IncomingRequest& req = request_;
    // RFC 7641 §2: Observe 0 registers, 1 deregisters (GET and FETCH only).
    const std::optional<std::uint64_t> observe = uint_option(d.m, options::kObserve);
    const bool can_observe = req.method == codes::kGet || req.method == codes::kFetch;
    const bool safe = can_observe;  // GET and FETCH may simply run again for each block
    const bool continuation = d.shape.request_block2 && d.shape.request_block2->num > 0;
    const bool to_proxy = proxy_ && &res == &*proxy_;  // a proxy registers under the key it answers with
    std::string cache_key;
    if (!safe) cache_key = req.path + "|" + d.tag;
    if (!safe && continuation) {
        // RFC 7959 §3.3: Block2 continuation of a POST/PUT response: serve it from the
        // kept body instead of running the handler again.
        if (const Response* kept = blockwise_.cached(d.now, d.from, cache_key)) {
            reply(d, *kept);
            return;
        }
    }
    const Token token = Token::from(d.m.token());
    if (observe && *observe == 1 && can_observe) remove_observer(d.from, token);

    req.exchange_id = next_id_++;
    HandlerResult result = res.config.handler(req);
    if (result.deferred) {
        if (deferred_index_.size() >= config_.max_server_exchanges) {
            // RFC 7252 §5.9.3.4: 5.03 with Max-Age, the seconds after which to try again.
            Response busy;
            busy.code = codes::kServiceUnavailable;
            busy.max_age = kRetryAfterSeconds;
            reply(d, busy);
            return;
        }
        // RFC 7641 §2: a registration with an observable resource is made when answered.
        const bool registers_later = observe && *observe == 0 && can_observe && !continuation && !to_proxy &&
                                     res.config.observable && may_register(d.now, d.from, token, res);
        const std::uint32_t slot = deferred_.acquire();
        const bool con = d.m.type() == MessageType::Con;
        const bool wait = con && config_.separate_ack_delay > Duration::zero();
        deferred_[slot] = Deferred{d.from, token, con, d.now + config_.params.exchange_lifetime(), d.shape,
                                   d.m.message_id(), wait ? std::optional(d.now + config_.separate_ack_delay)
                                                          : std::nullopt,
                                   // A registration with the proxy handler may become one when answered.
                                   to_proxy && observe && *observe == 0 && can_observe && !continuation,
                                   req.accept, registers_later ? res.path : std::string(),
                                   registers_later ? req.query : std::vector<std::string>()};
        deferred_index_.put(req.exchange_id, slot);
        // §5.2.2: acknowledge now (or after separate_ack_delay), answer later (the ACK
        // counts against the allowance).
        if (con && !wait) {
            if (guard_.active()) guard_.account(d.now, d.from, 4);
            messages_.send_empty_ack(d.from, d.m.message_id(), &d.entry);
        }
        return;
    }
    // §5.10.4, §5.9.2.7: an Accept the representation does not satisfy is 4.06 (safe methods: the
    // handler had no side effect).
    if (safe && req.accept && result.response.code.is_success() && result.response.content_format &&
        *result.response.content_format != *req.accept) {
        reply_error(d, codes::kNotAcceptable);
        return;
    }
    const bool registers = observe && *observe == 0;  // RFC 7641 §2
    const bool allowed = registers && !to_proxy && may_register(d.now, d.from, token, res);
    // RFC 7959 §2.6: a registration may carry Block2 0 (the block size it wants), not a later block.
    if (allowed && can_observe && res.config.observable && result.response.code.is_success()) {
        if (!continuation) {
            register_observer(d, res, token);
        } else if (is_observer(res, d.from, token)) {
            // An observer repeating Observe 0 in the GETs for a notification's later blocks
            // (node-coap does, and reads freshness from the last block) gets the sequence
            // number again, as a re-registration would (RFC 7641 §4.1).
            d.shape.observe_seq = res.seq;
        }
    }
    if (registers && can_observe && to_proxy && !result.response.observe_key.empty() &&
        result.response.code.is_success() && !continuation) {
        // The proxy observes the target for its clients: this one joins (RFC 7641 §2).
        register_proxied(d.now, d.from, token, result.response.observe_key, req.query, req.accept, d.shape);
    }
    if (!safe && result.response.code.is_success() &&
        result.response.payload.size() > (std::size_t{16} << config_.block_szx)) {
        blockwise_.keep(d.now, d.from, cache_key, result.response);
    }
    reply(d, result.response);
}

void ServerLayer::reply_error(Dispatch& d, Code code) {
    Response r;
    r.code = code;
    reply(d, r);
}

void ServerLayer::reply(Dispatch& d, const Response& r) {
    // §5.2.1 piggybacked in the ACK for a CON; §5.2.3 a NON for a NON.
    const bool con = d.m.type() == MessageType::Con;
    const MessageType type = con ? MessageType::Ack : MessageType::Non;
    const std::uint16_t mid = con ? d.m.message_id() : messages_.mid_for(d.now, d.from);
    if (d.multicast && !r.code.is_success()) {
        ++stats_.multicast_suppressed;  // RFC 7390 §2.7: no error responses to a group request
        return;
    }
    std::vector<std::uint8_t> bytes = messages_.buffer(0);
    build_response(bytes, config_.block_szx, type, mid, d.m.token(), r, d.shape);
    if (guard_.active() && !guard_.limit_reply(d.now, d.from, bytes, type, mid, d.m.token())) return;
    ++stats_.responses_sent;
    if (d.multicast) {
        // RFC 7252 §8.2: answer at a random point within the leisure period. Bounded.
        if (delayed_.size() >= config_.max_server_exchanges) {
            ++stats_.transmits_dropped;
            return;
        }
        const TimePoint at = d.now + rng_.uniform(Duration::zero(), config_.params.default_leisure);
        delayed_.emplace(at, Transmit{d.from, std::move(bytes)});
        return;
    }
    d.entry.reply.assign(bytes.begin(), bytes.end());  // §4.5: for a duplicate of the request
    messages_.transmit(d.from, std::move(bytes));
}

// ---------------------------------------------------------------------------------
// Separate responses (§5.2.2)

ApiError ServerLayer::respond(TimePoint now, std::uint64_t exchange_id, Response response) {
    const std::uint32_t* found = deferred_index_.find(exchange_id);
    if (found == nullptr) return ApiError::UnknownExchange;
    Deferred s = deferred_[*found];
    deferred_.release(*found);
    deferred_index_.erase(exchange_id);
    if (s.registers && !response.observe_key.empty() && response.code.is_success()) {
        register_proxied(now, s.peer, s.token, response.observe_key, {}, s.accept, s.shape);
    }
    if (!s.resource.empty() && response.code.is_success()) {
        // A registration answered now (RFC 7641 §4.1: only a success registers); the
        // resource is still there (resources are never removed, and no proxied target
        // takes a real resource's path).
        auto it = resources_.find(s.resource);
        if (it != resources_.end() && !it->second.proxied) {
            (void)add_observer(now, s.peer, s.token, it->second, s.query, s.accept, s.shape);
        }
    }
    if (s.ack_due) {
        // Answered before the empty ACK went out: piggybacked after all (§5.2.1), and
        // remembered for a duplicate of the request (§4.5).
        std::vector<std::uint8_t> ack = messages_.buffer(0);
        build_response(ack, config_.block_szx, MessageType::Ack, s.request_mid, s.token.view(), response, s.shape);
        if (guard_.active() && !guard_.limit_reply(now, s.peer, ack, MessageType::Ack, s.request_mid, s.token.view())) {
            return ApiError::Ok;
        }
        ++stats_.responses_sent;
        if (DedupCache::Entry* e = messages_.dedup().find(now, s.peer, s.request_mid)) e->reply = ack;
        messages_.transmit(s.peer, std::move(ack));
        return ApiError::Ok;
    }
    const std::uint16_t mid = messages_.mid_for(now, s.peer);
    // §5.2.2: the separate response to a CON request is itself a CON.
    const MessageType type = s.confirmable ? MessageType::Con : MessageType::Non;
    std::vector<std::uint8_t> bytes = messages_.buffer(0);
    // The client's Block2 (a block number, an early smaller size) and the Block1 of a
    // finished upload hold for a deferred answer too (RFC 7959 §2.3, §2.4).
    build_response(bytes, config_.block_szx, type, mid, s.token.view(), response, s.shape);
    // The defences hold here too: a separate response to an unverified address within its
    // allowance, or a 4.01 with an Echo in its place, or nothing (RFC 9175 §2.4).
    if (guard_.active() && !guard_.limit_reply(now, s.peer, bytes, type, mid, s.token.view())) return ApiError::Ok;
    ++stats_.responses_sent;
    if (s.confirmable) {
        messages_.send_con(now, s.peer, mid, std::move(bytes), Owner{OwnerKind::SeparateResponse, exchange_id, Token{}});
    } else {
        messages_.transmit(s.peer, std::move(bytes));
    }
    return ApiError::Ok;
}

bool ServerLayer::may_send(TimePoint now, const Peer& peer, std::size_t size) {
    if (!guard_.active() || guard_.may_send(now, peer, size)) return true;
    ++stats_.amplification_dropped;
    return false;
}

void ServerLayer::on_separate_failed(const Peer& peer, std::uint64_t id, FailReason reason) {
    Event& e = events_.scratch();
    e.kind = EventKind::SeparateResponseFailed;
    e.id = id;
    e.peer = peer;
    e.reason = reason;
    events_.push(e);
}

// ---------------------------------------------------------------------------------
// Timers

void ServerLayer::send_delayed(TimePoint now) {
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
        Transmit t = std::move(delayed_.begin()->second);
        delayed_.erase(delayed_.begin());
        messages_.transmit(t.peer, std::move(t.bytes));
    }
}

void ServerLayer::handle_timeout(TimePoint now) {
    // Deferred requests the application never answered; empty ACKs whose wait is over.
    if (!deferred_index_.empty()) {
        std::vector<std::uint64_t> gone;
        deferred_index_.for_each([&](const std::uint64_t& id, const std::uint32_t& slot) {
            Deferred& w = deferred_[slot];
            if (w.ack_due && *w.ack_due <= now) {
                w.ack_due.reset();
                if (guard_.active()) guard_.account(now, w.peer, 4);
                messages_.send_empty_ack(w.peer, w.request_mid, messages_.dedup().find(now, w.peer, w.request_mid));
            }
            if (w.expires <= now) gone.push_back(id);
        });
        for (std::uint64_t id : gone) {
            deferred_.release(*deferred_index_.find(id));
            deferred_index_.erase(id);
        }
    }
    blockwise_.expire(now);
}

std::optional<TimePoint> ServerLayer::next_deadline() const {
    std::optional<TimePoint> t;
    deferred_index_.for_each([&](const std::uint64_t&, const std::uint32_t& slot) {
        if (!t || deferred_[slot].expires < *t) t = deferred_[slot].expires;
        if (deferred_[slot].ack_due && *deferred_[slot].ack_due < *t) t = deferred_[slot].ack_due;
    });
    if (!delayed_.empty() && (!t || delayed_.begin()->first < *t)) t = delayed_.begin()->first;
    return t;
}

}  // namespace coap
