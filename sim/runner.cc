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

#include "sim/emulation/emulate.h"
#include "sim/emulation/netns.h"
#include "sim/scenario/scenario.h"
#include "sim/scenario/simulation.h"

namespace coapbed::sim {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kRunUsage =
    "usage: coapbed run SCENARIO.toml [--out DIR] [-j N] [--pcap] [--trace] [--list] [--only ID] [--force]\n"
    "       coapbed run SCENARIO.toml --out DIR --slurm [--partition P] [--max-parallel N] [--time T]\n"
    "                   [--mem M] [--sbatch-arg ARG]... [--runs-per-task K] [--wait] [--pcap] [--force]\n"
    "\n"
    "Runs every point of the scenario's sweep (the Cartesian product of its list-valued\n"
    "keys, times its seeds) in ns-3, N runs in parallel, one process per run. Runs whose\n"
    "result is already in DIR are skipped, so an interrupted sweep resumes.\n"
    "\n"
    "  --out DIR   results directory (default results/NAME): runs.csv, summary.md,\n"
    "              runs/<id>.json, logs/<id>.log, pcap/\n"
    "  -j N        runs in parallel (default: the number of cores)\n"
    "  --pcap      also write pcap files (DIR/pcap/<id>-*.pcap)\n"
    "  --trace     also write every client's RTO and strategy state (FASOR's FAST,\n"
    "              FAST_SLOW_FAST, SLOW_FAST) at each change: DIR/traces/<id>-rto.csv\n"
    "              with columns time_s,client,rto_s,state\n"
    "  --list      print one command line per run (for Slurm arrays, GNU parallel)\n"
    "  --only ID   run just that run, in this process, unless DIR has its result made from\n"
    "              the same parameters and seed; merge with `coapbed collect`\n"
    "  --force     rerun runs whose result is already in DIR\n"
    "  --slurm     submit the runs not yet done as Slurm job arrays (one task per run,\n"
    "              chunked at the cluster's MaxArraySize) and a collect job that runs\n"
    "              after them whatever their outcome; runs still queued from an earlier\n"
    "              submission are not submitted again. Needs sbatch, squeue, scontrol\n"
    "              (SLURM_CONF if not in /etc) and DIR on a file system every node sees\n"
    "  --partition P, --time T, --mem M   passed to sbatch for every task\n"
    "  --max-parallel N  at most N tasks of the sweep running at once\n"
    "  --runs-per-task K  K runs one after the other in each array task (default 1): Slurm\n"
    "              starts tasks in waves about a second apart, which dominates runs that\n"
    "              take less than that\n"
    "  --sbatch-arg ARG  any other sbatch option, e.g. --sbatch-arg --account=X (repeatable)\n"
    "  --wait      block until the collect job ends; exit 1 naming the runs that failed\n"
    "\n"
    "Exit status: 0 all runs done (--slurm: submitted); 1 a scenario error, a failed run\n"
    "or a Slurm error; 2 bad command line; 130 interrupted (re-run the same command to\n"
    "resume).\n";

constexpr const char* kEmulateUsage =
    "usage: coapbed emulate SCENARIO.toml [--out DIR] [-j N] [--pcap] [--list] [--only ID] [--force]\n"
    "\n"
    "Runs every point of the scenario's sweep with real programs in place of the simulated\n"
    "clients and server: each in a Linux network namespace whose TAP device is joined to the\n"
    "scenario's dumbbell, built in ns-3 running in real time (access links, bottleneck rate,\n"
    "delay, queue and loss as `coapbed run` simulates them). The [emulation] table names the\n"
    "commands (run with sh -c in their namespace):\n"
    "\n"
    "  [emulation]\n"
    "  server = \"coap-server-notls -A {addr}\"          # or a table by program, see below\n"
    "  client = \"{coapbed} get coap://{server}/time\"\n"
    "  clients = 1            # client namespaces (10.4.<i>.2; the server is 10.3.0.2)\n"
    "  repeat = 20            # each client runs its command this often ...\n"
    "  interval = \"1s\"        # ... with this pause after each run\n"
    "  settle = \"0.5s\"        # from the server's start to the first client command\n"
    "  lag_limit = \"20ms\"     # a run whose real-time lag exceeds this is invalid\n"
    "  program = [\"coapbed\", \"libcoap\"]   # with server.coapbed = ..., server.libcoap = ...\n"
    "\n"
    "Placeholders: {addr} the namespace's address, {server} the server's, {port} 5683,\n"
    "{index} the client's number, {seq} the repetition, {coapbed} this binary, {tmp} a\n"
    "directory of the run's own (removed at its end), {response} and {payload} the\n"
    "[workload] sizes (so `coapbed run` of the same file simulates the same). The run ends\n"
    "when every client command has run `repeat` times, or after `duration`. Exchanges,\n"
    "retransmissions and bytes are measured on the TAPs (runs.csv columns that apply, plus\n"
    "rt_lag_p99_ms, rt_lag_max_ms, run_valid, commands_started, commands_failed); the\n"
    "commands' output is in DIR/logs/<id>-server.log and -client<i>.log. Namespaces, TAPs\n"
    "and processes are removed at the end, on Ctrl-C, and (if this process was killed) by\n"
    "the next run. Needs root, /dev/net/tun and iproute2.\n"
    "\n"
    "  --out DIR   results directory (default results/NAME), as for `coapbed run`\n"
    "  -j N        runs at once (default 1: real time needs the CPU)\n"
    "  --pcap      also write the TAPs' frames (DIR/pcap/<id>-server.pcap, <id>-client<i>.pcap)\n"
    "  --list, --only ID, --force   as for `coapbed run`; an invalid run is run again\n"
    "\n"
    "Exit status: 0 all runs done and valid; 1 a scenario error, a failed or invalid run,\n"
    "or no emulation possible here; 2 bad command line; 130 interrupted.\n";

constexpr const char* kCollectUsage =
    "usage: coapbed collect DIR... [--out DIR] [--scenario FILE] [--partial]\n"
    "\n"
    "Merges DIR/runs/*.json of every DIR (e.g. the outputs of a Slurm array) into\n"
    "OUT/runs.csv and OUT/summary.md (OUT defaults to the first DIR).\n"
    "\n"
    "  --scenario FILE  the sweep the results belong to (default: the file named in the\n"
    "                   results, if it still exists). Runs of FILE without a result made\n"
    "                   from their parameters and seed are named, with the end of their\n"
    "                   log, on stderr and in OUT/missing.txt; runs.csv holds FILE's runs\n"
    "                   in its order\n"
    "  --partial        exit 0 even if runs are missing\n"
    "\n"
    "Exit status: 0 every run of the scenario collected (or --partial); 1 runs missing,\n"
    "or a DIR without runs/; 2 bad command line.\n";

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

/// An emulated run whose real-time lag went over its limit: kept in runs.csv, run again.
bool invalid_run(const ordered_json& doc) {
    const auto& m = doc.at("metrics");
    return m.contains("run_valid") && m.at("run_valid").is_number() && m.at("run_valid") == 0;
}

int run_one(const Scenario& sc, const std::string& file, const RunSpec& spec, const std::string& out_dir, bool pcap,
            bool trace, bool emulated, std::ostream& out) {
    fs::create_directories(out_dir + "/runs");
    SimOptions opt;
    opt.commit = commit_of_source();
    if (pcap) {
        fs::create_directories(out_dir + "/pcap");
        opt.pcap_prefix = out_dir + "/pcap/" + spec.id;
    }
    if (trace && !emulated) {
        fs::create_directories(out_dir + "/traces");
        opt.trace_path = out_dir + "/traces/" + spec.id + "-rto.csv";
    }
    ordered_json doc;
    if (emulated) {
        fs::create_directories(out_dir + "/logs");
        opt.log_prefix = out_dir + "/logs/" + spec.id;
        doc = emulate(sc, spec, opt);
    } else {
        doc = simulate(sc, spec, opt);
    }
    // So that `coapbed collect` can tell which runs are missing without --scenario.
    doc["scenario_file"] = fs::absolute(file).lexically_normal().string();
    write_atomically(out_dir + "/runs/" + spec.id + ".json", doc.dump(2) + "\n");
    const auto& m = doc.at("metrics");
    out << spec.id << ": " << m.at("exchanges_completed") << "/" << m.at("exchanges_started") << " exchanges completed, "
        << m.at("retransmissions") << " retransmissions, " << csv_cell(m.at("sim_seconds")) << " sim-s in "
        << csv_cell(m.at("wall_seconds")) << " s\n";
    if (emulated) {
        out << spec.id << ": real-time lag p99 " << csv_cell(m.at("rt_lag_p99_ms")) << " ms, max "
            << csv_cell(m.at("rt_lag_max_ms")) << " ms; " << m.at("commands_failed") << " of "
            << m.at("commands_started") << " client commands failed\n";
        if (doc.at("emulation").at("server_ended_early") == true) {
            out << spec.id << ": the server command ended before the clients were done (exit status "
                << doc.at("emulation").at("commands").at(0).at("exit_status") << "); see " << opt.log_prefix
                << "-server.log\n";
        }
        if (invalid_run(doc)) {
            out << spec.id << ": INVALID: " << doc.at("emulation").at("invalid_reason").get<std::string>() << "\n";
            return 3;
        }
    }
    return 0;
}

}  // namespace

