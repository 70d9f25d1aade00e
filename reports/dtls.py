"""DTLS in the simulator ([security], issue #19): per sweep point the clients' handshakes
(completed, failed, time, bytes) beside the NoSec runs of the same path, with a reading per
row, and a plot of handshake time against the swept path parameter per mode."""

import re
import statistics

MODES = ["nosec", "psk", "rpk", "certificate"]


def has_dtls(rows):
    return bool(rows) and "handshakes_started" in rows[0] and any(
        r.get("handshakes_started", "") not in ("", "nan") for r in rows)


def _num(v):
    try:
        return float(v)
    except ValueError:
        return None


def _sort_key(params):
    def key(k):
        out = []
        for c, v in zip(params, k):
            if c == "mode":
                out.append((0, MODES.index(v) if v in MODES else 9, v))
            else:
                n = _num(v)
                out.append((1, n, v) if n is not None else (2, 0, v))
        return out
    return key


def _median(rows, col):
    vals = [float(r[col]) for r in rows if r.get(col, "") not in ("", "nan")]
    return statistics.median(vals) if vals else None


def _per_handshake(rows):
    vals = [float(r["handshake_bytes"]) / float(r["handshakes_started"]) for r in rows
            if r.get("handshakes_started", "") not in ("", "nan", "0")]
    return statistics.median(vals) if vals else None


def reading(mode, rs, base):
    """One sentence on what a row means, from its medians and the NoSec row of the same path."""
    p50 = _median(rs, "completion_p50_s")
    if mode == "nosec":
        return "baseline: NoSec round trip p50 %.3f s" % p50 if p50 is not None else "baseline: no exchange completed"
    started, failed = _median(rs, "handshakes_started"), _median(rs, "handshakes_failed")
    hs95 = _median(rs, "handshake_p95_s")
    if started is None:
        return "-"
    if failed and failed > 0:
        return "%g of %g handshakes fail (median over seeds): not affordable here" % (failed, started)
    if hs95 is None:
        return "no handshake completed"
    rtt = _median(base, "completion_p50_s") if base else None
    if rtt:
        return "every handshake completes; p95 %.2f s = %.0f NoSec round trips" % (hs95, hs95 / rtt)
    return "every handshake completes; p95 %.2f s" % hs95


def section_dtls(plotter, index, rows, params):
    out = [("h3", "DTLS handshakes (medians over seeds)")]
    keyed = [c for c in params if c not in ("mode", "hello_verify")]
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in params), []).append(r)
    nosec = {}
    for r in rows:
        if r.get("mode") == "nosec":
            nosec.setdefault(tuple(r[c] for c in keyed), []).append(r)
    table = [params + ["handshakes", "failed", "handshake p50 (s)", "handshake p95 (s)", "bytes per handshake",
                       "record overhead (bytes)", "exchanges completed", "completion p50 (s)", "reading", "runs"]]

    def f(v, pattern):
        return pattern % v if v is not None else "-"

    for key in sorted(groups, key=_sort_key(params)):
        rs = groups[key]
        mode = rs[0].get("mode", "nosec")
        base = nosec.get(tuple(rs[0][c] for c in keyed))
        table.append(list(key) + [
            "%s/%s" % (f(_median(rs, "handshakes_completed"), "%g"), f(_median(rs, "handshakes_started"), "%g")),
            f(_median(rs, "handshakes_failed"), "%g"), f(_median(rs, "handshake_p50_s"), "%.3f"),
            f(_median(rs, "handshake_p95_s"), "%.3f"), f(_per_handshake(rs), "%.0f"),
            f(_median(rs, "dtls_record_overhead_bytes"), "%.0f"), f(_median(rs, "exchanges_completed"), "%.0f"),
            f(_median(rs, "completion_p50_s"), "%.3f"), reading(mode, rs, base), str(len(rs))])
    out.append(("p", "Handshakes are the clients' (one per client and server); bytes per handshake count every "
                     "datagram of it in both directions; the record overhead is what DTLS added to the CoAP datagrams "
                     "once established. The reading compares a mode's 95th-percentile handshake time with the NoSec "
                     "round trip of the same path."))
    out.append(("table", table))
    # Handshake time against the numeric swept parameter (hops when swept), one line per mode.
    numeric = [c for c in keyed if len({r[c] for r in rows}) > 1 and all(_num(r[c]) is not None for r in rows)]
    if not numeric:
        return out
    x = "hops" if "hops" in numeric else numeric[0]
    facets = [c for c in params if c not in (x, "mode") and len({r[c] for r in rows}) > 1]
    for fkey in sorted({tuple(r[c] for c in facets) for r in rows}, key=_sort_key(facets)):
        sub = [r for r in rows if tuple(r[c] for c in facets) == fkey]
        blocks, plots = {}, []
        for k, mode in enumerate(m for m in MODES if m != "nosec"):
            pts = []
            for xv in sorted({_num(r[x]) for r in sub if r.get("mode") == mode}):
                v = _median([r for r in sub if r.get("mode") == mode and _num(r[x]) == xv], "handshake_p50_s")
                if v is not None:
                    pts.append((xv, v))
            if pts:
                blocks["m%d" % k] = pts
                plots.append("$m%d using 1:2 with linespoints title '%s'" % (k, mode))
        if not plots:
            continue
        label = ", ".join("%s = %s" % (c, v) for c, v in zip(facets, fkey))
        name = "dtls-%d-%s" % (index, re.sub(r"[^A-Za-z0-9.]+", "-", label) or "all")
        svg = plotter.plot(name, "\n".join([
            'set title "median DTLS handshake time against %s%s"' % (x, (", " + label) if label else ""),
            'set xlabel "%s"' % x, 'set ylabel "median handshake time (s)"', "set logscale y",
            "plot " + ", ".join(plots)]), blocks)
        out.append(("img", svg, "median handshake time against %s per mode%s" % (x, (", " + label) if label else "")))
    return out
