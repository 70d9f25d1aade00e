// Scenario files (TOML, scenarios/*.toml): the schema, validation and sweep expansion.
// This part has no ns-3 in it; simulation.h turns one RunSpec into a simulation.
//
// A scenario is a set of keys; any key whose value is written as a list is a sweep axis.
// The runs are the Cartesian product of the axes (in schema order) times the seeds.
// Every error names the file, the key and the reason, and is found before anything runs.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace coapbed::sim {

/// A scenario value after parsing: integers, reals (rates in bit/s, times in seconds),
/// booleans and strings.
using Value = std::variant<std::int64_t, double, bool, std::string>;

/// The value as written in run ids, CSV cells and summaries ("0.1", "20000", "cocoa").
[[nodiscard]] std::string format_value(const Value& v);

/// A scenario-file error: "FILE: KEY: REASON".
class ScenarioError : public std::runtime_error {
public:
    ScenarioError(const std::string& file, const std::string& key, const std::string& reason);
};

struct Topology {
    std::string kind = "dumbbell";  ///< "dumbbell" | "sixlowpan"
    std::int64_t clients = 1;
    std::int64_t servers = 1;
    double rate_bps = 50000;        ///< bottleneck rate (dumbbell)
    double delay_s = 0.1;           ///< bottleneck one-way delay (dumbbell)
    std::int64_t queue = 100;       ///< bottleneck queue capacity, in packets or bytes
    bool queue_in_bytes = false;
    double loss = 0;                ///< packet loss probability on the bottleneck / every radio
    std::string loss_model = "uniform";  ///< "uniform" | "gilbert-elliott"
    double burst = 2;               ///< gilbert-elliott: mean burst length in packets (>= 1)
    double access_rate_bps = 10e6;  ///< client and server access links (dumbbell)
    double access_delay_s = 0.001;
    /// dumbbell: how the clients reach their router. "p2p": one point-to-point link (and
    /// router interface) per client; "switch": a link per client into a switch with one
    /// port on the router (sim/model/access-switch.h), whose cost does not grow with clients.
    std::string access = "p2p";
    std::int64_t hops = 1;          ///< sixlowpan: radio hops between the clients and the server
    double spacing_m = 50;          ///< sixlowpan: distance between neighbouring relays
};

struct Workload {
    std::int64_t requests = 0;      ///< per client; 0: until `duration`
    double interval_s = 1;          ///< closed: think time; poisson: mean gap; short-lived: mean gap between clients
    std::string arrival = "closed"; ///< "closed" | "poisson" | "short-lived" | "on-off"
    double on_s = 10, off_s = 50;   ///< on-off: mean on and off period lengths (exponential)
    /// short-lived: exchanges each arriving client does (closed loop, `think` apart) before it leaves
    std::int64_t exchanges_per_client = 5;
    double think_s = 0;             ///< short-lived: pause after each exchange of a client
    std::string method = "GET";
    std::int64_t payload = 0;       ///< request body bytes
    std::int64_t response = 64;     ///< response body bytes
    bool confirmable = true;
    double start_s = 1;             ///< clients start at a random time in [start, start + interval)
    std::int64_t resources = 0;     ///< 0: one resource; N: N resources, chosen by Zipf popularity
    double zipf = 0.8;              ///< Zipf exponent of the resources' popularity
    std::int64_t max_age = -1;      ///< the server's Max-Age in seconds (-1: no option, i.e. 60 s)
    /// A "global event": at `burst_at` every client sends `burst` requests at once, beside
    /// its load (they queue behind NSTART); 0: none. runs.csv: burst_settling_s, burst_completed.
    std::int64_t burst = 0;
    double burst_at_s = 0;
    /// Every client registers once for the server's /obs (RFC 7641) and then receives its
    /// notifications: `interval` is how often /obs changes, `response` its size.
    /// runs.csv: notifications_received, notifications_mixed.
    bool observe = false;
    /// With `observe`: /obs carries the state's number as ETag, so that an observer fetching
    /// a notification's blocks sees a change (RFC 7959 §2.6).
    bool etag = false;
};

struct CoapParams {
    std::string congestion = "default";
    std::string cocoa_vbf = "initial";  ///< "initial" (Californium) | "per-step" (FINDINGS.md's cocoa-03 reading)
    std::int64_t nstart = 1;
    double ack_timeout_s = 2;
    double ack_random_factor = 1.5;
    std::int64_t max_retransmit = 4;
    double default_leisure_s = 5;
    double probing_rate = 1;
    double max_latency_s = 100;
    std::int64_t block_size = 1024;  ///< 16..1024, a power of two (RFC 7959 SZX)
    std::int64_t token_length = 4;
    bool random_mid = true;          ///< random initial Message ID (RFC 7252 §4.4)
};

