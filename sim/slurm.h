// `coapbed run FILE --out DIR --slurm`: a sweep as Slurm job arrays plus a collect job.
//
// What it does, in order:
//  1. asks the controller for MaxArraySize (`scontrol show config`);
//  2. finds the runs still queued from earlier submissions to DIR (DIR/slurm/submissions.tsv
//     + `squeue -r`), then the runs whose result is missing or stale (every parameter and
//     the seed are compared, as `coapbed run` does); only those are submitted;
//  3. writes their ids to DIR/slurm/submit-N.ids and submits arrays of at most
//     MaxArraySize tasks of DIR/slurm/task.sh, each running `coapbed run FILE --out DIR
//     --only ID` (for runs_per_task runs, one after the other) with the binary's absolute
//     path, each run's output in DIR/logs/<id>.log;
//  4. submits a collect job (`--dependency=afterany:` every array, so it runs whatever
//     the tasks' outcome) running `coapbed collect DIR --scenario FILE`, which writes
//     runs.csv, summary.md and DIR/missing.txt;
//  5. with `wait`, polls the collect job until it ends, then collects once more here and
//     exits 1 naming the runs without a result.
// Slurm is reached only through its commands (sbatch, squeue, scontrol, found on PATH
// or in /usr/bin), so SLURM_CONF and the site's defaults apply as for the user's own jobs.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace coapbed::sim {

struct Scenario;

struct SlurmOptions {
    std::string partition, time, mem;      ///< empty: the cluster's defaults
    int max_parallel = 0;                  ///< tasks of this sweep at once; 0: no limit
    int runs_per_task = 1;                 ///< runs one array task does one after the other
    std::vector<std::string> sbatch_args;  ///< passed to every sbatch call as they are
    bool wait = false;
};

/// Submits the runs of `sc` not done in `out_dir`. `task_flags` go to every task's
/// `coapbed run` (--pcap, --force); `force` submits runs that are already done too.
int submit_to_slurm(const Scenario& sc, const std::string& file, const std::string& out_dir,
                    const std::vector<std::string>& task_flags, bool force, const SlurmOptions& opt, std::ostream& out,
                    std::ostream& err);

}  // namespace coapbed::sim
