# Issue 12 item 3: runs that finished or crashed before a watch started are not news. A project
# holds one live run and, created after it, runs that already ended; a watch with on_new_run,
# on_state/on_finish/on_crash/... and a rule on the run's state must report none of the ended ones
# -- not in its first tick (`runwatch once`), not in later ticks (a daemon; today's bug shows from
# the second tick), not with 2,000 finished runs beside one live run -- while a run created after
# the start, and the live run, are reported when they crash.
. "$(dirname "$0")/lib.sh"
start_server
generate rw-team/ended 1 1 5 31 2024-03-01T00:00:00Z | sed 's|^|rw-team/ended/|' > "$tmp/live"
generate rw-team/ended 30 0 5 32 2024-03-02T00:00:00Z | sed 's|^|rw-team/ended/|' > "$tmp/ended"
generate rw-team/many 1 1 5 33 2024-03-01T00:00:00Z | sed 's|^|rw-team/many/|' > "$tmp/many-live"
generate rw-team/many 2000 0 5 34 2024-03-02T00:00:00Z | sed 's|^|rw-team/many/|' > "$tmp/many-ended"
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local out = os.getenv("EVENTS")
local function ev(kind, run) local f = assert(io.open(out, "a")); f:write(kind, " ", run.path, "\n"); f:close() end
local w = watch{project = os.getenv("PROJECT"), every = 0.3, id = "ended", stale = false,
  on_new_run = function(run) ev("new", run) end,
  on_state = function(run) ev("state", run) end,
  on_finish = function(run) ev("finish", run) end,
  on_crash = function(run) ev("crash", run) end,
  on_fail = function(run) ev("fail", run) end,
  on_killed = function(run) ev("killed", run) end}
rule{name = "ended", watch = w, resolve = false,
  when = function(run)
    ev("examine", run)
    local s = run.state
    return s ~= "running" and s ~= "pending", s
  end,
  notify = {{webhook = os.getenv("HOOKS") .. "/" .. os.getenv("HOOK"), template = {run = "{{run.path}}", state = "{{alert.value}}"}}}}
LUA

# about RUNS_FILE EVENTS_FILE: events (not "examine") about the runs listed; then webhooks (HOOK)
about() { awk 'NR == FNR { r[$1] = 1; next } $1 != "examine" && ($2 in r) { n++ } END { print n + 0 }' "$1" "$2"; }
hooks_about() {
  curl -sf "$URL/_admin/hooks?name=$2" | node -e '
    const fs = require("fs"); const runs = new Set(fs.readFileSync(process.argv[1], "utf8").split("\n"));
    let s = ""; process.stdin.on("data", d => s += d).on("end", () =>
      console.log(JSON.parse(s).filter(h => h.json && runs.has(h.json.run)).length));' "$1"
}
examined() { grep -c "^examine $(cat "$1")\$" "$2"; }

# 1. the first tick: runwatch once
EVENTS=$tmp/once.events PROJECT=rw-team/ended HOOK=once rw once $LIB --state "$tmp/once.db" "$tmp/d/daemon.lua" > "$tmp/once.log" 2>&1
touch "$tmp/once.events"
e1=$(about "$tmp/ended" "$tmp/once.events"); h1=$(hooks_about "$tmp/ended" once)
check item03.first-tick 3 "$(holds "e1 == 0 && h1 == 0")" \
  "$(wc -l < "$tmp/ended") runs ended before the start: $e1 events and $h1 rule notifications about them in the first tick ($(examined "$tmp/live" "$tmp/once.events") tick)"

# 2. later ticks: a daemon; meanwhile a new run is created and crashes, and the live run crashes
EVENTS=$tmp/daemon.events PROJECT=rw-team/ended HOOK=daemon \
  start_daemon d "$tmp/daemon.log" --state "$tmp/daemon.db" "$tmp/d/daemon.lua"
sleep 2
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
new=rw-team/ended/$(generate rw-team/ended 1 1 5 35 "$now")
sleep 1
admin POST "runs/$new" '{"state":"crashed"}' > /dev/null
admin POST "runs/$(cat "$tmp/live")" '{"state":"crashed"}' > /dev/null
sleep 2
stop_daemon "$d"
touch "$tmp/daemon.events"
e2=$(about "$tmp/ended" "$tmp/daemon.events"); h2=$(hooks_about "$tmp/ended" daemon)
ticks=$(examined "$tmp/live" "$tmp/daemon.events")
check item03.later-ticks 3 "$(holds "e2 == 0 && h2 == 0 && ticks >= 3")" \
  "$(wc -l < "$tmp/ended") runs ended before the start: $e2 events and $h2 rule notifications about them in $ticks ticks"
echo "$new" > "$tmp/new"
n_new=$(grep -c "^new $new\$" "$tmp/daemon.events"); n_crash=$(grep -c "^crash $new\$" "$tmp/daemon.events")
l_crash=$(grep -c "^crash $(cat "$tmp/live")\$" "$tmp/daemon.events")
h_new=$(hooks_about "$tmp/new" daemon); h_live=$(hooks_about "$tmp/live" daemon)
check item03.reported-after-start 3 "$(holds "n_new == 1 && n_crash == 1 && h_new == 1 && l_crash == 1 && h_live == 1")" \
  "a run created after the start: on_new_run $n_new, on_crash $n_crash, rule $h_new; the live run: on_crash $l_crash, rule $h_live (1 each expected)"

# 3. 2,000 runs finished before the start beside one live run
EVENTS=$tmp/many.events PROJECT=rw-team/many HOOK=many \
  start_daemon d "$tmp/many.log" --state "$tmp/many.db" "$tmp/d/daemon.lua"
touch "$tmp/many.events"
# four ticks, or (today) two ticks that already reported the ended runs
many_done() {
  local t; t=$(examined "$tmp/many-live" "$tmp/many.events")
  [ "$t" -ge 4 ] || { [ "$t" -ge 2 ] && [ "$(about "$tmp/many-ended" "$tmp/many.events")" -gt 0 ]; }
}
wait_for 90 many_done
stop_daemon "$d" 5
e3=$(about "$tmp/many-ended" "$tmp/many.events"); h3=$(hooks_about "$tmp/many-ended" many)
n3=$(awk '$1 == "new"' "$tmp/many.events" | wc -l)
check item03.2000-finished 3 "$(holds "e3 == 0 && h3 == 0")" \
  "2,000 runs ended before the start, 1 live: $e3 events ($n3 on_new_run in all) and $h3 rule notifications about ended runs in $(examined "$tmp/many-live" "$tmp/many.events") ticks"
[ "$n_fail" = 0 ] || { show_log "$tmp/daemon.log"; show_log "$tmp/many.log"; }
finish