InterruptGuard::InterruptGuard() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_interrupted = 0;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
}

InterruptGuard::~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
}

bool InterruptGuard::raised() noexcept { return g_interrupted != 0; }
void InterruptGuard::raise() noexcept { g_interrupted = 1; }

bool result_matches(const ordered_json& doc, const RunSpec& spec) {
    try {
        if (doc.at("id").get<std::string>() != spec.id) return false;
        for (const auto& [k, v] : spec.params) {
            ordered_json expect;
            std::visit([&](const auto& x) { expect = x; }, v);
            if (doc.at("params").at(k) != expect) return false;
        }
        return doc.at("seed").get<std::uint64_t>() == spec.seed && doc.contains("metrics");
    } catch (const std::exception&) {
        return false;
    }
}

std::optional<ordered_json> existing_result(const std::string& dir, const RunSpec& spec) {
    const std::string path = dir + "/runs/" + spec.id + ".json";
    if (!fs::is_regular_file(path)) return std::nullopt;
    try {
        auto doc = ordered_json::parse(read_file(path));
        if (result_matches(doc, spec)) return doc;
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

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

double t_quantile_975(std::size_t df) {
    // Student's t, two-sided 95 %: exact to 3 decimals up to 30 degrees of freedom, then
    // the Cornish-Fisher correction z + (z^3 + z) / (4 df) of the normal quantile.
    static const double kT[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (df == 0) return NAN;
    if (df <= 30) return kT[df - 1];
    const double z = 1.959964;
    return z + (z * z * z + z) / (4.0 * static_cast<double>(df));
}

MeanInterval mean_interval(const std::vector<double>& v) {
    MeanInterval m;
    m.n = v.size();
    if (v.empty()) return m;
    double sum = 0;
    for (double x : v) sum += x;
    m.mean = sum / static_cast<double>(v.size());
    if (v.size() < 2) return m;
    double ss = 0;
    for (double x : v) ss += (x - m.mean) * (x - m.mean);
    const double sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
    const double half = t_quantile_975(v.size() - 1) * sd / std::sqrt(static_cast<double>(v.size()));
    m.low = m.mean - half;
    m.high = m.mean + half;
    return m;
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
      << results.size() << " runs. Each row is one sweep point; each figure is the mean over its seeds with a 95 % "
      << "confidence interval [low, high] from Student's t distribution (mean +- t(0.975, n-1) s / sqrt(n); none "
      << "with one seed). Completion times in seconds, goodput in bit/s.\n\n|";
    for (const auto& a : axes) o << " " << a << " |";
    o << " seeds |";
    for (const auto& f : figures) o << " " << f << " |";
    o << "\n|";
    for (std::size_t i = 0; i < axes.size() + 1 + figures.size(); ++i) o << "---|";
    o << "\n";
    auto num = [](double x) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.4g", x);
        return std::string(buf);
    };
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
            const MeanInterval m = mean_interval(v);
            o << " " << num(m.mean);
            if (m.n >= 2) o << " [" << num(m.low) << ", " << num(m.high) << "]";
            o << " |";
        }
        o << "\n";
    }
    return o.str();
}

