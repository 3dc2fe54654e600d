# Issue 12 item 9: --dry-run reads but writes nothing, the state file included. A daemon under
# --dry-run (a watch whose handler annotates the run and, in a real run, records its rows in the
# state store; a NaN rule notifying a webhook) must print each tick's plan, send nothing, and
# leave the state file byte-identical (and absent when it was absent: no file, no -wal, no
# -shm). A real run afterwards then delivers every row exactly once and the NaN notification once.
. "$(dirname "$0")/lib.sh"
start_server
generate rw-team/dry 2 2 5 91 | sed 's|^|rw-team/dry/|' > "$tmp/runs"
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local w = watch{project = "rw-team/dry", every = 0.3, id = "dry", stale = false,
  on_history = function(run, rows)
    if not dry_run then   -- the rows a real run delivered (a dry run's would hide the lost ones)
      local seen = state.get("rows:" .. run.path) or json.array({})
      for _, r in ipairs(rows) do seen[#seen + 1] = r._step end
      state.set("rows:" .. run.path, seen)
    end
    actions.annotate(run, {last_seen_step = rows[#rows]._step})
  end}
rule{name = "nan", watch = w, resolve = false,
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
    return false
  end,
  notify = {{webhook = os.getenv("HOOKS") .. "/dry", template = {rule = "{{alert.rule}}", run = "{{run.path}}", transition = "{{alert.transition}}"}}}}
LUA
files() { local f; for f in "$1" "$1-wal" "$1-shm"; do [ -e "$f" ] && sha256sum "$f" | sed "s|$tmp/||"; done; true; }
nanrun=$(head -1 "$tmp/runs")
start_sim 0.2

# A. no state file yet: a dry run must not create one
start_daemon d "$tmp/dry-a.out" --dry-run --state "$tmp/a.db" "$tmp/d/daemon.lua"
sleep 3
stop_daemon "$d"
created=$(files "$tmp/a.db")
check item09.absent-stays-absent 9 "$(holds "${#created} == 0")" \
  "after a 3 s dry run without a state file: ${created:-nothing} $( [ -n "$created" ] && echo "was created")"

# B. an existing state file: a real `once` makes it, a dry run follows, during which a run logs NaN
rw once $LIB --state "$tmp/b.db" "$tmp/d/daemon.lua" > "$tmp/once.out" 2>&1
before=$(files "$tmp/b.db")
start_daemon d "$tmp/dry-b.out" --dry-run --state "$tmp/b.db" "$tmp/d/daemon.lua"
sleep 1.5
admin POST "runs/$nanrun" '{"nan":true}' > /dev/null
sleep 3
stop_daemon "$d"
after=$(files "$tmp/b.db")
eval "$(count hooks dry --prefix dryhooks)"
# the plan: a line naming the dry run, with the lines indented under it
plans() {   # plans PATTERN...: plan entries whose text matches every PATTERN
  awk 'function done() { if (b != "") { ok = 1; for (i = 1; i < ARGC0; i++) if (b !~ pat[i]) ok = 0; n += ok } b = "" }
       BEGIN { ARGC0 = ARGC - 1; for (i = 1; i < ARGC0; i++) pat[i] = ARGV[i]; for (i = 1; i < ARGC0; i++) delete ARGV[i] }
       /^[[:space:]]/ { if (b != "") b = b "\n" $0; next }
       { done() } tolower($0) ~ /dry.run/ { b = $0 }
       END { done(); print n + 0 }' "$@" "$tmp/dry-b.out"
}
plan_nan=$(plans "${nanrun##*/}" firing)
plan_rows=$(plans last_seen_step)
same=0; [ "$before" = "$after" ] && same=1
check item09.state-unchanged 9 "$(holds "${#before} > 0 && same == 1")" \
  "state file before the dry run: $(echo $before | cut -c1-80)...; after: $( [ "$before" = "$after" ] && echo identical || echo "changed ($(echo $after | tr '\n' ' ' | cut -c1-120))")"
check item09.plan-printed 9 "$(holds "plan_nan >= 1 && plan_rows >= 3 && dryhooks_total == 0")" \
  "the dry run printed $plan_nan plan lines for the NaN notification, $plan_rows for the handler's annotate (one per tick with rows), and sent $dryhooks_total webhooks"

# C. a real run afterwards sends everything once
start_daemon d "$tmp/real.log" --state "$tmp/b.db" "$tmp/d/daemon.lua"
sleep 2
stop_sim
sleep 2
stop_daemon "$d"
dump_rows "$tmp/b.db" "$tmp/rows.json" 2>> "$tmp/real.log"
eval "$(count rows "$tmp/rows.json" "$tmp/runs")"
eval "$(count hooks dry)"
check item09.real-run-after 9 "$(holds "rows_lost == 0 && rows_repeats == 0 && rows_extra == 0 && hooks_total == 1")" \
  "the real run after the dry run: $rows_expected rows, $rows_got recorded, $rows_lost lost, $rows_repeats repeated; NaN webhooks $hooks_total (1 expected)"
[ "$n_fail" = 0 ] || { show_log "$tmp/dry-b.out" 10; show_log "$tmp/real.log" 10; }
finish
