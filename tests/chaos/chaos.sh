# The chaos suite (issue 12, Deliver 3): everything at once, counted at the other end. One daemon
# with two watches (two projects) and their rules runs against the test server's live simulation
# while each of 14 cycles injects a different fault (429 with Retry-After, 5xx, connections dropped
# before and mid-answer, truncated answers -- on reads, on W&B alerts and on note upserts --, slow
# history, webhook receivers answering 500 then slowly) and ends the daemon a different way
# (kill -9 at a random moment, kill -9 while a webhook / an alert / a note upsert is in flight,
# SIGHUP reloads then kill -9, SIGTERM); a run logs a NaN every other cycle. Then a clean run
# catches up. What must hold, from what the server stored:
#   rows           every history row of every run delivered to the handler exactly once
#   webhooks       handler and rule webhooks: none lost, each notification under one key (repeats
#                  only under the same Idempotency-Key, which the receiver drops)
#   note lines     exactly once (checked before repeating)
#   W&B alerts     never twice (at most once: W&B cannot deduplicate; docs/effects.md)
# A full disk is item02_failed_commit.sh's scenario (it needs a mount namespace); the dry run,
# shared state and budget cases have their own item*.sh scenarios.
. "$(dirname "$0")/lib.sh"
start_server
generate rw-team/storm-a 3 3 5 91 | sed 's|^|rw-team/storm-a/|' > "$tmp/runs"
generate rw-team/storm-b 3 3 5 92 | sed 's|^|rw-team/storm-b/|' >> "$tmp/runs"
first=$(head -1 "$tmp/runs")
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local hooks, first = os.getenv("HOOKS"), os.getenv("FIRST")
local function handler(run, rows)
  local seen = state.get("rows:" .. run.path) or json.array({})
  for _, r in ipairs(rows) do
    local s = math.tointeger(r._step)
    seen[#seen + 1] = s
    if s % 5 == 0 then actions.webhook(hooks .. "/handler", {run = run.path, step = s}) end
    if s % 20 == 0 and run.path == first then
      actions.note(run, "handler step " .. s)
      actions.wandb_alert(run, {title = "handler step " .. s, text = "every 20th step", level = "INFO"})
    end
  end
  state.set("rows:" .. run.path, seen)
end
local function nan(run, ctx)
  for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
  return false
end
for _, p in ipairs{"a", "b"} do
  local w = watch{project = "rw-team/storm-" .. p, every = 0.3, id = "storm-" .. p, stale = false, on_history = handler}
  rule{name = "nan-" .. p, watch = w, when = nan,
    notify = {{webhook = hooks .. "/rule", template = {rule = "{{alert.rule}}", run = "{{run.path}}", transition = "{{alert.transition}}"}},
      {wandb_alert = true}, {notes = "rule {{alert.rule}} {{alert.transition}}"}}}
end
LUA
export FIRST=$first

# the fault of each cycle (the slow receiver stays on throughout)
SLOW='{"match":{"path":"/hooks/"},"times":-1,"action":{"delay_ms":150}}'
FAULTS=(
  '{"match":{"path":"/graphql"},"times":2,"action":{"status":429,"headers":{"Retry-After":"1"}}}'
  '{"match":{"path":"/graphql"},"times":3,"action":{"status":502}}'
  '{"match":{"path":"/graphql"},"times":2,"action":{"drop":"before"}}'
  '{"match":{"path":"/graphql"},"after":1,"times":2,"action":{"truncate":60}}'
  '{"match":{"op":"NotifyScriptableRunAlert"},"times":1,"action":{"drop":"mid-body"}}'
  '{"match":{"op":"UpsertBucket"},"times":1,"action":{"truncate":20}}'
  '{"match":{"path":"/hooks/"},"times":4,"action":{"status":500}}'
  '{"match":{"path":"/graphql"},"times":2,"action":{"delay_ms":2500}}'
  '{"match":{"path":"/graphql"},"times":2,"action":{"drop":"mid-body"}}'
  '{"match":{"op":"NotifyScriptableRunAlert"},"times":1,"action":{"truncate":30}}'
  '{"match":{"op":"UpsertBucket"},"times":1,"action":{"drop":"mid-body"}}'
  '{"match":{"path":"/graphql"},"times":2,"action":{"malformed":true}}'
  '{"match":{"path":"/hooks/"},"times":2,"action":{"drop":"before"}}'
  '{"match":{"path":"/graphql"},"times":3,"action":{"status":503}}'
)
start_sim 0.25
settled() { ! inflight /; }
nan_runs=0; ends=""
for cycle in $(seq 0 13); do
  admin POST faults "{\"rules\":[${FAULTS[$cycle]},$SLOW]}" > /dev/null
  start_daemon d "$tmp/daemon.log" --state "$tmp/state.db" "$tmp/d/daemon.lua"
  if [ $((cycle % 2)) = 1 ] && [ $nan_runs -lt 6 ]; then
    nan_runs=$((nan_runs + 1))
    admin POST "runs/$(sed -n "${nan_runs}p" "$tmp/runs")" '{"nan":true}' > /dev/null
  fi
  case $((cycle % 6)) in
    0) sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.4 + (r % 200) / 100 }')"; kill9 "$d"; ends="$ends kill" ;;
    1) wait_for 6 inflight /hooks/; kill9 "$d"; ends="$ends kill-webhook" ;;
    2) wait_for 6 inflight NotifyScriptableRunAlert; kill9 "$d"; ends="$ends kill-alert" ;;
    3) sleep 1; kill -HUP "$d"; sleep 0.7; kill -HUP "$d"; sleep 0.8; kill9 "$d"; ends="$ends hup-kill" ;;
    4) wait_for 6 inflight UpsertBucket; kill9 "$d"; ends="$ends kill-upsert" ;;
    5) sleep 2; stop_daemon "$d"; ends="$ends term" ;;
  esac
  wait_for 10 settled
