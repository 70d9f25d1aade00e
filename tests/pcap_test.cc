// The benchmark's pcap reader (bench/pcap.cc): which UDP payloads it keeps.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../bench/lowpan.h"
#include "../bench/pcap.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

// push_back rather than insert: g++ 12 warns falsely (-Warray-bounds) on small inserts.
void append(Bytes& b, const Bytes& x) {
    for (std::uint8_t c : x) b.push_back(c);
}
void put16(Bytes& b, unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
void put32le(Bytes& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put32be(Bytes& b, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

Bytes udp(unsigned src, unsigned dst, const Bytes& payload) {
    Bytes u;
    put16(u, src);
    put16(u, dst);
    put16(u, static_cast<unsigned>(8 + payload.size()));
    put16(u, 0);
    append(u, payload);
    return u;
}
Bytes ipv4(const Bytes& l4, unsigned frag = 0, std::uint8_t proto = 17) {
    Bytes ip = {0x45, 0};
    put16(ip, static_cast<unsigned>(20 + l4.size()));
    put16(ip, 1);
    put16(ip, frag);
    ip.push_back(64);
    ip.push_back(proto);
    put16(ip, 0);
    for (int i = 0; i < 8; ++i) ip.push_back(static_cast<std::uint8_t>(10 + i));
    append(ip, l4);
    return ip;
}
Bytes ipv6(const Bytes& l4) {
    Bytes ip = {0x60, 0, 0, 0};
    put16(ip, static_cast<unsigned>(l4.size()));
    ip.push_back(17);
    ip.push_back(64);
    append(ip, Bytes(32, 0x20));
    append(ip, l4);
    return ip;
}

// A pcap file: header then one record per frame, little- or big-endian.
std::string write_pcap(const std::string& name, std::uint32_t link, const std::vector<Bytes>& frames, bool big,
                       std::size_t cut_last = 0) {
    auto put32 = big ? put32be : put32le;
    Bytes f;
    put32(f, 0xa1b2c3d4);
    put32(f, 0);  // version (not read)
    put32(f, 0);
    put32(f, 0);
    put32(f, 65535);
    put32(f, link);
    for (const Bytes& fr : frames) {
        put32(f, 1);
        put32(f, 0);
        put32(f, static_cast<std::uint32_t>(fr.size()));
        put32(f, static_cast<std::uint32_t>(fr.size()));
        append(f, fr);
    }
    f.resize(f.size() - cut_last);
    const std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
    return path;
}

Bytes ppp(const Bytes& ip, unsigned proto = 0x0021) {
    Bytes b;
    put16(b, proto);
    append(b, ip);
    return b;
}

}  // namespace

TEST(PcapReader, KeepsUdpPayloadsOfThePortOnPppLinks) {
    const Bytes a = {0x40, 0x01, 0x12, 0x34}, b = {0x60, 0x00, 0x12, 0x34}, c = {0x50, 0x45, 0x00, 0x01, 0xff, 1};
    for (bool big : {false, true}) {
        const std::string path = write_pcap("ppp.pcap", 9,
                                            {ppp(ipv4(udp(40000, 5683, a))),           // kept
                                             ppp(ipv4(udp(53, 40000, {1, 2, 3}))),     // another port
                                             ppp(ipv4(udp(5683, 40000, b))),           // kept (source port)
                                             ppp(ipv4(udp(40000, 5683, a), 0x2000)),   // a first fragment
                                             ppp(ipv4(udp(40000, 5683, a), 0, 6)),     // not UDP
                                             ppp(ipv6(udp(40000, 5683, c)), 0x0057),   // IPv6: kept
                                             ppp(ipv4(udp(40000, 5683, a)))},          // cut short: dropped
                                            big, 3);
        const auto r = coapbed::bench::read_udp_payloads(path, 5683);
        EXPECT_TRUE(r.error.empty()) << r.error;
        ASSERT_EQ(r.payloads.size(), 3u) << (big ? "big-endian" : "little-endian");
        EXPECT_EQ(r.payloads[0], a);
        EXPECT_EQ(r.payloads[1], b);
        EXPECT_EQ(r.payloads[2], c);
    }
}

TEST(PcapReader, EthernetWithAVlanTagAndRawIp) {
    const Bytes a = {0x40, 0x01, 0, 7};
    Bytes eth(12, 0xaa);
    put16(eth, 0x8100);
    put16(eth, 5);
    put16(eth, 0x86dd);
    const Bytes v6 = ipv6(udp(5683, 5683, a));
    append(eth, v6);
    auto r = coapbed::bench::read_udp_payloads(write_pcap("eth.pcap", 1, {eth}, false), 5683);
    ASSERT_EQ(r.payloads.size(), 1u) << r.error;
    EXPECT_EQ(r.payloads[0], a);
    r = coapbed::bench::read_udp_payloads(write_pcap("raw.pcap", 101, {ipv4(udp(1, 5683, a))}, false), 5683);
    ASSERT_EQ(r.payloads.size(), 1u) << r.error;
}

TEST(PcapReader, ErrorsNameTheFile) {
    EXPECT_NE(coapbed::bench::read_udp_payloads("/nonexistent.pcap", 5683).error.find("/nonexistent.pcap"),
              std::string::npos);
    const std::string token_ring = write_pcap("token-ring.pcap", 6, {}, false);
    EXPECT_NE(coapbed::bench::read_udp_payloads(token_ring, 5683).error.find("link type 6"), std::string::npos);
    const std::string none = write_pcap("none.pcap", 9, {ppp(ipv4(udp(1, 2, {0})))}, false);
    EXPECT_NE(coapbed::bench::read_udp_payloads(none, 5683).error.find("no UDP datagram"), std::string::npos);
}

namespace {

// IEEE 802.15.4-2006 FCS (ITU-T CRC-16, reflected, initial 0), written out here so that
// the frames below do not depend on the reader's own; the capture test checks both
// against what ns-3 wrote.
void add_fcs(Bytes& f) {
    unsigned crc = 0;
    for (std::uint8_t c : f) {
        for (int b = 0; b < 8; ++b) {
            const unsigned bit = ((c >> b) ^ crc) & 1;
            crc >>= 1;
            if (bit != 0) crc ^= 0x8408;
        }
    }
    f.push_back(static_cast<std::uint8_t>(crc));
    f.push_back(static_cast<std::uint8_t>(crc >> 8));
}

// A 2006 data frame, PAN ID compressed, short addresses, around a 6LoWPAN payload.
Bytes wpan(unsigned src, unsigned dst, std::uint8_t seq, const Bytes& lowpan, bool fcs = true) {
    Bytes f = {0x41, 0x98, seq, 0x34, 0x12};
    f.push_back(static_cast<std::uint8_t>(dst));
    f.push_back(static_cast<std::uint8_t>(dst >> 8));
    f.push_back(static_cast<std::uint8_t>(src));
    f.push_back(static_cast<std::uint8_t>(src >> 8));
    append(f, lowpan);
    if (fcs) add_fcs(f);
    return f;
}

// IPHC (RFC 6282): traffic class and flow label elided, hop limit 64, both addresses
// from the link layer, UDP compressed with both ports and the checksum inline: the
// datagram is 48 header bytes plus the payload.
Bytes iphc_udp(unsigned src_port, unsigned dst_port) {
    Bytes b = {0x7e, 0x33, 0xf0};
    put16(b, src_port);
    put16(b, dst_port);
    put16(b, 0xbeef);
    return b;
}

Bytes frag(bool first, std::size_t size, unsigned tag, std::size_t offset = 0) {
    Bytes b = {static_cast<std::uint8_t>((first ? 0xc0 : 0xe0) | size >> 8), static_cast<std::uint8_t>(size)};
    put16(b, tag);
    if (!first) b.push_back(static_cast<std::uint8_t>(offset / 8));
    return b;
}

Bytes pattern(std::size_t n, std::uint8_t start) {
    Bytes b;
    for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(start + i));
    return b;
}

}  // namespace

TEST(PcapReader, SixLowPanIphcFragmentsAndMacRepeats) {
    const Bytes a = {0x40, 0x01, 0x00, 0x07, 0xb4, 'd', 'a', 't', 'a'};
    const Bytes b = pattern(100, 0x30);  // 148 bytes as a datagram: two fragments
    const Bytes c = {0x60, 0x45, 0x00, 0x07};
    Bytes plain = a;
    Bytes whole = iphc_udp(40000, 5683);
    append(whole, a);
    // b's first fragment: the compressed headers and 48 - 48 + 56 = 56 payload bytes, so
    // that the second starts at datagram offset 104 (a multiple of 8).
    Bytes first = frag(true, 48 + b.size(), 0x0a0b);
    append(first, iphc_udp(5683, 40000));
    append(first, Bytes(b.begin(), b.begin() + 56));
    Bytes second = frag(false, 48 + b.size(), 0x0a0b, 104);
    append(second, Bytes(b.begin() + 56, b.end()));
    Bytes uncompressed = {0x41};
    append(uncompressed, ipv6(udp(5683, 5683, c)));
    Bytes bad_fcs = wpan(3, 1, 9, whole);
    bad_fcs.back() ^= 1;
    for (const std::uint32_t link : {195u, 230u}) {
        const bool fcs = link == 195;
        std::vector<Bytes> frames = {wpan(3, 1, 7, whole, fcs),                // a
                                     wpan(3, 1, 7, whole, fcs),                // the MAC sends it again: skipped
                                     wpan(1, 3, 20, second, fcs),              // b's second fragment first
                                     wpan(3, 1, 8, iphc_udp(1, 2), fcs),       // other ports
                                     wpan(1, 3, 21, first, fcs),               // b complete
                                     wpan(2, 1, 5, uncompressed, fcs)};        // c, uncompressed IPv6
        if (fcs) frames.insert(frames.begin() + 1, bad_fcs);                   // dropped
        const auto r = coapbed::bench::read_udp_payloads(write_pcap("lowpan.pcap", link, frames, false), 5683);
        EXPECT_TRUE(r.error.empty()) << r.error;
        ASSERT_EQ(r.payloads.size(), 3u) << "link " << link;
        EXPECT_EQ(r.payloads[0], a);
        EXPECT_EQ(r.payloads[1], b);
        EXPECT_EQ(r.payloads[2], c);
    }
}

TEST(PcapReader, SixLowPanReassemblyIsBounded) {
    using coapbed::bench::LowpanReader;
    LowpanReader radio;
    std::vector<std::uint8_t> datagram;
    const std::size_t size = 48 + 100;
    auto first = [&](unsigned tag) {
        Bytes f = frag(true, size, tag);
        append(f, iphc_udp(5683, 40000));
        append(f, pattern(56, 0));
        return f;
    };
    auto second = [&](unsigned tag) {
        Bytes f = frag(false, size, tag, 104);
        append(f, pattern(44, 56));
        return f;
    };
    std::uint8_t seq = 0;
    auto feed = [&](const Bytes& lowpan) {
        const Bytes f = wpan(2, 1, seq++, lowpan);
        return radio.frame(f.data(), f.size(), true, datagram);
    };
    const unsigned n = LowpanReader::kMaxReassemblies + 4;
    for (unsigned tag = 0; tag < n; ++tag) EXPECT_FALSE(feed(first(tag)));
    EXPECT_EQ(radio.reassembling(), LowpanReader::kMaxReassemblies);
    EXPECT_FALSE(feed(second(0)));      // its first fragment was evicted: it starts anew
    EXPECT_EQ(radio.reassembling(), LowpanReader::kMaxReassemblies);
    ASSERT_TRUE(feed(second(n - 1)));   // the newest completes
    EXPECT_EQ(datagram.size(), size);
    EXPECT_EQ(radio.reassembling(), LowpanReader::kMaxReassemblies - 1);
    // A fragment reaching past datagram_size drops its datagram.
    Bytes past = frag(false, size, n - 2, 104);
    append(past, pattern(60, 0));
    EXPECT_FALSE(feed(past));
    EXPECT_EQ(radio.reassembling(), LowpanReader::kMaxReassemblies - 2);
    EXPECT_FALSE(feed(second(n - 2)));  // nothing left to complete
    // Headers cut short give nothing (and ASan sees no read past the frame); whole, an
    // empty datagram of 48 header bytes.
    const Bytes header = iphc_udp(5683, 5683);
    for (std::size_t k = 0; k < header.size(); ++k) EXPECT_FALSE(feed(Bytes(header.begin(), header.begin() + k))) << k;
    ASSERT_TRUE(feed(header));
    EXPECT_EQ(datagram.size(), 48u);
}

TEST(PcapReader, SixLowPanCaptureOfTheSimulatorAsWiresharkReadsIt) {
    // tests/fixtures/lowpan/README.md: 200 frames of an ns-3 6LoWPAN run, and the UDP
    // payloads tshark finds in them (fragmented responses reassembled).
    const std::string dir = std::string(COAPBED_FIXTURES) + "/lowpan/";
    const auto r = coapbed::bench::read_udp_payloads(dir + "server.pcap", 5683);
    ASSERT_TRUE(r.error.empty()) << r.error;
    std::ifstream want(dir + "payloads.txt");
    std::vector<std::string> expected;
    for (std::string line; std::getline(want, line);) expected.push_back(line);
    ASSERT_EQ(expected.size(), 21u);
    ASSERT_EQ(r.payloads.size(), expected.size());
    std::size_t fragmented = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        std::string hex;
        for (std::uint8_t c : r.payloads[i]) {
            static constexpr char kHex[] = "0123456789abcdef";
            hex += kHex[c >> 4];
            hex += kHex[c & 15];
        }
        EXPECT_EQ(hex, expected[i]) << "payload " << i;
        fragmented += r.payloads[i].size() > 100;  // more than one 127-byte frame holds
    }
    EXPECT_GE(fragmented, 10u);
}
