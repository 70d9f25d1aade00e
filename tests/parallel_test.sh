#!/usr/bin/env bash
# GNU parallel as the second route to a cluster, as the README shows it: `--list` piped
# into parallel with an --sshloginfile (":" is this machine), then `coapbed collect`;
# the result equals a local run, and the same command resumes (only missing runs run).
# usage: parallel_test.sh PATH/TO/coapbed SOURCE_DIR
set -uo pipefail
COAPBED=$(realpath "$1")
SRC=$(realpath "$2")
SMOKE=$SRC/scenarios/smoke.toml
command -v parallel >/dev/null || { echo "FAIL: GNU parallel is missing (scripts/install-deps installs it)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.sh"
export PATH=$(dirname "$COAPBED"):$PATH   # --list prints `coapbed run ...`
echo ":" >"$T/nodes.txt"
"$COAPBED" run "$SMOKE" --out "$T/local" -j 2 >/dev/null 2>&1 || bad "local smoke run"

sweep() { coapbed run "$SMOKE" --out "$T/p" --list | parallel --will-cite -j 2 --sshloginfile "$T/nodes.txt" --joblog "$T/joblog"; }
sweep >"$T/p1.out" 2>&1; rc=$?
[[ $rc -eq 0 ]] && ok "parallel ran the 4 command lines" || bad "parallel rc $rc: $(cat "$T/p1.out")"
coapbed collect "$T/p" >"$T/c.out" 2>&1; rc=$?
[[ $rc -eq 0 ]] && diff <(strip_wall "$T/local/runs.csv") <(strip_wall "$T/p/runs.csv") >/dev/null \
  && ok "collect after parallel = local runs.csv (apart from wall_seconds)" || bad "collect rc $rc: $(cat "$T/c.out")"

# Resumable: one result lost, the same command reruns that run only.
rm "$T/p/runs/loss-0_seed-2.json"
touch -d '2000-01-01' "$T/p/runs/"*.json
sweep >"$T/p2.out" 2>&1; rc=$?
[[ $rc -eq 0 && $(grep -c "already done" "$T/p2.out") -eq 3 && -f $T/p/runs/loss-0_seed-2.json ]] \
  && [[ $(find "$T/p/runs" -name '*.json' -newer "$T/nodes.txt" | wc -l) -eq 1 ]] \
  && ok "the same command again runs only the missing run" || bad "resume (rc $rc): $(cat "$T/p2.out")"
echo "$fails failures"
[[ $fails -eq 0 ]]
