# The Debian package (issue 17 item 4): `cpack -G DEB` in the build tree makes a .deb whose
# Depends name the libraries the binary links (and ca-certificates); unpacked into a temporary
# root (dpkg-deb -x), its binary prints --version and runs the local-runs demo from the
# package's own examples, and the package carries the man page, completion and unit.
. "$(dirname "$0")/lib.sh"

for tool in cpack dpkg-deb dpkg-shlibdeps; do
  if ! command -v $tool >/dev/null; then echo "SKIP: $tool is not installed (dpkg-dev, cmake)"; exit 77; fi
done
build=$(dirname "$RW_BIN")
[ -f "$build/CPackConfig.cmake" ] || { echo "SKIP: no CPackConfig.cmake beside $RW_BIN"; exit 77; }

# its own package directory, so that it runs beside the other tests without touching the build's
(cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/pkg") > "$tmp/cpack.log" 2>&1 &&
  ok || { bad "cpack -G DEB failed"; tail -20 "$tmp/cpack.log"; }
deb=$(ls "$tmp"/pkg/runwatch_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && ok || { bad "no .deb made"; finish; exit 1; }

# the package's fields: the libraries the binary links, found by dpkg-shlibdeps
dpkg-deb -f "$deb" Package Version Architecture Depends > "$tmp/fields.txt"
expect_match "$tmp/fields.txt" '^Package: runwatch$'
expect_match "$tmp/fields.txt" "^Architecture: $(dpkg --print-architecture)$"
for dep in libc6 libcurl4 liblua5.4-0 libev4 libsqlite3-0 zlib1g ca-certificates; do
  expect_match "$tmp/fields.txt" "^Depends: (.*, )?$dep( \(|,|$)"
done
# every library the binary links directly (its NEEDED entries) is in a package the Depends name
for needed in $(readelf -d "$RW_BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  lib=$(ldd "$RW_BIN" | awk -v n="$needed" '$1 == n {print $3}')
  [ -n "$lib" ] || continue                    # the loader itself, vdso
  real=$(readlink -f "$lib")   # dpkg knows /lib or /usr/lib (merged /usr): match the file's name
  pkg=$(dpkg -S "*/$(basename "$real")" 2>/dev/null | grep -F "/${real##*/lib/}" | grep -v i386 | head -1 | cut -d: -f1)
  [ -z "$pkg" ] && { bad "no package owns $lib ($needed)"; continue; }
  grep -q "^Depends: .*$pkg" "$tmp/fields.txt" && ok || bad "$needed (package $pkg) is not in Depends: $(grep Depends "$tmp/fields.txt")"
done

# what it installs
dpkg-deb -c "$deb" | awk '{print $6}' > "$tmp/files.txt"
for f in ./usr/bin/runwatch ./usr/share/man/man1/runwatch.1 ./usr/share/bash-completion/completions/runwatch \
         ./usr/lib/systemd/system/runwatch@.service ./usr/share/doc/runwatch/examples/local_demo.lua \
         ./usr/share/doc/runwatch/demo/make_runs.lua; do
  grep -qxF "$f" "$tmp/files.txt" && ok || bad "the package lacks $f"
done

# unpacked into a temporary root: the binary runs from there, on nothing but its libraries
root="$tmp/root"
dpkg-deb -x "$deb" "$root" && ok || bad "dpkg-deb -x failed"
expect_match "$root/usr/lib/systemd/system/runwatch@.service" '^ExecStart=/usr/bin/runwatch run '
bin="$root/usr/bin/runwatch"
expect_exit 0 "$bin" --version
expect_match "$tmp/out" '^runwatch [0-9]+\.[0-9]+\.[0-9]+ \(Lua 5\.4'
expect_exit 0 "$bin" export --help
expect_match "$tmp/out" '^usage: runwatch export'
# a local-runs script: the package's demo writes runs, its example reads them
expect_exit 0 "$bin" once --local "$tmp/demo" "$root/usr/share/doc/runwatch/demo/make_runs.lua"
expect_match "$tmp/out" '^wrote [0-9]+ demo runs'
expect_exit 0 "$bin" once --local "$tmp/demo" "$root/usr/share/doc/runwatch/examples/local_demo.lua"
expect_match "$tmp/out" '^[0-9]+ local runs in '
expect_match "$tmp/out" 'finished'
expect_exit 0 "$bin" inspect "$tmp/demo"
# the man page from the package renders
if command -v man >/dev/null; then
  MANWIDTH=80 man -l "$root/usr/share/man/man1/runwatch.1" > "$tmp/man.txt" 2>&1 && ok || bad "man -l failed"
  expect_match "$tmp/man.txt" 'runwatch export \[ENTITY/PROJECT\]'
fi

finish
