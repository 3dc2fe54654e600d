#!/usr/bin/env bash
# The suite under valgrind memcheck: the C unit tests, the Lua tests (test_wb_* against the test
# server), and optionally the shell tests, each process with --error-exitcode and full leak
# checking (definite and indirect leaks are errors; memory still reachable at exit is not: libcurl,
# OpenSSL and SQLite keep process-wide caches on purpose). Every valgrind report is kept and the
# ones with errors are printed. Use a build without sanitizers (valgrind and ASan do not mix).
#
# usage: tests/valgrind.sh [--build DIR] [--only REGEX] [--skip REGEX] [--no-server] [--sh]
#                          [--jobs N] [--keep]
#   --build DIR   the build directory (default: build); its runwatch and test_* binaries are used
#   --only REGEX  only tests whose name (c/test_json, lua/test_http, sh/test_cli) matches
#   --skip REGEX  leave out tests whose name matches
#   --no-server   leave out the test_wb_* Lua tests (they need node and the test server)
#   --sh          also run the shell tests (slow: every runwatch they start runs under valgrind)
# exit status: 0 when every test passed with no valgrind error, 1 otherwise, 2 for a usage error.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build; only=; skip=; server=1; with_sh=0; jobs=$(nproc 2>/dev/null || echo 2); keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --only) only=$2; shift 2 ;;
    --skip) skip=$2; shift 2 ;;
    --no-server) server=0; shift ;;
    --sh) with_sh=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "valgrind.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }
[ -x "$build/runwatch" ] || { echo "valgrind.sh: no $build/runwatch (build first, or give --build)" >&2; exit 2; }
if grep -q 'RW_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "valgrind.sh: $build is a sanitizer build; use one without -DRW_SANITIZE=ON" >&2; exit 2
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/rw-valgrind.XXXXXX")
[ "$keep" = 1 ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out/logs" "$out/bin"
supp=()
[ -f "$src/tests/valgrind.supp" ] && supp=(--suppressions="$src/tests/valgrind.supp")
VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30 "${supp[@]}")
# runwatch under valgrind, as a drop-in binary for run-test.sh and the shell tests; each process
# writes its own report
cat > "$out/bin/runwatch" <<EOF
#!/bin/sh
exec ${VG[*]} --log-file="$out/logs/\${RW_VG_TAG:-other}.runwatch.%p.log" "$build/runwatch" "\$@"
EOF
chmod +x "$out/bin/runwatch"

tests=()
for t in "$build"/test_*; do [ -x "$t" ] && [ -f "$t" ] && tests+=("c/$(basename "$t")"); done
for t in "$src"/tests/lua/test_*.lua; do
  n=$(basename "$t" .lua)
  case "$n" in test_wb_*) [ "$server" = 1 ] || continue ;; esac
  tests+=("lua/$n")
done
if [ "$with_sh" = 1 ]; then for t in "$src"/tests/sh/test_*.sh; do tests+=("sh/$(basename "$t" .sh)"); done; fi
sel=()
for n in "${tests[@]}"; do
  [ -n "$only" ] && ! [[ $n =~ $only ]] && continue
  [ -n "$skip" ] && [[ $n =~ $skip ]] && continue
  sel+=("$n")
done
[ "${#sel[@]}" -gt 0 ] || { echo "valgrind.sh: no test selected" >&2; exit 2; }

# run_one NAME: runs one test, writes $out/res/NAME (status line) and $out/out/NAME (its output)
run_one() {
  local n=$1 f=${1//\//_} rc t0=$SECONDS
  export RW_VG_TAG=$f
  export RW_TESTS="$src/tests" RW_SHARED="$src/../shared" RW_SRC="$src" LUA_PATH="$src/tests/lua/?.lua;;"
  case "$n" in
    c/*)   "${VG[@]}" --log-file="$out/logs/$f.%p.log" "$build/${n#c/}" > "$out/out/$f" 2>&1; rc=$? ;;
    lua/test_wb_*) RW_BIN="$out/bin/runwatch" "$src/tests/server/with-server.sh" -- \
             "$src/tests/lua/run-test.sh" "$out/bin/runwatch" "$src/tests/lua/${n#lua/}.lua" > "$out/out/$f" 2>&1; rc=$? ;;
    lua/*) RW_BIN="$out/bin/runwatch" "$src/tests/lua/run-test.sh" "$out/bin/runwatch" "$src/tests/lua/${n#lua/}.lua" > "$out/out/$f" 2>&1; rc=$? ;;
    sh/*)  RW_BIN="$out/bin/runwatch" bash "$src/tests/sh/${n#sh/}.sh" > "$out/out/$f" 2>&1; rc=$? ;;
  esac
  echo "$rc $((SECONDS - t0))" > "$out/res/$f"
}
mkdir -p "$out/res" "$out/out"
echo "valgrind memcheck on ${#sel[@]} tests, $jobs at a time (reports in $out/logs)"
running=0
for n in "${sel[@]}"; do
  run_one "$n" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

# a report has errors when its ERROR SUMMARY is not 0 (leaks of the checked kinds count as
# errors); a report without a summary is a forked child that ran another program (io.popen,
# os.execute) or a process killed on purpose (the kill -9 tests)
fail=0; pass=0; procs=0; killed=0; vg_total=0
for n in "${sel[@]}"; do
  f=${n//\//_}
  read -r rc secs < "$out/res/$f"
  errs=0; bad_logs=(); np=0
  for log in "$out"/logs/"$f".*.log; do
    [ -f "$log" ] || continue
    np=$((np + 1))
    e=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    if [ -z "$e" ]; then killed=$((killed + 1)); continue; fi   # no summary: see above
    if [ "$e" != 0 ]; then errs=$((errs + e)); bad_logs+=("$log"); fi
  done
  procs=$((procs + np)); vg_total=$((vg_total + errs))
  status=ok
  [ "$rc" = 77 ] && status=skipped
  if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then status="test failed (exit $rc)"; fi
  if [ "$errs" != 0 ]; then status="VALGRIND ERRORS ($errs)"; fi
  printf '%-28s %-26s %5ss  %3d process(es)\n' "$n" "$status" "$secs" "$np"
  case "$status" in ok|skipped) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); grep -a 'FAIL\|passed' "$out/out/$f" | tail -8 | sed 's/^/    | /' ;; esac
  for log in "${bad_logs[@]}"; do grep -v '^==[0-9]*== *$' "$log" | sed -n '1,60p' | sed 's/^/    | /'; done
done
echo "$pass passed, $fail failed; $procs processes under valgrind ($killed without a summary: forked children that ran another program, or killed on purpose), $vg_total valgrind errors"
echo "(under valgrind everything runs 20-50 times slower: a test that fails only on a timing assertion is not a memory error)"
[ "$keep" = 1 ] && echo "reports kept in $out"
[ "$fail" = 0 ]
