#include "sim/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include "sim/scenario/scenario.h"
#include "sim/scenario/simulation.h"

namespace coapbed::sim {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kRunUsage =
    "usage: coapbed run SCENARIO.toml [--out DIR] [-j N] [--pcap] [--list] [--only ID]\n"
    "\n"
    "Runs every point of the scenario's sweep (the Cartesian product of its list-valued\n"
    "keys, times its seeds) in ns-3, N runs in parallel, one process per run. Runs whose\n"
    "result is already in DIR are skipped, so an interrupted sweep resumes.\n"
    "\n"
    "  --out DIR   results directory (default results/NAME): runs.csv, summary.md,\n"
    "              runs/<id>.json, logs/<id>.log, pcap/\n"
    "  -j N        runs in parallel (default: the number of cores)\n"
    "  --pcap      also write pcap files (DIR/pcap/<id>-*.pcap)\n"
    "  --list      print one command line per run (for Slurm arrays, GNU parallel)\n"
    "  --only ID   run just that run, in this process; merge with `coapbed collect`\n"
    "\n"
    "Exit status: 0 all runs done; 1 a scenario error or a failed run; 2 bad command\n"
    "line; 130 interrupted (re-run the same command to resume).\n";

constexpr const char* kCollectUsage =
    "usage: coapbed collect DIR... [--out DIR]\n"
    "\n"
    "Merges DIR/runs/*.json of every DIR (e.g. the outputs of a Slurm array) into\n"
    "OUT/runs.csv and OUT/summary.md (OUT defaults to the first DIR).\n";

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string commit_of_source() {
#ifdef COAPBED_SOURCE_DIR
    const std::string cmd = "git -C '" COAPBED_SOURCE_DIR "' describe --always --dirty --abbrev=40 2>/dev/null";
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[128] = {};
        const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
        pclose(p);
        std::string s = got ? buf : "";
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        if (!s.empty()) return s;
    }
#endif
    return "unknown";
}

std::string csv_cell(const ordered_json& v) {
    if (v.is_null()) return "";
    if (v.is_string()) {
        const auto s = v.get<std::string>();
        if (s.find_first_of(",\"\n") == std::string::npos) return s;
        std::string q = "\"";
        for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        return q + "\"";
    }
    if (v.is_number_float()) {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.9g", v.get<double>());
        return buf;
    }
    return v.dump();
}

std::vector<std::string> axes_of(const std::vector<ordered_json>& results) {
    std::vector<std::string> axes;
    for (const auto& r : results) {
        for (const auto& [k, v] : r.at("swept").items()) {
            (void)v;
            if (std::find(axes.begin(), axes.end(), k) == axes.end()) axes.push_back(k);
        }
    }
    return axes;
}

/// The result of `id` in `dir`, if it exists, parses and was made from these params.
std::optional<ordered_json> existing_result(const std::string& dir, const RunSpec& spec) {
    const std::string path = dir + "/runs/" + spec.id + ".json";
    if (!fs::exists(path)) return std::nullopt;
    try {
        auto doc = ordered_json::parse(read_file(path));
        for (const auto& [k, v] : spec.params) {
            ordered_json expect;
            std::visit([&](const auto& x) { expect = x; }, v);
            if (doc.at("params").at(k) != expect) return std::nullopt;
        }
        if (doc.at("seed").get<std::uint64_t>() != spec.seed || !doc.contains("metrics")) return std::nullopt;
        return doc;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string describe_run(const RunSpec& spec) {
    std::string s;
    for (const auto& [k, v] : spec.swept) s += k + "=" + format_value(v) + " ";
    return s + "seed=" + std::to_string(spec.seed);
}

std::string format_duration(double s) {
    char buf[32];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%.0fs", s);
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
    }
    return buf;
}

void write_outputs(const std::string& dir, const std::string& title, const std::vector<ordered_json>& results) {
    write_atomically(dir + "/runs.csv", runs_csv(results));
    write_atomically(dir + "/summary.md", summary_markdown(title, results));
}

int run_one(const Scenario& sc, const RunSpec& spec, const std::string& out_dir, bool pcap, std::ostream& out) {
    fs::create_directories(out_dir + "/runs");
    SimOptions opt;
    opt.commit = commit_of_source();
    if (pcap) {
        fs::create_directories(out_dir + "/pcap");
        opt.pcap_prefix = out_dir + "/pcap/" + spec.id;
    }
    const ordered_json doc = simulate(sc, spec, opt);
    write_atomically(out_dir + "/runs/" + spec.id + ".json", doc.dump(2) + "\n");
    const auto& m = doc.at("metrics");
    out << spec.id << ": " << m.at("exchanges_completed") << "/" << m.at("exchanges_started") << " exchanges completed, "
        << m.at("retransmissions") << " retransmissions, " << csv_cell(m.at("sim_seconds")) << " sim-s in "
        << csv_cell(m.at("wall_seconds")) << " s\n";
    return 0;
}

}  // namespace

