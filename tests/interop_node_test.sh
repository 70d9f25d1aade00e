#!/usr/bin/env bash
# Interop with node-coap (npm "coap" 1.5.0), an independent implementation: its client
# against `coapbed serve` and `coapbed get/observe` against its server, on loopback.
# Installs the npm package into tests/interop_node/node_modules on first use.
set -u
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)/interop_node"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [[ ! -d "$here/node_modules/coap" ]]; then
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) || {
        echo "FAIL: npm install coap"; cat "$work/npm.log"; exit 1; }
fi
source "$(dirname "$0")/interop_lib.sh"  # whole_bodies
fail=0
check() {
    local name="$1" file="$2" cond="$3" out
    out="$(cat "$file")"
    if eval "$cond"; then echo "ok   $name"; else
        echo "FAIL $name"; echo "---- output:"; head -c 1500 "$file"; echo; echo "----"; fail=1; fi
}
"$bin" serve --port 0 --bind 127.0.0.1 2>"$work/serve.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "serving on" "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
port="$(sed -n 's/coapbed: serving on //p' "$work/serve.err")"
N="timeout 30 node $here/peer.js"
$N get "coap://127.0.0.1:$port/.well-known/core" >"$work/n1" 2>&1
check "node-coap GET /.well-known/core from coapbed" "$work/n1" '[[ "$out" == *"</counter>;obs"* ]]'
$N get "coap://127.0.0.1:$port/large" >"$work/n2" 2>&1
check "node-coap GET /large (block-wise) from coapbed" "$work/n2" \
    '[[ $(wc -c <"$file") -eq 70000 && "$out" == "coapbed large resource line 00000"* && "$out" == *"line 02057"* ]]'
$N observe "coap://127.0.0.1:$port/counter" 3 >"$work/n3" 2>&1
check "node-coap observes /counter on coapbed (3 notifications)" "$work/n3" \
    '[[ $(grep -cE "^[0-9]+$" "$file") -ge 4 ]] && sort -n -c "$file" 2>/dev/null'
# node-coap repeats Observe 0 in the GETs for a notification's other blocks and takes the
# freshness from the last one: the server puts the sequence number there too.
$N observe "coap://127.0.0.1:$port/counter?pad=3400" 3 >"$work/n4" 2>&1
check "node-coap observes /counter?pad=3400 on coapbed (block-wise notifications, each whole)" "$work/n4" \
    'whole_bodies "$file" 4'

node "$here/peer.js" serve 2>"$work/node.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "serving on" "$work/node.err" 2>/dev/null && break; sleep 0.1; done
nport="$(sed -n 's/node-coap: serving on //p' "$work/node.err")"
[[ -n "$nport" ]] || { echo "FAIL: node-coap server did not start"; cat "$work/node.err"; exit 1; }
"$bin" get "coap://127.0.0.1:$nport/hello" --timeout 10 >"$work/c1" 2>&1
check "coapbed GET /hello from node-coap" "$work/c1" '[[ "$out" == "hello from node-coap" ]]'
"$bin" get "coap://127.0.0.1:$nport/large" --timeout 20 >"$work/c2" 2>&1
check "coapbed GET /large (block-wise) from node-coap" "$work/c2" \
    '[[ $(wc -c <"$file") -eq 70000 && "$out" == "node-coap large line 00000"* ]]'
"$bin" observe "coap://127.0.0.1:$nport/counter" --count 3 --timeout 15 >"$work/c3" 2>&1
check "coapbed observes /counter on node-coap (3 notifications)" "$work/c3" \
    '[[ $(grep -cE "^[0-9]+$" "$file") -ge 4 ]] && sort -n -c "$file" 2>/dev/null'
exit $fail
