// The ns-3 test bench: Gilbert-Elliott loss, scenario files, and whole runs checked
// against the engine's statistics and the IP totals. CTest runs every TEST in its own
// process, and each TEST runs at most one simulation (ns-3 keeps global state).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <string>

#include "ns3/core-module.h"
#include "ns3/internet-stack-helper.h"
#include "ns3/ipv4-address-helper.h"
#include "ns3/ipv4-global-routing-helper.h"
#include "ns3/packet.h"
#include "ns3/point-to-point-helper.h"

#include "sim/helper/coap-helper.h"
#include "sim/model/coap-client.h"
#include "sim/model/coap-proxy.h"
#include "sim/model/coap-server.h"
#include "sim/model/gilbert-elliott-error-model.h"
#include "sim/scenario/scenario.h"
#include "sim/scenario/simulation.h"
#include "sim_test_util.h"

namespace {

using coapbed::test::error_of;
using coapbed::test::run;
using coapbed::test::u;

using coapbed::sim::parse_scenario;
using coapbed::sim::ScenarioError;

struct LossRun {
    double loss_rate;
    double mean_burst;
};

LossRun measure(ns3::Ptr<ns3::GilbertElliottErrorModel> em, int packets) {
    auto p = ns3::Create<ns3::Packet>(10);
    int lost = 0, bursts = 0;
    bool in_burst = false;
    for (int i = 0; i < packets; ++i) {
        const bool l = em->IsCorrupt(p);
        lost += l;
        if (l && !in_burst) ++bursts;
        in_burst = l;
    }
    return {static_cast<double>(lost) / packets, bursts ? static_cast<double>(lost) / bursts : 0.0};
}

TEST(GilbertElliott, LongRunLossRateAndMeanBurstLengthMatchTheParameters) {
    for (const auto& [loss, burst] : {std::pair{0.1, 3.0}, std::pair{0.3, 5.0}, std::pair{0.05, 1.0}}) {
        auto em = ns3::CreateObject<ns3::GilbertElliottErrorModel>();
        ASSERT_TRUE(em->SetLossAndBurst(loss, burst));
        em->AssignStreams(7);
        EXPECT_NEAR(em->GetExpectedLossRate(), loss, 1e-12);
        const auto r = measure(em, 1000000);
        EXPECT_NEAR(r.loss_rate, loss, loss * 0.03) << "loss " << loss << " burst " << burst;
        EXPECT_NEAR(r.mean_burst, burst, burst * 0.03) << "loss " << loss << " burst " << burst;
    }
}

TEST(GilbertElliott, LossesComeInBurstsUnlikeUniformLoss) {
    auto em = ns3::CreateObject<ns3::GilbertElliottErrorModel>();
    ASSERT_TRUE(em->SetLossAndBurst(0.2, 8));
    em->AssignStreams(3);
    // Uniform loss at 20% has mean burst 1 / (1 - 0.2) = 1.25.
    EXPECT_GT(measure(em, 200000).mean_burst, 6.0);
}

TEST(GilbertElliott, RefusesParametersNoChainHas) {
    auto em = ns3::CreateObject<ns3::GilbertElliottErrorModel>();
    EXPECT_FALSE(em->SetLossAndBurst(0.9, 2));   // P would be 4.5
    EXPECT_FALSE(em->SetLossAndBurst(1.0, 10));  // always lost
    EXPECT_FALSE(em->SetLossAndBurst(0.1, 0.5)); // bursts are at least one packet
    EXPECT_TRUE(em->SetLossAndBurst(0.9, 9));
}

// ---- the helpers and trace sources, as an ns-3 user would use them ----------------------

struct Traced {
    int started = 0, completed = 0, failed = 0, done = 0;
    std::uint32_t retransmissions = 0;
    int rto_updates = 0;
    ns3::Time last_rto;
};
void on_started(Traced* t, std::uint64_t) { ++t->started; }
void on_completed(Traced* t, std::uint64_t, ns3::Time, std::uint32_t) { ++t->completed; }
void on_failed(Traced* t, std::uint64_t, std::string) { ++t->failed; }
void on_done(Traced* t) { ++t->done; }
void on_rtx(Traced* t, std::uint32_t n) { t->retransmissions += n; }
void on_rto(Traced* t, ns3::Time, ns3::Time now) {
    ++t->rto_updates;
    t->last_rto = now;
}

TEST(CoapHelpers, ClientAndServerOnTwoNodesFireTheirTraceSources) {
    using namespace ns3;
    NodeContainer nodes;
    nodes.Create(2);
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", StringValue("100kbps"));
    p2p.SetChannelAttribute("Delay", StringValue("20ms"));
    NetDeviceContainer devs = p2p.Install(nodes);
    auto em = CreateObject<RateErrorModel>();
    em->SetUnit(RateErrorModel::ERROR_UNIT_PACKET);
    em->SetRate(0.2);
    em->AssignStreams(1);
    devs.Get(0)->SetAttribute("ReceiveErrorModel", PointerValue(em));
    InternetStackHelper stack;
    stack.Install(nodes);
    Ipv4AddressHelper addr;
    addr.SetBase("10.9.0.0", "255.255.255.0");
    Ipv4InterfaceContainer ifs = addr.Assign(devs);

    CoapServerHelper server;
    server.SetAttribute("ResponseSize", UintegerValue(2000));  // two blocks of 1024
    ApplicationContainer s = server.Install(nodes.Get(1));
    CoapClientHelper client(InetSocketAddress(ifs.GetAddress(1), 5683));
    client.SetAttribute("MaxRequests", UintegerValue(30));
    client.SetAttribute("Interval", TimeValue(MilliSeconds(200)));
    client.SetAttribute("Congestion", StringValue("cocoa"));
    ApplicationContainer c = client.Install(nodes.Get(0));
    CoapHelperBase::AssignStreams(s, 10);
    CoapHelperBase::AssignStreams(c, 20);
    c.Start(Seconds(1));

    Traced t;
    c.Get(0)->TraceConnectWithoutContext("ExchangeStarted", MakeBoundCallback(&on_started, &t));
    c.Get(0)->TraceConnectWithoutContext("ExchangeCompleted", MakeBoundCallback(&on_completed, &t));
    c.Get(0)->TraceConnectWithoutContext("ExchangeFailed", MakeBoundCallback(&on_failed, &t));
    c.Get(0)->TraceConnectWithoutContext("Done", MakeBoundCallback(&on_done, &t));
    c.Get(0)->TraceConnectWithoutContext("Retransmission", MakeBoundCallback(&on_rtx, &t));
    c.Get(0)->TraceConnectWithoutContext("RtoUpdate", MakeBoundCallback(&on_rto, &t));
    Simulator::Stop(Seconds(600));
    Simulator::Run();

    auto app = DynamicCast<CoapClient>(c.Get(0));
    EXPECT_EQ(t.started, 30);
    EXPECT_EQ(t.completed + t.failed, 30);
    EXPECT_EQ(static_cast<std::uint64_t>(t.completed), app->GetCompleted());
    EXPECT_GT(t.completed, 20);
    EXPECT_EQ(t.done, 1);
    EXPECT_GT(t.retransmissions, 0u);
    EXPECT_EQ(t.retransmissions, app->GetEngineStats().retransmissions);
    EXPECT_GT(t.rto_updates, 1);  // CoCoA adapts its RTO to the measured RTTs
    for (const auto& r : app->GetRecords()) {
        if (r.completed) {
            EXPECT_EQ(r.response_bytes, 2000u);
        }
    }
    EXPECT_EQ(DynamicCast<CoapServer>(s.Get(0))->GetEngineStats().exchanges_started, 0u);
    Simulator::Destroy();
}

namespace {
struct ProxyTraced {
    int hits = 0, misses = 0, upstream_done = 0, upstream_answered = 0, tx_up = 0, tx_down = 0, rx_up = 0, rx_down = 0;
};
void on_proxy_request(ProxyTraced* t, bool hit) { ++(hit ? t->hits : t->misses); }
void on_proxy_upstream(ProxyTraced* t, double, bool answered) {
    ++t->upstream_done;
    t->upstream_answered += answered ? 1 : 0;
}
void on_proxy_tx(ProxyTraced* t, ns3::Ptr<const ns3::Packet>, bool up) { ++(up ? t->tx_up : t->tx_down); }
void on_proxy_rx(ProxyTraced* t, ns3::Ptr<const ns3::Packet>, bool up) { ++(up ? t->rx_up : t->rx_down); }
}  // namespace

TEST(CoapHelpers, AProxyBetweenClientAndServerCachesAndFiresItsTraceSources) {
    // client -- proxy -- server: 20 GETs of one resource (Max-Age 60 s) through the proxy:
    // the first goes upstream, the other 19 come from its cache.
    using namespace ns3;
    NodeContainer nodes;
    nodes.Create(3);
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", StringValue("100kbps"));
    p2p.SetChannelAttribute("Delay", StringValue("20ms"));
    NetDeviceContainer left = p2p.Install(nodes.Get(0), nodes.Get(1));
    NetDeviceContainer right = p2p.Install(nodes.Get(1), nodes.Get(2));
    InternetStackHelper stack;
    stack.Install(nodes);
    Ipv4AddressHelper addr;
    addr.SetBase("10.9.1.0", "255.255.255.0");
    Ipv4InterfaceContainer l = addr.Assign(left);
    addr.SetBase("10.9.2.0", "255.255.255.0");
    Ipv4InterfaceContainer r = addr.Assign(right);
    Ipv4GlobalRoutingHelper::PopulateRoutingTables();

    CoapServerHelper server;
    server.SetAttribute("MaxAge", IntegerValue(60));
    ApplicationContainer s = server.Install(nodes.Get(2));
    CoapProxyHelper proxy;
    proxy.SetAttribute("LocalAddress", StringValue("10.9.1.2"));
    ApplicationContainer p = proxy.Install(nodes.Get(1));
    CoapClientHelper client(InetSocketAddress(l.GetAddress(1), 5683));
    client.SetAttribute("ProxyUri", StringValue("coap://10.9.2.2:5683/"));
    client.SetAttribute("MaxRequests", UintegerValue(20));
    client.SetAttribute("Interval", TimeValue(MilliSeconds(500)));
    ApplicationContainer c = client.Install(nodes.Get(0));
    EXPECT_EQ(CoapHelperBase::AssignStreams(p, 30), 2);
    CoapHelperBase::AssignStreams(s, 10);
    CoapHelperBase::AssignStreams(c, 20);
    c.Start(Seconds(1));
    ProxyTraced t;
    p.Get(0)->TraceConnectWithoutContext("Request", MakeBoundCallback(&on_proxy_request, &t));
    p.Get(0)->TraceConnectWithoutContext("UpstreamDone", MakeBoundCallback(&on_proxy_upstream, &t));
    p.Get(0)->TraceConnectWithoutContext("Tx", MakeBoundCallback(&on_proxy_tx, &t));
    p.Get(0)->TraceConnectWithoutContext("Rx", MakeBoundCallback(&on_proxy_rx, &t));
    Simulator::Stop(Seconds(60));
    Simulator::Run();
    auto app = DynamicCast<CoapClient>(c.Get(0));
    EXPECT_EQ(app->GetCompleted(), 20u);
    EXPECT_EQ(t.misses, 1);
    EXPECT_EQ(t.hits, 19);
    EXPECT_EQ(t.upstream_done, 1);
    EXPECT_EQ(t.upstream_answered, 1);
    EXPECT_EQ(t.tx_up, 1);    // the one upstream GET (its answer came piggybacked)
    EXPECT_EQ(t.rx_up, 1);
    EXPECT_EQ(t.rx_down, 20);
    EXPECT_EQ(t.tx_down, 20);
    EXPECT_EQ(DynamicCast<CoapProxy>(p.Get(0))->GetProxyStats().hits_fresh, 19u);
    Simulator::Destroy();
}

// ---- scenario files ---------------------------------------------------------------

const char* kBase = R"(
name = "t"
duration = 20
seeds = [1, 2]
[topology]
kind = "dumbbell"
clients = [1, 3]
loss = [0.0, 0.1, 0.2]
[workload]
response = 100
[coap]
congestion = ["default", "cocoa"]
)";

