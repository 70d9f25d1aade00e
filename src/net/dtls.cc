#include "net/dtls.h"

#include "net/key_id.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace coapbed::net {

namespace {

// The datagrams OpenSSL wrote for one peer since the last flush. OpenSSL hands each
// datagram to its BIO with one write, as it would to a UDP socket: a record, or during
// a handshake the records of a flight it packed up to the MTU (RFC 6347 §4.1.1, §4.1.1.1).
// A memory BIO would run them together into one stream, sent as one datagram of any
// size. Bounded: a flush follows every OpenSSL call, so this holds one flight at most; a
// flight beyond the bound fails the write (and the handshake) and is dropped whole.
struct DatagramQueue {
    static constexpr std::size_t kMaxBytes = 64 * 1024;
    std::deque<std::vector<std::uint8_t>> datagrams;
    std::size_t bytes = 0;
    bool overflowed = false;
};

int queue_write(BIO* b, const char* data, int len) {
    auto* q = static_cast<DatagramQueue*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (len < 0 || q->overflowed || q->bytes + static_cast<std::size_t>(len) > DatagramQueue::kMaxBytes) {
        q->overflowed = true;
        return -1;
    }
    q->datagrams.emplace_back(data, data + len);
    q->bytes += static_cast<std::size_t>(len);
    return len;
}

long queue_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int queue_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

// A write-only BIO that appends each write to the DatagramQueue set as its data.
const BIO_METHOD* queue_bio_method() {
    static BIO_METHOD* const method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "coapbed DTLS datagrams");
        if (m != nullptr) {
            BIO_meth_set_write(m, queue_write);
            BIO_meth_set_ctrl(m, queue_ctrl);
            BIO_meth_set_create(m, queue_create);
        }
        return m;
    }();
    return method;
}

}  // namespace

struct DtlsLayer::Session {
    coap::Peer peer;
    SSL* ssl = nullptr;
    BIO* rbio = nullptr;  ///< ciphertext from the network (owned by ssl)
    BIO* wbio = nullptr;  ///< ciphertext for the network, datagram by datagram into `out` (owned by ssl)
    DatagramQueue out;
    bool established = false;
    std::deque<std::vector<std::uint8_t>> pending;  ///< plaintext waiting for the handshake
    coap::TimePoint last_used;
    ~Session() {
        if (ssl != nullptr) SSL_free(ssl);
    }
};

namespace {

constexpr std::size_t kMaxPending = 32;  // plaintext datagrams held during a handshake

DtlsLayer* layer_of(SSL* ssl) { return static_cast<DtlsLayer*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl))); }

std::string openssl_error() {
    char buf[256] = {};
    const unsigned long e = ERR_get_error();
    if (e == 0) return "handshake failed";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

/// The cookie of RFC 6347 §4.2.1: an HMAC of the client's address under a secret of ours,
/// so the server keeps no state for a client that cannot receive at its address.
bool make_cookie(const std::vector<std::uint8_t>& secret, const coap::Peer& peer, std::uint8_t* out, unsigned int* len) {
    std::uint8_t input[1 + 16 + 2];
    input[0] = peer.family;
    std::memcpy(input + 1, peer.address.data(), 16);
    input[17] = static_cast<std::uint8_t>(peer.port >> 8);
    input[18] = static_cast<std::uint8_t>(peer.port);
    unsigned int n = 0;
    std::uint8_t mac[EVP_MAX_MD_SIZE];
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), input, sizeof input, mac, &n) == nullptr) {
        return false;
    }
    *len = std::min<unsigned int>(n, 16);
    std::memcpy(out, mac, *len);
    return true;
}

}  // namespace

// OpenSSL callbacks (C linkage not required; plain functions).
static unsigned int psk_client_cb(SSL* ssl, const char*, char* identity, unsigned int max_identity_len,
                                  unsigned char* psk, unsigned int max_psk_len);
static unsigned int psk_server_cb(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_psk_len);
static int cookie_generate_cb(SSL* ssl, unsigned char* cookie, unsigned int* cookie_len);
static int cookie_verify_cb(SSL* ssl, const unsigned char* cookie, unsigned int cookie_len);

struct DtlsAccess {
    static const DtlsConfig& config(DtlsLayer* l) { return l->config_; }
    static const std::vector<std::uint8_t>& secret(DtlsLayer* l) { return l->cookie_secret_; }
    static const coap::Peer& peer(SSL* ssl) { return static_cast<DtlsLayer::Session*>(SSL_get_app_data(ssl))->peer; }
};

