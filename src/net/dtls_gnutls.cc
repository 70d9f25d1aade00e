// The GnuTLS 3.7 DTLS stack (dtls_stack.h): PreSharedKey, RawPublicKey (RFC 7250) and
// certificate modes, on GnuTLS's transport callbacks (no sockets: the layer moves the
// datagrams). Keys are read with OpenSSL (any PEM form key_id.h reads) and handed to
// GnuTLS as PEM.
//
// Traps (DTLS-RPK.md): in RawPublicKey mode only raw-key credentials are loaded (libcoap's
// client lists X.509 first and would get it), and a peer without RFC 7250 makes GnuTLS
// fall back to X.509 silently, so the verify callback refuses anything that is not a raw
// key whose RFC 6920 name is pinned.
#include "net/dtls_stack.h"
#include "net/key_id.h"

#include <gnutls/abstract.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace coapbed::net::detail {

namespace {

// RFC 7252 §9.1.3.1: TLS_PSK_WITH_AES_128_CCM_8 (GCM and CBC as fallback, as the OpenSSL
// stack); §9.1.3.2/§9.1.3.3: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 on secp256r1 (GCM as
// fallback), with the certificate type of the mode only.
constexpr const char* kPskPriority =
    "NONE:+VERS-DTLS1.2:+PSK:+AES-128-CCM-8:+AES-128-GCM:+AES-128-CBC:+AEAD:+SHA256:+COMP-NULL:+SIGN-ALL:"
    "+GROUP-SECP256R1";
constexpr const char* kRpkPriority =
    "NONE:+VERS-DTLS1.2:+ECDHE-ECDSA:+AES-128-CCM-8:+AES-128-GCM:+AEAD:+COMP-NULL:+GROUP-SECP256R1:"
    "+SIGN-ECDSA-SHA256:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK";
constexpr const char* kX509Priority =
    "NONE:+VERS-DTLS1.2:+ECDHE-ECDSA:+AES-128-CCM-8:+AES-128-GCM:+AEAD:+COMP-NULL:+GROUP-SECP256R1:"
    "+SIGN-ECDSA-SHA256:+CTYPE-CLI-X509:+CTYPE-SRV-X509";

enum class Mode : std::uint8_t { Psk, Rpk, X509 };

bool is_client_hello(coap::Bytes d) {
    // DTLS record header (13 bytes): content type 22 (handshake); then handshake type 1.
    return d.size() > 13 && d[0] == 22 && d[13] == 1;
}

bool read_file(const std::string& path, std::string& data, std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        error = path + ": " + std::strerror(errno);
        return false;
    }
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
    std::fclose(f);
    return true;
}

/// Our raw key pair as PEM for GnuTLS: the SubjectPublicKeyInfo and a PKCS#8 private key,
/// from a file holding a private key (PKCS#8 or SEC1 "EC PRIVATE KEY"; a PUBLIC KEY block
/// before it, as libcoap's -M files have, is skipped). P-256 only (RFC 7252 §9.1.3.2).
bool load_raw_key(const std::string& file, const std::string& given, std::string& spki_pem, std::string& key_pem,
                  std::string& error) {
    std::string text = given;
    if (text.empty() && !read_file(file, text, error)) return false;
    BIO* in = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    EVP_PKEY* key = in != nullptr ? PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(in);
    if (key == nullptr) {
        error = file + ": no private key in PEM";
        return false;
    }
    char group[64] = {};
    std::size_t glen = 0;
    const bool p256 = EVP_PKEY_is_a(key, "EC") != 0 &&
                      EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &glen) == 1 &&
                      std::string(group) == "prime256v1";
    if (!p256) {
        EVP_PKEY_free(key);
        error = file + ": a raw public key must be P-256 (secp256r1, RFC 7252 §9.1.3.2)";
        return false;
    }
    auto to_pem = [&](bool pub) {
        BIO* out = BIO_new(BIO_s_mem());
        const int ok = pub ? PEM_write_bio_PUBKEY(out, key)
                           : PEM_write_bio_PKCS8PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
        char* data = nullptr;
        const long n = BIO_get_mem_data(out, &data);
        std::string pem = ok == 1 && n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
        BIO_free(out);
        return pem;
    };
    spki_pem = to_pem(true);
    key_pem = to_pem(false);
    EVP_PKEY_free(key);
    if (spki_pem.empty() || key_pem.empty()) {
        error = file + ": the key could not be converted";
        return false;
    }
    return true;
}

