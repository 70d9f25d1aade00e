// The benchmark's pcap reader (bench/pcap.cc): which UDP payloads it keeps.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

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
    const std::string lr = write_pcap("lrwpan.pcap", 195, {}, false);
    EXPECT_NE(coapbed::bench::read_udp_payloads(lr, 5683).error.find("link type 195"), std::string::npos);
    const std::string none = write_pcap("none.pcap", 9, {ppp(ipv4(udp(1, 2, {0})))}, false);
    EXPECT_NE(coapbed::bench::read_udp_payloads(none, 5683).error.find("no UDP datagram"), std::string::npos);
}
