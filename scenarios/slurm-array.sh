#!/usr/bin/env bash
# Runs a scenario's sweep as a Slurm job array, one task per run, for users who write
# their own sbatch lines. `coapbed run FILE --out DIR --slurm` does all of this for you
# (chunking, resubmission, the collect job); see the README's "Clusters".
#
#   n=$(coapbed run scenarios/congestion-dumbbell.toml --list | wc -l)      # 270
#   export COAPBED=$(command -v coapbed)                                   # absolute path
#   sbatch --array=1-$n scenarios/slurm-array.sh scenarios/congestion-dumbbell.toml results/cd
#   # when the array is done (or use --dependency=afterany:<array job> on this line):
#   coapbed collect results/cd     # -> runs.csv, summary.md; names missing runs, exit 1 if any
#
# Arguments: SCENARIO.toml OUTDIR [OFFSET]. Task indices may be 1-based (--array=1-N) or
# 0-based (--array=0-(N-1)): an array whose smallest index is 0 counts from 0. OFFSET is
# added to the index, for sweeps larger than the cluster's MaxArraySize (1001 by default):
#   sbatch --array=0-999 slurm-array.sh FILE DIR 0
#   sbatch --array=0-999 slurm-array.sh FILE DIR 1000   # runs 1001..2000 of --list
# Each task runs `coapbed run FILE --out DIR --only ID`, which skips a run whose result in
# DIR was made from the same parameters and seed, so resubmitting the same array after
# failures, preemption or an edit of the scenario reruns exactly what is missing or stale.
# The run's output goes to DIR/logs/<id>.log; errors before the run is known (a bad index,
# no coapbed) to DIR/logs/slurm-array.err. DIR and FILE must be on a file system every
# node sees at the same path. Memory: none is requested here (nodes without RealMemory
# refuse any --mem); add `--mem=...` on the sbatch line if your site needs it.
#
#SBATCH --job-name=coapbed
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
#SBATCH --output=/dev/null
set -euo pipefail
usage="usage: sbatch --array=1-N slurm-array.sh SCENARIO.toml OUTDIR [OFFSET]"
scenario=${1:?$usage}
out=${2:?$usage}
offset=${3:-0}
task=${SLURM_ARRAY_TASK_ID:?run this under sbatch --array; $usage}
mkdir -p "$out/logs"
exec 2>>"$out/logs/slurm-array.err"
fail() {
  echo "$(date +%FT%T) task ${SLURM_ARRAY_JOB_ID:-?}_$task: $*" >&2
  exit 1
}
[[ $offset =~ ^[0-9]+$ ]] || fail "OFFSET must be a number, not '$offset'"
coapbed=${COAPBED:-$(command -v coapbed || true)}
[[ -n $coapbed && -x $coapbed ]] || fail "no coapbed binary: set COAPBED to its absolute path (sbatch exports it by default)"
[[ $coapbed == /* ]] || coapbed=$(realpath "$coapbed")
base=1
[[ ${SLURM_ARRAY_TASK_MIN:-1} -eq 0 ]] && base=0
index=$((task - base + offset + 1))   # line of --list
mapfile -t lines < <("$coapbed" run "$scenario" --out "$out" --list) || true
n=${#lines[@]}
((n > 0)) || fail "coapbed run $scenario --list gave no runs (is the scenario valid?)"
if ((index < 1 || index > n)); then
  fail "index $task (counted from $base, offset $offset) is run $index, but $scenario has runs 1..$n: use --array=1-$n or --array=0-$((n - 1))"
fi
id=${lines[index - 1]##*--only }
exec "$coapbed" run "$scenario" --out "$out" --only "$id" >"$out/logs/$id.log" 2>&1
