// `coapbed run` and `coapbed collect`: run a scenario's sweep (one process per run,
// N at a time), resume, and merge results into runs.csv and summary.md.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace coapbed::sim {

/// `coapbed run FILE [--out DIR] [-j N] [--pcap] [--list] [--only ID]`.
int cmd_run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `coapbed collect DIR... [--out DIR]`.
int cmd_collect(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// runs.csv text for these result documents (in this order).
[[nodiscard]] std::string runs_csv(const std::vector<nlohmann::ordered_json>& results);
/// summary.md text: the median over seeds of the main figures for every sweep point.
[[nodiscard]] std::string summary_markdown(const std::string& title, const std::vector<nlohmann::ordered_json>& results);
/// Writes `text` to `path` through a temporary file and a rename.
void write_atomically(const std::string& path, const std::string& text);

}  // namespace coapbed::sim