static unsigned int psk_client_cb(SSL* ssl, const char*, char* identity, unsigned int max_identity_len,
                                  unsigned char* psk, unsigned int max_psk_len) {
    const DtlsConfig& c = DtlsAccess::config(layer_of(ssl));
    if (c.psk_identity.size() + 1 > max_identity_len || c.psk_key.size() > max_psk_len) return 0;
    std::memcpy(identity, c.psk_identity.c_str(), c.psk_identity.size() + 1);
    std::memcpy(psk, c.psk_key.data(), c.psk_key.size());
    return static_cast<unsigned int>(c.psk_key.size());
}

static unsigned int psk_server_cb(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_psk_len) {
    const DtlsConfig& c = DtlsAccess::config(layer_of(ssl));
    if (identity == nullptr || c.psk_identity != identity || c.psk_key.size() > max_psk_len) return 0;
    std::memcpy(psk, c.psk_key.data(), c.psk_key.size());
    return static_cast<unsigned int>(c.psk_key.size());
}

// Chain verification as OpenSSL does it, except that a pinned key (RFC 6920 name) is
// trusted by itself: the pin identifies the peer's key, as RFC 7250 would.
static int verify_cb(int preverify_ok, X509_STORE_CTX* store) {
    SSL* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    const DtlsConfig& c = DtlsAccess::config(layer_of(ssl));
    if (c.pin.empty()) return preverify_ok;
    if (X509_STORE_CTX_get_error_depth(store) > 0) return 1;  // the chain does not matter
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    const auto names = cert != nullptr ? key_names(X509_get0_pubkey(cert)) : std::nullopt;
    return names && matches(*names, c.pin) ? 1 : 0;
}

static int cookie_generate_cb(SSL* ssl, unsigned char* cookie, unsigned int* cookie_len) {
    return make_cookie(DtlsAccess::secret(layer_of(ssl)), DtlsAccess::peer(ssl), cookie, cookie_len) ? 1 : 0;
}

static int cookie_verify_cb(SSL* ssl, const unsigned char* cookie, unsigned int cookie_len) {
    std::uint8_t want[32];
    unsigned int n = 0;
    if (!make_cookie(DtlsAccess::secret(layer_of(ssl)), DtlsAccess::peer(ssl), want, &n)) return 0;
    return (cookie_len == n && CRYPTO_memcmp(cookie, want, n) == 0) ? 1 : 0;
}

DtlsLayer::DtlsLayer() = default;

DtlsLayer::~DtlsLayer() {
    sessions_.clear();
    listener_.reset();
    BIO_ADDR_free(static_cast<BIO_ADDR*>(listen_addr_));
    if (ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

bool DtlsLayer::init(const DtlsConfig& config, std::string& error) {
    config_ = config;
    if (config_.mtu < kMinMtu) {
        error = "DTLS needs an MTU of at least " + std::to_string(kMinMtu) + " bytes (OpenSSL's smallest)";
        return false;
    }
    const bool certs = !config_.cert_file.empty();
    // A client may check the server's certificate without presenting one of its own.
    const bool client_checks = !config_.server && (!config_.ca_file.empty() || !config_.pin.empty());
    if (config_.psk_key.empty() && !certs && !client_checks) {
        error = "DTLS needs a pre-shared key (--psk-key) or certificates (--cert/--key, --ca or --pin)";
        return false;
    }
    SSL_CTX* ctx = SSL_CTX_new(config_.server ? DTLS_server_method() : DTLS_client_method());
    if (ctx == nullptr) {
        error = openssl_error();
        return false;
    }
    ctx_ = ctx;
    SSL_CTX_set_app_data(ctx, this);
    SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);  // RFC 7252 §9: DTLS 1.2
    const bool psk = !config_.psk_key.empty();
    // RFC 7252 §9.1.3.1: TLS_PSK_WITH_AES_128_CCM_8; §9.1.3.3:
    // TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8. GCM (and CBC for PSK) as fallback.
    const char* suites = psk ? "PSK-AES128-CCM8:PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256"
                             : "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-GCM-SHA256";
    if (SSL_CTX_set_cipher_list(ctx, suites) != 1) {
        error = openssl_error();
        return false;
    }
    if (!psk) {
        SSL_CTX_set1_groups_list(ctx, "P-256");  // secp256r1 (RFC 7252 §9.1.3.3)
        if (certs && (SSL_CTX_use_certificate_chain_file(ctx, config_.cert_file.c_str()) != 1 ||
                      SSL_CTX_use_PrivateKey_file(ctx, config_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
                      SSL_CTX_check_private_key(ctx) != 1)) {
            error = "certificate " + config_.cert_file + " / key " + config_.key_file + ": " + openssl_error();
            return false;
        }
        if (!config_.ca_file.empty() && SSL_CTX_load_verify_locations(ctx, config_.ca_file.c_str(), nullptr) != 1) {
            error = "CA file " + config_.ca_file + ": " + openssl_error();
            return false;
        }
        int mode = SSL_VERIFY_PEER;  // a client always verifies the server (§9.1.3.3)
        if (config_.server) {
            mode = (!config_.ca_file.empty() || !config_.pin.empty()) ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                                       : SSL_VERIFY_NONE;
        }
        SSL_CTX_set_verify(ctx, mode, verify_cb);
    }
    if (config_.server) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);  // CCM_8 first when offered
        if (psk) SSL_CTX_set_psk_server_callback(ctx, psk_server_cb);
        SSL_CTX_set_cookie_generate_cb(ctx, cookie_generate_cb);
        SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify_cb);
        cookie_secret_.resize(32);
        if (RAND_bytes(cookie_secret_.data(), static_cast<int>(cookie_secret_.size())) != 1) {
            error = "RAND_bytes failed";
            return false;
        }
    } else if (psk) {
        SSL_CTX_set_psk_client_callback(ctx, psk_client_cb);
    }
    return true;
}

