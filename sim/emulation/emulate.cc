#include "sim/emulation/emulate.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <thread>

#include "ns3/boolean.h"
#include "ns3/config.h"
#include "ns3/core-module.h"
#include "ns3/fd-net-device-helper.h"
#include "ns3/fd-net-device.h"
#include "ns3/internet-stack-helper.h"
#include "ns3/ipv4-address-helper.h"
#include "ns3/ipv4-global-routing-helper.h"
#include "ns3/point-to-point-helper.h"
#include "ns3/point-to-point-net-device.h"
#include "ns3/queue-size.h"
#include "ns3/traffic-control-helper.h"

#include "sim/emulation/netns.h"
#include "sim/emulation/wire.h"
#include "sim/model/links.h"
#include "sim/runner.h"

namespace coapbed::sim {

using nlohmann::ordered_json;
using namespace ns3;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// What the simulation thread sees: frames on the TAPs and the links' counters.
struct Observed {
    std::vector<emu::WireRecord> records;
    uint64_t link_bytes = 0, bottleneck_bytes = 0, queue_drops = 0, rx_drops = 0, unparsed_frames = 0;
    uint32_t queue_peak = 0;
};

struct TapTrace {
    Observed* obs;
    int tap;            ///< -1 server, else the client's index
    uint32_t ns_addr;   ///< the namespace's address
};

void on_tap_frame(TapTrace* tt, Ptr<const Packet> p) {
    const uint32_t n = p->GetSize();
    if (n > 65535) return;
    std::vector<uint8_t> buf(n);
    p->CopyData(buf.data(), n);
    emu::UdpFrame f;
    if (!emu::parse_udp_frame(buf.data(), n, f)) return;  // ARP and the like
    emu::WireRecord r;
    r.t = Simulator::Now().GetSeconds();
    r.tap = tt->tap;
    r.outbound = f.src == tt->ns_addr;
    r.remote_addr = r.outbound ? f.dst : f.src;
    r.local_port = r.outbound ? f.sport : f.dport;
    r.remote_port = r.outbound ? f.dport : f.sport;
    r.payload.assign(f.payload, f.payload + f.length);
    tt->obs->records.push_back(std::move(r));
}
void on_link_tx(Observed* o, Ptr<const Packet> p) { o->link_bytes += p->GetSize(); }
void on_neck_tx(Observed* o, Ptr<const Packet> p) { o->bottleneck_bytes += p->GetSize(); }
void on_queue(Observed* o, uint32_t, uint32_t now) { o->queue_peak = std::max(o->queue_peak, now); }
void on_drop(uint64_t* counter, Ptr<const Packet>) { ++*counter; }

/// Real-time lag: wall-clock time minus simulated time, sampled every 10 ms by an event
/// (so a late event shows as lag). The sampler also ends the run when told to.
struct LagSampler {
    Clock::time_point wall0;
    std::vector<double> samples_ms;
    std::atomic<bool>* started;
    std::atomic<bool>* done;
    void Sample() {
        if (samples_ms.empty() && !started->load()) {
            wall0 = Clock::now() - std::chrono::nanoseconds(Simulator::Now().GetNanoSeconds());
            started->store(true);
        }
        const double lag = (seconds_since(wall0) - Simulator::Now().GetSeconds()) * 1000.0;
        samples_ms.push_back(std::max(0.0, lag));
        if (done->load()) {
            Simulator::Stop();
            return;
        }
        Simulator::Schedule(MilliSeconds(10), &LagSampler::Sample, this);
    }
};

struct CommandRecord {
    int client = -1;  ///< -1: the server
    int64_t seq = 0;
    std::string command;
    double start_s = 0, end_s = 0;
    int status = -1;      ///< exit status; -1 when it did not exit by itself
    bool stopped = false; ///< stopped by the emulator (run over, interrupted)
};

/// Starts the server, then runs every client's command `repeat` times, `interval` apart,
/// until all are done, the run's duration is over or a signal came. Runs in its own thread.
struct Orchestra {
    const Emulation& e;
    double duration_s;
    std::string server_ns;
    std::vector<std::string> client_ns;
    std::string server_addr;
    std::vector<std::string> client_addr;
    std::string log_prefix;
    std::vector<std::pair<std::string, std::string>> placeholders;  ///< shared by every command
    std::atomic<bool>* started;
    std::atomic<bool>* done;
    std::vector<CommandRecord> records;
    bool server_ended_early = false;
    std::string error;

