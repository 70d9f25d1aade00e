// UDP payloads from a classic pcap file, for benchmark mixes sampled from captures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coapbed::bench {

struct PcapPayloads {
    std::vector<std::vector<std::uint8_t>> payloads;  ///< in capture order
    std::string error;                                ///< empty when the file was read
};

/// Every UDP payload to or from `port` in the pcap file at `path` (microsecond or
/// nanosecond, either byte order). Links: Ethernet (1, with one 802.1Q tag at most),
/// PPP (9), raw IP (101, 228, 229), IEEE 802.15.4 with 6LoWPAN (195 with FCS, 230
/// without; see LowpanReader: its fragments are reassembled). IPv4 fragments and IPv6
/// extension headers are skipped; so are truncated records (a payload longer than what
/// was captured).
PcapPayloads read_udp_payloads(const std::string& path, std::uint16_t port);

}  // namespace coapbed::bench