TEST(Scenario, ListsAreSweepAxesInSchemaOrderTimesSeeds) {
    const auto sc = parse_scenario(kBase, "t.toml");
    EXPECT_EQ(sc.runs.size(), 2u * 3u * 2u * 2u);
    EXPECT_EQ(sc.axes, (std::vector<std::string>{"clients", "loss", "congestion"}));
    EXPECT_EQ(sc.runs.front().id, "clients-1_loss-0_congestion-default_seed-1");
    EXPECT_EQ(sc.runs.back().id, "clients-3_loss-0.2_congestion-cocoa_seed-2");
    EXPECT_EQ(sc.runs.back().config.topology.clients, 3);
    EXPECT_DOUBLE_EQ(sc.runs.back().config.topology.loss, 0.2);
    EXPECT_EQ(sc.runs.back().config.coap.congestion, "cocoa");
    EXPECT_EQ(sc.runs.back().config.workload.response, 100);
    std::set<std::string> ids;
    for (const auto& r : sc.runs) ids.insert(r.id);
    EXPECT_EQ(ids.size(), sc.runs.size());
}

TEST(Scenario, AllExpandsToEveryRegisteredStrategy) {
    const auto sc = parse_scenario("name = \"a\"\nseeds = [1]\n[coap]\ncongestion = \"all\"\n", "a.toml");
    EXPECT_EQ(sc.runs.size(), 6u);
    EXPECT_EQ(sc.axes, (std::vector<std::string>{"congestion"}));
}

