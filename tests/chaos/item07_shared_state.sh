# Issue 12 item 7: two processes on one --state. A state file is written by one process at a time:
# a second `runwatch run`, or a `runwatch once` (the documented cron use) while a daemon runs,
# must refuse with an error naming the first one's pid and exit non-zero, and nothing may be
# doubled (rows recorded by the handler, webhooks of a NaN rule). Readers (`runwatch status`,
# `runwatch log`) still work while the daemon runs.
. "$(dirname "$0")/lib.sh"
start_server
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
local w = watch{project = os.getenv("PROJECT"), every = 0.3, id = "shared", stale = false,
  on_history = function(run, rows)
    local seen = state.get("rows:" .. run.path) or json.array({})
    for _, r in ipairs(rows) do seen[#seen + 1] = r._step end
    state.set("rows:" .. run.path, seen)
  end}
rule{name = "nan", watch = w,
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do local v = row.loss; if v ~= v then return true, v end end
    return false
  end,
  notify = {{webhook = os.getenv("HOOKS") .. "/" .. os.getenv("PROJECT"):gsub("/", "-"),
    template = {rule = "{{alert.rule}}", run = "{{run.path}}", transition = "{{alert.transition}}"}}}}
LUA
start_sim 0.2

# the outcome of a second writer: its exit status and whether its output names the first's pid
refused() {   # refused RC OUTFILE PID -> 1 if RC is non-zero and OUTFILE says "pid PID"
  if [ "$1" != 0 ] && [ "$1" != running ] && grep -q "pid $3\\b" "$2"; then echo 1; else echo 0; fi
}
nan_both() {   # two NaN episodes; their expected notifications into $tmp/expect.$1
  local run; : > "$tmp/expect.$1"
  for run in $(head -2 "$tmp/runs.$1"); do
    admin POST "runs/$run" '{"nan":true}' > /dev/null
    printf 'nan|%s|firing\nnan|%s|resolved\n' "$run" "$run" >> "$tmp/expect.$1"
  done
}

# {====== A: two daemons
export PROJECT=rw-team/two-daemons
generate $PROJECT 3 3 5 71 | sed "s|^|$PROJECT/|" > "$tmp/runs.a"
start_daemon d1 "$tmp/a1.log" --state "$tmp/a.db" "$tmp/d/daemon.lua"
sleep 1.5
start_daemon d2 "$tmp/a2.log" --state "$tmp/a.db" "$tmp/d/daemon.lua"
gone() { ! kill -0 "$d2" 2>/dev/null; }
if wait_for 15 gone; then wait "$d2"; rc2=$?; else rc2=running; fi
nan_both a
sleep 3
# readers work while the daemon writes
rw status $LIB --state "$tmp/a.db" > "$tmp/status.out" 2>&1; rc_status=$?
rw log $LIB --state "$tmp/a.db" > "$tmp/log.out" 2>&1; rc_log=$?
stop_sim; sleep 1.5
[ "$rc2" = running ] && stop_daemon "$d2"
stop_daemon "$d1"
dump_rows "$tmp/a.db" "$tmp/rows.a.json" 2>> "$tmp/a1.log"
eval "$(count rows "$tmp/rows.a.json" "$tmp/runs.a")"
eval "$(count hooks rw-team-two-daemons --id rule,run,transition --expect "$tmp/expect.a")"
check item07.daemons.refused 7 "$(refused "$rc2" "$tmp/a2.log" "$d1")" \
  "second daemon: exit status $rc2, $(grep -c "pid $d1\\b" "$tmp/a2.log") lines naming pid $d1: $(grep -v '^ ' "$tmp/a2.log" | tail -1 | cut -c1-160)"
check item07.daemons.nothing-doubled 7 "$(holds "rows_repeats == 0 && rows_lost == 0 && rows_extra == 0 && hooks_repeats == 0 && hooks_lost == 0")" \
  "$rows_expected rows, $rows_got recorded: $rows_repeats doubled, $rows_lost lost; $hooks_expected notifications, $hooks_total webhooks: $hooks_repeats doubled, $hooks_lost lost"
check item07.readers 7 "$(holds "rc_status == 0 && rc_log == 0")" \
  "while the daemon runs: runwatch status exit $rc_status, runwatch log exit $rc_log"
# }======

# {====== B: a daemon and `runwatch once` five times
export PROJECT=rw-team/daemon-once
generate $PROJECT 3 3 5 72 | sed "s|^|$PROJECT/|" > "$tmp/runs.b"
start_sim 0.2
start_daemon d1 "$tmp/b1.log" --state "$tmp/b.db" "$tmp/d/daemon.lua"
sleep 1.5
nan_both b
ok_once=1; rcs=""
for i in 1 2 3 4 5; do
  timeout 60 "$RW_BIN" once $LIB --state "$tmp/b.db" "$tmp/d/daemon.lua" > "$tmp/once.out" 2>&1; rc=$?
  rcs="$rcs $rc"
  [ "$(refused "$rc" "$tmp/once.out" "$d1")" = 1 ] || ok_once=0
  sleep 0.5
done
sleep 2
stop_sim; sleep 1.5
stop_daemon "$d1"
dump_rows "$tmp/b.db" "$tmp/rows.b.json" 2>> "$tmp/b1.log"
eval "$(count rows "$tmp/rows.b.json" "$tmp/runs.b")"
eval "$(count hooks rw-team-daemon-once --id rule,run,transition --expect "$tmp/expect.b")"
check item07.once.refused 7 "$ok_once" \
  "runwatch once beside the daemon, exit statuses:$rcs; last output: $(grep -v '^ ' "$tmp/once.out" | tail -1 | cut -c1-160)"
check item07.once.nothing-doubled 7 "$(holds "rows_repeats == 0 && rows_lost == 0 && rows_extra == 0 && hooks_repeats == 0 && hooks_lost == 0")" \
  "$rows_expected rows, $rows_got recorded: $rows_repeats doubled, $rows_lost lost; $hooks_expected notifications, $hooks_total webhooks: $hooks_repeats doubled, $hooks_lost lost"
# }======
[ "$n_fail" = 0 ] || { show_log "$tmp/a2.log" 5; show_log "$tmp/once.out" 5; }
finish
