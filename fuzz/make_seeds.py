#!/usr/bin/env python3
"""Writes the hand-made seed corpora into corpus/<harness>/ (deterministic).

Seeds cover every message type, every registered option at its length bounds,
extended deltas and lengths at 12/13/14 and 268/269/270, payload markers, the
RFC 7252 §6.3 URI examples, IPv6 literals and percent-encodings. `fuzz/run` adds
what the fuzzers find (merged with -merge=1, so the corpora stay minimal).
"""
import os
import random
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")

# (number, min, max) of every registered option (registry.cc)
OPTIONS = [(1, 0, 8), (3, 1, 255), (4, 1, 8), (5, 0, 0), (6, 0, 3), (7, 0, 2), (8, 0, 255), (9, 0, 255),
           (11, 0, 255), (12, 0, 2), (14, 0, 4), (15, 0, 255), (16, 1, 1), (17, 0, 2), (19, 0, 3),
           (20, 0, 255), (21, 0, 0), (23, 0, 3), (27, 0, 3), (28, 0, 4), (31, 0, 3), (35, 1, 1034),
           (39, 1, 255), (60, 0, 4), (252, 1, 40), (258, 0, 1), (292, 0, 8), (2049, 2, 2), (2053, 2, 2)]


def ext(v):
    if v < 13:
        return v, b""
    if v < 269:
        return 13, bytes([v - 13])
    return 14, struct.pack(">H", v - 269)


def message(mtype=0, code=0x01, mid=0x1234, token=b"", options=(), payload=b""):
    out = bytes([0x40 | (mtype << 4) | len(token), code]) + struct.pack(">H", mid) + token
    prev = 0
    for number, value in sorted(options, key=lambda o: o[0]):
        dn, dx = ext(number - prev)
        ln, lx = ext(len(value))
        out += bytes([(dn << 4) | ln]) + dx + lx + value
        prev = number
    if payload:
        out += b"\xff" + payload
    return out


def write(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def messages():
    seeds = {}
    for t in range(4):
        seeds["type%d-get" % t] = message(t, 0x01, token=b"\x01\x02")
    seeds["empty-ack"] = message(2, 0x00)
    seeds["empty-rst"] = message(3, 0x00)
    seeds["ping"] = message(0, 0x00)
    seeds["content"] = message(2, 0x45, token=b"\xbe\xef", options=[(12, b"\x32")], payload=b'{"t":22.5}')
    seeds["notification"] = message(1, 0x45, token=b"\xaa" * 8, options=[(6, b"\x01\x02\x03"), (12, b"\x00")],
                                    payload=b"22.5")
    seeds["block-request"] = message(0, 0x02, token=b"\x01\x02\x03\x04", options=[
        (11, b"upload"), (27, b"\x00\x01\x0e"), (60, b"\x00\x10\x00\x00"), (292, b"\x07")], payload=b"x" * 1024)
    seeds["block2-response"] = message(2, 0x45, token=b"\x01", options=[(23, b"\x1e"), (28, b"\x01\x00\x00")],
                                       payload=b"y" * 1024)
    seeds["well-known-core"] = message(0, 0x01, token=b"\x0a\x0b", options=[(11, b".well-known"), (11, b"core")])
    seeds["unknown-critical"] = message(0, 0x01, options=[(9999, b"\x01"), (65001, b"")])
    for number, lo, hi in OPTIONS:
        for n in sorted({lo, hi, max(lo - 1, 0), hi + 1}):
            seeds["opt%d-len%d" % (number, n)] = message(0, 0x01, token=b"\x01", options=[(number, b"\x61" * n)])
    for v in (12, 13, 14, 268, 269, 270, 65535):
        seeds["delta%d" % v] = message(1, 0x02, options=[(v, b"")])
        seeds["length%d" % v] = message(1, 0x02, options=[(1, b"\x5a" * v)][:1] if v <= 1100 else [])
    seeds["payload-marker-only"] = message(0, 0x01) + b"\xff"
    seeds["reserved-delta"] = message(0, 0x01) + b"\xf0"
    seeds["reserved-length"] = message(0, 0x01) + b"\x0f"
    seeds["token-length-9"] = bytes([0x49, 0x01, 0, 1]) + b"\x00" * 9
    seeds["short"] = b"\x40\x01"
    return seeds


URIS = [
    "coap://example.com:5683/~sensors/temp.xml", "coap://EXAMPLE.com/%7Esensors/temp.xml",
    "coap://EXAMPLE.com:/%7esensors/temp.xml", "coaps://[2001:db8::1]:61616/a//b/?x=1&y",
    "coap://[::ffff:192.0.2.1]/", "coap://192.0.2.1/.well-known/core?rt=temp", "coap://h/a/./b/../c",
    "coap://h/%2e/%2E%2e", "coap://Ex%41mple/%00%ff?%26=%3d", "coap://h:65535", "coap://h:65536/",
    "coap://h/x#frag", "http://h/", "coap:///x", "coap://u@h/", "coap://[fe80::1%25eth0]/",
    "coap://h/" + "a" * 255, "coap://h/" + "/a" * 70, "coap://h/" + "%41" * 300,
]


def proxy_requests():
    """Proxy requests: every seed URI as Proxy-Uri, Proxy-Scheme forms, key options."""
    seeds = {}
    for i, u in enumerate(URIS):
        seeds["proxy-uri%02d" % i] = message(0, 0x01, token=b"\x01", options=[(35, u.encode())])
    seeds["scheme-host-path"] = message(0, 0x01, options=[(39, b"coap"), (3, b"Example.org"), (7, b"\x16\x34"),
                                                          (11, b"a"), (11, b"b"), (15, b"x=1")])
    seeds["scheme-only"] = message(0, 0x01, options=[(39, b"coaps"), (11, b"x")])
    seeds["fetch-accept-etag"] = message(0, 0x05, options=[(4, b"e1"), (17, b"\x32"), (35, b"coap://h/q")],
                                         payload=b"{}")
    seeds["uri-and-proxy-uri"] = message(1, 0x01, options=[(11, b"local"), (16, b"\x05"), (35, b"coap://[2001:DB8::1]/t")])
    return seeds


def main():
    rnd = random.Random(20261128)
    for name, data in messages().items():
        for harness in ("message_parse", "message_roundtrip", "differential_libcoap"):
            write(harness, name, data)
    # option_decode: type, code, mid, count, then (number, length, value) records.
    for i in range(24):
        data = bytes([rnd.randrange(4), rnd.choice([1, 2, 0x45, 0x84]), 0, i, rnd.randrange(1, 12)])
        for _ in range(data[4]):
            data += struct.pack(">H", rnd.randrange(0, 0x10000)) + bytes([rnd.randrange(0, 12)]) + bytes(
                rnd.randrange(256) for _ in range(12))
        write("option_decode", "seed%02d" % i, data)
    for i, u in enumerate(URIS):
        write("uri_parse", "uri%02d" % i, u.encode())
    for name, data in proxy_requests().items():
        write("proxy_key", name, data)
    # Stateful harnesses: random scripts of several lengths.
    for harness in ("endpoint", "blockwise", "proxy"):
        for i in range(12):
            write(harness, "script%02d" % i, bytes(rnd.randrange(256) for _ in range(16 << (i % 6))))
    os.makedirs(os.path.join(ROOT, "crashes"), exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
