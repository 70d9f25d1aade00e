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


def _cell3(ci):
    return "%.3f [%.3f, %.3f]" % ci


def _verdict(checks):
    """The verdict: "reproduced" when every check held, "partly reproduced" when some did."""
    held = sum(ok for _, ok, _ in checks)
    return "reproduced" if checks and held == len(checks) else ("partly reproduced" if held else "not reproduced")


def _checks_and_plots(plotter, tag, checks, table, strategies, figures, xlabel):
    """The checks table, the figures table, and one plot per (name, label, blocks) in
    `figures`, each a line per strategy with its 95 % t-interval as error bars."""
    out = [("table", [["check", "held", "figures"]] + [[c, "yes" if ok else "no", f] for c, ok, f in checks]),
           ("table", table)]
    for name, label, blocks in figures:
        plots = ["$s%d using 1:2:3:4 with yerrorlines title '%s'" % (k, s) for k, s in enumerate(strategies)
                 if blocks["s%d" % k]]
        svg = plotter.plot("findings-%s-%s" % (tag.lower(), name), "\n".join([
            'set title "%s: %s against %s (mean, 95%% t-interval)"' % (tag, label, xlabel),
            'set xlabel "%s"' % xlabel, 'set ylabel "%s"' % label, "plot " + ", ".join(plots)]), blocks)
        out.append(("img", svg, "%s: %s against %s per strategy" % (tag, label, xlabel)))
    return out


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
    verdict = _verdict(checks)
    out = [("h3", "F2: CoCoA collapses with short-lived clients (%s)" % verdict),
           ("p", "Claim: a client that starts without an RTT estimate and whose round trip exceeds CoCoA's third "
                 "retransmission time (12-18 s with the draft's variable back-off and dither; 14-21 s with "
                 "Californium's) never gets an RTT sample and behaves exactly like default CoAP; FASOR recovers "
                 "from each client's second exchange. Sources: Raitahila's thesis, the FASOR draft §3, the IETF 101 "
                 "CoRE minutes (../shared/FINDINGS.md, finding 2)."),
           ("p", "Setting: scenarios/findings/f2-cocoa-short-lived.toml, round trip set by the path delay at a low "
                 "load, clients of 3 exchanges with fresh state; figures are means over seeds with 95 % "
                 "Student-t intervals.")]
    out += _checks_and_plots(plotter, "F2", checks, table, strategies,
                             [("samples", "RTT samples taken per exchange", blocks_s),
                              ("retx", "retransmissions per exchange", blocks_r)], "round trip (s)")
    return out