gnutls_datum_t datum(const std::string& s) {
    return gnutls_datum_t{reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())),
                          static_cast<unsigned int>(s.size())};
}

std::string gnutls_error(int code) { return gnutls_strerror(code); }

class GnuTlsStack;

class GnuTlsSession final : public StackSession {
public:
    ~GnuTlsSession() override {
        if (session != nullptr) gnutls_deinit(session);
    }
    void feed(coap::Bytes datagram) override {
        stall_until.reset();  // the peer spoke: GnuTLS's own timer first again
        if (done && !final_flight.empty() && !datagram.empty()) {
            // RFC 6347 §4.2.4: a server whose last flight was lost learns it from the
            // client's retransmitted last flight (handshake or ChangeCipherSpec records)
            // and sends its own again; GnuTLS 3.7 does not, in this non-blocking use. The
            // client's first application data shows that it has ours: forgotten then.
            bool ccs = false, data = false;
            for (std::size_t at = 0; at + 13 <= datagram.size();) {  // the records (13-byte headers)
                ccs = ccs || datagram[at] == 20;  // once per client flight: it has one ChangeCipherSpec
                data = data || datagram[at] == 23;
                at += 13 + (static_cast<std::size_t>(datagram[at + 11]) << 8 | datagram[at + 12]);
            }
            if (data) {
                final_flight.clear();
            } else if (ccs) {
                for (const auto& d : final_flight) out.push(d.data(), d.size());
            }
        }
        if (in.size() >= kMaxInput) in.pop_front();  // bounded: DTLS tolerates loss
        in.emplace_back(datagram.begin(), datagram.end());
    }
    Progress handshake(std::string& error) override {
        const int r = gnutls_handshake(session);
        if (r == 0) {
            done = true;
            // A server's last flight (ChangeCipherSpec, Finished) is what this call wrote.
            if (server) final_flight.assign(out.datagrams.begin(), out.datagrams.end());
            return Progress::Done;
        }
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED || gnutls_error_is_fatal(r) == 0) return Progress::Pending;
        // GnuTLS leaves the alert to the application: tell the peer why (a refused key is
        // bad_certificate), so that it gives up at once instead of timing out.
        if (r != GNUTLS_E_FATAL_ALERT_RECEIVED) (void)gnutls_alert_send_appropriate(session, r);
        error = why.empty() ? gnutls_error(r) : why + " (" + gnutls_error(r) + ")";
        if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
            const char* alert = gnutls_alert_get_name(gnutls_alert_get(session));
            error += std::string(": alert ") + (alert != nullptr ? alert : "?");
        }
        return Progress::Failed;
    }
    bool write(coap::Bytes plaintext) override {
        const ssize_t r = gnutls_record_send(session, plaintext.data(), plaintext.size());
        return r >= 0;
    }
    Read read(std::uint8_t* buf, std::size_t cap, std::size_t& n, std::string& error) override {
        while (true) {
            const ssize_t r = gnutls_record_recv(session, buf, cap);
            if (r > 0) {
                n = static_cast<std::size_t>(r);
                return Read::Data;
            }
            if (r == 0) return Read::Closed;
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) return Read::Nothing;
            if (gnutls_error_is_fatal(static_cast<int>(r)) != 0) {
                error = gnutls_error(static_cast<int>(r));
                return Read::Failed;
            }
            if (in.empty()) return Read::Nothing;  // a record dropped (RFC 6347 §4.1.2.7): go on with the next
        }
    }
    std::optional<coap::Duration> timer(coap::TimePoint now) const override {
        if (done) return std::nullopt;
        if (const unsigned int ms = gnutls_dtls_get_timeout(session); ms > 0 || !stall_until) {
            return coap::Duration::milliseconds(ms);
        }
        return *stall_until > now ? *stall_until - now : coap::Duration::zero();
    }
    bool on_timer(coap::TimePoint now) override {
        // Called again with nothing to read, the handshake retransmits its last flight
        // when its timer expired, and fails when the whole handshake timed out.
        if (done || gnutls_dtls_get_timeout(session) > 0 || (stall_until && now < *stall_until)) return true;
        const std::size_t before = out.datagrams.size();
        const int r = gnutls_handshake(session);
        if (r == 0) {
            done = true;
            return true;
        }
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(r) != 0) return false;
        if (out.datagrams.size() > before || gnutls_dtls_get_timeout(session) > 0) {
            stall_until.reset();  // it retransmitted: its own timer runs again
            stall_backoff = coap::Duration::seconds(1);
            return true;
        }
        // Its timer expired with no flight of its own to send again (it waits for the
        // peer's): look again with a back-off of our own, and give up after the total
        // handshake time as GnuTLS would.
        if (!stall_until) stalled_since = now;
        if (now - stalled_since >= coap::Duration::seconds(kTotalSeconds)) return false;
        stall_until = now + stall_backoff;
        stall_backoff = std::min(stall_backoff * 2.0, coap::Duration::seconds(16));
        return true;
    }
    std::string cipher() const override {
        const char* name = gnutls_ciphersuite_get(session);
        return name != nullptr ? name : "";
    }
    std::string peer_credential() const override {
        if (mode == Mode::Psk) return "psk";
        switch (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS)) {
            case GNUTLS_CRT_RAWPK: return "rawpk";
            case GNUTLS_CRT_X509: return "x509";
            default: return "";
        }
    }

    static constexpr std::size_t kMaxInput = 64;  // datagrams fed and not yet read by GnuTLS
    gnutls_session_t session = nullptr;
    const GnuTlsStack* stack = nullptr;
    Mode mode = Mode::Psk;
    std::deque<std::vector<std::uint8_t>> in;
    bool done = false;
    bool server = false;
    std::vector<std::vector<std::uint8_t>> final_flight;  ///< server: kept until the client's first record
    std::string why;  ///< what the verify callback refused
    static constexpr std::int64_t kTotalSeconds = 60;
    std::optional<coap::TimePoint> stall_until;  ///< our timer while GnuTLS has none to run
    coap::TimePoint stalled_since;
    coap::Duration stall_backoff = coap::Duration::seconds(1);
};