namespace {

struct RunArgs {
    bool emulate = false;  ///< `coapbed emulate`: the same sweep, run with real programs
    std::string file, out_dir, only;
    // As ninja does: use the machine unless told otherwise.
    int jobs = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    bool pcap = false, trace = false, list = false, force = false, slurm = false;
    SlurmOptions slurm_opt;
};

/// Parses `coapbed run`'s command line; returns -1 to go on, else the exit status.
int parse_run_args(const std::vector<std::string>& args, RunArgs& r, std::ostream& out, std::ostream& err) {
    const char* const usage = r.emulate ? kEmulateUsage : kRunUsage;
    if (r.emulate) r.jobs = 1;
    std::vector<std::string> slurm_only;  // flags that mean nothing without --slurm
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto need = [&](const char* what) -> const std::string* {
            if (i + 1 >= args.size()) {
                err << "error: " << a << " needs " << what << "\n" << usage;
                return nullptr;
            }
            return &args[++i];
        };
        auto number = [&](const char* flag, int lo, int hi, int& into) {
            const auto* v = need("a number");
            if (!v) return false;
            try {
                into = std::stoi(*v);
            } catch (const std::exception&) {
                into = lo - 1;
            }
            if (into < lo || into > hi) {
                err << "error: " << flag << " needs a number from " << lo << " to " << hi << "\n" << usage;
                return false;
            }
            return true;
        };
        const std::string* v = nullptr;
        if (a == "--help" || a == "-h") {
            out << usage;
            return 0;
        } else if (a == "--out") {
            if (!(v = need("a directory"))) return 2;
            r.out_dir = *v;
        } else if (a == "-j" || a == "--jobs") {
            if (!number("-j", 1, 1024, r.jobs)) return 2;
        } else if (a == "--only") {
            if (!(v = need("a run id (see --list)"))) return 2;
            r.only = *v;
        } else if (a == "--pcap") {
            r.pcap = true;
        } else if (a == "--trace" && !r.emulate) {
            r.trace = true;
        } else if (a == "--list") {
            r.list = true;
        } else if (a == "--force") {
            r.force = true;
        } else if (a == "--slurm") {
            r.slurm = true;
        } else if (a == "--wait") {
            r.slurm_opt.wait = true;
            slurm_only.push_back(a);
        } else if (a == "--runs-per-task") {
            if (!number("--runs-per-task", 1, 100000, r.slurm_opt.runs_per_task)) return 2;
            slurm_only.push_back(a);
        } else if (a == "--max-parallel") {
            if (!number("--max-parallel", 1, 1000000, r.slurm_opt.max_parallel)) return 2;
            slurm_only.push_back(a);
        } else if (a == "--partition" || a == "--time" || a == "--mem" || a == "--sbatch-arg") {
            if (!(v = need("a value"))) return 2;
            if (a == "--partition") r.slurm_opt.partition = *v;
            if (a == "--time") r.slurm_opt.time = *v;
            if (a == "--mem") r.slurm_opt.mem = *v;
            if (a == "--sbatch-arg") r.slurm_opt.sbatch_args.push_back(*v);
            slurm_only.push_back(a);
        } else if (!a.empty() && a[0] == '-') {
            err << "error: unknown option " << a << "\n" << usage;
            return 2;
        } else if (r.file.empty()) {
            r.file = a;
        } else {
            err << "error: one scenario file at a time\n" << usage;
            return 2;
        }
    }
    if (r.file.empty()) {
        err << "error: " << (r.emulate ? "emulate" : "run") << " needs a scenario file\n" << usage;
        return 2;
    }
    if (r.emulate && (r.slurm || !slurm_only.empty())) {
        err << "error: emulate runs on this machine (it needs root and TAP devices); --slurm is for `coapbed run`\n"
            << usage;
        return 2;
    }
    if (!r.slurm && !slurm_only.empty()) {
        err << "error: " << slurm_only.front() << " goes with --slurm\n" << usage;
        return 2;
    }
    if (r.slurm && (r.list || !r.only.empty())) {
        err << "error: --slurm submits the whole sweep; it does not go with --list or --only\n" << usage;
        return 2;
    }
    return -1;
}

