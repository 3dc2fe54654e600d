# Issue 12 item 1: two watches, no fault at all. One daemon watches two projects, another two
# filters of one project; each watch has a rule that notifies a webhook and W&B (wandb_alert) when
# a run logs a NaN loss. 12 NaN rows (3 per watch) make 24 transitions (firing, resolved): each
# must arrive exactly once at the receiver and at W&B -- 0 duplicated, 0 lost.
. "$(dirname "$0")/lib.sh"
start_server --live-ms 300
generate rw-team/alpha 4 4 5 11 > "$tmp/alpha"
generate rw-team/beta 4 4 5 12 > "$tmp/beta"
generate rw-team/gamma 8 8 5 13 > "$tmp/gamma"   # groups group-0..group-7

mkdir -p "$tmp/projects" "$tmp/filters"
rule_of() {   # rule_of NAME WATCHVAR HOOK: a NaN rule notifying a webhook and W&B
  cat <<LUA
rule{name = "$1", watch = $2,
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
    return false
  end,
  notify = {{webhook = os.getenv("HOOKS") .. "/$3", template = {rule = "{{alert.rule}}", run = "{{run.path}}",
    transition = "{{alert.transition}}"}}, {wandb_alert = true}}}
LUA
}
{ echo 'local a = watch{project = "rw-team/alpha", every = 0.5, id = "alpha", stale = false}'
  echo 'local b = watch{project = "rw-team/beta", every = 0.5, id = "beta", stale = false}'
  rule_of nan-alpha a projects; rule_of nan-beta b projects; } > "$tmp/projects/daemon.lua"
{ echo 'local a = watch{project = "rw-team/gamma", every = 0.5, id = "gamma-low", stale = false,'
  echo '  filters = {group = {["$in"] = {"group-0", "group-1", "group-2", "group-3"}}}}'
  echo 'local b = watch{project = "rw-team/gamma", every = 0.5, id = "gamma-high", stale = false,'
  echo '  filters = {group = {["$in"] = {"group-4", "group-5", "group-6", "group-7"}}}}'
  rule_of nan-low a filters; rule_of nan-high b filters; } > "$tmp/filters/daemon.lua"

start_daemon d1 "$tmp/projects.log" --state "$tmp/projects.db" "$tmp/projects/daemon.lua"
start_daemon d2 "$tmp/filters.log" --state "$tmp/filters.db" "$tmp/filters/daemon.lua"
sleep 2   # both daemons have ticked: the runs are known, their rows delivered

# 3 NaN rows per watch, in distinct runs: one episode (firing, then resolved) each
: > "$tmp/expect.projects"; : > "$tmp/expect.filters"; : > "$tmp/expect.alerts"
nan() {   # nan RULE PROJECT ID KIND
  admin POST "runs/rw-team/$2/$3" '{"nan":true}' > /dev/null
  for t in firing resolved; do
    echo "$1|rw-team/$2/$3|$t" >> "$tmp/expect.$4"
    echo "$3|$1 $t" >> "$tmp/expect.alerts"
  done
}
for id in $(head -3 "$tmp/alpha"); do nan nan-alpha alpha "$id" projects; done
for id in $(head -3 "$tmp/beta"); do nan nan-beta beta "$id" projects; done
i=0
for id in $(cat "$tmp/gamma"); do   # generated run i is in group-i: 0-3 low, 4-7 high
  case $i in 0|1|2) nan nan-low gamma "$id" filters ;; 4|5|6) nan nan-high gamma "$id" filters ;; esac
  i=$((i + 1))
done

all_arrived() {
  eval "$(count hooks projects --prefix p)"; eval "$(count hooks filters --prefix f)"; eval "$(count alerts)"
  [ "$p_total" -ge 12 ] && [ "$f_total" -ge 12 ] && [ "$alerts_total" -ge 24 ]
}
wait_for 60 all_arrived
sleep 3   # repeats, if any, are on their way
stop_daemon "$d1"; stop_daemon "$d2"

eval "$(count hooks projects --id rule,run,transition --expect "$tmp/expect.projects" --prefix p)"
eval "$(count hooks filters --id rule,run,transition --expect "$tmp/expect.filters" --prefix f)"
grep -e '|nan-alpha ' -e '|nan-beta ' "$tmp/expect.alerts" > "$tmp/expect.alerts.p"
grep -e '|nan-low ' -e '|nan-high ' "$tmp/expect.alerts" > "$tmp/expect.alerts.f"
eval "$(count alerts --expect "$tmp/expect.alerts.p" --match '[|]nan-(alpha|beta) ' --prefix ap)"
eval "$(count alerts --expect "$tmp/expect.alerts.f" --match '[|]nan-(low|high) ' --prefix af)"

check item01.projects.webhooks 1 "$(holds "p_repeats == 0 && p_lost == 0 && p_unexpected == 0")" \
  "$p_expected notifications, $p_total webhooks received, $p_repeats duplicated, $p_lost lost"
check item01.filters.webhooks 1 "$(holds "f_repeats == 0 && f_lost == 0 && f_unexpected == 0")" \
  "$f_expected notifications, $f_total webhooks received, $f_repeats duplicated, $f_lost lost"
check item01.projects.alerts 1 "$(holds "ap_repeats == 0 && ap_lost == 0 && ap_unexpected == 0")" \
  "$ap_expected alerts, $ap_total recorded by W&B, $ap_repeats duplicated, $ap_lost lost"
check item01.filters.alerts 1 "$(holds "af_repeats == 0 && af_lost == 0 && af_unexpected == 0")" \
  "$af_expected alerts, $af_total recorded by W&B, $af_repeats duplicated, $af_lost lost"
[ "$n_fail" = 0 ] || { show_log "$tmp/projects.log"; show_log "$tmp/filters.log"; }
finish
