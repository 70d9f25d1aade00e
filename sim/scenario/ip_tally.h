// IpTally: the run's IP totals (runs.csv's ip_packets and ip_bytes, the run JSON's
// flowmon), counted at every node's IP layer.
#pragma once

#include <cstdint>
#include <ostream>
#include <unordered_set>

#include "ns3/ipv4-header.h"
#include "ns3/ipv4-l3-protocol.h"
#include "ns3/ipv6-header.h"
#include "ns3/ipv6-l3-protocol.h"
#include "ns3/node-container.h"
#include "ns3/packet.h"
#include "ns3/tag.h"

namespace coapbed::sim {

using ns3::Ipv4Header;
using ns3::Ipv4L3Protocol;
using ns3::Ipv6Header;
using ns3::Ipv6L3Protocol;
using ns3::MakeCallback;
using ns3::NodeContainer;
using ns3::Packet;
using ns3::Ptr;
using ns3::Tag;
using ns3::TagBuffer;
using ns3::TypeId;

/// Marks a datagram where IpTally saw it leave. A byte tag, so that it survives 6LoWPAN
/// fragmentation and reassembly (a packet's uid does not).
class IpTallyTag : public Tag {
public:
    static TypeId GetTypeId() {
        static TypeId tid = TypeId("coapbed::IpTallyTag").SetParent<Tag>().AddConstructor<IpTallyTag>();
        return tid;
    }
    TypeId GetInstanceTypeId() const override { return GetTypeId(); }
    uint32_t GetSerializedSize() const override { return 8; }
    void Serialize(TagBuffer b) const override { b.WriteU64(id); }
    void Deserialize(TagBuffer b) override { id = b.ReadU64(); }
    void Print(std::ostream& os) const override { os << "ip-tally=" << id; }
    uint64_t id = 0;
};

/// UDP and TCP datagrams sent and delivered at the IP layer of every node, counted as
/// ns-3's FlowMonitor counts them: sent where they originate (SendOutgoing), delivered
/// once, where they first arrive, and only if they were seen leaving (datagrams an
/// attacker injects below IP are not), IP header included. Hooked to each node's IP
/// protocol directly: a FlowMonitor resolves a Config path per probe, which costs
/// O(nodes^2) to set up. The set of datagrams in flight is the one table; it holds at
/// most the datagrams sent and not yet delivered (lost ones stay until the run ends).
class IpTally {
public:
    void Attach(const NodeContainer& nodes) {
        for (uint32_t i = 0; i < nodes.GetN(); ++i) {
            if (auto ip = nodes.Get(i)->GetObject<Ipv4L3Protocol>()) {
                ip->TraceConnectWithoutContext("SendOutgoing", MakeCallback(&IpTally::Sent4, this));
                ip->TraceConnectWithoutContext("LocalDeliver", MakeCallback(&IpTally::Delivered4, this));
            }
            if (auto ip = nodes.Get(i)->GetObject<Ipv6L3Protocol>()) {
                ip->TraceConnectWithoutContext("SendOutgoing", MakeCallback(&IpTally::Sent6, this));
                ip->TraceConnectWithoutContext("LocalDeliver", MakeCallback(&IpTally::Delivered6, this));
            }
        }
    }
    uint64_t tx_packets = 0, tx_bytes = 0, rx_packets = 0, rx_bytes = 0;
    uint64_t in_flight() const { return in_flight_.size(); }

private:
    static bool Counted(uint8_t protocol) { return protocol == 17 || protocol == 6; }  // UDP, TCP
    void Sent(Ptr<const Packet> p, uint64_t bytes) {
        IpTallyTag tag;
        tag.id = ++next_id_;
        p->AddByteTag(tag);
        ++tx_packets;
        tx_bytes += bytes;
        in_flight_.insert(tag.id);
    }
    void Delivered(Ptr<const Packet> p, uint64_t bytes) {
        IpTallyTag tag;
        // Not seen leaving (injected below IP), or a group datagram's later copy.
        if (!p->FindFirstMatchingByteTag(tag) || in_flight_.erase(tag.id) == 0) return;
        ++rx_packets;
        rx_bytes += bytes;
    }
    void Sent4(const Ipv4Header& h, Ptr<const Packet> p, uint32_t) {
        if (Counted(h.GetProtocol()) && h.GetFragmentOffset() == 0) Sent(p, p->GetSize() + h.GetSerializedSize());
    }
    void Delivered4(const Ipv4Header& h, Ptr<const Packet> p, uint32_t) {
        if (Counted(h.GetProtocol())) Delivered(p, p->GetSize() + h.GetSerializedSize());
    }
    void Sent6(const Ipv6Header& h, Ptr<const Packet> p, uint32_t) {
        if (Counted(h.GetNextHeader())) Sent(p, p->GetSize() + h.GetSerializedSize());
    }
    void Delivered6(const Ipv6Header& h, Ptr<const Packet> p, uint32_t) {
        if (Counted(h.GetNextHeader())) Delivered(p, p->GetSize() + h.GetSerializedSize());
    }
    uint64_t next_id_ = 0;
    std::unordered_set<uint64_t> in_flight_;
};

}  // namespace coapbed::sim
