// The switched access network (sim/model/access-switch.h): one router interface for any
// number of clients, delivery by IPv4 destination with each link's delay and rate, and
// the bound of every queue. One simulation per TEST (CTest runs each in its own process).
#include <gtest/gtest.h>

#include <map>

#include "ns3/core-module.h"
#include "ns3/inet-socket-address.h"
#include "ns3/internet-stack-helper.h"
#include "ns3/ipv4-static-routing-helper.h"
#include "ns3/ipv4.h"
#include "ns3/packet.h"
#include "ns3/socket.h"
#include "ns3/udp-socket-factory.h"

#include "sim/model/access-switch.h"

namespace {

using namespace ns3;

struct Net {
    Ptr<Node> router;
    NodeContainer clients;
    NetDeviceContainer devices;
    Ipv4InterfaceContainer ifc;
};

Net build(uint32_t clients, const char* rate, Time delay) {
    Net n;
    n.router = CreateObject<Node>();
    n.clients.Create(clients);
    InternetStackHelper stack;
    stack.Install(n.router);
    InternetStackHelper client_stack;
    client_stack.SetRoutingHelper(Ipv4StaticRoutingHelper());
    client_stack.Install(n.clients);
    n.ifc = InstallAccessSwitch(n.router, n.clients, DataRate(rate), delay, "10.128.0.0", "255.128.0.0", n.devices);
    return n;
}

Ptr<Socket> udp(Ptr<Node> node, uint16_t port) {
    Ptr<Socket> s = Socket::CreateSocket(node, UdpSocketFactory::GetTypeId());
    s->Bind(InetSocketAddress(Ipv4Address::GetAny(), port));
    return s;
}

TEST(AccessSwitch, TheRouterHasOneInterfaceWhateverTheNumberOfClients) {
    Net n = build(500, "10Mbps", MilliSeconds(1));
    EXPECT_EQ(n.router->GetObject<Ipv4>()->GetNInterfaces(), 2u);  // loopback + the switch port
    EXPECT_EQ(n.devices.GetN(), 501u);
    EXPECT_EQ(n.devices.Get(0)->GetChannel()->GetNDevices(), 501u);
    EXPECT_EQ(n.ifc.GetAddress(0), Ipv4Address("10.128.0.1"));
    EXPECT_EQ(n.ifc.GetAddress(500), Ipv4Address("10.128.1.245"));
    Simulator::Destroy();
}

TEST(AccessSwitch, RepliesReachTheirSenderOnlyAfterBothLinksDelayAndSerialization) {
    Net n = build(3, "1Mbps", MilliSeconds(10));
    // The router echoes every datagram to its sender.
    Ptr<Socket> echo = udp(n.router, 7);
    echo->SetRecvCallback([](Ptr<Socket> s) {
        Address from;
        while (Ptr<Packet> p = s->RecvFrom(from)) s->SendTo(p, 0, from);
    });
    std::map<uint32_t, std::vector<Time>> got;  // client -> reply times
    std::vector<Ptr<Socket>> socks;
    for (uint32_t i = 0; i < 3; ++i) {
        Ptr<Socket> s = udp(n.clients.Get(i), 5000);
        s->SetRecvCallback([&got, i](Ptr<Socket> sock) {
            while (sock->Recv()) got[i].push_back(Simulator::Now());
        });
        socks.push_back(s);
    }
    // Clients 0 and 2 send 100 bytes of payload at 1 s; client 1 stays silent.
    for (uint32_t i : {0u, 2u}) {
        Simulator::Schedule(Seconds(1), [&socks, &n, i]() {
            socks[i]->SendTo(Create<Packet>(100), 0, InetSocketAddress(n.ifc.GetAddress(0), 7));
        });
    }
    Simulator::Run();
    // 128 bytes (UDP + IPv4 headers) at 1 Mbit/s = 1.024 ms on each link, plus 10 ms each way.
    const Time rtt = MicroSeconds(2 * (1024 + 10000));
    ASSERT_EQ(got[0].size(), 1u);
    ASSERT_EQ(got[2].size(), 1u);
    EXPECT_EQ(got[0][0], Seconds(1) + rtt);
    EXPECT_EQ(got[2][0], Seconds(1) + rtt);
    EXPECT_TRUE(got[1].empty());
    Simulator::Destroy();
}

TEST(AccessSwitch, EachDirectionHoldsAtMostMaxPacketsAndCountsTheRest) {
    Net n = build(1, "100kbps", MilliSeconds(1));
    uint32_t at_router = 0, drops = 0, on_wire = 0;
    Ptr<Socket> sink = udp(n.router, 9);
    sink->SetRecvCallback([&at_router](Ptr<Socket> s) {
        while (s->Recv()) ++at_router;
    });
    auto client_dev = n.devices.Get(1);
    client_dev->TraceConnectWithoutContext("Drop", Callback<void, Ptr<const Packet>>([&drops](Ptr<const Packet>) { ++drops; }));
    client_dev->TraceConnectWithoutContext("PhyTxBegin",
                                           Callback<void, Ptr<const Packet>>([&on_wire](Ptr<const Packet>) { ++on_wire; }));
    Ptr<Socket> src = udp(n.clients.Get(0), 5000);
    Simulator::Schedule(Seconds(1), [&]() {
        for (int i = 0; i < 300; ++i) src->SendTo(Create<Packet>(100), 0, InetSocketAddress(n.ifc.GetAddress(0), 9));
    });
    Simulator::Run();
    // MaxPackets (100) waiting behind the one being serialized; the other 199 dropped.
    EXPECT_EQ(on_wire, 101u);
    EXPECT_EQ(at_router, 101u);
    EXPECT_EQ(drops, 199u);
    Simulator::Destroy();
}

TEST(AccessSwitch, ADatagramToAnAddressNoClientHasIsDroppedAndCounted) {
    Net n = build(2, "10Mbps", MilliSeconds(1));
    uint32_t drops = 0, received = 0;
    n.devices.Get(0)->TraceConnectWithoutContext("Drop",
                                                 Callback<void, Ptr<const Packet>>([&drops](Ptr<const Packet>) { ++drops; }));
    for (uint32_t i = 0; i < 2; ++i) {
        udp(n.clients.Get(i), 5000)->SetRecvCallback([&received](Ptr<Socket> s) {
            while (s->Recv()) ++received;
        });
    }
    Ptr<Socket> src = udp(n.router, 6000);
    Simulator::Schedule(Seconds(1), [&]() {
        src->SendTo(Create<Packet>(10), 0, InetSocketAddress("10.128.0.77", 5000));  // in the subnet, nobody
        src->SendTo(Create<Packet>(10), 0, InetSocketAddress(n.ifc.GetAddress(2), 5000));
    });
    Simulator::Run();
    EXPECT_EQ(drops, 1u);
    EXPECT_EQ(received, 1u);
    Simulator::Destroy();
}

}  // namespace