ssize_t push_datagram(gnutls_transport_ptr_t ptr, const void* data, size_t n) {
    auto* q = static_cast<DatagramQueue*>(ptr);
    if (!q->push(static_cast<const std::uint8_t*>(data), n)) {
        errno = ENOBUFS;
        return -1;
    }
    return static_cast<ssize_t>(n);
}

ssize_t pull_datagram(gnutls_transport_ptr_t ptr, void* buf, size_t n) {
    auto* s = static_cast<GnuTlsSession*>(ptr);
    if (s->in.empty()) {
        errno = EAGAIN;
        return -1;
    }
    const std::vector<std::uint8_t>& d = s->in.front();
    const std::size_t k = std::min(n, d.size());  // a datagram larger than the buffer is cut, as recv does
    if (k > 0) std::memcpy(buf, d.data(), k);
    s->in.pop_front();
    return static_cast<ssize_t>(k);
}

int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int) {
    return static_cast<GnuTlsSession*>(ptr)->in.empty() ? 0 : 1;  // never waits
}

class GnuTlsStack final : public Stack {
public:
    ~GnuTlsStack() override {
        if (certs_ != nullptr) gnutls_certificate_free_credentials(certs_);
        if (psk_client_ != nullptr) gnutls_psk_free_client_credentials(psk_client_);
        if (psk_server_ != nullptr) gnutls_psk_free_server_credentials(psk_server_);
        if (cookie_key_.data != nullptr) gnutls_free(cookie_key_.data);
    }
    bool init(const DtlsConfig& config, std::string& error) override;
    std::unique_ptr<StackSession> open(const coap::Peer& peer) override { return new_session(peer); }
    std::unique_ptr<StackSession> listen(const coap::Peer& peer, coap::Bytes datagram, DatagramQueue& reply) override;
    const char* name() const override { return "gnutls"; }

