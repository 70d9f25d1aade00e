// The OpenSSL 3.0 DTLS stack (dtls_stack.h) on memory BIOs: PreSharedKey and certificate
// modes. OpenSSL 3.0 has no RFC 7250 raw public keys (see dtls_gnutls.cc).
#include "net/dtls_stack.h"
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

namespace coapbed::net::detail {

namespace {

// OpenSSL hands each datagram to its BIO with one write, as it would to a UDP socket: a
// record, or during a handshake the records of a flight it packed up to the MTU (RFC 6347
// §4.1.1, §4.1.1.1). A memory BIO would run them together into one stream, sent as one
// datagram of any size: this write-only BIO keeps them apart in a DatagramQueue.
int queue_write(BIO* b, const char* data, int len) {
    auto* q = static_cast<DatagramQueue*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (len < 0 || !q->push(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(len))) return -1;
    return len;
}

long queue_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int queue_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

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
    const CookieInput input(peer);
    unsigned int n = 0;
    std::uint8_t mac[EVP_MAX_MD_SIZE];
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), input.bytes.data(), input.bytes.size(), mac,
             &n) == nullptr) {
        return false;
    }
    *len = std::min<unsigned int>(n, 16);
    std::memcpy(out, mac, *len);
    return true;
}

class OpenSslStack;

class OpenSslSession final : public StackSession {
public:
    ~OpenSslSession() override {
        if (ssl != nullptr) SSL_free(ssl);
    }
    void feed(coap::Bytes datagram) override { BIO_write(rbio, datagram.data(), static_cast<int>(datagram.size())); }
    Progress handshake(std::string& error) override {
        const int r = SSL_do_handshake(ssl);
        if (r == 1) return Progress::Done;
        const int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Progress::Pending;
        error = openssl_error();
        return Progress::Failed;
    }
    bool write(coap::Bytes plaintext) override {
        return SSL_write(ssl, plaintext.data(), static_cast<int>(plaintext.size())) > 0;
    }
    Read read(std::uint8_t* buf, std::size_t cap, std::size_t& n, std::string& error) override {
        const int r = SSL_read(ssl, buf, static_cast<int>(cap));
        if (r > 0) {
            n = static_cast<std::size_t>(r);
            return Read::Data;
        }
        const int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) return Read::Closed;
        if (e == SSL_ERROR_SSL) {
            error = openssl_error();
            return Read::Failed;
        }
        return Read::Nothing;
    }
    std::optional<coap::Duration> timer(coap::TimePoint) const override {
        timeval tv{};
        if (DTLSv1_get_timeout(ssl, &tv) != 1) return std::nullopt;
        return coap::Duration::seconds(tv.tv_sec) + coap::Duration::microseconds(tv.tv_usec);
    }
    // DTLSv1_handle_timeout retransmits a flight only when its timer has expired (1),
    // does nothing otherwise (0), and fails when the handshake gave up (-1).
    bool on_timer(coap::TimePoint) override { return DTLSv1_handle_timeout(ssl) >= 0; }
    std::string cipher() const override {
        const char* name = SSL_get_cipher_name(ssl);
        return name != nullptr ? name : "";
    }
    std::string peer_credential() const override {
        if (psk) return "psk";
        return SSL_get0_peer_certificate(ssl) != nullptr ? "x509" : "";
    }

    SSL* ssl = nullptr;
    BIO* rbio = nullptr;  ///< ciphertext from the network (owned by ssl)
    BIO* wbio = nullptr;  ///< ciphertext for the network, datagram by datagram into `out` (owned by ssl)
    bool psk = false;
};

class OpenSslStack final : public Stack {
public:
    ~OpenSslStack() override {
        listener_.reset();
        BIO_ADDR_free(listen_addr_);
        if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    }
    bool init(const DtlsConfig& config, std::string& error) override;
    std::unique_ptr<StackSession> open(const coap::Peer& peer) override { return new_session(peer); }
    std::unique_ptr<StackSession> listen(const coap::Peer& peer, coap::Bytes datagram, DatagramQueue& reply) override;
    const char* name() const override { return "openssl"; }

    static OpenSslStack* of(SSL* ssl) { return static_cast<OpenSslStack*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl))); }
    static const coap::Peer& peer_of(SSL* ssl) { return static_cast<OpenSslSession*>(SSL_get_app_data(ssl))->peer; }

    DtlsConfig config;
    std::vector<std::string> pins;
    std::vector<std::uint8_t> cookie_secret;