def finding_f1(plotter, rows, mean_ci, versus):
    """F1: default CoAP collapses behind a bloated buffer; cocoa and fasor adapt."""
    strategies = [s for s in ("default", "cocoa", "fasor") if any(r["congestion"] == s for r in rows)]
    if "default" not in strategies:
        return [("p", "findings-f1: the results lack default runs.")]
    sizes = sorted({int(r["clients"]) for r in rows})
    by = {}
    for n in sizes:
        for s in strategies:
            sub = [r for r in rows if r["congestion"] == s and int(r["clients"]) == n]
            spurious = _per_run(sub, "spurious_retransmissions", "exchanges_started")
            useful = [float(r["useful_fraction"]) for r in sub if r["useful_fraction"] not in ("", "nan")]
            rtt = [float(r["rtt_mean_s"]) for r in sub if r["rtt_mean_s"] not in ("", "nan")]
            if spurious and useful and rtt:
                by[(s, n)] = (mean_ci(spurious), mean_ci(useful), mean_ci(rtt), len(sub))
    top = sizes[-1]
    d = by.get(("default", top))
    checks = []
    if d:
        checks.append(("default retransmits every exchange at least 3 times, spuriously", d[0][0] >= 3.0,
                       "%d clients: %s spurious retransmissions per exchange" % (top, _cell(d[0]))))
        checks.append(("useful fraction near or below 25 %", d[1][0] <= 0.30,
                       "%d clients: default's useful fraction %s" % (top, _cell(d[1]))))
        for s in ("cocoa", "fasor"):
            o = by.get((s, top))
            if o:
                ok = versus(o[0], d[0]) == "below" and versus(o[1], d[1]) == "above"
                checks.append(("%s adapts (fewer spurious copies, more useful bytes than default)" % s, ok,
                               "%d clients: %s spurious/exchange, useful %s" % (top, _cell(o[0]), _cell(o[1]))))
    verdict = _verdict(checks)
    table = [["clients"] + ["%s spurious/exchange" % s for s in strategies] + ["%s useful fraction" % s for s in strategies]
             + ["%s mean RTT (s)" % s for s in strategies] + ["seeds"]]
    for n in sizes:
        if not all((s, n) in by for s in strategies):
            continue
        table.append([str(n)] + [_cell(by[(s, n)][0]) for s in strategies] + [_cell(by[(s, n)][1]) for s in strategies]
                     + ["%.1f [%.1f, %.1f]" % by[(s, n)][2] for s in strategies] + [str(by[(strategies[0], n)][3])])
    out = [("h3", "F1: default CoAP collapses behind a bloated buffer (%s)" % verdict),
           ("p", "Claim: with hundreds of long-lived clients behind a large drop-tail buffer, default CoAP's fixed "
                 "2-3 s RTO makes almost every exchange retransmit spuriously (\"every request was retransmitted at "
                 "least 4 times\"; \"25 % only system does useful work\"; 400 clients gave a queueing RTT of about "
                 "10-15 s even with working congestion control); CoCoA and FASOR adapt. Sources: the IETF 101 CoRE "
                 "minutes, Raitahila's thesis, the FASOR draft §3 (../shared/FINDINGS.md, finding 1)."),
           ("p", "Setting: scenarios/findings/f1-default-bufferbloat.toml, 20 kbit/s, a 2000-packet queue, closed-loop "
                 "clients on the switched access network; figures are means over seeds with 95 % Student-t "
                 "intervals; the mean RTT is over the ACKs the clients timed.")]
    figures = [(name, label, {"s%d" % k: [(n,) + by[(st, n)][idx] for n in sizes if (st, n) in by]
                              for k, st in enumerate(strategies)})
               for name, idx, label in (("spurious", 0, "spurious retransmissions per exchange"),
                                        ("useful", 1, "useful fraction of the bottleneck bytes"))]
    out += _checks_and_plots(plotter, "F1", checks, table, strategies, figures, "clients")
    return out


