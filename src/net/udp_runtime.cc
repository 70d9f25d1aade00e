#include "net/udp_runtime.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

namespace coapbed::net {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

coap::Peer from_sockaddr(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
        return coap::Peer::ipv4(ntohl(a.sin_addr.s_addr), ntohs(a.sin_port));
    }
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    const std::uint8_t* b = a.sin6_addr.s6_addr;
    static const std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, 12) == 0) {  // an IPv4 peer on the dual-stack socket
        return coap::Peer::ipv4((std::uint32_t{b[12]} << 24) | (b[13] << 16) | (b[14] << 8) | b[15], ntohs(a.sin6_port));
    }
    std::uint8_t addr[16];
    std::memcpy(addr, b, 16);
    coap::Peer p = coap::Peer::ipv6(addr, ntohs(a.sin6_port));
    p.scope = a.sin6_scope_id;
    return p;
}

socklen_t to_sockaddr(const coap::Peer& p, bool v6_socket, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (p.family == 4 && !v6_socket) {
        auto& a = reinterpret_cast<sockaddr_in&>(ss);
        a.sin_family = AF_INET;
        a.sin_port = htons(p.port);
        std::memcpy(&a.sin_addr, p.address.data(), 4);
        return sizeof a;
    }
    auto& a = reinterpret_cast<sockaddr_in6&>(ss);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(p.port);
    if (p.family == 4) {
        a.sin6_addr.s6_addr[10] = 0xff;
        a.sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(a.sin6_addr.s6_addr + 12, p.address.data(), 4);
    } else {
        std::memcpy(a.sin6_addr.s6_addr, p.address.data(), 16);
        a.sin6_scope_id = p.scope;
    }
    return sizeof a;
}
}  // namespace

std::uint64_t OpenSslRandom::next_u64() {
    std::uint64_t v = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) {
        // RAND_bytes only fails when the CSPRNG cannot be seeded; fall back to the clock
        // mixed through the engine's generator rather than returning a constant.
        static coap::Xoshiro256 fallback(static_cast<std::uint64_t>(monotonic_now().ns()));
        v = fallback.next_u64();
    }
    return v;
}

coap::TimePoint monotonic_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return coap::TimePoint::from_ns(static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec);
}

std::vector<coap::Peer> resolve_all(const std::string& host, std::uint16_t port, std::string& error) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    std::vector<coap::Peer> peers;
    if (rc != 0 || res == nullptr) {
        error = "cannot resolve '" + host + "': " + gai_strerror(rc);
        return peers;
    }
    for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        sockaddr_storage ss{};
        std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
        coap::Peer p = from_sockaddr(ss);
        p.port = port;
        if (std::find(peers.begin(), peers.end(), p) == peers.end()) peers.push_back(p);
    }
    freeaddrinfo(res);
    if (peers.empty()) error = "no IPv4 or IPv6 address for '" + host + "'";
    return peers;
}

UdpRuntime::UdpRuntime()
    : raw_send_([this](const coap::Peer& p, const std::uint8_t* d, std::size_t n) { send_raw(p, d, n); }) {}

UdpRuntime::~UdpRuntime() {
    if (fd_ >= 0) close(fd_);
}

bool UdpRuntime::open(const std::string& host, std::uint16_t port, std::string& error) {
    std::string bind_host = host;
    if (!bind_host.empty() && bind_host.front() == '[' && bind_host.back() == ']') {
        bind_host = bind_host.substr(1, bind_host.size() - 2);
    }
    in6_addr a6{};
    in_addr a4{};
    const bool want_v4 = !bind_host.empty() && inet_pton(AF_INET, bind_host.c_str(), &a4) == 1;
    if (!want_v4) {
        fd_ = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd_ >= 0) {
            const int off = 0;
            setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
            sockaddr_in6 sa{};
            sa.sin6_family = AF_INET6;
            sa.sin6_port = htons(port);
            if (!bind_host.empty() && inet_pton(AF_INET6, bind_host.c_str(), &a6) != 1) {
                error = "not an IP address: " + bind_host;
                return false;
            }
            sa.sin6_addr = bind_host.empty() ? in6addr_any : a6;
            if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
                v6_ = true;
            } else {
                close(fd_);
                fd_ = -1;
            }
        }
    }
    if (fd_ < 0) {
        fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr = want_v4 ? a4 : in_addr{htonl(INADDR_ANY)};
        if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            error = std::string("cannot bind UDP port ") + std::to_string(port) + ": " + std::strerror(errno);
            return false;
        }
    }
    // ICMP errors for what we send (port unreachable above all) come back on the error
    // queue: a client moves on to the next address, a server drops a dead observer.
    const int on = 1;
    if (v6_) (void)setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    (void)setsockopt(fd_, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = from_sockaddr(ss).port;
    return true;
}

