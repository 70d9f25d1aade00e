#include "access-switch.h"

#include "ns3/ipv4-address-helper.h"
#include "ns3/ipv4-header.h"
#include "ns3/ipv4-static-routing-helper.h"
#include "ns3/ipv4.h"
#include "ns3/net-device-queue-interface.h"
#include "ns3/log.h"
#include "ns3/node.h"
#include "ns3/packet.h"
#include "ns3/pointer.h"
#include "ns3/simulator.h"
#include "ns3/uinteger.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("AccessSwitch");
NS_OBJECT_ENSURE_REGISTERED(AccessSwitchNetDevice);
NS_OBJECT_ENSURE_REGISTERED(AccessSwitchChannel);

TypeId AccessSwitchNetDevice::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::AccessSwitchNetDevice")
            .SetParent<NetDevice>()
            .SetGroupName("Coapbed")
            .AddConstructor<AccessSwitchNetDevice>()
            .AddAttribute("DataRate", "The rate of this client's link, in both directions (the hub's is unlimited)",
                          DataRateValue(DataRate("10Mbps")), MakeDataRateAccessor(&AccessSwitchNetDevice::m_rate),
                          MakeDataRateChecker())
            .AddAttribute("MaxPackets", "Packets a direction of the link holds waiting behind the one on the wire",
                          UintegerValue(100), MakeUintegerAccessor(&AccessSwitchNetDevice::m_maxPackets),
                          MakeUintegerChecker<uint32_t>(1))
            .AddTraceSource("PhyTxBegin", "A packet starts on the wire (either direction of a client's link)",
                            MakeTraceSourceAccessor(&AccessSwitchNetDevice::m_phyTxBegin),
                            "ns3::Packet::TracedCallback")
            .AddTraceSource("Drop", "A packet dropped: a full queue, or no client has its destination",
                            MakeTraceSourceAccessor(&AccessSwitchNetDevice::m_drop), "ns3::Packet::TracedCallback");
    return tid;
}

AccessSwitchNetDevice::AccessSwitchNetDevice() : m_address(Mac48Address::Allocate()), m_maxPackets(100) {}

void AccessSwitchNetDevice::DoDispose() {
    m_channel = nullptr;
    m_node = nullptr;
    m_up.queue.clear();
    m_down.queue.clear();
    m_rx = MakeNullCallback<bool, Ptr<NetDevice>, Ptr<const Packet>, uint16_t, const Address&>();
    NetDevice::DoDispose();
}

void AccessSwitchNetDevice::Attach(Ptr<AccessSwitchChannel> channel, bool hub) {
    m_channel = channel;
    m_hub = hub;
    channel->Attach(this);
}

Ptr<Channel> AccessSwitchNetDevice::GetChannel() const { return m_channel; }

bool AccessSwitchNetDevice::SetMtu(const uint16_t mtu) {
    m_mtu = mtu;
    return true;
}

bool AccessSwitchNetDevice::Send(Ptr<Packet> packet, const Address&, uint16_t protocol) {
    if (!m_channel) return false;
    if (m_hub) {
        // The switch port toward the client queues and serializes it.
        if (m_channel->FromHub(packet, protocol, m_address)) return true;
        m_drop(packet);
        return false;
    }
    Enqueue(m_up, true, packet, protocol, m_address);
    return true;
}

void AccessSwitchNetDevice::SwitchPortSend(Ptr<Packet> p, uint16_t protocol, Mac48Address from) {
    Enqueue(m_down, false, p, protocol, from);
}

void AccessSwitchNetDevice::Enqueue(Direction& d, bool up, Ptr<Packet> p, uint16_t protocol, Mac48Address from) {
    // Drop-tail: MaxPackets waiting, plus the one being serialized (at the front).
    if (d.queue.size() > m_maxPackets) {
        m_drop(p);
        return;
    }
    d.queue.push_back({p, protocol, from});
    if (!d.busy) StartNext(d, up);
}

void AccessSwitchNetDevice::StartNext(Direction& d, bool up) {
    if (d.queue.empty()) {
        d.busy = false;
        return;
    }
    d.busy = true;
    const Ptr<Packet>& p = d.queue.front().packet;
    m_phyTxBegin(p);
    Simulator::Schedule(m_rate.CalculateBytesTxTime(p->GetSize()), &AccessSwitchNetDevice::TransmitDone, this, up);
}

