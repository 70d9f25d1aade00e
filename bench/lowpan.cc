#include "lowpan.h"

namespace coapbed::bench {

namespace {

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
void put16(std::vector<std::uint8_t>& b, std::size_t at, std::size_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}

// IEEE 802.15.4-2006 §7.2.1.9: the FCS is the ITU-T CRC-16 (x^16 + x^12 + x^5 + 1,
// initial value 0), bits taken least significant first, sent low byte first.
std::uint16_t fcs16(const std::uint8_t* p, std::size_t n) {
    std::uint16_t crc = 0;
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int b = 0; b < 8; ++b) crc = (crc & 1) != 0 ? static_cast<std::uint16_t>((crc >> 1) ^ 0x8408) : crc >> 1;
    }
    return crc;
}

// The plain header an IPHC header (RFC 6282 §3.1) stands for: a 40-byte IPv6 header, and
// the 8-byte UDP header when UDP is compressed too (RFC 6282 §4.3), put in `out` with
// zero lengths (set_lengths fills them). Returns the bytes of `p` the compressed headers
// take, or 0 for one this reader does not expand (a reserved mode, an IPv6 extension
// header compressed with NHC, too short).
std::size_t expand_iphc(const std::uint8_t* p, std::size_t n, std::vector<std::uint8_t>& out) {
    if (n < 2) return 0;
    const std::uint8_t a = p[0], b = p[1];
    std::size_t at = 2;
    if ((b & 0x80) != 0) ++at;  // CID: a context identifier byte (§3.1.2)
    static constexpr std::uint8_t kTrafficClass[4] = {4, 3, 1, 0};  // TF: inline bytes
    at += kTrafficClass[(a >> 3) & 3];
    const bool nh_compressed = (a & 0x04) != 0;
    std::uint8_t next = 0;
    if (!nh_compressed) {
        if (at >= n) return 0;
        next = p[at++];
    }
    std::uint8_t hops;
    switch (a & 3) {  // HLIM
        case 0:
            if (at >= n) return 0;
            hops = p[at++];
            break;
        case 1: hops = 1; break;
        case 2: hops = 64; break;
        default: hops = 255; break;
    }
    static constexpr std::uint8_t kUnicast[4] = {16, 8, 2, 0};   // SAM/DAM: inline bytes
    static constexpr std::uint8_t kMulticast[4] = {16, 6, 4, 1};  // DAM with M=1, DAC=0
    const bool sac = (b & 0x40) != 0, multicast = (b & 0x08) != 0, dac = (b & 0x04) != 0;
    const unsigned sam = (b >> 4) & 3, dam = b & 3;
    at += sac && sam == 0 ? 0 : kUnicast[sam];  // SAC=1, SAM=00: the unspecified address
    if (!multicast) {
        if (dac && dam == 0) return 0;  // reserved
        at += kUnicast[dam];
    } else if (!dac) {
        at += kMulticast[dam];
    } else {
        if (dam != 0) return 0;  // reserved
        at += 6;                 // unicast-prefix-based multicast
    }
    if (at > n) return 0;
    out.assign(40, 0);
    out[0] = 0x60;
    out[6] = next;
    out[7] = hops;
    if (!nh_compressed) return at;
    // RFC 6282 §4.3: UDP is 11110CPP; other next-header compressions are not expanded.
    if (at >= n || (p[at] & 0xf8) != 0xf0) return 0;
    const std::uint8_t udp = p[at++];
    static constexpr std::uint8_t kPorts[4] = {4, 3, 3, 1};
    if (at + kPorts[udp & 3] + ((udp & 0x04) != 0 ? 0 : 2) > n) return 0;
    std::uint16_t src, dst;
    switch (udp & 3) {
        case 0: src = be16(p + at), dst = be16(p + at + 2); break;
        case 1: src = be16(p + at), dst = static_cast<std::uint16_t>(0xf000 | p[at + 2]); break;
        case 2: src = static_cast<std::uint16_t>(0xf000 | p[at]), dst = be16(p + at + 1); break;
        default: src = static_cast<std::uint16_t>(0xf0b0 | p[at] >> 4), dst = static_cast<std::uint16_t>(0xf0b0 | (p[at] & 0x0f)); break;
    }
    at += kPorts[udp & 3];
    out[6] = 17;
    out.resize(48, 0);
    put16(out, 40, src);
    put16(out, 42, dst);
    if ((udp & 0x04) == 0) {  // C = 0: the checksum is inline
        put16(out, 46, be16(p + at));
        at += 2;
    }
    return at;
}

// The IPv6 payload length, and the UDP length when expand_iphc wrote the UDP header
// (RFC 6282 §4.3.3: it is inferred from the IPv6 payload length).
void set_lengths(std::vector<std::uint8_t>& d, std::size_t total) {
    put16(d, 4, total - 40);
    if (d.size() == 48) put16(d, 44, total - 40);
}

}  // namespace

bool LowpanReader::mac_repeat(const Address& src, std::uint8_t seq) {
    for (LastSeq& l : last_) {
        if (l.src == src) {
            const bool repeat = l.seq == seq;
            l.seq = seq;
            return repeat;
        }
    }
    if (last_.size() == kMaxSources) last_.erase(last_.begin());
    last_.push_back({src, seq});
    return false;
}

