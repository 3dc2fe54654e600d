# kill -9 at random moments while a watch runs against the live simulation, restart each time:
# afterwards every history row was delivered exactly once (the handler records rows in the state
# store, in the same transaction as the cursor), the NaN alert fired once and resolved once, and
# the state database is intact.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
mkdir -p "$tmp/d" "$tmp/check"
cat > "$tmp/d/daemon.lua" <<'LUA'
local hook = os.getenv("RW_TEST_SERVER"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/nan"
local w = watch{project = "rw-team/vision", every = 0.15, id = "restart-watch", stale = false,
  on_history = function(run, rows)
    local seen = state.get("rows:" .. run.id) or json.array({})
    for _, r in ipairs(rows) do seen[#seen + 1] = r._step end
    state.set("rows:" .. run.id, seen)
  end}
rule{name = "nan", watch = w, when = function(run) local v = run.summary.loss; return v ~= v, v end,
  notify = {{webhook = hook}}}
LUA
cat > "$tmp/check/daemon.lua" <<'LUA'
-- same script name as the daemon, so state.get sees its namespace
local bad, total = 0, 0
for _, r in ipairs(api.runs("rw-team/vision", {state = "running"})) do
  local want = {}
  for row in r:scan_history{page_size = 1000} do want[#want + 1] = row._step end
  local got = state.get("rows:" .. r.id) or {}
  total = total + #got
  local same = #got == #want
  for i = 1, #want do if got[i] ~= want[i] then same = false end end
  if not same then bad = bad + 1; print("MISMATCH " .. r.id .. " got " .. #got .. " want " .. #want) end
end
print("rows " .. total .. " mismatched " .. bad)
LUA
cat > "$tmp/inner.sh" <<SH
set -u
S="--state $tmp/state.db"
sim() { curl -s -X POST "\$RW_TEST_SERVER/_admin/simulate" -d "{\"steps\":\$1}" >/dev/null; }
sim 1
nanrun=\$($RW once $LIB -e 'for _, r in ipairs(api.runs("rw-team/vision", {state = "running"})) do print(r.id) break end')
for cycle in 1 2 3 4 5 6 7 8 9 10; do
  $RW run $LIB \$S "$tmp/d/daemon.lua" >> "$tmp/daemon.log" 2>&1 &
  pid=\$!
  # the NaN stays in the summary until the next row: give the ticks (every 0.15 s) time to see it
  [ \$cycle = 3 ] && { curl -s -X POST "\$RW_TEST_SERVER/_admin/runs/rw-team/vision/\$nanrun" -d '{"nan":true}' >/dev/null; sim 1; sleep 0.6; }
  for i in \$(seq 1 \$((RANDOM % 8 + 3))); do sim 1; sleep 0.1; done
  kill -9 \$pid; wait \$pid 2>/dev/null
done
# a last clean run to catch up, then a graceful stop
$RW run $LIB \$S "$tmp/d/daemon.lua" >> "$tmp/daemon.log" 2>&1 &
pid=\$!
sleep 1.5
kill -TERM \$pid; wait \$pid
echo "daemon exit \$?"
$RW once $LIB \$S "$tmp/check/daemon.lua"
curl -s "\$RW_TEST_SERVER/_admin/hooks?name=nan" > "$tmp/hooks.json"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^daemon exit 0$'
expect_match "$tmp/out" '^rows [1-9][0-9]* mismatched 0$'
node -e '
const hooks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const n = (t) => hooks.filter(h => h.json && h.json.transition === t).length;
console.log("firing " + n("firing") + " resolved " + n("resolved"));' "$tmp/hooks.json" > "$tmp/hooks.out"
expect_match "$tmp/hooks.out" '^firing 1 resolved 1$'
if command -v sqlite3 >/dev/null; then
  sqlite3 "$tmp/state.db" 'PRAGMA integrity_check' > "$tmp/ic" 2>&1; expect_match "$tmp/ic" '^ok$'
fi
grep -q MISMATCH "$tmp/out" && sed 's/^/  | /' "$tmp/out" | head -20
finish
