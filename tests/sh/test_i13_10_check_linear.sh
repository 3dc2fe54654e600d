# Issue 13 item 10: `runwatch check` is linear in the size of string literals and comments (it
# was quadratic: 1 MB took many minutes), still finds what it lints after them, and stops at
# SIGTERM while linting or loading (it ignored the signal). Times are printed, not asserted;
# the timeouts are hang guards far above the linear time and far below the quadratic one.
. "$(dirname "$0")/lib.sh"
# wait_bounded PID SECS: wait for PID, killing it after SECS (a hang guard without a subshell,
# whose sleep would keep ctest waiting); the exit status is PID's
wait_bounded() {
  local pid=$1 n=$(($2 * 10))
  while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  wait "$pid"
}

mb=1048576
# a 1 MB short string, a 1 MB long string, a 1 MB line comment, a 1 MB long comment: each then
# followed by a bad duration literal, which check must still find on the right line
awk -v n=$mb 'BEGIN { s = "x"; while (length(s) < n) s = s s
  print "local a = \"" s "\""
  print "local b = [==[" s "]==]"
  print "-- " s
  print "--[[" s "]]"
  print "local t = {a, b}"
  print "every(\"5 parsecs\", function() end)" }' > "$tmp/big.lua"
start=$(date +%s.%N)
timeout 60 $RW check $LIB "$tmp/big.lua" >"$tmp/out" 2>"$tmp/err"; rc=$?
echo "check of 4 x 1 MB literals and comments: $(echo "$(date +%s.%N) - $start" | bc) s (rc $rc)"
if [ "$rc" = 124 ]; then bad "check of 1 MB literals did not finish within 60 s (quadratic?)"; else ok; fi
[ "$rc" = 2 ] && ok || bad "check exit $rc, want 2 (the bad duration)"
expect_match "$tmp/err" 'big.lua:6:.*5 parsecs'

# the same file without the mistake passes
sed -i '$d' "$tmp/big.lua"
expect_exit 0 timeout 60 $RW check $LIB "$tmp/big.lua"

# many short lines (2 MB of tokens): linear too, and line numbers stay right
awk 'BEGIN { print "local t = {}"; for (i = 0; i < 100000; i++) print "t.a" (i % 100) " = \"" i "\" -- c"
  print "after(\"soon\", function() end)" }' > "$tmp/lines.lua"
expect_exit 2 timeout 60 $RW check $LIB "$tmp/lines.lua"
expect_match "$tmp/err" 'lines.lua:100002:'

# SIGTERM while check works on a large script: it stops at once with 128+15
awk 'BEGIN { print "local t = {}"; for (i = 0; i < 2000000; i++) print "t.a" (i % 100) " = \"" i "\" -- c" }' > "$tmp/huge.lua"
$RW check $LIB "$tmp/huge.lua" >"$tmp/out" 2>"$tmp/err" & pid=$!
sleep 0.5; kill -0 $pid 2>/dev/null || echo "note: check ended before the signal (a fast machine)"; kill -TERM $pid; start=$(date +%s.%N)
wait_bounded $pid 120; rc=$?
echo "check stopped $(echo "$(date +%s.%N) - $start" | bc) s after SIGTERM (rc $rc)"
[ "$rc" = 143 ] && ok || { bad "check after SIGTERM: exit $rc, want 143"; sed 's/^/  | /' "$tmp/err" | head; }

# SIGTERM while a script's top level spins: the load stops (before: only kill -9 did)
echo 'local x = 0 while true do x = x + 1 end' > "$tmp/spin.lua"
$RW once $LIB "$tmp/spin.lua" >"$tmp/out" 2>"$tmp/err" & pid=$!
sleep 0.5; kill -TERM $pid
wait_bounded $pid 120; rc=$?
[ "$rc" = 143 ] && ok || bad "once of a spinning top level after SIGTERM: exit $rc, want 143"
expect_match "$tmp/err" 'stopped by signal 15'
finish
