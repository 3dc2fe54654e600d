# Issue 12 item 6: SIGHUP reloads while notifications are being delivered repeat nothing. A NaN
# rule notifies a slow receiver -- first a webhook (0.5 s per hook), then, in a second daemon,
# W&B (wandb_alert, 0.5 s per alert); six runs log a NaN loss and the daemon gets a SIGHUP every
# 0.7 s while the twelve notifications (firing, resolved) go out. Each must arrive once: 0
# repeated, 0 lost.
. "$(dirname "$0")/lib.sh"
start_server
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local kind = os.getenv("KIND")
local w = watch{project = "rw-team/hup-" .. kind, every = 0.3, id = "hup", stale = false}
rule{name = "nan", watch = w,
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
    return false
  end,
  notify = {kind == "webhook" and {webhook = os.getenv("HOOKS") .. "/hup",
    template = {rule = "{{alert.rule}}", run = "{{run.path}}", transition = "{{alert.transition}}"}} or {wandb_alert = true}}}
LUA
admin POST faults '{"rules":[{"match":{"path":"/hooks/"},"times":-1,"action":{"delay_ms":500}},
  {"match":{"op":"NotifyScriptableRunAlert"},"times":-1,"action":{"delay_ms":500}}]}' > /dev/null
start_sim 0.25

# phase KIND: six NaN episodes under SIGHUPs; counts into $KIND_* (webhook_*, alerts_*)
phase() {
  local kind=$1 d run i
  generate "rw-team/hup-$kind" 6 6 5 61 | sed "s|^|rw-team/hup-$kind/|" > "$tmp/runs.$kind"
  KIND=$kind start_daemon d "$tmp/$kind.log" --state "$tmp/$kind.db" "$tmp/d/daemon.lua"
  sleep 1.5
  : > "$tmp/expect.$kind"
  while read -r run; do
    admin POST "runs/$run" '{"nan":true}' > /dev/null
    for t in firing resolved; do
      if [ "$kind" = webhook ]; then echo "nan|$run|$t"; else echo "${run##*/}|nan $t"; fi >> "$tmp/expect.$kind"
    done
  done < "$tmp/runs.$kind"
  hups=0
  arrived() { if [ "$kind" = webhook ]; then eval "$(count hooks hup --prefix n)"; else eval "$(count alerts --prefix n)"; fi; [ "$n_total" -ge 12 ]; }
  for i in $(seq 1 40); do
    sleep 0.7
    kill -HUP "$d"; hups=$((hups + 1))
    arrived && break
  done
  sleep 3   # repeats, if any, are on their way
  stop_daemon "$d"
  reloads=$(grep -c -i 'reload' "$tmp/$kind.log")
}
phase webhook
eval "$(count hooks hup --id rule,run,transition --expect "$tmp/expect.webhook")"
check item06.webhooks 6 "$(holds "hooks_repeats == 0 && hooks_lost == 0 && hooks_unexpected == 0")" \
  "$hups SIGHUPs ($reloads log lines about reloads): $hooks_expected notifications, $hooks_total webhooks, $hooks_repeats repeated ($hooks_keyrepeats under the same Idempotency-Key), $hooks_lost lost"
phase alert
eval "$(count alerts --expect "$tmp/expect.alert")"
check item06.alerts 6 "$(holds "alerts_repeats == 0 && alerts_lost == 0 && alerts_unexpected == 0")" \
  "$hups SIGHUPs ($reloads log lines about reloads): $alerts_expected W&B alerts expected, $alerts_total recorded, $alerts_repeats repeated, $alerts_lost lost"
stop_sim
[ "$n_fail" = 0 ] || { show_log "$tmp/webhook.log" 10; show_log "$tmp/alert.log" 10; }
finish
