#!/usr/bin/env bash
# `coapbed run --slurm` and scenarios/slurm-array.sh against a real one-node Slurm
# (scripts/slurm-local, MaxArraySize lowered to 3 so that smoke.toml's 4 runs need two
# arrays): results equal to a local run, resubmission of exactly the stale runs after a
# scenario edit, a cancelled task resubmitted, a crashing run named, collect's verdict.
# usage: slurm_test.sh PATH/TO/coapbed SOURCE_DIR       (as root; exit 77 = skipped)
set -uo pipefail
COAPBED=$(realpath "$1")
SRC=$(realpath "$2")
SMOKE=$SRC/scenarios/smoke.toml
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: starting a Slurm needs root"
  exit 77
fi
T=$(mktemp -d)
chmod 0755 "$T"   # munged runs as the munge user and must reach its socket folder
CLUSTER=$T/cluster
trap 'bash "$SRC/scripts/slurm-local" stop "$CLUSTER" >/dev/null 2>&1; rm -rf "$T"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.sh"

# A free-looking port pair, so that a Slurm already on 6817 is left alone.
port=$((20000 + RANDOM % 20000))
if ! bash "$SRC/scripts/slurm-local" start "$CLUSTER" --max-array-size 3 --port "$port" >"$T/start.out" 2>&1; then
  echo "FAIL: the one-node Slurm did not start: $(cat "$T/start.out")"
  exit 1
fi
export SLURM_CONF=$CLUSTER/slurm.conf
scontrol show config | grep "MaxArraySize *= 3" >/dev/null && ok "one-node Slurm up, MaxArraySize 3" || bad "MaxArraySize"

rows() { echo $(($(wc -l <"$1") - 1)); }

"$COAPBED" run "$SMOKE" --out "$T/local" -j 2 >/dev/null 2>&1 || bad "local smoke run"

# 1. The sweep through Slurm: two arrays (3 + 1 tasks), a collect job, --wait.
"$COAPBED" run "$SMOKE" --out "$T/s" --slurm --wait >"$T/s.out" 2>"$T/s.err"; rc=$?
[[ $rc -eq 0 ]] && ok "--slurm --wait exits 0" || bad "--slurm --wait rc $rc: $(cat "$T/s.out" "$T/s.err")"
[[ $(grep -c "^coapbed: array job" "$T/s.out") -eq 2 ]] && ok "4 runs with MaxArraySize 3 went as two arrays" \
  || bad "arrays: $(grep 'array job' "$T/s.out")"
if [[ -f $T/s/runs.csv ]] && diff <(strip_wall "$T/local/runs.csv") <(strip_wall "$T/s/runs.csv") >/dev/null; then
  ok "runs.csv through Slurm = local -j 2 runs.csv (apart from wall_seconds)"
else
  bad "runs.csv differs: $(diff <(strip_wall "$T/local/runs.csv") <(strip_wall "$T/s/runs.csv") 2>&1 | head -5)"
fi
n=0
for id in $("$COAPBED" run "$SMOKE" --list | sed 's/.*--only //'); do
  grep -q "exchanges completed" "$T/s/logs/$id.log" 2>/dev/null && n=$((n + 1))
done
[[ $n -eq 4 ]] && ok "each run's output in DIR/logs/<id>.log" || bad "logs: $n of 4"
[[ ! -e $T/s/missing.txt ]] && grep -q "4 of 4 runs" "$T/s/logs/collect.log" && ok "the collect job wrote runs.csv, nothing missing" \
  || bad "collect job: $(cat "$T/s/logs/collect.log" 2>&1)"
"$COAPBED" run "$SMOKE" --out "$T/s" --slurm --wait >"$T/s2.out" 2>&1
grep -q "4 already done" "$T/s2.out" && grep -q "nothing to submit" "$T/s2.out" && ! grep -q "array job" "$T/s2.out" \
  && ok "a second --slurm submits nothing" || bad "second submission: $(cat "$T/s2.out")"

