// AccessSwitch: a switched access network whose cost per packet does not grow with the
// number of clients (the `[topology] access = "switch"` of the dumbbell).
//
// What it models: every client has its own full-duplex link to a switch (DataRate,
// Delay, a drop-tail queue of MaxPackets in each direction: the client's own transmit
// queue upward, the switch's output port toward the client downward), and the switch
// reaches the router over one port of unlimited rate. The router therefore has ONE
// interface and one subnet for all clients, where point-to-point access gives it one
// interface, one /30 subnet and one route per client; ns-3's IPv4 walks those lists for
// every packet, so a run's cost per exchange grows with the clients (issue #20).
// What it no longer models: the router's per-client output queues (the switch port's
// queue stands for them), link-layer framing (no PPP header: 2 bytes less per packet on
// the access links), ARP (the switch delivers by IPv4 destination), broadcast and
// multicast on the access segment (dropped and counted).
//
// The first device attached is the router's (the hub); the clients' devices follow and
// are found by their IPv4 address (AccessSwitchChannel::AddClientAddress), in O(1).
#ifndef COAPBED_ACCESS_SWITCH_H
#define COAPBED_ACCESS_SWITCH_H

#include <deque>
#include <unordered_map>
#include <vector>

#include "ns3/channel.h"
#include "ns3/data-rate.h"
#include "ns3/ipv4-address.h"
#include "ns3/ipv4-interface-container.h"
#include "ns3/mac48-address.h"
#include "ns3/net-device-container.h"
#include "ns3/net-device.h"
#include "ns3/node-container.h"
#include "ns3/nstime.h"
#include "ns3/traced-callback.h"

namespace ns3 {

class AccessSwitchChannel;

class AccessSwitchNetDevice : public NetDevice {
public:
    static TypeId GetTypeId();
    AccessSwitchNetDevice();

    void Attach(Ptr<AccessSwitchChannel> channel, bool hub);
    bool IsHub() const { return m_hub; }
    /// Downward (switch port -> this client): queued and serialized at this link's rate.
    void SwitchPortSend(Ptr<Packet> p, uint16_t protocol, Mac48Address from);
    /// The end of the propagation delay: the packet reaches this device's node.
    void Receive(Ptr<Packet> p, uint16_t protocol, Mac48Address from);

    // NetDevice
    void SetIfIndex(const uint32_t index) override { m_ifIndex = index; }
    uint32_t GetIfIndex() const override { return m_ifIndex; }
    Ptr<Channel> GetChannel() const override;
    void SetAddress(Address address) override { m_address = Mac48Address::ConvertFrom(address); }
    Address GetAddress() const override { return m_address; }
    bool SetMtu(const uint16_t mtu) override;
    uint16_t GetMtu() const override { return m_mtu; }
    bool IsLinkUp() const override { return m_channel != nullptr; }
    void AddLinkChangeCallback(Callback<void>) override {}
    bool IsBroadcast() const override { return true; }
    Address GetBroadcast() const override { return Mac48Address::GetBroadcast(); }
    bool IsMulticast() const override { return false; }
    Address GetMulticast(Ipv4Address) const override { return Mac48Address::GetBroadcast(); }
    Address GetMulticast(Ipv6Address) const override { return Mac48Address::GetBroadcast(); }
    bool IsBridge() const override { return false; }
    bool IsPointToPoint() const override { return false; }
    bool Send(Ptr<Packet> packet, const Address& dest, uint16_t protocol) override;
    bool SendFrom(Ptr<Packet>, const Address&, const Address&, uint16_t) override { return false; }
    Ptr<Node> GetNode() const override { return m_node; }
    void SetNode(Ptr<Node> node) override { m_node = node; }
    bool NeedsArp() const override { return false; }
    void SetReceiveCallback(ReceiveCallback cb) override { m_rx = cb; }
    void SetPromiscReceiveCallback(PromiscReceiveCallback) override {}
    bool SupportsSendFrom() const override { return false; }

protected:
    void DoDispose() override;

private:
    struct Queued {
        Ptr<Packet> packet;
        uint16_t protocol;
        Mac48Address from;
    };
    /// One direction of this device's link: a drop-tail queue and a transmitter.
    struct Direction {
        std::deque<Queued> queue;
        bool busy = false;
    };
    void Enqueue(Direction& d, bool up, Ptr<Packet> p, uint16_t protocol, Mac48Address from);
    void StartNext(Direction& d, bool up);
    void TransmitDone(bool up);

    Ptr<AccessSwitchChannel> m_channel;
    Ptr<Node> m_node;
    Mac48Address m_address;
    uint32_t m_ifIndex = 0;
    uint16_t m_mtu = 1500;
    bool m_hub = false;
    DataRate m_rate;
    uint32_t m_maxPackets;
    Direction m_up, m_down;
    NetDevice::ReceiveCallback m_rx;
    TracedCallback<Ptr<const Packet>> m_phyTxBegin;
    TracedCallback<Ptr<const Packet>> m_drop;
};

class AccessSwitchChannel : public Channel {
public:
    static TypeId GetTypeId();

    void Attach(Ptr<AccessSwitchNetDevice> device);
    /// Packets to `address` go down the link of `client` (after it got that address).
    void AddClientAddress(Ipv4Address address, Ptr<AccessSwitchNetDevice> client);
    /// From a client, after its link serialized `p`: the router receives it after Delay.
    void FromClient(Ptr<Packet> p, uint16_t protocol, Mac48Address from);
    /// From the router: to the client that has the IPv4 destination; false if none.
    bool FromHub(Ptr<Packet> p, uint16_t protocol, Mac48Address from);
    Time GetDelay() const { return m_delay; }

    std::size_t GetNDevices() const override { return m_devices.size(); }
    Ptr<NetDevice> GetDevice(std::size_t i) const override { return m_devices[i]; }

private:
    Time m_delay;
    std::vector<Ptr<AccessSwitchNetDevice>> m_devices;  ///< [0] the hub
    std::unordered_map<uint32_t, Ptr<AccessSwitchNetDevice>> m_byAddress;
};

/// Puts `clients` behind an access switch with one port on `router`. Every node needs
/// an IPv4 stack, the clients one with static routing (each gets a default route to the
/// router). Addresses come from `base`/`mask`, the router's first; `devices` gets the
/// router's device then the clients'. Returns the interfaces in the same order.
Ipv4InterfaceContainer InstallAccessSwitch(Ptr<Node> router, const NodeContainer& clients, DataRate rate, Time delay,
                                           Ipv4Address base, Ipv4Mask mask, NetDeviceContainer& devices);

}  // namespace ns3

#endif
