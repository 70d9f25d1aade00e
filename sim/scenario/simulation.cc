#include "sim/scenario/simulation.h"

#include "net/dtls_sim.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_set>

#include "ns3/boolean.h"
#include "ns3/config.h"
#include "ns3/core-module.h"
#include "ns3/inet-socket-address.h"
#include "ns3/inet6-socket-address.h"
#include "ns3/internet-stack-helper.h"
#include "ns3/ipv4-address-helper.h"
#include "ns3/csma-helper.h"
#include "ns3/ipv4-global-routing-helper.h"
#include "ns3/ipv4-l3-protocol.h"
#include "ns3/udp-socket-factory.h"
#include "ns3/ipv6-address-helper.h"
#include "ns3/ipv6-l3-protocol.h"
#include "ns3/tag.h"
#include "ns3/ipv4-static-routing-helper.h"
#include "ns3/ipv6-static-routing-helper.h"
#include "ns3/ipv6-static-routing.h"
#include "ns3/lr-wpan-helper.h"
#include "ns3/lr-wpan-net-device.h"
#include "ns3/lr-wpan-mac.h"
#include "ns3/mobility-helper.h"
#include "ns3/node-list.h"
#include "ns3/point-to-point-helper.h"
#include "ns3/point-to-point-net-device.h"
#include "ns3/queue-size.h"
#include "ns3/error-model.h"
#include "ns3/sixlowpan-helper.h"
#include "ns3/traffic-control-helper.h"

#include "coap/codec/parse_error.h"
#include "sim/helper/coap-helper.h"
#include "sim/model/coap-attacker.h"
#include "sim/model/coap-client.h"
#include "sim/model/coap-proxy.h"
#include "sim/model/icmp-rate-limit-queue.h"
#include "sim/model/coap-server.h"
#include "sim/model/access-switch.h"
#include "sim/scenario/ip_tally.h"
#include "sim/scenario/ledger.h"
#include "sim/model/links.h"

namespace coapbed::sim {

using nlohmann::ordered_json;

ordered_json result_header(const Scenario& scenario, const RunSpec& spec, const SimOptions& options) {
    ordered_json doc;
    doc["id"] = spec.id;
    doc["scenario"] = scenario.name;
    doc["file"] = scenario.file;
    doc["seed"] = spec.seed;
    doc["commit"] = options.commit;
    doc["ns3_version"] = "3.37";
    ordered_json swept = ordered_json::object();
    for (const auto& [k, v] : spec.swept) swept[k] = format_value(v);
    doc["swept"] = swept;
    ordered_json params = ordered_json::object();
    for (const auto& [k, v] : spec.params) {
        std::visit([&](const auto& x) { params[k] = x; }, v);
    }
    doc["params"] = params;
    return doc;
}

const std::vector<std::string>& metric_columns() {
    static const std::vector<std::string> cols = {
        // The contract (issue #4), in this order.
        "exchanges_started", "exchanges_completed", "exchanges_failed", "completion_mean_s", "completion_p50_s",
        "completion_p95_s", "completion_p99_s", "retransmissions", "coap_bytes_sent", "link_bytes", "goodput_bps",
        "jain_fairness", "sim_seconds", "wall_seconds", "events",
        // Extensions.
        "exchanges_unfinished", "exchanges_rejected", "timeouts", "bottleneck_bytes", "queue_drops", "rx_drops",
        "ip_packets", "ip_bytes", "rtt_mean_s",
        // Attacks and defences (issue #5).
        "attacker_packets", "attacker_bytes", "victim_packets", "victim_bytes", "amplification_bytes",
        "amplification_coap", "exchanges_reset", "forged_accepted", "killed_fraction", "echo_challenges",
        "echo_verified", "amplification_dropped", "rate_limited", "observe_refused", "format_errors", "run_id",
        // The forward proxy (issue #18; empty without [proxy]).
        "proxy_requests", "proxy_hits", "proxy_hit_ratio", "upstream_requests", "upstream_saved", "upstream_bytes",
        "origin_requests", "proxy_coalesced", "proxy_gateway_errors",
        // Cache poisoning (attack.vector = "spoofed-separate" or "spoofed-piggybacked").
        "poisoned_accepted", "upstream_live_s", "poison_expected",
        // Forwarding loops (attack.vector = "proxy-loop").
        "loop_injected", "loop_answered", "loop_forwards", "loop_hops_per_request", "loop_5_08", "loop_peak_inflight",
        // Collapse metrics (issue #20): what the simulator knows about every copy.
        "spurious_retransmissions", "tx_necessary_per_exchange", "tx_spurious_per_exchange", "useful_fraction",
        "rtt_samples", "queue_peak",
        // Emulation (issue #22; empty in simulated runs): real-time lag, validity, the commands.
        "rt_lag_p99_ms", "rt_lag_max_ms", "run_valid", "commands_started", "commands_failed",
        // A "global event" burst ([workload] burst, burst_at; empty without one).
        "burst_settling_s", "burst_completed",
        // DTLS ([security] mode other than nosec; empty under NoSec): the clients' handshakes,
        // every datagram of them in both directions, the record bytes beyond the plaintext.
        "handshakes_started", "handshakes_completed", "handshakes_failed", "handshake_p50_s", "handshake_p95_s",
        "handshake_bytes", "dtls_record_overhead_bytes",
        // Through a [proxy]: the clients' completion times of requests it answered from its
        // cache (hits) and of those it sent upstream (misses; PROXY.md §6.10).
        "latency_hit_p50_s", "latency_hit_p95_s", "latency_miss_p50_s", "latency_miss_p95_s",
        // Per-exchange upstream ports ([proxy] upstream_port; empty without [proxy]): the
        // most open at once, and datagrams from upstream dropped for arriving at a port
        // that is not their exchange's (no socket there, or another exchange's).
        "upstream_ports_peak", "upstream_port_drops",
        // Forwarding loops, continued: datagrams between the two proxies per looping
        // request, and how long a looping request lasted for its sender (median, longest).
        "loop_datagrams_per_request", "loop_settle_p50_s", "loop_settle_max_s",
        // [workload] observe: notifications the clients received (empty otherwise).
        "notifications_received",
        // ... and of those, bodies that mix two states of /obs (ground truth; [workload] etag).
        "notifications_mixed"};
    return cols;
}

namespace {

using namespace ns3;

/// Byte and packet counters fed by trace sources.
struct Counters {
    uint64_t link_bytes = 0;
    uint64_t bottleneck_bytes = 0;
    uint64_t queue_drops = 0;
    uint64_t rx_drops = 0;
    uint32_t queue_peak = 0;  ///< most packets in a bottleneck transmit queue
    uint32_t clients_done = 0;
    uint32_t clients_total = 0;
    MessageLedger* ledger = nullptr;
};

void on_phy_tx(Counters* c, Ptr<const Packet> p) { c->link_bytes += p->GetSize(); }
void on_bottleneck_tx(Counters* c, Ptr<const Packet> p) {
    c->bottleneck_bytes += p->GetSize();
    uint64_t id = 0;
    uint32_t copy = 0;
    if (c->ledger && CoapApplication::LedgerTagOf(p, id, copy)) c->ledger->on_bottleneck(id, copy, p->GetSize());
}
void on_queue_length(Counters* c, uint32_t, uint32_t now) { c->queue_peak = std::max(c->queue_peak, now); }
void on_queue_drop(Counters* c, Ptr<const Packet>) { ++c->queue_drops; }
void on_rx_drop(Counters* c, Ptr<const Packet>) { ++c->rx_drops; }

/// Every device's PHY transmissions, transmit-queue drops and receive drops (loss
/// model, and for radios corruption and collisions too).
void connect_counters(Counters& c, const std::string& device, const char* tx, const char* queue_drop,
                      const char* rx_drop) {
    const std::string all = "/NodeList/*/DeviceList/*/" + device;
    Config::ConnectWithoutContext(all + tx, MakeBoundCallback(&on_phy_tx, &c));
    Config::ConnectWithoutContext(all + queue_drop, MakeBoundCallback(&on_queue_drop, &c));
    Config::ConnectWithoutContext(all + rx_drop, MakeBoundCallback(&on_rx_drop, &c));
    // A device with flow control stops its queue when it is full; with no queue disc the
    // traffic-control layer then drops what IP hands it (its "TcDrop" trace). The device's
    // own queue never overflows, so without this a full queue dropped without a count.
    Config::ConnectWithoutContext("/NodeList/*/$ns3::TrafficControlLayer/TcDrop", MakeBoundCallback(&on_queue_drop, &c));
}
/// `--trace`: the clients' RTO and strategy-state changes (issue #20), one CSV row each.
struct RtoTraceFile {
    std::ofstream out;
    void Connect(Ptr<Application> app, uint32_t client);
};
void on_rto_state(RtoTraceFile* f, uint32_t client, Time rto, const std::string& state) {
    char t[32], r[32];
    std::snprintf(t, sizeof t, "%.9g", Simulator::Now().GetSeconds());
    std::snprintf(r, sizeof r, "%.9g", rto.GetSeconds());
    f->out << t << "," << client << "," << r << "," << state << "\n";
}
void RtoTraceFile::Connect(Ptr<Application> app, uint32_t client) {
    if (out.is_open()) app->TraceConnectWithoutContext("RtoTrace", MakeBoundCallback(&on_rto_state, this, client));
}

void on_client_done(Counters* c) {
    if (++c->clients_done == c->clients_total) Simulator::Stop();
}

/// [workload] arrival = "short-lived": on every client node, clients arrive as a Poisson
/// process (mean gap `interval`) from `start` until `duration`. Each is a new CoapClient,
/// so a fresh engine (no RTT estimate) on a new port, that does its exchanges and leaves.
/// The run ends when every node's arrivals are over and every client is done.
struct ClientArrivals {
    std::function<ApplicationContainer(uint32_t node)> make;
    Time until;
    ApplicationContainer* clients = nullptr;
    Counters* counters = nullptr;
    std::vector<Ptr<ExponentialRandomVariable>> gaps;
    int64_t next_stream = 0;  ///< streams for the clients, assigned in arrival order
    int64_t streams_per_client = 0;