def finding_f3(plotter, rows, mean_ci, versus):
    """F3: on an error-prone link with a small RTT, fasor <~ cocoa < default in completion time."""
    strategies = [s for s in ("default", "cocoa", "fasor") if any(r["congestion"] == s for r in rows)]
    if len(strategies) < 3:
        return [("p", "findings-f3: the results lack one of default, cocoa, fasor.")]
    losses = sorted({float(r["loss"]) for r in rows})
    by = {}
    for loss in losses:
        for s in strategies:
            sub = [r for r in rows if r["congestion"] == s and abs(float(r["loss"]) - loss) < 1e-9]
            mean = [float(r["completion_mean_s"]) for r in sub if r["completion_mean_s"] not in ("", "nan")]
            p95 = [float(r["completion_p95_s"]) for r in sub if r["completion_p95_s"] not in ("", "nan")]
            failed = _per_run(sub, "exchanges_failed", "exchanges_started")
            if mean and p95 and failed:
                by[(s, loss)] = (mean_ci(mean), mean_ci(p95), mean_ci(failed), len(sub))
    checks = []
    for loss in losses:
        d, c, f = by.get(("default", loss)), by.get(("cocoa", loss)), by.get(("fasor", loss))
        if not (d and c and f):
            continue
        ok = versus(c[0], d[0]) == "below" and versus(f[0], d[0]) == "below" and versus(f[0], c[0]) != "above"
        checks.append(("loss %g: fasor <~ cocoa < default (mean completion time)" % loss, ok,
                       "default %s s, cocoa %s s, fasor %s s" % (_cell(d[0]), _cell(c[0]), _cell(f[0]))))
    verdict = _verdict(checks)
    table = [["loss"] + ["%s mean completion (s)" % s for s in strategies] + ["%s p95 (s)" % s for s in strategies]
             + ["%s failed/exchange" % s for s in strategies] + ["seeds"]]
    for loss in losses:
        if all((s, loss) in by for s in strategies):
            table.append(["%g" % loss] + [_cell(by[(s, loss)][i]) for i in range(3) for s in strategies]
                         + [str(by[("default", loss)][3])])
    out = [("h3", "F3: FASOR keeps completion times short on an error-prone link (%s)" % verdict),
           ("p", "Claim: with a small round trip and random (bursty) loss, FASOR's FastRTO retransmits soon after a "
                 "loss where default CoAP waits at least 2 s; completion times fasor <~ cocoa < default (direction "
                 "only). Sources: GLOBECOM'18, Raitahila's thesis (scenario C), the FASOR draft §4 "
                 "(../shared/FINDINGS.md, finding 3)."),
           ("p", "Setting: scenarios/findings/f3-lossy-link.toml, 250 kbit/s, 100 ms round trip, Gilbert-Elliott loss "
                 "(mean burst 2) on the bottleneck, 5 closed-loop clients; means over seeds with 95 % Student-t "
                 "intervals. Completion times count completed exchanges only: the failed ones are shown beside them.")]
    figures = [(name, label, {"s%d" % k: [(loss,) + by[(st, loss)][idx] for loss in losses if (st, loss) in by]
                              for k, st in enumerate(strategies)})
               for name, idx, label in (("completion", 0, "mean completion time (s)"),
                                        ("failed", 2, "failed exchanges per exchange"))]
    return out + _checks_and_plots(plotter, "F3", checks, table, strategies, figures, "mean loss")


def finding_f4(plotter, rows, mean_ci, versus):
    """F4: on a lossy 6LoWPAN chain cocoa completes more than default and settles a burst faster."""
    strategies = [s for s in ("default", "cocoa", "linux-rto", "peakhopper-rto") if any(r["congestion"] == s for r in rows)]
    if "default" not in strategies or "cocoa" not in strategies:
        return [("p", "findings-f4: the results lack default or cocoa runs.")]
    losses = sorted({float(r["loss"]) for r in rows})
    by = {}
    for loss in losses:
        for s in strategies:
            sub = [r for r in rows if r["congestion"] == s and abs(float(r["loss"]) - loss) < 1e-9]
            done = [float(r["exchanges_completed"]) for r in sub]
            settle = [float(r["burst_settling_s"]) for r in sub if r.get("burst_settling_s") not in ("", None, "nan")]
            if done and settle:
                by[(s, loss)] = (mean_ci(done), mean_ci(settle), len(sub))
    lossy = [l for l in losses if l > 0]
    checks = []
    for loss in lossy:
        d, c = by.get(("default", loss)), by.get(("cocoa", loss))
        if d and c:
            gain = 100.0 * (c[0][0] / d[0][0] - 1) if d[0][0] > 0 else float("nan")
            checks.append(("loss %g: cocoa completes more exchanges than default" % loss, versus(c[0], d[0]) == "above",
                           "cocoa %s, default %s (%+.0f %%; published +19 to +112 %%)" % (
                               _cell(c[0]), _cell(d[0]), gain)))
            checks.append(("loss %g: cocoa settles the burst sooner than default" % loss, versus(c[1], d[1]) == "below",
                           "cocoa %s s, default %s s" % (_cell(c[1]), _cell(d[1]))))
    # "Can underperform default": fewer completed, or a burst settled later, in some setting.
    others = [s for s in ("linux-rto", "peakhopper-rto") if s in strategies]
    worse = []
    for s in others:
        for loss in losses:
            x, d = by.get((s, loss)), by.get(("default", loss))
            if not (x and d):
                continue
            if versus(x[0], d[0]) == "below":
                worse.append("%s completes %s against %s at loss %g" % (s, _cell(x[0]), _cell(d[0]), loss))
            if versus(x[1], d[1]) == "above":
                worse.append("%s settles the burst in %s s against %s s at loss %g" % (s, _cell(x[1]), _cell(d[1]), loss))
    if others:
        checks.append(("linux-rto or peakhopper-rto does worse than default (fewer completed, or a slower burst) in "
                       "at least one setting", bool(worse), "; ".join(worse) if worse else "never worse than default"))
    verdict = _verdict(checks)
    table = [["extra loss"] + ["%s completed" % s for s in strategies] + ["%s burst settling (s)" % s for s in strategies]
             + ["cocoa vs default (completed)", "seeds"]]
    for loss in losses:
        if all((s, loss) in by for s in strategies):
            table.append(["%g" % loss] + [_cell(by[(s, loss)][i]) for i in range(2) for s in strategies]
                         + [versus(by[("cocoa", loss)][0], by[("default", loss)][0]), str(by[("default", loss)][2])])
    out = [("h3", "F4: CoCoA on a lossy 6LoWPAN chain with a burst (%s)" % verdict),
           ("p", "Claim: on a lossy multihop 802.15.4 network CoCoA gives more throughput than default CoAP (+19 to "
                 "+112 % on an IPv6 testbed) and processes bursts faster; Linux-RTO and Peak-Hopper-RTO can do worse "
                 "than default. Sources: ETFA/SOCNE 2014, ComMag 2016, the appendix of draft-ietf-core-cocoa "
                 "(../shared/FINDINGS.md, finding 4)."),
           ("p", "Setting: scenarios/findings/f4-sixlowpan-burst.toml, a 6LoWPAN chain of 3 hops, 5 clients with a "
                 "periodic CON load (2 s think time) and a global event at 100 s (10 requests from every client at "
                 "once), extra frame loss 0/5/10 %, 200 s; throughput is the exchanges completed in a run, burst "
                 "settling the time until the last burst exchange ended; means over seeds with 95 % Student-t "
                 "intervals.")]
    figures = [(name, label, {"s%d" % k: [(loss,) + by[(st, loss)][idx] for loss in losses if (st, loss) in by]
                              for k, st in enumerate(strategies)})
               for name, idx, label in (("completed", 0, "exchanges completed"),
                                        ("settling", 1, "burst settling time (s)"))]
    return out + _checks_and_plots(plotter, "F4", checks, table, strategies, figures, "extra frame loss")


