// The proxy's local ports toward the origins: one fixed port, or a port of its own for
// every upstream exchange (PROXY.md §3.1: an off-path attacker who forges a response must
// then guess the port as well as the token; RFC 6056 §3 for the port, RFC 7252 §5.3.1 and
// §11.4 for the token).
//
// Per exchange, each upstream exchange gets a random free port of [first, first + count)
// when the proxy starts it (`open`), and keeps it until it ends (`close`: the driver then
// closes that socket, `poll_closed`). A datagram from upstream reaches the upstream
// endpoint only where the exchange it belongs to would accept it (`admit`):
// - an ACK or RST: on the port the CON with that Message ID to that origin left from;
// - a response (CON or NON with a code): on the port of the exchange with that token and
//   origin (a notification too: an observation keeps its port);
// - anything else (a request, a ping, bytes that are no CoAP): on any open port, so that
//   the endpoint answers or counts it as it would on a fixed port;
// - nothing on a port that is not open (the kernel would have no socket for it).
// What the upstream endpoint sends leaves from its exchange's port (`outgoing`): a request
// by its token, an ACK or RST from the port the message it answers arrived on (also when
// that message ended the exchange: the driver sends before it closes ports). A port closes
// with its exchange: a duplicate of the origin's last CON then finds no socket, as with
// any implementation that closes a per-request socket when the response is in.
//
// With one fixed port every datagram is admitted and everything leaves from it, as before.
//
// Exchanges toward one origin with the same token (short tokens: with none at all, every
// exchange) cannot be told apart by their responses: they share one port, open while any
// of them is.
//
// Bounds: `max_ports` ports at once (the proxy answers 5.03 when `full()`), 8 Message IDs
// remembered per port, the last 256 arrivals remembered for their ACK/RST, `max_ports`
// closed ports awaiting the driver.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "coap/common/bytes.h"
#include "coap/common/random.h"
#include "coap/common/token.h"
#include "coap/endpoint/types.h"

namespace coap::proxy {

struct UpstreamPortConfig {
    bool per_exchange = false;
    std::uint16_t first = 49152;   ///< RFC 6335 §6: the dynamic ports, 49152-65535
    std::uint32_t count = 16384;
    std::size_t max_ports = 512;   ///< exchanges with a port of their own at once
};

struct UpstreamPortStats {
    std::uint64_t opened = 0;
    std::uint64_t closed = 0;
    std::uint64_t peak = 0;           ///< the most ports open at once
    std::uint64_t exhausted = 0;      ///< exchanges refused because `max_ports` were open
    std::uint64_t wrong_port = 0;     ///< datagrams dropped: their exchange is on another port
    std::uint64_t closed_port = 0;    ///< datagrams dropped: no exchange on that port
    std::uint64_t unmatched = 0;      ///< datagrams dropped: an ACK/RST or response for no exchange
    std::uint64_t unsent = 0;         ///< outgoing datagrams with no port to leave from (dropped)
};

class UpstreamPorts {
public:
    /// `rng` must outlive this.
    UpstreamPorts(UpstreamPortConfig config, Random& rng);

    [[nodiscard]] bool per_exchange() const noexcept { return config_.per_exchange; }
    /// No port for another exchange (per exchange only).
    [[nodiscard]] bool full() const noexcept;
    /// Whether a new upstream exchange may start; false (counted as exhausted) when full.
    [[nodiscard]] bool may_open();
    /// A port for the upstream exchange `id` with `token` toward `origin`. False if full.
    [[nodiscard]] bool open(std::uint64_t id, const Peer& origin, const Token& token);
    /// The exchange `id` ended: its port closes. Unknown ids are ignored.
    void close(std::uint64_t id);
    /// Closes the port of every exchange `active(id)` says has ended (one whose end event
    /// was lost to a full event queue, say).
    template <class Active>
    void sweep(Active active) {
        std::vector<std::uint64_t> ended;
        for (const auto& [id, x] : by_id_) {
            if (!active(id)) ended.push_back(id);
        }
        for (std::uint64_t id : ended) close(id);
    }
    /// Whether `datagram`, from `from` to our `port`, may reach the upstream endpoint.
    [[nodiscard]] bool admit(std::uint16_t port, const Peer& from, Bytes datagram);
    /// The port `t` leaves from (0: the fixed port). False: none, drop it.
    [[nodiscard]] bool outgoing(const Transmit& t, std::uint16_t& port);
    /// A port that closed since the last call, for the driver to close its socket.
    [[nodiscard]] bool poll_closed(std::uint16_t& port);

    [[nodiscard]] std::size_t open_ports() const noexcept { return by_token_.size(); }
    [[nodiscard]] bool is_open(std::uint16_t port) const { return ports_.count(port) != 0; }
    [[nodiscard]] const UpstreamPortStats& stats() const noexcept { return stats_; }

private:
    /// One port: the exchanges with its origin and token, and the Message IDs of the CONs
    /// sent from it (their ACKs and RSTs come back to it).
    struct Socket {
        std::uint16_t port = 0;
        std::size_t users = 0;
        std::vector<std::string> mid_keys;  ///< the last 8
    };
    struct Arrival {
        Peer from;
        std::uint16_t mid = 0;
        std::uint16_t port = 0;
    };

    UpstreamPortConfig config_;
    Random& rng_;
    std::unordered_map<std::uint64_t, std::string> by_id_;    ///< exchange id -> origin + token
    std::unordered_map<std::string, Socket> by_token_;        ///< origin + token -> its port
    std::unordered_map<std::string, std::string> by_mid_;     ///< origin + MID of a CON -> origin + token
    std::unordered_set<std::uint16_t> ports_;
    std::array<Arrival, 256> arrivals_{};  ///< ring: the messages our ACK/RST may answer
    std::size_t next_arrival_ = 0;
    std::deque<std::uint16_t> closed_;
    UpstreamPortStats stats_;
};

}  // namespace coap::proxy
