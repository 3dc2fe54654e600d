# Issue 12 item 4: an ambiguous failure -- W&B executed the request but the answer was cut (a
# truncated body, or the connection dropped mid-body) -- must not repeat a non-idempotent effect.
# A rule notifies W&B (wandb_alert) and appends a note line when a run logs a NaN loss; the first
# notifyScriptableRunAlert and the first UpsertBucket of the note append get the fault. Afterwards
# the run must have exactly one W&B alert and one note line.
. "$(dirname "$0")/lib.sh"
start_server
generate rw-team/amb 2 2 5 41 | sed 's|^|rw-team/amb/|' > "$tmp/runs"
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local w = watch{project = "rw-team/amb", every = 0.3, id = "amb", stale = false}
rule{name = "nan", watch = w, resolve = false,
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
    return false
  end,
  notify = {{wandb_alert = true}, {notes = "loss NaN at step {{run.summary._step}}"}}}
LUA
start_sim 0.2
start_daemon d "$tmp/daemon.log" --state "$tmp/state.db" "$tmp/d/daemon.lua"
sleep 1.5

# one_case N FAULT: the Nth run logs a NaN with FAULT on the first alert and the first upsert
one_case() {
  local run; run=$(sed -n "${1}p" "$tmp/runs")
  admin POST faults "{\"rules\":[{\"match\":{\"op\":\"NotifyScriptableRunAlert\"},\"times\":1,\"action\":$2},
    {\"match\":{\"op\":\"UpsertBucket\"},\"times\":1,\"action\":$2},
    {\"match\":{\"op\":\"UpsertBucket\"},\"times\":1,\"action\":{\"graphql_error\":\"upstream request timeout\"}}]}" > /dev/null
  admin POST "runs/$run" '{"nan":true}' > /dev/null
  arrived() {
    eval "$(count alerts --match "^${run##*/}[|]")"; eval "$(count notes "$run")"
    [ "$alerts_total" -ge 1 ] && [ "$notes_total" -ge 1 ]
  }
  wait_for 30 arrived
  sleep 4      # ten more ticks: a repeat would have come by now
  eval "$(count alerts --match "^${run##*/}[|]")"; eval "$(count notes "$run")"
  hits=$(admin GET faults | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log((j.rules||j).reduce((a,r)=>a+r.hits,0))})')
}
one_case 1 '{"truncate":10}'
check item04.truncated.alert 4 "$(holds "alerts_total == 1 && hits == 3")" \
  "answers truncated after 10 bytes ($hits faults applied): $alerts_total W&B alerts recorded for 1 notification"
check item04.truncated.note 4 "$(holds "notes_total == 1 && hits == 3")" \
  "$notes_total note lines for 1 notification ($notes_repeats repeated; the retry of the upsert got a GraphQL error)"
one_case 2 '{"drop":"mid-body"}'
check item04.dropped.alert 4 "$(holds "alerts_total == 1 && hits == 3")" \
  "connection dropped mid-body ($hits faults applied): $alerts_total W&B alerts recorded for 1 notification"
check item04.dropped.note 4 "$(holds "notes_total == 1 && hits == 3")" \
  "$notes_total note lines for 1 notification ($notes_repeats repeated; the retry of the upsert got a GraphQL error)"
stop_sim
stop_daemon "$d"
[ "$n_fail" = 0 ] || show_log "$tmp/daemon.log" 30
finish