void write_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp." + std::to_string(getpid());
    {
        std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
        o << text;
        o.flush();
        if (!o) throw std::runtime_error("cannot write " + tmp);
    }
    fs::rename(tmp, path);
}

std::string runs_csv(const std::vector<ordered_json>& results) {
    const auto axes = axes_of(results);
    std::ostringstream o;
    for (const auto& a : axes) o << a << ",";
    o << "seed";
    for (const auto& c : metric_columns()) o << "," << c;
    o << ",commit\n";
    for (const auto& r : results) {
        for (const auto& a : axes) o << (r.at("swept").contains(a) ? csv_cell(r.at("swept").at(a)) : "") << ",";
        o << r.at("seed").dump();
        const auto& m = r.at("metrics");
        for (const auto& c : metric_columns()) o << "," << (m.contains(c) ? csv_cell(m.at(c)) : "");
        o << "," << csv_cell(r.value("commit", ordered_json("unknown"))) << "\n";
    }
    return o.str();
}

std::string summary_markdown(const std::string& title, const std::vector<ordered_json>& results) {
    const auto axes = axes_of(results);
    const std::vector<std::string> figures = {"completion_p50_s", "completion_p95_s", "retransmissions",
                                              "exchanges_failed", "goodput_bps", "jain_fairness"};
    std::map<std::vector<std::string>, std::vector<const ordered_json*>> groups;
    std::vector<std::vector<std::string>> order;
    for (const auto& r : results) {
        std::vector<std::string> key;
        for (const auto& a : axes) key.push_back(r.at("swept").contains(a) ? r.at("swept").at(a).get<std::string>() : "");
        if (!groups.count(key)) order.push_back(key);
        groups[key].push_back(&r);
    }
    std::ostringstream o;
    o << "# " << title << "\n\n"
      << results.size() << " runs. Each row is one sweep point; figures are medians over its seeds "
      << "(completion times in seconds, goodput in bit/s).\n\n|";
    for (const auto& a : axes) o << " " << a << " |";
    o << " seeds |";
    for (const auto& f : figures) o << " " << f << " |";
    o << "\n|";
    for (std::size_t i = 0; i < axes.size() + 1 + figures.size(); ++i) o << "---|";
    o << "\n";
    for (const auto& key : order) {
        const auto& rows = groups[key];
        o << "|";
        for (const auto& k : key) o << " " << k << " |";
        o << " " << rows.size() << " |";
        for (const auto& f : figures) {
            std::vector<double> v;
            for (const auto* r : rows) {
                const auto& x = r->at("metrics").value(f, ordered_json());
                if (x.is_number()) v.push_back(x.get<double>());
            }
            if (v.empty()) {
                o << " - |";
                continue;
            }
            std::sort(v.begin(), v.end());
            const double med = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.4g", med);
            o << " " << buf << " |";
        }
        o << "\n";
    }
    return o.str();
}

