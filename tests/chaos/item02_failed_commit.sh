# Issue 12 item 2: a failed commit must not lose history rows. The state file lives on a small
# tmpfs; while the watch delivers rows the disk is filled (commits fail: SQLITE_FULL), then freed,
# then the daemon is restarted. Every row of every run must be recorded by the handler exactly
# once (the handler records rows in the state store, in the cursor's transaction).
. "$(dirname "$0")/ns.sh"
. "$(dirname "$0")/lib.sh"
if ! small_disk "$tmp/disk" 16m; then
  skip item02.rows 2 "no full disk can be made here: $disk_why"
  finish
fi
start_server
generate rw-team/disk 3 3 5 21 | sed 's|^|rw-team/disk/|' > "$tmp/runs"
mkdir -p "$tmp/d"
cat > "$tmp/d/daemon.lua" <<'LUA'
watch{project = "rw-team/disk", every = 0.3, id = "disk", stale = false,
  on_history = function(run, rows)
    local seen = state.get("rows:" .. run.path) or json.array({})
    for _, r in ipairs(rows) do seen[#seen + 1] = r._step end
    state.set("rows:" .. run.path, seen)
  end}
LUA
S="--state $tmp/disk/state.db"
start_sim 0.2
start_daemon d "$tmp/daemon.log" $S "$tmp/d/daemon.lua"
sleep 3
fill_disk
sleep 6                 # ~20 ticks with the disk full, rows keep coming
free_disk
sleep 3
stop_daemon "$d"
start_daemon d "$tmp/daemon.log" $S "$tmp/d/daemon.lua"    # the restart
sleep 2
stop_sim
sleep 2                 # the daemon catches up with the last rows
stop_daemon "$d"
full=$(grep -c -i -e 'full' -e 'disk' "$tmp/daemon.log")
dump_rows "$tmp/disk/state.db" "$tmp/rows.json" 2>> "$tmp/daemon.log"
eval "$(count rows "$tmp/rows.json" "$tmp/runs")"
check item02.rows 2 "$(holds "rows_lost == 0 && rows_repeats == 0 && rows_extra == 0 && rows_expected > 0 && full > 0")" \
  "$rows_expected rows on the server, $rows_got delivered, $rows_lost lost, $rows_repeats repeated ($full log lines about the full disk)"
[ "$n_fail" = 0 ] || show_log "$tmp/daemon.log"
finish