    int verify(GnuTlsSession& s) const;
    int psk_key(const char* identity, gnutls_datum_t* key) const;

private:
    std::unique_ptr<GnuTlsSession> new_session(const coap::Peer& peer);
    bool pinned(coap::Bytes spki, std::string& name) const;

    DtlsConfig config_;
    std::vector<std::string> pins_;
    Mode mode_ = Mode::Psk;
    gnutls_certificate_credentials_t certs_ = nullptr;
    gnutls_psk_client_credentials_t psk_client_ = nullptr;
    gnutls_psk_server_credentials_t psk_server_ = nullptr;
    gnutls_datum_t cookie_key_{nullptr, 0};
};

int verify_callback(gnutls_session_t session) {
    auto* s = static_cast<GnuTlsSession*>(gnutls_session_get_ptr(session));
    return s->stack->verify(*s);
}

int psk_callback(gnutls_session_t session, const char* identity, gnutls_datum_t* key) {
    auto* s = static_cast<GnuTlsSession*>(gnutls_session_get_ptr(session));
    return s->stack->psk_key(identity, key);
}

bool GnuTlsStack::pinned(coap::Bytes spki, std::string& name) const {
    const NiNames names = ni_names(spki);
    name = names.ni_sha256_120;
    return std::any_of(pins_.begin(), pins_.end(), [&](const std::string& p) { return matches(names, p); });
}

int GnuTlsStack::verify(GnuTlsSession& s) const {
    unsigned int n = 0;
    const gnutls_datum_t* list = gnutls_certificate_get_peers(s.session, &n);
    const gnutls_certificate_type_t type = gnutls_certificate_type_get2(s.session, GNUTLS_CTYPE_PEERS);
    const bool anyone = config_.server && pins_.empty() && config_.ca_file.empty();  // a server that does not check
    if (n == 0) {
        if (anyone) return 0;
        s.why = "the peer sent no key";
        return -1;
    }
    std::string name;
    if (mode_ == Mode::Rpk) {
        // RFC 7250: nothing but a raw key, and (RFC 7252 §9.1.3.2.1) one whose name is pinned.
        if (type != GNUTLS_CRT_RAWPK) {
            s.why = "the peer sent a certificate, not a raw public key (no RFC 7250)";
            return -1;
        }
        if (pinned(coap::Bytes(list[0].data, list[0].size), name) || anyone) return 0;
        s.why = "the peer's raw public key " + name + " is not pinned";
        return -1;
    }
    if (type != GNUTLS_CRT_X509) {
        s.why = "the peer sent no X.509 certificate";
        return -1;
    }
    if (!pins_.empty()) {
        // A pinned key is trusted by itself, self-signed or not (as the OpenSSL stack does).
        gnutls_x509_crt_t crt = nullptr;
        gnutls_pubkey_t pub = nullptr;
        gnutls_datum_t der{nullptr, 0};
        const bool ok = gnutls_x509_crt_init(&crt) == 0 && gnutls_x509_crt_import(crt, &list[0], GNUTLS_X509_FMT_DER) == 0 &&
                        gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_x509(pub, crt, 0) == 0 &&
                        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) == 0;
        const bool match = ok && pinned(coap::Bytes(der.data, der.size), name);
        gnutls_free(der.data);
        if (pub != nullptr) gnutls_pubkey_deinit(pub);
        if (crt != nullptr) gnutls_x509_crt_deinit(crt);
        if (match) return 0;
        s.why = "the peer's key " + name + " is not pinned";
        return -1;
    }
    // §9.1.3.3: the chain to a trusted CA, and (client) the host the URI names.
    unsigned int status = 0;
    const char* host = !config_.server && !config_.hostname.empty() ? config_.hostname.c_str() : nullptr;
    const int r = gnutls_certificate_verify_peers3(s.session, host, &status);
    if (r == 0 && status == 0) return 0;
    gnutls_datum_t text{nullptr, 0};
    if (r == 0 && gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
        s.why = std::string(reinterpret_cast<const char*>(text.data), text.size);
        gnutls_free(text.data);
    } else {
        s.why = "certificate verification failed";
    }
    return -1;
}

