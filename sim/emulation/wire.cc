#include "sim/emulation/wire.h"

#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "coap/codec/message_view.h"
#include "coap/options/lookup.h"
#include "coap/options/registry.h"

namespace coapbed::emu {

namespace {

struct Exchange {
    ExchangeFigure fig;  ///< fig.client is the exchange's TAP, fig.start_s its first copy
    std::uint16_t port = 0;
    std::vector<std::uint8_t> token;  ///< of the latest request of the exchange
    std::uint16_t mid = 0;            ///< of the latest request
    bool awaiting_next = false;       ///< the last response asked for the next block
    bool ended = false;
};

std::optional<coap::Block> block(const coap::MessageView& m, std::uint16_t number) {
    bool invalid = false;
    return coap::block_option(m, number, invalid);
}

}  // namespace

WireFigures analyse(const std::vector<WireRecord>& records, int clients) {
    WireFigures f;
    f.completed_per_client.assign(static_cast<std::size_t>(clients < 0 ? 0 : clients), 0);
    std::vector<Exchange> exchanges;
    // (tap, port, MID) of every request copy seen -> its exchange
    std::map<std::tuple<int, std::uint16_t, std::uint16_t>, std::size_t> requests;
    // the server's CON copies: (remote address, remote port, MID)
    std::set<std::tuple<std::uint32_t, std::uint16_t, std::uint16_t>> server_cons;

    auto open_on = [&](int tap, std::uint16_t port, auto&& pred) -> Exchange* {
        for (auto it = exchanges.rbegin(); it != exchanges.rend(); ++it) {
            if (it->fig.client == tap && it->port == port && !it->ended && pred(*it)) return &*it;
        }
        return nullptr;
    };

    for (const WireRecord& r : records) {
        coap::MessageView m;
        if (!coap::parse(coap::Bytes(r.payload.data(), r.payload.size()), m).ok()) {
            ++f.not_coap;
            continue;
        }
        if (r.tap < 0) {
            if (!r.outbound) continue;
            f.server_bytes += r.payload.size();
            if (m.type() == coap::MessageType::Con &&
                !server_cons.insert({r.remote_addr, r.remote_port, m.message_id()}).second) {
                ++f.server_retransmissions;
            }
            continue;
        }
        if (r.tap >= clients) continue;
        const coap::Bytes token = m.token();
        if (r.outbound) {
            f.client_bytes += r.payload.size();
            if (!m.code().is_request()) continue;
            const auto key = std::make_tuple(r.tap, r.local_port, m.message_id());
            if (auto seen = requests.find(key); seen != requests.end()) {
                ++f.client_retransmissions;  // RFC 7252 §4.5: same MID, a copy
                ++exchanges[seen->second].fig.retransmissions;
                continue;
            }
            const auto b2 = block(m, coap::options::kBlock2);
            const auto b1 = block(m, coap::options::kBlock1);
            const bool continuation = (b2 && b2->num > 0) || (b1 && b1->num > 0);
            Exchange* ex = continuation ? open_on(r.tap, r.local_port, [](const Exchange& e) { return e.awaiting_next; })
                                        : nullptr;
            if (ex == nullptr) {
                exchanges.push_back(Exchange{});
                ex = &exchanges.back();
                ex->port = r.local_port;
                ex->fig.client = r.tap;
                ex->fig.start_s = r.t;
                ex->fig.request_bytes = static_cast<std::uint32_t>(r.payload.size());
                ++f.started;
            }
            ++ex->fig.messages;
            ex->token.assign(token.begin(), token.end());
            ex->mid = m.message_id();
            ex->awaiting_next = false;
            requests[key] = static_cast<std::size_t>(ex - exchanges.data());
            continue;
        }
        // Inbound to a client.
        const bool ack = m.type() == coap::MessageType::Ack;
        if (m.type() == coap::MessageType::Rst) {
            if (Exchange* ex = open_on(r.tap, r.local_port, [&](const Exchange& e) { return e.mid == m.message_id(); })) {
                ex->ended = true;
                ++f.reset;
            }
            continue;
        }
        if (!m.code().is_response()) continue;
        const std::vector<std::uint8_t> tok(token.begin(), token.end());
        Exchange* ex = open_on(r.tap, r.local_port, [&](const Exchange& e) {
            if (e.awaiting_next) return false;
            // An empty token is the same for every request: the piggybacked ACK's MID decides.
            if (tok.empty()) return e.token.empty() && (!ack || e.mid == m.message_id());
            return e.token == tok;
        });
        if (ex == nullptr) continue;  // a late copy, a notification after the first
        f.response_payload_bytes += m.payload().size();
        const auto b2 = block(m, coap::options::kBlock2);
        if ((b2 && b2->more) || m.code() == coap::codes::kContinue) {
            ex->awaiting_next = true;
            continue;
        }
        ex->ended = true;
        ++f.completed;
        ex->fig.completion_s = r.t - ex->fig.start_s;
        f.completion_s.push_back(ex->fig.completion_s);
        ex->fig.response_bytes = static_cast<std::uint32_t>(r.payload.size());
        ++f.completed_per_client[static_cast<std::size_t>(r.tap)];
    }
    for (const Exchange& e : exchanges) f.exchanges.push_back(e.fig);
    return f;
}

bool parse_udp_frame(const std::uint8_t* p, std::size_t n, UdpFrame& out) {
    if (n < 14 + 20 + 8) return false;
    if (p[12] != 0x08 || p[13] != 0x00) return false;  // EtherType IPv4
    const std::uint8_t* ip = p + 14;
    if ((ip[0] >> 4) != 4) return false;
    const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
    const std::size_t total = (static_cast<std::size_t>(ip[2]) << 8) | ip[3];
    if (ihl < 20 || total < ihl + 8 || 14 + total > n) return false;
    if (ip[9] != 17) return false;                                   // UDP
    if (((ip[6] & 0x1f) | ip[7]) != 0 || (ip[6] & 0x20) != 0) return false;  // a fragment
    auto be32 = [](const std::uint8_t* q) {
        return (std::uint32_t{q[0]} << 24) | (std::uint32_t{q[1]} << 16) | (std::uint32_t{q[2]} << 8) | q[3];
    };
    const std::uint8_t* udp = ip + ihl;
    const std::size_t ulen = (static_cast<std::size_t>(udp[4]) << 8) | udp[5];
    if (ulen < 8 || ihl + ulen > total) return false;
    out.src = be32(ip + 12);
    out.dst = be32(ip + 16);
    out.sport = static_cast<std::uint16_t>((udp[0] << 8) | udp[1]);
    out.dport = static_cast<std::uint16_t>((udp[2] << 8) | udp[3]);
    out.payload = udp + 8;
    out.length = ulen - 8;
    return true;
}

}  // namespace coapbed::emu
