#include "net/dtls.h"

#include <algorithm>

#include "net/dtls_stack.h"

namespace coapbed::net {

namespace {
constexpr std::size_t kMaxPending = 32;  // plaintext datagrams held during a handshake
}  // namespace

struct DtlsLayer::Session {
    std::unique_ptr<detail::StackSession> tls;
    bool established = false;
    std::deque<std::vector<std::uint8_t>> pending;  ///< plaintext waiting for the handshake
    coap::TimePoint last_used;
    coap::TimePoint started;  ///< when the handshake began
};

namespace {
constexpr std::size_t kMaxHandshakeSamples = 10000;
}  // namespace

std::optional<DtlsStack> parse_dtls_stack(const std::string& name) {
    if (name == "openssl") return DtlsStack::OpenSsl;
    if (name == "gnutls") return DtlsStack::GnuTls;
    return std::nullopt;
}

namespace detail {
std::vector<std::string> all_pins(const DtlsConfig& config) {
    std::vector<std::string> pins = config.pins;
    if (!config.pin.empty()) pins.insert(pins.begin(), config.pin);
    return pins;
}
}  // namespace detail

DtlsLayer::DtlsLayer() = default;

DtlsLayer::~DtlsLayer() {
    sessions_.clear();  // before the stack whose credentials they use
    stack_.reset();
}

bool DtlsLayer::init(const DtlsConfig& config, std::string& error) {
    config_ = config;
    error.clear();
    if (config_.mtu < kMinMtu) {
        error = "DTLS needs an MTU of at least " + std::to_string(kMinMtu) + " bytes (OpenSSL's smallest)";
        return false;
    }
    const bool in_memory = !config_.key_pem.empty();
    const bool rpk = !config_.rpk_file.empty() || (in_memory && config_.cert_pem.empty());
    const bool certs = !config_.cert_file.empty() || !config_.cert_pem.empty();
    if (rpk && (!config_.psk_key.empty() || certs)) {
        error = "a raw public key (--rpk) is a mode of its own: not with --psk-key or --cert";
        return false;
    }
    if (rpk && !config_.server && detail::all_pins(config_).empty()) {
        // RFC 7252 §9.1.3.2.1: a raw key is trusted by its identity, nothing else.
        error = "a raw public key client needs the server's key name (--pin NI, see `coapbed key-id`)";
        return false;
    }
    DtlsStack stack = config_.stack;
    if (stack == DtlsStack::Auto) stack = rpk || in_memory ? DtlsStack::GnuTls : DtlsStack::OpenSsl;
    if (stack == DtlsStack::OpenSsl) {
        const char* why = rpk                       ? "OpenSSL 3.0 cannot do raw public keys (RFC 7250): use --dtls gnutls"
                          : in_memory               ? "keys given as text need the GnuTLS stack"
                          : !config_.verify_cookies ? "the OpenSSL stack always exchanges cookies"
                                                    : nullptr;
        if (why != nullptr) {
            error = why;
            return false;
        }
    }
    stack_ = stack == DtlsStack::GnuTls ? detail::make_gnutls_stack() : detail::make_openssl_stack();
    if (!stack_->init(config_, error)) {
        stack_.reset();
        return false;
    }
    return true;
}

const char* DtlsLayer::stack_name() const { return stack_ == nullptr ? "" : stack_->name(); }

DtlsLayer::Session* DtlsLayer::session(coap::TimePoint now, const coap::Peer& peer, bool create) {
    auto it = sessions_.find(peer);
    if (it != sessions_.end()) {
        it->second->last_used = now;
        return it->second.get();
    }
    if (!create || stack_ == nullptr) return nullptr;
    if (sessions_.size() >= config_.max_sessions && !evict_oldest(/*established=*/true, nullptr)) {
        evict_oldest(/*established=*/false, nullptr);  // a client's peers: all mid-handshake
    }
    auto s = std::make_unique<Session>();
    s->tls = stack_->open(peer);
    if (s->tls == nullptr) return nullptr;
    s->last_used = now;
    s->started = now;
    ++stats_.handshakes_started;
    Session* raw = s.get();
    sessions_[peer] = std::move(s);
    return raw;
}

bool DtlsLayer::evict_oldest(bool established, const Session* keep) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (it->second->established != established || it->second.get() == keep) continue;
        if (oldest == sessions_.end() || it->second->last_used < oldest->second->last_used) oldest = it;
    }
    if (oldest == sessions_.end()) return false;
    sessions_.erase(oldest);
    ++(established ? stats_.sessions_evicted : stats_.handshakes_evicted);
    if (!established) ++stats_.handshakes_failed;
    return true;
}