    /// Schedules the first arrival on each of `nodes` nodes; returns the streams it used.
    int64_t Begin(uint32_t nodes, double mean_gap_s, Time start, int64_t stream) {
        counters->clients_total = nodes;  // one per node's arrival process, until it ends
        for (uint32_t i = 0; i < nodes; ++i) {
            auto g = CreateObject<ExponentialRandomVariable>();
            g->SetAttribute("Mean", DoubleValue(mean_gap_s));
            g->SetStream(stream + i);
            gaps.push_back(g);
            Simulator::Schedule(start + Seconds(g->GetValue()), &ClientArrivals::Arrive, this, i);
        }
        // Every client application takes the same number of streams; a block far above
        // anything else the run assigns keeps them apart.
        next_stream = stream + (int64_t{1} << 40);
        return nodes;
    }
    void Arrive(uint32_t node) {
        if (Simulator::Now() >= until) {
            on_client_done(counters);  // this node's arrivals are over
            return;
        }
        ApplicationContainer one = make(node);
        DynamicCast<CoapApplication>(one.Get(0))->SetLedger(counters->ledger);
        const int64_t used = CoapHelperBase::AssignStreams(one, next_stream);
        next_stream += used;
        ++counters->clients_total;
        one.Get(0)->TraceConnectWithoutContext("Done", MakeBoundCallback(&on_client_done, counters));
        clients->Add(one);
        Simulator::Schedule(Seconds(gaps[node]->GetValue()), &ClientArrivals::Arrive, this, node);
    }
};

/// Sits between an LrWpan MAC and its device: drops received data frames at random.
struct FrameLoss {
    Ptr<LrWpanNetDevice> device;
    Ptr<ErrorModel> model;
    Counters* counters;
    void Indication(McpsDataIndicationParams params, Ptr<Packet> p) {
        if (model->IsCorrupt(p)) {
            ++counters->rx_drops;
            return;
        }
        device->McpsDataIndication(params, p);
    }
};

/// All-CoAP-Nodes, IPv4 (RFC 7252 §12.8).
constexpr const char* kAllCoapNodes = "224.0.1.187";

/// What reaches the victim of a reflection attack, at the IP and the CoAP layer.
struct Victim {
    Ptr<Socket> socket;
    uint64_t ip_packets = 0, ip_bytes = 0, coap_packets = 0, coap_bytes = 0;
    void Receive(Ptr<Socket> s) {
        while (Ptr<Packet> p = s->Recv()) {
            ++coap_packets;
            coap_bytes += p->GetSize();
        }
    }
    void IpReceive(Ptr<const Packet> p, Ptr<Ipv4>, uint32_t) {
        ++ip_packets;
        ip_bytes += p->GetSize();
    }
};

struct Built {
    NodeContainer clients;
    NodeContainer servers;
    Ptr<Node> attacker;  ///< with [attack]
    Ptr<Node> victim;    ///< reflection vectors: the node whose address is forged
    Ipv4Address victim_address;
    std::vector<Ipv4Address> server_addresses;
    std::vector<Ipv4Address> client_addresses;
    std::vector<Address> client_targets;  ///< server socket address per client
    Ptr<Node> proxy_node;                 ///< dumbbell: the clients' router, where [proxy] runs
    Ipv4Address proxy_address;
    Ptr<Node> far_router;                 ///< dumbbell: the servers' router (the second proxy of proxy-loop)
    Ipv4Address far_router_address;
    /// LrWpanHelper disposes its channel when destroyed: it must outlive the run.
    std::unique_ptr<LrWpanHelper> radio;
    std::vector<std::unique_ptr<FrameLoss>> frame_loss;  ///< sixlowpan extra loss, per radio
};

Built build_dumbbell(const RunConfig& c, Counters& counters, int64_t& stream, const std::string& pcap) {
    const auto& t = c.topology;
    Built b;
    b.clients.Create(static_cast<uint32_t>(t.clients));
    b.servers.Create(static_cast<uint32_t>(
        c.attack.vector == "none" ? t.servers : std::max(t.servers, c.attack.servers)));
    NodeContainer routers;
    routers.Create(2);
    NodeContainer extra;  // attacker and victim, beside the clients
    if (c.attack.vector != "none") extra.Create(2);
    InternetStackHelper stack;
    const bool switched = t.access == "switch";
    if (switched) {
        // Static routing only on the clients (a default route to the router): with a
        // GlobalRouter each, building the routing tables would cost O(clients^2).
        InternetStackHelper client_stack;
        client_stack.SetRoutingHelper(Ipv4StaticRoutingHelper());
        client_stack.Install(b.clients);
    } else {
        stack.Install(b.clients);
    }
    stack.Install(b.servers);
    stack.Install(routers);
    if (extra.GetN() > 0) {
        stack.Install(extra);
        stream += stack.AssignStreams(extra, stream);
        b.attacker = extra.Get(0);
        b.victim = extra.Get(1);
    }
    stream += stack.AssignStreams(b.clients, stream);
    stream += stack.AssignStreams(b.servers, stream);
    stream += stack.AssignStreams(routers, stream);

    PointToPointHelper access = MakeAccessLink(t);
    PointToPointHelper neck = MakeBottleneckLink(t);

    TrafficControlHelper tc;
    Ipv4AddressHelper addr;
    NetDeviceContainer all;
    addr.SetBase("10.0.0.0", "255.255.255.252");
    NetDeviceContainer bottleneck = neck.Install(routers.Get(0), routers.Get(1));
    addr.Assign(bottleneck);
    all.Add(bottleneck);
    addr.SetBase("10.1.0.0", "255.255.255.252");  // the clients' links (p2p), then the attacker's and victim's
    if (switched) {
        // One router interface and one subnet for every client (sim/model/access-switch.h).
        const Ipv4InterfaceContainer ifc =
            InstallAccessSwitch(routers.Get(0), b.clients, DataRate(static_cast<uint64_t>(t.access_rate_bps)),
                                Seconds(t.access_delay_s), "10.128.0.0", "255.128.0.0", all);
        for (uint32_t i = 0; i < b.clients.GetN(); ++i) b.client_addresses.push_back(ifc.GetAddress(i + 1));
    } else {
        for (uint32_t i = 0; i < b.clients.GetN(); ++i) {
            NetDeviceContainer d = access.Install(b.clients.Get(i), routers.Get(0));
            b.client_addresses.push_back(addr.Assign(d).GetAddress(0));
            addr.NewNetwork();
            all.Add(d);
        }
    }
    NetDeviceContainer attacker_link;
    for (uint32_t i = 0; i < extra.GetN(); ++i) {
        NetDeviceContainer d = access.Install(extra.Get(i), routers.Get(0));
        if (i == 0) attacker_link = d;
        const Ipv4Address a = addr.Assign(d).GetAddress(0);
        if (i == 1) b.victim_address = a;
        addr.NewNetwork();
        all.Add(d);
    }
    addr.SetBase("10.2.0.0", "255.255.255.252");
    std::vector<Ipv4Address>& server_addresses = b.server_addresses;
    const bool multicast = c.attack.vector.rfind("multicast", 0) == 0;
    NetDeviceContainer lan;
    if (multicast) {
        // The reflectors share one Ethernet segment behind the right router, where a
        // request to the All-CoAP-Nodes group reaches every one of them.
        CsmaHelper csma;
        csma.SetChannelAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(t.access_rate_bps))));
        csma.SetChannelAttribute("Delay", TimeValue(Seconds(t.access_delay_s)));
        NodeContainer members(routers.Get(1));
        members.Add(b.servers);
        lan = csma.Install(members);
        addr.SetBase("10.3.0.0", "255.255.255.0");
        Ipv4InterfaceContainer ifc = addr.Assign(lan);
        for (uint32_t i = 0; i < b.servers.GetN(); ++i) server_addresses.push_back(ifc.GetAddress(i + 1));
        all.Add(lan);
    } else {
        for (uint32_t i = 0; i < b.servers.GetN(); ++i) {
            NetDeviceContainer d = access.Install(b.servers.Get(i), routers.Get(1));
            Ipv4InterfaceContainer ifc = addr.Assign(d);
            server_addresses.push_back(ifc.GetAddress(0));
            addr.NewNetwork();
            all.Add(d);
        }
    }
    // Plain drop-tail FIFOs in the devices: the queue under study is the bottleneck's,
    // not a queue disc's (Ipv4AddressHelper installs one by default).
    tc.Uninstall(all);

    if (c.proxy.enabled && c.proxy.upstream_port == "per-exchange") {
        // The proxy's router answers datagrams for closed ports (a forger's guesses) with
        // ICMP port-unreachable toward their forged source, across the bottleneck; a real
        // host limits those (Linux: 1 a second per destination), ns-3 does not.
        auto dev = DynamicCast<PointToPointNetDevice>(bottleneck.Get(0));
        Ptr<IcmpRateLimitQueue> q = CreateObject<IcmpRateLimitQueue>();
        QueueSizeValue size;
        dev->GetQueue()->GetAttribute("MaxSize", size);
        q->SetAttribute("MaxSize", size);
        dev->SetQueue(q);
    }
    for (uint32_t i = 0; i < 2; ++i) {
        auto dev = DynamicCast<PointToPointNetDevice>(bottleneck.Get(i));
        if (auto em = MakeLinkLoss(t, stream++)) dev->SetReceiveErrorModel(em);
        dev->TraceConnectWithoutContext("PhyTxBegin", MakeBoundCallback(&on_bottleneck_tx, &counters));
        dev->GetQueue()->TraceConnectWithoutContext("PacketsInQueue", MakeBoundCallback(&on_queue_length, &counters));
    }
    connect_counters(counters, "$ns3::PointToPointNetDevice/", "PhyTxBegin", "TxQueue/Drop", "PhyRxDrop");
    if (switched) {
        const std::string sw = "/NodeList/*/DeviceList/*/$ns3::AccessSwitchNetDevice/";
        Config::ConnectWithoutContext(sw + "PhyTxBegin", MakeBoundCallback(&on_phy_tx, &counters));
        Config::ConnectWithoutContext(sw + "Drop", MakeBoundCallback(&on_queue_drop, &counters));
    }
    Ipv4GlobalRoutingHelper::PopulateRoutingTables();
    if (multicast) {
        // Static multicast routes for the group, from the attacker's side to the LAN.
        Ipv4StaticRoutingHelper mroutes;
        const Ipv4Address group(kAllCoapNodes);
        mroutes.AddMulticastRoute(routers.Get(0), Ipv4Address::GetAny(), group, attacker_link.Get(1),
                                  NetDeviceContainer(bottleneck.Get(0)));
        mroutes.AddMulticastRoute(routers.Get(1), Ipv4Address::GetAny(), group, bottleneck.Get(1),
                                  NetDeviceContainer(lan.Get(0)));
        mroutes.SetDefaultMulticastRoute(b.attacker, attacker_link.Get(0));
    }

    b.proxy_node = routers.Get(0);
    b.proxy_address = routers.Get(0)->GetObject<Ipv4>()->GetAddress(1, 0).GetLocal();  // its bottleneck address
    b.far_router = routers.Get(1);
    b.far_router_address = routers.Get(1)->GetObject<Ipv4>()->GetAddress(1, 0).GetLocal();
    for (uint32_t i = 0; i < b.clients.GetN(); ++i) {
        b.client_targets.push_back(InetSocketAddress(server_addresses[i % server_addresses.size()], 5683));
    }
    if (!pcap.empty()) neck.EnablePcap(pcap + "-bottleneck.pcap", bottleneck.Get(0), false, true);
    return b;
}

