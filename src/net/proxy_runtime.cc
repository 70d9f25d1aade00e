#include "net/proxy_runtime.h"

#include <poll.h>

#include <cerrno>
#include <optional>
#include <vector>

namespace coapbed::net {

namespace {

using Side = coap::proxy::ForwardProxy::Side;

void flush(coap::proxy::ForwardProxy& proxy, UdpRuntime& down, UdpRuntime& up, coap::Transmit& t, DtlsLayer* dtls,
           const DtlsLayer::Send& down_send) {
    Side side = Side::Down;
    while (proxy.poll_transmit(side, t)) {
        if (side == Side::Down && dtls != nullptr) {
            dtls->write(monotonic_now(), t.peer, coap::Bytes(t.bytes.data(), t.bytes.size()), down_send);
        } else {
            (side == Side::Down ? down : up).send(t.peer, t.bytes.data(), t.bytes.size());
        }
    }
}

}  // namespace

void run_proxy(coap::proxy::ForwardProxy& proxy, UdpRuntime& down, UdpRuntime& up, DtlsLayer* dtls) {
    std::uint8_t buf[65536];
    coap::Transmit t;
    const DtlsLayer::Send down_send = [&down](const coap::Peer& to, const std::uint8_t* d, std::size_t n) {
        down.send(to, d, n);
    };
    std::vector<std::vector<std::uint8_t>> plain;
    down.on_unreachable([&](const coap::Peer& p) { proxy.handle_unreachable(monotonic_now(), Side::Down, p); });
    up.on_unreachable([&](const coap::Peer& p) { proxy.handle_unreachable(monotonic_now(), Side::Up, p); });
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
        pollfd pfd[2] = {{down.fd(), POLLIN, 0}, {up.fd(), POLLIN, 0}};
        const int n = poll(pfd, 2, timeout_ms);
        if (n < 0 && errno != EINTR) return;
        now = monotonic_now();
        UdpRuntime* sockets[2] = {&down, &up};
        for (int k = 0; n > 0 && k < 2; ++k) {
            if (pfd[k].revents & POLLERR) sockets[k]->handle_errors();
            if ((pfd[k].revents & POLLIN) == 0) continue;
            for (int j = 0; j < 64; ++j) {  // bounded per wake-up
                coap::Peer from;
                std::size_t size = 0;
                if (!sockets[k]->receive(from, buf, sizeof buf, size)) break;
                if (k == 0 && dtls != nullptr) {
                    plain.clear();
                    dtls->receive(now, from, coap::Bytes(buf, size), down_send, plain);
                    for (const auto& p : plain) proxy.handle_datagram(now, Side::Down, from, coap::Bytes(p.data(), p.size()));
                } else {
                    proxy.handle_datagram(now, k == 0 ? Side::Down : Side::Up, from, coap::Bytes(buf, size));
                }
                flush(proxy, down, up, t, dtls, down_send);
            }
        }
        proxy.handle_timeout(now);
        if (dtls != nullptr) dtls->handle_timeouts(now, down_send);
        flush(proxy, down, up, t, dtls, down_send);
    }
}

}  // namespace coapbed::net
