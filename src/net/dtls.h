// DTLS 1.2 (RFC 7252 §9) without sockets: the engine stays sans-I/O and sees plaintext
// CoAP datagrams; this layer turns them into DTLS records per peer and back. The UDP
// runtime moves the ciphertext datagrams and arms the layer's handshake timer.
//
// Two libraries behind one interface (dtls_stack.h), chosen by DtlsConfig::stack:
// OpenSSL 3.0 on memory BIOs (PSK, certificates) and GnuTLS 3.7 with its transport
// callbacks (PSK, certificates, raw public keys). This class holds what both share: the
// sessions per peer and their bounds, the plaintext held during a handshake, the errors.
//
// PreSharedKey mode (RFC 7252 §9.1.3.1): TLS_PSK_WITH_AES_128_CCM_8, with the PSK
// AES-128-GCM and CBC suites as fallback. RawPublicKey mode (§9.1.3.2, RFC 7250, GnuTLS
// only: OpenSSL 3.0 has no RFC 7250): TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 on P-256, the
// peer's key checked against pinned RFC 6920 names (key_id.h); a peer that sends anything
// but a raw key is refused. Certificate mode (§9.1.3.3): the same suite (GCM as
// fallback), chain and host-name verification, or a pinned peer key. The server answers a
// ClientHello with a HelloVerifyRequest cookie (RFC 6347 §4.2.1) bound to the address,
// statelessly: a peer gets a session only once its ClientHello returns a valid cookie, and
// only a completed handshake can displace an established session.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coap/common/bytes.h"
#include "coap/common/peer.h"
#include "coap/common/time.h"

namespace coapbed::net {

namespace detail {
class Stack;
struct DatagramQueue;
}  // namespace detail

/// Which library runs DTLS. Auto: OpenSSL for PSK and certificates, GnuTLS for raw public keys.
enum class DtlsStack : std::uint8_t { Auto, OpenSsl, GnuTls };
/// "openssl" / "gnutls" (Auto: empty).
[[nodiscard]] std::optional<DtlsStack> parse_dtls_stack(const std::string& name);

struct DtlsConfig {
    bool server = false;
    DtlsStack stack = DtlsStack::Auto;
    // PreSharedKey mode (when psk_key is set)
    std::string psk_identity;        ///< the client's identity; a server accepts only this one
    std::string psk_key;             ///< the key, as text (libcoap's -k)
    // Certificate mode (when cert_file is set; RFC 7252 §9.1.3.3)
    std::string cert_file;           ///< our certificate (chain), PEM
    std::string key_file;            ///< its private key, PEM
    std::string ca_file;             ///< trusted CAs, PEM; a server then asks clients for certificates
    std::string hostname;            ///< client: the name the server's certificate must carry
    std::string pin;                 ///< the peer's key as an RFC 6920 name: trusted even if self-signed
    std::vector<std::string> pins;   ///< more such names (any one matches)
    // RawPublicKey mode (when rpk_file is set; RFC 7252 §9.1.3.2, RFC 7250; GnuTLS)
    std::string rpk_file;            ///< our P-256 key pair, PEM (a private key; a PUBLIC KEY block may precede it)
    /// GnuTLS: the key (RawPublicKey mode, or with cert_pem) and certificate as PEM text
    /// instead of files (the simulator's provisioned keys).
    std::string key_pem, cert_pem;
    /// Server: answer a ClientHello with a HelloVerifyRequest first (RFC 6347 §4.2.1).
    /// false (GnuTLS only): a ClientHello starts a handshake at once, one flight less,
    /// and state for anyone who sends one.
    bool verify_cookies = true;
    /// Server: established sessions. When a handshake completes beyond it, the least
    /// recently used established session is dropped; nothing else displaces one.
    std::size_t max_sessions = 64;
    /// Server: handshakes in progress (only peers whose ClientHello carried a valid cookie
    /// have one); a new one displaces the oldest.
    std::size_t max_handshakes = 16;
    std::size_t mtu = 1280;          ///< largest datagram DTLS writes (UDP payload); at least kMinMtu
};

/// What a server's DTLS layer did with peers it had no session for, and what its bounds
/// displaced.
struct DtlsStats {
    std::uint64_t hello_verify_requests = 0;  ///< ClientHellos without a valid cookie, answered statelessly
    std::uint64_t dropped_before_cookie = 0;  ///< other datagrams from peers without a session
    std::uint64_t cookies_verified = 0;       ///< ClientHellos with a valid cookie: a handshake began
    std::uint64_t handshakes_evicted = 0;     ///< handshakes in progress displaced by a newer one
    std::uint64_t sessions_evicted = 0;       ///< established sessions displaced by a completed handshake
    // Handshakes of this side (a client's own, or those a server took on), and the bytes
    // DTLS adds, in datagrams this side sent:
    std::uint64_t handshakes_started = 0;
    std::uint64_t handshakes_completed = 0;
    std::uint64_t handshakes_failed = 0;      ///< refused, timed out, or displaced before completing
    std::uint64_t handshake_bytes = 0;        ///< datagrams sent while not established (HelloVerifyRequests too)
    std::uint64_t record_overhead_bytes = 0;  ///< record bytes beyond the plaintext, once established
    std::uint64_t plaintext_dropped = 0;      ///< datagrams DTLS would not take (larger than a record may be)
    std::vector<double> handshake_seconds;    ///< client: from the first write to established (at most 10,000 kept)
};

class DtlsLayer {
public:
    /// The smallest DtlsConfig::mtu: OpenSSL's minimum link MTU for DTLS.
    static constexpr std::size_t kMinMtu = 256;

