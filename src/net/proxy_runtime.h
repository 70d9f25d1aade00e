// The real-network driver of the forward proxy (coap/proxy/forward_proxy.h): two UDP
// sockets, one toward the clients (downstream) and one toward the origins (upstream),
// poll() on both, the monotonic clock. Glue only, like UdpRuntime.
#pragma once

#include "coap/proxy/forward_proxy.h"
#include "net/dtls.h"
#include "net/udp_runtime.h"

namespace coapbed::net {

/// Drives `proxy` until SIGINT/SIGTERM (UdpRuntime::stop_on_signals): datagrams on
/// `down` go to its downstream side, on `up` to its upstream side; ICMP unreachable on
/// either is reported to that side. With `down_dtls`, the clients' side is coaps: every
/// datagram there goes through that (server) DTLS layer.
void run_proxy(coap::proxy::ForwardProxy& proxy, UdpRuntime& down, UdpRuntime& up, DtlsLayer* down_dtls = nullptr);

}  // namespace coapbed::net