Built build_sixlowpan(const RunConfig& c, Counters& counters, int64_t& stream, const std::string& pcap) {
    const auto& t = c.topology;
    const auto hops = static_cast<uint32_t>(t.hops);
    Built b;
    b.servers.Create(1);
    NodeContainer relays;
    relays.Create(hops - 1);
    b.clients.Create(static_cast<uint32_t>(t.clients));
    NodeContainer all(b.servers, relays, b.clients);

    // The server at the origin, relays every `spacing` metres along x, the clients on
    // a small circle one hop beyond the last relay (hops = 1: a star around the server).
    MobilityHelper mobility;
    auto positions = CreateObject<ListPositionAllocator>();
    positions->Add(Vector(0, 0, 0));
    for (uint32_t r = 1; r < hops; ++r) positions->Add(Vector(r * t.spacing_m, 0, 0));
    const double cx = hops * t.spacing_m;
    for (uint32_t i = 0; i < b.clients.GetN(); ++i) {
        const double a = 2 * M_PI * i / b.clients.GetN();
        positions->Add(Vector(cx + 3 * std::cos(a), 3 * std::sin(a), 0));
    }
    mobility.SetPositionAllocator(positions);
    mobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
    mobility.Install(all);

    b.radio = std::make_unique<LrWpanHelper>();
    LrWpanHelper& radio = *b.radio;
    NetDeviceContainer radios = radio.Install(all);
    radio.AssociateToPan(radios, 0);
    stream += radio.AssignStreams(radios, stream);
    InternetStackHelper stack;
    stack.SetIpv4StackInstall(false);
    stack.Install(all);
    stream += stack.AssignStreams(all, stream);
    SixLowPanHelper sixlowpan;
    NetDeviceContainer devices = sixlowpan.Install(radios);
    stream += sixlowpan.AssignStreams(devices, stream);
    Ipv6AddressHelper ipv6;
    // 2001:2::/48 is for benchmarking (RFC 5180); ns-3 will not forward 2001:db8::/32.
    ipv6.SetBase(Ipv6Address("2001:2::"), Ipv6Prefix(64));
    Ipv6InterfaceContainer ifs = ipv6.Assign(devices);

    // Extra loss: a data frame the MAC has received (and acknowledged) is lost before
    // 6LoWPAN, so MAC retransmissions cannot hide it. (LrWpanPhy's post-reception error
    // model and signal-level drops both crash ns-3 3.37 in LrWpanPhy::CheckInterference
    // when frames collide; this path leaves the PHY alone.)
    for (uint32_t i = 0; t.loss > 0 && i < radios.GetN(); ++i) {
        auto dev = DynamicCast<LrWpanNetDevice>(radios.Get(i));
        b.frame_loss.push_back(std::make_unique<FrameLoss>(FrameLoss{dev, MakeLinkLoss(t, stream++), &counters}));
        dev->GetMac()->SetMcpsDataIndicationCallback(MakeCallback(&FrameLoss::Indication, b.frame_loss.back().get()));
    }
    // Static routes along the chain (ns-3 3.37 has no RPL): node index = position for
    // the server (0) and the relays (1..hops-1); clients are at position `hops`.
    auto address = [&](uint32_t node) { return ifs.GetAddress(node, 1); };
    Ipv6StaticRoutingHelper routing;
    for (uint32_t n = 0; n < all.GetN(); ++n) {
        const uint32_t pos = n < hops ? n : hops;
        auto table = routing.GetStaticRouting(all.Get(n)->GetObject<Ipv6>());
        if (pos >= 2) table->AddHostRouteTo(address(0), address(pos - 1), 1);
        if (pos + 1 < hops) {
            for (uint32_t k = 0; k < b.clients.GetN(); ++k) table->AddHostRouteTo(address(hops + k), address(pos + 1), 1);
        }
        if (pos >= 1 && pos < hops) ifs.SetForwarding(n, true);
    }

    connect_counters(counters, "$ns3::LrWpanNetDevice/", "Phy/PhyTxBegin", "Mac/MacTxDrop", "Phy/PhyRxDrop");
    for (uint32_t i = 0; i < b.clients.GetN(); ++i) b.client_targets.push_back(Inet6SocketAddress(address(0), 5683));
    if (!pcap.empty()) radio.EnablePcap(pcap + "-server.pcap", radios.Get(0), true, true);
    return b;
}

ordered_json number_or_null(double v) {
    if (!std::isfinite(v)) return nullptr;
    return v;
}

}  // namespace

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
    // Nearest rank.
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