TEST(Scenario, UnitsForRatesTimesAndQueues) {
    const auto sc = parse_scenario(
        "name = \"u\"\nseeds = [1]\n[topology]\nrate = \"1.5Mbps\"\ndelay = \"250ms\"\nqueue = \"6000B\"\n"
        "[coap]\nack_timeout = \"3s\"\n",
        "u.toml");
    const auto& c = sc.runs.front().config;
    EXPECT_DOUBLE_EQ(c.topology.rate_bps, 1.5e6);
    EXPECT_DOUBLE_EQ(c.topology.delay_s, 0.25);
    EXPECT_TRUE(c.topology.queue_in_bytes);
    EXPECT_EQ(c.topology.queue, 6000);
    EXPECT_DOUBLE_EQ(c.coap.ack_timeout_s, 3.0);
}


TEST(Scenario, ErrorsNameTheFileTheKeyAndTheReason) {
    const std::string head = "name = \"b\"\nseeds = [1]\n";
    EXPECT_EQ(error_of(head + "[topology]\nclinets = 3\n"), "bad.toml: topology.clinets: unknown key");
    EXPECT_EQ(error_of(head + "speed = 3\n"), "bad.toml: speed: unknown key");
    EXPECT_EQ(error_of(head + "[topology]\nclients = \"ten\"\n"),
              "bad.toml: topology.clients: expected an integer, got a string");
    EXPECT_EQ(error_of(head + "[topology]\nclients = 0\n"),
              "bad.toml: topology.clients: 0 is out of range (must be between 1 and 100000)");
    EXPECT_EQ(error_of(head + "[topology]\nloss = 1.5\n"),
              "bad.toml: topology.loss: 1.5 is out of range (must be between 0 and 0.99)");
    EXPECT_EQ(error_of(head + "[topology]\nrate = \"fast\"\n"),
              "bad.toml: topology.rate: \"fast\" is not a rate like \"20kbps\" or \"1Mbps\"");
    EXPECT_EQ(error_of(head + "[topology]\nkind = \"mesh\"\n"),
              "bad.toml: topology.kind: \"mesh\" is not one of \"dumbbell\", \"sixlowpan\"");
    EXPECT_EQ(error_of(head + "[coap]\ncongestion = \"reno\"\n").rfind("bad.toml: coap.congestion: \"reno\" is not one of", 0),
              0u);
    EXPECT_EQ(error_of(head + "[topology]\nloss = []\n"), "bad.toml: topology.loss: a sweep list must not be empty");
    EXPECT_EQ(error_of(head + "[workload]\nconfirmable = 1\n"),
              "bad.toml: workload.confirmable: expected true or false, got an integer");
    EXPECT_EQ(error_of("seeds = [1]\n"), "bad.toml: name: missing (every scenario has a name)");
    EXPECT_EQ(error_of("name = \"x\"\n"), "bad.toml: seeds: missing (a list of integers, e.g. [1, 2, 3])");
    EXPECT_EQ(error_of("name = \"x\"\nseeds = [1, 1]\n"), "bad.toml: seeds: seed 1 is listed twice");
    EXPECT_EQ(error_of(head + "[topology]\nkind = \"sixlowpan\"\nservers = 2\n"),
              "bad.toml: topology.servers: sixlowpan has one server, at the border");
    EXPECT_EQ(error_of(head + "[topology]\nloss_model = \"gilbert-elliott\"\nloss = 0.9\nburst = 2\n"),
              "bad.toml: topology.burst: no Gilbert-Elliott chain has loss 0.9 with mean bursts of 2 packets "
              "(burst must be at least loss / (1 - loss) = 9)");
    EXPECT_EQ(error_of("name = \"x\"\nseeds = [1\n").rfind("bad.toml: line 2: not valid TOML", 0), 0u);
}