    std::vector<std::pair<std::string, std::string>> with(std::vector<std::pair<std::string, std::string>> own) const {
        own.insert(own.end(), placeholders.begin(), placeholders.end());
        return own;
    }

    void Run() {
        try {
            RunChecked();
        } catch (const std::exception& ex) {
            error = ex.what();
        }
        done->store(true);
    }

    void RunChecked() {
        const auto wait_start = Clock::now();
        while (!started->load() && seconds_since(wait_start) < 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const Clock::time_point t0 = Clock::now();
        CommandRecord srv;
        srv.command = expand_command(e.server, with({{"addr", server_addr}, {"index", "0"}, {"seq", "0"}}));
        srv.start_s = 0;
        emu::Process server(server_ns, srv.command, log_prefix + "-server.log");
        struct Slot {
            std::unique_ptr<emu::Process> proc;
            CommandRecord rec;
            int64_t seq = 0;
            double next_s = 0;
        };
        std::vector<Slot> slots(client_ns.size());
        for (auto& s : slots) s.next_s = e.settle_s;
        int status = 0, server_status = 0;
        while (!InterruptGuard::raised() && seconds_since(t0) < duration_s) {
            const double now = seconds_since(t0);
            bool busy = false;
            for (std::size_t i = 0; i < slots.size(); ++i) {
                Slot& s = slots[i];
                if (s.proc) {
                    if (s.proc->poll(status)) {
                        s.rec.end_s = seconds_since(t0);
                        s.rec.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                        records.push_back(s.rec);
                        s.proc.reset();
                        ++s.seq;
                        s.next_s = s.rec.end_s + e.interval_s;
                    } else {
                        busy = true;
                        continue;
                    }
                }
                if (s.seq >= e.repeat) continue;
                busy = true;
                if (now < s.next_s) continue;
                s.rec = CommandRecord{};
                s.rec.client = static_cast<int>(i);
                s.rec.seq = s.seq;
                s.rec.command = expand_command(e.client, with({{"addr", client_addr[i]},
                                                               {"index", std::to_string(i)},
                                                               {"seq", std::to_string(s.seq)}}));
                s.rec.start_s = now;
                s.proc = std::make_unique<emu::Process>(client_ns[i], s.rec.command,
                                                        log_prefix + "-client" + std::to_string(i) + ".log");
            }
            if (!busy) break;
            if (!server_ended_early && server.poll(server_status)) server_ended_early = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        for (auto& s : slots) {
            if (!s.proc) continue;
            s.proc->stop(0.5);
            s.rec.end_s = seconds_since(t0);
            s.rec.stopped = true;
            records.push_back(s.rec);
        }
        srv.end_s = seconds_since(t0);
        if (server_ended_early || server.poll(server_status)) {
            server_ended_early = true;
            srv.status = WIFEXITED(server_status) ? WEXITSTATUS(server_status) : 128 + WTERMSIG(server_status);
        } else {
            server.stop(1.0);
            srv.stopped = true;
        }
        records.insert(records.begin(), srv);
    }
};

ordered_json num(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

/// Puts the calling thread (and the threads it starts: ns-3's TAP readers) on SCHED_FIFO
/// when allowed, as EMULATION.md §4 recommends; returns the policy's name.
std::string realtime_priority() {
    sched_param sp{};
    sp.sched_priority = 50;
    if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0) return "SCHED_FIFO 50";
    return "normal (SCHED_FIFO refused)";
}

void normal_priority() {
    sched_param sp{};
    sp.sched_priority = 0;
    (void)sched_setscheduler(0, SCHED_OTHER, &sp);
}

}  // namespace

std::string expand_command(const std::string& command, const std::vector<std::pair<std::string, std::string>>& values) {
    std::string out;
    for (std::size_t i = 0; i < command.size();) {
        bool replaced = false;
        if (command[i] == '{') {
            for (const auto& [key, value] : values) {
                if (command.compare(i + 1, key.size(), key) == 0 && command.size() > i + 1 + key.size() &&
                    command[i + 1 + key.size()] == '}') {
                    out += value;
                    i += key.size() + 2;
                    replaced = true;
                    break;
                }
            }
        }
        if (!replaced) out += command[i++];
    }
    return out;
}

ordered_json emulate(const Scenario& scenario, const RunSpec& spec, const SimOptions& options) {
    const RunConfig& c = spec.config;
    const Emulation& e = c.emulation;
    const auto& t = c.topology;
    if (const std::string why = emu::missing_privileges(); !why.empty()) throw emu::EmulationError(why);
    const auto wall_start = Clock::now();
    emu::remove_stale_namespaces();
    InterruptGuard guard;

    // ---- namespaces first: a failure here leaves nothing behind ------------------------
    const std::string tag = std::string(emu::kNamespacePrefix) + "-" + std::to_string(getpid()) + "-";
    const int clients = static_cast<int>(e.clients);
    const std::string server_addr = "10.3.0.2";
    auto server_ns = std::make_unique<emu::TapNamespace>(tag + "s", server_addr, 24, "10.3.0.1");
    std::vector<std::unique_ptr<emu::TapNamespace>> client_ns;
    std::vector<std::string> client_addr;
    for (int i = 0; i < clients; ++i) {
        const std::string net = "10.4." + std::to_string(i) + ".";
        client_addr.push_back(net + "2");
        client_ns.push_back(std::make_unique<emu::TapNamespace>(tag + "c" + std::to_string(i), net + "2", 24, net + "1"));
    }

    // ---- ns-3 in real time ----------------------------------------------------------
    GlobalValue::Bind("SimulatorImplementationType", StringValue("ns3::RealtimeSimulatorImpl"));
    // Linux drops IPv4 packets with a zero header checksum (EMULATION.md §3).
    GlobalValue::Bind("ChecksumEnabled", BooleanValue(true));
    RngSeedManager::SetSeed(1);
    RngSeedManager::SetRun(spec.seed);

    NodeContainer routers, edges;
    routers.Create(2);
    edges.Create(static_cast<uint32_t>(clients) + 1);  // 0: the server's edge, 1..: the clients'
    InternetStackHelper stack;
    stack.Install(routers);
    stack.Install(edges);
    int64_t stream = 0;
    stream += stack.AssignStreams(routers, stream);
    stream += stack.AssignStreams(edges, stream);

    PointToPointHelper access = MakeAccessLink(t);
    PointToPointHelper neck = MakeBottleneckLink(t);
    Ipv4AddressHelper addr;
    NetDeviceContainer all;
    addr.SetBase("10.0.0.0", "255.255.255.252");
    NetDeviceContainer bottleneck = neck.Install(routers.Get(0), routers.Get(1));
    addr.Assign(bottleneck);
    all.Add(bottleneck);
    addr.SetBase("10.1.0.0", "255.255.255.252");
    for (int i = 0; i < clients; ++i) {
        NetDeviceContainer d = access.Install(edges.Get(static_cast<uint32_t>(i) + 1), routers.Get(0));
        addr.Assign(d);
        addr.NewNetwork();
        all.Add(d);
    }
    addr.SetBase("10.2.0.0", "255.255.255.252");
    {
        NetDeviceContainer d = access.Install(edges.Get(0), routers.Get(1));
        addr.Assign(d);
        all.Add(d);
    }
    // The TAPs: an FdNetDevice on each edge node reads and writes the namespace's tap0.
    Observed obs;
    std::vector<std::unique_ptr<TapTrace>> traces;
    FdNetDeviceHelper fd_helper;
    NetDeviceContainer taps;
    auto attach = [&](uint32_t edge, emu::TapNamespace& ns, const std::string& net, int tap, const std::string& ns_address) {
        NetDeviceContainer d = fd_helper.Install(edges.Get(edge));
        auto dev = DynamicCast<FdNetDevice>(d.Get(0));
        // The device closes its fd when it stops; the namespace object keeps its own.
        dev->SetFileDescriptor(dup(ns.fd()));
        addr.SetBase(Ipv4Address(net.c_str()), "255.255.255.0");
        addr.Assign(d);
        taps.Add(d);
        traces.push_back(std::make_unique<TapTrace>(TapTrace{&obs, tap, Ipv4Address(ns_address.c_str()).Get()}));
        dev->TraceConnectWithoutContext("PromiscSniffer", MakeBoundCallback(&on_tap_frame, traces.back().get()));
        if (!options.pcap_prefix.empty()) {
            fd_helper.EnablePcap(
                options.pcap_prefix + (tap < 0 ? "-server" : "-client" + std::to_string(tap)) + ".pcap", dev, true, true);
        }
    };
    attach(0, *server_ns, "10.3.0.0", -1, server_addr);
    for (int i = 0; i < clients; ++i) {
        attach(static_cast<uint32_t>(i) + 1, *client_ns[static_cast<std::size_t>(i)], "10.4." + std::to_string(i) + ".0",
               i, client_addr[static_cast<std::size_t>(i)]);
    }
    // Plain drop-tail FIFOs: the queue under study is the bottleneck's (as in simulation.cc).
    // (The FdNetDevices have no device queue and no queue disc to remove.)
    TrafficControlHelper tc;
    tc.Uninstall(all);
    for (uint32_t i = 0; i < 2; ++i) {
        auto dev = DynamicCast<PointToPointNetDevice>(bottleneck.Get(i));
        if (auto em = MakeLinkLoss(t, stream++)) dev->SetReceiveErrorModel(em);
        dev->TraceConnectWithoutContext("PhyTxBegin", MakeBoundCallback(&on_neck_tx, &obs));
        dev->TraceConnectWithoutContext("PhyRxDrop", MakeBoundCallback(&on_drop, &obs.rx_drops));
        dev->GetQueue()->TraceConnectWithoutContext("PacketsInQueue", MakeBoundCallback(&on_queue, &obs));
    }
    Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::PointToPointNetDevice/PhyTxBegin",
                                  MakeBoundCallback(&on_link_tx, &obs));
    Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::PointToPointNetDevice/TxQueue/Drop",
                                  MakeBoundCallback(&on_drop, &obs.queue_drops));
    Config::ConnectWithoutContext("/NodeList/*/$ns3::TrafficControlLayer/TcDrop",
                                  MakeBoundCallback(&on_drop, &obs.queue_drops));
    Ipv4GlobalRoutingHelper::PopulateRoutingTables();

