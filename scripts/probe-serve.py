#!/usr/bin/env python3
"""Probes `coapbed serve` on loopback as a hostile network would, and prints what each
attack obtained, so a change to the server's defences can be measured before and after.

  scripts/probe-serve.py BIN [--only NAME]... [--json FILE]

Probes (each starts its own `BIN serve --port 0 --bind 127.0.0.1 ...` and stops it):
  rate-limit   --rate-limit 10: 100 GETs in 1 s from 1 source port, then from 10 ports
               (round robin): how many are answered 2.05.
  slow-ampl    --echo --amplification-limit 3: 20 CON GETs of /slow (separate responses)
               from a socket that never acknowledges; bytes out / bytes in over 40 s, as
               UDP payload and at IP (+28 bytes per datagram).
  root-flood   --root with a 64 MiB file: GETs of it as fast as one socket sends for 5 s,
               while another client asks /counter every 200 ms: its worst latency, the
               server's CPU seconds per flood request and its peak RSS.
  block1-share an upload from 127.0.0.2 begins (Block1, first of two blocks); 16 uploads
               begin from 127.0.0.1 on 16 ports (the table holds 16); then every upload
               sends its last block: how many of the 16 were still held (2.04), and how
               the first address's upload ends (2.04, or 4.08 if it was displaced).
  icmp-observer 32 observers of /counter (all its slots) close their sockets (ICMP port
               unreachable comes back for each notification): seconds until a live
               client's registration is accepted (null: not within 30 s).
Loopback only. Needs nothing but python3.
"""
import argparse
import json
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

CON, NON, ACK, RST = 0, 1, 2, 3


def encode(mtype, code, mid, token=b"", options=(), payload=b""):
    out = bytearray([0x40 | mtype << 4 | len(token), code]) + struct.pack("!H", mid) + token
    last = 0
    for number, value in sorted(options, key=lambda o: o[0]):
        delta, length = number - last, len(value)
        last = number

        def nib(v):
            return (v, b"") if v < 13 else (13, bytes([v - 13])) if v < 269 else (14, struct.pack("!H", v - 269))
        dn, dx = nib(delta)
        ln, lx = nib(length)
        out += bytes([dn << 4 | ln]) + dx + lx + value
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def uri_path(path):
    return [(11, seg.encode()) for seg in path.strip("/").split("/") if seg]


def uint(v):
    return v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""


def code_of(d):
    return (d[1] >> 5, d[1] & 31) if len(d) >= 4 else None