LowpanReader::Partial& LowpanReader::partial(const Address& src, const Address& dst, std::uint16_t size, std::uint16_t tag) {
    // RFC 4944 §5.3: fragments of one datagram share the link-layer source and
    // destination, datagram_size and datagram_tag.
    for (Partial& p : partial_) {
        if (p.src == src && p.dst == dst && p.size == size && p.tag == tag) return p;
    }
    if (partial_.size() == kMaxReassemblies) partial_.erase(partial_.begin());  // the oldest

    Partial p;
    p.src = src;
    p.dst = dst;
    p.size = size;
    p.tag = tag;
    p.bytes.assign(size, 0);
    p.have.assign(size, false);
    partial_.push_back(std::move(p));
    return partial_.back();
}

bool LowpanReader::fill(Partial& p, std::size_t offset, const std::uint8_t* b, std::size_t n,
                        std::vector<std::uint8_t>& datagram) {
    const auto at = partial_.begin() + (&p - partial_.data());
    if (offset > p.size || n > p.size - offset) {  // past datagram_size: the datagram is dropped
        partial_.erase(at);
        return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        p.received += p.have[offset + i] ? 0 : 1;
        p.have[offset + i] = true;
        p.bytes[offset + i] = b[i];
    }
    if (p.received < p.size) return false;
    datagram = std::move(p.bytes);
    partial_.erase(at);
    return true;
}

bool LowpanReader::frame(const std::uint8_t* f, std::size_t len, bool fcs, std::vector<std::uint8_t>& datagram) {
    if (fcs) {
        if (len < 2) return false;
        len -= 2;
        if (fcs16(f, len) != (f[len] | f[len + 1] << 8)) return false;
    }
    // IEEE 802.15.4-2006 §7.2.1: frame control, sequence number, addressing fields.
    if (len < 3) return false;
    const unsigned control = f[0] | f[1] << 8;
    const bool data = (control & 7) == 1, secured = (control & 0x08) != 0, pan_compressed = (control & 0x40) != 0;
    const unsigned dst_mode = (control >> 10) & 3, version = (control >> 12) & 3, src_mode = (control >> 14) & 3;
    if (!data || secured || version > 1 || dst_mode == 1 || src_mode == 1) return false;
    std::size_t at = 3;
    auto address = [&](unsigned mode, bool pan) {
        Address a;
        if (mode == 0) return a;
        at += pan ? 2 : 0;
        const std::size_t k = mode == 2 ? 2 : 8;
        a.mode = static_cast<std::uint8_t>(mode);
        for (std::size_t i = 0; i < k && at + i < len; ++i) a.value |= std::uint64_t{f[at + i]} << (8 * i);
        at += k;
        return a;
    };
    const Address dst = address(dst_mode, true);
    const Address src = address(src_mode, !(pan_compressed && dst_mode != 0));
    if (at > len || mac_repeat(src, f[2])) return false;
    const std::uint8_t* p = f + at;
    std::size_t n = len - at;
    auto skip = [&](std::size_t k) {
        if (k > n) return false;
        p += k;
        n -= k;
        return true;
    };
    // RFC 4944 §5.1: mesh, broadcast and fragment headers, in that order, then the IPv6 header.
    if (n > 0 && (p[0] & 0xc0) == 0x80 && !skip(1 + ((p[0] & 0x20) != 0 ? 2 : 8) + ((p[0] & 0x10) != 0 ? 2 : 8))) return false;
    if (n > 0 && p[0] == 0x50 && !skip(2)) return false;  // LOWPAN_BC0
    const bool first = n >= 4 && (p[0] & 0xf8) == 0xc0, later = n >= 5 && (p[0] & 0xf8) == 0xe0;
    std::uint16_t size = 0, tag = 0;
    if (first || later) {  // RFC 4944 §5.3: FRAG1 and FRAGN
        size = static_cast<std::uint16_t>((p[0] & 0x07) << 8 | p[1]);
        tag = be16(p + 2);
        if (later) {
            const std::size_t offset = std::size_t{p[4]} * 8;  // in units of 8 bytes
            skip(5);
            return fill(partial(src, dst, size, tag), offset, p, n, datagram);
        }
        skip(4);
    }
    // The IPv6 header: uncompressed (RFC 4944 §5.1, IPv6 dispatch) or IPHC (RFC 6282 §3.1).
    std::vector<std::uint8_t> header;
    std::size_t taken = 0;
    if (n > 0 && p[0] == 0x41) {
        taken = 1;
    } else if (n > 0 && (p[0] & 0xe0) == 0x60) {
        taken = expand_iphc(p, n, header);
        if (taken == 0) return false;
    } else {
        return false;  // HC1 (RFC 4944 §10) and everything else
    }
    skip(taken);
    if (!header.empty()) {
        const std::size_t total = first ? size : header.size() + n;
        if (total < header.size()) return false;
        set_lengths(header, total);
    }
    header.insert(header.end(), p, p + n);
    if (!first) {
        datagram = std::move(header);
        return true;
    }
    return fill(partial(src, dst, size, tag), 0, header.data(), header.size(), datagram);
}

}  // namespace coapbed::bench