int cmd_run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::string file, out_dir, only;
    // As ninja does: use the machine unless told otherwise.
    int jobs = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    bool pcap = false, list = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto need = [&](const char* what) -> const std::string* {
            if (i + 1 >= args.size()) {
                err << "error: " << a << " needs " << what << "\n" << kRunUsage;
                return nullptr;
            }
            return &args[++i];
        };
        if (a == "--help" || a == "-h") {
            out << kRunUsage;
            return 0;
        } else if (a == "--out") {
            const auto* v = need("a directory");
            if (!v) return 2;
            out_dir = *v;
        } else if (a == "-j" || a == "--jobs") {
            const auto* v = need("a number");
            if (!v) return 2;
            try {
                jobs = std::stoi(*v);
            } catch (const std::exception&) {
                jobs = 0;
            }
            if (jobs < 1 || jobs > 1024) {
                err << "error: -j needs a number from 1 to 1024\n" << kRunUsage;
                return 2;
            }
        } else if (a == "--only") {
            const auto* v = need("a run id (see --list)");
            if (!v) return 2;
            only = *v;
        } else if (a == "--pcap") {
            pcap = true;
        } else if (a == "--list") {
            list = true;
        } else if (!a.empty() && a[0] == '-') {
            err << "error: unknown option " << a << "\n" << kRunUsage;
            return 2;
        } else if (file.empty()) {
            file = a;
        } else {
            err << "error: one scenario file at a time\n" << kRunUsage;
            return 2;
        }
    }
    if (file.empty()) {
        err << "error: run needs a scenario file\n" << kRunUsage;
        return 2;
    }
    Scenario sc;
    try {
        sc = load_scenario(file);
    } catch (const ScenarioError& e) {
        err << "error: " << e.what() << "\n";
        return 1;
    }
    if (out_dir.empty()) out_dir = "results/" + sc.name;

    if (list) {
        for (const auto& r : sc.runs) {
            out << "coapbed run " << file << " --out " << out_dir << (pcap ? " --pcap" : "") << " --only " << r.id
                << "\n";
        }
        return 0;
    }
    if (!only.empty()) {
        for (const auto& r : sc.runs) {
            if (r.id == only) return run_one(sc, r, out_dir, pcap, out);
        }
        err << "error: " << file << " has no run " << only << " (see --list)\n";
        return 2;
    }

    fs::create_directories(out_dir + "/runs");
    fs::create_directories(out_dir + "/logs");
    std::vector<std::optional<ordered_json>> results(sc.runs.size());
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < sc.runs.size(); ++i) {
        results[i] = existing_result(out_dir, sc.runs[i]);
        if (!results[i]) todo.push_back(i);
    }
    const std::size_t total = sc.runs.size();
    std::size_t done = total - todo.size();
    if (done > 0) out << "coapbed: " << done << " of " << total << " runs already in " << out_dir << ", skipped\n";
    out << "coapbed: running " << todo.size() << " runs of " << sc.name << " with " << jobs << " in parallel\n";
    out.flush();

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {}, old_term {};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    g_interrupted = 0;

    const bool tty = isatty(STDOUT_FILENO) != 0;
    const auto start = std::chrono::steady_clock::now();
    std::map<pid_t, std::size_t> running;
    std::size_t next = 0, finished_now = 0;
    std::vector<std::string> failures;
    const std::string self = fs::read_symlink("/proc/self/exe").string();

    auto progress = [&]() {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::size_t left = total - done;
        std::string eta = "?";
        if (finished_now > 0) eta = format_duration(elapsed / static_cast<double>(finished_now) * static_cast<double>(left));
        if (tty) {
            const int width = 30;
            const int filled = static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total));
            out << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
                << " runs, " << failures.size() << " failed, " << running.size() << " running, ETA " << eta << "   ";
        } else {
            out << "progress: " << done << "/" << total << " runs, " << failures.size() << " failed, elapsed "
                << format_duration(elapsed) << ", ETA " << eta << "\n";
        }
        out.flush();
    };

    while ((next < todo.size() || !running.empty())) {
        while (!g_interrupted && next < todo.size() && running.size() < static_cast<std::size_t>(jobs)) {
            const std::size_t idx = todo[next++];
            const RunSpec& spec = sc.runs[idx];
            const std::string log = out_dir + "/logs/" + spec.id + ".log";
            std::vector<std::string> argv = {"coapbed", "run", file, "--out", out_dir, "--only", spec.id};
            if (pcap) argv.push_back("--pcap");
            const pid_t pid = fork();
            if (pid == 0) {
                const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0) {
                    dup2(fd, STDOUT_FILENO);
                    dup2(fd, STDERR_FILENO);
                    close(fd);
                }
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                std::vector<char*> cargv;
                for (auto& s : argv) cargv.push_back(s.data());
                cargv.push_back(nullptr);
                execv(self.c_str(), cargv.data());
                _exit(127);
            }
            if (pid < 0) {
                err << "error: cannot start a run: " << std::strerror(errno) << "\n";
                g_interrupted = 1;
                break;
            }
            running[pid] = idx;
        }
        if (running.empty()) break;
        int status = 0;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR && g_interrupted) {
                for (const auto& [p, i] : running) {
                    (void)i;
                    kill(p, SIGTERM);
                }
            }
            continue;
        }
        auto it = running.find(pid);
        if (it == running.end()) continue;
        const std::size_t idx = it->second;
        running.erase(it);
        const RunSpec& spec = sc.runs[idx];
        if (g_interrupted && (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)) continue;  // stopped by us
        results[idx] = existing_result(out_dir, spec);
        ++done;
        ++finished_now;
        if (!results[idx]) {
            std::string why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                  : "exit status " + std::to_string(WEXITSTATUS(status));
            failures.push_back(spec.id);
            if (tty) out << "\n";
            err << "error: run " << spec.id << " (" << describe_run(spec) << ") failed: " << why << "; log: " << out_dir
                << "/logs/" << spec.id << ".log\n";
        }
        progress();
    }
    if (tty) out << "\n";
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);

    std::vector<ordered_json> ok;
    for (std::size_t i = 0; i < results.size(); ++i) {
        // A run stopped by Ctrl-C may still have finished its result file first.
        if (!results[i]) results[i] = existing_result(out_dir, sc.runs[i]);
        if (results[i]) ok.push_back(std::move(*results[i]));
    }
    write_outputs(out_dir, sc.name, ok);
    out << "coapbed: " << ok.size() << " of " << total << " runs in " << out_dir << "/runs.csv and " << out_dir
        << "/summary.md\n";
    if (g_interrupted) {
        err << "interrupted: " << ok.size() << " of " << total << " runs done; run the same command again to resume\n";
        return 130;
    }
    if (!failures.empty()) {
        err << "error: " << failures.size() << " runs failed (their logs are in " << out_dir << "/logs)\n";
        return 1;
    }
    return 0;
}

