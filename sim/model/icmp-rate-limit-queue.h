// A device transmit queue that rate-limits the ICMP errors its node sends, per destination,
// the way a Linux host does (net.ipv4.icmp_ratelimit = 1000 ms: a token bucket per
// destination with room for 6 messages; RFC 1812 §4.3.2.8 asks routers to limit them).
// ns-3's Icmpv4L4Protocol has no limit, so a node that receives a flood of datagrams for
// closed ports answers each with a port-unreachable; a real host would not. Every other
// packet passes as through the DropTailQueue it replaces.
#ifndef COAPBED_ICMP_RATE_LIMIT_QUEUE_H
#define COAPBED_ICMP_RATE_LIMIT_QUEUE_H

#include <map>

#include "ns3/drop-tail-queue.h"
#include "ns3/ipv4-address.h"
#include "ns3/nstime.h"
#include "ns3/packet.h"

namespace ns3 {

class IcmpRateLimitQueue : public DropTailQueue<Packet> {
public:
    static TypeId GetTypeId();
    IcmpRateLimitQueue() = default;
    bool Enqueue(Ptr<Packet> item) override;
    /// ICMP error messages this queue refused.
    uint64_t GetIcmpLimited() const { return m_limited; }

private:
    Time m_interval;   ///< the time one message costs
    uint32_t m_burst;  ///< messages the bucket holds
    struct Bucket {
        Time tokens;  ///< credit, at most m_burst x m_interval
        Time last;
    };
    std::map<Ipv4Address, Bucket> m_buckets;  ///< one per destination (bounded by the addresses in a simulation)
    uint64_t m_limited = 0;
};

}  // namespace ns3

#endif