    std::atomic<bool> started{false}, done{false};
    LagSampler lag;
    lag.started = &started;
    lag.done = &done;
    Simulator::Schedule(Seconds(0), &LagSampler::Sample, &lag);

    // {tmp}: a directory of the run's own (world-readable: the programs may drop privileges).
    std::string tmp = (std::filesystem::temp_directory_path() / "coapbed-emu-XXXXXX").string();
    if (mkdtemp(tmp.data()) == nullptr) throw emu::EmulationError("cannot make a directory for {tmp}");
    std::filesystem::permissions(tmp, std::filesystem::perms(0755));
    struct RemoveTmp {
        std::string dir;
        ~RemoveTmp() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } remove_tmp{tmp};
    Orchestra orch{e,
                   c.duration_s,
                   server_ns->name(),
                   {},
                   server_addr,
                   client_addr,
                   options.log_prefix,
                   {{"server", server_addr},
                    {"port", "5683"},
                    {"coapbed", std::filesystem::read_symlink("/proc/self/exe").string()},
                    {"tmp", tmp},
                    {"response", std::to_string(c.workload.response)},
                    {"payload", std::to_string(c.workload.payload)}},
                   &started,
                   &done,
                   {},
                   false,
                   {}};
    for (const auto& ns : client_ns) orch.client_ns.push_back(ns->name());

