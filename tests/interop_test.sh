#!/usr/bin/env bash
# Interop on loopback (NoSec): libcoap 4.3's coap-client against `coapbed serve`, and
# `coapbed get/put/observe` against libcoap's coap-server. Every check compares content;
# on failure it prints the peer's output. Both peers run on ephemeral ports and are
# stopped at the end.
set -u
bin="$1"
work="$(mktemp -d)"
server_pid=""
peer_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null
    [[ -n "$peer_pid" ]] && kill "$peer_pid" 2>/dev/null
    [[ -n "${dserver_pid:-}" ]] && kill "$dserver_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
if ! command -v coap-client-notls >/dev/null || ! command -v coap-server-notls >/dev/null; then
    echo "interop: libcoap3-bin is not installed (scripts/install-deps installs it)"; exit 1
fi
fail=0
check() {  # name, command output file, condition (bash expression over $out)
    local name="$1" file="$2" cond="$3"
    local out
    out="$(cat "$file")"
    if eval "$cond"; then
        echo "ok   $name"
    else
        echo "FAIL $name"; echo "---- output:"; head -c 2000 "$file"; echo; echo "----"; fail=1
    fi
}

# ---- libcoap's client against our server ------------------------------------------
"$bin" serve --port 0 --bind 127.0.0.1 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 50); do grep -q "serving on" "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
port="$(sed -n 's/coapbed: serving on //p' "$work/serve.err")"
[[ -n "$port" ]] || { echo "FAIL: coapbed serve did not start"; cat "$work/serve.err"; exit 1; }
base="coap://127.0.0.1:$port"
C="timeout 20 coap-client-notls -v 0"

$C -m get "$base/.well-known/core" >"$work/o1" 2>&1
check "libcoap GET /.well-known/core from coapbed" "$work/o1" '[[ "$out" == *"</large>"* && "$out" == *"</counter>;obs"* ]]'
$C -m get "$base/large" >"$work/o2" 2>&1
check "libcoap GET /large (block-wise, 70000 bytes) from coapbed" "$work/o2" \
    '[[ $(wc -c <"$file") -ge 70000 && "$out" == "coapbed large resource line 00000"* && "$out" == *"line 02057"* ]]'
$C -m post -e "interop-hello" "$base/echo" >"$work/o3" 2>&1
check "libcoap POST /echo to coapbed" "$work/o3" '[[ "$out" == *"interop-hello"* ]]'
$C -m delete "$base/echo" >/dev/null 2>&1
$C -m get "$base/echo" >"$work/o3b" 2>&1
check "libcoap DELETE /echo on coapbed (then empty)" "$work/o3b" '[[ "$out" != *"interop-hello"* ]]'
head -c 3000 /dev/zero | tr '\0' 'u' >"$work/upload"
$C -m put -b 256 -f "$work/upload" "$base/sink" >"$work/o4" 2>&1
$C -m get "$base/sink" >"$work/o4b" 2>&1
check "libcoap PUT 3000 bytes block-wise (Block1) to coapbed" "$work/o4b" '[[ "$out" == *"3000"* ]]'
$C -s 4 "$base/counter" >"$work/o5" 2>&1
# coap-client prints the payloads back to back: they must read as consecutive counter values.
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
check "libcoap observes /counter on coapbed (>= 3 notifications)" "$work/o5" 'consecutive "$file"'
$C -m get "$base/slow" >"$work/o6" 2>&1
check "libcoap GET /slow (separate response) from coapbed" "$work/o6" '[[ "$out" == *"separate response"* ]]'

# ---- a defended server (RFC 9175 Echo, rate limit): both clients still get /large ------
"$bin" serve --port 0 --bind 127.0.0.1 --echo --rate-limit 500 2>"$work/dserve.err" &
dserver_pid=$!
for _ in $(seq 50); do grep -q "serving on" "$work/dserve.err" 2>/dev/null && break; sleep 0.1; done
dport="$(sed -n 's/coapbed: serving on //p' "$work/dserve.err")"
"$bin" get "coap://127.0.0.1:$dport/large" --timeout 20 >"$work/d1" 2>&1
check "coapbed GET /large from a coapbed serve --echo (4.01 + Echo, then the body)" "$work/d1" \
    '[[ $(wc -c <"$file") -eq 70000 && "$out" == *"line 02057"* ]]'
$C -m get "coap://127.0.0.1:$dport/large" >"$work/d2" 2>&1
check "libcoap GET /large from coapbed serve --echo" "$work/d2" \
    '[[ $(wc -c <"$file") -ge 70000 && "$out" == *"line 02057"* ]]'
kill "$dserver_pid" 2>/dev/null; wait "$dserver_pid" 2>/dev/null

# ---- our client against libcoap's server --------------------------------------------
pport="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
coap-server-notls -A 127.0.0.1 -p "$pport" -d 10 -v 0 >"$work/peer.log" 2>&1 &
peer_pid=$!
sleep 0.5
pbase="coap://127.0.0.1:$pport"
"$bin" get "$pbase/" --timeout 10 >"$work/p1" 2>&1
check "coapbed GET / from libcoap" "$work/p1" '[[ "$out" == *"This is a test server made with libcoap"* ]]'
head -c 70000 /dev/zero | tr '\0' 'k' >"$work/big"
"$bin" put "$pbase/coapbed-big" --payload-file "$work/big" --block-size 1024 --timeout 20 >"$work/p2" 2>&1
put_rc=$?
"$bin" get "$pbase/coapbed-big" --timeout 20 >"$work/p3" 2>&1
check "coapbed PUT then GET 70000 bytes block-wise with libcoap (rc $put_rc)" "$work/p3" \
    '[[ $put_rc -eq 0 && $(wc -c <"$file") -eq 70000 && "$out" == kkkk* ]]'
"$bin" post "$pbase/example_data" --payload "posted" --timeout 10 >"$work/p4" 2>&1; post_rc=$?
"$bin" put "$pbase/example_data" --payload "coapbed-was-here" --content-format 0 --timeout 10 >"$work/p4" 2>&1
"$bin" get "$pbase/example_data" --timeout 10 >"$work/p5" 2>&1
check "coapbed PUT/GET /example_data on libcoap (POST rc $post_rc)" "$work/p5" '[[ "$out" == *"coapbed-was-here"* ]]'
"$bin" delete "$pbase/coapbed-big" --timeout 10 >"$work/p6" 2>&1; del_rc=$?
"$bin" get "$pbase/coapbed-big" --timeout 10 >"$work/p7" 2>&1; gone_rc=$?
echo "$del_rc $gone_rc" >"$work/p7b"
check "coapbed DELETE on libcoap (then 4.04)" "$work/p7b" '[[ "$out" == "0 3" ]]'
"$bin" observe "$pbase/time" --count 3 --timeout 15 >"$work/p8" 2>&1
check "coapbed observes /time on libcoap (>= 3 notifications)" "$work/p8" '[[ $(grep -c ":" "$file") -ge 4 ]]'
"$bin" get "$pbase/async?delay=1" --timeout 10 >"$work/p9" 2>&1
check "coapbed GET /async (separate response) from libcoap" "$work/p9" '[[ -n "$out" && "$out" != *"failed"* ]]'
exit $fail
