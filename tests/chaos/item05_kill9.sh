# Issue 12 item 5: kill -9 at random moments mid-delivery. A watch's handler records its rows (in
# the state store), sends a webhook every 4th step and, on one run, a note line and a W&B alert
# every 20th step; a NaN rule notifies a webhook, W&B and the notes. The receivers are slow (hooks
# 300 ms, alerts 1.5 s, upserts 0.8 s), and the daemon is killed 20 times: five at a random moment,
# five each while a W&B alert, a webhook, a note's UpsertBucket is in flight; each restart waits
# until the server has finished what it was doing (so a check before repeating can see it). Afterwards: every row exactly once; every webhook (handler and
# rule) carries an Idempotency-Key, and per notification nothing is lost and no second key is
# used; no W&B alert and no note line twice (and no note line lost).
. "$(dirname "$0")/lib.sh"
start_server
generate rw-team/kill 4 4 5 51 | sed 's|^|rw-team/kill/|' > "$tmp/runs"
first=$(head -1 "$tmp/runs")
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local hooks, first = os.getenv("HOOKS"), os.getenv("FIRST")
local w = watch{project = "rw-team/kill", every = 0.3, id = "kill", stale = false,
  on_history = function(run, rows)
    local seen = state.get("rows:" .. run.path) or json.array({})
    for _, r in ipairs(rows) do
      local s = math.tointeger(r._step)
      seen[#seen + 1] = s
      if s % 4 == 0 then actions.webhook(hooks .. "/handler", {run = run.path, step = s}) end
      if s % 20 == 0 and run.path == first then
        actions.note(run, "handler step " .. s)
        actions.wandb_alert(run, {title = "handler step " .. s, text = "every 20th step", level = "INFO"})
      end
    end
    state.set("rows:" .. run.path, seen)
  end}
rule{name = "nan", watch = w,
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
    return false
  end,
  notify = {{webhook = hooks .. "/rule", template = {rule = "{{alert.rule}}", run = "{{run.path}}", transition = "{{alert.transition}}"}},
    {wandb_alert = true}, {notes = "rule nan {{alert.transition}}"}}}
LUA
admin POST faults '{"rules":[{"match":{"path":"/hooks/"},"times":-1,"action":{"delay_ms":300}},
  {"match":{"op":"NotifyScriptableRunAlert"},"times":-1,"action":{"delay_ms":1500}},
  {"match":{"op":"UpsertBucket"},"times":-1,"action":{"delay_ms":800}}]}' > /dev/null
export FIRST=$first
start_sim 0.25
settled() { ! inflight /; }
targeted=0
for cycle in $(seq 1 20); do
  start_daemon d "$tmp/daemon.log" --state "$tmp/state.db" "$tmp/d/daemon.lua"
  case $cycle in 3|7|11|15) admin POST "runs/$(sed -n "$(( (cycle + 1) / 4 ))p" "$tmp/runs")" '{"nan":true}' > /dev/null ;; esac
  case $((cycle % 4)) in
    0) wait_for 6 inflight NotifyScriptableRunAlert && targeted=$((targeted + 1)) ;;
    1) wait_for 6 inflight /hooks/ && targeted=$((targeted + 1)) ;;
    2) wait_for 6 inflight UpsertBucket && targeted=$((targeted + 1)) ;;
    *) sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.5 + (r % 200) / 100 }')" ;;
  esac
  kill9 "$d"
  wait_for 10 settled
done
admin DELETE faults > /dev/null
stop_sim
start_daemon d "$tmp/daemon.log" --state "$tmp/state.db" "$tmp/d/daemon.lua"   # a clean run to catch up
sleep 5
stop_daemon "$d"
dump_rows "$tmp/state.db" "$tmp/rows.json" 2>> "$tmp/daemon.log"
echo "20 kills, $targeted of them while an alert, a webhook or an upsert was in flight"

# what should have arrived, from what the server holds
node -e '
  const [base, runsFile, first, out] = process.argv.slice(1);
  const fs = require("fs");
  (async () => {
    const h = [], n = [], a = [], r = [], rn = [], ra = [];
    for (const path of fs.readFileSync(runsFile, "utf8").split("\n").filter(Boolean)) {
      const run = await (await fetch(base + "/_admin/run/" + path + "?history=1")).json();
      let nan = false;
      for (const text of run.history) {
        const step = Number(/"_step"\s*:\s*(\d+)/.exec(text)[1]);
        if (/"loss"\s*:\s*NaN/.test(text)) nan = true;
        if (step % 4 === 0) h.push(path + "|" + step);
        if (step % 20 === 0 && path === first) { n.push(run.name + "|handler step " + step); a.push(run.name + "|handler step " + step); }
      }
      if (nan) for (const t of ["firing", "resolved"]) { r.push("nan|" + path + "|" + t); rn.push(run.name + "|rule nan " + t); ra.push(run.name + "|nan " + t); }
    }
    const w = (f, l) => fs.writeFileSync(out + "." + f, l.join("\n") + "\n");
    w("handler", h); w("notes", n.concat(rn)); w("alerts", a.concat(ra)); w("rule", r);
  })();' "$URL" "$tmp/runs" "$first" "$tmp/expect"
eval "$(count rows "$tmp/rows.json" "$tmp/runs")"
eval "$(count hooks handler --id run,step --expect "$tmp/expect.handler" --prefix hh)"
eval "$(count hooks rule --id rule,run,transition --expect "$tmp/expect.rule" --prefix hr)"
eval "$(count alerts --expect "$tmp/expect.alerts")"
eval "$(count notes $(cat "$tmp/runs") --expect "$tmp/expect.notes")"

check item05.rows 5 "$(holds "rows_lost == 0 && rows_repeats == 0 && rows_extra == 0 && rows_expected > 0")" \
  "$rows_expected rows, $rows_got delivered, $rows_lost lost, $rows_repeats repeated"
check item05.handler-webhooks.keyed 5 "$(holds "hh_nokey == 0 && hh_total > 0")" \
  "$hh_total handler webhooks, $hh_nokey without an Idempotency-Key"
check item05.handler-webhooks.once-per-key 5 "$(holds "hh_lost == 0 && hh_multikey == 0 && hh_unexpected == 0 && hh_repeats == hh_keyrepeats")" \
  "$hh_expected notifications, $hh_total received: $hh_lost lost, $hh_repeats repeated ($hh_keyrepeats under the same key, $hh_multikey under a second key)"
check item05.rule-webhooks 5 "$(holds "hr_nokey == 0 && hr_lost == 0 && hr_multikey == 0 && hr_unexpected == 0 && hr_expected == 8")" \
  "$hr_expected notifications, $hr_total received: $hr_nokey without a key, $hr_lost lost, $hr_repeats repeated ($hr_keyrepeats under the same key)"
check item05.alerts 5 "$(holds "alerts_repeats == 0 && alerts_unexpected == 0")" \
  "$alerts_expected W&B alerts expected, $alerts_total recorded: $alerts_repeats duplicated ($alerts_lost lost)"
check item05.notes 5 "$(holds "notes_repeats == 0 && notes_lost == 0 && notes_unexpected == 0")" \
  "$notes_expected note lines expected, $notes_total on the runs: $notes_repeats duplicated, $notes_lost lost"
[ "$n_fail" = 0 ] || show_log "$tmp/daemon.log" 20
finish
