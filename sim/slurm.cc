#include "sim/slurm.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include "sim/runner.h"

namespace coapbed::sim {

namespace fs = std::filesystem;

namespace {

struct Output {
    int status = -1;  ///< exit status; -1 if it could not be started or was killed
    std::string out, err;
};

/// Runs argv[0] (looked up on PATH) and returns its exit status and both outputs.
Output run_command(const std::vector<std::string>& argv) {
    Output r;
    int po[2], pe[2];
    if (pipe(po) != 0) return r;
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return r;
    }
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        std::vector<char*> cargv;
        for (const auto& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
        cargv.push_back(nullptr);
        execvp(cargv[0], cargv.data());
        std::fprintf(stderr, "cannot run %s: %s\n", cargv[0], std::strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        r.err = std::string("fork: ") + std::strerror(errno);
        return r;
    }
    pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    std::string* into[2] = {&r.out, &r.err};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            char buf[4096];
            const ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                into[i]->append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string first_line(const std::string& s) {
    std::string l = s.substr(0, s.find('\n'));
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
    return l;
}

/// MaxArraySize from `scontrol show config`: arrays may use indices 0..MaxArraySize-1.
long max_array_size(std::ostream& err) {
    const Output o = run_command({"scontrol", "show", "config"});
    if (o.status != 0) {
        err << "error: cannot reach Slurm (scontrol show config: "
            << first_line(o.err.empty() ? "exit status " + std::to_string(o.status) : o.err)
            << "); is Slurm installed and SLURM_CONF set?\n";
        return -1;
    }
    std::istringstream lines(o.out);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("MaxArraySize", 0) != 0) continue;
        const auto eq = line.find('=');
        try {
            return eq == std::string::npos ? 1001 : std::stol(line.substr(eq + 1));
        } catch (const std::exception&) {
            break;
        }
    }
    return 1001;  // Slurm's default
}

/// One array submitted earlier: its `count` runs are lines offset+1.. of ids_file, task k
/// running lines offset + k*per_task + 1 .. + per_task.
struct Submission {
    std::string array_id, ids_file;
    std::size_t offset = 0, count = 0, per_task = 1;
};

std::vector<Submission> read_submissions(const std::string& path) {
    std::vector<Submission> subs;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        Submission s;
        if (!(f >> s.array_id >> s.ids_file >> s.offset >> s.count)) continue;
        if (!(f >> s.per_task) || s.per_task == 0) s.per_task = 1;
        subs.push_back(s);
    }
    return subs;
}

std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> v;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) v.push_back(line);
    return v;
}

/// Runs of earlier submissions to this directory that Slurm still has pending or running,
/// and the arrays they belong to.
bool queued_runs(const std::vector<Submission>& subs, std::set<std::string>& runs, std::set<std::string>& arrays,
                 std::ostream& err) {
    if (subs.empty()) return true;
    const Output o = run_command({"squeue", "-h", "-r", "-o", "%F %K %T"});
    if (o.status != 0) {
        err << "error: squeue failed: " << first_line(o.err) << "\n";
        return false;
    }
    std::map<std::string, const Submission*> by_array;
    for (const auto& s : subs) by_array[s.array_id] = &s;
    std::map<std::string, std::vector<std::string>> ids_cache;
    std::istringstream lines(o.out);
    std::string array, task, state;
    while (lines >> array >> task >> state) {
        auto it = by_array.find(array);
        if (it == by_array.end() || task == "N/A") continue;
        std::size_t k = 0;
        try {
            k = std::stoul(task);
        } catch (const std::exception&) {
            continue;
        }
        const Submission& s = *it->second;
        auto& ids = ids_cache.try_emplace(s.ids_file, read_lines(s.ids_file)).first->second;
        for (std::size_t j = k * s.per_task; j < (k + 1) * s.per_task && j < s.count; ++j) {
            if (s.offset + j >= ids.size()) break;
            runs.insert(ids[s.offset + j]);
            arrays.insert(array);
        }
    }
    return true;
}

constexpr const char* kTaskScript = R"(#!/bin/bash
# One run of a coapbed sweep as a Slurm array task. Written by `coapbed run --slurm`;
# sbatch keeps its own copy, so rewriting this file does not touch jobs already queued.
# usage: sbatch --array=0-K task.sh IDS OFFSET COUNT PER_TASK COAPBED SCENARIO OUTDIR [FLAG]...
# Task k runs the runs on lines OFFSET + k*PER_TASK + 1 .. + PER_TASK (at most COUNT in all).
set -u
ids=$1 offset=$2 count=$3 per_task=$4 coapbed=$5 scenario=$6 out=$7
shift 7
task=${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID}
mkdir -p "$out/logs"
status=0
for ((j = SLURM_ARRAY_TASK_ID * per_task; j < (SLURM_ARRAY_TASK_ID + 1) * per_task && j < count; j++)); do
  line=$((offset + j + 1))
  id=$(sed -n "${line}p" "$ids")
  if [[ -z $id ]]; then
    echo "coapbed task $task: no run on line $line of $ids" >&2
    status=1
    continue
  fi
  echo "$(date +%FT%T) task $task on $(hostname): $id"
  "$coapbed" run "$scenario" --out "$out" --only "$id" "$@" >"$out/logs/$id.log" 2>&1 || status=1
