// The wire analysis of `coapbed emulate`: what the real programs did, read from the
// datagrams seen on their TAP devices (not from the programs' own output). No ns-3 here.
//
// Exchanges are found as a capture reader would: a request leaving a client namespace is a
// new exchange unless its (client, port, Message ID) was seen before (then it is a
// retransmission, RFC 7252 §4.5); a response entering that namespace completes the open
// exchange of the same port and token (an empty token matches by the ACK's Message ID).
// Block-wise transfers count as one exchange, as the simulated clients count them: a
// request for Block2 NUM > 0, or for Block1 NUM > 0, continues the port's transfer whose
// last response asked for more (Block2 M=1, or 2.31 Continue), RFC 7959 §2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace coapbed::emu {

/// One UDP datagram seen on a namespace's TAP.
struct WireRecord {
    double t = 0;          ///< seconds since the emulation started
    int tap = 0;           ///< -1: the server's namespace; i >= 0: client i's
    bool outbound = false; ///< sent by the namespace (into the simulated network)
    std::uint32_t remote_addr = 0;  ///< the far end's IPv4 address
    std::uint16_t local_port = 0;   ///< the namespace's UDP port
    std::uint16_t remote_port = 0;  ///< the far end's UDP port
    std::vector<std::uint8_t> payload;
};

/// One exchange as seen on its client's TAP.
struct ExchangeFigure {
    int client = 0;
    double start_s = 0;            ///< its first request copy
    double completion_s = -1;      ///< to its last response; -1 when it did not complete
    std::uint32_t messages = 0;    ///< requests it took (blocks)
    std::uint32_t retransmissions = 0;  ///< request copies beyond the first of each
    std::uint32_t request_bytes = 0;    ///< CoAP bytes of its first request
    std::uint32_t response_bytes = 0;   ///< CoAP bytes of the response that ended it
};

struct WireFigures {
    std::uint64_t started = 0;     ///< exchanges (block-wise transfers count once)
    std::uint64_t completed = 0;   ///< ended by a response (any code)
    std::uint64_t reset = 0;       ///< ended by an RST
    std::vector<double> completion_s;  ///< first request copy on the wire -> last response in
    std::uint64_t client_retransmissions = 0;  ///< repeated request copies from the clients
    std::uint64_t server_retransmissions = 0;  ///< repeated CON copies from the server
    std::uint64_t client_bytes = 0;  ///< CoAP bytes the clients sent (UDP payloads)
    std::uint64_t server_bytes = 0;  ///< CoAP bytes the server sent
    std::uint64_t response_payload_bytes = 0;  ///< payload of the responses that ended or continued an exchange
    std::uint64_t not_coap = 0;      ///< datagrams that do not parse as CoAP
    std::vector<std::uint64_t> completed_per_client;
    std::vector<ExchangeFigure> exchanges;  ///< in start order
};

/// `records` in time order; `clients` client TAPs.
[[nodiscard]] WireFigures analyse(const std::vector<WireRecord>& records, int clients);

/// The UDP datagram in an Ethernet II frame carrying IPv4 (what an FdNetDevice on a TAP
/// passes): false for anything else (ARP, IPv6, fragments, other protocols).
struct UdpFrame {
    std::uint32_t src = 0, dst = 0;
    std::uint16_t sport = 0, dport = 0;
    const std::uint8_t* payload = nullptr;
    std::size_t length = 0;
};
[[nodiscard]] bool parse_udp_frame(const std::uint8_t* frame, std::size_t size, UdpFrame& out);

}  // namespace coapbed::emu
