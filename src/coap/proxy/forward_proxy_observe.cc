// ForwardProxy, continued (forward_proxy.h): the client's view of an upstream response,
// and Observe through the proxy (RFC 7641 §5).
#include <algorithm>

#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/proxy/forward_proxy.h"
#include "coap/proxy/hop_by_hop.h"

namespace coap::proxy {

Response ForwardProxy::downstream(const Message& r, bool& unsafe_unknown, bool relay_block) const {
    Response out;
    out.code = r.code;
    for (const OwnedOption& o : r.options) {
        if (find_option(o.number) == nullptr && is_unsafe(o.number)) unsafe_unknown = true;  // §5.7.1
        if (o.number == options::kMaxAge) {
            const std::optional<std::uint64_t> v = decode_uint(Bytes(o.value.data(), o.value.size()));
            if (v && *v <= 0xFFFFFFFFu) out.max_age = static_cast<std::uint32_t>(*v);
        } else if (relay_block && o.number == options::kBlock2) {
            out.block2 = relayed_block(o);  // RFC 7959 §2.10: the origin's Block2, relayed
        } else if (relay_block && o.number == options::kSize2) {
            out.options.push_back(o);
        } else if (!hop_by_hop(o.number)) {
            out.options.push_back(o);
        }
    }
    out.payload = r.payload;
    return out;
}

void ForwardProxy::on_observation(TimePoint now, const std::string& key, const Event& e) {
    auto it = observations_.find(key);
    if (it == observations_.end()) return;
    Observation& o = it->second;
    Response r;
    bool ended = true;
    if (e.kind == EventKind::Response || e.kind == EventKind::Notification || e.kind == EventKind::ObservationEnded) {
        bool unsafe = false;
        r = downstream(e.message, unsafe);
        if (unsafe) {
            r = error(codes::kBadGateway, "unsafe option in response", stats_.bad_gateway);
        } else {
            ++stats_.upstream_responses;
            // Still observing: a success that carries Observe (a first response without it
            // means the origin does not offer the resource for observation, RFC 7641 §4.1).
            bool has_observe = false;
            for (const OwnedOption& opt : e.message.options) has_observe = has_observe || opt.number == options::kObserve;
            ended = e.kind == EventKind::ObservationEnded || !r.code.is_success() || !has_observe;
        }
    } else if (e.kind == EventKind::RequestFailed) {
        r = e.reason == FailReason::Timeout ? error(codes::kGatewayTimeout, "", stats_.upstream_timeouts)
                                            : error(codes::kBadGateway, to_string(e.reason), stats_.bad_gateway);
    } else {
        return;
    }
    auto forget = [&] {
        observed_by_id_.erase(o.upstream_id);
        observations_.erase(it);
    };
    o.latest = r;
    if (!ended && config_.cache) {
        // The target's current representation (RFC 7641 §5): a plain GET for it, such as a
        // client's GET for the other blocks of this notification (RFC 7959 §2.6), must not
        // be served an older one kept for the same key (§5.6).
        cache_.invalidate(now, o.target);
        if (config_.blockwise != ProxyConfig::Blockwise::PassThrough) {
            (void)cache_.store(now, std::string_view(key).substr(kObservePrefix.size()), o.target,
                               cache_copy(e.message, false));
        }
    }
    if (!o.waiters.empty()) {
        // The first answer: the clients that asked become observers (unless it ended).
        Response first = r;
        if (!ended) first.observe_key = key;
        const std::vector<Waiter> waiters = std::move(o.waiters);
        o.waiters.clear();
        for (const Waiter& w : waiters) (void)down_.respond(now, w.exchange_id, first);
        if (ended) forget();
        return;
    }
    if (!ended && down_.observer_count(key) == 0) {
        // Nobody observes any more (deregistered, reset, unreachable): stop upstream too.
        (void)up_.cancel(now, o.upstream_id, true);
        ++stats_.observe_cancelled;
        forget();
        return;
    }
    if (!ended) ++stats_.notifications_relayed;
    (void)down_.notify(now, key);  // an error ends the clients' observations (RFC 7641 §4.2)
    if (ended) forget();
}

}  // namespace coap::proxy
