#!/usr/bin/env bash
# `coapbed serve` over DTLS (PSK) under floods from fresh source ports, on loopback
# (RFC 6347 §4.2.1: no per-client state before a ClientHello returns a valid cookie;
# unverified traffic never displaces an established session):
#  - two observations (ours and libcoap's) set up before the floods go on through them;
#  - 10,000 ports each send a ClientHello without a cookie and 40 bytes of junk: every
#    ClientHello gets a HelloVerifyRequest, and three new clients complete their
#    handshakes while the flood runs;
#  - 2,000 ports complete the cookie exchange (state the server must now keep): the
#    handshakes they start are bounded apart and the observations still go on.
set -u
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
source "$here/interop_lib.sh"
obs_pid=""; lc_pid=""; flood_pid=""
cleanup() {
    for p in $obs_pid $lc_pid $flood_pid; do kill "$p" 2>/dev/null; done
    serve_stop; wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
ID=flood-test
KEY=flood-test-key
serve_start "$work/serve.err" --psk-identity "$ID" --psk-key "$KEY"
base="coaps://127.0.0.1:$serve_port"

# Observations of /counter (one notification a second), set up before any flood.
"$bin" observe "$base/counter" --psk-identity "$ID" --psk-key "$KEY" --count 14 --timeout 60 >"$work/obs" 2>"$work/obs.err" &
obs_pid=$!
if command -v coap-client-openssl >/dev/null; then
    timeout 60 coap-client-openssl -v 0 -u "$ID" -k "$KEY" -s 17 "$base/counter" >"$work/lc" 2>&1 &
    lc_pid=$!
fi
sleep 3

# Flood 1: ClientHellos without cookies and junk, from 10,000 ports (and more until the
# three handshakes below are done).
rm -f "$work/stop"
python3 "$here/dtls_flood.py" 127.0.0.1 "$serve_port" --ports 10000 --rate 2500 --until "$work/stop" \
    --progress "$work/progress" >"$work/flood1" 2>&1 &
flood_pid=$!
for _ in $(seq 100); do [[ -s "$work/progress" ]] && break; sleep 0.05; done
: >"$work/during"
for i in 1 2 3; do
    "$bin" get "$base/counter" --psk-identity "$ID" --psk-key "$KEY" --timeout 10 >>"$work/during" 2>&1
    echo " rc=$? flood_running=$(kill -0 "$flood_pid" 2>/dev/null && echo yes || echo no)" >>"$work/during"
done
touch "$work/stop"
wait "$flood_pid"; flood_pid=""
check "three handshakes complete while a ClientHello flood runs" "$work/during" \
    '[[ $(grep -c "rc=0 flood_running=yes" "$file") -eq 3 ]]'
check "cookie-less ClientHellos from 10,000+ ports got HelloVerifyRequests (>= 99 %; loopback may drop a few)" "$work/flood1" \
    '[[ "$out" =~ ports\ ([0-9]+)\ hello_verify_requests\ ([0-9]+) && ${BASH_REMATCH[1]} -ge 10000 && ${BASH_REMATCH[2]} -ge $(( BASH_REMATCH[1] * 99 / 100 )) ]]'

# Flood 2: 2,000 ports that complete the cookie exchange, each leaving a handshake open.
python3 "$here/dtls_flood.py" 127.0.0.1 "$serve_port" --ports 2000 --mode cookie >"$work/flood2" 2>&1
check "cookie-verified ClientHellos start handshakes (ServerHellos came back)" "$work/flood2" \
    '[[ "$out" =~ server_hellos\ ([0-9]+) && ${BASH_REMATCH[1]} -ge 1000 ]]'
"$bin" get "$base/counter" --psk-identity "$ID" --psk-key "$KEY" --timeout 10 >"$work/after" 2>&1; echo "rc=$?" >>"$work/after"
check "a new client completes its handshake after both floods" "$work/after" '[[ "$out" == *"rc=0"* ]]'

# The observations went on through both floods: 14 notifications after the first
# response (ours), 14 or more consecutive values (libcoap's, over 17 s).
wait "$obs_pid"; echo "rc=$?" >>"$work/obs"; obs_pid=""
cat "$work/obs.err" >>"$work/obs"
check "our DTLS observation goes on through the floods (14 notifications)" "$work/obs" \
    '[[ "$out" == *"rc=0"* && $(grep -cE "^[0-9]+$" "$file") -ge 15 ]]'
if [[ -n "$lc_pid" ]]; then
    wait "$lc_pid"; lc_pid=""
    python3 - "$work/lc" >"$work/lc.run" <<'PY'
import sys
s = open(sys.argv[1]).read().strip()
best = 0
for start in range(1, min(len(s), 6) + 1):
    n, i, seen = int(s[:start]) if s[:start].isdigit() else -1, 0, 0
    while n >= 0 and i < len(s) and s.startswith(str(n), i):
        i += len(str(n)); n += 1; seen += 1
    if i == len(s): best = max(best, seen)
print(best)
PY
    check "libcoap's DTLS observation goes on through the floods (>= 14 consecutive values)" "$work/lc.run" \
        '[[ "$out" -ge 14 ]]'
else
    echo "skip libcoap observation: coap-client-openssl is not installed"
fi
serve_stop
exit "$fail"