    DtlsLayer();
    ~DtlsLayer();
    DtlsLayer(const DtlsLayer&) = delete;
    DtlsLayer& operator=(const DtlsLayer&) = delete;

    /// Chooses the library and loads the keys. False with `error` set when the mode is
    /// incomplete, the library cannot do it, or it refuses a key.
    bool init(const DtlsConfig& config, std::string& error);

    using Send = std::function<void(const coap::Peer&, const std::uint8_t*, std::size_t)>;
    /// A ciphertext datagram from `peer`: handshake progress (replies go out through
    /// `send`) and the plaintext CoAP datagrams it carried, appended to `plain`.
    void receive(coap::TimePoint now, const coap::Peer& peer, coap::Bytes datagram, const Send& send,
                 std::vector<std::vector<std::uint8_t>>& plain);
    /// A plaintext CoAP datagram for `peer`: sent at once on an established session; a
    /// client starts the handshake and queues it until the session is up.
    void write(coap::TimePoint now, const coap::Peer& peer, coap::Bytes plaintext, const Send& send);
    /// The earliest DTLS retransmission timer, if any handshake is in progress.
    [[nodiscard]] std::optional<coap::TimePoint> next_timeout(coap::TimePoint now) const;
    /// Runs DTLS handshake retransmissions that are due.
    void handle_timeouts(coap::TimePoint now, const Send& send);

    [[nodiscard]] bool established(const coap::Peer& peer) const;
    /// Why the last handshake failed ("" if none did).
    [[nodiscard]] const std::string& last_error() const { return last_error_; }
    /// Whether the last handshake that failed, with `peer`, ended in a fatal error (an
    /// alert from the peer such as an unknown PSK identity, a certificate that does not
    /// verify) rather than a timeout, with no session established since. A client can
    /// give up at once: a new handshake would fail the same way. A wrong PSK key is not
    /// refused: the peer drops what it cannot decrypt (RFC 6347 §4.1.2.7).
    [[nodiscard]] bool refused_by(const coap::Peer& peer) const { return refused_ == peer; }
    /// Sessions held: established ones and handshakes in progress.
    [[nodiscard]] std::size_t session_count() const { return sessions_.size(); }
    [[nodiscard]] const DtlsStats& stats() const { return stats_; }
    /// The negotiated cipher suite toward `peer` ("" if none).
    [[nodiscard]] std::string cipher(const coap::Peer& peer) const;
    /// What `peer` authenticated with: "psk", "x509" or "rawpk" ("" if not established).
    [[nodiscard]] std::string peer_credential(const coap::Peer& peer) const;
    /// The library in use ("openssl", "gnutls"; "" before init).
    [[nodiscard]] const char* stack_name() const;

private:
    struct Session;
    Session* session(coap::TimePoint now, const coap::Peer& peer, bool create);
    void listen(coap::TimePoint now, const coap::Peer& peer, coap::Bytes datagram, const Send& send,
                std::vector<std::vector<std::uint8_t>>& plain);
    bool evict_oldest(bool established, const Session* keep);
    [[nodiscard]] std::size_t count(bool established) const;
    /// Sends what a library wrote for `peer` (counted as handshake bytes if `handshake`), and empties it.
    void send_datagrams(const coap::Peer& peer, detail::DatagramQueue& out, bool handshake, const Send& send);
    void flush(Session& s, const Send& send);
    void drive(coap::TimePoint now, Session& s, const Send& send, std::vector<std::vector<std::uint8_t>>* plain);
    void fail(const coap::Peer& peer, const std::string& why);

    DtlsConfig config_;
    std::unique_ptr<detail::Stack> stack_;
    std::map<coap::Peer, std::unique_ptr<Session>> sessions_;
    DtlsStats stats_;
    std::string last_error_;
    std::optional<coap::Peer> refused_;  ///< whose handshake last failed fatally
};

}  // namespace coapbed::net