private:
    std::unique_ptr<OpenSslSession> new_session(const coap::Peer& peer);
    SSL_CTX* ctx_ = nullptr;
    std::unique_ptr<OpenSslSession> listener_;  ///< server: answers peers without a session, statelessly
    BIO_ADDR* listen_addr_ = nullptr;           ///< for DTLSv1_listen
};

unsigned int psk_client_cb(SSL* ssl, const char*, char* identity, unsigned int max_identity_len, unsigned char* psk,
                           unsigned int max_psk_len) {
    const DtlsConfig& c = OpenSslStack::of(ssl)->config;
    if (c.psk_identity.size() + 1 > max_identity_len || c.psk_key.size() > max_psk_len) return 0;
    std::memcpy(identity, c.psk_identity.c_str(), c.psk_identity.size() + 1);
    std::memcpy(psk, c.psk_key.data(), c.psk_key.size());
    return static_cast<unsigned int>(c.psk_key.size());
}

unsigned int psk_server_cb(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_psk_len) {
    const DtlsConfig& c = OpenSslStack::of(ssl)->config;
    if (identity == nullptr || c.psk_identity != identity || c.psk_key.size() > max_psk_len) return 0;
    std::memcpy(psk, c.psk_key.data(), c.psk_key.size());
    return static_cast<unsigned int>(c.psk_key.size());
}

// Chain verification as OpenSSL does it, except that a pinned key (RFC 6920 name) is
// trusted by itself: the pin identifies the peer's key, as RFC 7250 would.
int verify_cb(int preverify_ok, X509_STORE_CTX* store) {
    SSL* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    const std::vector<std::string>& pins = OpenSslStack::of(ssl)->pins;
    if (pins.empty()) return preverify_ok;
    if (X509_STORE_CTX_get_error_depth(store) > 0) return 1;  // the chain does not matter
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    const auto names = cert != nullptr ? key_names(X509_get0_pubkey(cert)) : std::nullopt;
    return names && std::any_of(pins.begin(), pins.end(), [&](const std::string& p) { return matches(*names, p); }) ? 1 : 0;
}

int cookie_generate_cb(SSL* ssl, unsigned char* cookie, unsigned int* cookie_len) {
    return make_cookie(OpenSslStack::of(ssl)->cookie_secret, OpenSslStack::peer_of(ssl), cookie, cookie_len) ? 1 : 0;
}

int cookie_verify_cb(SSL* ssl, const unsigned char* cookie, unsigned int cookie_len) {
    std::uint8_t want[32];
    unsigned int n = 0;
    if (!make_cookie(OpenSslStack::of(ssl)->cookie_secret, OpenSslStack::peer_of(ssl), want, &n)) return 0;
    return (cookie_len == n && CRYPTO_memcmp(cookie, want, n) == 0) ? 1 : 0;
}

