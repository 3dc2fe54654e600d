# Issue 12 item 8: a slow receiver must not stall the watch. A NaN rule notifies two webhook
# destinations, "slow" (the receiver holds each request 20 s) and "fast". While the slow one
# waits, history rows must keep being delivered (counted over 10 s against the rows the runs
# logged meanwhile) and the fast destination must get its notification; afterwards each arrived
# exactly once and every row was recorded exactly once.
. "$(dirname "$0")/lib.sh"
start_server
generate rw-team/slow 3 3 5 81 | sed 's|^|rw-team/slow/|' > "$tmp/runs"
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local trail = os.getenv("TRAIL")
local w = watch{project = "rw-team/slow", every = 0.3, id = "slow", stale = false,
  on_history = function(run, rows)
    local seen = state.get("rows:" .. run.path) or json.array({})
    local f = assert(io.open(trail, "a"))
    for _, r in ipairs(rows) do seen[#seen + 1] = r._step; f:write(run.path, " ", r._step, "\n") end
    f:close()
    state.set("rows:" .. run.path, seen)
  end}
rule{name = "nan", watch = w, resolve = false,
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
    return false
  end,
  notify = {{webhook = os.getenv("HOOKS") .. "/slow", template = {run = "{{run.path}}"}},
    {webhook = os.getenv("HOOKS") .. "/fast", template = {run = "{{run.path}}"}}}}
LUA
admin POST faults '{"rules":[{"match":{"path":"/hooks/slow"},"times":-1,"action":{"delay_ms":20000}}]}' > /dev/null
export TRAIL=$tmp/trail
touch "$TRAIL"
start_sim 0.2
start_daemon d "$tmp/daemon.log" --state "$tmp/state.db" "$tmp/d/daemon.lua"
sleep 1.5
run=$(head -1 "$tmp/runs")
admin POST "runs/$run" '{"nan":true}' > /dev/null
logged() {   # rows the runs hold on the server
  local p s=0
  for p in $(cat "$tmp/runs"); do s=$((s + $(admin GET "run/$p" | sed -n 's/.*"historyLineCount":\([0-9]*\).*/\1/p'))); done
  echo "$s"
}
if wait_for 20 inflight /hooks/slow; then
  l0=$(wc -l < "$TRAIL"); p0=$(logged)
  sleep 10                      # the slow receiver still holds the webhook
  l1=$(wc -l < "$TRAIL"); p1=$(logged)
  eval "$(count hooks fast --prefix fast)"
  still=$(inflight /hooks/slow && echo 1 || echo 0)
  delivered=$((l1 - l0)); produced=$((p1 - p0))
  check item08.rows-on-schedule 8 "$(holds "still == 1 && produced > 0 && delivered * 2 >= produced")" \
    "while the slow receiver held a webhook for 10 s: the runs logged $produced rows, the watch delivered $delivered"
  check item08.other-destination 8 "$(holds "still == 1 && fast_total == 1")" \
    "meanwhile the fast destination got $fast_total of its 1 notification"
else
  check item08.rows-on-schedule 8 0 "the slow webhook never reached the receiver"
fi
stop_sim
slow_arrived() { eval "$(count hooks slow --prefix slow)"; [ "$slow_total" -ge 1 ]; }
wait_for 40 slow_arrived
sleep 2
stop_daemon "$d"
dump_rows "$tmp/state.db" "$tmp/rows.json" 2>> "$tmp/daemon.log"
eval "$(count rows "$tmp/rows.json" "$tmp/runs")"
eval "$(count hooks slow --prefix slow)"; eval "$(count hooks fast --prefix fast)"
check item08.exactly-once 8 "$(holds "slow_total == 1 && fast_total == 1 && rows_lost == 0 && rows_repeats == 0 && rows_extra == 0")" \
  "slow webhooks $slow_total, fast $fast_total (1 each); $rows_expected rows, $rows_got recorded, $rows_lost lost, $rows_repeats repeated"
[ "$n_fail" = 0 ] || show_log "$tmp/daemon.log" 10
finish