void UdpRuntime::read_errors() {
    for (int k = 0; k < 64; ++k) {  // bounded per wake-up, like the datagrams
        sockaddr_storage dest{};
        char control[512];
        std::uint8_t payload[64];
        iovec iov{payload, sizeof payload};
        msghdr msg{};
        msg.msg_name = &dest;
        msg.msg_namelen = sizeof dest;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        if (recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
        int err = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                sock_extended_err ee{};
                std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
                err = static_cast<int>(ee.ee_errno);
            }
        }
        // msg_name is the destination of the datagram that failed.
        const bool unreachable = err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
        if (unreachable && msg.msg_namelen > 0 && on_unreachable_) on_unreachable_(from_sockaddr(dest));
    }
}

void UdpRuntime::stop_on_signals() {
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

bool UdpRuntime::interrupted() { return g_interrupted != 0; }

bool UdpRuntime::receive(coap::Peer& from, std::uint8_t* buf, std::size_t capacity, std::size_t& size) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const ssize_t got = recvfrom(fd_, buf, capacity, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), &len);
    if (got < 0) return false;
    from = from_sockaddr(ss);
    size = static_cast<std::size_t>(got);
    return true;
}

void UdpRuntime::send_raw(const coap::Peer& peer, const std::uint8_t* data, std::size_t size) {
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(peer, v6_, ss);
    // Best effort, like the network itself: a failed send is a lost datagram.
    (void)sendto(fd_, data, size, 0, reinterpret_cast<sockaddr*>(&ss), len);
}

void UdpRuntime::flush(coap::Endpoint& endpoint, const std::function<void(coap::Event&)>& on_event) {
    // Polled into kept buffers: no allocation per datagram or event once warm.
    while (endpoint.poll_transmit(transmit_)) {
        const coap::Bytes bytes(transmit_.bytes.data(), transmit_.bytes.size());
        if (dtls_ != nullptr) {
            dtls_->write(monotonic_now(), transmit_.peer, bytes, raw_send_);
        } else {
            send_raw(transmit_.peer, bytes.data(), bytes.size());
        }
    }
    while (endpoint.poll_event(event_)) on_event(event_);
}

UdpRuntime::Stop UdpRuntime::run(coap::Endpoint& endpoint, const std::function<void(coap::Event&)>& on_event,
                                 const std::function<bool()>& done, std::optional<coap::TimePoint> deadline,
                                 const std::function<void(coap::TimePoint)>& tick,
                                 const std::function<std::optional<coap::TimePoint>()>& next_tick) {
    std::uint8_t buf[65536];
    flush(endpoint, on_event);
    while (!done()) {
        if (g_interrupted) return Stop::Interrupted;
        coap::TimePoint now = monotonic_now();
        if (deadline && now >= *deadline) return Stop::Deadline;
        std::optional<coap::TimePoint> wake = endpoint.poll_timeout();
        if (dtls_ != nullptr) {
            if (auto t = dtls_->next_timeout(now); t && (!wake || *t < *wake)) wake = t;
        }
        if (deadline && (!wake || *deadline < *wake)) wake = deadline;
        if (next_tick) {
            if (auto t = next_tick(); t && (!wake || *t < *wake)) wake = t;
        }
        int timeout_ms = 1000;
        if (wake) {
            const std::int64_t ms = ((*wake - now).ns() + 999999) / 1000000;
            timeout_ms = static_cast<int>(ms < 0 ? 0 : (ms > 1000 ? 1000 : ms));
        }
        pollfd pfd{fd_, POLLIN, 0};
        const int n = poll(&pfd, 1, timeout_ms);
        if (n < 0 && errno != EINTR) return Stop::Error;
        now = monotonic_now();
        if (n > 0 && (pfd.revents & POLLERR)) read_errors();
        if (n > 0 && (pfd.revents & POLLIN)) {
            // Drain what is queued, bounded per wake-up, and not past the caller's end
            // (`observe --count N` stops at N even under a burst of notifications).
            for (int k = 0; k < 64 && !done(); ++k) {
                sockaddr_storage ss{};
                socklen_t len = sizeof ss;
                const ssize_t got = recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), &len);
                if (got < 0) break;
                const coap::Peer from = from_sockaddr(ss);
                if (dtls_ != nullptr) {
                    std::vector<std::vector<std::uint8_t>> plain;
                    dtls_->receive(now, from, coap::Bytes(buf, static_cast<std::size_t>(got)), raw_send_, plain);
                    for (const auto& p : plain) endpoint.handle_datagram(now, from, coap::Bytes(p.data(), p.size()));
                } else {
                    endpoint.handle_datagram(now, from, coap::Bytes(buf, static_cast<std::size_t>(got)));
                }
                flush(endpoint, on_event);
            }
        }
        if (dtls_ != nullptr) {
            dtls_->handle_timeouts(now, raw_send_);
        }
        endpoint.handle_timeout(now);
        if (tick) tick(now);
        flush(endpoint, on_event);
    }
    return Stop::Done;
}

}  // namespace coapbed::net
