# Shared by the interop scripts (source it after setting $bin and $work): content
# checks that print the peer's output on failure, free loopback ports, and starting
# and stopping `coapbed serve` on an ephemeral port.
fail=0
serve_pid=""
serve_port=""

check() {  # name, output file, condition (bash expression over $out)
    local name="$1" file="$2" cond="$3"
    out="$(cat "$file")"
    if eval "$cond"; then
        echo "ok   $name"
    else
        echo "FAIL $name"; echo "---- output:"; head -c 2000 "$file"; echo; echo "----"; fail=1
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

serve_start() {  # error file, then `coapbed serve` arguments; sets serve_pid and serve_port
    local errfile="$1"; shift
    "$bin" serve --port 0 --bind 127.0.0.1 "$@" 2>"$errfile" &
    serve_pid=$!
    for _ in $(seq 50); do grep -q "serving on" "$errfile" 2>/dev/null && break; sleep 0.1; done
    serve_port="$(sed -n 's/coapbed: serving on //p' "$errfile")"
    [[ -n "$serve_port" ]] || { echo "FAIL: coapbed serve $* did not start"; cat "$errfile"; exit 1; }
}

serve_stop() {
    if [[ -n "$serve_pid" ]]; then kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; fi
    serve_pid=""
}

# coap-client prints notification payloads back to back: they must read as consecutive
# counter values (at least four of them).
consecutive() {
    python3 - "$1" <<'PY'
import sys
s = open(sys.argv[1]).read().strip()
for start in range(1, min(len(s), 6) + 1):
    n, i, seen = int(s[:start]), 0, 0
    while i < len(s) and s.startswith(str(n), i):
        i += len(str(n)); n += 1; seen += 1
    if i == len(s) and seen >= 4:
        sys.exit(0)
sys.exit(1)
PY
}

# Bodies of /counter?pad=3400 (200 lines "counter 00000042" each), printed one after the
# other: at least $2 of them, each whole (200 lines of one value: no blocks of two
# states), the values increasing.
whole_bodies() {
    python3 - "$1" "$2" <<'PY'
import re, sys
values = re.findall(r'^counter (\d{8})$', open(sys.argv[1]).read(), re.M)
runs = []
for v in values:
    if runs and runs[-1][0] == v:
        runs[-1][1] += 1
    else:
        runs.append([v, 1])
ok = len(runs) >= int(sys.argv[2]) and all(n == 200 for _, n in runs)
ok = ok and all(int(a[0]) < int(b[0]) for a, b in zip(runs, runs[1:]))
sys.exit(0 if ok else 1)
PY
}

# libcoap's coap-client (the command in $2, with its security flags) against our server
# at base URI $3: GET, block-wise GET of 70000 bytes, POST, DELETE, Block1 PUT, observe,
# a separate response. $1 labels the checks (e.g. "PSK").
libcoap_client_suite() {
    local label="$1" C="$2" base="$3" tag="hello-$RANDOM"
    $C -m get "$base/.well-known/core" >"$work/lc1" 2>&1
    check "libcoap $label GET /.well-known/core from coapbed" "$work/lc1" '[[ "$out" == *"</large>"* && "$out" == *"</counter>;obs"* ]]'
    $C -m get "$base/large" >"$work/lc2" 2>&1
    check "libcoap $label GET /large (block-wise, 70000 bytes) from coapbed" "$work/lc2" \
        '[[ $(wc -c <"$file") -ge 70000 && "$out" == "coapbed large resource line 00000"* && "$out" == *"line 02057"* ]]'
    $C -m post -e "$tag" "$base/echo" >"$work/lc3" 2>&1
    check "libcoap $label POST /echo to coapbed" "$work/lc3" '[[ "$out" == *"$tag"* ]]'
    $C -m delete "$base/echo" >/dev/null 2>&1
    $C -m get "$base/echo" >"$work/lc4" 2>&1
    check "libcoap $label DELETE /echo on coapbed (then empty)" "$work/lc4" '[[ "$out" != *"$tag"* ]]'
    head -c 3000 /dev/zero | tr '\0' 'u' >"$work/upload"
    $C -m put -b 256 -f "$work/upload" "$base/sink" >/dev/null 2>&1
    $C -m get "$base/sink" >"$work/lc5" 2>&1
    check "libcoap $label PUT 3000 bytes block-wise (Block1) to coapbed" "$work/lc5" '[[ "$out" == *"3000"* ]]'
    $C -s 4 "$base/counter" >"$work/lc6" 2>&1
    check "libcoap $label observes /counter on coapbed (>= 3 notifications)" "$work/lc6" 'consecutive "$file"'
    $C -s 5 "$base/counter?pad=3400" >"$work/lc8" 2>&1
    check "libcoap $label observes /counter?pad=3400 on coapbed (block-wise notifications, each whole)" "$work/lc8" \
        'whole_bodies "$file" 3'
    $C -m get "$base/slow" >"$work/lc7" 2>&1
    check "libcoap $label GET /slow (separate response) from coapbed" "$work/lc7" '[[ "$out" == *"separate response"* ]]'
}
