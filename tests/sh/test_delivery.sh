# Delivery outside the tick, as a user meets it: a SIGHUP while a webhook is in flight neither
# cuts it off nor sends it again (the reload waits for it); a slow receiver does not hold up
# history rows; a job left waiting forever makes `runwatch once` fail instead of exiting 0.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }

# {====== 1. a reload waits for the deliveries in flight
cat > "$tmp/reload.lua" <<'LUA'
local hook = os.getenv("RW_TEST_SERVER"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/slow"
local w = watch{project = "rw-team/vision", every = 0.2, id = "reload-watch", stale = false,
  filters = {name = {["$in"] = {"x7k2m9p4", "u3i4o5p6"}}}}
rule{name = "seen", watch = w, when = function(run) return true end, notify = {{webhook = hook}}}
LUA
cat > "$tmp/reload.sh" <<SH
set -u
curl -s -X POST "\$RW_TEST_SERVER/_admin/faults" -d '{"rules":[{"match":{"path":"/hooks/slow"},"times":-1,"action":{"delay_ms":1500}}]}' >/dev/null
$RW run $LIB --state "$tmp/reload.db" --stop-grace 10 "$tmp/reload.lua" > "$tmp/reload.log" 2>&1 &
pid=\$!
sleep 0.8                        # the two webhooks are in flight (each takes 1.5 s)
kill -HUP \$pid
sleep 0.3
kill -HUP \$pid                  # a second SIGHUP while the first waits changes nothing
sleep 3.5
kill -TERM \$pid; wait \$pid; echo "daemon exit \$?"
curl -s "\$RW_TEST_SERVER/_admin/hooks?name=slow" > "$tmp/hooks.json"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/reload.sh" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^daemon exit 0$'
expect_match "$tmp/reload.log" 'reload done'
node -e '
const hooks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const keys = new Set(hooks.map(h => h.headers["idempotency-key"]));
console.log("webhooks " + hooks.length + " keys " + keys.size);' "$tmp/hooks.json" > "$tmp/count"
expect_match "$tmp/count" '^webhooks 2 keys 2$'
# }======

# {====== 2. a slow receiver does not hold up the watch: rows keep coming while it waits
cat > "$tmp/slow.lua" <<'LUA'
local hook = os.getenv("RW_TEST_SERVER"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/slower"
local ticks = 0
local w = watch{project = "rw-team/vision", every = 0.2, id = "slow-watch", stale = false,
  filters = {name = "x7k2m9p4"},
  on_history = function(run, rows)
    ticks = ticks + 1
    state.set("rows", (state.get("rows") or 0) + #rows)
    actions.webhook(hook, {n = #rows})
  end}
LUA
mkdir -p "$tmp/check"     # the same script name as the daemon's: state.get sees its namespace
cat > "$tmp/check/slow.lua" <<'LUA'
local want = 0
for _ in api.run("rw-team/vision/x7k2m9p4"):scan_history() do want = want + 1 end
print("rows " .. tostring(state.get("rows")) .. " want " .. want)
LUA
cat > "$tmp/slow.sh" <<SH
set -u
curl -s -X POST "\$RW_TEST_SERVER/_admin/faults" -d '{"rules":[{"match":{"path":"/hooks/slower"},"times":-1,"action":{"delay_ms":20000}}]}' >/dev/null
$RW run $LIB --state "$tmp/slow.db" --stop-grace 1 "$tmp/slow.lua" > "$tmp/slow.log" 2>&1 &
pid=\$!
for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -X POST "\$RW_TEST_SERVER/_admin/simulate" -d '{"steps":1}' >/dev/null; sleep 0.3; done
sleep 1
kill -TERM \$pid; wait \$pid
$RW once $LIB --state "$tmp/slow.db" "$tmp/check/slow.lua"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/slow.sh" > "$tmp/out" 2>&1
# every row arrives, the ten simulated ones too (the watch ticks on while each webhook waits 20 s)
expect_match "$tmp/out" '^rows ([0-9]+) want \1$'
# }======

# {====== 3. a job that can never finish makes `once` fail
expect_exit 1 $RW once $LIB -e 'require("runwatch.task").await(function(resume) end); print("never")'
expect_match "$tmp/err" 'job never finished'
expect_no_match "$tmp/out" 'never'
# }======

finish
