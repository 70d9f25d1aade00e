// One run of a scenario in ns-3: builds the topology, installs the CoAP applications,
// runs the simulator and measures. Call it once per process (ns-3 keeps global state;
// `coapbed run` starts one process per run).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/scenario/scenario.h"

namespace coapbed::sim {

struct SimOptions {
    std::string pcap_prefix;  ///< non-empty: write pcap files starting with this path
    std::string commit;       ///< recorded in the result
    std::string log_prefix;   ///< emulation: the commands' output goes to PREFIX-server.log, -client<i>.log
    /// Non-empty: every client's RTO and strategy state toward its server, a row per
    /// change, to this CSV file: time_s,client,rto_s,state (state: FASOR's, else empty).
    std::string trace_path;
};

/// The columns of runs.csv after the swept parameters and `seed`, in order. The first
/// fifteen are the contract of issue #4; the rest are extensions (emulation's at the end).
[[nodiscard]] const std::vector<std::string>& metric_columns();

/// The part of a result document that names the run: id, scenario, file, seed, commit,
/// ns3_version, swept, params.
[[nodiscard]] nlohmann::ordered_json result_header(const Scenario& scenario, const RunSpec& spec, const SimOptions& options);
/// The p-th percentile (0-100) of `sorted` (ascending) by nearest rank; NaN when empty.
[[nodiscard]] double percentile(const std::vector<double>& sorted, double p);
/// completion_mean_s, completion_p50_s, _p95_s, _p99_s of these times (nearest-rank
/// percentiles; null without times).
[[nodiscard]] nlohmann::ordered_json completion_stats(std::vector<double> times);

/// Runs `spec` and returns its result document: id, scenario, seed, params, swept,
/// metrics (every metric column), clients (per-client figures), engine (summed
/// EndpointStats), flowmon (IP totals, counted as FlowMonitor counts them), commit.
[[nodiscard]] nlohmann::ordered_json simulate(const Scenario& scenario, const RunSpec& spec, const SimOptions& options);

}  // namespace coapbed::sim
