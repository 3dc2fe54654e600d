# Issue 12 item 10: an action is done by the job that calls it. A watch handler waits (sleep
# 1.5 s, as one waiting on an API call would) while another job, an `every` timer, calls
# actions.tag(run, "xN") on a run of another project: each tag must be on the server when that
# job's actions.tag returns, whether or not a handler was waiting at the time.
. "$(dirname "$0")/lib.sh"
start_server
generate rw-team/ctx 2 2 5 101 > /dev/null
target=rw-team/ctx-other/$(generate rw-team/ctx-other 1 0 5 102)
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local trail, target = os.getenv("TRAIL"), os.getenv("TARGET")
local function note(...) local f = assert(io.open(trail, "a")); f:write(table.concat({...}, " "), "\n"); f:close() end
local waiting = false
watch{project = "rw-team/ctx", every = 0.3, id = "ctx", stale = false,
  on_history = function(run, rows)
    waiting = true; sleep(1.5); waiting = false
  end}
local n = 0
every(0.25, function()
  n = n + 1
  local tag = "x" .. n
  local during = waiting
  actions.tag(api.run(target), tag)
  during = during or waiting
  -- on the server now? (asked of the server's admin API, not of our own cache)
  local res = assert(http.get(os.getenv("RW_TEST_SERVER") .. "/_admin/run/" .. target))
  local present = false
  for _, t in ipairs(json.decode(res.body).tags) do if t == tag then present = true end end
  note(tag, during and "during" or "outside", present and "present" or "missing")
end)
LUA
export TRAIL=$tmp/trail TARGET=$target
touch "$TRAIL"
start_sim 0.2
start_daemon d "$tmp/daemon.log" --state "$tmp/state.db" "$tmp/d/daemon.lua"
sleep 8
stop_sim
stop_daemon "$d"
calls=$(wc -l < "$TRAIL"); during=$(grep -c ' during ' "$TRAIL")
missing=$(grep -c ' missing$' "$TRAIL"); missing_during=$(grep -c ' during missing$' "$TRAIL")
check item10.tag-done-on-return 10 "$(holds "calls > 0 && during > 0 && missing == 0")" \
  "$calls actions.tag calls ($during while a handler waited): $missing not on the server when actions.tag returned ($missing_during of those while a handler waited)"
[ "$n_fail" = 0 ] || show_log "$tmp/daemon.log" 10
finish
