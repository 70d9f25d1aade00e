"""The report's Findings section: a published claim about CoAP congestion control, our
figures with 95 % t-intervals over seeds, and a verdict computed from those figures (never
written by hand). A findings scenario is recognised by its results directory name
(results/findings-f2/runs.csv); each has one function here. The claims and derived
thresholds are from ../shared/FINDINGS.md."""

import os


def _per_run(rows, num, den):
    """num/den of each run (runs with den = 0 are skipped)."""
    out = []
    for r in rows:
        d = float(r[den] or 0)
        if d > 0 and r[num] not in ("", "nan"):
            out.append(float(r[num]) / d)
    return out


def _cell(ci):
    return "%.2f [%.2f, %.2f]" % ci


def finding_f2(plotter, rows, mean_ci, versus):
    """F2: CoCoA collapses with short-lived clients; FASOR recovers."""
    strategies = [s for s in ("default", "cocoa", "fasor") if any(r["congestion"] == s for r in rows)]
    if "cocoa" not in strategies or "default" not in strategies:
        return [("p", "findings-f2: the results lack cocoa or default runs.")]
    rtts = sorted({2 * float(r["delay"]) for r in rows})
    by = {}
    for rtt in rtts:
        for s in strategies:
            sub = [r for r in rows if r["congestion"] == s and abs(2 * float(r["delay"]) - rtt) < 1e-9]
            samples = _per_run(sub, "rtt_samples", "exchanges_started")
            retx = _per_run(sub, "retransmissions", "exchanges_started")
            if samples and retx:
                by[(s, rtt)] = (mean_ci(samples), mean_ci(retx), len(sub))
    table = [["round trip (s)"] + ["%s samples/exchange" % s for s in strategies if s != "default"]
             + ["%s retransmissions/exchange" % s for s in strategies] + ["cocoa vs default (retx)", "seeds"]]
    blocks_s, blocks_r = {}, {}
    for k, s in enumerate(strategies):
        blocks_s["s%d" % k] = [(rtt,) + by[(s, rtt)][0] for rtt in rtts if (s, rtt) in by]
        blocks_r["s%d" % k] = [(rtt,) + by[(s, rtt)][1] for rtt in rtts if (s, rtt) in by]
    for rtt in rtts:
        if not all((s, rtt) in by for s in strategies):
            continue
        table.append(["%g" % rtt] + [_cell(by[(s, rtt)][0]) for s in strategies if s != "default"]
                     + [_cell(by[(s, rtt)][1]) for s in strategies]
                     + [versus(by[("cocoa", rtt)][1], by[("default", rtt)][1]), str(by[("cocoa", rtt)][2])])
    # The cliff: between the last round trip where cocoa still samples most exchanges
    # and the first where it samples fewer than half.
    above = [rtt for rtt in rtts if ("cocoa", rtt) in by and by[("cocoa", rtt)][0][0] >= 0.5]
    below = [rtt for rtt in rtts if ("cocoa", rtt) in by and by[("cocoa", rtt)][0][0] < 0.5]
    cliff = (max(above) if above else None, min(below) if below else None)
    top = rtts[-1]
    checks = []
    cliff_ok = cliff[1] is not None and cliff[0] is not None and cliff[0] >= 12 - 1e-9 and cliff[1] <= 21 + 1e-9
    checks.append(("the cliff lies within the derived 12-21 s", cliff_ok,
                   "cocoa samples at least half its exchanges up to %s s, fewer from %s s" % (
                       "%g" % cliff[0] if cliff[0] is not None else "-", "%g" % cliff[1] if cliff[1] is not None else "-")))
    c_top, d_top = by.get(("cocoa", top)), by.get(("default", top))
    like_default = bool(c_top and d_top and c_top[0][2] <= 0.05 and versus(c_top[1], d_top[1]) == "overlap")
    checks.append(("beyond it cocoa takes no sample and retransmits like default", like_default,
                   "at %g s: cocoa %s samples/exchange, %s retransmissions/exchange against default's %s" % (
                       top, _cell(c_top[0]) if c_top else "-", _cell(c_top[1]) if c_top else "-",
                       _cell(d_top[1]) if d_top else "-")))
    if "fasor" in strategies and ("fasor", top) in by:
        f_top = by[("fasor", top)]
        recovers = versus(f_top[1], d_top[1]) == "below"
        checks.append(("fasor recovers (its retransmissions lie below default's)", recovers,
                       "at %g s: fasor %s retransmissions/exchange" % (top, _cell(f_top[1]))))
    held = sum(ok for _, ok, _ in checks)
    verdict = "reproduced" if held == len(checks) else ("partly reproduced" if held else "not reproduced")
    out = [("h3", "F2: CoCoA collapses with short-lived clients (%s)" % verdict),
           ("p", "Claim: a client that starts without an RTT estimate and whose round trip exceeds CoCoA's third "
                 "retransmission time (12-18 s with the draft's variable back-off and dither; 14-21 s with "
                 "Californium's) never gets an RTT sample and behaves exactly like default CoAP; FASOR recovers "
                 "from each client's second exchange. Sources: Raitahila's thesis, the FASOR draft §3, the IETF 101 "
                 "CoRE minutes (../shared/FINDINGS.md, finding 2)."),
           ("p", "Setting: scenarios/findings/f2-cocoa-short-lived.toml, round trip set by the path delay at a low "
                 "load, clients of 3 exchanges with fresh state; figures are means over seeds with 95 % "
                 "Student-t intervals.")]
    out.append(("table", [["check", "held", "figures"]] + [[c, "yes" if ok else "no", f] for c, ok, f in checks]))
    out.append(("table", table))
    for name, blocks, label in (("samples", blocks_s, "RTT samples taken per exchange"),
                                ("retx", blocks_r, "retransmissions per exchange")):
        plots = ["$s%d using 1:2:3:4 with yerrorlines title '%s'" % (k, s) for k, s in enumerate(strategies)
                 if blocks["s%d" % k]]
        svg = plotter.plot("findings-f2-" + name, "\n".join([
            'set title "F2: %s against the round trip (mean, 95%% t-interval)"' % label,
            'set xlabel "round trip (s)"', 'set ylabel "%s"' % label, "plot " + ", ".join(plots)]), blocks)
        out.append(("img", svg, "F2: %s against the round trip per strategy" % label))
    return out


FINDINGS = {"findings-f2": finding_f2}


def section_findings(plotter, paths, load_csv, mean_ci, versus):
    """The Findings section for the runs.csv files that belong to findings scenarios."""
    out = []
    for p in paths:
        name = os.path.basename(os.path.dirname(os.path.abspath(p)))
        if name in FINDINGS:
            rows = load_csv(p)
            if rows:
                out += FINDINGS[name](plotter, rows, mean_ci, versus)
    if out:
        out.insert(0, ("h2", "Findings: published results, reproduced or not"))
    return out