std::unique_ptr<DtlsLayer::Session> DtlsLayer::new_session(coap::TimePoint now, const coap::Peer& peer) {
    auto s = std::make_unique<Session>();
    s->peer = peer;
    s->last_used = now;
    s->ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
    if (s->ssl == nullptr) return nullptr;
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = queue_bio_method() != nullptr ? BIO_new(queue_bio_method()) : nullptr;
    if (s->rbio == nullptr || s->wbio == nullptr) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        return nullptr;
    }
    BIO_set_mem_eof_return(s->rbio, -1);  // empty: "retry", not end of stream
    BIO_set_data(s->wbio, &s->out);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    SSL_set_app_data(s->ssl, s.get());
    // Neither BIO can tell the path MTU: the configured one (checked by init) is used.
    SSL_set_options(s->ssl, SSL_OP_NO_QUERY_MTU);
    DTLS_set_link_mtu(s->ssl, static_cast<long>(config_.mtu));
    if (config_.server) {
        SSL_set_options(s->ssl, SSL_OP_COOKIE_EXCHANGE);  // HelloVerifyRequest (RFC 6347 §4.2.1)
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (config_.psk_key.empty() && !config_.hostname.empty()) {
            // §9.1.3.3: the server's certificate must name the host the URI names.
            unsigned char ip[16];
            const char* h = config_.hostname.c_str();
            if (inet_pton(AF_INET, h, ip) == 1 || inet_pton(AF_INET6, h, ip) == 1) {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), h);  // an IP literal: iPAddress SAN
            } else {
                SSL_set1_host(s->ssl, h);
                SSL_set_tlsext_host_name(s->ssl, h);
            }
        }
    }
    return s;
}

DtlsLayer::Session* DtlsLayer::session(coap::TimePoint now, const coap::Peer& peer, bool create) {
    auto it = sessions_.find(peer);
    if (it != sessions_.end()) {
        it->second->last_used = now;
        return it->second.get();
    }
    if (!create || ctx_ == nullptr) return nullptr;
    if (sessions_.size() >= config_.max_sessions && !evict_oldest(/*established=*/true, nullptr)) {
        evict_oldest(/*established=*/false, nullptr);  // a client's peers: all mid-handshake
    }
    auto s = new_session(now, peer);
    if (s == nullptr) return nullptr;
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
    // proves it receives at its address. One listening SSL object answers every new
    // address with a HelloVerifyRequest (DTLSv1_listen keeps nothing between calls) and
    // drops whatever else such an address sends.
    if (listener_ == nullptr) {
        listener_ = new_session(now, peer);
        if (listener_ == nullptr) return;
    }
    if (listen_addr_ == nullptr) {
        listen_addr_ = BIO_ADDR_new();
        if (listen_addr_ == nullptr) return;
    }
    Session& l = *listener_;
    l.peer = peer;  // what the cookie callbacks bind the cookie to
    (void)BIO_reset(l.rbio);
    BIO_write(l.rbio, datagram.data(), static_cast<int>(datagram.size()));
    const int r = DTLSv1_listen(l.ssl, static_cast<BIO_ADDR*>(listen_addr_));
    const bool verify_request = !l.out.datagrams.empty();
    flush(l, send);  // the HelloVerifyRequest, if this was a ClientHello without a valid cookie
    if (r <= 0) {
        (void)BIO_reset(l.rbio);
        ERR_clear_error();
        ++(verify_request ? stats_.hello_verify_requests : stats_.dropped_before_cookie);
        return;
    }
    // A valid cookie: from here on this peer has a handshake of its own. The listening
    // object becomes its session, as DTLSv1_listen intends; a memory BIO cannot be peeked,
    // so the ClientHello it read is given again.
    ++stats_.cookies_verified;
    if (BIO_ctrl_pending(l.rbio) == 0) BIO_write(l.rbio, datagram.data(), static_cast<int>(datagram.size()));
    std::unique_ptr<Session> s = std::move(listener_);
    s->last_used = now;
    // Handshakes in progress have their own bound: a new one displaces the oldest
    // handshake, never an established session.
    if (count(false) >= config_.max_handshakes) evict_oldest(/*established=*/false, nullptr);
    Session* raw = s.get();
    sessions_[peer] = std::move(s);
    drive(*raw, send, &plain);
}

