#!/usr/bin/env bash
# `coapbed run` of a DTLS sweep twice (every run its own process, as always): identical
# runs.csv apart from wall_seconds, in every mode, with loss; and the handshake columns
# filled for DTLS runs, empty for NoSec.
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/dtls.toml" <<'TOML'
name = "dtls-repro"
duration = 30
seeds = [1, 2]
[topology]
kind = "sixlowpan"
clients = 3
hops = [1, 3]
loss = 0.1
[workload]
requests = 5
interval = 2.0
response = 64
[security]
mode = ["nosec", "psk", "rpk", "certificate"]
TOML
"$bin" run "$work/dtls.toml" --out "$work/a" -j 2 >/dev/null
"$bin" run "$work/dtls.toml" --out "$work/b" -j 2 >/dev/null
python3 - "$work" <<'PY'
import csv, sys
w = sys.argv[1]
def rows(d):
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in csv.DictReader(open(f"{w}/{d}/runs.csv"))]
a, b = rows("a"), rows("b")
if len(a) != 16 or a != b:
    print("FAIL: two runs of the same DTLS sweep differ (or not 16 runs: %d)" % len(a)); sys.exit(1)
for r in a:
    dtls = r["mode"] != "nosec"
    if dtls != (r["handshakes_started"] != "") or (dtls and int(r["handshakes_started"]) == 0):
        print("FAIL: handshake columns of", r["run_id"]); sys.exit(1)
print("ok   16 DTLS runs (4 modes, 2 hop counts, 10 % loss, 2 seeds) identical twice")
PY
