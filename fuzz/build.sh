#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script. Honours $CC $CXX $CFLAGS $CXXFLAGS
# $LIB_FUZZING_ENGINE $OUT (and $SRC/coapbed when run inside the OSS-Fuzz image, else
# the checkout this script lives in). Writes, for every harness H:
#   $OUT/H, $OUT/H_seed_corpus.zip, $OUT/H.dict
# differential_libcoap and proxy_uri are built only where pkg-config finds libcoap-3.
here="$(cd "$(dirname "$0")/.." && pwd)"
src="${SRC:-}"
if [[ -n "$src" && -d "$src/coapbed" ]]; then here="$src/coapbed"; fi
: "${CXX:?}" "${CXXFLAGS:=}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

objects=()
for f in "$here"/src/coap/*/*.cc; do
  o="$work/$(basename "$(dirname "$f")")_$(basename "${f%.cc}").o"
  $CXX $CXXFLAGS -std=c++17 -I"$here/src" -c "$f" -o "$o"
  objects+=("$o")
done
ar rcs "$work/libcoapbed_engine.a" "${objects[@]}"

harnesses=(message_parse option_decode uri_parse message_roundtrip endpoint blockwise proxy_key proxy)
libcoap_flags=""
if pkg-config --exists libcoap-3-notls 2>/dev/null; then
  harnesses+=(differential_libcoap proxy_uri)
  libcoap_flags="$(pkg-config --cflags --libs libcoap-3-notls)"
fi
for h in "${harnesses[@]}"; do
  extra=""
  [[ "$h" == differential_libcoap || "$h" == proxy_uri ]] && extra="$libcoap_flags"
  # shellcheck disable=SC2086
  $CXX $CXXFLAGS -std=c++17 -I"$here/src" "$here/fuzz/$h.cc" "$work/libcoapbed_engine.a" \
      $LIB_FUZZING_ENGINE $extra -o "$OUT/$h"
  (cd "$here/corpus/$h" && python3 -m zipfile -c "$OUT/${h}_seed_corpus.zip" .)
  [[ -f "$here/corpus/$h.dict" ]] && cp "$here/corpus/$h.dict" "$OUT/$h.dict"
done
echo "fuzz/build.sh: built ${harnesses[*]} into $OUT"