// ---- whole runs ---------------------------------------------------------------------


/// runs.csv figures agree with the engine's own counters and with the IP totals (flowmon).
void expect_accounting(const nlohmann::ordered_json& doc, unsigned ip_udp_header) {
    const auto& m = doc.at("metrics");
    const auto& ec = doc.at("engine").at("clients");
    const auto& es = doc.at("engine").at("servers");
    EXPECT_EQ(u(m, "exchanges_started"), u(ec, "exchanges_started"));
    EXPECT_EQ(u(m, "exchanges_completed"), u(ec, "exchanges_completed"));
    EXPECT_EQ(u(m, "exchanges_failed"), u(ec, "exchanges_failed"));
    EXPECT_EQ(u(m, "retransmissions"), u(ec, "retransmissions") + u(es, "retransmissions"));
    std::uint64_t bytes = 0;
    for (const char* t : {"con", "non", "ack", "rst"}) {
        bytes += ec.at(std::string("sent_bytes_") + t).get<std::uint64_t>() +
                 es.at(std::string("sent_bytes_") + t).get<std::uint64_t>();
    }
    EXPECT_EQ(u(m, "coap_bytes_sent"), bytes);
    // The IP totals see every CoAP datagram once, at the sender's IP layer.
    const auto messages = u(doc.at("engine"), "messages_sent");
    EXPECT_EQ(u(doc.at("flowmon"), "tx_packets"), messages);
    EXPECT_EQ(u(doc.at("flowmon"), "tx_bytes"), bytes + ip_udp_header * messages);
    EXPECT_EQ(u(m, "exchanges_completed") + u(m, "exchanges_failed") + u(m, "exchanges_unfinished"),
              u(m, "exchanges_started"));
}

const char* kDumbbell = R"(
name = "acc"
duration = 40
seeds = [3]
[topology]
kind = "dumbbell"
clients = 4
rate = "40kbps"
delay = "50ms"
loss = %LOSS%
loss_model = "%MODEL%"
[workload]
interval = 0.5
response = 300
[coap]
congestion = "cocoa"
)";

std::string dumbbell(const std::string& loss, const std::string& model = "uniform") {
    std::string s = kDumbbell;
    s.replace(s.find("%LOSS%"), 6, loss);
    s.replace(s.find("%MODEL%"), 7, model);
    return s;
}