# --runs-per-task 3: 4 runs as 2 tasks of one array, same results.
"$COAPBED" run "$SMOKE" --out "$T/k" --slurm --runs-per-task 3 --wait >"$T/k.out" 2>&1; rc=$?
[[ $rc -eq 0 ]] && grep -q "array job [0-9]*: 4 runs (tasks 0-1)" "$T/k.out" && [[ $(grep -c "^coapbed: array job" "$T/k.out") -eq 1 ]] \
  && diff <(strip_wall "$T/local/runs.csv") <(strip_wall "$T/k/runs.csv") >/dev/null \
  && ok "--runs-per-task 3: one array of 2 tasks, same runs.csv" || bad "runs-per-task (rc $rc): $(cat "$T/k.out")"

# 2. An edited scenario reruns exactly the changed runs.
cp "$SMOKE" "$T/edit.toml"
"$COAPBED" run "$T/edit.toml" --out "$T/e" --slurm --wait >/dev/null 2>&1 || bad "edit: first submission"
sed -i 's/^seeds = \[1, 2\]/seeds = [1, 3]/' "$T/edit.toml"
"$COAPBED" run "$T/edit.toml" --out "$T/e" --slurm --wait >"$T/e2.out" 2>&1; rc=$?
last=$(ls "$T/e/slurm/"submit-*.ids | sort -V | tail -1)
[[ $rc -eq 0 ]] && grep -q "2 already done.*2 to submit" "$T/e2.out" \
  && [[ $(sort "$last" | tr '\n' ' ') == "loss-0.2_seed-3 loss-0_seed-3 " ]] \
  && ok "new seeds: exactly the 2 new runs submitted" || bad "seed edit (rc $rc): $(cat "$T/e2.out") / $(cat "$last")"
sed -i 's/^response = 200/response = 100/' "$T/edit.toml"
"$COAPBED" run "$T/edit.toml" --out "$T/e" --slurm --wait >"$T/e3.out" 2>&1; rc=$?
[[ $rc -eq 0 ]] && grep -q "0 already done.*4 to submit" "$T/e3.out" \
  && python3 -c "import json,sys; sys.exit(json.load(open('$T/e/runs/loss-0_seed-1.json'))['params']['workload.response'] != 100)" \
  && ok "a changed parameter with the same ids: all 4 stale results rerun" || bad "response edit (rc $rc): $(cat "$T/e3.out")"
[[ $(rows "$T/e/runs.csv") -eq 4 ]] && [[ $(python3 -c "import csv,sys; print(sorted({r['seed'] for r in csv.DictReader(open(sys.argv[1]))}))" "$T/e/runs.csv") == "['1', '3']" ]] \
  && ok "runs.csv holds the 4 runs of the edited scenario only" || bad "edited runs.csv: $(cut -d, -f1-3 "$T/e/runs.csv")"

# 3. A task cancelled with scancel is submitted again by the next --slurm and completes.
"$COAPBED" run "$SMOKE" --out "$T/c" --slurm --max-parallel 1 >"$T/c1.out" 2>&1 || bad "throttled submission"
array=$(sed -n 's/^coapbed: array job \([0-9]*\):.*/\1/p' "$T/c1.out" | head -1)
grep -q "tasks 0-2%1" "$T/c1.out" && ok "--max-parallel 1 throttles the array (%1)" || bad "throttle: $(cat "$T/c1.out")"
scancel "${array}_2"
victim=$(sed -n 3p "$T/c/slurm/submit-1.ids")
"$COAPBED" run "$SMOKE" --out "$T/c" --slurm --wait >"$T/c2.out" 2>&1; rc=$?
[[ $rc -eq 0 && -f $T/c/runs/$victim.json ]] && grep -qx "$victim" "$T/c/slurm/submit-2.ids" \
  && ok "cancelled task ($victim) resubmitted by the next --slurm and done" \
  || bad "scancel (rc $rc): $(cat "$T/c2.out"; cat "$T/c/slurm/submit-2.ids" 2>&1)"
