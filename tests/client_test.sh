#!/usr/bin/env bash
# `coapbed get|observe` as a user sees it, against a scripted server on loopback
# (tests/scripted_peer.py) and `coapbed serve`: a response with a critical option the
# client does not implement, `observe --count N` under a burst of notifications, an
# observation the server ends with an error, observers that went away (ICMP), and a host
# name with several addresses
# (localhost as a stock Debian 12 resolves it: ::1 first, then 127.0.0.1), each with
# the hosts file in a private mount namespace so that the machine's own does not matter.
set -u
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
peer_pid=""
source "$here/interop_lib.sh"
cleanup() {
    serve_stop
    [[ -n "$peer_pid" ]] && kill "$peer_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

peer_start() {  # mode [bind]
    rm -f "$work/port"
    python3 "$here/scripted_peer.py" "$1" --port-file "$work/port" --log "$work/peer-$1.log" \
        --bind "${2:-127.0.0.1}" --lifetime 20 &
    peer_pid=$!
    for _ in $(seq 50); do [[ -s "$work/port" ]] && break; sleep 0.1; done
    peer_port="$(cat "$work/port")"
}
peer_stop() { kill "$peer_pid" 2>/dev/null; wait "$peer_pid" 2>/dev/null; peer_pid=""; }

# ---- RFC 7252 §5.4.1: OSCORE in a response is not accepted as the answer ------------------
peer_start oscore
"$bin" get "coap://127.0.0.1:$peer_port/x" --timeout 5 >"$work/o.out" 2>"$work/o.err"; rc=$?
echo "rc=$rc stdout=$(cat "$work/o.out") stderr=$(cat "$work/o.err")" >"$work/o"
check "a response carrying OSCORE is rejected: exit 4, the reason on stderr, nothing on stdout" "$work/o" \
    '[[ $rc -eq 4 && ! -s "$work/o.out" && "$out" == *"response-rejected"* && "$out" == *"critical option"* ]]'
peer_stop

# ---- observe --count N stops at 1 + N lines under a burst ---------------------------------
peer_start burst
"$bin" observe "coap://127.0.0.1:$peer_port/x" --count 5 --timeout 10 >"$work/b.out" 2>"$work/b.err"; rc=$?
echo "rc=$rc lines=$(grep -c . "$work/b.out")" >"$work/b"
check "observe --count 5 prints the response and 5 notifications, not the whole burst of 30" "$work/b" \
    '[[ "$out" == "rc=0 lines=6" ]]'
peer_stop

# ---- an observation the server ends: exit 3, said why, no deregistration -----------------
peer_start end-error
start=$(date +%s%N)
"$bin" observe "coap://127.0.0.1:$peer_port/x" --timeout 10 >"$work/e.out" 2>"$work/e.err"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
sleep 0.3
requests=$(grep -c "^CON 0.01\|^NON 0.01" "$work/peer-end-error.log")
echo "rc=$rc ms=$ms requests=$requests stderr=$(cat "$work/e.err")" >"$work/e"
check "an observation ended with 4.04: exit 3 at once, the reason on stderr, no GET to deregister" "$work/e" \
    '[[ $rc -eq 3 && $ms -lt 1500 && $requests -eq 1 && "$out" == *"ended the observation: 4.04"* ]]'
peer_stop

# ---- observers that went away: ICMP port unreachable frees their slots -----------------------
# 32 clients (the per-resource limit) register on /counter and close their sockets; the
# next notifications come back as ICMP port unreachable, and a live client gets in.
serve_start "$work/serve-obs.err"
python3 - "$serve_port" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
for k in range(32):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    token = struct.pack("!I", 0x1000 + k)
    s.sendto(bytes([0x44, 0x01]) + struct.pack("!H", k) + token + bytes([0x60, 0x57]) + b"counter", ("127.0.0.1", port))
    s.recvfrom(2048)
    s.close()
PY
sleep 1.5
"$bin" observe "coap://127.0.0.1:$serve_port/counter" --count 2 --timeout 10 >"$work/dead.out" 2>"$work/dead.err"; rc=$?
echo "rc=$rc lines=$(grep -c . "$work/dead.out")" >"$work/dead"
check "32 observers gone (ICMP port unreachable): a live client observes /counter" "$work/dead" \
    '[[ "$out" == "rc=0 lines=3" ]]'
serve_stop

# ---- a host name with several addresses ----------------------------------------------------
# With a hosts file that lists ::1 before 127.0.0.1 (stock Debian 12), a server on
# 127.0.0.1 alone is still reached by name; and the other way round.
if [[ $(id -u) -ne 0 ]] || ! unshare -m true 2>/dev/null; then
    echo "FAIL: the localhost checks need root and unshare -m (CI runs as root)"; exit 1
fi
by_name() {  # hosts-file-text, URI -> runs coapbed get with that hosts file
    printf "$1" >"$work/hosts"
    unshare -m bash -c 'mount --bind "$1" /etc/hosts && exec "$2" get "$3" --timeout 10' _ \
        "$work/hosts" "$bin" "$2"
}
serve_start "$work/serve4.err"  # binds 127.0.0.1
by_name '::1 localhost\n127.0.0.1 localhost\n' "coap://localhost:$serve_port/counter" \
    >"$work/l1.out" 2>"$work/l1.err"; rc=$?
echo "rc=$rc stdout=$(cat "$work/l1.out") stderr=$(cat "$work/l1.err")" >"$work/l1"
check "localhost = ::1 then 127.0.0.1, server on 127.0.0.1: answered, and the address said" "$work/l1" \
    '[[ $rc -eq 0 && "$out" =~ stdout=[0-9]+ && "$out" == *"answered by 127.0.0.1"* ]]'
by_name '127.0.0.1 localhost\n' "coap://localhost:$serve_port/counter" >"$work/l2.out" 2>"$work/l2.err"; rc=$?
echo "rc=$rc stdout=$(cat "$work/l2.out")" >"$work/l2"
check "localhost = 127.0.0.1 only: answered" "$work/l2" '[[ $rc -eq 0 && "$out" =~ stdout=[0-9]+ ]]'
serve_stop
"$bin" serve --port 0 --bind ::1 2>"$work/serve6.err" &
serve_pid=$!
for _ in $(seq 50); do grep -q "serving on" "$work/serve6.err" 2>/dev/null && break; sleep 0.1; done
p6="$(sed -n 's/coapbed: serving on //p' "$work/serve6.err")"
by_name '127.0.0.1 localhost\n::1 localhost\n' "coap://localhost:$p6/counter" >"$work/l3.out" 2>"$work/l3.err"; rc=$?
echo "rc=$rc stdout=$(cat "$work/l3.out") stderr=$(cat "$work/l3.err")" >"$work/l3"
check "localhost = 127.0.0.1 and ::1, server on ::1 alone: answered by ::1" "$work/l3" \
    '[[ $rc -eq 0 && "$out" =~ stdout=[0-9]+ && "$out" == *"answered by ::1"* ]]'
exit $fail