    const std::string scheduling = realtime_priority();
    std::thread conductor(&Orchestra::Run, &orch);
    Simulator::Run();
    normal_priority();
    done.store(true);
    conductor.join();
    const double emulated_s = Simulator::Now().GetSeconds();
    const uint64_t events = Simulator::GetEventCount();
    Simulator::Destroy();
    client_ns.clear();
    server_ns.reset();
    if (!orch.error.empty()) throw emu::EmulationError(orch.error);
    if (InterruptGuard::raised()) throw emu::EmulationError("interrupted: the run was stopped and cleaned up");

    // ---- measure, from the wire ------------------------------------------------------
    const emu::WireFigures w = emu::analyse(obs.records, clients);
    std::sort(lag.samples_ms.begin(), lag.samples_ms.end());
    const double lag_p99 = percentile(lag.samples_ms, 99);
    const double lag_max = lag.samples_ms.empty() ? NAN : lag.samples_ms.back();
    const bool valid = std::isfinite(lag_max) && lag_max <= e.lag_limit_s * 1000.0;
    uint64_t commands = 0, failed_commands = 0;
    ordered_json cmds = ordered_json::array();
    for (const auto& r : orch.records) {
        ordered_json j;
        j["role"] = r.client < 0 ? "server" : "client";
        if (r.client >= 0) j["client"] = r.client;
        j["seq"] = r.seq;
        j["command"] = r.command;
        j["start_s"] = r.start_s;
        j["end_s"] = r.end_s;
        j["exit_status"] = r.stopped ? ordered_json(nullptr) : ordered_json(r.status);
        j["stopped"] = r.stopped;
        cmds.push_back(j);
        if (r.client < 0) continue;
        ++commands;
        if (r.stopped || r.status != 0) ++failed_commands;
    }