done
exit $status
)";

constexpr const char* kCollectScript = R"(#!/bin/bash
# The collect step of a coapbed sweep on Slurm (written by `coapbed run --slurm`): runs
# after every array task, whatever its outcome; names the runs without a result.
# usage: sbatch --dependency=afterany:... collect.sh COAPBED OUTDIR SCENARIO
exec "$1" collect "$2" --scenario "$3"
)";

void write_script(const std::string& path, const char* text) {
    write_atomically(path, text);
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
}

/// sbatch with the options every job of this sweep gets; returns the job id or "".
std::string sbatch(std::vector<std::string> job_args, const SlurmOptions& opt, const std::vector<std::string>& script,
                   std::ostream& err) {
    std::vector<std::string> argv = {"sbatch", "--parsable"};
    if (!opt.partition.empty()) argv.push_back("--partition=" + opt.partition);
    if (!opt.time.empty()) argv.push_back("--time=" + opt.time);
    if (!opt.mem.empty()) argv.push_back("--mem=" + opt.mem);
    argv.insert(argv.end(), job_args.begin(), job_args.end());
    argv.insert(argv.end(), opt.sbatch_args.begin(), opt.sbatch_args.end());
    argv.insert(argv.end(), script.begin(), script.end());
    const Output o = run_command(argv);
    const std::string line = first_line(o.out);
    const std::string id = line.substr(0, line.find(';'));  // --parsable: "jobid[;cluster]"
    if (o.status != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
        err << "error: sbatch failed (exit " << o.status << "): " << first_line(o.err.empty() ? o.out : o.err) << "\n";
        return "";
    }
    return id;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
}

/// "COMPLETED", "FAILED", ... or "" once the controller has forgotten the job.
std::string job_state(const std::string& job) {
    const Output o = run_command({"scontrol", "-o", "show", "job", job});
    if (o.status != 0) return "";
    const auto p = o.out.find("JobState=");
    if (p == std::string::npos) return "";
    const auto e = o.out.find(' ', p);
    return o.out.substr(p + 9, e == std::string::npos ? std::string::npos : e - p - 9);
}

bool is_final(const std::string& state) {
    static const std::set<std::string> kLive = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED",
                                                "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING",
                                                "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"};
    return state.empty() || kLive.count(state) == 0;
}

