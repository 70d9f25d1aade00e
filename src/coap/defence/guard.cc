#include "coap/defence/guard.h"

#include <algorithm>

#include "coap/codec/message.h"
#include "coap/codec/writer.h"
#include "coap/defence/echo.h"
#include "coap/options/registry.h"

namespace coap {

namespace {
// Bounded tables: a new key in a full one makes the key seen least recently (ties: the
// lowest) go, and with it what was known of it (it starts unverified, or with a full
// bucket, again).
template <class Map>
void forget_least_recent(Map& table) {
    const Peer* oldest = nullptr;
    TimePoint oldest_seen;
    table.for_each([&](const Peer& key, const auto& x) {
        if (oldest == nullptr || x.last_seen < oldest_seen || (x.last_seen == oldest_seen && key < *oldest)) {
            oldest = &key;
            oldest_seen = x.last_seen;
        }
    });
    if (oldest != nullptr) table.erase(Peer(*oldest));
}
}  // namespace

DefenceGuard::State& DefenceGuard::state(TimePoint now, const Peer& peer) {
    State* s = table_.find(peer);
    if (s == nullptr) {
        if (table_.size() >= config_.max_peers) forget_least_recent(table_);
        s = &table_.put(peer, State{});
    }
    s->last_seen = now;
    return *s;
}

DefenceGuard::Bucket& DefenceGuard::bucket(TimePoint now, const Peer& peer) {
    Peer address = peer;
    address.port = 0;
    Bucket* b = buckets_.find(address);
    if (b == nullptr) {
        if (buckets_.size() >= config_.max_peers) forget_least_recent(buckets_);
        Bucket fresh;
        fresh.tokens = config_.defences.rate_burst;
        fresh.refilled = now;
        b = &buckets_.put(address, fresh);
    }
    b->last_seen = now;
    return *b;
}

bool DefenceGuard::admit(TimePoint now, const Peer& from, const MessageView& m) {
    const ServerDefences& def = config_.defences;
    if (!def.any()) return true;
    State& d = state(now, from);
    d.received += m.datagram().size();
    if (def.rate_limit > 0) {
        // RFC 7252 §4.7: a server should limit the rate at which it responds, per IP
        // address: rotating the source port must not buy more.
        Bucket& b = bucket(now, from);
        b.tokens = std::min(def.rate_burst, b.tokens + (now - b.refilled).seconds_f() * def.rate_limit);
        b.refilled = now;
        if (b.tokens < 1.0) {
            ++stats_.rate_limited;
            return false;
        }
        b.tokens -= 1.0;
    }
    const std::size_t ei = m.find(options::kEcho);
    if (def.echo_enabled() && ei < m.option_count()) {
        switch (verify_echo(*def.echo_key, from, m.option(ei).value, now, def.echo_freshness)) {
            case EchoVerdict::Valid:
                ++stats_.echo_verified;
                d.verified_until = now + def.verified_for;
                break;
            case EchoVerdict::Expired: ++stats_.echo_expired; break;
            case EchoVerdict::Forged:
            case EchoVerdict::Malformed: ++stats_.echo_forged; break;
        }
    }
    return true;
}

void DefenceGuard::account(TimePoint now, const Peer& peer, std::size_t size) {
    State* d = table_.find(peer);
    if (d != nullptr && now >= d->verified_until) d->sent += size;
}

bool DefenceGuard::verified(TimePoint now, const Peer& peer) const {
    const State* d = table_.find(peer);
    return d != nullptr && now < d->verified_until;
}

bool DefenceGuard::may_send(TimePoint now, const Peer& peer, std::size_t size) {
    const ServerDefences& def = config_.defences;
    const double ratio = def.amplification_limit > 0 ? def.amplification_limit : (def.echo_enabled() ? 3.0 : 0.0);
    if (ratio <= 0) return true;
    State* d = table_.find(peer);
    if (d == nullptr) return static_cast<double>(size) <= static_cast<double>(def.initial_allowance);
    if (now < d->verified_until) return true;
    // RFC 9175 §2.4 / RFC 9000 §8: at most `ratio` times what the address sent us.
    const double allowance = ratio * static_cast<double>(d->received) + static_cast<double>(def.initial_allowance);
    if (static_cast<double>(d->sent + size) > allowance) return false;
    d->sent += size;
    return true;
}

bool DefenceGuard::limit_reply(TimePoint now, const Peer& peer, std::vector<std::uint8_t>& bytes, MessageType type,
                               std::uint16_t mid, Bytes token) {
    if (may_send(now, peer, bytes.size())) return true;
    const ServerDefences& def = config_.defences;
    if (def.echo_enabled()) {
        // RFC 9175 §2.4: 4.01 with a fresh Echo instead of the large response.
        const auto echo = mint_echo(*def.echo_key, peer, now);
        bytes.resize(message_bound({}, 0, 5 + echo.size(), 0));
        MessageWriter w(MutableBytes(bytes.data(), bytes.size()), type, codes::kUnauthorized, mid, token);
        (void)w.add_option(options::kEcho, Bytes(echo.data(), echo.size()));
        const BuildResult r = w.finish();
        bytes.resize(r.ok() ? r.size : 0);
        if (!bytes.empty() && may_send(now, peer, bytes.size())) {
            ++stats_.echo_challenges;
            return true;
        }
    }
    ++stats_.amplification_dropped;
    return false;
}

}  // namespace coap
