#!/usr/bin/env bash
# coapbed report on small fixtures: both files written, the tables carry the fixture
# figures, every plot the Markdown names exists and is an SVG document, and the HTML
# inlines them (it must open from disk with no network).
set -euo pipefail
bin="$1"
src="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$bin" report "$src/tests/fixtures/report" --out "$out"
python3 - "$out" "$src" <<'PY'
import os, re, sys, xml.etree.ElementTree as ET
out, src = sys.argv[1], sys.argv[2]
md = open(os.path.join(out, "report.md")).read()
page = open(os.path.join(out, "index.html")).read()
def need(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
need("| parse | con-get | 1e+08 | 1e+07 | 10.0x |" in md, "parse ratio row")
need("| build | con-get | 7e+07 | 1.4e+07 | 5.0x |" in md, "build ratio row")
need("| uri | typical | 1.25e+07 | 1.6e+07 | 0.8x |" in md, "uri ratio row")
# Any suite measured on both sides is a ratio row; the rest are listed on their own.
need("| option-lookup | con-get | 5e+08 | 3.33e+07 | 15.0x |" in md, "option-lookup ratio row")
others = md.split("Other coapbed benchmarks", 1)[-1].split("\n#", 1)[0]
need("coapbed/endpoint-roundtrip" in others and "coapbed/uri-compose/typical" in others, "unpaired benchmarks listed")
need("option-lookup" not in others, "a paired benchmark is not listed again")
# Mean and 95 % t-interval over the 2 seeds (t(0.975, 1) = 12.706), median, and how the
# interval stands against default's.
need("| default | 0.3 | 3.15 | -0.0265 | 6.326 | 3.15 | 2 | - |" in md, "completion mean/CI row")
need("| cocoa | 0.3 | 2.25 | 0.3441 | 4.156 | 2.25 | 2 | overlap |" in md, "interval comparison against default")
sys.path.insert(0, os.path.join(src, "reports"))
import generate
need(generate.versus((1, 0.9, 1.1), (2, 1.9, 2.1)) == "below" and generate.versus((3, 2.5, 3.5), (2, 1.9, 2.1)) == "above"
     and generate.versus((2, 1.5, 2.5), (2, 1.9, 2.1)) == "overlap", "versus: below, above, overlap")
need(abs(generate.mean_ci([1, 2, 3, 4, 5])[1] - (3 - 2.776 * 2.5 ** 0.5 / 5 ** 0.5)) < 1e-12, "t-interval of five seeds")
# The Findings section is computed from the findings-f2 fixture (real runs, 2 seeds).
need("### F2: CoCoA collapses with short-lived clients (reproduced)" in md, "F2 verdict from the fixture")
need("| the cliff lies within the derived 12-21 s | yes | cocoa samples at least half its exchanges up to 14 s, fewer from 20 s |" in md,
     "F2 cliff located")
need(md.index("## Findings") < md.index("## Scenario results"), "Findings come before the raw scenario results")
need("### F1: default CoAP collapses behind a bloated buffer (reproduced)" in md, "F1 verdict from the fixture")
need("| useful fraction near or below 25 % | yes | 400 clients: default's useful fraction 0.22" in md, "F1 useful-fraction check")
need("### F3: FASOR keeps completion times short on an error-prone link (reproduced)" in md, "F3 verdict from the fixture")
# Simulation against real programs (the emulation-validate fixture: real runs, 3 seeds).
need("## Simulation against real programs" in md, "the emulation section")
need("| 4096 | emulated libcoap | 60 | 60 | 4.842 [3.862, 5.821] | 4.047 / 13.891 | 1.100 [0.837, 1.363] | 18 / 1044 | "
     "4.00 | agree, agree |" in md, "emulated libcoap row from the wire exchanges, against the simulation")
need("| 32 | simulated coapbed | 60 | 60 | 0.975 [0.851, 1.099] |" in md, "simulated row (one program's runs only)")
need("At 32: coapbed's requests are 14 bytes and libcoap's 18" in md, "how the programs differ on the wire")
need("### F4: CoCoA on a lossy 6LoWPAN chain with a burst (partly reproduced)" in md, "F4 verdict from the fixture")
need("| loss 0.05: cocoa completes more exchanges than default | yes | cocoa 387.80 [352.95, 422.65], default 310.90 "
     "[295.32, 326.48] (+25 %; published +19 to +112 %) |" in md, "F4 throughput check against the published range")
need("### F5: CoCoA with bursty traffic and few clients (reproduced)" in md, "F5 verdict from the fixture")
need("| no extra loss, 3 clients: cocoa's spurious copies per exchange above default's | yes | cocoa 0.023 [0.016, 0.030], "
     "default 0.008 [0.004, 0.012] |" in md, "F5 spurious check with intervals")
need("### F6: RTT-based strategies with small buffers (partly reproduced)" in md, "F6 verdict from the fixture")
need("| linux-rto: throughput at 200 clients, queue 10, not below default's | no | linux-rto 7161.40 [7159.49, 7163.31], "
     "default 7234.80 [7231.41, 7238.19] completed exchanges |" in md, "F6 throughput check with intervals")
need("linux-rto, peakhopper-rto complete fewer" in md, "F6 reading computed from the figures")
# ... and the verdict follows the figures: a cocoa that kept sampling would not reproduce it.
import csv, findings
rows = list(csv.DictReader(open(os.path.join(src, "tests/fixtures/report/findings-f2/runs.csv"))))
for r in rows:
    if r["congestion"] == "cocoa":
        r["rtt_samples"] = r["exchanges_started"]
        r["retransmissions"] = "0"
blocks = findings.finding_f2(generate.Plotter(out), rows, generate.mean_ci, generate.versus)
need("F2: CoCoA collapses with short-lived clients (partly reproduced)" in blocks[0][1], "F2 verdict when cocoa keeps sampling: %s" % blocks[0][1])
# An invalid emulated run (lag over its limit) is left out and counted.
import emulation
eu = os.path.join(src, "tests/fixtures/report/emulation-validate")
real_load = generate.load_csv
def load_with_invalid(path):
    rows = real_load(path)
    if os.path.dirname(os.path.abspath(path)) == eu:
        for r in rows:
            if r["program"] == "libcoap" and r["response"] == "32" and r["seed"] == "1":
                r["run_valid"] = "0"
    return rows
eb = emulation.section_emulation(generate.Plotter(out), [os.path.join(eu, "runs.csv"), eu + "-sim/runs.csv"],
                                 load_with_invalid, generate.mean_ci, generate.versus)
etext = "\n".join(str(b[1]) for b in eb)
need("12 runs (1 invalid" in etext, "an invalid run is counted")
need("| 32 | emulated libcoap | 40 | 40 |" in "\n".join("| " + " | ".join(r) + " |" for b in eb if b[0] == "table" for r in b[1]),
     "an invalid run's exchanges are left out")
# DTLS handshakes (the dtls-handshake fixture: real runs, 3 seeds, 1 and 3 hops).
need("### DTLS handshakes (medians over seeds)" in md, "the DTLS table")
need("| 0.1 | 3 | psk | 5/5 | 0 | 9.496 | 35.483 | 1282 | 2784 | 21 | 2.729 | every handshake completes; p95 35.48 s = "
     "14 NoSec round trips | 3 |" in md, "a DTLS row with its reading against the NoSec round trip")
need("| 0.1 | 3 | rpk | 3/5 | 2 |" in md and "2 of 5 handshakes fail (median over seeds): not affordable here" in md,
     "failed handshakes read as such")
need("| 0 | 3 | nosec | -/- | - | - | - | - | - | 50 | 0.091 | baseline: NoSec round trip p50 0.091 s | 3 |" in md,
     "the NoSec baseline row")
need("median handshake time against hops" in md, "the handshake-time plot")
# The proxy-amplification fixture (real runs, 2 seeds): what forged Block2 #0 requests cost
# upstream (the 64 KiB body fetched once in the run: 64 blocks + 20 other resources).
need("### Upstream cost of the forged requests (medians over seeds)" in md, "the upstream-cost table")
need("| 65536 | false | 589 | 84 | 70180 | 119.1 | 2 |" in md, "upstream bytes per forged request")
need("| message_parse | 17 | 2000000 |" in md, "fuzz row")
need("fixture0001" in md and "fixture, 2 cores" in md, "provenance of the numbers")
# Only swept keys are parameters, not result columns such as forged_accepted.
need(re.search(r"runs; parameters: congestion, loss; commit", md) is not None, "parameters are the swept keys only")
svgs = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", md)
need(len(svgs) >= 6, "at least six plots, found %d" % len(svgs))
for s in svgs:
    path = os.path.join(out, s)
    need(os.path.exists(path), "plot %s exists" % s)
    root = ET.parse(path).getroot()
    need(root.tag.endswith("svg"), "%s is an SVG document" % s)
    need(any(w in open(path).read() for w in ("speed-up", "median", "mean", "loss", "round trip")),
         "%s has axis labels" % s)
need(page.count("<svg") == len(svgs), "every plot inlined in index.html")
need("http://" not in page.replace("http://www.w3.org", ""), "no network references in index.html")
print("ok   report: %d plots, tables and provenance present" % len(svgs))
PY
