#!/usr/bin/env python3
"""reports/generate.py (also `coapbed report`): build a report people read.

  coapbed report [RESULTS...] --out reports/<name>/

RESULTS are files or directories; what is recognized:
  * bench results written by bench/run (JSON with "results"/"ratios") or raw Google
    Benchmark JSON: throughput against libcoap (table and plot);
  * a bench history CSV (reports/bench/history.csv): median time per benchmark across
    commits (plot);
  * a fuzzing summary (reports/fuzz/summary.json): harness table and coverage;
  * scenario results (runs.csv): completion time against loss per congestion
    strategy (mean and 95 % t-interval over seeds), retransmissions, goodput and
    Jain fairness (plots), and the amplification table when its columns are present.
With no RESULTS, the default locations under reports/ are used.

Writes index.html (self-contained: plots are inlined SVG, no network) and report.md
(same content, plots as SVG files beside it). Plots are drawn by gnuplot (svg terminal)
with axis labels and units. Every number shown carries the commit, machine and
parameters it came from.
"""
import argparse
import csv
import html
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from findings import section_findings  # noqa: E402
from emulation import section_emulation  # noqa: E402
from dtls import has_dtls, section_dtls  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


# ---- loading ------------------------------------------------------------------------

def classify(path):
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if "benchmark" in header and "median_ns" in header:
            return "history"
        if "seed" in header:
            return "runs"
        return None
    if path.endswith(".json"):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        if isinstance(data, dict) and "harnesses" in data:
            return "fuzz"
        if isinstance(data, dict) and ("results" in data or "benchmarks" in data) and "ratios" in data:
            return "bench"
        if isinstance(data, dict) and "benchmarks" in data:
            return "bench-raw"
    return None


def collect(inputs):
    found = {"bench": [], "bench-raw": [], "history": [], "fuzz": [], "runs": []}
    paths = []
    for p in inputs:
        if os.path.isdir(p):
            for dirpath, _, files in os.walk(p):
                if "coverage" in dirpath.split(os.sep):
                    continue
                # bench/run keeps Google Benchmark's own output beside its summary
                # (*.raw.json); in a directory scan the summary stands for both.
                paths += [os.path.join(dirpath, f) for f in sorted(files) if not f.endswith(".raw.json")]
        elif os.path.exists(p):
            paths.append(p)
        else:
            print("report: no such file or directory: %s" % p, file=sys.stderr)
            sys.exit(2)
    for p in paths:
        kind = classify(p)
        if kind:
            found[kind].append(p)
    return found


def load_bench(path, raw):
    with open(path) as f:
        data = json.load(f)
    if raw:
        results = {}
        for b in data["benchmarks"]:
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            unit = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
            results[b.get("run_name", b["name"])] = {"median_ns": b["cpu_time"] * unit,
                                                     "items_per_second": b.get("items_per_second", 0.0)}
        ctx = data.get("context", {})
        meta = {"commit": "unknown", "date": ctx.get("date", "?"), "machine": ctx.get("host_name", "?")}
    else:
        results, meta = data["results"], data["meta"]
    rows = []
    for name, e in sorted(results.items()):
        m = re.fullmatch(r"coapbed/([^/]+)/(.+)", name)
        peer = results.get("libcoap/%s/%s" % m.groups()) if m else None
        if m and peer and "median_ns" in e and "median_ns" in peer:
            rows.append({"suite": m.group(1), "mix": m.group(2), "coapbed": e["items_per_second"],
                         "libcoap": peer["items_per_second"], "speedup": peer["median_ns"] / e["median_ns"],
                         "allocs": e.get("allocs_per_item", 0.0), "libcoap_allocs": peer.get("allocs_per_item", 0.0)})
    paired = {"coapbed/%s/%s" % (r["suite"], r["mix"]) for r in rows}
    others = [(n, e) for n, e in sorted(results.items())
              if n.startswith("coapbed/") and n not in paired and "median_ns" in e]
    return {"path": path, "meta": meta, "rows": rows, "others": others}


def load_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- plotting -----------------------------------------------------------------------

