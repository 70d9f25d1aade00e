// `coapbed run` and `coapbed collect`: run a scenario's sweep (one process per run,
// N at a time), resume, and merge results into runs.csv and summary.md.
#pragma once

#include <signal.h>

#include <cmath>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/scenario/scenario.h"
#include "sim/slurm.h"

namespace coapbed::sim {

/// `coapbed run FILE [--out DIR] [-j N] [--pcap] [--list] [--only ID]`.
int cmd_run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `coapbed emulate FILE [--out DIR] [-j N] [--pcap] [--list] [--only ID] [--force]`:
/// the sweep with real programs through the scenario's network (sim/emulation/emulate.h).
int cmd_emulate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `coapbed collect DIR... [--out DIR] [--scenario FILE] [--partial]`.
int cmd_collect(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// Merges the results in `dirs` into OUT/runs.csv and summary.md. With a scenario, only
/// its runs, in its order; the ones without a matching result are named on `err` and in
/// OUT/missing.txt, and the result is 1 unless `partial`.
int collect_runs(const Scenario* sc, const std::vector<std::string>& dirs, const std::string& out_dir, bool partial,
                 std::ostream& out, std::ostream& err);
/// True if `doc` is the result of `spec`: same id, every parameter and the seed.
[[nodiscard]] bool result_matches(const nlohmann::ordered_json& doc, const RunSpec& spec);
/// While it lives, SIGINT and SIGTERM set a flag instead of ending the process; the
/// handlers from before come back when it goes. The flag stays readable afterwards,
/// until the next guard clears it.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    /// Whether a signal (or `raise`) came since the last guard was made.
    [[nodiscard]] static bool raised() noexcept;
    /// Sets the flag as a signal would.
    static void raise() noexcept;

private:
    struct sigaction old_int_ {}, old_term_ {};
};

/// DIR/runs/<id>.json if it exists, parses and matches `spec`.
[[nodiscard]] std::optional<nlohmann::ordered_json> existing_result(const std::string& dir, const RunSpec& spec);

/// runs.csv text for these result documents (in this order).
[[nodiscard]] std::string runs_csv(const std::vector<nlohmann::ordered_json>& results);
/// The mean of `v` and its 95 % confidence interval from Student's t distribution
/// (low = high = NaN with fewer than two values).
struct MeanInterval {
    double mean = 0, low = NAN, high = NAN;
    std::size_t n = 0;
};
[[nodiscard]] MeanInterval mean_interval(const std::vector<double>& v);
/// t(0.975, df): the two-sided 95 % quantile of Student's t distribution.
[[nodiscard]] double t_quantile_975(std::size_t df);
/// summary.md text: the mean over seeds of the main figures for every sweep point, each
/// with its 95 % t-interval.
[[nodiscard]] std::string summary_markdown(const std::string& title, const std::vector<nlohmann::ordered_json>& results);
/// Writes `text` to `path` through a temporary file and a rename.
void write_atomically(const std::string& path, const std::string& text);

}  // namespace coapbed::sim
