#include "pcap.h"

#include <fstream>
#include <iterator>

#include "lowpan.h"

namespace coapbed::bench {

namespace {

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

// The UDP payload of an IP packet, or nothing.
bool udp_payload(const std::uint8_t* ip, std::size_t len, std::uint16_t port, std::vector<std::uint8_t>& out) {
    if (len < 1) return false;
    const std::uint8_t* udp = nullptr;
    std::size_t left = 0;
    if ((ip[0] >> 4) == 4) {
        const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
        if (len < 20 || ihl < 20 || len < ihl || ip[9] != 17) return false;
        if ((be16(ip + 6) & 0x3fff) != 0) return false;  // a fragment (MF or an offset)
        const std::size_t total = be16(ip + 2);
        if (total < ihl || total > len) return false;
        udp = ip + ihl;
        left = total - ihl;
    } else if ((ip[0] >> 4) == 6) {
        if (len < 40 || ip[6] != 17) return false;
        const std::size_t payload = be16(ip + 4);
        if (payload > len - 40) return false;
        udp = ip + 40;
        left = payload;
    } else {
        return false;
    }
    if (left < 8) return false;
    const std::size_t udp_len = be16(udp + 4);
    if (udp_len < 8 || udp_len > left) return false;
    if (be16(udp) != port && be16(udp + 2) != port) return false;
    out.assign(udp + 8, udp + udp_len);
    return true;
}

}  // namespace

PcapPayloads read_udp_payloads(const std::string& path, std::uint16_t port) {
    PcapPayloads r;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        r.error = "cannot open " + path;
        return r;
    }
    const std::vector<std::uint8_t> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (d.size() < 24) {
        r.error = path + ": not a pcap file (shorter than its header)";
        return r;
    }
    const std::uint32_t magic = static_cast<std::uint32_t>(d[0]) | d[1] << 8 | d[2] << 16 | static_cast<std::uint32_t>(d[3]) << 24;
    bool swap;
    if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
        swap = false;  // written little-endian, as read
    } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
        swap = true;
    } else {
        r.error = path + ": not a classic pcap file (pcapng is not read)";
        return r;
    }
    auto u32 = [&](std::size_t at) {
        const std::uint32_t le = static_cast<std::uint32_t>(d[at]) | d[at + 1] << 8 | d[at + 2] << 16 |
                                 static_cast<std::uint32_t>(d[at + 3]) << 24;
        return swap ? __builtin_bswap32(le) : le;
    };
    const std::uint32_t link = u32(20);
    // IEEE 802.15.4 with FCS (195, what ns-3's LrWpan writes) or without (230).
    const bool lowpan = link == 195 || link == 230;
    if (link != 1 && link != 9 && link != 101 && link != 228 && link != 229 && !lowpan) {
        r.error = path + ": link type " + std::to_string(link) + " is not read";
        return r;
    }
    LowpanReader radio;
    std::vector<std::uint8_t> datagram;
    std::size_t at = 24;
    while (at + 16 <= d.size()) {
        const std::size_t caplen = u32(at + 8);
        at += 16;
        if (caplen > d.size() - at) break;  // a truncated last record
        const std::uint8_t* frame = d.data() + at;
        std::size_t len = caplen;
        at += caplen;
        if (link == 1) {
            if (len < 14) continue;
            std::size_t off = 12;
            if (be16(frame + off) == 0x8100 && len >= 18) off += 4;  // one 802.1Q tag
            const std::uint16_t type = be16(frame + off);
            if (type != 0x0800 && type != 0x86dd) continue;
            frame += off + 2;
            len -= off + 2;
        } else if (link == 9) {
            std::size_t off = 0;
            if (len >= 2 && frame[0] == 0xff && frame[1] == 0x03) off = 2;  // HDLC address and control
            if (len < off + 2) continue;
            const std::uint16_t proto = be16(frame + off);
            if (proto != 0x0021 && proto != 0x0057) continue;
            frame += off + 2;
            len -= off + 2;
        } else if (lowpan) {
            if (!radio.frame(frame, len, link == 195, datagram)) continue;
            frame = datagram.data();
            len = datagram.size();
        }
        std::vector<std::uint8_t> payload;
        if (udp_payload(frame, len, port, payload)) r.payloads.push_back(std::move(payload));
    }
    if (r.payloads.empty()) r.error = path + ": no UDP datagram to or from port " + std::to_string(port);
    return r;
}

}  // namespace coapbed::bench