TEST(SimRun, WithoutLossEveryExchangeCompletesWithoutRetransmission) {
    const auto doc = run(dumbbell("0.0"));
    const auto& m = doc.at("metrics");
    EXPECT_GT(u(m, "exchanges_started"), 100u);
    EXPECT_EQ(u(m, "exchanges_completed"), u(m, "exchanges_started"));
    EXPECT_EQ(u(m, "exchanges_failed"), 0u);
    EXPECT_EQ(u(m, "retransmissions"), 0u);
    EXPECT_EQ(u(m, "rx_drops"), 0u);
    expect_accounting(doc, 20 + 8);
    // Every datagram crosses three point-to-point links (access, bottleneck, access),
    // each adding a 2-byte PPP header.
    const auto ip = u(doc.at("flowmon"), "tx_bytes"), pkts = u(doc.at("flowmon"), "tx_packets");
    EXPECT_EQ(u(m, "link_bytes"), 3 * (ip + 2 * pkts));
    EXPECT_EQ(u(m, "bottleneck_bytes"), ip + 2 * pkts);
    EXPECT_DOUBLE_EQ(m.at("jain_fairness").get<double>() > 0.9, true);
    // 300-byte responses at 40 kbit/s plus 2 x 50 ms: at least 0.16 s each.
    EXPECT_GT(m.at("completion_p50_s").get<double>(), 0.16);
    // A CON and its piggybacked response per exchange, every byte a useful first copy.
    EXPECT_DOUBLE_EQ(m.at("tx_necessary_per_exchange").get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(m.at("tx_spurious_per_exchange").get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(m.at("useful_fraction").get<double>(), 1.0);
    EXPECT_EQ(u(m, "rtt_samples"), u(m, "exchanges_completed"));
    EXPECT_GE(u(m, "queue_peak"), 1u);
}

TEST(SimRun, SwitchedAccessCarriesEveryExchangeAndItsBytesWithoutPppHeaders) {
    std::string toml = dumbbell("0.0");
    toml.replace(toml.find("kind = \"dumbbell\""), 17, "kind = \"dumbbell\"\naccess = \"switch\"");
    const auto doc = run(toml);
    const auto& m = doc.at("metrics");
    EXPECT_GT(u(m, "exchanges_started"), 100u);
    EXPECT_EQ(u(m, "exchanges_completed"), u(m, "exchanges_started"));
    EXPECT_EQ(u(m, "retransmissions"), 0u);
    EXPECT_EQ(u(m, "queue_drops"), 0u);
    expect_accounting(doc, 20 + 8);
    // The clients' links carry bare IP; the bottleneck and the server's link add PPP.
    const auto ip = u(doc.at("flowmon"), "tx_bytes"), pkts = u(doc.at("flowmon"), "tx_packets");
    EXPECT_EQ(u(m, "link_bytes"), ip + 2 * (ip + 2 * pkts));
    EXPECT_EQ(u(m, "bottleneck_bytes"), ip + 2 * pkts);
}

TEST(SimRun, AFullBottleneckQueueCountsItsDrops) {
    // 40 clients on 20 kbit/s behind a 5-packet queue: the queue fills and drops.
    const auto doc = run(R"(
name = "drops"
duration = 60
seeds = [1]
[topology]
clients = 40
rate = "20kbps"
delay = "50ms"
queue = 5
[workload]
interval = 0.5
)");
    const auto& m = doc.at("metrics");
    EXPECT_EQ(u(m, "queue_peak"), 5u);
    EXPECT_GT(u(m, "queue_drops"), 0u);
    // Every datagram that left and never arrived was dropped somewhere: here only there.
    EXPECT_EQ(u(m, "queue_drops"), u(doc.at("flowmon"), "lost_packets"));
}

TEST(SimRun, WithLossCompletedPlusFailedIsStartedAndRetransmissionsAppear) {
    const auto doc = run(dumbbell("0.25"));
    const auto& m = doc.at("metrics");
    EXPECT_GT(u(m, "retransmissions"), 10u);
    // The ledger sees every CON retransmission the engines count; with loss in both
    // directions some of them follow a lost ACK, i.e. are spurious, and some are not.
    EXPECT_EQ(u(m, "ledger_retransmissions"), u(m, "retransmissions"));
    // RFC 7252 §4.5 in the simulator's server: each duplicate CON is answered with a copy
    // of the same ACK (same type and Message ID, to the same client), never processed twice.
    const auto& srv = doc.at("engine").at("servers");
    EXPECT_GT(u(srv, "duplicates_received"), 0u);
    EXPECT_EQ(u(m, "ledger_reply_copies"), u(srv, "duplicates_received"));
    EXPECT_EQ(u(srv, "requests_received") + u(srv, "duplicates_received"), u(srv, "received_con"));
    EXPECT_EQ(u(srv, "dedup_evictions"), 0u);
    EXPECT_GT(u(m, "spurious_retransmissions"), 0u);
    EXPECT_LT(u(m, "spurious_retransmissions"), u(m, "retransmissions"));
    EXPECT_GT(m.at("tx_spurious_per_exchange").get<double>(), 0.0);
    EXPECT_LT(m.at("useful_fraction").get<double>(), 0.95);
    EXPECT_GT(m.at("useful_fraction").get<double>(), 0.3);
    EXPECT_GT(u(m, "rx_drops"), 10u);
    EXPECT_EQ(u(m, "exchanges_unfinished"), 0u);
    EXPECT_EQ(u(m, "exchanges_completed") + u(m, "exchanges_failed"), u(m, "exchanges_started"));
    expect_accounting(doc, 20 + 8);
}

/// The --trace file of one run of the lossy dumbbell with `congestion`: its rows.
std::vector<std::vector<std::string>> rto_trace(const std::string& congestion) {
    std::string toml = dumbbell("0.25");
    toml.replace(toml.find("\"cocoa\""), 7, "\"" + congestion + "\"");
    const auto sc = parse_scenario(toml, "test.toml");
    coapbed::sim::SimOptions opt;
    opt.trace_path = ::testing::TempDir() + "rto-trace-" + congestion + ".csv";
    (void)coapbed::sim::simulate(sc, sc.runs.front(), opt);
    std::ifstream in(opt.trace_path);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "time_s,client,rto_s,state");
    std::vector<std::vector<std::string>> rows;
    while (std::getline(in, line)) {
        std::vector<std::string> cells;
        std::size_t start = 0;
        for (std::size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1) {
            cells.push_back(line.substr(start, comma - start));
        }
        cells.push_back(line.substr(start));
        EXPECT_EQ(cells.size(), 4u) << line;
        rows.push_back(cells);
    }
    return rows;
}

TEST(SimRun, TraceFollowsFasorThroughItsStatesAndRtos) {
    const auto rows = rto_trace("fasor");
    ASSERT_GT(rows.size(), 20u);
    std::set<std::string> states, clients;
    double last = 0;
    for (const auto& r : rows) {
        states.insert(r[3]);
        clients.insert(r[1]);
        const double t = std::stod(r[0]);
        EXPECT_GE(t, last);  // in time order
        last = t;
        EXPECT_GT(std::stod(r[2]), 0.0);
    }
    // With 25 % loss every client retransmits: FAST -> FAST_SLOW_FAST (or SLOW_FAST) and back.
    EXPECT_TRUE(states.count("FAST"));
    EXPECT_TRUE(states.count("FAST_SLOW_FAST") || states.count("SLOW_FAST"));
    for (const auto& st : states) EXPECT_TRUE(st == "FAST" || st == "FAST_SLOW_FAST" || st == "SLOW_FAST") << st;
    EXPECT_EQ(clients, (std::set<std::string>{"0", "1", "2", "3"}));
}

TEST(SimRun, TraceOfDefaultCoapIsItsOneFixedRtoPerClient) {
    const auto rows = rto_trace("default");
    ASSERT_EQ(rows.size(), 4u);  // ACK_TIMEOUT, set once per client, never adapted
    for (const auto& r : rows) {
        EXPECT_DOUBLE_EQ(std::stod(r[2]), 2.0);
        EXPECT_EQ(r[3], "");
    }
}

TEST(SimRun, AGlobalEventBurstQueuesBehindNstartAndIsTimed) {
    // The burst keys go into kDumbbell's [workload] table.
    std::string text = dumbbell("0.0");
    text.replace(text.find("response = 300"), 14, "response = 300\nburst = 6\nburst_at = 20");
    const auto with = run(text).at("metrics");
    const auto without = run(dumbbell("0.0")).at("metrics");
    // 4 clients x 6 requests at once, on top of the closed loop (whose own requests then
    // wait behind them, so the total grows by less than 24).
    EXPECT_GT(u(with, "exchanges_started"), u(without, "exchanges_started"));
    EXPECT_EQ(u(with, "exchanges_completed"), u(with, "exchanges_started"));
    EXPECT_EQ(with.at("burst_completed").get<double>(), 1.0);
    // Each client's 6 requests go one after another (NSTART = 1): at least 6 round trips
    // of 300-byte responses at 40 kbit/s, and not much more without loss.
    const double settling = with.at("burst_settling_s").get<double>();
    EXPECT_GT(settling, 6 * 0.16);
    EXPECT_LT(settling, 20.0);
    EXPECT_TRUE(without.at("burst_settling_s").is_null());
}

TEST(Scenario, TheBurstFallsInsideTheRun) {
    EXPECT_EQ(error_of("name = \"b\"\nseeds = [1]\nduration = 60\n[workload]\nburst = 3\nburst_at = 60\n"),
              "bad.toml: workload.burst_at: the burst must fall between workload.start and duration");
    EXPECT_EQ(error_of("name = \"b\"\nseeds = [1]\nduration = 60\n[workload]\nburst = 3\nburst_at = 30\n"),
              "(no error)");
}

TEST(SimRun, GilbertElliottLossOnTheBottleneck) {
    const auto doc = run(dumbbell("0.2", "gilbert-elliott"));
    const auto& m = doc.at("metrics");
    EXPECT_GT(u(m, "retransmissions"), 10u);
    EXPECT_EQ(u(m, "exchanges_completed") + u(m, "exchanges_failed"), u(m, "exchanges_started"));
    expect_accounting(doc, 20 + 8);
}

TEST(SimRun, PoissonArrivalsQueueBehindNstart) {
    const auto doc = run(R"(
name = "open"
duration = 201
seeds = [5]
[topology]
clients = 2
rate = "100kbps"
delay = "20ms"
[workload]
arrival = "poisson"
interval = 0.5
response = 100
)");
    const auto& m = doc.at("metrics");
    // About 200 s / 0.5 s = 400 arrivals per client (Poisson: sd 20).
    for (const auto& c : doc.at("clients")) {
        EXPECT_GT(u(c, "started"), 330u);
        EXPECT_LT(u(c, "started"), 470u);
    }
    EXPECT_EQ(u(m, "exchanges_completed"), u(m, "exchanges_started"));
    // Arrivals closer than a round trip wait for NSTART = 1, so some completion times
    // are longer than one round trip: the 99th percentile is well above the median.
    EXPECT_GT(m.at("completion_p99_s").get<double>(), 1.5 * m.at("completion_p50_s").get<double>());
    expect_accounting(doc, 20 + 8);
}

TEST(SimRun, ShortLivedClientsArriveWithFreshEnginesAndLeave) {
    // A round trip of 3.5 s, above any initial RTO (ACK_TIMEOUT 2 s x up to 1.5): a client
    // that starts with no RTT estimate retransmits its first request. Each client here has
    // only that one exchange, so every exchange is retransmitted; a long-lived client
    // would have learnt the round trip after its first.
    const auto doc = run(R"(
name = "short"
duration = 60
seeds = [1]
[topology]
clients = 3
rate = "50kbps"
delay = "1.75s"
[workload]
arrival = "short-lived"
interval = 2.0
exchanges_per_client = 1
[coap]
congestion = "cocoa"
)");
    const auto& m = doc.at("metrics");
    // About 3 nodes x 59 s / 2 s = 88 clients (Poisson), one exchange each.
    const auto clients = doc.at("clients").size();
    EXPECT_GT(clients, 60u);
    EXPECT_LT(clients, 120u);
    EXPECT_EQ(u(m, "exchanges_started"), clients);
    for (const auto& c : doc.at("clients")) EXPECT_EQ(u(c, "started"), 1u);
    EXPECT_EQ(u(m, "exchanges_completed"), u(m, "exchanges_started"));
    EXPECT_GE(u(m, "retransmissions"), u(m, "exchanges_completed"));
    expect_accounting(doc, 20 + 8);
}

TEST(CoapHelpers, AnOnOffClientSendsInBurstsSeparatedByIdlePeriods) {
    using namespace ns3;
    NodeContainer nodes;
    nodes.Create(2);
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", StringValue("1Mbps"));
    p2p.SetChannelAttribute("Delay", StringValue("10ms"));
    NetDeviceContainer devs = p2p.Install(nodes);
    InternetStackHelper stack;
    stack.Install(nodes);
    Ipv4AddressHelper addr;
    addr.SetBase("10.9.0.0", "255.255.255.0");
    Ipv4InterfaceContainer ifs = addr.Assign(devs);
    ApplicationContainer s = CoapServerHelper().Install(nodes.Get(1));
    CoapClientHelper client(InetSocketAddress(ifs.GetAddress(1), 5683));
    client.SetAttribute("Arrival", StringValue("on-off"));
    client.SetAttribute("Interval", TimeValue(MilliSeconds(500)));
    client.SetAttribute("OnTime", TimeValue(Seconds(5)));
    client.SetAttribute("OffTime", TimeValue(Seconds(20)));
    client.SetAttribute("SendUntil", TimeValue(Seconds(2001)));
    ApplicationContainer c = client.Install(nodes.Get(0));
    CoapHelperBase::AssignStreams(s, 10);
    CoapHelperBase::AssignStreams(c, 20);
    c.Start(Seconds(1));
    Simulator::Stop(Seconds(2100));
    Simulator::Run();
    const auto& records = DynamicCast<CoapClient>(c.Get(0))->GetRecords();
    // On a fifth of the time, one request per ~0.52 s when on: about 2000 x 0.2 / 0.52 = 770.
    EXPECT_GT(records.size(), 500u);
    EXPECT_LT(records.size(), 1100u);
    // Within a burst the requests follow 0.5 s + one round trip apart; between bursts
    // lie idle periods (mean 20 s): about 2000 / 25 = 80 of them.
    int bursts = 0, close = 0;
    for (std::size_t i = 1; i < records.size(); ++i) {
        const double gap = records[i].started_s - records[i - 1].started_s;
        EXPECT_GE(gap, 0.5);
        if (gap > 2.0) ++bursts;
        if (gap < 0.6) ++close;
    }
    EXPECT_GT(bursts, 40);
    EXPECT_LT(bursts, 130);
    EXPECT_GT(close, 400);
    Simulator::Destroy();
}

TEST(SimRun, SixlowpanChainOfThreeHops) {
    const auto doc = run(R"(
name = "six"
duration = 60
seeds = [1]
[topology]
kind = "sixlowpan"
clients = 3
hops = 3
[workload]
interval = 2.0
response = 200
)");
    const auto& m = doc.at("metrics");
    EXPECT_GT(u(m, "exchanges_completed"), 50u);
    EXPECT_EQ(u(m, "exchanges_completed") + u(m, "exchanges_failed"), u(m, "exchanges_started"));
    // Three radio hops each way: far slower than one.
    EXPECT_GT(m.at("completion_p50_s").get<double>(), 0.05);
    expect_accounting(doc, 40 + 8);  // the IP totals count uncompressed IPv6 headers
}

TEST(SimRun, SixlowpanExtraLossIsVisibleToCoap) {
    const auto doc = run(R"(
name = "six-loss"
duration = 120
seeds = [2]
[topology]
kind = "sixlowpan"
clients = 3
hops = 2
loss = 0.1
[workload]
interval = 2.0
response = 200
)");
    const auto& m = doc.at("metrics");
    EXPECT_GT(u(m, "rx_drops"), 10u);
    EXPECT_GT(u(m, "retransmissions"), 5u);
    EXPECT_EQ(u(m, "exchanges_unfinished"), 0u);
    EXPECT_EQ(u(m, "exchanges_completed") + u(m, "exchanges_failed"), u(m, "exchanges_started"));
    expect_accounting(doc, 40 + 8);
}

// ---- reflection attacks and defences (issue #5) --------------------------------------

std::string attack_scenario(const std::string& vector, std::int64_t resource, bool echo) {
    return std::string(R"(
name = "amp"
duration = 30
seeds = [4]
[topology]
clients = 1
rate = "10Mbps"
delay = "10ms"
[workload]
interval = 1.0
response = 200
[attack]
rate = 20
servers = 2
notify_interval = 1.0
vector = ")") + vector + "\"\nresource = " + std::to_string(resource) + "\n[defence]\necho = " +
           (echo ? "true" : "false") + "\n";
}

double d(const nlohmann::ordered_json& j, const char* k) { return j.at(k).get<double>(); }

TEST(Amplification, ALargeGetReflectsAsTheHeaderArithmeticPredicts) {
    // Request: 4 header + 4 token + Uri-Path "large" (1 + 5) = 14 bytes. Response: 4 + 4
    // + Content-Format 42 (1 + 1) + payload marker 1 + the representation. UDP/IPv4: +28.
    for (const std::int64_t size : {64, 512, 1024}) {
        const auto doc = run(attack_scenario("large-get", size, false));
        const auto& m = doc.at("metrics");
        const double response = 11.0 + static_cast<double>(size);
        EXPECT_NEAR(d(m, "amplification_coap"), response / 14.0, 0.02 * response / 14.0) << size;
        EXPECT_NEAR(d(m, "amplification_bytes"), (response + 28) / 42.0, 0.02 * (response + 28) / 42.0) << size;
        // Every request is answered (the last one may still be in flight when the run ends).
        EXPECT_LE(u(m, "attacker_packets") - u(m, "victim_packets"), 1u);
    }
}

TEST(Amplification, WithEchoNoVectorExceedsTheLimitAndTheClientCompletes) {
    for (const char* vector : {"large-get", "well-known-core", "block", "observe"}) {
        const auto doc = run(attack_scenario(vector, 1024, true));
        const auto& m = doc.at("metrics");
        EXPECT_LE(d(m, "amplification_coap"), 3.0) << vector;  // the default 3x allowance
        EXPECT_GT(u(m, "echo_challenges"), u(m, "attacker_packets") / 2) << vector;
        EXPECT_GT(u(m, "exchanges_started"), 20u) << vector;
        EXPECT_EQ(u(m, "exchanges_completed"), u(m, "exchanges_started")) << vector;
        EXPECT_EQ(u(doc.at("engine").at("clients"), "echo_retries"), 1u) << vector;  // one extra round trip
    }
    // Undefended, the same vectors reflect many times over.
    EXPECT_GT(d(run(attack_scenario("observe", 1024, false)).at("metrics"), "amplification_coap"), 50.0);
}

TEST(Amplification, AGroupRequestIsAnsweredByEveryServerAndEchoHoldsEachToItsLimit) {
    // Two reflectors on one LAN: each answers the group request (RFC 7252 §8.2), so
    // the undefended factor is about twice the unicast one, and each server's Echo
    // allowance (3x) adds up to at most 2 x 3.
    const auto open = run(attack_scenario("multicast", 1024, false)).at("metrics");
    // Request: 4 + token 4 + Uri-Path ".well-known" (1 + 11) and "core" (1 + 4) = 25 bytes.
    // Response: the first 1024-byte block of the link format, with Content-Format,
    // Block2 and Size2: 1040 bytes. Responses still within their leisure period when
    // the run ends are not counted, hence the lower bound.
    const double unicast_factor = 1040.0 / 25.0;
    EXPECT_GT(d(open, "amplification_coap"), 1.7 * unicast_factor);
    EXPECT_LE(d(open, "amplification_coap"), 2.0 * unicast_factor);
    const auto defended = run(attack_scenario("multicast", 1024, true));
    const auto& m = defended.at("metrics");
    EXPECT_LE(d(m, "amplification_coap"), 2 * 3.0);
    EXPECT_EQ(u(m, "exchanges_completed"), u(m, "exchanges_started"));
    EXPECT_GT(u(defended.at("engine").at("servers"), "multicast_requests"), 0u);
}

TEST(Amplification, OtherProtocolsNeverGetMoreThanTheySentAndDropsAreCounted) {
    const auto doc = run(attack_scenario("dns", 1024, false));
    const auto& m = doc.at("metrics");
    // Every reply (RST, or an error for a datagram that happens to parse) is smaller
    // than the smallest datagram sent (a 29-byte DNS query).
    EXPECT_LT(d(m, "amplification_coap"), 0.2);
    ASSERT_GT(u(m, "victim_packets"), 0u);  // RSTs for the datagrams that look like CON
    EXPECT_LE(u(m, "victim_bytes") / u(m, "victim_packets"), 28u + 29u);
    EXPECT_GT(u(m, "format_errors"), u(m, "attacker_packets") / 2);
    std::uint64_t by_reason = 0;
    for (const auto& [reason, n] : doc.at("engine").at("servers").at("format_error_reasons").items()) {
        EXPECT_FALSE(reason.empty());
        by_reason += n.get<std::uint64_t>();
    }
    EXPECT_EQ(by_reason, u(m, "format_errors"));
}

TEST(Spoofing, PredictableMessageIdsLetBlindRstsKillExchanges) {
    auto scenario = [](bool random_mid) {
        return std::string(R"(
name = "rst"
duration = 60
seeds = [1]
[topology]
clients = 1
[workload]
interval = 1.0
[attack]
vector = "spoofed-rst"
rate = 200
[coap]
random_mid = )") + (random_mid ? "true" : "false") + "\n";
    };
    const auto predictable = run(scenario(false)).at("metrics");
    const auto randomized = run(scenario(true)).at("metrics");
    EXPECT_GT(d(predictable, "killed_fraction"), 0.3);
    EXPECT_GT(u(predictable, "exchanges_reset"), 0u);
    EXPECT_EQ(u(randomized, "exchanges_reset"), 0u);
}

}  // namespace
