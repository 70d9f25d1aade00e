#!/usr/bin/env bash
# Interop in RawPublicKey mode (RFC 7252 §9.1.3.2, RFC 7250) on loopback, through GnuTLS:
# libcoap 4.3.1's coap-client-gnutls -M against `coapbed serve --rpk --pin`, and
# `coapbed get/put/observe coaps:// --rpk --pin` against coap-server-gnutls -M. A capture
# that tshark dissects shows both certificate types negotiated as Raw Public Key and each
# Certificate message holding nothing but the sender's 91-byte SubjectPublicKeyInfo. What
# is refused: an unpinned key (on our side: libcoap's tools accept any raw key), a server
# that has no RFC 7250 (libcoap's OpenSSL build), a raw key without a pin. `coapbed proxy
# --rpk` toward libcoap's and our clients. And the two DTLS stacks of coapbed against each
# other and against libcoap's OpenSSL tools.
set -u
bin="$1"
work="$(mktemp -d)"
peer_pid=""
cap_pid=""
source "$(dirname "$0")/interop_lib.sh"
cleanup() {
    serve_stop
    [[ -n "$peer_pid" ]] && kill "$peer_pid" 2>/dev/null
    [[ -n "$cap_pid" ]] && kill "$cap_pid" 2>/dev/null
    [[ -n "${proxy_pid:-}" ]] && kill "$proxy_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
for tool in coap-client-gnutls coap-server-gnutls coap-client-openssl coap-server-openssl openssl tshark; do
    command -v "$tool" >/dev/null || { echo "interop-rpk: $tool is missing (scripts/install-deps installs it)"; exit 1; }
done

# Key pairs as libcoap's -M wants them: a PUBLIC KEY block, then an EC PRIVATE KEY block.
mkrpk() {
    openssl ecparam -name prime256v1 -genkey -noout -out "$work/$1.key" 2>/dev/null &&
        openssl pkey -in "$work/$1.key" -pubout -out "$work/$1.pub" 2>/dev/null &&
        cat "$work/$1.pub" "$work/$1.key" >"$work/$1-rpk.pem" || { echo "FAIL: openssl key $1"; exit 1; }
}
ni() { "$bin" key-id "$work/$1-rpk.pem" | head -1; }
spki_hex() { openssl pkey -pubin -in "$work/$1.pub" -outform DER | od -An -v -tx1 | tr -d ' \n'; }
mkrpk ours; mkrpk peer; mkrpk other
OURS="$(ni ours)"; PEER="$(ni peer)"; OTHER="$(ni other)"
echo "$OURS $PEER" >"$work/names"
check "coapbed key-id names a libcoap -M key file (PUBLIC KEY + EC PRIVATE KEY)" "$work/names" \
    '[[ "$OURS" =~ ^ni:///sha-256-120\;[A-Za-z0-9_-]{20}$ && "$OURS" != "$PEER" && "$("$bin" key-id "$work/ours.key" | head -1)" == "$OURS" ]]'

# ---- libcoap's GnuTLS client against our raw-key server -------------------------------
serve_start "$work/serve.err" --rpk "$work/ours-rpk.pem" --pin "$PEER"
base="coaps://127.0.0.1:$serve_port"
check "coapbed serve --rpk runs DTLS through GnuTLS" "$work/serve.err" '[[ "$out" == *"DTLS 1.2 through gnutls"* ]]'
libcoap_client_suite RPK "timeout 30 coap-client-gnutls -v 0 -M $work/peer-rpk.pem" "$base"

# The capture: one GET, dissected as DTLS.
tshark -i lo -f "udp port $serve_port" -w "$work/rpk.pcap" -q 2>"$work/tshark.err" &
cap_pid=$!
for _ in $(seq 50); do grep -q "Capturing on" "$work/tshark.err" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
timeout 30 coap-client-gnutls -v 0 -M "$work/peer-rpk.pem" -m get "$base/counter" >/dev/null 2>&1
sleep 0.5
kill -INT "$cap_pid" 2>/dev/null; wait "$cap_pid" 2>/dev/null; cap_pid=""
tshark -r "$work/rpk.pcap" -d "udp.port==$serve_port,dtls" -V >"$work/dissect" 2>&1
tshark -r "$work/rpk.pcap" -d "udp.port==$serve_port,dtls" -T fields -e dtls.handshake.certificate 2>/dev/null |
    grep . >"$work/certs"
python3 - "$work/dissect" >"$work/rfc7250" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# The ServerHello's answer: one type per extension (len=1), Raw Public Key for both.
chosen = re.findall(r"Extension: (client|server)_certificate_type \(len=1\)\n(?:\s+(?:Type|Length): [^\n]*\n)*\s+Certificate Type: ([^\n]+)", text)
print("chosen", sorted(chosen))
print("certificate messages", text.count("Handshake Type: Certificate (11)"))
print("lengths", re.findall(r"Certificate Length: (\d+)", text))
PY
cat "$work/certs" >>"$work/rfc7250"
echo "ours $(spki_hex ours)" >>"$work/rfc7250"
echo "peer $(spki_hex peer)" >>"$work/rfc7250"
check "the capture shows RFC 7250 on the wire: both types Raw Public Key, Certificate = SPKI only (91 bytes)" "$work/rfc7250" \
    '[[ "$out" == *"chosen [('"'"'client'"'"', '"'"'Raw Public Key (0x02)'"'"'), ('"'"'server'"'"', '"'"'Raw Public Key (0x02)'"'"')]"* &&
       "$out" == *"certificate messages 2"* && "$out" == *"lengths ['"'"'91'"'"', '"'"'91'"'"']"* &&
       $(grep -c "^$(spki_hex ours)\$" "$file") -eq 1 && $(grep -c "^$(spki_hex peer)\$" "$file") -eq 1 ]]'