void AccessSwitchNetDevice::TransmitDone(bool up) {
    Direction& d = up ? m_up : m_down;
    if (d.queue.empty()) return;  // disposed meanwhile
    Queued q = d.queue.front();
    d.queue.pop_front();
    if (up) {
        m_channel->FromClient(q.packet, q.protocol, q.from);
    } else {
        Simulator::ScheduleWithContext(m_node->GetId(), m_channel->GetDelay(), &AccessSwitchNetDevice::Receive, this,
                                       q.packet, q.protocol, q.from);
    }
    StartNext(d, up);
}

void AccessSwitchNetDevice::Receive(Ptr<Packet> p, uint16_t protocol, Mac48Address from) {
    if (!m_rx.IsNull()) m_rx(this, p, protocol, from);
}

TypeId AccessSwitchChannel::GetTypeId() {
    static TypeId tid = TypeId("ns3::AccessSwitchChannel")
                            .SetParent<Channel>()
                            .SetGroupName("Coapbed")
                            .AddConstructor<AccessSwitchChannel>()
                            .AddAttribute("Delay", "One-way propagation delay of every client's link",
                                          TimeValue(MilliSeconds(1)), MakeTimeAccessor(&AccessSwitchChannel::m_delay),
                                          MakeTimeChecker());
    return tid;
}

void AccessSwitchChannel::Attach(Ptr<AccessSwitchNetDevice> device) {
    NS_ASSERT_MSG(m_devices.empty() == device->IsHub(), "the hub is attached first, and only it");
    m_devices.push_back(device);
}

void AccessSwitchChannel::AddClientAddress(Ipv4Address address, Ptr<AccessSwitchNetDevice> client) {
    m_byAddress[address.Get()] = client;
}

void AccessSwitchChannel::FromClient(Ptr<Packet> p, uint16_t protocol, Mac48Address from) {
    Ptr<AccessSwitchNetDevice> hub = m_devices.front();
    Simulator::ScheduleWithContext(hub->GetNode()->GetId(), m_delay, &AccessSwitchNetDevice::Receive, hub, p, protocol,
                                   from);
}

bool AccessSwitchChannel::FromHub(Ptr<Packet> p, uint16_t protocol, Mac48Address from) {
    Ipv4Header ip;
    if (protocol != 0x0800 || p->PeekHeader(ip) == 0) return false;
    auto it = m_byAddress.find(ip.GetDestination().Get());
    if (it == m_byAddress.end()) return false;  // broadcast, multicast, nobody
    it->second->SwitchPortSend(p, protocol, from);
    return true;
}

Ipv4InterfaceContainer InstallAccessSwitch(Ptr<Node> router, const NodeContainer& clients, DataRate rate, Time delay,
                                           Ipv4Address base, Ipv4Mask mask, NetDeviceContainer& devices) {
    auto channel = CreateObject<AccessSwitchChannel>();
    channel->SetAttribute("Delay", TimeValue(delay));
    NetDeviceContainer added;
    auto add = [&](Ptr<Node> node, bool hub) {
        auto dev = CreateObject<AccessSwitchNetDevice>();
        dev->SetAttribute("DataRate", DataRateValue(rate));
        // The traffic-control layer expects one on every device it may put a queue disc on.
        dev->AggregateObject(CreateObject<NetDeviceQueueInterface>());
        node->AddDevice(dev);
        dev->Attach(channel, hub);
        added.Add(dev);
    };
    add(router, true);
    for (uint32_t i = 0; i < clients.GetN(); ++i) add(clients.Get(i), false);
    Ipv4AddressHelper addr;
    addr.SetBase(base, mask);
    const Ipv4InterfaceContainer ifc = addr.Assign(added);
    Ipv4StaticRoutingHelper routing;
    for (uint32_t i = 0; i < clients.GetN(); ++i) {
        channel->AddClientAddress(ifc.GetAddress(i + 1), DynamicCast<AccessSwitchNetDevice>(added.Get(i + 1)));
        Ptr<Ipv4> ip = clients.Get(i)->GetObject<Ipv4>();
        routing.GetStaticRouting(ip)->SetDefaultRoute(ifc.GetAddress(0), ip->GetInterfaceForDevice(added.Get(i + 1)));
    }
    devices.Add(added);
    return ifc;
}

}  // namespace ns3