class Plotter:
    def __init__(self, outdir):
        self.outdir = outdir
        self.gnuplot = shutil.which("gnuplot")
        self.files = []

    def plot(self, name, script, data_blocks):
        """Runs gnuplot with inline data blocks ($name << EOD); returns the SVG file name."""
        if not self.gnuplot:
            raise SystemExit("report: gnuplot is not installed (apt-get install gnuplot-nox)")
        svg = os.path.join(self.outdir, name + ".svg")
        text = ['set terminal svg size 800,420 dynamic enhanced font "Helvetica,12" background "white"',
                'set output "%s"' % svg.replace('"', '\\"'), "set grid", "set key outside right top"]
        for block, rows in data_blocks.items():
            text.append("$%s << EOD" % block)
            text += [" ".join(str(v) for v in r) for r in rows]
            text.append("EOD")
        text.append(script)
        subprocess.run([self.gnuplot], input="\n".join(text) + "\n", text=True, check=True, capture_output=True)
        self.files.append(svg)
        return os.path.basename(svg)


T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df):
    """Student's t two-sided 95 % quantile (as sim/runner.cc: table to 30, then Cornish-Fisher)."""
    if df <= 30:
        return T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4.0 * df)


def mean_ci(values):
    """Mean and 95 % t-interval over seeds; (mean, mean, mean) for a single value."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, m, m
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def versus(ci, ref):
    """How interval ci stands against interval ref: below, above, or overlapping."""
    if ci[2] < ref[1]:
        return "below"
    if ci[1] > ref[2]:
        return "above"
    return "overlap"


# ---- sections -----------------------------------------------------------------------

def section_bench(plotter, benches, history):
    out = []
    for i, b in enumerate(benches):
        meta = b["meta"]
        out.append(("h2", "Throughput against libcoap"))
        out.append(("p", "From %s: commit %s, %s, %s; medians over %s repetitions of %s s." % (
            os.path.relpath(b["path"], ROOT), meta.get("commit"), meta.get("date"), meta.get("machine"),
            meta.get("repetitions", "?"), meta.get("min_time", "?"))))
        table = [["suite", "mix", "coapbed msg/s", "libcoap msg/s", "speed-up", "allocs/msg (coapbed / libcoap)"]]
        for r in b["rows"]:
            table.append([r["suite"], r["mix"], "%.3g" % r["coapbed"], "%.3g" % r["libcoap"], "%.1fx" % r["speedup"],
                          "%.2f / %.2f" % (r["allocs"], r["libcoap_allocs"])])
        out.append(("table", table))
        if b["rows"]:
            data = [(j, '"%s/%s"' % (r["suite"], r["mix"]), "%.4f" % r["speedup"]) for j, r in enumerate(b["rows"])]
            svg = plotter.plot("speedup-%d" % i, "\n".join([
                'set title "coapbed speed-up over libcoap 4.3 (same messages, same run)"',
                'set ylabel "speed-up (libcoap time / coapbed time), x"', 'set xlabel "suite/mix"',
                "set style fill solid 0.6", "set boxwidth 0.7", "set xtics rotate by -35 nomirror",
                "set yrange [0:*]", "set offsets 0, 0, graph 0.05, 0",
                "set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb '#a03030'",
                "set key off", "plot $d using 1:3:xtic(2) with boxes lc rgb '#3060a0' title 'speed-up'"]),
                {"d": data})
            out.append(("img", svg, "Speed-up of coapbed over libcoap per suite and mix"))
        if b["others"]:
            table = [["benchmark", "median time per iteration (ns)", "items/s"]]
            table += [[n, "%.1f" % e["median_ns"], "%.3g" % e.get("items_per_second", 0.0)] for n, e in b["others"]]
            out.append(("h3", "Other coapbed benchmarks"))
            out.append(("table", table))
    for path in history:
        rows = load_csv(path)
        commits = []
        for r in rows:
            if r["commit"] not in commits:
                commits.append(r["commit"])
        names = sorted({r["benchmark"] for r in rows if re.match(r"coapbed/(parse|build|uri)/", r["benchmark"])})
        out.append(("h2", "Benchmark history"))
        out.append(("p", "From %s: %d records over %d commits (oldest first); machine(s): %s." % (
            os.path.relpath(path, ROOT), len(rows), len(commits), ", ".join(sorted({r["machine"] for r in rows})))))
        if names and commits:
            blocks = {}
            plots = []
            for k, n in enumerate(names):
                pts = [(commits.index(r["commit"]), "%.3f" % float(r["median_ns"])) for r in rows if r["benchmark"] == n]
                blocks["h%d" % k] = pts
                plots.append("$h%d using 1:2 with linespoints title '%s'" % (k, n.replace("_", "\\\\_")))
            xt = ", ".join('"%s" %d' % (c[:8], j) for j, c in enumerate(commits))
            svg = plotter.plot("history", "\n".join([
                'set title "coapbed median time per iteration across commits"', 'set ylabel "median time (ns)"',
                'set xlabel "commit"', "set xtics (%s) rotate by -35" % xt, "set logscale y",
                "set key outside right top font ',9'", "plot " + ", ".join(plots)]), blocks)
            out.append(("img", svg, "Median time per benchmark across commits"))
    return out


def section_fuzz(paths):
    out = []
    for p in paths:
        with open(p) as f:
            s = json.load(f)
        out.append(("h2", "Fuzzing"))
        out.append(("p", "From %s: commit %s, %s, %s; %d s of wall-clock time across %d jobs." % (
            os.path.relpath(p, ROOT), s["commit"], s["date"], s["machine"], s["time"], s["jobs"])))
        table = [["harness", "seconds", "runs", "execs/s", "new units", "corpus after", "crashes"]]
        for r in s["harnesses"]:
            table.append([r["harness"], str(r["seconds"]), str(r["runs"]), str(r["execs_per_sec"]), str(r["new_units"]),
                          str(r.get("corpus_after", "-")), str(len(r["crashes"]))])
        out.append(("table", table))
        cov = s.get("coverage", {}).get("codec_options_uri")
        if cov:
            out.append(("p", "Coverage of the codec, option and URI sources (llvm-cov, corpus replay): %.1f%% of lines, "
                             "%.1f%% of branches." % (cov["lines"], cov["branches"])))
    return out


def is_number(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def runs_plots(plotter, index, rows, params):
    """Mean and 95 % t-interval over seeds of the main figures against the x parameter (loss
    when it is swept, else the first numeric swept parameter), one line per congestion
    strategy, one set of plots per combination of the remaining swept parameters. The tables
    say, per point, whether a strategy's interval lies below or above default's or overlaps it."""
    swept = [c for c in params if len({r[c] for r in rows}) > 1]
    numeric = [c for c in swept if all(is_number(r[c]) for r in rows)]
    x = "loss" if "loss" in numeric else (numeric[0] if numeric else None)
    if x is None:
        return []
    facets = [c for c in swept if c != x]
    out = []
    strategies = sorted({r["congestion"] for r in rows})
    for fkey in sorted({tuple(r[c] for c in facets) for r in rows}, key=lambda k: [float(v) if is_number(v) else v for v in k]):
        sub = [r for r in rows if tuple(r[c] for c in facets) == fkey]
        label_f = ", ".join("%s = %s" % (c, v) for c, v in zip(facets, fkey))
        if label_f:
            out.append(("h3", label_f))
        for metric, label, unit in (("completion_p50_s", "median completion time", "s"),
                                    ("completion_p95_s", "95th percentile completion time", "s"),
                                    ("retransmissions", "retransmissions", "count"),
                                    ("goodput_bps", "goodput", "bit/s"), ("jain_fairness", "Jain fairness", "index")):
            if metric not in rows[0]:
                continue
            blocks, plots = {}, []
            table = [["congestion", x, "mean", "95 % CI low", "95 % CI high", "median", "runs", "vs default"]]
            cis = {}
            for st in strategies:
                for xv in sorted({float(r[x]) for r in sub if r["congestion"] == st}):
                    vals = [float(r[metric]) for r in sub if r["congestion"] == st and float(r[x]) == xv
                            and r[metric] not in ("", "nan")]
                    if vals:
                        cis[(st, xv)] = (mean_ci(vals), statistics.median(vals), len(vals))
            for k, st in enumerate(strategies):
                pts = []
                for (s2, xv), (ci, med, n) in sorted(cis.items(), key=lambda kv: kv[0][1]):
                    if s2 != st:
                        continue
                    pts.append((xv, ci[0], ci[1], ci[2]))
                    ref = cis.get(("default", xv))
                    vs = "-" if st == "default" or ref is None or n < 2 else versus(ci, ref[0])
                    table.append([st, "%g" % xv, "%.4g" % ci[0], "%.4g" % ci[1], "%.4g" % ci[2], "%.4g" % med, str(n), vs])
                blocks["s%d" % k] = pts
                if pts:
                    plots.append("$s%d using 1:2:3:4 with yerrorlines title '%s'" % (k, st))
            if not plots:
                continue
            name = "runs-%d-%s-%s" % (index, re.sub(r"[^A-Za-z0-9.]+", "-", label_f) or "all", metric)
            xlabel = "packet loss probability" if x == "loss" else x
            svg = plotter.plot(name, "\n".join([
                'set title "%s against %s (mean, 95%% t-interval over seeds)%s"' % (label, x, (", " + label_f) if label_f else ""),
                'set xlabel "%s"' % xlabel, 'set ylabel "%s (%s)"' % (label, unit),
                "plot " + ", ".join(plots)]), blocks)
            out.append(("h3" if not label_f else "p", label.capitalize()))
            out.append(("img", svg, "%s against %s per congestion strategy%s" % (label, x, (", " + label_f) if label_f else "")))
            out.append(("table", table))
    return out


def median_of(rows, col):
    """The median of a column over rows, skipping empty cells; None when all are empty."""
    vals = [float(r[col]) for r in rows if r.get(col, "") not in ("", "nan")]
    return statistics.median(vals) if vals else None


def fmt(v, pattern):
    return pattern % v if v is not None else "-"


def median_cells(rows, columns):
    """One formatted median per (column, pattern)."""
    return [fmt(median_of(rows, col), pattern) for col, pattern in columns]


def section_runs(plotter, paths):
    out = []
    for i, p in enumerate(paths):
        rows = load_csv(p)
        if not rows:
            continue
        cols = list(rows[0].keys())
        out.append(("h2", "Scenario results: %s" % os.path.relpath(p, ROOT)))
        # runs.csv lists the swept keys, then seed, then the results (sim/runner.cc): only
        # the swept keys are parameters, whatever result columns a scenario adds.
        if "seed" in cols:
            params = cols[:cols.index("seed")]
        else:
            params = [c for c in cols if not re.match(
                r"(exchanges_|completion_|retransmissions|coap_bytes|link_bytes|goodput|jain|sim_seconds|wall_seconds"
                r"|events|timeouts|bottleneck_bytes|queue_drops|rx_drops|ip_packets|ip_bytes|rtt_mean_s|run_id|commit"
                r"|attacker_|victim_|amplification)", c)]
        out.append(("p", "%d runs; parameters: %s; commit(s): %s." % (
            len(rows), ", ".join(params), ", ".join(sorted({r.get("commit", "?") for r in rows})))))
        if "congestion" in cols and "completion_p50_s" in cols:
            out += runs_plots(plotter, i, rows, [c for c in params if c != "congestion"])
        if has_dtls(rows):
            out += section_dtls(plotter, i, rows, params)
        if "amplification_bytes" in cols:
            groups = {}
            for r in rows:
                if r["amplification_bytes"] in ("", "nan"):
                    continue
                key = (r.get("vector", "-"), r.get("echo", "-"), r.get("amplification_limit", "-"),
                       r.get("rate_limit", "-"), r.get("resource", "-"))
                groups.setdefault(key, []).append(r)
            if groups:
                table = [["vector", "echo", "amplification limit", "rate limit", "resource", "amplification (IP, median)",
                          "amplification (CoAP, median)", "legitimate exchanges completed", "runs"]]
                for key, rs in sorted(groups.items()):
                    table.append(list(key) + [fmt(median_of(rs, "amplification_bytes"), "%.2fx"),
                                              fmt(median_of(rs, "amplification_coap"), "%.2fx"),
                                              "%s/%s" % (fmt(median_of(rs, "exchanges_completed"), "%d"),
                                                         fmt(median_of(rs, "exchanges_started"), "%d")),
                                              str(len(rs))])
                out.append(("h3", "Amplification"))
                out.append(("table", table))
            spoof = {}
            for r in rows:
                if r.get("killed_fraction", "") in ("", "nan"):
                    continue
                key = (r["vector"], r.get("random_mid", "-"), r.get("token_length", "-"))
                spoof.setdefault(key, []).append(r)
            if spoof:
                table = [["vector", "random MID", "token length", "exchanges killed (median)",
                          "forged responses accepted (median)", "runs"]]
                for key, rs in sorted(spoof.items()):
                    table.append(list(key) + [fmt(median_of(rs, "killed_fraction"), "%.3f"),
                                              fmt(median_of(rs, "forged_accepted"), "%d"), str(len(rs))])
                out.append(("h3", "Spoofed RST and forged responses"))
                out.append(("table", table))
        if "notifications_received" in cols:
            # RFC 7641 §5: observers straight to the origin, or behind the proxy (one
            # upstream registration, fanned out).
            observed = {}
            for r in rows:
                if r["notifications_received"] in ("", "nan"):
                    continue
                observed.setdefault(tuple(r[c] for c in params), []).append(r)
            if observed:
                # notifications_mixed (runs.csv of this version on): delivered bodies that
                # mix two states of /obs; older results have no such column.
                mixed = [("notifications_mixed", "%d")] if "notifications_mixed" in cols else []
                table = [params + ["notifications received (all clients)"] + ["of them mixed"] * len(mixed) +
                         ["bytes on the bottleneck", "registrations completed", "runs"]]
                for key, rs in sorted(observed.items()):
                    table.append(list(key) + median_cells(rs, [("notifications_received", "%d")] + mixed + [
                        ("bottleneck_bytes", "%d"), ("exchanges_completed", "%d")]) + [str(len(rs))])
                out.append(("h3", "Observers (medians over seeds)"))
                out.append(("table", table))
        if "proxy_hit_ratio" in cols:
            groups = {}
            for r in rows:
                if r["proxy_hit_ratio"] in ("", "nan"):
                    continue
                groups.setdefault(tuple(r[c] for c in params), []).append(r)
            if groups:
                table = [params + ["hit ratio", "upstream saved", "upstream bytes", "origin requests",
                                   "exchanges completed", "completion p50 (s)", "completion p95 (s)",
                                   "hits p50 (s)", "misses p50 (s)", "misses p95 (s)", "runs"]]
                for key, rs in sorted(groups.items()):
                    table.append(list(key) + median_cells(rs, [
                        ("proxy_hit_ratio", "%.3f"), ("upstream_saved", "%.3f"), ("upstream_bytes", "%d"),
                        ("origin_requests", "%d"), ("exchanges_completed", "%d"), ("completion_p50_s", "%.3f"),
                        ("completion_p95_s", "%.3f"), ("latency_hit_p50_s", "%.3f"), ("latency_miss_p50_s", "%.3f"),
                        ("latency_miss_p95_s", "%.3f")]) + [str(len(rs))])
                out.append(("h3", "Forward proxy and cache (medians over seeds)"))
                out.append(("table", table))
            attacked = {k: [r for r in rs if r.get("attacker_packets", "") not in ("", "nan", "0")]
                        for k, rs in groups.items()}
            attacked = {k: rs for k, rs in attacked.items() if rs and not any(
                r.get("poisoned_accepted", "") not in ("", "nan") or r.get("loop_injected", "") not in ("", "nan")
                for r in rs)}
            if attacked:
                # PROXY.md §3.4: what the forged requests cost upstream. Store-and-forward
                # fetches a body at most once per freshness period, however many Block2 #0
                # requests come; the bytes include the legitimate clients' (an upper bound).
                table = [params + ["attack requests", "origin requests", "upstream bytes",
                                   "upstream bytes per attack request (at most)", "runs"]]
                for key, rs in sorted(attacked.items()):
                    per = [float(r["upstream_bytes"]) / float(r["attacker_packets"]) for r in rs]
                    table.append(list(key) + median_cells(rs, [
                        ("attacker_packets", "%d"), ("origin_requests", "%d"), ("upstream_bytes", "%d")]) +
                        ["%.1f" % statistics.median(per), str(len(rs))])
                out.append(("h3", "Upstream cost of the forged requests (medians over seeds)"))
                out.append(("table", table))
            poisoned = {k: [r for r in rs if r.get("poisoned_accepted", "") not in ("", "nan")]
                        for k, rs in groups.items()}
            poisoned = {k: rs for k, rs in poisoned.items() if rs}
            if poisoned:
                table = [params + ["poisoned responses accepted", "analytic mean (rate x live s / (256^L x ports x mids))",
                                   "forged answers served to clients", "exchanges completed", "runs"]]
                for key, rs in sorted(poisoned.items()):
                    table.append(list(key) + median_cells(rs, [
                        ("poisoned_accepted", "%d"), ("poison_expected", "%.3g"), ("forged_accepted", "%d"),
                        ("exchanges_completed", "%d")]) + [str(len(rs))])
                out.append(("h3", "Cache poisoning (medians over seeds)"))
                out.append(("table", table))
            looped = {k: [r for r in rs if r.get("loop_injected", "") not in ("", "nan")] for k, rs in groups.items()}
            looped = {k: rs for k, rs in looped.items() if rs}
            if looped:
                table = [params + ["looping requests", "answered", "forwards per request",
                                   "datagrams between the proxies per request", "lasted (s, median)", "5.08 made",
                                   "peak exchanges in flight", "other clients' completions", "their p95 (s)", "runs"]]
                for key, rs in sorted(looped.items()):
                    table.append(list(key) + median_cells(rs, [
                        ("loop_injected", "%d"), ("loop_answered", "%d"), ("loop_hops_per_request", "%.2f"),
                        ("loop_datagrams_per_request", "%.1f"), ("loop_settle_p50_s", "%.1f"),
                        ("loop_5_08", "%d"), ("loop_peak_inflight", "%d"), ("exchanges_completed", "%d"),
                        ("completion_p95_s", "%.3f")]) + [str(len(rs))])
                out.append(("h3", "Forwarding loops (medians over seeds)"))
                out.append(("table", table))
    return out


# ---- rendering ----------------------------------------------------------------------

def render_md(blocks):
    lines = []
    for b in blocks:
        if b[0] in ("h1", "h2", "h3"):
            lines += ["#" * int(b[0][1]) + " " + b[1], ""]
        elif b[0] == "p":
            lines += [b[1], ""]
        elif b[0] == "table":
            t = b[1]
            lines.append("| " + " | ".join(t[0]) + " |")
            lines.append("|" + "|".join("---" for _ in t[0]) + "|")
            lines += ["| " + " | ".join(r) + " |" for r in t[1:]]
            lines.append("")
        elif b[0] == "img":
            lines += ["![%s](%s)" % (b[2], b[1]), ""]
    return "\n".join(lines)


def render_html(blocks, outdir):
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>coapbed report</title>",
             "<style>body{font-family:Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;color:#111}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:3px 8px;text-align:right}"
             "th{background:#eee}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}"
             "@media print{figure{page-break-inside:avoid}}</style></head><body>"]
    for b in blocks:
        if b[0] in ("h1", "h2", "h3"):
            parts.append("<%s>%s</%s>" % (b[0], html.escape(b[1]), b[0]))
        elif b[0] == "p":
            parts.append("<p>%s</p>" % html.escape(b[1]))
        elif b[0] == "table":
            t = b[1]
            parts.append("<table><tr>%s</tr>" % "".join("<th>%s</th>" % html.escape(c) for c in t[0]))
            parts += ["<tr>%s</tr>" % "".join("<td>%s</td>" % html.escape(c) for c in r) for r in t[1:]]
            parts.append("</table>")
        elif b[0] == "img":
            with open(os.path.join(outdir, b[1])) as f:
                svg = f.read()
            svg = svg[svg.index("<svg"):]  # inline: drop the XML prolog and doctype
            parts.append("<figure>%s<figcaption>%s</figcaption></figure>" % (svg, html.escape(b[2])))
    parts.append("</body></html>")
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(prog="coapbed report", description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="*")
    ap.add_argument("--out", required=True, help="output directory, e.g. reports/main/")
    a = ap.parse_args()
    inputs = a.results or [p for p in (os.path.join(ROOT, "reports", "bench"), os.path.join(ROOT, "reports", "fuzz"),
                                       os.path.join(ROOT, "reports", "scenarios")) if os.path.exists(p)]
    found = collect(inputs)
    os.makedirs(a.out, exist_ok=True)
    plotter = Plotter(a.out)
    benches = [load_bench(p, False) for p in found["bench"]] + [load_bench(p, True) for p in found["bench-raw"]]
    blocks = [("h1", "coapbed report")]
    blocks += section_bench(plotter, benches, found["history"])
    blocks += section_findings(plotter, found["runs"], load_csv, mean_ci, versus)
    blocks += section_emulation(plotter, found["runs"], load_csv, mean_ci, versus)
    blocks += section_runs(plotter, found["runs"])
    blocks += section_fuzz(found["fuzz"])
    if len(blocks) == 1:
        blocks.append(("p", "No results found in: %s" % ", ".join(inputs)))
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(render_md(blocks))
    with open(os.path.join(a.out, "index.html"), "w") as f:
        f.write(render_html(blocks, a.out))
    print("report: %s (%d sections, %d plots)" % (os.path.join(a.out, "index.html"),
                                                    sum(b[0] == "h2" for b in blocks), len(plotter.files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
