# The example scripts run against the W&B test server and do what they say: the best run of
# each group carries the tag, finished runs get summary.gen_gap, the dry-run changes nothing.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
EX="$RW_SRC/scripts/examples"
export RW_PROJECT=rw-team/vision

cat > "$tmp/check_best.lua" <<'LUA'
local best = {}
for _, r in ipairs(api.runs(os.getenv("RW_PROJECT"), {state = "finished"})) do
  local v = r.summary.loss
  if r.group and type(v) == "number" and v == v and (not best[r.group] or v < best[r.group].summary.loss) then best[r.group] = r end
end
local bad, n = 0, 0
for _, r in ipairs(api.runs(os.getenv("RW_PROJECT"))) do
  local has = false
  for _, t in ipairs(r.tags) do if t == "best-in-group" then has = true end end
  local should = r.group and best[r.group] == r
  if has ~= (should and true or false) then bad = bad + 1; print("wrong tag on " .. r.path) end
  if has then n = n + 1 end
end
print("tagged " .. n .. " wrong " .. bad)
LUA
cat > "$tmp/check_gap.lua" <<'LUA'
local with, without = 0, 0
for _, r in ipairs(api.runs(os.getenv("RW_PROJECT"), {state = "finished"})) do
  if r.summary.gen_gap ~= nil then with = with + 1 else without = without + 1 end
end
print("gap " .. with .. " nogap " .. without)
LUA

run_on_server() { "$RW_SRC/tests/server/with-server.sh" -- bash -c "$1"; }
run_on_server "$RW once $LIB '$EX/tag_best_per_group.lua' >/dev/null 2>&1 && $RW once $LIB '$tmp/check_best.lua'" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^tagged [1-9][0-9]* wrong 0$'
run_on_server "$RW once $LIB --dry-run '$EX/annotate_finished.lua' > '$tmp/dry' 2>&1; $RW once $LIB '$tmp/check_gap.lua'; $RW once $LIB '$EX/annotate_finished.lua' 2>/dev/null; $RW once $LIB '$tmp/check_gap.lua'" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^gap 0 nogap [1-9]'
expect_match "$tmp/out" '^gap [1-9][0-9]* nogap'
expect_match "$tmp/dry" 'would annotate rw-team/vision/.*'
expect_match "$tmp/dry" 'summary.gen_gap: \(unset\) ->'
# every example compiles and passes the linter
for f in "$EX"/*.lua; do
  SLACK_WEBHOOK_URL=http://localhost:1/x expect_exit 0 $RW check $LIB "$f"
done

# nan_detector: a NaN in a running run's loss tags it, notes the step, sends one W&B alert
cat > "$tmp/nan.sh" <<SH
set -e
S="--state $tmp/nan.db"
curl -s -X POST "\$RW_TEST_SERVER/_admin/simulate" -d '{"steps":1}' >/dev/null
run=\$(curl -s "\$RW_TEST_SERVER/_admin/projects" >/dev/null; $RW once $LIB -e 'for _, r in ipairs(api.runs("rw-team/vision", {state = "running"})) do print(r.id) break end')
$RW once $LIB \$S "$EX/nan_detector.lua" 2>/dev/null
curl -s -X POST "\$RW_TEST_SERVER/_admin/runs/rw-team/vision/\$run" -d '{"nan":true}' >/dev/null
curl -s -X POST "\$RW_TEST_SERVER/_admin/simulate" -d '{"steps":2}' >/dev/null
$RW once $LIB \$S "$EX/nan_detector.lua" 2>"$tmp/nan.err"
$RW once $LIB \$S "$EX/nan_detector.lua" 2>>"$tmp/nan.err"
curl -s "\$RW_TEST_SERVER/_admin/run/rw-team/vision/\$run" > "$tmp/nan.run"
curl -s "\$RW_TEST_SERVER/_admin/alerts" > "$tmp/nan.alerts"
SH
RW_PROJECT=rw-team/vision "$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/nan.sh" > "$tmp/out" 2>&1 || { bad "nan scenario failed"; cat "$tmp/out"; }
expect_match "$tmp/nan.run" '"diverged"'
expect_match "$tmp/nan.run" 'diverged_at_step'
[ "$(grep -o '"title":"Loss diverged"[^}]*"severity":"ERROR"' "$tmp/nan.alerts" | wc -l)" = 1 ] && ok || bad "want exactly one firing W&B alert: $(cat "$tmp/nan.alerts")"

# crash_notifier: one Slack message for a crashed run, also across a second once run
cat > "$tmp/crash.sh" <<SH
set -e
S="--state $tmp/crash.db"
export SLACK_WEBHOOK_URL="\$(echo \$RW_TEST_SERVER | sed s/127.0.0.1/localhost/)/hooks/slack"
curl -s -X POST "\$RW_TEST_SERVER/_admin/simulate" -d '{"steps":1}' >/dev/null
run=\$($RW once $LIB -e 'for _, r in ipairs(api.runs("rw-team/vision", {state = "running"})) do print(r.id) break end')
$RW once $LIB \$S "$EX/crash_notifier.lua" 2>/dev/null
curl -s -X POST "\$RW_TEST_SERVER/_admin/runs/rw-team/vision/\$run" -d '{"state":"crashed","heartbeat":false}' >/dev/null
$RW once $LIB \$S "$EX/crash_notifier.lua" 2>/dev/null
$RW once $LIB \$S "$EX/crash_notifier.lua" 2>/dev/null
curl -s "\$RW_TEST_SERVER/_admin/hooks?name=slack" > "$tmp/crash.hooks"
SH
RW_PROJECT=rw-team/vision "$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/crash.sh" > "$tmp/out" 2>&1 || { bad "crash scenario failed"; cat "$tmp/out"; }
[ "$(grep -o '"seq":' "$tmp/crash.hooks" | wc -l)" = 1 ] && ok || bad "want exactly one Slack message: $(cat "$tmp/crash.hooks")"
expect_match "$tmp/crash.hooks" 'crashed at step'

# leaderboard: the best finished run gets summary.leaderboard with the top runs in order
cat > "$tmp/lb_check.lua" <<'LUA'
local best
for _, r in ipairs(api.runs("rw-team/vision", {state = "finished"}, {order = "-summary.acc"})) do
  if type(r.summary.acc) == "number" and r.summary.acc == r.summary.acc then best = r break end
end
local lb = best.summary.leaderboard
print("leaderboard " .. #lb .. " " .. lb[1].id .. " " .. best.id .. " " .. tostring(lb[1].acc >= lb[#lb].acc))
LUA
RW_METRIC=acc RW_PROJECT=rw-team/vision "$RW_SRC/tests/server/with-server.sh" -- bash -c "$RW once $LIB '$EX/leaderboard.lua' 2>/dev/null && $RW once $LIB '$tmp/lb_check.lua'" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^leaderboard 5 ([a-z0-9]+) \1 true$'
finish