done
admin DELETE faults > /dev/null
stop_sim
start_daemon d "$tmp/daemon.log" --state "$tmp/state.db" "$tmp/d/daemon.lua"   # a clean run catches up
sleep 6
stop_daemon "$d"
dump_rows "$tmp/state.db" "$tmp/rows.json" 2>> "$tmp/daemon.log"
echo "14 cycles:$ends; $nan_runs runs logged a NaN"
curl -sf "$URL/_admin/requests" | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    const j = JSON.parse(s); const l = Array.isArray(j) ? j : j.requests; const by = {};
    for (const r of l) if (r.fault && !/^delay/.test(r.fault)) by[r.fault] = (by[r.fault] || 0) + 1;
    console.log("faults applied: " + (Object.entries(by).map(([k, v]) => k + " x" + v).join(", ") || "none")); })'

# what should have arrived, from what the server holds
node -e '
  const [base, runsFile, first, out] = process.argv.slice(1);
  const fs = require("fs");
  (async () => {
    const h = [], n = [], a = [], r = [];
    for (const path of fs.readFileSync(runsFile, "utf8").split("\n").filter(Boolean)) {
      const run = await (await fetch(base + "/_admin/run/" + path + "?history=1")).json();
      const rule = "nan-" + path.split("/")[1].slice(-1);
      let nan = false;
      for (const text of run.history) {
        const step = Number(/"_step"\s*:\s*(\d+)/.exec(text)[1]);
        if (/"loss"\s*:\s*NaN/.test(text)) nan = true;
        if (step % 5 === 0) h.push(path + "|" + step);
        if (step % 20 === 0 && path === first) { n.push(run.name + "|handler step " + step); a.push(run.name + "|handler step " + step); }
      }
      if (nan) for (const t of ["firing", "resolved"]) { r.push(rule + "|" + path + "|" + t); n.push(run.name + "|rule " + rule + " " + t); a.push(run.name + "|" + rule + " " + t); }
    }
    const w = (f, l) => fs.writeFileSync(out + "." + f, l.join("\n") + "\n");
    w("handler", h); w("notes", n); w("alerts", a); w("rule", r);
  })();' "$URL" "$tmp/runs" "$first" "$tmp/expect"
eval "$(count rows "$tmp/rows.json" "$tmp/runs")"
eval "$(count hooks handler --id run,step --expect "$tmp/expect.handler" --prefix hh)"
eval "$(count hooks rule --id rule,run,transition --expect "$tmp/expect.rule" --prefix hr)"
eval "$(count alerts --expect "$tmp/expect.alerts")"
eval "$(count notes $(cat "$tmp/runs") --expect "$tmp/expect.notes")"

check chaos.rows 3 "$(holds "rows_lost == 0 && rows_repeats == 0 && rows_extra == 0 && rows_expected > 0")" \
  "$rows_expected rows, $rows_got delivered, $rows_lost lost, $rows_repeats repeated, $rows_extra unknown"
check chaos.handler-webhooks 3 "$(holds "hh_nokey == 0 && hh_lost == 0 && hh_multikey == 0 && hh_unexpected == 0 && hh_repeats == hh_keyrepeats && hh_expected > 0")" \
  "$hh_expected notifications, $hh_total received: $hh_nokey without a key, $hh_lost lost, $hh_repeats repeated ($hh_keyrepeats under the same key, $hh_multikey under a second key)"
check chaos.rule-webhooks 3 "$(holds "hr_nokey == 0 && hr_lost == 0 && hr_multikey == 0 && hr_unexpected == 0 && hr_repeats == hr_keyrepeats && hr_expected == 2 * $nan_runs")" \
  "$hr_expected notifications, $hr_total received: $hr_nokey without a key, $hr_lost lost, $hr_repeats repeated ($hr_keyrepeats under the same key)"
check chaos.notes 3 "$(holds "notes_repeats == 0 && notes_lost == 0 && notes_unexpected == 0 && notes_expected > 0")" \
  "$notes_expected note lines expected, $notes_total on the runs: $notes_repeats duplicated, $notes_lost lost"
check chaos.alerts 3 "$(holds "alerts_repeats == 0 && alerts_unexpected == 0 && alerts_total > 0")" \
  "$alerts_expected W&B alerts expected, $alerts_total recorded: $alerts_repeats duplicated ($alerts_lost not sent: at most once)"
[ "$n_fail" = 0 ] || show_log "$tmp/daemon.log" 30
finish