void DtlsLayer::flush(Session& s, const Send& send) {
    if (!s.out.overflowed) {
        for (const auto& d : s.out.datagrams) send(s.peer, d.data(), d.size());
    }
    s.out.datagrams.clear();
    s.out.bytes = 0;
    s.out.overflowed = false;
}

void DtlsLayer::fail(const coap::Peer& peer, const std::string& why) {
    last_error_ = "DTLS with " + peer.to_string() + ": " + why;
    sessions_.erase(peer);
}

void DtlsLayer::drive(Session& s, const Send& send, std::vector<std::vector<std::uint8_t>>* plain) {
    if (!s.established) {
        const int r = SSL_do_handshake(s.ssl);
        flush(s, send);
        if (r != 1) {
            const int e = SSL_get_error(s.ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                refused_ = s.peer;
                fail(s.peer, openssl_error());
            }
            return;
        }
        s.established = true;
        if (refused_ == s.peer) refused_.reset();
        // Only a completed handshake may displace an established session (the least
        // recently used one) when they are at their bound.
        if (config_.server && count(true) > config_.max_sessions) evict_oldest(/*established=*/true, &s);
    }
    while (!s.pending.empty()) {
        const auto& p = s.pending.front();
        if (SSL_write(s.ssl, p.data(), static_cast<int>(p.size())) <= 0) break;
        s.pending.pop_front();
        flush(s, send);  // one record per datagram
    }
    std::uint8_t buf[65536];
    while (true) {
        const int n = SSL_read(s.ssl, buf, sizeof buf);
        if (n <= 0) {
            const int e = SSL_get_error(s.ssl, n);
            flush(s, send);
            if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SSL) {
                const coap::Peer peer = s.peer;
                fail(peer, e == SSL_ERROR_ZERO_RETURN ? "closed by the peer" : openssl_error());
            }
            return;
        }
        if (plain != nullptr) plain->emplace_back(buf, buf + n);
    }
}

void DtlsLayer::receive(coap::TimePoint now, const coap::Peer& peer, coap::Bytes datagram, const Send& send,
                        std::vector<std::vector<std::uint8_t>>& plain) {
    // A client only talks to peers it started a session with; a server takes a new peer
    // only through the stateless cookie exchange.
    Session* s = session(now, peer, false);
    if (s == nullptr) {
        if (config_.server && ctx_ != nullptr) listen(now, peer, datagram, send, plain);
        return;
    }
    BIO_write(s->rbio, datagram.data(), static_cast<int>(datagram.size()));
    drive(*s, send, &plain);
}

void DtlsLayer::write(coap::TimePoint now, const coap::Peer& peer, coap::Bytes plaintext, const Send& send) {
    Session* s = session(now, peer, !config_.server);
    if (s == nullptr) return;  // a server does not open sessions
    if (s->pending.size() >= kMaxPending) s->pending.pop_front();  // bounded; CoAP retransmits
    s->pending.emplace_back(plaintext.begin(), plaintext.end());
    drive(*s, send, nullptr);
}

std::optional<coap::TimePoint> DtlsLayer::next_timeout(coap::TimePoint now) const {
    std::optional<coap::TimePoint> t;
    for (const auto& [peer, s] : sessions_) {
        timeval tv{};
        if (!s->established && DTLSv1_get_timeout(s->ssl, &tv) == 1) {
            const coap::TimePoint at =
                now + coap::Duration::seconds(tv.tv_sec) + coap::Duration::microseconds(tv.tv_usec);
            if (!t || at < *t) t = at;
        }
    }
    return t;
}

void DtlsLayer::handle_timeouts(coap::TimePoint, const Send& send) {
    // DTLSv1_handle_timeout retransmits a flight only when its timer has expired (1),
    // does nothing otherwise (0), and fails when the handshake gave up (-1).
    std::vector<coap::Peer> failed;
    for (const auto& [peer, s] : sessions_) {
        if (s->established) continue;
        const int r = DTLSv1_handle_timeout(s->ssl);
        if (r < 0) {
            failed.push_back(peer);
        } else if (r > 0) {
            flush(*s, send);
        }
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
    const char* name = SSL_get_cipher_name(it->second->ssl);
    return name != nullptr ? name : "";
}

}  // namespace coapbed::net
