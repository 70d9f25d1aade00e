#!/usr/bin/env python3
"""A scripted CoAP server for the client tests (loopback only, bounded in time).

  scripted_peer.py MODE --port-file FILE --log FILE [--bind ADDR] [--lifetime S]

Binds ADDR (default 127.0.0.1) on an ephemeral port, writes the port to FILE, answers
as MODE says, logs one line per datagram received ("CON 0.01 mid=.. observe=.."), and
exits after --lifetime seconds (default 15). Modes:
  oscore     every CON request: a piggybacked 2.05 that carries an OSCORE option (9)
  burst      a registration (GET, Observe 0): 2.05 Observe 1, then 30 NON notifications
             at once (Observe 2..31); anything else: 2.05 without Observe
  end-error  a registration: 2.05 Observe 1, then 0.2 s later a NON 4.04 (the server
             ends the observation, RFC 7641 section 3.2)
"""
import argparse
import socket
import struct
import time


def parse(d):
    """(type, code, mid, token, {number: [values]}) or None."""
    if len(d) < 4 or d[0] >> 6 != 1:
        return None
    t, tkl = (d[0] >> 4) & 3, d[0] & 15
    code, mid = d[1], struct.unpack("!H", d[2:4])[0]
    token, i, number, opts = d[4:4 + tkl], 4 + tkl, 0, {}
    while i < len(d) and d[i] != 0xFF:
        delta, length = d[i] >> 4, d[i] & 15
        i += 1
        ext = {13: (1, 13), 14: (2, 269)}
        if delta in ext:
            n, base = ext[delta]
            delta, i = int.from_bytes(d[i:i + n], "big") + base, i + n
        if length in ext:
            n, base = ext[length]
            length, i = int.from_bytes(d[i:i + n], "big") + base, i + n
        number += delta
        opts.setdefault(number, []).append(d[i:i + length])
        i += length
    return t, code, mid, token, opts


def encode_uint(v):
    return b"" if v == 0 else v.to_bytes((v.bit_length() + 7) // 8, "big")


def build(t, code, mid, token, options=(), payload=b""):
    out = bytes([0x40 | (t << 4) | len(token), code]) + struct.pack("!H", mid) + token
    last = 0
    for number, value in sorted(options, key=lambda o: o[0]):
        delta, length = number - last, len(value)
        last = number

        def nib(x):
            return (x, b"") if x < 13 else (13, bytes([x - 13])) if x < 269 else (14, struct.pack("!H", x - 269))
        dn, dx = nib(delta)
        ln, lx = nib(length)
        out += bytes([(dn << 4) | ln]) + dx + lx + value
    if payload:
        out += b"\xff" + payload
    return out


CON, NON, ACK, RST = 0, 1, 2, 3
CONTENT, NOT_FOUND = 0x45, 0x84
OBSERVE, OSCORE = 6, 9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["oscore", "burst", "end-error"])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--lifetime", type=float, default=15)
    a = ap.parse_args()
    family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((a.bind, 0))
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    log = open(a.log, "w", buffering=1)
    end = time.monotonic() + a.lifetime
    mid = 0x7000
    pending = []  # (when, datagram, address)
    while time.monotonic() < end:
        now = time.monotonic()
        for item in [p for p in pending if p[0] <= now]:
            s.sendto(item[1], item[2])
            pending.remove(item)
        s.settimeout(0.05)
        try:
            d, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        m = parse(d)
        if m is None:
            continue
        t, code, rmid, token, opts = m
        obs = opts.get(OBSERVE, [None])[0]
        log.write("%s %d.%02d mid=%d observe=%s\n" % (["CON", "NON", "ACK", "RST"][t], code >> 5, code & 31, rmid,
                                                     "-" if obs is None else int.from_bytes(obs, "big")))
        if t not in (CON, NON) or code == 0:
            continue
        reply_t, reply_mid = (ACK, rmid) if t == CON else (NON, mid)
        if a.mode == "oscore":
            s.sendto(build(reply_t, CONTENT, reply_mid, token, [(OSCORE, b"\x09\x01")], b"protected"), addr)
            continue
        if obs is None or int.from_bytes(obs, "big") != 0:
            s.sendto(build(reply_t, CONTENT, reply_mid, token, [], b"plain"), addr)
            continue
        s.sendto(build(reply_t, CONTENT, reply_mid, token, [(OBSERVE, encode_uint(1))], b"0"), addr)
        if a.mode == "burst":
            for k in range(2, 32):
                mid += 1
                s.sendto(build(NON, CONTENT, mid, token, [(OBSERVE, encode_uint(k))], str(k).encode()), addr)
        else:
            mid += 1
            pending.append((now + 0.2, build(NON, NOT_FOUND, mid, token, [], b"gone"), addr))


if __name__ == "__main__":
    main()
