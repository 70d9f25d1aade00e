// `coapbed emulate`: one run of a scenario with real programs in place of the simulated
// clients and server (EMULATION.md, set-up A). The scenario's dumbbell is built in ns-3
// running in real time (RealtimeSimulatorImpl, checksums on); the server and every client
// are Linux network namespaces whose TAP device is an FdNetDevice on an ns-3 edge node:
//
//   [netns client i, tap0 10.4.i.2] = edge Ci -- access link -- router 0 ==bottleneck==
//       router 1 -- access link -- edge S = [netns server, tap0 10.3.0.2]
//
// so the programs' datagrams cross the same access links, bottleneck queue, delay, rate and
// loss model as `coapbed run` gives the simulated nodes. What the programs did is measured
// on the TAPs (sim/emulation/wire.h), never from their output.
//
// Not modelled: the sixlowpan topology (frames of 127 bytes would need the programs to
// fragment as 6LoWPAN does), the access = "switch" variant (each client has its own access
// link), [attack] and [proxy].
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/scenario/scenario.h"
#include "sim/scenario/simulation.h"

namespace coapbed::sim {

/// Runs `spec` (which has [emulation]) and returns its result document, shaped as
/// simulate()'s: metrics hold the runs.csv columns that apply (the rest are null), plus
/// `emulation` (the commands, their exit statuses and times, scheduling, lag). Once per
/// process: ns-3's simulator implementation is chosen for the process. Throws
/// emu::EmulationError when the machine cannot emulate or a namespace cannot be made.
[[nodiscard]] nlohmann::ordered_json emulate(const Scenario& scenario, const RunSpec& spec, const SimOptions& options);

/// A command with its placeholders replaced by `values` ({"addr", "10.4.0.2"} replaces
/// {addr}). Unknown {words} stay as written. The emulator's placeholders: {addr} (the
/// namespace's address), {server}, {port} (5683), {index} (client number), {seq}
/// (repetition), {coapbed} (this binary), {tmp} (a directory of the run's own, removed at
/// its end), {response} and {payload} (workload.response / workload.payload bytes, so
/// simulated and real clients can fetch the same sizes).
[[nodiscard]] std::string expand_command(const std::string& command,
                                         const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace coapbed::sim
