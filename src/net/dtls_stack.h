// The interface between DtlsLayer (dtls.h: the session table, its bounds, the plaintext
// held during a handshake) and a DTLS library. Two implementations: OpenSSL
// (dtls_openssl.cc: PSK, certificates) and GnuTLS (dtls_gnutls.cc: PSK, certificates and
// RFC 7250 raw public keys). Internal to src/net.
//
// A StackSession is one peer's DTLS state. The layer feeds it ciphertext datagrams, asks
// it to advance the handshake, to write and read records and to run its retransmission
// timer; whatever the library writes toward the peer lands in `out`, one entry per
// datagram, which the layer sends after every call.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coap/common/bytes.h"
#include "coap/common/peer.h"
#include "coap/common/time.h"
#include "net/dtls.h"

namespace coapbed::net::detail {

/// The datagrams a library wrote for one peer since the last flush. Bounded: a flush
/// follows every library call, so this holds one flight at most; a flight beyond the
/// bound fails the write (and the handshake) and is dropped whole.
struct DatagramQueue {
    static constexpr std::size_t kMaxBytes = 64 * 1024;
    std::deque<std::vector<std::uint8_t>> datagrams;
    std::size_t bytes = 0;
    bool overflowed = false;
    /// Appends one datagram; false (and overflowed) past the bound.
    bool push(const std::uint8_t* data, std::size_t n) {
        if (overflowed || bytes + n > kMaxBytes) {
            overflowed = true;
            return false;
        }
        datagrams.emplace_back(data, data + n);
        bytes += n;
        return true;
    }
};

class StackSession {
public:
    enum class Progress : std::uint8_t { Pending, Done, Failed };
    enum class Read : std::uint8_t { Data, Nothing, Closed, Failed };

    virtual ~StackSession() = default;
    /// A ciphertext datagram from the peer.
    virtual void feed(coap::Bytes datagram) = 0;
    /// Advances the handshake; Failed with `error` set when it cannot complete (an alert,
    /// a key or certificate refused).
    virtual Progress handshake(std::string& error) = 0;
    /// One plaintext datagram as one record; false when the library cannot take it now.
    virtual bool write(coap::Bytes plaintext) = 0;
    /// One plaintext record into `buf` (`n` set for Data).
    virtual Read read(std::uint8_t* buf, std::size_t cap, std::size_t& n, std::string& error) = 0;
    /// Time until the handshake's retransmission timer fires (none when not running).
    [[nodiscard]] virtual std::optional<coap::Duration> timer(coap::TimePoint now) const = 0;
    /// Runs the retransmission timer if it expired; false when the handshake gave up.
    virtual bool on_timer(coap::TimePoint now) = 0;
    /// The negotiated cipher suite ("" before the handshake completed).
    [[nodiscard]] virtual std::string cipher() const = 0;
    /// What the peer authenticated with once established: "psk", "x509" or "rawpk".
    [[nodiscard]] virtual std::string peer_credential() const = 0;

    coap::Peer peer;
    DatagramQueue out;
};

class Stack {
public:
    virtual ~Stack() = default;
    /// Loads keys and credentials; false with `error` when the library refuses.
    virtual bool init(const DtlsConfig& config, std::string& error) = 0;
    /// Client: a new session that starts a handshake toward `peer`.
    virtual std::unique_ptr<StackSession> open(const coap::Peer& peer) = 0;
    /// Server: a datagram from a peer without a session (RFC 6347 §4.2.1). A ClientHello
    /// without a valid cookie is answered with a HelloVerifyRequest in `reply` and leaves
    /// no state; anything else but a ClientHello with a valid cookie is dropped. For that
    /// one, a session that has taken the ClientHello. Without DtlsConfig::verify_cookies
    /// (GnuTLS) any ClientHello gets such a session at once.
    virtual std::unique_ptr<StackSession> listen(const coap::Peer& peer, coap::Bytes datagram,
                                                 DatagramQueue& reply) = 0;
    /// The library's name ("openssl", "gnutls").
    [[nodiscard]] virtual const char* name() const = 0;
};

[[nodiscard]] std::unique_ptr<Stack> make_openssl_stack();
[[nodiscard]] std::unique_ptr<Stack> make_gnutls_stack();

/// What a server's cookie binds (RFC 6347 §4.2.1): the client's address family, address
/// and port, 19 bytes, for both stacks.
struct CookieInput {
    std::array<std::uint8_t, 1 + 16 + 2> bytes{};
    explicit CookieInput(const coap::Peer& peer) {
        bytes[0] = peer.family;
        std::copy(peer.address.begin(), peer.address.end(), bytes.begin() + 1);
        bytes[17] = static_cast<std::uint8_t>(peer.port >> 8);
        bytes[18] = static_cast<std::uint8_t>(peer.port);
    }
};

/// Every pin of `config` (pin and pins).
[[nodiscard]] std::vector<std::string> all_pins(const DtlsConfig& config);

}  // namespace coapbed::net::detail
