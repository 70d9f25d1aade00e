// IPv6 datagrams out of IEEE 802.15.4 frames carrying 6LoWPAN, for the benchmark's pcap
// reader: what the 6LoWPAN scenario's captures hold (ns-3's LrWpan, pcap link type 195).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace coapbed::bench {

/// Takes 802.15.4 frames in capture order and gives back the IPv6 datagrams they carry.
/// Reads 2003/2006 data frames without security; the 6LoWPAN headers of RFC 4944 (mesh,
/// broadcast, fragmentation, uncompressed IPv6) and RFC 6282 (IPHC, with UDP next-header
/// compression). Compressed headers become a plain IPv6 header (and UDP header) whose
/// lengths, next header and ports are right; its addresses are left zero (only the UDP
/// payload is wanted). Fragments are reassembled per RFC 4944 §5.3. A frame sent again by
/// the MAC (same source and sequence number as that source's last one) is skipped.
class LowpanReader {
public:
    static constexpr std::size_t kMaxReassemblies = 16;  ///< datagrams being reassembled at once
    static constexpr std::size_t kMaxSources = 256;      ///< sources whose last sequence number is kept

    /// One captured frame, with its 2-byte FCS when `fcs` (a frame whose FCS is wrong is
    /// dropped). True when it completes a datagram, then in `datagram`.
    bool frame(const std::uint8_t* f, std::size_t len, bool fcs, std::vector<std::uint8_t>& datagram);
    /// Datagrams with fragments received but not all of them.
    [[nodiscard]] std::size_t reassembling() const { return partial_.size(); }

private:
    struct Address {
        std::uint8_t mode = 0;  // 802.15.4 addressing mode: 2 short, 3 extended
        std::uint64_t value = 0;
        bool operator==(const Address& o) const { return mode == o.mode && value == o.value; }
    };
    struct Partial {
        Address src, dst;
        std::uint16_t size = 0, tag = 0;
        std::vector<std::uint8_t> bytes;    // `size` bytes
        std::vector<bool> have;             // which of them arrived
        std::size_t received = 0;
    };
    struct LastSeq {
        Address src;
        std::uint8_t seq;
    };
    bool mac_repeat(const Address& src, std::uint8_t seq);
    Partial& partial(const Address& src, const Address& dst, std::uint16_t size, std::uint16_t tag);
    bool fill(Partial& p, std::size_t offset, const std::uint8_t* b, std::size_t n, std::vector<std::uint8_t>& datagram);

    std::vector<Partial> partial_;  // in the order their first fragment came, oldest first
    std::vector<LastSeq> last_;
};

}  // namespace coapbed::bench
