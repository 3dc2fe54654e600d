# Signals: SIGTERM stops gracefully (in-flight work finishes, exit 0); SIGHUP reloads the scripts
# and keeps the old version running when the new one fails to load.
. "$(dirname "$0")/lib.sh"

wait_for() {  # wait_for FILE REGEX [SECONDS]
  local i
  for i in $(seq 1 $(( ${3:-5} * 20 ))); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# SIGTERM during a job: the job's in-flight wait completes, then exit 0, and no new ticks
cat > "$tmp/term.lua" <<'LUA'
every(0.05, function()
  print("tick start")
  sleep(0.3)
  print("tick end")
end, {immediate = true})
LUA
$RW run $LIB "$tmp/term.lua" >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/out" 'tick start' || bad "daemon never ticked"
kill -TERM $pid
wait $pid; rc=$?
[ "$rc" = 0 ] && ok || bad "SIGTERM exit status $rc"
expect_match "$tmp/out" 'tick end'
[ "$(grep -c 'tick start' "$tmp/out")" = 1 ] && ok || bad "ticks started after SIGTERM"
expect_match "$tmp/err" 'stopping'

# SIGHUP with a broken new version keeps the old one; a good new version replaces it
printf 'every(0.05, function() print("version 1") end)\n' > "$tmp/hup.lua"
$RW run $LIB "$tmp/hup.lua" >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/out" 'version 1' || bad "v1 never ticked"
printf 'every(0.05, function() print("version 2") end\n' > "$tmp/hup.lua"     # syntax error
kill -HUP $pid
wait_for "$tmp/err" 'reload failed' || bad "reload failure not logged"
expect_match "$tmp/err" 'hup.lua:2:.*expected'
: > "$tmp/out"
sleep 0.2
expect_match "$tmp/out" 'version 1'
printf 'every(0.05, function() print("version 3") end)\n' > "$tmp/hup.lua"
kill -HUP $pid
wait_for "$tmp/out" 'version 3' || bad "v3 never ticked after reload"
: > "$tmp/out"
sleep 0.2
expect_no_match "$tmp/out" 'version 1'
kill -TERM $pid
wait $pid; rc=$?
[ "$rc" = 0 ] && ok || bad "exit status after reloads $rc"

finish
