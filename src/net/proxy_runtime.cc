#include "net/proxy_runtime.h"

#include <poll.h>

#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coapbed::net {

namespace {

using Side = coap::proxy::ForwardProxy::Side;

/// The upstream sockets of per-exchange ports: the engine names each exchange's port, and
/// the runtime opens a socket of its own for it, bound to an ephemeral port (the kernel
/// picks it at random, RFC 6056), closed when the engine says the exchange ended.
struct ExchangeSockets {
    std::map<std::uint16_t, std::unique_ptr<UdpRuntime>> by_id;
    std::function<void(const coap::Peer&)> on_unreachable;
    UdpRuntime* get(std::uint16_t id) {
        auto& s = by_id[id];
        if (!s) {
            s = std::make_unique<UdpRuntime>();
            std::string error;
            if (!s->open("", 0, error)) {
                by_id.erase(id);
                return nullptr;  // the datagram is lost; the exchange retransmits or times out
            }
            s->on_unreachable(on_unreachable);
        }
        return s.get();
    }
};

void flush(coap::proxy::ForwardProxy& proxy, UdpRuntime& down, UdpRuntime& up, ExchangeSockets& exchanges,
           coap::Transmit& t, DtlsLayer* dtls, const DtlsLayer::Send& down_send) {
    Side side = Side::Down;
    std::uint16_t port = 0;
    while (proxy.poll_transmit(side, port, t)) {
        if (side == Side::Down && dtls != nullptr) {
            dtls->write(monotonic_now(), t.peer, coap::Bytes(t.bytes.data(), t.bytes.size()), down_send);
        } else if (side == Side::Up && port != 0) {
            if (UdpRuntime* s = exchanges.get(port)) s->send(t.peer, t.bytes.data(), t.bytes.size());
        } else {
            (side == Side::Down ? down : up).send(t.peer, t.bytes.data(), t.bytes.size());
        }
    }
    while (proxy.poll_closed_port(port)) exchanges.by_id.erase(port);
}

}  // namespace

void run_proxy(coap::proxy::ForwardProxy& proxy, UdpRuntime& down, UdpRuntime& up, DtlsLayer* dtls) {
    std::uint8_t buf[65536];
    coap::Transmit t;
    const DtlsLayer::Send down_send = [&down](const coap::Peer& to, const std::uint8_t* d, std::size_t n) {
        down.send(to, d, n);
    };
    std::vector<std::vector<std::uint8_t>> plain;
    ExchangeSockets exchanges;
    down.on_unreachable([&](const coap::Peer& p) { proxy.handle_unreachable(monotonic_now(), Side::Down, p); });
    up.on_unreachable([&](const coap::Peer& p) { proxy.handle_unreachable(monotonic_now(), Side::Up, p); });
    exchanges.on_unreachable = [&](const coap::Peer& p) { proxy.handle_unreachable(monotonic_now(), Side::Up, p); };
    std::vector<pollfd> pfd;
    std::vector<std::pair<UdpRuntime*, std::uint16_t>> sockets;  // what pfd[k] is: the socket, its exchange port (0: none)
    while (!UdpRuntime::interrupted()) {
        coap::TimePoint now = monotonic_now();
        int timeout_ms = 1000;
        std::optional<coap::TimePoint> wake = proxy.poll_timeout();
        if (dtls != nullptr) {
            if (const auto d = dtls->next_timeout(now); d && (!wake || *d < *wake)) wake = d;
        }
        if (wake) {
            const std::int64_t ms = ((*wake - now).ns() + 999999) / 1000000;
            timeout_ms = static_cast<int>(ms < 0 ? 0 : (ms > 1000 ? 1000 : ms));
        }
        sockets.assign({{&down, 0}, {&up, 0}});
        for (auto& [id, s] : exchanges.by_id) sockets.emplace_back(s.get(), id);
        pfd.clear();
        for (const auto& [s, id] : sockets) pfd.push_back({s->fd(), POLLIN, 0});
        const int n = poll(pfd.data(), pfd.size(), timeout_ms);
        if (n < 0 && errno != EINTR) return;
        now = monotonic_now();
        // An exchange socket may close (and its port id be reused) while others are read.
        const auto alive = [&](std::size_t k) {
            if (k < 2) return true;
            const auto it = exchanges.by_id.find(sockets[k].second);
            return it != exchanges.by_id.end() && it->second.get() == sockets[k].first;
        };
        for (std::size_t k = 0; n > 0 && k < sockets.size(); ++k) {
            UdpRuntime* socket = sockets[k].first;
            if (!alive(k)) continue;
            if (pfd[k].revents & POLLERR) socket->handle_errors();
            if ((pfd[k].revents & POLLIN) == 0) continue;
            for (int j = 0; j < 64; ++j) {  // bounded per wake-up
                coap::Peer from;
                std::size_t size = 0;
                if (!socket->receive(from, buf, sizeof buf, size)) break;
                if (k == 0 && dtls != nullptr) {
                    plain.clear();
                    dtls->receive(now, from, coap::Bytes(buf, size), down_send, plain);
                    for (const auto& p : plain) proxy.handle_datagram(now, Side::Down, from, coap::Bytes(p.data(), p.size()));
                } else if (k == 0) {
                    proxy.handle_datagram(now, Side::Down, from, coap::Bytes(buf, size));
                } else {
                    proxy.handle_upstream_datagram(now, sockets[k].second, from, coap::Bytes(buf, size));
                }
                flush(proxy, down, up, exchanges, t, dtls, down_send);
                if (!alive(k)) break;  // its exchange ended
            }
        }
        proxy.handle_timeout(now);
        if (dtls != nullptr) dtls->handle_timeouts(now, down_send);
        flush(proxy, down, up, exchanges, t, dtls, down_send);
    }
}

}  // namespace coapbed::net