def finding_f5(plotter, rows, mean_ci, versus):
    """F5: with bursty traffic and few clients, cocoa's spurious retransmissions exceed default's."""
    strategies = [s for s in ("default", "cocoa") if any(r["congestion"] == s for r in rows)]
    if len(strategies) < 2:
        return [("p", "findings-f5: the results lack default or cocoa runs.")]
    points = sorted({(float(r["loss"]), int(r["clients"])) for r in rows})
    by = {}
    for loss, n in points:
        for s in strategies:
            sub = [r for r in rows if r["congestion"] == s and abs(float(r["loss"]) - loss) < 1e-9 and int(r["clients"]) == n]
            spur = _per_run(sub, "spurious_retransmissions", "exchanges_started")
            p95 = [float(r["completion_p95_s"]) for r in sub if r["completion_p95_s"] not in ("", "nan")]
            failed = _per_run(sub, "exchanges_failed", "exchanges_started")
            if spur and p95 and failed:
                by[(s, loss, n)] = (mean_ci(spur), mean_ci(p95), mean_ci(failed), len(sub))
    calm = [(loss, n) for loss, n in points if loss == 0]
    checks = []
    for loss, n in calm:
        d, c = by.get(("default", loss, n)), by.get(("cocoa", loss, n))
        if d and c:
            checks.append(("no extra loss, %d client%s: cocoa's spurious copies per exchange above default's" % (
                n, "" if n == 1 else "s"), versus(c[0], d[0]) == "above",
                "cocoa %s, default %s" % (_cell3(c[0]), _cell3(d[0]))))
            checks.append(("no extra loss, %d client%s: cocoa's p95 completion time not below default's" % (
                n, "" if n == 1 else "s"), versus(c[1], d[1]) != "below",
                "cocoa %s s, default %s s" % (_cell3(c[1]), _cell3(d[1]))))
    verdict = _verdict(checks)
    table = [["extra loss", "clients"] + ["%s spurious/exchange" % s for s in strategies]
             + ["%s p95 (s)" % s for s in strategies] + ["%s failed/exchange" % s for s in strategies]
             + ["cocoa vs default (spurious)", "seeds"]]
    for loss, n in points:
        if all((s, loss, n) in by for s in strategies):
            table.append(["%g" % loss, str(n)] + [_cell3(by[(s, loss, n)][i]) for i in range(3) for s in strategies]
                         + [versus(by[("cocoa", loss, n)][0], by[("default", loss, n)][0]),
                            str(by[("default", loss, n)][3])])
    lossy = [(loss, n) for loss, n in points if loss > 0 and all((s, loss, n) in by for s in strategies)]
    out = [("h3", "F5: CoCoA with bursty traffic and few clients (%s)" % verdict),
           ("p", "Claim: with bursty traffic and few clients CoCoA(+) can do worse than default CoAP: RTOs learned in "
                 "one period are too small for the next burst, so it retransmits spuriously (direction only). Sources: "
                 "Ancillotti & Bruno ISCC 2017, Bolettieri et al. pCoCoA 2018 (../shared/FINDINGS.md, finding 5)."),
           ("p", "Setting: scenarios/findings/f5-bursty-few-clients.toml, a 6LoWPAN chain of 3 hops, 1 and 3 clients "
                 "sending back to back during on periods (mean 10 s) between off periods (mean 50 s), 200-byte "
                 "responses, with and without 5 % extra frame loss; means over seeds with 95 % Student-t intervals. "
                 "A spurious copy is a retransmission of a message whose first copy was delivered.")]
    if lossy:
        out.append(("p", "With extra loss the lost fragments dominate: %s." % "; ".join(
            "at %g loss and %d client%s cocoa's spurious copies per exchange are %s default's" % (
                loss, n, "" if n == 1 else "s",
                {"below": "below", "above": "above", "overlap": "not distinguishable from"}[
                    versus(by[("cocoa", loss, n)][0], by[("default", loss, n)][0])]) for loss, n in lossy)))
    figures = [("spurious-%s" % ("lossless" if loss == 0 else "loss"), "spurious copies per exchange (extra loss %g)" % loss,
                {"s%d" % k: [(n,) + by[(st, loss, n)][0] for (l2, n) in points if l2 == loss and (st, loss, n) in by]
                 for k, st in enumerate(strategies)})
               for loss in sorted({p[0] for p in points})]
    return out + _checks_and_plots(plotter, "F5", checks, table, strategies, figures, "clients")


