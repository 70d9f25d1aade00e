#!/usr/bin/env bash
# Runs a scenario's sweep as a Slurm job array: one array task per run, all writing
# into one shared results directory (each result file is written atomically).
#
#   n=$(coapbed run scenarios/congestion-dumbbell.toml --list | wc -l)
#   sbatch --array=1-$n scenarios/slurm-array.sh scenarios/congestion-dumbbell.toml results/cd
#   # when the array is done:
#   coapbed collect results/cd          # -> results/cd/runs.csv and summary.md
#
# Tasks whose result already exists finish at once, so resubmitting the same array
# after failures or preemption reruns only what is missing. Without Slurm, the same
# command lines run under GNU parallel:
#   coapbed run FILE --out DIR --list | parallel -j 16 --sshloginfile hosts
#
#SBATCH --job-name=coapbed
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=01:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
scenario=${1:?usage: sbatch --array=1-N slurm-array.sh SCENARIO.toml OUTDIR}
out=${2:?usage: sbatch --array=1-N slurm-array.sh SCENARIO.toml OUTDIR}
coapbed=${COAPBED:-coapbed}
task=${SLURM_ARRAY_TASK_ID:?run this under sbatch --array}

line=$("$coapbed" run "$scenario" --out "$out" --list | sed -n "${task}p")
[[ -n $line ]] || { echo "no run number $task in $scenario" >&2; exit 1; }
id=${line##*--only }
if [[ -f $out/runs/$id.json ]]; then
  echo "run $id already done"
  exit 0
fi
exec "$coapbed" run "$scenario" --out "$out" --only "$id"