/// `--only ID`: one run in this process, unless its result is already there.
int run_only(const Scenario& sc, const RunArgs& a, std::ostream& out, std::ostream& err) {
    for (const auto& r : sc.runs) {
        if (r.id != a.only) continue;
        const auto done = a.force ? std::nullopt : existing_result(a.out_dir, r);
        if (done && !invalid_run(*done)) {
            out << "coapbed: run " << r.id << " already done in " << a.out_dir
                << " (same parameters and seed); --force reruns it\n";
            return 0;
        }
        try {
            return run_one(sc, a.file, r, a.out_dir, a.pcap, a.trace, a.emulate, out);
        } catch (const std::runtime_error& e) {
            if (!a.emulate) throw;
            err << "error: run " << r.id << ": " << e.what() << "\n";
            return InterruptGuard::raised() ? 130 : 1;
        }
    }
    err << "error: " << a.file << " has no run " << a.only << " (see --list)\n";
    return 2;
}

/// The sweep on this machine: `jobs` child processes at a time, each `run --only ID`.
int run_sweep(const Scenario& sc, const RunArgs& args, std::ostream& out, std::ostream& err) {
    const std::string& file = args.file;
    const std::string& out_dir = args.out_dir;
    const int jobs = args.jobs;
    const bool pcap = args.pcap, force = args.force;
    fs::create_directories(out_dir + "/runs");
    fs::create_directories(out_dir + "/logs");
    std::vector<std::optional<ordered_json>> results(sc.runs.size());
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < sc.runs.size(); ++i) {
        if (!force) results[i] = existing_result(out_dir, sc.runs[i]);
        if (results[i] && invalid_run(*results[i])) results[i].reset();  // emulation: try again
        if (!results[i]) todo.push_back(i);
    }
    const std::size_t total = sc.runs.size();
    std::size_t done = total - todo.size();
    if (done > 0) out << "coapbed: " << done << " of " << total << " runs already in " << out_dir << ", skipped\n";
    out << "coapbed: running " << todo.size() << " runs of " << sc.name << " with " << jobs << " in parallel\n";
    out.flush();

    std::optional<InterruptGuard> guard(std::in_place);  // until the children are all reaped
    const bool tty = isatty(STDOUT_FILENO) != 0;
    const auto start = std::chrono::steady_clock::now();
    std::map<pid_t, std::size_t> running;
    std::size_t next = 0, finished_now = 0;
    std::vector<std::string> failures, invalid;
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
        while (!InterruptGuard::raised() && next < todo.size() && running.size() < static_cast<std::size_t>(jobs)) {
            const std::size_t idx = todo[next++];
            const RunSpec& spec = sc.runs[idx];
            const std::string log = out_dir + "/logs/" + spec.id + ".log";
            std::vector<std::string> argv = {"coapbed", args.emulate ? "emulate" : "run", file, "--out", out_dir,
                                             "--only", spec.id};
            if (pcap) argv.push_back("--pcap");
            if (args.trace) argv.push_back("--trace");
            if (force) argv.push_back("--force");
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
                InterruptGuard::raise();
                break;
            }
            running[pid] = idx;
        }
        if (running.empty()) break;
        int status = 0;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR && InterruptGuard::raised()) {
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
        if (InterruptGuard::raised() && (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)) continue;  // stopped by us
        results[idx] = existing_result(out_dir, spec);
        ++done;
        ++finished_now;
        if (results[idx] && invalid_run(*results[idx])) {
            invalid.push_back(spec.id);
            if (tty) out << "\n";
            err << "error: run " << spec.id << " is invalid ("
                << results[idx]->at("emulation").value("invalid_reason", std::string("?"))
                << "); it stays in runs.csv with run_valid = 0 and runs again next time\n";
        } else if (!results[idx]) {
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
    guard.reset();

    std::vector<ordered_json> ok;
    for (std::size_t i = 0; i < results.size(); ++i) {
        // A run stopped by Ctrl-C may still have finished its result file first.
        if (!results[i]) results[i] = existing_result(out_dir, sc.runs[i]);
        if (results[i]) ok.push_back(std::move(*results[i]));
    }
    write_outputs(out_dir, sc.name, ok);
    out << "coapbed: " << ok.size() << " of " << total << " runs in " << out_dir << "/runs.csv and " << out_dir
        << "/summary.md\n";
    if (InterruptGuard::raised()) {
        err << "interrupted: " << ok.size() << " of " << total << " runs done; run the same command again to resume\n";
        return 130;
    }
    if (!failures.empty()) {
        err << "error: " << failures.size() << " runs failed (their logs are in " << out_dir << "/logs)\n";
        return 1;
    }
    if (!invalid.empty()) {
        err << "error: " << invalid.size() << " runs invalid (real-time lag over the limit); run the same command again\n";
        return 1;
    }
    return 0;
}

}  // namespace

