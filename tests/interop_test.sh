#!/usr/bin/env bash
# Interop on loopback (NoSec): libcoap 4.3's coap-client against `coapbed serve`, and
# `coapbed get/put/observe` against libcoap's coap-server. Every check compares content;
# on failure it prints the peer's output. Both peers run on ephemeral ports and are
# stopped at the end.
set -u
bin="$1"
work="$(mktemp -d)"
peer_pid=""
source "$(dirname "$0")/interop_lib.sh"
cleanup() {
    serve_stop
    [[ -n "$peer_pid" ]] && kill "$peer_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
if ! command -v coap-client-notls >/dev/null || ! command -v coap-server-notls >/dev/null; then
    echo "interop: libcoap3-bin is not installed (scripts/install-deps installs it)"; exit 1
fi

# ---- libcoap's client against our server ------------------------------------------
serve_start "$work/serve.err"
base="coap://127.0.0.1:$serve_port"
C="timeout 20 coap-client-notls -v 0"

libcoap_client_suite NoSec "$C" "$base"

# ---- a defended server (RFC 9175 Echo, rate limit): both clients still get /large ------
serve_stop
serve_start "$work/dserve.err" --echo --rate-limit 500
dport="$serve_port"
"$bin" get "coap://127.0.0.1:$dport/large" --timeout 20 >"$work/d1" 2>&1
check "coapbed GET /large from a coapbed serve --echo (4.01 + Echo, then the body)" "$work/d1" \
    '[[ $(wc -c <"$file") -eq 70000 && "$out" == *"line 02057"* ]]'
$C -m get "coap://127.0.0.1:$dport/large" >"$work/d2" 2>&1
check "libcoap GET /large from coapbed serve --echo" "$work/d2" \
    '[[ $(wc -c <"$file") -ge 70000 && "$out" == *"line 02057"* ]]'
serve_stop

# ---- our client against libcoap's server --------------------------------------------
pport="$(free_port)"
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
# RFC 7959 §2.6: a resource larger than a block, observed: each notification's first block
# comes with Observe, the client fetches the rest; every body arrives whole.
for c in a b c; do head -c 3000 /dev/zero | tr '\0' "$c" >"$work/obs-$c"; done
"$bin" put "$pbase/coapbed-obs" --payload-file "$work/obs-a" --block-size 1024 --timeout 10 >/dev/null 2>&1
"$bin" observe "$pbase/coapbed-obs" --count 2 --timeout 30 >"$work/p10" 2>&1 &
obs_pid=$!
for _ in $(seq 100); do [[ -s "$work/p10" ]] && break; sleep 0.1; done  # registered: the first body is out
"$bin" put "$pbase/coapbed-obs" --payload-file "$work/obs-b" --block-size 1024 --timeout 10 >/dev/null 2>&1
sleep 0.5
"$bin" put "$pbase/coapbed-obs" --payload-file "$work/obs-c" --block-size 1024 --timeout 10 >/dev/null 2>&1
wait "$obs_pid"; echo "rc $?" >>"$work/p10"
check "coapbed observes a 3000-byte resource on libcoap (notifications fetched block-wise, whole)" "$work/p10" \
    '[[ "$(sed -n 1p "$file")" == "$(cat "$work/obs-a")" && "$(sed -n 2p "$file")" == "$(cat "$work/obs-b")" && "$(sed -n 3p "$file")" == "$(cat "$work/obs-c")" && "$(sed -n 4p "$file")" == "rc 0" ]]'
"$bin" get "$pbase/async?delay=1" --timeout 10 >"$work/p9" 2>&1
check "coapbed GET /async (separate response) from libcoap" "$work/p9" '[[ -n "$out" && "$out" != *"failed"* ]]'
exit $fail