int cmd_collect(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::vector<std::string> dirs;
    std::string out_dir;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--help" || args[i] == "-h") {
            out << kCollectUsage;
            return 0;
        }
        if (args[i] == "--out") {
            if (i + 1 >= args.size()) {
                err << "error: --out needs a directory\n" << kCollectUsage;
                return 2;
            }
            out_dir = args[++i];
        } else if (!args[i].empty() && args[i][0] == '-') {
            err << "error: unknown option " << args[i] << "\n" << kCollectUsage;
            return 2;
        } else {
            dirs.push_back(args[i]);
        }
    }
    if (dirs.empty()) {
        err << "error: collect needs at least one results directory\n" << kCollectUsage;
        return 2;
    }
    if (out_dir.empty()) out_dir = dirs.front();
    std::map<std::string, ordered_json> by_id;
    std::string title;
    for (const auto& d : dirs) {
        const fs::path runs = fs::path(d) / "runs";
        if (!fs::is_directory(runs)) {
            err << "error: " << d << " has no runs/ directory\n";
            return 1;
        }
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(runs)) {
            if (e.path().extension() == ".json") files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            ordered_json doc;
            try {
                doc = ordered_json::parse(read_file(f.string()));
                (void)doc.at("metrics");
                (void)doc.at("swept");
            } catch (const std::exception& e) {
                err << "warning: skipping " << f.string() << ": not a run result (" << e.what() << ")\n";
                continue;
            }
            const std::string id = doc.at("id").get<std::string>();
            if (title.empty()) title = doc.value("scenario", "runs");
            auto [it, fresh] = by_id.emplace(id, doc);
            if (!fresh && it->second.at("params") != doc.at("params")) {
                err << "warning: run " << id << " appears with different parameters; keeping " << f.string() << "\n";
                it->second = doc;
            }
        }
    }
    std::vector<ordered_json> results;
    for (auto& [id, doc] : by_id) results.push_back(std::move(doc));
    fs::create_directories(out_dir);
    write_outputs(out_dir, title.empty() ? "runs" : title, results);
    out << "coapbed: " << results.size() << " runs in " << out_dir << "/runs.csv and " << out_dir << "/summary.md\n";
    return 0;
}

}  // namespace coapbed::sim