namespace {

int run_or_emulate(bool emulate, const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    RunArgs a;
    a.emulate = emulate;
    if (const int rc = parse_run_args(args, a, out, err); rc >= 0) return rc;
    Scenario sc;
    try {
        sc = load_scenario(a.file);
    } catch (const ScenarioError& e) {
        err << "error: " << e.what() << "\n";
        return 1;
    }
    if (a.emulate && !sc.runs.front().config.emulation.enabled) {
        err << "error: " << a.file << " has no [emulation] table (see coapbed emulate --help)\n";
        return 1;
    }
    if (a.emulate && a.list == false && a.only.empty()) {
        if (const std::string why = emu::missing_privileges(); !why.empty()) {
            err << "error: " << why << "\n";
            return 1;
        }
    }
    if (a.out_dir.empty()) a.out_dir = "results/" + sc.name;
    if (a.list) {
        for (const auto& r : sc.runs) {
            out << "coapbed " << (a.emulate ? "emulate " : "run ") << a.file << " --out " << a.out_dir << (a.pcap ? " --pcap" : "")
                << (a.trace ? " --trace" : "")
                << (a.force ? " --force" : "") << " --only " << r.id << "\n";
        }
        return 0;
    }
    if (!a.only.empty()) return run_only(sc, a, out, err);
    if (a.slurm) {
        std::vector<std::string> task_flags;
        if (a.pcap) task_flags.push_back("--pcap");
        if (a.trace) task_flags.push_back("--trace");
        if (a.force) task_flags.push_back("--force");
        return submit_to_slurm(sc, a.file, a.out_dir, task_flags, a.force, a.slurm_opt, out, err);
    }
    return run_sweep(sc, a, out, err);
}

}  // namespace