std::size_t DtlsLayer::count(bool established) const {
    return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), [&](const auto& e) {
        return e.second->established == established;
    }));
}

void DtlsLayer::listen(coap::TimePoint now, const coap::Peer& peer, coap::Bytes datagram, const Send& send,
                       std::vector<std::vector<std::uint8_t>>& plain) {
    // RFC 6347 §4.2.1: no state for a peer until its ClientHello carries a cookie that
    // proves it receives at its address.
    detail::DatagramQueue reply;
    std::unique_ptr<detail::StackSession> tls = stack_->listen(peer, datagram, reply);
    const bool verify_request = !reply.datagrams.empty();
    send_datagrams(peer, reply, /*handshake=*/true, send);  // the HelloVerifyRequest
    if (tls == nullptr) {
        ++(verify_request ? stats_.hello_verify_requests : stats_.dropped_before_cookie);
        return;
    }
    if (config_.verify_cookies) ++stats_.cookies_verified;
    ++stats_.handshakes_started;
    // Handshakes in progress have their own bound: a new one displaces the oldest
    // handshake, never an established session.
    if (count(false) >= config_.max_handshakes) evict_oldest(/*established=*/false, nullptr);
    auto s = std::make_unique<Session>();
    s->tls = std::move(tls);
    s->last_used = now;
    s->started = now;
    Session* raw = s.get();
    sessions_[peer] = std::move(s);
    drive(now, *raw, send, &plain);
}

void DtlsLayer::send_datagrams(const coap::Peer& peer, detail::DatagramQueue& out, bool handshake, const Send& send) {
    if (!out.overflowed) {  // a flight beyond the queue's bound goes nowhere
        for (const auto& d : out.datagrams) send(peer, d.data(), d.size());
        if (handshake) stats_.handshake_bytes += out.bytes;
    }
    out.datagrams.clear();
    out.bytes = 0;
    out.overflowed = false;
}

void DtlsLayer::flush(Session& s, const Send& send) { send_datagrams(s.tls->peer, s.tls->out, !s.established, send); }

void DtlsLayer::fail(const coap::Peer& peer, const std::string& why) {
    last_error_ = "DTLS with " + peer.to_string() + ": " + why;
    auto it = sessions_.find(peer);
    if (it == sessions_.end()) return;
    if (!it->second->established) ++stats_.handshakes_failed;
    sessions_.erase(it);
}

