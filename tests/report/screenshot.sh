#!/usr/bin/env bash
# Renders an HTML report with headless Chromium and checks the screenshot is not blank:
#   screenshot.sh REPORT.html OUT.png
# The PNG is decoded with python3 (zlib, no PIL); it must have many colours and enough non-white
# pixels. Exit 0 fine, 1 blank or failed, 77 when /usr/bin/chromium (apt package chromium) or
# python3 is missing.
set -u
html=$1; png=$2
chromium=${RW_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "SKIP: $chromium is not installed (apt-get install chromium) - no screenshot check"
  exit 77
fi
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$png"
# no network, no updates, a throwaway profile; the report needs nothing from outside
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --screenshot="$png" --window-size=1200,900 "file://$(realpath "$html")" >"$profile/log" 2>&1
rc=$?
if [ ! -s "$png" ]; then
  echo "FAIL: chromium (exit $rc) wrote no screenshot"; tail -5 "$profile/log"; exit 1
fi
python3 - "$png" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT": idat += body
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = ihdr
assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format %s" % (ihdr,)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, nonwhite, i = set(), 0, 0
for y in range(h):
    f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours.add(px)
        if px != b"\xff\xff\xff": nonwhite += 1
    prev = line
frac = nonwhite / (w * h)
print("screenshot %dx%d: %d distinct colours, %.1f%% non-white pixels" % (w, h, len(colours), 100 * frac))
sys.exit(0 if len(colours) >= 50 and frac >= 0.02 else 1)
EOF
