#!/usr/bin/env bash
# coapbed report as a person sees it: the fixture report's index.html, opened from disk
# in headless Chromium (Debian's chromium, which scripts/install-deps installs) and
# screenshotted. The picture must show every plot the page inlines, each with its frame
# (the top and bottom axes gnuplot draws in black), the plots' lines and bars in their
# colours, and the whole page inside the window (nothing cut off at the bottom).
set -euo pipefail
bin="$1"
src="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
command -v chromium >/dev/null || { echo "FAIL: chromium is not installed (bash scripts/install-deps)"; exit 1; }
"$bin" report "$src/tests/fixtures/report" --out "$out/report" >/dev/null
# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$out/profile" \
  --window-size=1000,30000 --screenshot="$out/shot.png" "file://$out/report/index.html" >"$out/chromium.log" 2>&1 ||
  { cat "$out/chromium.log"; echo "FAIL: chromium did not render the report"; exit 1; }
# Debian's python3 (with python3-pil), whatever python3 comes first on PATH.
/usr/bin/python3 - "$out/shot.png" "$out/report/index.html" <<'PY'
import sys
from PIL import Image
shot, page = sys.argv[1], open(sys.argv[2]).read()
def need(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
im = Image.open(shot).convert("RGB")
W, H = im.size
need((W, H) == (1000, 30000), "screenshot is 1000x30000, got %dx%d" % (W, H))
plots = page.count("<svg")
# Plot frames: rows holding a dark run at least 300 px long; rows next to each other are one line.
dark = im.convert("L").point(lambda v: 1 if v < 90 else 0).tobytes()
lines = []
for y in range(H):
    if b"\x01" * 300 in dark[y * W:(y + 1) * W]:
        if lines and y - lines[-1][1] <= 2:
            lines[-1][1] = y
        else:
            lines.append([y, y])
need(len(lines) == 2 * plots, "%d plots drawn with a frame each: %d frame lines, want %d" % (plots, len(lines), 2 * plots))
heights = [lines[i + 1][0] - lines[i][1] for i in range(0, len(lines), 2)]
need(all(h >= 200 for h in heights), "every plot at least 200 px high: %s" % heights)
colours = {}
for c in im.getdata():
    colours[c] = colours.get(c, 0) + 1
# gnuplot's first two line colours (purple, green) and the speed-up bars (#3060a0 filled at 60 %).
for name, rgb, least in (("purple lines", (148, 0, 211), 200), ("green lines", (0, 158, 115), 200),
                         ("speed-up bars", (131, 160, 198), 5000)):
    need(colours.get(rgb, 0) >= least, "%s: %d pixels of %s, want >= %d" % (name, colours.get(rgb, 0), rgb, least))
# The page ends inside the window: its last rows are blank.
white = (255, 255, 255)
need(all(im.getpixel((x, y)) == white for y in range(H - 100, H) for x in range(0, W, 5)),
     "the whole page fits in the window (content in its last 100 rows)")
print("ok   report screenshot: %d plots framed (heights %s px), lines and bars drawn" % (plots, heights))
PY