ordered_json completion_stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) sum += x;
    ordered_json j;
    j["completion_mean_s"] = number_or_null(v.empty() ? NAN : sum / static_cast<double>(v.size()));
    j["completion_p50_s"] = number_or_null(percentile(v, 50));
    j["completion_p95_s"] = number_or_null(percentile(v, 95));
    j["completion_p99_s"] = number_or_null(percentile(v, 99));
    return j;
}

namespace {

void add_stats(ordered_json& j, const coap::EndpointStats& s) {
    auto add = [&](const char* k, uint64_t v) { j[k] = j.value(k, uint64_t{0}) + v; };
    const char* types[] = {"con", "non", "ack", "rst"};
    for (int i = 0; i < 4; ++i) {
        add((std::string("sent_") + types[i]).c_str(), s.sent_messages[i]);
        add((std::string("sent_bytes_") + types[i]).c_str(), s.sent_bytes[i]);
        add((std::string("received_") + types[i]).c_str(), s.received_messages[i]);
    }
    add("retransmissions", s.retransmissions);
    add("duplicates_received", s.duplicates_received);
    add("dedup_evictions", s.dedup_evictions);
    add("exchanges_started", s.exchanges_started);
    add("exchanges_completed", s.exchanges_completed);
    add("exchanges_failed", s.exchanges_failed);
    add("timeouts", s.timeouts);
    add("requests_received", s.requests_received);
    add("responses_sent", s.responses_sent);
    add("format_errors", s.format_errors);
    add("dropped_unexpected", s.dropped_unexpected);
    add("probing_delays", s.probing_delays);
    add("rtt_samples", s.rtt_samples);
    add("rtt_samples_taken", s.rtt_samples_taken);
    add("echo_challenges", s.echo_challenges);
    add("echo_verified", s.echo_verified);
    add("amplification_dropped", s.amplification_dropped);
    add("rate_limited", s.rate_limited);
    add("observe_refused", s.observe_refused);
    add("echo_retries", s.echo_retries);
    add("multicast_requests", s.multicast_requests);
    add("multicast_ignored", s.multicast_ignored);
    add("multicast_suppressed", s.multicast_suppressed);
    j["rtt_sum_s"] = j.value("rtt_sum_s", 0.0) + s.rtt_sum.seconds_f();
    // Why datagrams failed to parse (cross-protocol traffic, fuzzing, attacks).
    ordered_json& reasons = j["format_error_reasons"];
    if (reasons.is_null()) reasons = ordered_json::object();
    for (std::size_t i = 0; i < s.format_error_reasons.size(); ++i) {
        if (s.format_error_reasons[i] == 0) continue;
        const std::string name(coap::to_string(static_cast<coap::ParseError>(i)));
        reasons[name] = reasons.value(name, uint64_t{0}) + s.format_error_reasons[i];
    }
}

}  // namespace

namespace {
ordered_json simulate_here(const Scenario& scenario, const RunSpec& spec, const SimOptions& options);
}  // namespace

ordered_json simulate(const Scenario& scenario, const RunSpec& spec, const SimOptions& options) {
    if (spec.config.security.mode == "nosec") return simulate_here(scenario, spec, options);
    // DTLS draws on GnuTLS's clock and generator: both from the simulation (net/dtls_sim.h),
    // the generator fresh in a thread of its own, so the run is the same from the same seed.
    coapbed::net::SimulatedDtls dtls(spec.seed, [] { return coap::TimePoint::from_ns(Simulator::Now().GetNanoSeconds()); });
    ordered_json doc;
    coapbed::net::run_in_fresh_thread([&] { doc = simulate_here(scenario, spec, options); });
    return doc;
}