timeout 30 coap-client-gnutls -v 0 -M "$work/other-rpk.pem" -B 3 -m get "$base/large" >"$work/o1" 2>&1
check "libcoap with an unpinned raw key gets nothing from coapbed" "$work/o1" '[[ "$out" != *"large resource"* ]]'
serve_stop

# A server without --pin takes any raw key (as libcoap's tools do) and still sends its own.
serve_start "$work/serve2.err" --rpk "$work/ours-rpk.pem"
timeout 30 coap-client-gnutls -v 0 -M "$work/other-rpk.pem" -m get "coaps://127.0.0.1:$serve_port/counter" >"$work/o2" 2>&1
check "libcoap with any raw key reads /counter from coapbed serve --rpk without --pin" "$work/o2" '[[ "$out" =~ ^[0-9]+ ]]'
serve_stop

# ---- our raw-key client against libcoap's GnuTLS server ---------------------------------
pport="$(free_port)"
coap-server-gnutls -A 127.0.0.1 -p "$pport" -M "$work/peer-rpk.pem" -d 10 -v 6 >"$work/peer.log" 2>&1 &
peer_pid=$!
sleep 0.5
pbase="coaps://127.0.0.1:$((pport + 1))"   # libcoap serves coaps on port + 1
R=(--rpk "$work/ours-rpk.pem" --pin "$PEER")
"$bin" get "$pbase/" "${R[@]}" --timeout 15 >"$work/p1" 2>"$work/p1.err"
cat "$work/p1.err" >>"$work/p1"
check "coapbed --rpk GET / from libcoap, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 with a raw key" "$work/p1" \
    '[[ "$out" == *"This is a test server made with libcoap"* && "$out" == *"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (gnutls, raw public key)"* ]]'
