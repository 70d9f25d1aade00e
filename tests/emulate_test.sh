#!/usr/bin/env bash
# emulate.smoke: `coapbed emulate` with real programs (coapbed's and libcoap's client and
# server) in network namespaces, through a real-time ns-3 dumbbell. Checks the wire
# figures against the scenario's delay and rate, RFC 7252 retransmission timing under
# loss, that an over-lagged run is marked invalid, and that namespaces, TAPs and processes
# are gone after a normal end, Ctrl-C and a killed emulator. Needs root and /dev/net/tun
# (CI has both); exit 77 (skipped) elsewhere.
set -euo pipefail
coapbed="$1"
src="$2"
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
  echo "SKIP: needs root, /dev/net/tun and ip"; exit 77
fi
command -v coap-server-notls >/dev/null || { echo "FAIL: libcoap3-bin (coap-server-notls) is missing"; exit 1; }
work="$(mktemp -d)"
cleanup() {
  rm -rf "$work"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
taps_before=$(ip tuntap list | wc -l)
leftovers() {
  # Namespaces, TAPs and programs of this test's emulators (other tests' are not ours).
  local ns
  [ "$(ip tuntap list | wc -l)" = "$taps_before" ] || fail "$1: a TAP appeared outside the namespaces"
  ns=$(ip netns list | grep -c '^coapbed-emu-' || true)
  [ "$ns" = 0 ] || fail "$1: namespaces left: $(ip netns list | grep coapbed-emu- | tr '\n' ' ')"
  ! pgrep -f "$work" >/dev/null || fail "$1: programs left: $(pgrep -af "$work")"
}

# Until a client command of this test runs (at most 10 s).
wait_for_client() {
  for _ in $(seq 1 100); do
    pgrep -f "coap-client-notls.*$work" >/dev/null && return
    sleep 0.1
  done
}

# --- 1. coapbed and libcoap pairs, no loss: the wire RTT is the computed one -------------
cat > "$work/pairs.toml" <<TOML
name = "emu-pairs"
seeds = [1]
duration = "30s"
[topology]
rate = "1Mbps"
delay = "50ms"
queue = 50
access_rate = "10Mbps"
access_delay = "1ms"
[emulation]
program = ["coapbed", "libcoap"]
server.coapbed = "{coapbed} serve --bind {addr} --root $work"
server.libcoap = "coap-server-notls -A {addr} # $work"
client.coapbed = "{coapbed} get coap://{server}/.well-known/core # $work"
client.libcoap = "coap-client-notls -m get coap://{server}/.well-known/core # $work"
repeat = 6
interval = "100ms"
lag_limit = "50ms"
TOML
"$coapbed" emulate "$work/pairs.toml" --out "$work/pairs" --pcap > "$work/pairs.out" 2>&1 \
  || { cat "$work/pairs.out"; cat "$work"/pairs/logs/*.log; fail "emulate (pairs) exited $?"; }
leftovers "after a normal run"
python3 - "$work/pairs" <<'PY'
import json, sys, glob, statistics
d = sys.argv[1]
for prog in ("coapbed", "libcoap"):
    doc = json.load(open(f"{d}/runs/program-{prog}_seed-1.json"))
    m, e = doc["metrics"], doc["emulation"]
    assert m["run_valid"] == 1, (prog, e.get("invalid_reason"))
    assert m["commands_started"] == 6 and m["commands_failed"] == 0, (prog, e["commands"])
    assert m["exchanges_started"] == 6 and m["exchanges_completed"] == 6, (prog, m)
    assert m["retransmissions"] == 0, (prog, m)
    # RTT without retransmission: both directions cross the access link (10 Mbit/s, 1 ms),
    # the bottleneck (1 Mbit/s, 50 ms) and the far access link; a frame on a point-to-point
    # link is the IP packet (20 + 8 + CoAP bytes) plus 2 bytes of PPP.
    err = []
    for x in e["exchanges"]:
        wire = lambda n: 8 * (n + 30)
        expected = 2 * (0.001 + 0.050 + 0.001) + sum(wire(n) / 10e6 * 2 + wire(n) / 1e6
                                                      for n in (x["request_bytes"], x["response_bytes"]))
        err.append(x["completion_s"] - expected)
    # The first exchange waits for ARP at the edge nodes; the others are within a few ms.
    later = err[1:]
    print(f"{prog}: measured - computed RTT (ms): " + " ".join(f"{v*1000:.2f}" for v in err))
    assert all(-0.0005 <= v <= 0.004 for v in later), (prog, later)
    assert statistics.median(later) <= 0.002, (prog, later)
    assert glob.glob(f"{d}/pcap/program-{prog}_seed-1-client0*.pcap"), "no client pcap"
    assert glob.glob(f"{d}/pcap/program-{prog}_seed-1-server*.pcap"), "no server pcap"
print("rows:", open(f"{d}/runs.csv").read().count("\n") - 1)
PY
head -1 "$work/pairs/runs.csv" | grep -q ',rt_lag_p99_ms,rt_lag_max_ms,run_valid,commands_started,commands_failed' \
  || fail "runs.csv lacks the emulation columns"
# Resume and collect work as for `coapbed run`: nothing is emulated again, the merge is the same.
"$coapbed" emulate "$work/pairs.toml" --out "$work/pairs" > "$work/resume.out" 2>&1 || fail "resume exited $?"
grep -q "2 of 2 runs already in" "$work/resume.out" || fail "resume ran again: $(cat "$work/resume.out")"
cp "$work/pairs/runs.csv" "$work/pairs.csv"
"$coapbed" collect "$work/pairs" --scenario "$work/pairs.toml" > /dev/null 2>&1 || fail "collect exited $?"
cmp -s "$work/pairs.csv" "$work/pairs/runs.csv" || fail "collect's runs.csv differs from emulate's"
[ "$("$coapbed" emulate "$work/pairs.toml" --list | wc -l)" = 2 ] || fail "--list does not give one line per run"
if command -v tshark >/dev/null; then
  n=$(tshark -r "$work"/pairs/pcap/program-libcoap_seed-1-client0*.pcap -Y coap 2>/dev/null | wc -l)
  [ "$n" -ge 12 ] || fail "tshark sees $n CoAP frames in the client pcap (expected >= 12)"
fi

# --- 2. loss: copies on the wire follow RFC 7252's timer (ACK_TIMEOUT x [1, 1.5]) -------
cat > "$work/loss.toml" <<TOML
name = "emu-loss"
seeds = [3]
duration = "45s"
[topology]
rate = "250kbps"
delay = "20ms"
loss = 0.25
[emulation]
server = "{coapbed} serve --bind {addr} # $work"
client = "{coapbed} get coap://{server}/.well-known/core --timeout 8 # $work"
repeat = 12
interval = "50ms"
lag_limit = "50ms"
TOML
"$coapbed" emulate "$work/loss.toml" --out "$work/loss" > "$work/loss.out" 2>&1 \
  || { cat "$work/loss.out"; fail "emulate (loss) exited $?"; }
leftovers "after the loss run"
python3 - "$work/loss" <<'PY'
import json, sys
doc = json.load(open(f"{sys.argv[1]}/runs/seed-3.json"))
m, e = doc["metrics"], doc["emulation"]
assert m["run_valid"] == 1, e.get("invalid_reason")
assert m["retransmissions"] >= 1, m
assert m["rx_drops"] >= 1, m
one = [x for x in e["exchanges"] if x["retransmissions"] == 1 and x["completion_s"] is not None]
zero = [x["completion_s"] for x in e["exchanges"] if x["retransmissions"] == 0 and x["completion_s"] is not None]
rtt = min(zero) if zero else 0.045
for x in one:
    # One copy more: the answer came one RTT after the first timeout, 2 to 3 s in.
    assert 2.0 + rtt - 0.002 <= x["completion_s"] <= 3.0 + rtt + 0.05, x
print(f"loss: {m['exchanges_completed']}/{m['exchanges_started']} completed, {m['retransmissions']} copies, "
      f"{len(one)} exchanges with one copy: " + " ".join(f"{x['completion_s']:.3f}" for x in one))
PY

# --- 3. a lag limit the run cannot meet (0): the run is marked invalid, exit 1 -----------
sed -e 's/lag_limit = "50ms"/lag_limit = 0/' -e 's/repeat = 6/repeat = 1/' -e 's/program = \[.*\]/program = "coapbed"/' \
  "$work/pairs.toml" > "$work/strict.toml"
set +e
"$coapbed" emulate "$work/strict.toml" --out "$work/strict" > "$work/strict.out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$work/strict.out"; fail "an invalid run exited $rc, not 1"; }
grep -q "invalid" "$work/strict.out" || fail "no word of the invalid run"
python3 - "$work/strict" <<'PY'
import csv, json, sys
m = json.load(open(f"{sys.argv[1]}/runs/seed-1.json"))["metrics"]
assert m["run_valid"] == 0, m["run_valid"]
rows = list(csv.DictReader(open(f"{sys.argv[1]}/runs.csv")))
assert len(rows) == 1 and rows[0]["run_valid"] == "0", rows
PY
leftovers "after an invalid run"

# --- 3b. a server command that dies at once: the run still ends, says so, cleans up ------
cat > "$work/crash.toml" <<TOML
name = "emu-crash"
seeds = [1]
duration = "20s"
[emulation]
server = "echo dying; kill -SEGV \$\$ # $work"
client = "{coapbed} get coap://{server}/x --timeout 1 # $work"
repeat = 2
interval = "10ms"
lag_limit = "50ms"
TOML
"$coapbed" emulate "$work/crash.toml" --out "$work/crash" > "$work/crash.out" 2>&1 \
  || { cat "$work/crash.out"; fail "emulate (crashing server) exited $?"; }
python3 - "$work/crash" <<'PY'
import json, sys
d = json.load(open(f"{sys.argv[1]}/runs/seed-1.json"))
m, e = d["metrics"], d["emulation"]
assert e["server_ended_early"] is True, e
assert e["commands"][0]["exit_status"] == 128 + 11, e["commands"][0]
assert m["commands_started"] == 2 and m["commands_failed"] == 2, m
assert m["exchanges_started"] >= 2 and m["exchanges_completed"] == 0, m
PY
grep -q "dying" "$work"/crash/logs/seed-1-server.log || fail "the server's output is not in its log"
leftovers "after a crashing server"

# --- 4. Ctrl-C in the middle: exit 130, no result, nothing left ------------------------
sed -e 's/repeat = 6/repeat = 1000/' -e 's/program = \[.*\]/program = "libcoap"/' "$work/pairs.toml" > "$work/long.toml"
"$coapbed" emulate "$work/long.toml" --out "$work/long" > "$work/long.out" 2>&1 &
pid=$!
wait_for_client
pgrep -f "coap-server-notls.*$work" >/dev/null || fail "the emulated server never started"
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" = 130 ] || { cat "$work/long.out"; fail "Ctrl-C exited $rc, not 130"; }
[ ! -e "$work/long/runs/program-libcoap_seed-1.json" ] || fail "an interrupted run left a result"
leftovers "after Ctrl-C"

# --- 5. a killed emulator: the next run removes its namespaces and programs ------------
"$coapbed" emulate "$work/long.toml" --out "$work/killed" --only seed-1 > /dev/null 2>&1 &
pid=$!
wait_for_client
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
ip netns list | grep -q "^coapbed-emu-$pid-" || fail "a killed emulator left no namespace to clean (test broken)"
"$coapbed" emulate "$work/strict.toml" --out "$work/strict2" > /dev/null 2>&1 || true
ip netns list | grep -q "^coapbed-emu-$pid-" && fail "the stale namespaces of a killed emulator were not removed"
sleep 0.2
leftovers "after a killed emulator and the next run"

# --- 6. without root: a clear error, nothing made ---------------------------------------
chmod 755 "$work"
chmod 644 "$work/strict.toml"
set +e
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$coapbed" emulate "$work/strict.toml" --out "$work/nobody" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "without root: exit $rc, not 1 ($out)"
echo "$out" | grep -q "needs root" || fail "without root: '$out'"
echo "emulate.smoke: OK"