[[ $(cat "$T/c/slurm/submit-2.ids" | wc -l) -eq 1 ]] && ok "runs still queued were not submitted twice" \
  || bad "second submission after scancel: $(cat "$T/c/slurm/submit-2.ids")"
[[ $(rows "$T/c/runs.csv") -eq 4 ]] && ok "all 4 runs collected after the resubmission" || bad "rows after scancel"

# 4. A run that crashes is named by the collect step, and --wait exits 1.
mkdir -p "$T/x/runs/loss-0.2_seed-2.json"   # a directory where its result must go
"$COAPBED" run "$SMOKE" --out "$T/x" --slurm --wait >"$T/x.out" 2>"$T/x.err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "loss-0.2_seed-2: failed" "$T/x.err" && grep -q "^loss-0.2_seed-2	failed" "$T/x/missing.txt" \
  && ok "a crashing run: --wait exits 1 and names it (also in missing.txt)" || bad "crash (rc $rc): $(cat "$T/x.err")"
grep -q "loss-0.2_seed-2" "$T/x/logs/collect.log" && ok "the collect job's log names it too" || bad "collect.log"
[[ $(rows "$T/x/runs.csv") -eq 3 ]] && ok "the other 3 runs are in runs.csv" || bad "rows with a crash"
"$COAPBED" collect "$T/x" >/dev/null 2>&1; rc1=$?
"$COAPBED" collect "$T/x" --partial >/dev/null 2>&1; rc2=$?
[[ $rc1 -eq 1 && $rc2 -eq 0 ]] && ok "collect: exit 1 with a run missing, 0 with --partial" || bad "collect rc $rc1 / $rc2"

# 5. scenarios/slurm-array.sh (indices 0..2 allowed here): 1-based and 0-based, in chunks
# with an OFFSET, and an index past the sweep.
export COAPBED
sbatch --wait --array=1-2 "$SRC/scenarios/slurm-array.sh" "$SMOKE" "$T/a1" >/dev/null 2>&1 &&
  sbatch --wait --array=1-2 "$SRC/scenarios/slurm-array.sh" "$SMOKE" "$T/a1" 2 >/dev/null 2>&1 &&
  "$COAPBED" collect "$T/a1" >/dev/null 2>&1 && ok "slurm-array.sh 1-based in two chunks (OFFSET 2) + collect" \
  || bad "array 1-2 + offset 2"
sbatch --wait --array=0-2 "$SRC/scenarios/slurm-array.sh" "$SMOKE" "$T/a0" 0 >/dev/null 2>&1 &&
  sbatch --wait --array=0-0 "$SRC/scenarios/slurm-array.sh" "$SMOKE" "$T/a0" 3 >/dev/null 2>&1 &&
  "$COAPBED" collect "$T/a0" >/dev/null 2>&1 && diff <(strip_wall "$T/local/runs.csv") <(strip_wall "$T/a0/runs.csv") >/dev/null \
  && ok "slurm-array.sh 0-based in two chunks with OFFSET = local runs.csv" || bad "array 0-2 + offset 3"
sbatch --wait --array=1-2 "$SRC/scenarios/slurm-array.sh" "$SMOKE" "$T/a9" 3 >/dev/null 2>&1; rc=$?
[[ $rc -ne 0 ]] && grep -q "index 2 (counted from 1, offset 3) is run 5, but .* has runs 1..4: use --array=1-4 or --array=0-3" "$T/a9/logs/slurm-array.err" \
  && [[ -f $T/a9/runs/loss-0.2_seed-2.json ]] \
  && ok "an index past the sweep fails with a clear message" || bad "bad index (rc $rc): $(cat "$T/a9/logs/slurm-array.err" 2>&1)"
ls "$T"/*.out 2>/dev/null | grep -q slurm- && bad "Slurm output files in the submit folder" || true

echo "$fails failures"
[[ $fails -eq 0 ]]
