// The real-network driver of the sans-I/O endpoint: one UDP socket (dual-stack IPv6
// where the host allows it, else IPv4), poll(), the monotonic clock and OpenSSL's
// RAND_bytes. Glue only (STYLE §9): feed datagrams and timeouts in, drain transmits
// and events out, re-arm one timer at poll_timeout().
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coap/common/peer.h"
#include "coap/common/random.h"
#include "coap/common/time.h"
#include "coap/endpoint/endpoint.h"
#include "net/dtls.h"

namespace coapbed::net {

/// Random numbers from OpenSSL's CSPRNG (tokens, message IDs, dithering).
class OpenSslRandom final : public coap::Random {
public:
    std::uint64_t next_u64() override;
};

/// CLOCK_MONOTONIC as the engine's TimePoint.
coap::TimePoint monotonic_now();

/// Every address getaddrinfo gives for `host`, in its order, without repeats (a stock
/// Debian 12 gives ::1 then 127.0.0.1 for localhost); empty with `error` set on failure.
std::vector<coap::Peer> resolve_all(const std::string& host, std::uint16_t port, std::string& error);

class UdpRuntime {
public:
    UdpRuntime();
    ~UdpRuntime();
    UdpRuntime(const UdpRuntime&) = delete;
    UdpRuntime& operator=(const UdpRuntime&) = delete;

    /// Binds to `host` ("" = any address, dual-stack) and `port` (0 = ephemeral).
    bool open(const std::string& host, std::uint16_t port, std::string& error);
    [[nodiscard]] std::uint16_t local_port() const { return port_; }

    enum class Stop { Done, Deadline, Interrupted, Error };
    /// Drives `endpoint` until `done()` is true, `deadline` passes, or a signal arrives
    /// (SIGINT/SIGTERM, when `stop_on_signal`). `tick` is called after every wake-up
    /// (for application timers such as notifications); `next_tick` bounds the sleep.
    Stop run(coap::Endpoint& endpoint, const std::function<void(coap::Event&)>& on_event,
             const std::function<bool()>& done, std::optional<coap::TimePoint> deadline,
             const std::function<void(coap::TimePoint)>& tick = {},
             const std::function<std::optional<coap::TimePoint>()>& next_tick = {});

    /// Installs SIGINT/SIGTERM handlers that make run() return Interrupted.
    static void stop_on_signals();
    /// Whether one of those signals has arrived.
    [[nodiscard]] static bool interrupted();

    // For drivers of more than one socket (the proxy, net/proxy_runtime.h): the socket,
    // one datagram if one is queued (never blocks), a datagram out, and the ICMP errors
    // queued on the socket (reported through on_unreachable).
    [[nodiscard]] int fd() const { return fd_; }
    bool receive(coap::Peer& from, std::uint8_t* buf, std::size_t capacity, std::size_t& size);
    void send(const coap::Peer& peer, const std::uint8_t* data, std::size_t size) { send_raw(peer, data, size); }
    void handle_errors() { read_errors(); }
    /// Every datagram goes through DTLS (coaps://); `dtls` must outlive the runtime.
    void use_dtls(DtlsLayer* dtls) { dtls_ = dtls; }
    /// Called with the destination of a datagram that came back as ICMP unreachable
    /// (port, host or network; IP_RECVERR / IPV6_RECVERR).
    void on_unreachable(std::function<void(const coap::Peer&)> f) { on_unreachable_ = std::move(f); }

private:
    void flush(coap::Endpoint& endpoint, const std::function<void(coap::Event&)>& on_event);
    void send_raw(const coap::Peer& peer, const std::uint8_t* data, std::size_t size);
    void read_errors();
    std::function<void(const coap::Peer&)> on_unreachable_;
    DtlsLayer* dtls_ = nullptr;
    DtlsLayer::Send raw_send_;  ///< send_raw as the DTLS layer's way out, made once
    coap::Transmit transmit_;   ///< polled into, so that its buffer is reused
    coap::Event event_;
    int fd_ = -1;
    bool v6_ = false;
    std::uint16_t port_ = 0;
};

}  // namespace coapbed::net
