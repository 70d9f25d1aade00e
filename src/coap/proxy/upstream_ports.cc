#include "coap/proxy/upstream_ports.h"

#include <algorithm>

namespace coap::proxy {

namespace {

/// The fixed header of a datagram (RFC 7252 §3): what `admit` and `outgoing` need.
struct Header {
    std::uint8_t type = 0;  ///< 0 CON, 1 NON, 2 ACK, 3 RST
    std::uint8_t code = 0;
    std::uint16_t mid = 0;
    Bytes token;
};

bool read_header(Bytes d, Header& h) {
    // RFC 7252 §3: Ver | T | TKL, Code, Message ID, then TKL bytes of token (9-15 reserved).
    if (d.size() < 4 || (d[0] >> 6) != 1) return false;
    const std::size_t tkl = d[0] & 0x0f;
    if (tkl > 8 || d.size() < 4 + tkl) return false;
    h.type = static_cast<std::uint8_t>((d[0] >> 4) & 0x03);
    h.code = d[1];
    h.mid = static_cast<std::uint16_t>((d[2] << 8) | d[3]);
    h.token = d.sub(4, tkl);
    return true;
}

bool is_ack_or_rst(const Header& h) { return h.type >= 2; }
bool is_request(const Header& h) { return h.code != 0 && (h.code >> 5) == 0; }
bool is_response(const Header& h) { return (h.code >> 5) >= 2; }

std::string token_key(const Peer& p, Bytes token) {
    std::string k = p.to_string();
    k += '/';
    k.append(reinterpret_cast<const char*>(token.data()), token.size());
    return k;
}

std::string mid_key(const Peer& p, std::uint16_t mid) {
    std::string k = p.to_string();
    k += '#';
    k += static_cast<char>(mid >> 8);
    k += static_cast<char>(mid & 0xff);
    return k;
}

}  // namespace

UpstreamPorts::UpstreamPorts(UpstreamPortConfig config, Random& rng) : config_(config), rng_(rng) {
    if (config_.first == 0) config_.first = 1;  // port 0 means the fixed socket to the driver
    if (config_.count == 0) config_.count = 1;
    config_.count = std::min<std::uint32_t>(config_.count, 65536u - config_.first);
    config_.max_ports = std::min<std::size_t>(config_.max_ports, config_.count);
}

bool UpstreamPorts::full() const noexcept { return config_.per_exchange && by_token_.size() >= config_.max_ports; }

bool UpstreamPorts::may_open() {
    if (!full()) return true;
    ++stats_.exhausted;
    return false;
}

bool UpstreamPorts::open(std::uint64_t id, const Peer& origin, const Token& token) {
    if (!config_.per_exchange) return true;
    std::string key = token_key(origin, token.view());
    if (auto shared = by_token_.find(key); shared != by_token_.end()) {
        ++shared->second.users;  // the same token toward the same origin: the same port
        by_id_[id] = std::move(key);
        return true;
    }
    if (full()) {
        ++stats_.exhausted;
        return false;
    }
    // RFC 6056 §3.2: a random port of the range; on a collision, the next free one.
    auto port = static_cast<std::uint16_t>(config_.first + rng_.below(config_.count));
    while (ports_.count(port) != 0) {
        port = static_cast<std::uint16_t>(std::uint32_t{port} + 1 == config_.first + config_.count ? config_.first : port + 1);
    }
    Socket socket;
    socket.port = port;
    socket.users = 1;
    by_token_.emplace(key, std::move(socket));
    by_id_[id] = std::move(key);
    ports_.insert(port);
    ++stats_.opened;
    stats_.peak = std::max<std::uint64_t>(stats_.peak, by_token_.size());
    return true;
}

void UpstreamPorts::close(std::uint64_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    const std::string key = std::move(it->second);
    by_id_.erase(it);
    auto s = by_token_.find(key);
    if (s == by_token_.end() || --s->second.users > 0) return;
    for (const std::string& m : s->second.mid_keys) by_mid_.erase(m);
    ports_.erase(s->second.port);
    closed_.push_back(s->second.port);
    if (closed_.size() > config_.max_ports) closed_.pop_front();  // a driver that never polls them
    by_token_.erase(s);
    ++stats_.closed;
}

bool UpstreamPorts::admit(std::uint16_t port, const Peer& from, Bytes datagram) {
    if (!config_.per_exchange) return true;
    if (ports_.count(port) == 0) {
        ++stats_.closed_port;
        return false;
    }
    Header h;
    if (!read_header(datagram, h)) return true;  // the endpoint counts it as a format error
    const Socket* socket = nullptr;
    bool matched = true;
    if (is_ack_or_rst(h)) {
        const auto m = by_mid_.find(mid_key(from, h.mid));
        matched = m != by_mid_.end();
        if (matched) socket = &by_token_.at(m->second);
    } else if (is_response(h)) {
        const auto t = by_token_.find(token_key(from, h.token));
        matched = t != by_token_.end();
        if (matched) socket = &t->second;
    }
    if (!matched) {
        ++stats_.unmatched;
        return false;
    }
    if (socket != nullptr && socket->port != port) {
        ++stats_.wrong_port;
        return false;
    }
    if (h.type <= 1) {
        // A CON (or NON) may get our ACK or RST: it leaves from this port.
        arrivals_[next_arrival_] = Arrival{from, h.mid, port};
        next_arrival_ = (next_arrival_ + 1) % arrivals_.size();
    }
    return true;
}

bool UpstreamPorts::outgoing(const Transmit& t, std::uint16_t& port) {
    port = 0;
    if (!config_.per_exchange) return true;
    Header h;
    if (read_header(Bytes(t.bytes.data(), t.bytes.size()), h)) {
        if (is_request(h)) {
            if (const auto it = by_token_.find(token_key(t.peer, h.token)); it != by_token_.end()) {
                Socket& socket = it->second;
                if (h.type == 0) {
                    // The CON's ACK or RST must come back to this port.
                    std::string mk = mid_key(t.peer, h.mid);
                    if (std::find(socket.mid_keys.begin(), socket.mid_keys.end(), mk) == socket.mid_keys.end()) {
                        if (socket.mid_keys.size() >= 8) {
                            by_mid_.erase(socket.mid_keys.front());
                            socket.mid_keys.erase(socket.mid_keys.begin());
                        }
                        by_mid_[mk] = it->first;
                        socket.mid_keys.push_back(std::move(mk));
                    }
                }
                port = socket.port;
                return true;
            }
        } else if (is_ack_or_rst(h)) {
            for (std::size_t i = 0; i < arrivals_.size(); ++i) {
                // Newest first: a MID the origin reused answers from where it came last.
                const Arrival& a = arrivals_[(next_arrival_ + arrivals_.size() - 1 - i) % arrivals_.size()];
                if (a.port != 0 && a.mid == h.mid && a.from == t.peer) {
                    // Its exchange may have ended with this very message: the port is
                    // then closing, but the driver has not closed it yet.
                    port = a.port;
                    if (ports_.count(port) != 0 || std::find(closed_.begin(), closed_.end(), port) != closed_.end()) {
                        return true;
                    }
                    break;
                }
            }
        }
    }
    ++stats_.unsent;
    return false;
}

bool UpstreamPorts::poll_closed(std::uint16_t& port) {
    while (!closed_.empty()) {
        port = closed_.front();
        closed_.pop_front();
        if (ports_.count(port) == 0) return true;  // not taken again meanwhile
    }
    return false;
}

}  // namespace coap::proxy
