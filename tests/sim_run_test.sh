#!/usr/bin/env bash
# `coapbed run` / `coapbed collect` as scripts use them: reproducibility, resume,
# --list/--only + collect, crash reports, Ctrl-C, scenario errors, and pcap files that
# tshark dissects as CoAP without malformed packets.
# usage: sim_run_test.sh PATH/TO/coapbed SOURCE_DIR
set -uo pipefail
COAPBED=$1
SRC=$2
SMOKE=$SRC/scenarios/smoke.toml
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/sweep_lib.sh"

# 1. The same file and seed give the same runs.csv, except wall_seconds.
"$COAPBED" run "$SMOKE" --out "$T/a" -j 2 >"$T/a.out" 2>&1 || bad "smoke run failed: $(cat "$T/a.out")"
"$COAPBED" run "$SMOKE" --out "$T/b" -j 1 >/dev/null 2>&1 || bad "second smoke run failed"
nruns=$("$COAPBED" run "$SMOKE" --list | wc -l)
[[ $(($(wc -l <"$T/a/runs.csv") - 1)) -eq $nruns ]] && ok "runs.csv has one row per run ($nruns)" || bad "runs.csv rows"
head -1 "$T/a/runs.csv" | grep -q '^loss,seed,exchanges_started,exchanges_completed,exchanges_failed,completion_mean_s,completion_p50_s,completion_p95_s,completion_p99_s,retransmissions,coap_bytes_sent,link_bytes,goodput_bps,jain_fairness,sim_seconds,wall_seconds,events' \
  && ok "runs.csv header: swept columns, seed, then the contract columns" || bad "runs.csv header: $(head -1 "$T/a/runs.csv")"
if diff <(strip_wall "$T/a/runs.csv") <(strip_wall "$T/b/runs.csv") >/dev/null; then
  ok "reproducible: two runs of smoke.toml agree except wall_seconds"
else
  bad "runs differ: $(diff <(strip_wall "$T/a/runs.csv") <(strip_wall "$T/b/runs.csv") | head -5)"
fi
# Without -j, as many runs at once as the machine has cores (like ninja).
"$COAPBED" run "$SMOKE" --out "$T/c" >"$T/c.out" 2>&1 || bad "smoke run without -j failed"
grep -q "with $(nproc) in parallel" "$T/c.out" && ok "-j defaults to the number of cores ($(nproc))" \
  || bad "-j default: $(grep 'in parallel' "$T/c.out")"
[[ -f $T/a/summary.md && -f $T/a/runs/loss-0.2_seed-1.json ]] && ok "summary.md and runs/<id>.json written" || bad "outputs missing"
python3 - "$T/a/runs/loss-0.2_seed-1.json" <<'EOF' && ok "run JSON has params, per-client figures and the commit" || bad "run JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["params"]["topology.loss"] == 0.2 and d["seed"] == 1, d["params"]
assert len(d["clients"]) == d["params"]["topology.clients"]
assert d["commit"] and "metrics" in d and "flowmon" in d
EOF

# 2. Re-running skips runs already done.
"$COAPBED" run "$SMOKE" --out "$T/a" >"$T/resume.out" 2>&1
grep -q "$nruns of $nruns runs already in" "$T/resume.out" && ok "resume skips finished runs" || bad "resume: $(cat "$T/resume.out")"