check "libcoap's server saw our raw key" "$work/peer.log" '[[ "$out" == *"'"'"'RPK'"'"' presented by client"* ]]'
head -c 70000 /dev/zero | tr '\0' 'r' >"$work/big"
"$bin" put "$pbase/rpk-big" "${R[@]}" --payload-file "$work/big" --block-size 1024 --timeout 30 >"$work/p2" 2>&1
put_rc=$?
"$bin" get "$pbase/rpk-big" "${R[@]}" --timeout 30 >"$work/p3" 2>/dev/null
check "coapbed --rpk PUT then GET 70000 bytes block-wise with libcoap (rc $put_rc)" "$work/p3" \
    '[[ $put_rc -eq 0 && $(wc -c <"$file") -eq 70000 && "$out" == rrrr* ]]'
"$bin" observe "$pbase/time" "${R[@]}" --count 3 --timeout 20 >"$work/p4" 2>/dev/null
check "coapbed --rpk observes /time on libcoap (>= 3 notifications)" "$work/p4" '[[ $(grep -c ":" "$file") -ge 4 ]]'
start=$SECONDS
"$bin" get "$pbase/" --rpk "$work/ours-rpk.pem" --pin "$OTHER" --timeout 30 >"$work/p5" 2>&1; rc=$?
echo "rc $rc after $((SECONDS - start)) s" >>"$work/p5"
check "coapbed refuses libcoap's unpinned raw key: exit 4 at once, naming the key" "$work/p5" \
    '[[ "$out" == *"rc 4 after "[0-5]" s"* && "$out" == *"$PEER is not pinned"* && "$out" != *"test server"* ]]'
"$bin" get "$pbase/" --rpk "$work/ours-rpk.pem" --timeout 3 >"$work/p6" 2>&1; rc=$?
echo "rc $rc" >>"$work/p6"
check "coapbed --rpk without --pin: exit 2 and why" "$work/p6" '[[ "$out" == *"rc 2"* && "$out" == *"--pin"* ]]'
"$bin" get "$pbase/" --rpk "$work/ours-rpk.pem" --pin "$PEER" --dtls openssl --timeout 3 >"$work/p7" 2>&1; rc=$?
echo "rc $rc" >>"$work/p7"
check "coapbed --rpk --dtls openssl: refused, OpenSSL 3.0 has no RFC 7250" "$work/p7" '[[ "$out" == *"rc 4"* && "$out" == *"RFC 7250"* ]]'
kill "$peer_pid" 2>/dev/null; wait "$peer_pid" 2>/dev/null; peer_pid=""

# A server without RFC 7250 (libcoap's OpenSSL build, a self-signed certificate of the
# pinned key): no silent fallback to X.509.
openssl req -x509 -new -key "$work/peer.key" -subj "/CN=no-rfc7250" -days 2 -out "$work/peer-cert.pem" >/dev/null 2>&1
pport="$(free_port)"
coap-server-openssl -A 127.0.0.1 -p "$pport" -c "$work/peer-cert.pem" -j "$work/peer.key" -d 10 -v 0 >"$work/opeer.log" 2>&1 &
peer_pid=$!
sleep 0.5
start=$SECONDS
"$bin" get "coaps://127.0.0.1:$((pport + 1))/" "${R[@]}" --timeout 30 >"$work/x1" 2>&1; rc=$?
echo "rc $rc after $((SECONDS - start)) s" >>"$work/x1"
check "coapbed --rpk refuses a certificate server (no RFC 7250) at once, even with the pinned key" "$work/x1" \
    '[[ "$out" == *"rc 4 after "[0-5]" s"* && "$out" != *"test server"* ]]'
"$bin" get "coaps://127.0.0.1:$((pport + 1))/" --pin "$PEER" --dtls gnutls --timeout 15 >"$work/x2" 2>&1
check "coapbed --dtls gnutls (certificates, pinned) GET / from libcoap's OpenSSL server" "$work/x2" \
    '[[ "$out" == *"test server made with libcoap"* && "$out" == *"(gnutls, certificate)"* ]]'
kill "$peer_pid" 2>/dev/null; wait "$peer_pid" 2>/dev/null; peer_pid=""