/// [attack]: an off-path attacker (sim/model/coap-attacker.h).
struct Attack {
    std::string vector = "none";  ///< none | large-get | well-known-core | block | observe | multicast |
                                  ///< multicast-observe | dns | spoofed-rst | spoofed-ack |
                                  ///< spoofed-separate (forged responses to a [proxy]'s upstream port) |
                                  ///< proxy-loop (requests for a host two proxies forward to each other) |
                                  ///< proxy-large-get (spoofed Proxy-Uri GETs of /large through a [proxy])
    double rate = 10;             ///< datagrams per second
    std::int64_t resource = 1024; ///< bytes of the targeted representation
    std::int64_t servers = 1;     ///< reflectors
    double notify_interval_s = 5; ///< observe: how often the observed resource changes
};

/// [defence]: the reflectors' defences (types.h, ServerDefences).
struct Defence {
    bool echo = false;
    double amplification_limit = 0;
    double rate_limit = 0;
    bool observe_verified_only = false;
};

/// [proxy]: a forward proxy with a cache on the clients' router (dumbbell), between the
/// clients and the bottleneck toward the servers (sim/model/coap-proxy.h).
struct Proxy {
    bool enabled = false;
    bool cache = true;
    std::int64_t max_entries = 256;
    std::int64_t max_bytes = 1 << 20;
    double max_freshness_s = 3600;
    std::int64_t token_length = 8;  ///< upstream token bytes
    bool coalesce = true;
    std::int64_t hop_limit = 16;
    bool honour_hop_limit = true;   ///< false: RFC 8768-unaware proxies (the loop baseline)
    /// "fixed": one upstream port (the attacker knows it); "per-exchange": a random port of
    /// 49152-65535 per upstream exchange (RFC 6056), which a forger must guess too.
    std::string upstream_port = "fixed";
    /// "store-and-forward": a Block2 request makes the proxy fetch the whole body;
    /// "pass-through": one block upstream per Block2 request, blocks cached one by one.
    std::string blockwise = "store-and-forward";
};

/// [security]: DTLS 1.2 between the simulated clients and servers (RFC 7252 §9), through the
/// GnuTLS stack of the real-socket runtime on simulated time, with provisioned keys
/// (sim/model/dtls-keys.h); the keys belong to runs of files that have the table.
struct Security {
    bool present = false;          ///< the file has a [security] table
    std::string mode = "nosec";    ///< nosec | psk | rpk (RFC 7250 raw public keys) | certificate
    bool hello_verify = true;      ///< servers send a HelloVerifyRequest first (RFC 6347 §4.2.1)
};

/// [emulation]: real programs in network namespaces instead of the simulated clients and
/// servers (`coapbed emulate`, sim/emulation/emulate.h). `server` and `client` are
/// commands run with `sh -c` in their namespace after the placeholders {addr} (the
/// namespace's own address), {server} (the server's address), {port} (5683), {index}
/// (the client's number, from 0) and {seq} (the repetition, from 0) are replaced. In the
/// file each may be one string or a table of strings keyed by `program`, so a sweep over
/// programs (e.g. program = ["coapbed", "libcoap"]) picks each run's pair.
struct Emulation {
    bool enabled = false;          ///< the file has an [emulation] table
    std::string program = "custom";///< a label for the command pair (sweepable)
    std::string server;            ///< the server command of this run
    std::string client;            ///< the client command of this run
    std::int64_t clients = 1;      ///< client namespaces (topology.clients is not used)
    std::int64_t repeat = 1;       ///< how often each client runs its command
    double interval_s = 1;         ///< pause after each client command before its next run
    double settle_s = 0.5;         ///< from the server's start to the clients' first commands
    double lag_limit_s = 0.02;     ///< a run whose real-time lag ever exceeds this is invalid
};

/// One point of a sweep with everything resolved.
struct RunConfig {
    std::string name;
    double duration_s = 60;
    Topology topology;
    Workload workload;
    CoapParams coap;
    Attack attack;
    Defence defence;
    Proxy proxy;
    Emulation emulation;
    Security security;
};

struct RunSpec {
    std::string id;                                     ///< "clients-10_loss-0.1_seed-3"
    std::vector<std::pair<std::string, Value>> swept;   ///< axis name (bare key) and value
    std::uint64_t seed = 0;
    RunConfig config;
    std::vector<std::pair<std::string, Value>> params;  ///< every key with its resolved value
};

struct Scenario {
    std::string file;
    std::string name;
    std::vector<std::string> axes;  ///< bare key names, in schema order
    std::vector<std::uint64_t> seeds;
    std::vector<RunSpec> runs;
};

/// Parses and validates a scenario file and expands its sweep. Throws ScenarioError.
[[nodiscard]] Scenario load_scenario(const std::string& path);
/// The same from text (`file` names it in errors).
[[nodiscard]] Scenario parse_scenario(const std::string& text, const std::string& file);

/// "20kbps", "1.5Mbps", "250000bps", or a number of bit/s.
[[nodiscard]] std::optional<double> parse_rate(const std::string& s);
/// "100ms", "2s", "1.5s", "500us", or a number of seconds.
[[nodiscard]] std::optional<double> parse_time(const std::string& s);

}  // namespace coapbed::sim
