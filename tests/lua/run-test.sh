#!/usr/bin/env bash
# Runs one Lua test with the runwatch binary, from the source tree's scripts/lib.
# Directives in the test file:
#   -- runwatch-mode: run          run as a daemon instead of `once`
#   -- runwatch-args: ...          extra options
#   -- runwatch-expect-exit: N     the exit status the test expects (default 0), for tests of
#                                  failing jobs; the summary line must still report 0 failed
# A test that mentions RW_HTTPD gets the loopback fixture tests/fixtures/httpd.js started for it.
set -u
bin=$1; shift
script=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
directive() { sed -n "s/^-- runwatch-$1: *//p" "$script" | head -1; }
if grep -q RW_HTTPD "$script"; then
  if ! command -v node >/dev/null; then echo "SKIP: node is not installed"; exit 77; fi
  fifo=$(mktemp -u); mkfifo "$fifo"
  node "$here/tests/fixtures/httpd.js" > "$fifo" &
  pid=$!
  trap 'kill $pid 2>/dev/null; rm -f "$fifo"' EXIT
  read -r line < "$fifo"
  port=$(echo "$line" | sed -E 's/.*"port":([0-9]+).*/\1/')
  export RW_HTTPD="http://127.0.0.1:$port"
fi
mode=$(directive mode); mode=${mode:-once}
extra=$(directive args)
expect=$(directive expect-exit); expect=${expect:-0}
out=$(mktemp)
# each test gets its own state database unless it names one
statedir=$(mktemp -d)
case " $extra " in *" --state "*) ;; *) extra="$extra --state $statedir/state.db" ;; esac
# tests are not about the CPU budget (test_limits sets its own): sanitizer builds are slow
case " $extra " in *" --cpu-budget "*) ;; *) extra="$extra --cpu-budget 600" ;; esac
# shellcheck disable=SC2086
"$bin" "$mode" --lib-dir "$here/scripts/lib" $extra "$@" | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" = 77 ] && { rm -rf "$out" "$statedir"; exit 77; }   # the test skipped itself (says why)
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
rm -rf "$out" "$statedir"
if [ -z "$summary" ]; then echo "no summary line: the test did not reach t.done() (exit $rc)"; exit 1; fi
case "$summary" in *" 0 failed"*) ;; *) exit 1 ;; esac
if [ "$rc" != "$expect" ]; then echo "exit status $rc, expected $expect"; exit 1; fi
exit 0