int cmd_run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    return run_or_emulate(false, args, out, err);
}

int cmd_emulate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    return run_or_emulate(true, args, out, err);
}

namespace {

struct Gathered {
    std::map<std::string, ordered_json> by_id;
    std::string title;
    std::set<std::string> scenario_files;  // as recorded in the results
};

/// Reads every DIR/runs/*.json; returns false (after saying why) if a DIR has no runs/.
bool gather(const std::vector<std::string>& dirs, Gathered& g, std::ostream& err) {
    for (const auto& d : dirs) {
        const fs::path runs = fs::path(d) / "runs";
        if (!fs::is_directory(runs)) {
            err << "error: " << d << " has no runs/ directory\n";
            return false;
        }
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(runs)) {
            if (e.path().extension() == ".json" && e.is_regular_file()) files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            ordered_json doc;
            try {
                doc = ordered_json::parse(read_file(f.string()));
                (void)doc.at("metrics");
                (void)doc.at("swept");
                (void)doc.at("id").get<std::string>();
            } catch (const std::exception& e) {
                err << "warning: skipping " << f.string() << ": not a run result (" << e.what() << ")\n";
                continue;
            }
            const std::string id = doc.at("id").get<std::string>();
            if (g.title.empty()) g.title = doc.value("scenario", "runs");
            if (doc.contains("scenario_file")) g.scenario_files.insert(doc.value("scenario_file", ""));
            auto [it, fresh] = g.by_id.emplace(id, doc);
            if (!fresh && it->second.at("params") != doc.at("params")) {
                err << "warning: run " << id << " appears with different parameters; keeping " << f.string() << "\n";
                it->second = doc;
            }
        }
    }
    return true;
}

/// Why `id` has no usable result: what its log (in any DIR) ends with, or that it never ran.
std::string why_missing(const std::string& id, const std::vector<std::string>& dirs, bool stale) {
    if (stale) return "its result was made from other parameters (the scenario changed): rerun";
    for (const auto& d : dirs) {
        const std::string log = d + "/logs/" + id + ".log";
        if (!fs::is_regular_file(log)) continue;
        std::istringstream lines(read_file(log));
        std::string line, last;
        while (std::getline(lines, line)) {
            if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
        }
        if (last.size() > 160) last = last.substr(0, 160) + "...";
        return "failed or cut short (log " + log + (last.empty() ? ", empty" : ": " + last) + ")";
    }
    return "not run (no result, no log)";
}