# 3. --list / --only (as a Slurm array would) + collect give the same rows.
"$COAPBED" run "$SMOKE" --out "$T/c" --list | grep -c -- "--only" | grep -qx "$nruns" && ok "--list prints one command per run" || bad "--list"
while read -r line; do
  id=${line##*--only }
  "$COAPBED" run "$SMOKE" --out "$T/c" --only "$id" >/dev/null 2>&1 || bad "--only $id failed"
done < <("$COAPBED" run "$SMOKE" --out "$T/c" --list)
"$COAPBED" collect "$T/c" >/dev/null 2>&1 || bad "collect failed"
if diff <(strip_wall "$T/a/runs.csv" | sort) <(strip_wall "$T/c/runs.csv" | sort) >/dev/null; then
  ok "--only runs merged by collect equal the sweep's runs.csv"
else
  bad "collect differs"
fi

# 4. A run that crashes is reported with its parameters and seed; the others finish.
mkdir -p "$T/d" && touch "$T/d/pcap"   # a file where the pcap directory must go
"$COAPBED" run "$SMOKE" --out "$T/d" --pcap >"$T/d.out" 2>"$T/d.err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "error: run loss-0.2_seed-2 (loss=0.2 seed=2) failed: " "$T/d.err" \
  && ok "a crashing run is reported with its parameters and seed (exit 1)" || bad "crash report (rc $rc): $(cat "$T/d.err")"

# 5. Ctrl-C stops cleanly: exit 130, no half-written row, and the next run resumes.
cat >"$T/long.toml" <<'EOF'
name = "long"
duration = 600
seeds = [1, 2, 3, 4]
[topology]
clients = 20
rate = "30kbps"
[workload]
interval = 0.5
EOF
"$COAPBED" run "$T/long.toml" --out "$T/e" -j 1 >"$T/e.out" 2>"$T/e.err" &
pid=$!
for _ in $(seq 1 1800); do  # ASan builds take far longer per run
  [[ -n $(ls "$T/e/runs" 2>/dev/null) ]] && break
  sleep 0.1
done
kill -INT $pid
wait $pid; rc=$?
done_rows=$(($(wc -l <"$T/e/runs.csv") - 1))
if [[ $rc -eq 130 && $done_rows -ge 1 && $done_rows -lt 4 ]] && grep -q "interrupted:" "$T/e.err" \
   && ! ls "$T/e/runs" | grep -q tmp; then
  ok "Ctrl-C: exit 130, $done_rows complete rows, no temporary files left"
else
  bad "Ctrl-C (rc $rc, rows $done_rows): $(cat "$T/e.err")"
fi
"$COAPBED" run "$T/long.toml" --out "$T/e" -j 2 >"$T/e2.out" 2>&1 && grep -q "$done_rows of 4 runs already" "$T/e2.out" \
  && [[ $(($(wc -l <"$T/e/runs.csv") - 1)) -eq 4 ]] && ok "the interrupted sweep resumes" || bad "resume after Ctrl-C: $(cat "$T/e2.out")"

# 6. Scenario errors name the file, the key and the reason, before anything runs.
printf 'name = "x"\nseeds = [1]\n[topology]\nclients = "many"\n' >"$T/bad.toml"
out=$("$COAPBED" run "$T/bad.toml" --out "$T/f" 2>&1); rc=$?
[[ $rc -eq 1 && $out == "error: $T/bad.toml: topology.clients: expected an integer, got a string" && ! -d $T/f ]] \
  && ok "scenario error: exit 1, file/key/reason, nothing run" || bad "scenario error (rc $rc): $out"
printf 'name = "x"\nseeds = [1]\n[workload]\nthinking = 2\n' >"$T/bad2.toml"
out=$("$COAPBED" run "$T/bad2.toml" 2>&1)
[[ $out == "error: $T/bad2.toml: workload.thinking: unknown key" ]] && ok "unknown key" || bad "unknown key: $out"
"$COAPBED" run 2>/dev/null; [[ $? -eq 2 ]] && ok "no file: exit 2" || bad "no file"

# 7. The pcap of smoke.toml is CoAP to tshark, with no malformed packets.
if command -v tshark >/dev/null; then
  "$COAPBED" run "$SMOKE" --out "$T/p" --pcap >/dev/null 2>&1 || bad "pcap run failed"
  n=0
  for f in "$T"/p/pcap/*.pcap; do
    coap=$(tshark -r "$f" -Y coap 2>/dev/null | wc -l)
    malformed=$(tshark -r "$f" -Y '_ws.malformed || _ws.expert.severity == error' 2>/dev/null | wc -l)
    if [[ $coap -gt 0 && $malformed -eq 0 ]]; then n=$((n + 1)); else bad "$f: $coap CoAP, $malformed malformed"; fi
  done
  [[ $n -eq $nruns ]] && ok "tshark: $n pcap files dissect as CoAP, none malformed" || bad "pcap files: $n of $nruns"
else
  bad "tshark is not installed (scripts/install-deps installs it)"
fi

# 8. --trace: one RTO/state CSV per run, through the sweep's child processes too.
"$COAPBED" run "$SMOKE" --out "$T/t" --trace >/dev/null 2>&1 || bad "trace run failed"
n=0
for f in "$T"/t/traces/*-rto.csv; do
  [[ -f $f && $(head -1 "$f") == "time_s,client,rto_s,state" && $(wc -l <"$f") -gt 1 ]] && n=$((n + 1))
done
[[ $n -eq $nruns ]] && ok "--trace: $n RTO traces with rows" || bad "--trace: $n of $nruns traces"
"$COAPBED" run "$SMOKE" --out "$T/t" --trace --list | grep -q -- "--trace --only" && ok "--list keeps --trace" \
  || bad "--list drops --trace"

echo "sim_run_test: $fails failures"
[[ $fails -eq 0 ]]