# ---- coapbed proxy with a raw key toward its clients (coaps), NoSec toward the origin ---
serve_start "$work/origin.err"
origin="coap://127.0.0.1:$serve_port"
xport="$(free_port)"
"$bin" proxy --port "$xport" --bind 127.0.0.1 --rpk "$work/ours-rpk.pem" --pin "$PEER" >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
for _ in $(seq 50); do grep -q "proxying on" "$work/proxy.err" 2>/dev/null && break; sleep 0.1; done
timeout 30 coap-client-gnutls -v 0 -M "$work/peer-rpk.pem" -P "coaps://127.0.0.1:$xport" "$origin/large" >"$work/x3" 2>&1
check "libcoap -M through coapbed proxy --rpk (coaps to the proxy): 70000 bytes from the origin" "$work/x3" \
    '[[ $(wc -c <"$file") -ge 70000 && "$out" == *"line 02057"* ]]'
"$bin" get "$origin/large" --proxy "coaps://127.0.0.1:$xport" --rpk "$work/peer-rpk.pem" --pin "$OURS" --timeout 20 \
    >"$work/x4" 2>"$work/x4.err"; rc=$?
echo "rc $rc $(wc -c <"$work/x4") $(cat "$work/x4.err")" >"$work/x4s"
check "coapbed --proxy coaps:// --rpk through coapbed proxy --rpk" "$work/x4s" '[[ "$out" == "rc 0 70000"*"raw public key"* ]]'
"$bin" get "$origin/large" --proxy "coaps://127.0.0.1:$xport" --rpk "$work/other-rpk.pem" --pin "$OURS" --timeout 20 \
    >/dev/null 2>"$work/x5"; echo "rc $?" >>"$work/x5"
check "coapbed proxy --rpk refuses a client key it has not pinned" "$work/x5" '[[ "$out" == *"rc 4"* ]]'
kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null
serve_stop

# ---- the two stacks of coapbed against each other, and GnuTLS against libcoap's OpenSSL ---
ID=coapbed-interop
KEY=interop-secret-key
for server_stack in openssl gnutls; do
    serve_start "$work/ps-$server_stack.err" --dtls "$server_stack" --psk-identity "$ID" --psk-key "$KEY"
    for client_stack in openssl gnutls; do
        "$bin" get "coaps://127.0.0.1:$serve_port/large" --dtls "$client_stack" --psk-identity "$ID" --psk-key "$KEY" \
            --timeout 20 >"$work/m-$client_stack" 2>&1
        check "PSK: coapbed client ($client_stack) GET /large from coapbed serve ($server_stack)" "$work/m-$client_stack" \
            '[[ "$out" == *"line 02057"* && "$out" == *"CCM"*"8 ($client_stack"* ]]'
    done
    if [[ "$server_stack" == gnutls ]]; then
        timeout 30 coap-client-openssl -v 0 -u "$ID" -k "$KEY" -m get "coaps://127.0.0.1:$serve_port/large" >"$work/m-lc" 2>&1
        check "PSK: libcoap's OpenSSL client GET /large from coapbed serve (gnutls)" "$work/m-lc" '[[ "$out" == *"line 02057"* ]]'
    fi
    serve_stop
done
openssl req -x509 -new -key "$work/ours.key" -subj "/CN=coapbed" -days 2 -out "$work/ours-cert.pem" >/dev/null 2>&1
for server_stack in openssl gnutls; do
    serve_start "$work/cs-$server_stack.err" --dtls "$server_stack" --cert "$work/ours-cert.pem" --key "$work/ours.key"
    for client_stack in openssl gnutls; do
        "$bin" get "coaps://127.0.0.1:$serve_port/counter" --dtls "$client_stack" --pin "$OURS" --timeout 20 >"$work/n-$client_stack" 2>&1
        check "certificates: coapbed client ($client_stack) pins coapbed serve ($server_stack)" "$work/n-$client_stack" \
            '[[ "$out" == *"ECDHE"*"ECDSA"*"CCM"*"8 ($client_stack, certificate)"* ]]'
    done
    serve_stop
done
exit $fail