    ordered_json doc = result_header(scenario, spec, options);
    doc["mode"] = "emulation";
    double jain = NAN;
    {
        double s = 0, sq = 0;
        for (auto x : w.completed_per_client) {
            s += static_cast<double>(x);
            sq += static_cast<double>(x) * static_cast<double>(x);
        }
        if (sq > 0) jain = s * s / (static_cast<double>(w.completed_per_client.size()) * sq);
    }
    ordered_json m;
    for (const auto& col : metric_columns()) m[col] = nullptr;
    m["exchanges_started"] = w.started;
    m["exchanges_completed"] = w.completed;
    m["exchanges_failed"] = w.started - w.completed;
    m.update(completion_stats(w.completion_s));
    m["retransmissions"] = w.client_retransmissions + w.server_retransmissions;
    m["coap_bytes_sent"] = w.client_bytes + w.server_bytes;
    m["link_bytes"] = obs.link_bytes;
    m["goodput_bps"] = emulated_s > 0 ? 8.0 * static_cast<double>(w.response_payload_bytes) / emulated_s : 0.0;
    m["jain_fairness"] = num(jain);
    m["sim_seconds"] = emulated_s;
    m["events"] = events;
    m["exchanges_reset"] = w.reset;
    m["bottleneck_bytes"] = obs.bottleneck_bytes;
    m["queue_drops"] = obs.queue_drops;
    m["rx_drops"] = obs.rx_drops;
    m["queue_peak"] = obs.queue_peak;
    m["format_errors"] = w.not_coap;
    m["run_id"] = spec.id;
    m["rt_lag_p99_ms"] = num(lag_p99);
    m["rt_lag_max_ms"] = num(lag_max);
    m["run_valid"] = valid ? 1 : 0;
    m["commands_started"] = commands;
    m["commands_failed"] = failed_commands;
    m["wall_seconds"] = seconds_since(wall_start);
    doc["metrics"] = m;

    ordered_json em;
    em["program"] = e.program;
    em["scheduling"] = scheduling;
    em["lag_limit_ms"] = e.lag_limit_s * 1000.0;
    em["lag_samples"] = lag.samples_ms.size();
    em["lag_p50_ms"] = num(percentile(lag.samples_ms, 50));
    if (!valid) {
        em["invalid_reason"] = "real-time lag reached " + (std::isfinite(lag_max) ? std::to_string(lag_max) : "?") +
                               " ms, over the limit of " + std::to_string(e.lag_limit_s * 1000.0) + " ms";
    }
    em["server_ended_early"] = orch.server_ended_early;
    em["client_retransmissions"] = w.client_retransmissions;
    em["server_retransmissions"] = w.server_retransmissions;
    ordered_json exchanges = ordered_json::array();
    for (const auto& x : w.exchanges) {
        exchanges.push_back({{"client", x.client},
                             {"start_s", x.start_s},
                             {"completion_s", x.completion_s < 0 ? ordered_json(nullptr) : ordered_json(x.completion_s)},
                             {"messages", x.messages},
                             {"retransmissions", x.retransmissions},
                             {"request_bytes", x.request_bytes},
                             {"response_bytes", x.response_bytes}});
    }
    em["exchanges"] = exchanges;
    em["addresses"] = {{"server", server_addr}, {"clients", client_addr}};
    em["commands"] = cmds;
    doc["emulation"] = em;
    return doc;
}

}  // namespace coapbed::sim