int GnuTlsStack::psk_key(const char* identity, gnutls_datum_t* key) const {
    if (identity == nullptr || config_.psk_identity != identity) return -1;
    key->data = static_cast<unsigned char*>(gnutls_malloc(config_.psk_key.size()));
    if (key->data == nullptr) return -1;
    std::memcpy(key->data, config_.psk_key.data(), config_.psk_key.size());
    key->size = static_cast<unsigned int>(config_.psk_key.size());
    return 0;
}

bool GnuTlsStack::init(const DtlsConfig& config, std::string& error) {
    config_ = config;
    pins_ = all_pins(config);
    const bool certs = !config.cert_file.empty() || !config.cert_pem.empty();
    mode_ = !config.psk_key.empty()                                       ? Mode::Psk
            : !config.rpk_file.empty() || (!config.key_pem.empty() && !certs) ? Mode::Rpk
                                                                            : Mode::X509;
    if (mode_ == Mode::X509 && !certs && (config.server || (config.ca_file.empty() && pins_.empty()))) {
        error = "DTLS needs a pre-shared key (--psk-key), a raw public key (--rpk) or certificates (--cert/--key, --ca or --pin)";
        return false;
    }
    int r = 0;
    if (mode_ == Mode::Psk) {
        const gnutls_datum_t key = datum(config.psk_key);
        if (config.server) {
            r = gnutls_psk_allocate_server_credentials(&psk_server_);
            if (r == 0) gnutls_psk_set_server_credentials_function(psk_server_, psk_callback);
        } else {
            r = gnutls_psk_allocate_client_credentials(&psk_client_);
            if (r == 0) {
                r = gnutls_psk_set_client_credentials(psk_client_, config.psk_identity.c_str(), &key, GNUTLS_PSK_KEY_RAW);
            }
        }
    } else {
        r = gnutls_certificate_allocate_credentials(&certs_);
        if (r == 0 && mode_ == Mode::Rpk) {
            std::string spki, key;
            if (!load_raw_key(config.rpk_file, config.key_pem, spki, key, error)) return false;
            const gnutls_datum_t s = datum(spki), k = datum(key);
            r = gnutls_certificate_set_rawpk_key_mem(certs_, &s, &k, GNUTLS_X509_FMT_PEM, nullptr, 0, nullptr, 0, 0);
            if (r < 0) error = config.rpk_file + ": " + gnutls_error(r);
        }
        if (r == 0 && mode_ == Mode::X509 && !config.cert_pem.empty()) {
            const gnutls_datum_t c = datum(config.cert_pem), k = datum(config.key_pem);
            r = gnutls_certificate_set_x509_key_mem(certs_, &c, &k, GNUTLS_X509_FMT_PEM);
            if (r < 0) error = std::string("certificate (PEM text): ") + gnutls_error(r);
        } else if (r == 0 && mode_ == Mode::X509 && !config.cert_file.empty()) {
            r = gnutls_certificate_set_x509_key_file(certs_, config.cert_file.c_str(), config.key_file.c_str(),
                                                     GNUTLS_X509_FMT_PEM);
            if (r < 0) error = "certificate " + config.cert_file + " / key " + config.key_file + ": " + gnutls_error(r);
        }
        if (r >= 0 && mode_ == Mode::X509 && !config.ca_file.empty()) {
            r = gnutls_certificate_set_x509_trust_file(certs_, config.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
            if (r < 0) error = "CA file " + config.ca_file + ": " + gnutls_error(r);
        }
        if (r >= 0) {
            gnutls_certificate_set_verify_function(certs_, verify_callback);
            r = 0;
        }
    }
    if (r == 0 && config.server && config.verify_cookies) r = gnutls_key_generate(&cookie_key_, GNUTLS_COOKIE_KEY_SIZE);
    if (r < 0) {
        if (error.empty()) error = gnutls_error(r);
        return false;
    }
    return true;
}

std::unique_ptr<GnuTlsSession> GnuTlsStack::new_session(const coap::Peer& peer) {
    auto s = std::make_unique<GnuTlsSession>();
    s->peer = peer;
    s->stack = this;
    s->mode = mode_;
    s->server = config_.server;
    const unsigned int flags = (config_.server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK |
                               (mode_ == Mode::Rpk ? GNUTLS_ENABLE_RAWPK : 0);
    if (gnutls_init(&s->session, flags) != 0) return nullptr;
    const char* priority = mode_ == Mode::Psk ? kPskPriority : mode_ == Mode::Rpk ? kRpkPriority : kX509Priority;
    std::string prio = priority;
    if (config_.server) prio += ":%SERVER_PRECEDENCE";  // CCM_8 first when offered
    int r = gnutls_priority_set_direct(s->session, prio.c_str(), nullptr);
    if (r == 0 && mode_ == Mode::Psk) {
        r = config_.server ? gnutls_credentials_set(s->session, GNUTLS_CRD_PSK, psk_server_)
                           : gnutls_credentials_set(s->session, GNUTLS_CRD_PSK, psk_client_);
    } else if (r == 0) {
        r = gnutls_credentials_set(s->session, GNUTLS_CRD_CERTIFICATE, certs_);
        if (r == 0 && config_.server) {
            // Mutual authentication when the server checks clients (pins or a CA); a raw-key
            // server without pins still asks for the client's key, to log its name.
            const bool checks = !pins_.empty() || !config_.ca_file.empty();
            gnutls_certificate_server_set_request(
                s->session, checks ? GNUTLS_CERT_REQUIRE : mode_ == Mode::Rpk ? GNUTLS_CERT_REQUEST : GNUTLS_CERT_IGNORE);
        }
        if (r == 0 && !config_.server && mode_ == Mode::X509 && !config_.hostname.empty()) {
            (void)gnutls_server_name_set(s->session, GNUTLS_NAME_DNS, config_.hostname.data(), config_.hostname.size());
        }
    }
    if (r != 0) return nullptr;
    gnutls_session_set_ptr(s->session, s.get());
    gnutls_transport_set_ptr2(s->session, s.get(), &s->out);
    gnutls_transport_set_push_function(s->session, push_datagram);
    gnutls_transport_set_pull_function(s->session, pull_datagram);
    gnutls_transport_set_pull_timeout_function(s->session, pull_timeout);
    gnutls_dtls_set_mtu(s->session, static_cast<unsigned int>(config_.mtu));
    // 1 s first retransmission, as OpenSSL; 60 s in all.
    gnutls_dtls_set_timeouts(s->session, 1000, GnuTlsSession::kTotalSeconds * 1000);
    return s;
}

std::unique_ptr<StackSession> GnuTlsStack::listen(const coap::Peer& peer, coap::Bytes datagram, DatagramQueue& reply) {
    CookieInput client(peer);  // what the cookie binds (RFC 6347 §4.2.1)
    if (!config_.verify_cookies) {
        // No HelloVerifyRequest: a ClientHello starts a handshake at once.
        if (!is_client_hello(datagram)) return nullptr;
        auto s = new_session(peer);
        if (s != nullptr) s->feed(datagram);
        return s;
    }
    gnutls_dtls_prestate_st prestate{};
    const int r = gnutls_dtls_cookie_verify(&cookie_key_, client.bytes.data(), client.bytes.size(), const_cast<std::uint8_t*>(datagram.data()),
                                            datagram.size(), &prestate);
    if (r < 0) {
        if (is_client_hello(datagram)) {
            (void)gnutls_dtls_cookie_send(&cookie_key_, client.bytes.data(), client.bytes.size(), &prestate, &reply, push_datagram);
        }
        return nullptr;
    }
    auto s = new_session(peer);
    if (s == nullptr) return nullptr;
    gnutls_dtls_prestate_set(s->session, &prestate);
    s->feed(datagram);
    return s;
}

}  // namespace

std::unique_ptr<Stack> make_gnutls_stack() { return std::make_unique<GnuTlsStack>(); }

}  // namespace coapbed::net::detail