void DtlsLayer::drive(coap::TimePoint now, Session& s, const Send& send, std::vector<std::vector<std::uint8_t>>* plain) {
    const coap::Peer peer = s.tls->peer;
    std::string error;
    if (!s.established) {
        const auto progress = s.tls->handshake(error);
        flush(s, send);
        if (progress == detail::StackSession::Progress::Failed) {
            refused_ = peer;
            fail(peer, error);
            return;
        }
        if (progress == detail::StackSession::Progress::Pending) return;
        s.established = true;
        ++stats_.handshakes_completed;
        if (!config_.server && stats_.handshake_seconds.size() < kMaxHandshakeSamples) {
            stats_.handshake_seconds.push_back((now - s.started).seconds_f());
        }
        if (refused_ == peer) refused_.reset();
        // Only a completed handshake may displace an established session (the least
        // recently used one) when they are at their bound.
        if (config_.server && count(true) > config_.max_sessions) evict_oldest(/*established=*/true, &s);
    }
    while (!s.pending.empty()) {
        const auto& p = s.pending.front();
        if (!s.tls->write(coap::Bytes(p.data(), p.size()))) {
            // Too large for a record within the MTU, or refused: dropped, not held (a
            // datagram that can never go would block those behind it); CoAP retransmits.
            ++stats_.plaintext_dropped;
            s.pending.pop_front();
            flush(s, send);
            continue;
        }
        const std::size_t before = stats_.record_overhead_bytes, written = s.tls->out.bytes;
        if (written > p.size()) stats_.record_overhead_bytes = before + (written - p.size());
        s.pending.pop_front();
        flush(s, send);  // one record per datagram
    }
    std::uint8_t buf[65536];
    while (true) {
        std::size_t n = 0;
        const auto r = s.tls->read(buf, sizeof buf, n, error);
        flush(s, send);
        if (r == detail::StackSession::Read::Data) {
            if (plain != nullptr) plain->emplace_back(buf, buf + n);
            continue;
        }
        if (r == detail::StackSession::Read::Closed) fail(peer, "closed by the peer");
        if (r == detail::StackSession::Read::Failed) fail(peer, error);
        return;
    }
}

void DtlsLayer::receive(coap::TimePoint now, const coap::Peer& peer, coap::Bytes datagram, const Send& send,
                        std::vector<std::vector<std::uint8_t>>& plain) {
    // An empty datagram is no record (RFC 6347 §4.1); a library could read it as the end
    // of the stream, so a forged one would end a session.
    if (datagram.empty()) return;
    // A client only talks to peers it started a session with; a server takes a new peer
    // only through the stateless cookie exchange.
    Session* s = session(now, peer, false);
    if (s == nullptr) {
        if (config_.server && stack_ != nullptr) listen(now, peer, datagram, send, plain);
        return;
    }
    s->tls->feed(datagram);
    drive(now, *s, send, &plain);
}

void DtlsLayer::write(coap::TimePoint now, const coap::Peer& peer, coap::Bytes plaintext, const Send& send) {
    Session* s = session(now, peer, !config_.server);
    if (s == nullptr) return;  // a server does not open sessions
    if (s->pending.size() >= kMaxPending) s->pending.pop_front();  // bounded; CoAP retransmits
    s->pending.emplace_back(plaintext.begin(), plaintext.end());
    drive(now, *s, send, nullptr);
}

std::optional<coap::TimePoint> DtlsLayer::next_timeout(coap::TimePoint now) const {
    std::optional<coap::TimePoint> t;
    for (const auto& [peer, s] : sessions_) {
        if (s->established) continue;
        if (const auto d = s->tls->timer(now)) {
            const coap::TimePoint at = now + *d;
            if (!t || at < *t) t = at;
        }
    }
    return t;
}

void DtlsLayer::handle_timeouts(coap::TimePoint now, const Send& send) {
    std::vector<coap::Peer> failed;
    for (const auto& [peer, s] : sessions_) {
        if (s->established) continue;
        if (!s->tls->on_timer(now)) failed.push_back(peer);
        flush(*s, send);
    }
    for (const auto& peer : failed) fail(peer, "handshake timed out");
}

bool DtlsLayer::established(const coap::Peer& peer) const {
    auto it = sessions_.find(peer);
    return it != sessions_.end() && it->second->established;
}

std::string DtlsLayer::cipher(const coap::Peer& peer) const {
    auto it = sessions_.find(peer);
    if (it == sessions_.end() || !it->second->established) return "";
    return it->second->tls->cipher();
}

std::string DtlsLayer::peer_credential(const coap::Peer& peer) const {
    auto it = sessions_.find(peer);
    if (it == sessions_.end() || !it->second->established) return "";
    return it->second->tls->peer_credential();
}

}  // namespace coapbed::net
