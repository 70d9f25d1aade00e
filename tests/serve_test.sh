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
exit $fail