class Server:
    def __init__(self, binary, *args):
        self.err = tempfile.NamedTemporaryFile("w+", delete=False)
        self.proc = subprocess.Popen([binary, "serve", "--port", "0", "--bind", "127.0.0.1", *args],
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        for _ in range(100):
            m = re.search(r"serving on (\d+)", open(self.err.name).read())
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.05)
        raise RuntimeError("serve did not start: " + open(self.err.name).read())

    def cpu_seconds(self):
        f = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def rss_peak_mb(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        os.unlink(self.err.name)


def sock(src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setblocking(False)
    return s


def drain(s, wait=0.0):
    got = []
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        r, _, _ = select.select([s], [], [], max(0.0, left))
        if not r:
            return got
        try:
            got.append(s.recv(65536))
        except (BlockingIOError, ConnectionRefusedError):
            if left <= 0:
                return got


def first_reply(s, timeout, want):
    """The first datagram on `s` whose code is `want`, or None after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], end - time.monotonic())
        if r:
            try:
                d = s.recv(65536)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            if code_of(d) == want:
                return d
    return None


def probe_rate_limit(binary):
    result = {}
    for ports in (1, 10):
        srv = Server(binary, "--rate-limit", "10")
        socks = [sock() for _ in range(ports)]
        answered = 0
        for i in range(100):
            s = socks[i % ports]
            s.sendto(encode(CON, 1, i, struct.pack("!H", i), uri_path("counter")), ("127.0.0.1", srv.port))
            time.sleep(0.01)
        for s in socks:
            answered += sum(1 for d in drain(s, 0.5) if code_of(d) == (2, 5))
        srv.stop()
        result[f"answered_of_100_from_{ports}_ports"] = answered
    return result


def probe_slow_ampl(binary):
    srv = Server(binary, "--echo", "--amplification-limit", "3")
    s = sock()
    sent = received = dgrams_in = dgrams_out = 0
    for i in range(20):
        d = encode(CON, 1, 1000 + i, struct.pack("!I", i), uri_path("slow"))
        s.sendto(d, ("127.0.0.1", srv.port))
        sent += len(d)
        dgrams_out += 1
    end = time.monotonic() + 40
    while time.monotonic() < end:
        for d in drain(s, 1.0):
            received += len(d)
            dgrams_in += 1
    srv.stop()
    return {"bytes_sent": sent, "bytes_received": received, "datagrams_received": dgrams_in,
            "ratio_payload": round(received / sent, 2),
            "ratio_ip": round((received + 28 * dgrams_in) / (sent + 28 * dgrams_out), 2)}


def probe_root_flood(binary):
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.truncate(64 << 20)
        srv = Server(binary, "--root", root)
        cpu0 = srv.cpu_seconds()
        flood, probe = sock(), sock()
        target = ("127.0.0.1", srv.port)
        end, sent, mid, worst, asked, unanswered = time.monotonic() + 5, 0, 0, 0.0, 0, 0
        next_probe = time.monotonic()
        while time.monotonic() < end:
            mid = (mid + 1) & 0xFFFF
            flood.sendto(encode(NON, 1, mid, struct.pack("!I", sent), uri_path("big.bin")), target)
            sent += 1
            drain(flood)
            if time.monotonic() >= next_probe:
                next_probe += 0.2
                asked += 1
                t0 = time.monotonic()
                probe.sendto(encode(CON, 1, asked, b"p" + bytes([asked & 255]), uri_path("counter")), target)
                if first_reply(probe, 3.0, (2, 5)) is not None:
                    worst = max(worst, time.monotonic() - t0)
                else:
                    unanswered += 1
            time.sleep(0.0005)
        cpu = srv.cpu_seconds() - cpu0
        rss = srv.rss_peak_mb()
        srv.stop()
    return {"flood_requests": sent, "cpu_ms_per_request": round(1000 * cpu / max(sent, 1), 3),
            "counter_worst_latency_ms": round(1000 * worst, 1), "counter_unanswered": unanswered,
            "counter_asked": asked, "rss_peak_mb": round(rss, 1)}


def probe_block1_share(binary):
    srv = Server(binary)
    target = ("127.0.0.1", srv.port)
    block = b"u" * 64

    def block1(num, more):
        return uint(num << 4 | more << 3 | 2)  # SZX 2: 64-byte blocks

    def put(s, mid, token, num, more):
        s.sendto(encode(CON, 3, mid, token, uri_path("sink") + [(27, block1(num, more))], block), target)
        return [code_of(d) for d in drain(s, 0.3)]

    victim = sock("127.0.0.2")
    put(victim, 1, b"vv", 0, 1)
    attackers = [sock() for _ in range(16)]
    for i, s in enumerate(attackers):
        put(s, 100 + i, struct.pack("!H", i), 0, 1)
    held = sum(1 for i, s in enumerate(attackers) if (2, 4) in put(s, 200 + i, struct.pack("!H", i), 1, 0))
    codes = put(victim, 2, b"vv", 1, 0)
    srv.stop()
    return {"uploads_held_of_16_from_one_address": held,
            "other_address_upload_ends": "%d.%02d" % codes[0] if codes else "nothing"}


def probe_icmp_observer(binary):
    srv = Server(binary)
    target = ("127.0.0.1", srv.port)
    registered = 0
    for i in range(32):  # a resource's observer slots (max_observers_per_resource)
        s = sock()
        s.sendto(encode(CON, 1, i, b"o" + bytes([i]), [(6, b"")] + uri_path("counter")), target)
        d = first_reply(s, 1.0, (2, 5))
        registered += d is not None and has_observe(d)
        s.close()  # dead: the next notification draws ICMP port unreachable
    start, accepted_after, mid = time.monotonic(), None, 100
    while time.monotonic() - start < 30 and accepted_after is None:
        n = sock()
        mid += 1
        n.sendto(encode(CON, 1, mid, b"live", [(6, b"")] + uri_path("counter")), target)
        d = first_reply(n, 0.5, (2, 5))
        if d is not None and has_observe(d):  # registered: the response carries Observe
            accepted_after = round(time.monotonic() - start, 1)
        n.close()
        time.sleep(0.5)
    srv.stop()
    return {"dead_observers": registered, "live_registration_accepted_after_s": accepted_after}


def has_observe(d):
    tkl = d[0] & 15
    at, number = 4 + tkl, 0
    while at < len(d) and d[at] != 0xFF:
        delta, length = d[at] >> 4, d[at] & 15
        at += 1
        if delta == 13:
            delta, at = d[at] + 13, at + 1
        elif delta == 14:
            delta, at = struct.unpack("!H", d[at:at + 2])[0] + 269, at + 2
        if length == 13:
            length, at = d[at] + 13, at + 1
        elif length == 14:
            length, at = struct.unpack("!H", d[at:at + 2])[0] + 269, at + 2
        number += delta
        if number == 6:
            return True
        at += length
    return False


PROBES = {"rate-limit": probe_rate_limit, "slow-ampl": probe_slow_ampl, "root-flood": probe_root_flood,
          "block1-share": probe_block1_share, "icmp-observer": probe_icmp_observer}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--only", action="append", choices=sorted(PROBES))
    ap.add_argument("--json")
    a = ap.parse_args()
    random.seed(1)
    results = {}
    for name in a.only or PROBES:
        results[name] = PROBES[name](os.path.abspath(a.binary))
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in results[name].items()), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