namespace {

ordered_json simulate_here(const Scenario& scenario, const RunSpec& spec, const SimOptions& options) {
    const auto wall_start = std::chrono::steady_clock::now();
    const RunConfig& c = spec.config;
    RngSeedManager::SetSeed(1);
    RngSeedManager::SetRun(spec.seed);
    Config::SetDefault("ns3::Icmpv6L4Protocol::DAD", BooleanValue(false));
    // Real UDP/IP checksums and 802.15.4 FCS, so the pcap files dissect cleanly.
    GlobalValue::Bind("ChecksumEnabled", BooleanValue(true));

    // Requests stop at `duration`; the run goes on until every exchange has ended,
    // bounded by a drain window long enough for any exchange the parameters allow.
    coap::TransmissionParams tp;
    tp.ack_timeout = coap::Duration::from_seconds(c.coap.ack_timeout_s);
    tp.ack_random_factor = c.coap.ack_random_factor;
    tp.max_retransmit = static_cast<unsigned>(c.coap.max_retransmit);
    // Copies of a message come within MAX_TRANSMIT_WAIT of the first (RFC 7252 §4.8.2).
    MessageLedger ledger(tp.max_transmit_wait().seconds_f());
    Counters counters;
    counters.ledger = &ledger;
    int64_t stream = 1000;
    Built b = c.topology.kind == "sixlowpan" ? build_sixlowpan(c, counters, stream, options.pcap_prefix)
                                            : build_dumbbell(c, counters, stream, options.pcap_prefix);

    auto set_coap = [&](CoapHelperBase& h) {
        h.SetAttribute("Congestion", StringValue(c.coap.congestion));
        h.SetAttribute("Nstart", UintegerValue(static_cast<uint32_t>(c.coap.nstart)));
        h.SetAttribute("AckTimeout", TimeValue(Seconds(c.coap.ack_timeout_s)));
        h.SetAttribute("AckRandomFactor", DoubleValue(c.coap.ack_random_factor));
        h.SetAttribute("CocoaVbfPerStep", BooleanValue(c.coap.cocoa_vbf == "per-step"));
        h.SetAttribute("MaxRetransmit", UintegerValue(static_cast<uint32_t>(c.coap.max_retransmit)));
        h.SetAttribute("DefaultLeisure", TimeValue(Seconds(c.coap.default_leisure_s)));
        h.SetAttribute("ProbingRate", DoubleValue(c.coap.probing_rate));
        h.SetAttribute("MaxLatency", TimeValue(Seconds(c.coap.max_latency_s)));
        h.SetAttribute("BlockSize", UintegerValue(static_cast<uint32_t>(c.coap.block_size)));
        h.SetAttribute("TokenLength", UintegerValue(static_cast<uint32_t>(c.coap.token_length)));
        h.SetAttribute("RandomInitialMid", BooleanValue(c.coap.random_mid));
        if (c.security.mode != "nosec") {
            h.SetAttribute("Security", StringValue(c.security.mode));
            h.SetAttribute("HelloVerify", BooleanValue(c.security.hello_verify));
        }
    };
    const Attack& at = c.attack;
    const bool attack = at.vector != "none";
    const bool against_client = at.vector == "spoofed-rst" || at.vector == "spoofed-ack";
    const bool poisoning = at.vector == "spoofed-separate" || at.vector == "spoofed-piggybacked";
    const bool loop = at.vector == "proxy-loop";
    constexpr uint16_t kProxyUpstreamPort = 40001;  // fixed: PROXY.md §3.1 "fixed port" (the attacker knows it)
    constexpr uint16_t kFirstExchangePort = 49152;  // per-exchange: CoapProxy's default range
    constexpr uint32_t kExchangePorts = 16384;
    CoapServerHelper server_helper;
    set_coap(server_helper);
    server_helper.SetAttribute("ResponseSize", UintegerValue(static_cast<uint32_t>(c.workload.response)));
    server_helper.SetAttribute("Resources", UintegerValue(static_cast<uint32_t>(c.workload.resources)));
    server_helper.SetAttribute("MaxAge", IntegerValue(c.workload.max_age));
    {
        // RFC 7252 §4.5: a server answers a duplicate CON with the same ACK or response for
        // EXCHANGE_LIFETIME. Room for every message the clients can send in that time (up
        // to 4 M), so that a collapse is not under-estimated by forgotten duplicates.
        const double lifetime = tp.exchange_lifetime().seconds_f();
        double per_s = static_cast<double>(c.topology.clients) / std::max(c.workload.interval_s, 0.01);
        if (c.workload.arrival == "short-lived") per_s *= static_cast<double>(c.workload.exchanges_per_client);
        const double need = std::ceil(per_s * lifetime * 1.1);
        server_helper.SetAttribute("DedupCapacity", UintegerValue(static_cast<uint32_t>(std::clamp(need, 1024.0, 4e6))));
    }
    if (attack) {
        const auto size = UintegerValue(static_cast<uint32_t>(at.resource));
        if (at.vector == "large-get" || at.vector == "block" || at.vector == "proxy-large-get") {
            server_helper.SetAttribute("LargeSize", size);
        }
        if (at.vector == "well-known-core" || at.vector == "multicast") server_helper.SetAttribute("WellKnownSize", size);
        if (at.vector == "observe" || at.vector == "multicast-observe") server_helper.SetAttribute("ObserveSize", size);
        server_helper.SetAttribute("Multicast", BooleanValue(at.vector.rfind("multicast", 0) == 0));
        server_helper.SetAttribute("NotifyInterval", TimeValue(Seconds(at.notify_interval_s)));
    }
    if (c.workload.observe) {
        server_helper.SetAttribute("ObserveSize", UintegerValue(static_cast<uint32_t>(std::max<int64_t>(c.workload.response, 1))));
        server_helper.SetAttribute("NotifyInterval", TimeValue(Seconds(c.workload.interval_s)));
        server_helper.SetAttribute("ObserveEtag", BooleanValue(c.workload.etag));
    }
    server_helper.SetAttribute("Echo", BooleanValue(c.defence.echo));
    server_helper.SetAttribute("AmplificationLimit", DoubleValue(c.defence.amplification_limit));
    server_helper.SetAttribute("RateLimit", DoubleValue(c.defence.rate_limit));
    server_helper.SetAttribute("ObserveVerifiedOnly", BooleanValue(c.defence.observe_verified_only));
    server_helper.SetAttribute("EchoKeySeed", UintegerValue(spec.seed + 1));
    ApplicationContainer servers = server_helper.Install(b.servers);
    servers.Start(Seconds(0));
    stream += CoapHelperBase::AssignStreams(servers, stream);

    // [proxy]: the forward proxy on the clients' router; the clients send every request to
    // it, naming their server in Proxy-Uri.
    // One proxy on `node`, its clients' side bound to `address`, configured from [proxy]
    // and [coap].
    auto make_proxy = [&](Ptr<Node> node, Ipv4Address address) {
        Ptr<CoapProxy> p = CreateObject<CoapProxy>();
        p->SetAttribute("Cache", BooleanValue(c.proxy.cache));
        p->SetAttribute("MaxEntries", UintegerValue(static_cast<uint32_t>(c.proxy.max_entries)));
        p->SetAttribute("MaxBytes", UintegerValue(static_cast<uint32_t>(std::min<int64_t>(c.proxy.max_bytes, UINT32_MAX))));
        p->SetAttribute("MaxFreshness", TimeValue(Seconds(c.proxy.max_freshness_s)));
        p->SetAttribute("UpstreamTokenLength", UintegerValue(static_cast<uint32_t>(c.proxy.token_length)));
        p->SetAttribute("Coalesce", BooleanValue(c.proxy.coalesce));
        p->SetAttribute("HopLimit", UintegerValue(static_cast<uint32_t>(c.proxy.hop_limit)));
        p->SetAttribute("HonourHopLimit", BooleanValue(c.proxy.honour_hop_limit));
        p->SetAttribute("PerExchangePorts", BooleanValue(c.proxy.upstream_port == "per-exchange"));
        p->SetAttribute("PassThroughBlocks", BooleanValue(c.proxy.blockwise == "pass-through"));
        p->SetAttribute("RandomMid", BooleanValue(c.coap.random_mid));
        p->SetAttribute("AckTimeout", TimeValue(Seconds(c.coap.ack_timeout_s)));
        p->SetAttribute("AckRandomFactor", DoubleValue(c.coap.ack_random_factor));
        p->SetAttribute("CocoaVbfPerStep", BooleanValue(c.coap.cocoa_vbf == "per-step"));
        p->SetAttribute("MaxRetransmit", UintegerValue(static_cast<uint32_t>(c.coap.max_retransmit)));
        p->SetAttribute("Nstart", UintegerValue(static_cast<uint32_t>(c.coap.nstart)));
        p->SetAttribute("BlockSize", UintegerValue(static_cast<uint32_t>(c.coap.block_size)));
        std::ostringstream local;
        address.Print(local);
        p->SetAttribute("LocalAddress", StringValue(local.str()));
        node->AddApplication(p);
        p->SetStartTime(Seconds(0));
        return p;
    };
    Ptr<CoapProxy> proxy;
    if (c.proxy.enabled) {
        proxy = make_proxy(b.proxy_node, b.proxy_address);
        proxy->SetAttribute("UpstreamPort", UintegerValue(kProxyUpstreamPort));
        // [defence] on the clients' side of the proxy too: behind it, the origin sees only the proxy.
        proxy->SetAttribute("Echo", BooleanValue(c.defence.echo));
        proxy->SetAttribute("AmplificationLimit", DoubleValue(c.defence.amplification_limit));
        proxy->SetAttribute("EchoKeySeed", UintegerValue(spec.seed + 2));
        stream += proxy->AssignStreams(stream);
    }
    // proxy-loop: a second proxy on the servers' router; the two name each other as the
    // next hop for "loop.example" (everything else goes to the origins as usual).
    Ptr<CoapProxy> far_proxy;
    if (proxy && loop) {
        far_proxy = make_proxy(b.far_router, b.far_router_address);
        for (const auto& [p, id, next] : {std::make_tuple(proxy, "A", b.far_router_address),
                                          std::make_tuple(far_proxy, "B", b.proxy_address)}) {
            p->SetAttribute("Identifier", StringValue(id));
            p->SetAttribute("NextHopHost", StringValue("loop.example"));
            p->SetAttribute("NextHop", Ipv4AddressValue(next));
        }
        stream += far_proxy->AssignStreams(stream);
    }

    // The workload's clients: one per client node for the whole run, or (short-lived)
    // new ones arriving on every node, each with a fresh engine.
    auto client_helper = [&](uint32_t i) {
        CoapClientHelper h(proxy ? Address(InetSocketAddress(b.proxy_address, 5683)) : b.client_targets[i]);
        set_coap(h);
        if (proxy) {
            std::ostringstream target;
            InetSocketAddress::ConvertFrom(b.client_targets[i]).GetIpv4().Print(target);
            h.SetAttribute("ProxyUri", StringValue("coap://" + target.str() + ":5683/"));
        }
        h.SetAttribute("Resources", UintegerValue(static_cast<uint32_t>(c.workload.resources)));
        h.SetAttribute("Zipf", DoubleValue(c.workload.zipf));
        h.SetAttribute("MaxRequests", UintegerValue(static_cast<uint32_t>(c.workload.requests)));
        h.SetAttribute("Interval", TimeValue(Seconds(c.workload.interval_s)));
        h.SetAttribute("Arrival", StringValue(c.workload.arrival));
        h.SetAttribute("OnTime", TimeValue(Seconds(c.workload.on_s)));
        h.SetAttribute("OffTime", TimeValue(Seconds(c.workload.off_s)));
        h.SetAttribute("Method", StringValue(c.workload.method));
        h.SetAttribute("RequestSize", UintegerValue(static_cast<uint32_t>(c.workload.payload)));
        h.SetAttribute("Confirmable", BooleanValue(c.workload.confirmable));
        h.SetAttribute("SendUntil", TimeValue(Seconds(c.duration_s)));
        h.SetAttribute("BurstRequests", UintegerValue(static_cast<uint32_t>(c.workload.burst)));
        h.SetAttribute("BurstAt", TimeValue(Seconds(c.workload.burst_at_s)));
        if (against_client) h.SetAttribute("Port", UintegerValue(5683));  // a port the attacker knows
        if (c.workload.observe) {
            // One registration for /obs each; the notifications follow for the rest of the run.
            h.SetAttribute("Observe", BooleanValue(true));
            h.SetAttribute("Path", StringValue("obs"));
            h.SetAttribute("Resources", UintegerValue(0));
            h.SetAttribute("MaxRequests", UintegerValue(1));
        }
        return h;
    };
    ApplicationContainer clients;
    RtoTraceFile rto_trace;
    if (!options.trace_path.empty()) {
        rto_trace.out.open(options.trace_path, std::ios::trunc);
        if (!rto_trace.out) throw std::runtime_error("cannot write the trace " + options.trace_path);
        rto_trace.out << "time_s,client,rto_s,state\n";
    }
    std::unique_ptr<ClientArrivals> arrivals;
    if (c.workload.arrival == "short-lived") {
        arrivals = std::make_unique<ClientArrivals>();
        arrivals->until = Seconds(c.duration_s);
        arrivals->clients = &clients;
        arrivals->counters = &counters;
        arrivals->make = [&c, client_helper, nodes = b.clients, &rto_trace, &clients](uint32_t i) {
            CoapClientHelper h = client_helper(i);
            // It arrives with its first request, does its exchanges, and leaves.
            h.SetAttribute("Arrival", StringValue("closed"));
            h.SetAttribute("Interval", TimeValue(Seconds(c.workload.think_s)));
            h.SetAttribute("MaxRequests", UintegerValue(static_cast<uint32_t>(c.workload.exchanges_per_client)));
            h.SetAttribute("SendUntil", TimeValue(Time::Max()));
            h.SetAttribute("Spread", BooleanValue(false));
            ApplicationContainer one = h.Install(nodes.Get(i));
            one.Start(Seconds(0));
            rto_trace.Connect(one.Get(0), clients.GetN());  // clients are numbered in arrival order
            return one;
        };
        stream += arrivals->Begin(b.clients.GetN(), c.workload.interval_s, Seconds(c.workload.start_s), stream);
    } else {
        for (uint32_t i = 0; i < b.clients.GetN(); ++i) clients.Add(client_helper(i).Install(b.clients.Get(i)));
        clients.Start(Seconds(c.workload.start_s));
        stream += CoapHelperBase::AssignStreams(clients, stream);
        counters.clients_total = clients.GetN();
        for (uint32_t i = 0; i < clients.GetN(); ++i) {
            clients.Get(i)->TraceConnectWithoutContext("Done", MakeBoundCallback(&on_client_done, &counters));
            rto_trace.Connect(clients.Get(i), i);
        }
    }

    // The attacker, and the victim that only counts what reaches it.
    Ptr<CoapAttacker> attacker;
    Victim victim;
    Ptr<CoapClient> injector;  // proxy-loop: a client beside the others asking for the looping host
    if (loop) {
        CoapClientHelper h(InetSocketAddress(b.proxy_address, 5683));
        set_coap(h);
        h.SetAttribute("ProxyUri", StringValue("coap://loop.example:5683/"));
        h.SetAttribute("Path", StringValue("x"));
        h.SetAttribute("Resources", UintegerValue(1000000));  // a new target each time: no coalescing between them
        h.SetAttribute("Zipf", DoubleValue(0.0));
        h.SetAttribute("Arrival", StringValue("poisson"));
        h.SetAttribute("Interval", TimeValue(Seconds(1.0 / at.rate)));
        h.SetAttribute("SendUntil", TimeValue(Seconds(c.duration_s)));
        ApplicationContainer ic = h.Install(b.attacker);
        ic.Start(Seconds(c.workload.start_s));
        stream += CoapHelperBase::AssignStreams(ic, stream);
        injector = DynamicCast<CoapClient>(ic.Get(0));
        // The run lasts until the injector's requests have ended too (answered or timed out).
        ++counters.clients_total;
        injector->TraceConnectWithoutContext("Done", MakeBoundCallback(&on_client_done, &counters));
    }
    if (attack && !loop) {
        attacker = CreateObject<CoapAttacker>();
        attacker->SetAttribute("Vector", StringValue(at.vector));
        attacker->SetAttribute("Rate", DoubleValue(at.rate));
        attacker->SetAttribute("Blocks", UintegerValue(static_cast<uint32_t>((at.resource + 1023) / 1024)));
        attacker->SetAttribute("TokenGuessLength", UintegerValue(static_cast<uint32_t>(c.coap.token_length)));
        attacker->SetAttribute("MidSequential", BooleanValue(!c.coap.random_mid));
        attacker->SetAttribute("MidGuessRate", DoubleValue(1.0 / std::max(c.workload.interval_s, 1e-3)));
        if (poisoning) {
            // Forged "from" the origin to the proxy's upstream port, guessing its tokens.
            attacker->SetAttribute("Victim", Ipv4AddressValue(b.proxy_address));
            // Per-exchange ports: the attacker knows the range (RFC 6335 §6) and draws a port for each.
            const bool per_exchange = c.proxy.upstream_port == "per-exchange";
            attacker->SetAttribute("VictimPort", UintegerValue(per_exchange ? kFirstExchangePort : kProxyUpstreamPort));
            attacker->SetAttribute("VictimPortCount", UintegerValue(per_exchange ? kExchangePorts : 1));
            attacker->SetAttribute("TokenGuessLength", UintegerValue(static_cast<uint32_t>(c.proxy.token_length)));
            // Sequential upstream MIDs from 0 ([coap] random_mid = false): the attacker guesses
            // below what the proxy can have used, at most one upstream message per client
            // request (every request a miss).
            attacker->SetAttribute("MidGuessRate",
                                   DoubleValue(static_cast<double>(c.topology.clients) / std::max(c.workload.interval_s, 1e-3)));
            attacker->AddTarget(b.server_addresses.front(), 5683);
        } else if (against_client) {
            attacker->SetAttribute("Victim", Ipv4AddressValue(b.client_addresses.front()));
            attacker->AddTarget(b.server_addresses.front(), 5683);
        } else {
            attacker->SetAttribute("Victim", Ipv4AddressValue(b.victim_address));
            if (at.vector.rfind("multicast", 0) == 0) {
                attacker->AddTarget(Ipv4Address(kAllCoapNodes), 5683);
            } else if (at.vector == "proxy-large-get") {
                std::ostringstream target;
                b.server_addresses.front().Print(target);
                attacker->SetAttribute("ProxyTarget", StringValue("coap://" + target.str() + ":5683/large"));
                attacker->AddTarget(b.proxy_address, 5683);
            } else {
                for (int64_t i = 0; i < at.servers; ++i) {
                    attacker->AddTarget(b.server_addresses[static_cast<std::size_t>(i)], 5683);
                }
            }
            victim.socket = Socket::CreateSocket(b.victim, UdpSocketFactory::GetTypeId());
            victim.socket->Bind(InetSocketAddress(Ipv4Address::GetAny(), 5683));
            victim.socket->SetRecvCallback(MakeCallback(&Victim::Receive, &victim));
            b.victim->GetObject<Ipv4L3Protocol>()->TraceConnectWithoutContext(
                "Rx", MakeCallback(&Victim::IpReceive, &victim));
        }
        b.attacker->AddApplication(attacker);
        attacker->SetStartTime(Seconds(c.workload.start_s));
        attacker->SetStopTime(Seconds(c.duration_s));
        stream += attacker->AssignStreams(stream);
    }

    IpTally ip_tally;
    ip_tally.Attach(NodeContainer::GetGlobal());
    for (auto n = NodeList::Begin(); n != NodeList::End(); ++n) {
        for (uint32_t i = 0; i < (*n)->GetNApplications(); ++i) {
            if (auto a = DynamicCast<CoapApplication>((*n)->GetApplication(i))) a->SetLedger(&ledger);
            if (auto p = DynamicCast<CoapProxy>((*n)->GetApplication(i))) p->SetLedger(&ledger);
        }
    }

    const double drain = std::max(300.0, 4 * tp.max_transmit_wait().seconds_f());
    Simulator::Stop(Seconds(c.duration_s + drain));
    Simulator::Run();
    const double sim_seconds = Simulator::Now().GetSeconds();
    const uint64_t events = Simulator::GetEventCount();

    // ---- measure -------------------------------------------------------------------
    ordered_json doc = result_header(scenario, spec, options);

    uint64_t started = 0, completed = 0, failed = 0, rejected = 0, timeouts = 0, delivered = 0;
    uint64_t reset = 0, forged = 0;  // attacks on a client: exchanges ended by RST, forgeries taken
    uint64_t notifications = 0;      // [workload] observe
    uint64_t mixed = 0;              // ... bodies mixing two states
    uint64_t burst_sent = 0, burst_done = 0;
    double burst_end = c.workload.burst_at_s;  // when the last burst exchange ended
    std::vector<double> all_times;
    std::vector<double> per_client_completed;
    ordered_json per_client = ordered_json::array();
    ordered_json engine_clients = ordered_json::object(), engine_servers = ordered_json::object();
    for (uint32_t i = 0; i < clients.GetN(); ++i) {
        auto app = DynamicCast<CoapClient>(clients.Get(i));
        std::vector<double> times;
        uint64_t bytes = 0, rtx = 0;
        for (const auto& r : app->GetRecords()) {
            rtx += r.retransmissions;
            if (r.burst) {
                ++burst_sent;
                burst_done += r.completed ? 1 : 0;
                burst_end = std::max(burst_end, r.started_s + r.elapsed_s);
            }
            if (!r.completed) {
                if (r.reason == "timeout") ++timeouts;
                if (r.reason == "reset") ++reset;
                continue;
            }
            times.push_back(r.elapsed_s);
            bytes += r.response_bytes;
        }
        all_times.insert(all_times.end(), times.begin(), times.end());
        started += app->GetStarted();
        completed += app->GetCompleted();
        failed += app->GetFailed();
        rejected += app->GetRejected();
        forged += app->GetForgedAccepted();
        notifications += app->GetNotifications();
        mixed += app->GetMixedNotifications();
        delivered += bytes;
        per_client_completed.push_back(static_cast<double>(app->GetCompleted()));
        ordered_json cj;
        cj["client"] = i;
        cj["started"] = app->GetStarted();
        cj["completed"] = app->GetCompleted();
        cj["failed"] = app->GetFailed();
        cj["rejected"] = app->GetRejected();
        cj["retransmissions"] = rtx;
        cj["goodput_bps"] = sim_seconds > 0 ? 8.0 * static_cast<double>(bytes) / sim_seconds : 0.0;
        cj.update(completion_stats(times));
        per_client.push_back(cj);
        add_stats(engine_clients, app->GetEngineStats());
    }
    for (uint32_t i = 0; i < servers.GetN(); ++i) {
        add_stats(engine_servers, DynamicCast<CoapServer>(servers.Get(i))->GetEngineStats());
    }
    // DTLS: the clients' handshakes; bytes sent by both sides.
    coapbed::net::DtlsStats dtls;
    auto add_dtls = [&](const coapbed::net::DtlsStats& d, bool client) {
        if (client) {
            dtls.handshakes_started += d.handshakes_started;
            dtls.handshakes_completed += d.handshakes_completed;
            dtls.handshakes_failed += d.handshakes_failed;
            dtls.handshake_seconds.insert(dtls.handshake_seconds.end(), d.handshake_seconds.begin(), d.handshake_seconds.end());
        }
        dtls.handshake_bytes += d.handshake_bytes;
        dtls.record_overhead_bytes += d.record_overhead_bytes;
        dtls.hello_verify_requests += d.hello_verify_requests;
        dtls.plaintext_dropped += d.plaintext_dropped;
    };
    ordered_json dtls_errors = ordered_json::array();
    for (uint32_t i = 0; i < clients.GetN(); ++i) {
        auto app = DynamicCast<CoapClient>(clients.Get(i));
        add_dtls(app->GetDtlsStats(), true);
        if (const std::string e = app->GetDtlsError(); !e.empty()) dtls_errors.push_back({{"client", i}, {"error", e}});
    }
    for (uint32_t i = 0; i < servers.GetN(); ++i) add_dtls(DynamicCast<CoapServer>(servers.Get(i))->GetDtlsStats(), false);

    uint64_t coap_bytes = 0, coap_messages = 0, retransmissions = 0;
    for (const auto* e : {&engine_clients, &engine_servers}) {
        for (const char* t : {"con", "non", "ack", "rst"}) {
            coap_bytes += e->value(std::string("sent_bytes_") + t, uint64_t{0});
            coap_messages += e->value(std::string("sent_") + t, uint64_t{0});
        }
        retransmissions += e->value("retransmissions", uint64_t{0});
    }
    const uint64_t ip_packets = ip_tally.tx_packets, ip_bytes = ip_tally.tx_bytes;
    const uint64_t ip_rx_packets = ip_tally.rx_packets, ip_rx_bytes = ip_tally.rx_bytes;
    const uint64_t ip_lost = ip_tally.in_flight();  // never delivered (FlowMonitor: lost after 10 s)
    double jain = NAN;
    {
        double sum = 0, sq = 0;
        for (double x : per_client_completed) {
            sum += x;
            sq += x * x;
        }
        if (sq > 0) jain = sum * sum / (static_cast<double>(per_client_completed.size()) * sq);
    }
    const double rtt_samples = engine_clients.value("rtt_samples", 0.0);

    ordered_json m;
    m["exchanges_started"] = started;
    m["exchanges_completed"] = completed;
    m["exchanges_failed"] = failed;
    m.update(completion_stats(all_times));
    m["retransmissions"] = retransmissions;
    m["coap_bytes_sent"] = coap_bytes;
    m["link_bytes"] = counters.link_bytes;
    m["goodput_bps"] = sim_seconds > 0 ? 8.0 * static_cast<double>(delivered) / sim_seconds : 0.0;
    m["jain_fairness"] = number_or_null(jain);
    m["sim_seconds"] = sim_seconds;
    m["wall_seconds"] = 0.0;  // set last
    m["events"] = events;
    m["exchanges_unfinished"] = started - completed - failed;
    m["exchanges_rejected"] = rejected;
    m["timeouts"] = timeouts;
    m["bottleneck_bytes"] = counters.bottleneck_bytes;
    m["queue_drops"] = counters.queue_drops;
    m["rx_drops"] = counters.rx_drops;
    m["ip_packets"] = ip_packets;
    m["ip_bytes"] = ip_bytes;
    m["rtt_mean_s"] = number_or_null(rtt_samples > 0 ? engine_clients.value("rtt_sum_s", 0.0) / rtt_samples : NAN);
    // What only the simulator knows (sim/scenario/ledger.h), issue #20.
    const auto lt = ledger.finish();
    const double per = started > 0 ? 1.0 / static_cast<double>(started) : NAN;
    m["spurious_retransmissions"] = lt.spurious_retransmissions;
    m["tx_necessary_per_exchange"] = number_or_null(static_cast<double>(lt.datagrams - lt.spurious) * per);
    m["tx_spurious_per_exchange"] = number_or_null(static_cast<double>(lt.spurious) * per);
    m["useful_fraction"] = counters.bottleneck_bytes > 0 && c.topology.kind == "dumbbell"
                               ? ordered_json(static_cast<double>(lt.useful_bottleneck_bytes) /
                                              static_cast<double>(counters.bottleneck_bytes))
                               : ordered_json();
    m["rtt_samples"] = engine_clients.value("rtt_samples_taken", uint64_t{0});
    m["queue_peak"] = c.topology.kind == "dumbbell" ? ordered_json(counters.queue_peak) : ordered_json();
    // The burst: from burst_at until its last exchange ended (completed or failed).
    m["burst_settling_s"] = burst_sent > 0 ? ordered_json(burst_end - c.workload.burst_at_s) : ordered_json();
    m["burst_completed"] = burst_sent > 0 ? ordered_json(static_cast<double>(burst_done) / static_cast<double>(burst_sent))
                                          : ordered_json();
    m["ledger_retransmissions"] = lt.con_retransmissions;
    m["ledger_reply_copies"] = lt.datagrams - lt.messages - lt.con_retransmissions;
    // Attack figures (empty when the run has no [attack]).
    const bool reflection = attack && !against_client && !poisoning && !loop;
    auto ratio = [](uint64_t num, uint64_t den) -> ordered_json {
        if (den == 0) return nullptr;
        return static_cast<double>(num) / static_cast<double>(den);
    };
    m["attacker_packets"] = attacker ? ordered_json(attacker->GetPackets()) : ordered_json(nullptr);
    m["attacker_bytes"] = attacker ? ordered_json(attacker->GetIpBytes()) : ordered_json(nullptr);
    m["victim_packets"] = reflection ? ordered_json(victim.ip_packets) : ordered_json(nullptr);
    m["victim_bytes"] = reflection ? ordered_json(victim.ip_bytes) : ordered_json(nullptr);
    m["amplification_bytes"] = reflection ? ratio(victim.ip_bytes, attacker->GetIpBytes()) : ordered_json(nullptr);
    m["amplification_coap"] = reflection ? ratio(victim.coap_bytes, attacker->GetCoapBytes()) : ordered_json(nullptr);
    m["exchanges_reset"] = reset;
    m["forged_accepted"] = forged;
    m["notifications_received"] = c.workload.observe ? ordered_json(notifications) : ordered_json();
    m["notifications_mixed"] = c.workload.observe ? ordered_json(mixed) : ordered_json();
    // Against a client (no loss in such scenarios): every failed exchange is the attacker's.
    m["killed_fraction"] = against_client && started > 0
                               ? ordered_json(static_cast<double>(failed) / static_cast<double>(started))
                               : ordered_json(nullptr);
    for (const char* k : {"echo_challenges", "echo_verified", "amplification_dropped", "rate_limited",
                          "observe_refused", "format_errors"}) {
        m[k] = engine_servers.value(k, uint64_t{0});
    }
    if (proxy) {
        // The proxy's side toward the clients runs the same defences: count what it did too.
        const coap::EndpointStats& ds = proxy->GetDownstreamStats();
        m["echo_challenges"] = m["echo_challenges"].get<uint64_t>() + ds.echo_challenges;
        m["echo_verified"] = m["echo_verified"].get<uint64_t>() + ds.echo_verified;
        m["amplification_dropped"] = m["amplification_dropped"].get<uint64_t>() + ds.amplification_dropped;
    }
    m["run_id"] = spec.id;
    for (const char* k : {"handshakes_started", "handshakes_completed", "handshakes_failed", "handshake_p50_s",
                          "handshake_p95_s", "handshake_bytes", "dtls_record_overhead_bytes", "latency_hit_p50_s",
                          "latency_hit_p95_s", "latency_miss_p50_s", "latency_miss_p95_s"}) {
        m[k] = nullptr;  // NoSec, no proxy: empty
    }
    if (c.security.mode != "nosec") {
        std::sort(dtls.handshake_seconds.begin(), dtls.handshake_seconds.end());
        m["handshakes_started"] = dtls.handshakes_started;
        m["handshakes_completed"] = dtls.handshakes_completed;
        // A handshake still under way when the workload was over (its client gave up
        // first) never completed: counted as failed, and apart in the JSON.
        const uint64_t unfinished = dtls.handshakes_started - std::min(dtls.handshakes_started,
                                                                        dtls.handshakes_completed + dtls.handshakes_failed);
        m["handshakes_failed"] = dtls.handshakes_failed + unfinished;
        m["handshake_p50_s"] = number_or_null(percentile(dtls.handshake_seconds, 50));
        m["handshake_p95_s"] = number_or_null(percentile(dtls.handshake_seconds, 95));
        m["handshake_bytes"] = dtls.handshake_bytes;
        m["dtls_record_overhead_bytes"] = dtls.record_overhead_bytes;
        doc["dtls"] = {{"mode", c.security.mode},
                       {"hello_verify", c.security.hello_verify},
                       {"hello_verify_requests", dtls.hello_verify_requests},
                       {"plaintext_dropped", dtls.plaintext_dropped},
                       {"handshakes_unfinished", unfinished},
                       {"client_errors", dtls_errors},
                       {"handshake_seconds", dtls.handshake_seconds}};
    }
    if (proxy) {
        const coap::proxy::ProxyStats& ps = proxy->GetProxyStats();
        const coap::EndpointStats& up = proxy->GetUpstreamStats();
        uint64_t up_bytes = 0, origin = 0;
        for (int t = 0; t < 4; ++t) up_bytes += up.sent_bytes[t] + up.received_bytes[t];
        for (uint32_t i = 0; i < servers.GetN(); ++i) {
            origin += DynamicCast<CoapServer>(servers.Get(i))->GetEngineStats().requests_received;
        }
        // Hits and misses count every request the proxy answered, block continuations included.
        const uint64_t hits = ps.hits_fresh + ps.transfer_hits;
        m["proxy_requests"] = ps.requests;
        m["proxy_hits"] = hits;
        m["proxy_hit_ratio"] = ps.requests > 0 ? static_cast<double>(hits) / static_cast<double>(ps.requests) : 0.0;
        m["upstream_requests"] = up.exchanges_started;
        m["upstream_saved"] = ps.requests > 0 ? 1.0 - static_cast<double>(up.exchanges_started) / static_cast<double>(ps.requests) : 0.0;
        m["upstream_bytes"] = up_bytes;
        m["origin_requests"] = origin;
        m["proxy_coalesced"] = ps.coalesced;
        m["proxy_gateway_errors"] = ps.upstream_timeouts + ps.bad_gateway + ps.busy;
        m["upstream_live_s"] = proxy->GetUpstreamLiveSeconds();
        {
            // Hits and misses as the clients saw them: each completed exchange joined, by
            // the client's port and token, with the proxy's note of its first request.
            std::map<std::pair<uint16_t, std::vector<std::uint8_t>>, bool> hit_of;
            for (const auto& n : proxy->GetRequestNotes()) hit_of.emplace(std::make_pair(n.port, n.token), n.hit);
            std::vector<double> hit_times, miss_times;
            for (uint32_t i = 0; i < clients.GetN(); ++i) {
                auto app = DynamicCast<CoapClient>(clients.Get(i));
                for (const auto& r : app->GetRecords()) {
                    if (!r.completed) continue;
                    auto h = hit_of.find(std::make_pair(app->GetLocalPort(), r.token));
                    if (h != hit_of.end()) (h->second ? hit_times : miss_times).push_back(r.elapsed_s);
                }
            }
            std::sort(hit_times.begin(), hit_times.end());
            std::sort(miss_times.begin(), miss_times.end());
            m["latency_hit_p50_s"] = number_or_null(percentile(hit_times, 50));
            m["latency_hit_p95_s"] = number_or_null(percentile(hit_times, 95));
            m["latency_miss_p50_s"] = number_or_null(percentile(miss_times, 50));
            m["latency_miss_p95_s"] = number_or_null(percentile(miss_times, 95));
        }
        if (loop && far_proxy && injector) {
            const auto& fs = far_proxy->GetProxyStats();
            const uint64_t forwards = ps.to_next_hop + fs.to_next_hop;
            m["loop_injected"] = injector->GetStarted();
            m["loop_answered"] = injector->GetCompleted();
            m["loop_forwards"] = forwards;
            m["loop_hops_per_request"] = injector->GetStarted() > 0
                                             ? static_cast<double>(forwards) / static_cast<double>(injector->GetStarted())
                                             : 0.0;
            m["loop_5_08"] = ps.hop_limit_reached + fs.hop_limit_reached;
            m["loop_peak_inflight"] = std::max(ps.inflight_peak, fs.inflight_peak);
            // Every datagram between the two proxies (both directions, both sides), and how
            // long each looping request lasted for its sender: until its 5.08 came back
            // (the loop had unwound) or it gave up.
            const uint64_t injected = injector->GetStarted();
            m["loop_datagrams_per_request"] =
                injected > 0 ? static_cast<double>(proxy->GetSentToNextHop() + far_proxy->GetSentToNextHop()) /
                                   static_cast<double>(injected)
                             : 0.0;
            std::vector<double> settle;
            for (const auto& r : injector->GetRecords()) settle.push_back(r.elapsed_s);
            std::sort(settle.begin(), settle.end());
            m["loop_settle_p50_s"] = number_or_null(percentile(settle, 50));
            m["loop_settle_max_s"] = settle.empty() ? ordered_json() : ordered_json(settle.back());
        }
        const auto& port_stats = proxy->GetPortStats();
        m["upstream_ports_peak"] = port_stats.peak;
        m["upstream_port_drops"] = port_stats.closed_port + port_stats.wrong_port;
        if (poisoning) {
            // Each forged datagram names one of 256^L tokens; it is accepted when that is the
            // token of an upstream exchange in flight: expected acceptances = rate x the
            // seconds tokens were live / 256^L (PROXY.md §3.1, with NSTART's one exchange
            // at a time toward the origin).
            m["poisoned_accepted"] = proxy->GetForgedAccepted();
            // Per-exchange ports: the forgery must also name the exchange's port, 1 of 16384.
            // Piggybacked (an ACK): also the Message ID of the CON awaiting its ACK, 1 of
            // 65536 (the origin answers piggybacked, so a token is live as long as its CON).
            const double ports = c.proxy.upstream_port == "per-exchange" ? kExchangePorts : 1.0;
            // (With MIDs counting up from 0 the attacker's odds depend on its guesses: no mean.)
            const bool piggybacked = at.vector == "spoofed-piggybacked";
            const double mids = piggybacked ? 65536.0 : 1.0;
            m["poison_expected"] = piggybacked && !c.coap.random_mid
                                       ? ordered_json()
                                       : ordered_json(at.rate * proxy->GetUpstreamLiveSeconds() /
                                                      (std::pow(256.0, static_cast<double>(c.proxy.token_length)) * ports * mids));
        }
        ordered_json pj;
        pj["requests"] = ps.requests;
        pj["hits_fresh"] = ps.hits_fresh;
        pj["hits_not_modified"] = ps.hits_not_modified;
        pj["transfer_hits"] = ps.transfer_hits;
        pj["misses"] = ps.misses;
        pj["coalesced"] = ps.coalesced;
        pj["forwarded"] = ps.forwarded;
        pj["observe_registrations"] = ps.observe_registrations;
        pj["observe_joined"] = ps.observe_joined;
        pj["notifications_relayed"] = ps.notifications_relayed;
        pj["revalidated"] = ps.revalidated;
        pj["upstream_timeouts"] = ps.upstream_timeouts;
        pj["bad_gateway"] = ps.bad_gateway;
        pj["busy"] = ps.busy;
        pj["hop_limit_inserted"] = ps.hop_limit_inserted;
        pj["upstream_rst_sent"] = up.rst_sent;  // unmatched responses rejected (RFC 7252 §4.3)
        pj["upstream_bytes_sent"] = up.sent_bytes[0] + up.sent_bytes[1] + up.sent_bytes[2] + up.sent_bytes[3];
        const coap::proxy::CacheStats& cs = proxy->GetCacheStats();
        pj["cache_stored"] = cs.stored;
        pj["cache_evicted"] = cs.evicted_lru;
        pj["cache_refused_no_freshness"] = cs.refused_no_freshness;
        pj["cache_refused_too_big"] = cs.refused_too_big;
        doc["proxy"] = pj;
    }

    doc["clients"] = per_client;
    doc["engine"] = {{"clients", engine_clients}, {"servers", engine_servers}, {"messages_sent", coap_messages}};
    doc["flowmon"] = {{"tx_packets", ip_packets}, {"tx_bytes", ip_bytes}, {"rx_packets", ip_rx_packets},
                      {"rx_bytes", ip_rx_bytes}, {"lost_packets", ip_lost}};
    Simulator::Destroy();
    m["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    doc["metrics"] = m;
    return doc;
}

}  // namespace

}  // namespace coapbed::sim
