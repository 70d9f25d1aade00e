#include "icmp-rate-limit-queue.h"

#include "ns3/simulator.h"
#include "ns3/uinteger.h"

namespace ns3 {

NS_OBJECT_ENSURE_REGISTERED(IcmpRateLimitQueue);

TypeId IcmpRateLimitQueue::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::IcmpRateLimitQueue")
            .SetParent<DropTailQueue<Packet>>()
            .SetGroupName("Network")
            .AddConstructor<IcmpRateLimitQueue>()
            .AddAttribute("Interval", "Time between ICMP errors to one destination (Linux icmp_ratelimit).",
                          TimeValue(Seconds(1)), MakeTimeAccessor(&IcmpRateLimitQueue::m_interval), MakeTimeChecker())
            .AddAttribute("Burst", "ICMP errors one destination may get at once (Linux XRLIM_BURST_FACTOR).",
                          UintegerValue(6), MakeUintegerAccessor(&IcmpRateLimitQueue::m_burst),
                          MakeUintegerChecker<uint32_t>(1));
    return tid;
}

bool IcmpRateLimitQueue::Enqueue(Ptr<Packet> item) {
    // The device queues PPP frames: 2 bytes of PPP, the IPv4 header (RFC 791), then for
    // ICMP (protocol 1) its type: 3 destination unreachable, 11 time exceeded, 12 parameter problem.
    uint8_t head[2 + 60 + 1];
    const uint32_t n = item->CopyData(head, sizeof head);
    if (n >= 2 + 20 + 1 && (head[2] >> 4) == 4 && head[2 + 9] == 1) {
        const uint32_t ihl = (head[2] & 0x0f) * 4u;
        const uint8_t type = 2 + ihl < n ? head[2 + ihl] : 0;
        if (type == 3 || type == 11 || type == 12) {
            const Ipv4Address dst = Ipv4Address::Deserialize(head + 2 + 16);
            const Time now = Simulator::Now();
            const Time cap = m_interval * static_cast<int64_t>(m_burst);
            auto [it, fresh] = m_buckets.try_emplace(dst, Bucket{cap, now});
            Bucket& b = it->second;
            if (!fresh) b.tokens = std::min(cap, b.tokens + (now - b.last));
            b.last = now;
            if (b.tokens < m_interval) {
                ++m_limited;  // not a congestion drop: no Drop trace
                return false;
            }
            b.tokens -= m_interval;
        }
    }
    return DropTailQueue<Packet>::Enqueue(item);
}

}  // namespace ns3