bool OpenSslStack::init(const DtlsConfig& c, std::string& error) {
    config = c;
    pins = all_pins(c);
    const bool certs = !config.cert_file.empty();
    // A client may check the server's certificate without presenting one of its own.
    const bool client_checks = !config.server && (!config.ca_file.empty() || !pins.empty());
    if (config.psk_key.empty() && !certs && !client_checks) {
        error = "DTLS needs a pre-shared key (--psk-key) or certificates (--cert/--key, --ca or --pin)";
        return false;
    }
    ctx_ = SSL_CTX_new(config.server ? DTLS_server_method() : DTLS_client_method());
    if (ctx_ == nullptr) {
        error = openssl_error();
        return false;
    }
    SSL_CTX_set_app_data(ctx_, this);
    SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);  // RFC 7252 §9: DTLS 1.2
    const bool psk = !config.psk_key.empty();
    // RFC 7252 §9.1.3.1: TLS_PSK_WITH_AES_128_CCM_8; §9.1.3.3:
    // TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8. GCM (and CBC for PSK) as fallback.
    const char* suites = psk ? "PSK-AES128-CCM8:PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256"
                             : "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-GCM-SHA256";
    if (SSL_CTX_set_cipher_list(ctx_, suites) != 1) {
        error = openssl_error();
        return false;
    }
    if (!psk) {
        SSL_CTX_set1_groups_list(ctx_, "P-256");  // secp256r1 (RFC 7252 §9.1.3.3)
        if (certs && (SSL_CTX_use_certificate_chain_file(ctx_, config.cert_file.c_str()) != 1 ||
                      SSL_CTX_use_PrivateKey_file(ctx_, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
                      SSL_CTX_check_private_key(ctx_) != 1)) {
            error = "certificate " + config.cert_file + " / key " + config.key_file + ": " + openssl_error();
            return false;
        }
        if (!config.ca_file.empty() && SSL_CTX_load_verify_locations(ctx_, config.ca_file.c_str(), nullptr) != 1) {
            error = "CA file " + config.ca_file + ": " + openssl_error();
            return false;
        }
        int mode = SSL_VERIFY_PEER;  // a client always verifies the server (§9.1.3.3)
        if (config.server) {
            mode = (!config.ca_file.empty() || !pins.empty()) ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                              : SSL_VERIFY_NONE;
        }
        SSL_CTX_set_verify(ctx_, mode, verify_cb);
    }
    if (config.server) {
        SSL_CTX_set_options(ctx_, SSL_OP_CIPHER_SERVER_PREFERENCE);  // CCM_8 first when offered
        if (psk) SSL_CTX_set_psk_server_callback(ctx_, psk_server_cb);
        SSL_CTX_set_cookie_generate_cb(ctx_, cookie_generate_cb);
        SSL_CTX_set_cookie_verify_cb(ctx_, cookie_verify_cb);
        cookie_secret.resize(32);
        if (RAND_bytes(cookie_secret.data(), static_cast<int>(cookie_secret.size())) != 1) {
            error = "RAND_bytes failed";
            return false;
        }
    } else if (psk) {
        SSL_CTX_set_psk_client_callback(ctx_, psk_client_cb);
    }
    return true;
}

std::unique_ptr<OpenSslSession> OpenSslStack::new_session(const coap::Peer& peer) {
    auto s = std::make_unique<OpenSslSession>();
    s->peer = peer;
    s->psk = !config.psk_key.empty();
    s->ssl = SSL_new(ctx_);
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
    // Neither BIO can tell the path MTU: the configured one (checked by the layer) is used.
    SSL_set_options(s->ssl, SSL_OP_NO_QUERY_MTU);
    DTLS_set_link_mtu(s->ssl, static_cast<long>(config.mtu));
    if (config.server) {
        SSL_set_options(s->ssl, SSL_OP_COOKIE_EXCHANGE);  // HelloVerifyRequest (RFC 6347 §4.2.1)
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (config.psk_key.empty() && !config.hostname.empty()) {
            // §9.1.3.3: the server's certificate must name the host the URI names.
            unsigned char ip[16];
            const char* h = config.hostname.c_str();
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

std::unique_ptr<StackSession> OpenSslStack::listen(const coap::Peer& peer, coap::Bytes datagram, DatagramQueue& reply) {
    // One listening SSL object answers every new address with a HelloVerifyRequest
    // (DTLSv1_listen keeps nothing between calls) and drops whatever else such an
    // address sends.
    if (listener_ == nullptr) {
        listener_ = new_session(peer);
        if (listener_ == nullptr) return nullptr;
    }
    if (listen_addr_ == nullptr) {
        listen_addr_ = BIO_ADDR_new();
        if (listen_addr_ == nullptr) return nullptr;
    }
    OpenSslSession& l = *listener_;
    l.peer = peer;  // what the cookie callbacks bind the cookie to
    (void)BIO_reset(l.rbio);
    BIO_write(l.rbio, datagram.data(), static_cast<int>(datagram.size()));
    const int r = DTLSv1_listen(l.ssl, listen_addr_);
    std::swap(reply, l.out);  // the HelloVerifyRequest, if this was a ClientHello without a valid cookie
    l.out = DatagramQueue{};
    if (r <= 0) {
        (void)BIO_reset(l.rbio);
        ERR_clear_error();
        return nullptr;
    }
    // A valid cookie: the listening object becomes this peer's session, as DTLSv1_listen
    // intends; a memory BIO cannot be peeked, so the ClientHello it read is given again.
    if (BIO_ctrl_pending(l.rbio) == 0) BIO_write(l.rbio, datagram.data(), static_cast<int>(datagram.size()));
    return std::move(listener_);
}

}  // namespace

std::unique_ptr<Stack> make_openssl_stack() { return std::make_unique<OpenSslStack>(); }

}  // namespace coapbed::net::detail
