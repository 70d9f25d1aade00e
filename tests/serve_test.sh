#!/usr/bin/env bash
# `coapbed serve --root DIR` against what a hostile tree or client can do: symlinks out
# of the root are not followed (listed nor served), symlink loops do not hang startup,
# links inside the root still work, and a Uri-Path segment holding "/" (sent as %2F)
# does not reach a nested file (RFC 7252 §6.4/§6.5).
set -u
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
source "$here/interop_lib.sh"
cleanup() { serve_stop; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

root="$work/www"
mkdir -p "$root/sub" "$work/outside"
echo "inner" >"$root/sub/inner.txt"
echo "top" >"$root/top.txt"
echo "secret" >"$work/outside/secret.txt"
ln -s "$work/outside" "$root/escape"          # a directory out of the root
ln -s "$work/outside/secret.txt" "$root/leak.txt"  # a file out of the root
ln -s ../top.txt "$root/sub/alias.txt"       # a file inside the root: fine
ln -s .. "$root/sub/up"                       # loops back into the root
mkdir -p "$root/loop"; ln -s "$root/loop2" "$root/loop/a"; ln -s "$root/loop" "$root/loop2"  # a loop of two

# A root of nothing but a directory loop: the walk must end without any file to count.
mkdir -p "$work/loops/d"; ln -s .. "$work/loops/d/up"; ln -s d "$work/loops/e"
timeout 10 "$bin" serve --port 0 --bind 127.0.0.1 --root "$work/loops" 2>"$work/loops.err" &
lpid=$!
for _ in $(seq 50); do grep -q "serving on" "$work/loops.err" 2>/dev/null && break; sleep 0.1; done
grep -c "serving on" "$work/loops.err" >"$work/loops.started"; kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
check "startup with a root that is only a symlink loop ends" "$work/loops.started" '[[ "$out" == "1" ]]'

start=$(date +%s)
serve_start "$work/serve.err" --root "$root"
echo "$(( $(date +%s) - start ))" >"$work/startup"
check "startup with symlink loops beside files ends (seconds)" "$work/startup" '[[ "$out" -lt 5 ]]'
base="coap://127.0.0.1:$serve_port"
"$bin" get "$base/.well-known/core" --timeout 5 >"$work/core" 2>&1
check "/.well-known/core lists the files inside the root and nothing outside" "$work/core" \
    '[[ "$out" == *"</top.txt>"* && "$out" == *"</sub/inner.txt>"* && "$out" == *"</sub/alias.txt>"* && "$out" != *secret* && "$out" != *leak* && "$out" != *escape* ]]'
"$bin" get "$base/leak.txt" --timeout 5 >"$work/leak" 2>&1; echo "rc=$?" >>"$work/leak"
check "a symlink to a file outside the root is not served (4.04)" "$work/leak" '[[ "$out" != *secret* && "$out" == *"rc=3"* ]]'
"$bin" get "$base/escape/secret.txt" --timeout 5 >"$work/esc" 2>&1; echo "rc=$?" >>"$work/esc"
check "a symlink to a directory outside the root is not followed (4.04)" "$work/esc" '[[ "$out" != *secret* && "$out" == *"rc=3"* ]]'
"$bin" get "$base/sub/alias.txt" --timeout 5 >"$work/alias" 2>&1
check "a symlink inside the root is served" "$work/alias" '[[ "$out" == "top" ]]'
# A file that becomes a link out of the root after startup is not served either.
rm "$root/top.txt"; ln -s "$work/outside/secret.txt" "$root/top.txt"
"$bin" get "$base/top.txt" --timeout 5 >"$work/swap" 2>&1; echo "rc=$?" >>"$work/swap"
check "a file swapped for a link out of the root after startup is not served" "$work/swap" '[[ "$out" != *secret* && "$out" == *"rc=3"* ]]'
"$bin" get "$base/sub%2Finner.txt" --timeout 5 >"$work/slash" 2>&1; echo "rc=$?" >>"$work/slash"
"$bin" get "$base/sub/inner.txt" --timeout 5 >"$work/two" 2>&1
check "one segment 'sub/inner.txt' is 4.04, two segments serve the file" "$work/slash" \
    '[[ "$out" == *"4.04"* && "$out" == *"rc=3"* && "$(cat "$work/two")" == "inner" ]]'
# A GET flood on a 64 MiB file: each request reads one block (not the file), memory
# stays flat and a legitimate client is still answered at once. Bounded: 3000 requests
# in about 3 s, loopback only.
head -c 70000 /dev/urandom >"$root/mid.bin"
truncate -s 64M "$root/big.bin"
serve_stop
serve_start "$work/serve2.err" --root "$root"
base="coap://127.0.0.1:$serve_port"
"$bin" get "$base/mid.bin" --timeout 10 >"$work/mid" 2>&1
cmp -s "$work/mid" "$root/mid.bin" && echo same >"$work/mid.cmp" || echo "differs ($(wc -c <"$work/mid") bytes)" >"$work/mid.cmp"
check "a 70000-byte file served block by block equals the file" "$work/mid.cmp" '[[ "$out" == same ]]'
python3 - "$serve_port" >"$work/flood.log" 2>&1 <<'PY' &
import socket, struct, sys, time, random
port = int(sys.argv[1]); random.seed(3)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.setblocking(False)
sent, end = 0, time.monotonic() + 3
while sent < 3000 and time.monotonic() < end:
    num = random.randrange(0, 65536)  # 64 MiB in 1024-byte blocks
    block = (num << 4) | 6
    opt = bytes([0xb7]) + b"big.bin" + bytes([0xc3]) + block.to_bytes(3, "big")
    s.sendto(bytes([0x44, 0x01]) + struct.pack("!H", sent & 0xffff) + b"\x01\x02\x03\x04" + opt, ("127.0.0.1", port))
    sent += 1
    try:
        while True: s.recvfrom(2048)
    except BlockingIOError:
        pass
    time.sleep(0.001)
print("sent", sent)
PY
flood=$!
hwm0=$(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status")
sleep 0.5
start=$(date +%s%N)
"$bin" get "$base/counter" --timeout 10 >"$work/legit" 2>&1; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$flood"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status")
echo "rc=$rc ms=$ms growth_kb=$((hwm - hwm0)) $(cat "$work/flood.log")" >"$work/flood"
# Reading the whole file for a request would grow the server by 64 MiB at least, and
# left /counter unanswered for 10 s. The bound on the answer time is loose on purpose:
# under ASan on a busy 2-core machine it came after 3.3 s.
check "during a GET flood on a 64 MiB file /counter is answered (within 8 s) and the server grows by less than 32 MiB" \
    "$work/flood" '[[ "$out" =~ rc=0\ ms=([0-9]+)\ growth_kb=(-?[0-9]+) && ${BASH_REMATCH[1]} -lt 8000 && ${BASH_REMATCH[2]} -lt 32768 ]]'
exit $fail
