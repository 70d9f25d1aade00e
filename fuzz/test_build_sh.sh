#!/usr/bin/env bash
# Runs fuzz/build.sh with the variables OSS-Fuzz sets for an ASan + libFuzzer build,
# then runs every built harness over its seed corpus zip's contents for a few inputs.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export CC=clang CXX=clang++
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
export OUT="$out"
bash "$here/fuzz/build.sh"
for bin in "$out"/*; do
  [[ -x "$bin" && ! "$bin" == *.zip && ! "$bin" == *.dict ]] || continue
  h="$(basename "$bin")"
  [[ -f "$out/${h}_seed_corpus.zip" ]] || { echo "missing ${h}_seed_corpus.zip"; exit 1; }
  seeds="$out/seeds-$h"
  mkdir -p "$seeds" && (cd "$seeds" && python3 -m zipfile -e "$out/${h}_seed_corpus.zip" .)
  "$bin" -runs=2000 -dict="$out/$h.dict" "$seeds" >/dev/null 2>"$out/$h.log" || { cat "$out/$h.log"; exit 1; }
  echo "ok   $h (OSS-Fuzz style build, seeds + 2000 runs)"
done