/// Blocks until the collect job ends, showing how many submitted runs have a result.
int wait_for(const std::string& collect_job, const Scenario& sc, const std::string& out_dir,
             const std::vector<std::string>& submitted, std::ostream& out, std::ostream& err) {
    std::optional<InterruptGuard> guard(std::in_place);
    std::size_t last_done = static_cast<std::size_t>(-1);
    auto last_print = std::chrono::steady_clock::now() - std::chrono::hours(1);
    std::string state = "PENDING";
    while (!InterruptGuard::raised()) {
        state = job_state(collect_job);
        if (is_final(state)) break;
        std::size_t done = 0;
        for (const auto& id : submitted) done += fs::is_regular_file(out_dir + "/runs/" + id + ".json") ? 1 : 0;
        const auto now = std::chrono::steady_clock::now();
        if (done != last_done && now - last_print >= std::chrono::seconds(5)) {
            out << "coapbed: " << done << " of " << submitted.size() << " submitted runs have a result\n";
            out.flush();
            last_done = done;
            last_print = now;
        }
        for (int i = 0; i < 10 && !InterruptGuard::raised(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    guard.reset();
    if (InterruptGuard::raised()) {
        err << "coapbed: stopped waiting; the jobs go on (squeue; scancel to stop them)\n";
        return 130;
    }
    if (state != "COMPLETED" && state != "FAILED" && !state.empty()) {
        err << "warning: the collect job " << collect_job << " ended " << state << "; collecting here\n";
    }
    // The collect job has written the files; collecting again here gives this process
    // the verdict and the names (and the files, should that job have been cancelled).
    return collect_runs(&sc, {out_dir}, out_dir, false, out, err);
}

}  // namespace

int submit_to_slurm(const Scenario& sc, const std::string& file, const std::string& out_dir_arg,
                    const std::vector<std::string>& task_flags, bool force, const SlurmOptions& opt, std::ostream& out,
                    std::ostream& err) {
    const std::string out_dir = fs::absolute(out_dir_arg).lexically_normal().string();
    const std::string scenario = fs::absolute(file).lexically_normal().string();
    const std::string self = fs::read_symlink("/proc/self/exe").string();
    const std::string slurm_dir = out_dir + "/slurm";
    fs::create_directories(out_dir + "/runs");
    fs::create_directories(out_dir + "/logs");
    fs::create_directories(slurm_dir);

    const long max_array = max_array_size(err);
    if (max_array < 0) return 1;
    // Runs still queued first, results second: a task that finishes in between is then
    // seen as queued, never submitted twice (and a duplicate would skip itself anyway).
    const std::string subs_file = slurm_dir + "/submissions.tsv";
    std::set<std::string> queued, live_arrays;
    if (!queued_runs(read_submissions(subs_file), queued, live_arrays, err)) return 1;
    std::vector<std::string> todo;
    std::size_t done = 0;
    for (const auto& r : sc.runs) {
        if (queued.count(r.id)) continue;
        if (!force && existing_result(out_dir, r)) {
            ++done;
            continue;
        }
        todo.push_back(r.id);
    }
    out << "coapbed: " << sc.name << ": " << sc.runs.size() << " runs, " << done << " already done in " << out_dir
        << ", " << queued.size() << " still queued, " << todo.size() << " to submit\n";
    if (todo.empty() && live_arrays.empty()) {
        out << "coapbed: nothing to submit; collecting here\n";
        return collect_runs(&sc, {out_dir}, out_dir, false, out, err);
    }

    std::size_t n = 1;
    while (fs::exists(slurm_dir + "/submit-" + std::to_string(n) + ".ids")) ++n;
    const std::string ids_file = slurm_dir + "/submit-" + std::to_string(n) + ".ids";
    write_atomically(ids_file, todo.empty() ? std::string() : join(todo, "\n") + "\n");
    write_script(slurm_dir + "/task.sh", kTaskScript);
    write_script(slurm_dir + "/collect.sh", kCollectScript);

    const std::size_t per_task = static_cast<std::size_t>(std::max(1, opt.runs_per_task));
    const std::size_t chunk = static_cast<std::size_t>(std::max(1L, max_array)) * per_task;
    std::vector<std::string> arrays;
    std::ofstream subs(subs_file, std::ios::app);
    for (std::size_t offset = 0; offset < todo.size(); offset += chunk) {
        const std::size_t count = std::min(chunk, todo.size() - offset);
        const std::size_t tasks = (count + per_task - 1) / per_task;
        std::string range = "0-" + std::to_string(tasks - 1);
        if (opt.max_parallel > 0) range += "%" + std::to_string(opt.max_parallel);
        std::vector<std::string> job = {"--job-name=coapbed:" + sc.name, "--array=" + range,
                                        "--output=" + slurm_dir + "/array-%A.out", "--open-mode=append",
                                        "--cpus-per-task=1"};
        // The throttle holds for the whole sweep: each chunk starts after the previous one.
        if (opt.max_parallel > 0 && !arrays.empty()) job.push_back("--dependency=afterany:" + arrays.back());
        std::vector<std::string> script = {slurm_dir + "/task.sh", ids_file, std::to_string(offset),
                                           std::to_string(count), std::to_string(per_task), self, scenario, out_dir};
        script.insert(script.end(), task_flags.begin(), task_flags.end());
        const std::string id = sbatch(job, opt, script, err);
        if (id.empty()) {
            if (!arrays.empty()) err << "note: arrays " << join(arrays, ", ") << " were submitted before this error\n";
            return 1;
        }
        arrays.push_back(id);
        subs << id << "\t" << ids_file << "\t" << offset << "\t" << count << "\t" << per_task << "\n";
        subs.flush();
        out << "coapbed: array job " << id << ": " << count << " runs (tasks " << range << ")\n";
    }
    std::vector<std::string> after = arrays;
    after.insert(after.end(), live_arrays.begin(), live_arrays.end());
    const std::string collect = sbatch({"--job-name=coapbed:" + sc.name + ":collect",
                                        "--dependency=afterany:" + join(after, ":"),
                                        "--output=" + out_dir + "/logs/collect.log"},
                                       opt, {slurm_dir + "/collect.sh", self, out_dir, scenario}, err);
    if (collect.empty()) return 1;
    std::vector<std::string> all = after;
    all.push_back(collect);
    out << "coapbed: collect job " << collect << " runs after array jobs " << join(after, ", ") << "\n"
        << "  follow:  squeue -j " << join(all, ",") << "\n"
        << "  logs:    " << out_dir << "/logs/<id>.log (Slurm's own: " << slurm_dir << "/array-<job>.out)\n"
        << "  results: " << out_dir << "/runs.csv and summary.md when job " << collect
        << " ends; runs without a result are named in " << out_dir << "/missing.txt\n"
        << "  cancel:  scancel " << join(all, " ") << " (the same command again submits what is missing)\n";
    out.flush();
    if (!opt.wait) return 0;
    std::vector<std::string> submitted = todo;
    submitted.insert(submitted.end(), queued.begin(), queued.end());
    return wait_for(collect, sc, out_dir, submitted, out, err);
}

}  // namespace coapbed::sim