def finding_f6(plotter, rows, mean_ci, versus):
    """F6: with small buffers, the RTT-based strategies' throughput at high load is at or above default's."""
    strategies = [s for s in ("default", "cocoa", "linux-rto", "peakhopper-rto") if any(r["congestion"] == s for r in rows)]
    if "default" not in strategies or len(strategies) < 2:
        return [("p", "findings-f6: the results lack default or an RTT-based strategy.")]
    queues = sorted({int(r["queue"]) for r in rows})
    loads = sorted({int(r["clients"]) for r in rows})
    by = {}
    for q in queues:
        for n in loads:
            for s in strategies:
                sub = [r for r in rows if r["congestion"] == s and int(r["queue"]) == q and int(r["clients"]) == n]
                if not sub:
                    continue
                thr = [float(r["exchanges_completed"]) for r in sub]
                failed = _per_run(sub, "exchanges_failed", "exchanges_started")
                retx = _per_run(sub, "retransmissions", "exchanges_started")
                jain = [float(r["jain_fairness"]) for r in sub if r.get("jain_fairness") not in ("", None, "nan")]
                if thr and failed and retx and jain:
                    by[(s, q, n)] = (mean_ci(thr), mean_ci(failed), mean_ci(retx), mean_ci(jain), len(sub))
    top = loads[-1]
    checks = []
    for s in strategies[1:]:
        for q in queues:
            d, x = by.get(("default", q, top)), by.get((s, q, top))
            if d and x:
                checks.append(("%s: throughput at %d clients, queue %d, not below default's" % (s, top, q),
                               versus(x[0], d[0]) != "below",
                               "%s %s, default %s completed exchanges" % (s, _cell(x[0]), _cell(d[0]))))
    # "More aggressive": more copies per exchange than default once the link is loaded.
    mid = [n for n in loads if n < top][-1] if len(loads) > 1 else top
    for s in strategies[1:]:
        d, x = by.get(("default", queues[0], mid)), by.get((s, queues[0], mid))
        if d and x:
            checks.append(("%s retransmits more per exchange than default (%d clients, queue %d)" % (s, mid, queues[0]),
                           versus(x[2], d[2]) == "above",
                           "%s %s, default %s" % (s, _cell(x[2]), _cell(d[2]))))
    verdict = _verdict(checks)
    table = [["queue", "clients"] + ["%s completed" % s for s in strategies]
             + ["%s failed/exchange" % s for s in strategies] + ["%s Jain" % s for s in strategies] + ["seeds"]]
    for q in queues:
        for n in loads:
            if all((s, q, n) in by for s in strategies):
                table.append([str(q), str(n)] + [_cell(by[(s, q, n)][i]) for i in (0, 1, 3) for s in strategies]
                             + [str(by[("default", q, n)][4])])
    out = [("h3", "F6: RTT-based strategies with small buffers (%s)" % verdict),
           ("p", "Claim: with a buffer of 1-2 bandwidth-delay products, CoCoA, Linux-RTO and Peak-Hopper-RTO are more "
                 "aggressive than default CoAP and more efficient at higher congestion levels (goodput at or above "
                 "default's). Source: WF-IoT 2015 (../shared/FINDINGS.md, the sixth check)."),
           ("p", "Setting: scenarios/findings/f6-small-buffers.toml, 50 kbit/s, 200 ms round trip, queue 10 and 20 "
                 "packets (1 and 2 BDP), 10-200 closed-loop clients (100 ms think time), 120 s; throughput is the "
                 "exchanges completed in a run; means over seeds with 95 % Student-t intervals.")]
    below = sorted({s for s in strategies[1:] for q in queues
                    if (s, q, top) in by and versus(by[(s, q, top)][0], by[("default", q, top)][0]) == "below"})
    if below:
        d = by[("default", queues[0], top)]
        worst = {s: 100.0 * (1 - by[(s, queues[0], top)][0][0] / d[0][0]) for s in below if (s, queues[0], top) in by}
        out.append(("p", "Reading: once the link saturates, every strategy completes about what the bottleneck carries "
                         "(default %.0f exchanges at %d clients), so none gains throughput; %s complete fewer (%s at queue "
                         "%d), lose more exchanges and starve clients (Jain fairness %s against default's %.2f): their "
                         "short timeouts add copies to a full queue rather than goodput." % (
                             d[0][0], top, ", ".join(below),
                             ", ".join("%s %.1f %%" % (s, v) for s, v in worst.items()), queues[0],
                             ", ".join("%.2f" % by[(s, queues[0], top)][3][0] for s in below if (s, queues[0], top) in by),
                             d[3][0])))
    figures = [("throughput-q%d" % q, "completed exchanges (queue %d)" % q,
                {"s%d" % k: [(n,) + by[(st, q, n)][0] for n in loads if (st, q, n) in by] for k, st in enumerate(strategies)})
               for q in queues[:1]]
    figures.append(("failed", "failed exchanges per exchange (queue %d)" % queues[0],
                     {"s%d" % k: [(n,) + by[(st, queues[0], n)][1] for n in loads if (st, queues[0], n) in by]
                      for k, st in enumerate(strategies)}))
    return out + _checks_and_plots(plotter, "F6", checks, table, strategies, figures, "clients")


FINDINGS = {"findings-f1": finding_f1, "findings-f2": finding_f2, "findings-f3": finding_f3,
            "findings-f4": finding_f4,
            "findings-f5": finding_f5, "findings-f6": finding_f6}


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
