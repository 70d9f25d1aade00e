"""The report's section "Simulation against real programs" (issue #22): for a results
directory made by `coapbed emulate` (its runs.csv has run_valid filled) and the directory
of the same scenario simulated by `coapbed run` (the same name with "-sim", e.g.
results/emulation-validate and results/emulation-validate-sim), the completion times and
retransmissions of the simulated engine and of each emulated program side by side, with
95 % t-intervals, and whether they agree. Simulated figures are per run (t-interval over
seeds); emulated ones per exchange, pooled over the valid runs (t-interval over exchanges),
read from the runs' JSON (measured on the wire). Runs marked invalid (real-time lag over
the limit) are left out and counted."""

import glob
import json
import os
import statistics

IGNORED = {"program", "seed"}


def _emulated(rows):
    return bool(rows) and "run_valid" in rows[0] and rows[0]["run_valid"] not in ("", None)


def _point(row, axes):
    return tuple((a, row[a]) for a in axes)


def _exchanges(results_dir, run_id):
    try:
        with open(os.path.join(results_dir, "runs", run_id + ".json")) as f:
            return json.load(f).get("emulation", {}).get("exchanges", [])
    except (OSError, ValueError):
        return []


def _fmt(ci, unit=""):
    return "%.3f [%.3f, %.3f]%s" % (ci[0], ci[1], ci[2], unit)


def section_emulation(plotter, paths, load_csv, mean_ci, versus):
    by_dir = {os.path.dirname(os.path.abspath(p)): p for p in paths}
    out = []
    for d, p in sorted(by_dir.items()):
        rows = load_csv(p)
        if not _emulated(rows):
            continue
        sim_dir = d + "-sim"
        sim_rows = load_csv(by_dir[sim_dir]) if sim_dir in by_dir else []
        out += _one_scenario(plotter, d, rows, sim_rows, mean_ci, versus)
    if out:
        out.insert(0, ("h2", "Simulation against real programs"))
    return out


def _one_scenario(plotter, d, rows, sim_rows, mean_ci, versus):
    name = os.path.basename(d)
    cols = list(rows[0].keys())
    axes = [c for c in cols[:cols.index("seed")] if c not in IGNORED]
    programs = sorted({r.get("program", "custom") for r in rows})
    valid = [r for r in rows if r["run_valid"] == "1"]
    out = [("h3", name), ("p", (
        "Emulated: %d runs (%d invalid: real-time lag over the limit, left out) of %s, measured on the TAP devices; "
        "simulated: %s. Mean completion time and retransmissions per exchange with 95 %% t-intervals (emulated: over "
        "exchanges, simulated: over seeds); 'agree' when the intervals overlap.") % (
            len(rows), len(rows) - len(valid), ", ".join(programs),
            ("%d runs of %s-sim" % (len(sim_rows), name)) if sim_rows else "none found (run `coapbed run` on the "
            "scenario with --out %s-sim)" % d))]
    # The simulated runs of one program value only: the program axis repeats identical runs.
    if sim_rows and "program" in sim_rows[0]:
        first = sorted({r["program"] for r in sim_rows})[0]
        sim_rows = [r for r in sim_rows if r["program"] == first]
    points = sorted({_point(r, axes) for r in rows})
    table = [[", ".join("%s" % a for a in axes) or "point", "way", "exchanges", "completed", "mean completion (s)",
              "p50 / p95 (s)", "retransmissions per exchange", "CoAP bytes request / response", "messages per exchange",
              "vs simulation (time, retx)"]]
    plot_blocks = {}
    ways = ["simulated coapbed"] + ["emulated %s" % p for p in programs]
    for k, w in enumerate(ways):
        plot_blocks["w%d" % k] = []
    notes = []
    for x, point in enumerate(points):
        label = ", ".join(v for _, v in point) or "-"
        sim = [r for r in sim_rows if _point(r, axes) == point and r["completion_mean_s"] not in ("", None)]
        sim_t = sim_r = None
        if sim:
            sim_t = mean_ci([float(r["completion_mean_s"]) for r in sim])
            sim_r = mean_ci([float(r["retransmissions"]) / max(1.0, float(r["exchanges_started"])) for r in sim])
            started = sum(int(r["exchanges_started"]) for r in sim)
            done = sum(int(r["exchanges_completed"]) for r in sim)
            p50 = statistics.fmean(float(r["completion_p50_s"]) for r in sim)
            p95 = statistics.fmean(float(r["completion_p95_s"]) for r in sim)
            table.append([label, ways[0], str(started), str(done), _fmt(sim_t), "%.3f / %.3f" % (p50, p95),
                          _fmt(sim_r), "-", "-", "-"])
            plot_blocks["w0"].append((x + 0.0, sim_t[0], sim_t[1], sim_t[2]))
        per_program = {}
        for k, prog in enumerate(programs, start=1):
            runs = [r for r in valid if _point(r, axes) == point and r.get("program", "custom") == prog]
            ex = [e for r in runs for e in _exchanges(d, r["run_id"])]
            times = sorted(e["completion_s"] for e in ex if e["completion_s"] is not None)
            if not ex or len(times) < 2:
                continue
            t = mean_ci(times)
            rx = mean_ci([float(e["retransmissions"]) for e in ex])
            q = lambda p: times[min(len(times) - 1, max(0, int(round(p / 100.0 * len(times) + 0.5)) - 1))]
            req = statistics.median(e["request_bytes"] for e in ex)
            resp = statistics.median(e["response_bytes"] for e in ex if e["completion_s"] is not None)
            msgs = statistics.fmean(e["messages"] for e in ex)
            agree = "-" if sim_t is None else "%s, %s" % (
                "agree" if versus(t, sim_t) == "overlap" else versus(t, sim_t),
                "agree" if versus(rx, sim_r) == "overlap" else versus(rx, sim_r))
            table.append([label, ways[k], str(len(ex)), str(len(times)), _fmt(t), "%.3f / %.3f" % (q(50), q(95)),
                          _fmt(rx), "%g / %g" % (req, resp), "%.2f" % msgs, agree])
            plot_blocks["w%d" % k].append((x + 0.12 * k, t[0], t[1], t[2]))
            per_program[prog] = (req, resp, msgs, t)
        if len(per_program) > 1:
            a, b = sorted(per_program)[:2]
            ra, rb = per_program[a], per_program[b]
            notes.append("At %s: %s's requests are %g bytes and %s's %g (token and option lengths); %s takes %.2f "
                         "requests per exchange and %s %.2f (block size and block handling); mean completion %.3f s "
                         "against %.3f s." % (label, a, ra[0], b, rb[0], a, ra[2], b, rb[2], ra[3][0], rb[3][0]))
    out.append(("table", table))
    out += [("p", n) for n in notes]
    if any(plot_blocks.values()):
        plots = ["$w%d using 1:2:3:4 with yerrorbars pt 7 title '%s'" % (k, w) for k, w in enumerate(ways)
                 if plot_blocks["w%d" % k]]
        xt = ", ".join('"%s" %d' % (", ".join(v for _, v in p) or "-", i) for i, p in enumerate(points))
        svg = plotter.plot("emulation-%s" % name, "\n".join([
            'set title "%s: mean completion time, simulated and real (95%% t-interval)"' % name,
            'set ylabel "completion time (s)"', 'set xlabel "%s"' % (", ".join(axes) or "point"),
            "set xtics (%s)" % xt, "set xrange [-0.5:%g]" % (len(points) - 0.3), "set yrange [0:*]",
            "plot " + ", ".join(plots)]), plot_blocks)
        out.append(("img", svg, "%s: mean completion time per way and point" % name))
    return out