/// collect_runs on results already gathered from `dirs`.
int merge_gathered(const Scenario* sc, Gathered& g, const std::vector<std::string>& dirs, const std::string& out_dir,
                   bool partial, std::ostream& out, std::ostream& err) {
    std::vector<ordered_json> results;
    std::vector<std::pair<std::string, std::string>> missing;  // id, why
    if (sc == nullptr) {
        for (auto& [id, doc] : g.by_id) results.push_back(std::move(doc));
    } else {
        // The scenario's runs in its order (as `coapbed run` writes them); results that
        // are not among them (an older version of the sweep) stay out of runs.csv.
        std::size_t foreign = g.by_id.size();
        for (const auto& spec : sc->runs) {
            auto it = g.by_id.find(spec.id);
            if (it != g.by_id.end()) --foreign;
            if (it != g.by_id.end() && result_matches(it->second, spec)) {
                results.push_back(it->second);
            } else {
                missing.emplace_back(spec.id, why_missing(spec.id, dirs, it != g.by_id.end()));
            }
        }
        if (foreign > 0) {
            err << "note: " << foreign << " results in " << dirs.front()
                << "/runs are not runs of this scenario; left out of runs.csv\n";
        }
    }
    fs::create_directories(out_dir);
    write_outputs(out_dir, sc ? sc->name : (g.title.empty() ? "runs" : g.title), results);
    const std::string missing_file = out_dir + "/missing.txt";
    if (missing.empty()) {
        fs::remove(missing_file);
    } else {
        std::string text;
        for (const auto& [id, why] : missing) text += id + "\t" + why + "\n";
        write_atomically(missing_file, text);
    }
    out << "coapbed: " << results.size() << (sc ? " of " + std::to_string(sc->runs.size()) : std::string())
        << " runs in " << out_dir << "/runs.csv and " << out_dir << "/summary.md\n";
    if (sc == nullptr) {
        err << "note: no scenario file known, so missing runs cannot be named: pass --scenario FILE\n";
        return 0;
    }
    if (missing.empty()) return 0;
    err << (partial ? "warning: " : "error: ") << missing.size() << " of " << sc->runs.size()
        << " runs have no result (" << missing_file << "):\n";
    for (std::size_t i = 0; i < missing.size() && i < 20; ++i) err << "  " << missing[i].first << ": " << missing[i].second << "\n";
    if (missing.size() > 20) err << "  ... and " << missing.size() - 20 << " more\n";
    return partial ? 0 : 1;
}

}  // namespace

int collect_runs(const Scenario* sc, const std::vector<std::string>& dirs, const std::string& out_dir, bool partial,
                 std::ostream& out, std::ostream& err) {
    Gathered g;
    if (!gather(dirs, g, err)) return 1;
    return merge_gathered(sc, g, dirs, out_dir, partial, out, err);
}

int cmd_collect(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::vector<std::string> dirs;
    std::string out_dir, scenario_file;
    bool partial = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            out << kCollectUsage;
            return 0;
        }
        if (a == "--out" || a == "--scenario") {
            if (i + 1 >= args.size()) {
                err << "error: " << a << " needs " << (a == "--out" ? "a directory" : "a scenario file") << "\n"
                    << kCollectUsage;
                return 2;
            }
            (a == "--out" ? out_dir : scenario_file) = args[++i];
        } else if (a == "--partial") {
            partial = true;
        } else if (!a.empty() && a[0] == '-') {
            err << "error: unknown option " << a << "\n" << kCollectUsage;
            return 2;
        } else {
            dirs.push_back(a);
        }
    }
    if (dirs.empty()) {
        err << "error: collect needs at least one results directory\n" << kCollectUsage;
        return 2;
    }
    if (out_dir.empty()) out_dir = dirs.front();
    Gathered g;
    if (!gather(dirs, g, err)) return 1;
    if (scenario_file.empty() && g.scenario_files.size() == 1 && fs::is_regular_file(*g.scenario_files.begin())) {
        // The file the runs were made from: they all name the same one and it is still there.
        scenario_file = *g.scenario_files.begin();
        out << "coapbed: checking for missing runs against " << scenario_file << " (named in the results)\n";
    }
    if (scenario_file.empty()) return merge_gathered(nullptr, g, dirs, out_dir, partial, out, err);
    Scenario sc;
    try {
        sc = load_scenario(scenario_file);
    } catch (const ScenarioError& e) {
        err << "error: " << e.what() << "\n";
        return 1;
    }
    return merge_gathered(&sc, g, dirs, out_dir, partial, out, err);
}

}  // namespace coapbed::sim
