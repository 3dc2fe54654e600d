# The state store as a user meets it: kill -9 while writing, a corrupt file, a locked file, the default path, and `runwatch status` / `runwatch log`.
. "$(dirname "$0")/lib.sh"

# run_lua DB CODE: runs CODE with runwatch.sqlite on DB, prints its output (for checks behind the API)
run_lua() { $RW $LIB --state "$1" -e "$2"; }

# {====== 1. kill -9 at random moments while a process writes cursors, outbox and audit entries
db="$tmp/crash/state.db"
cat > "$tmp/writer.lua" <<'EOF'
-- each iteration is one transaction; its number is printed only after COMMIT returned
local i = state.meta_get("writer_i") or 0
while true do
  i = i + 1
  state.transaction(function()
    state.outbox_add("k" .. i, "test", {i = i})
    state.set_cursor("w", "run" .. (i % 10), {i = i})
    state.audit("write", "run" .. (i % 10), "ok", "iteration " .. i)
    state.meta_set("writer_i", i)
  end)
  if i % 3 == 0 then state.outbox_done(i - 1, "ok") end  -- an autocommit write between them
  print(i)
end
EOF
printed=0
for round in $(seq 1 20); do
  $RW once $LIB --cpu-budget 100000 --state "$db" "$tmp/writer.lua" > "$tmp/w.out" 2> "$tmp/w.err" &
  pid=$!
  # wait for the writer's first commit (a sanitizer build starts slowly), then kill at random
  for _ in $(seq 1 600); do [ -s "$tmp/w.out" ] && break; sleep 0.05; done
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", (r % 400) / 1000 }')"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  last=$(grep -E '^[0-9]+$' "$tmp/w.out" | tail -1)
  [ -n "$last" ] && [ "$last" -gt "$printed" ] && printed=$last
  if grep -q ERROR "$tmp/w.err"; then bad "writer round $round failed:"; sed 's/^/  | /' "$tmp/w.err" | head -5; fi
done
run_lua "$db" '
local sq = require "runwatch.sqlite"
local db = assert(sq.open(state.path(), {readonly = true}))
local ic = db:first("PRAGMA integrity_check").integrity_check
local o = db:first("SELECT count(*) AS n, count(DISTINCT key) AS d, max(id) AS maxid FROM outbox")
local a = db:first("SELECT count(*) AS n, count(DISTINCT detail) AS d FROM audit")
local w = db:first("SELECT value FROM meta WHERE key = ?", "writer_i")
local n = w and tonumber(w.value) or 0
local seq_ok = true
for i = 1, n do
  local r = db:first("SELECT id, payload FROM outbox WHERE key = ?", "k" .. i)
  if not r or r.payload ~= string.format("{\"i\":%d}", i) then seq_ok = false; print("missing k" .. i) break end
end
local cur_ok = true
for slot = 0, 9 do
  local want
  for i = n, 1, -1 do if i % 10 == slot then want = i break end end
  local r = db:first("SELECT value FROM cursors WHERE watch = ? AND run = ?", "w", "run" .. slot)
  if want and (not r or r.value ~= string.format("{\"i\":%d}", want)) then cur_ok = false end
end
print("integrity", ic)
print("committed", n)
print("outbox", o.n, o.d)
print("audit", a.n, a.d)
print("sequence", seq_ok and "ok" or "broken")
print("cursors", cur_ok and "ok" or "broken")
' > "$tmp/check.out" 2>&1
expect_match "$tmp/check.out" '^integrity	ok$'
committed=$(sed -n 's/^committed	//p' "$tmp/check.out")
echo "kill -9: $committed transactions committed across 20 kills ($printed reported before the kill)"
if [ -n "$committed" ] && [ "$committed" -ge "$printed" ] && [ "$committed" -gt 0 ]; then ok
else bad "kill -9: $committed committed in the store, but $printed were printed as committed"; cat "$tmp/check.out"; fi
expect_match "$tmp/check.out" "^outbox	$committed	$committed\$"       # every item exactly once
expect_match "$tmp/check.out" "^audit	$committed	$committed\$"
expect_match "$tmp/check.out" '^sequence	ok$'
expect_match "$tmp/check.out" '^cursors	ok$'
# }======

# {====== 2. a corrupt store: a clear error, non-zero exit, the file unchanged
db="$tmp/corrupt/state.db"
cat > "$tmp/fill_tx.lua" <<'EOF'
state.transaction(function()
  for i = 1, 3000 do state.set_cursor("w", "e/p/run" .. i, {step = i, pad = string.rep("x", 60)}) end
end)
EOF
expect_exit 0 $RW once $LIB --cpu-budget 100 --state "$db" "$tmp/fill_tx.lua"
size=$(wc -c < "$db")
yes 'garbage!' | head -c 8192 | dd of="$db" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
sum_before=$(cksum < "$db")
printf 'state.set("hello", 1)\nprint("should not get here")\n' > "$tmp/uses_state.lua"
$RW once $LIB --state "$db" "$tmp/uses_state.lua" > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ "$rc" != 0 ]; then ok; else bad "corrupt store: exit 0"; fi
expect_match "$tmp/err" "state database $db is corrupt"
expect_match "$tmp/err" 'nothing was deleted or changed'
expect_no_match "$tmp/out" 'should not get here'
if [ "$(cksum < "$db")" = "$sum_before" ]; then ok; else bad "the corrupt file was modified"; fi
# the same for status and log
expect_exit 1 $RW status $LIB --state "$db"
expect_match "$tmp/err" 'is corrupt|malformed'
if [ "$(cksum < "$db")" = "$sum_before" ]; then ok; else bad "status modified the corrupt file"; fi
# }======

# {====== 3. a store locked by another process
db="$tmp/locked/state.db"
expect_exit 0 $RW once $LIB --state "$db" -e 'state.set("a", 1)'
check_locked() {   # $1: what holds the lock, $2: the message expected
  local t0=$SECONDS
  $RW once $LIB --state "$db" "$tmp/uses_state.lua" > "$tmp/out" 2> "$tmp/err"
  local rc=$?
  if [ "$rc" != 0 ]; then ok; else bad "locked by $1: exit 0"; fi
  expect_match "$tmp/err" "$2"
  expect_no_match "$tmp/out" 'should not get here'
  if [ $((SECONDS - t0)) -lt 30 ]; then ok; else bad "locked by $1: took $((SECONDS - t0)) s"; fi
}
# (a) a second runwatch inside a transaction
mkfifo "$tmp/held"
$RW once $LIB --cpu-budget 100 --state "$db" \
  -e 'state.transaction(function() state.set("hold", 1); print("held"); io.stdout:flush(); sleep(20) end)' > "$tmp/held" &
holder=$!
read -r line < "$tmp/held"
if [ "$line" = held ]; then ok; else bad "the holder did not start: '$line'"; fi
# one process writes a store: the second is refused at once, naming the first one's pid
check_locked "a second runwatch" "state database $db is in use by another runwatch process \\(pid $holder"
kill -9 "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
# (b) the sqlite3 command-line shell, when installed
if command -v sqlite3 >/dev/null; then
  mkfifo "$tmp/cli"
  sqlite3 "$db" < "$tmp/cli" &
  cli=$!
  exec 7> "$tmp/cli"
  printf 'BEGIN EXCLUSIVE;\nINSERT INTO meta VALUES (%s, %s, 0);\n' "'x'" "'1'" >&7
  sleep 0.5
  check_locked "sqlite3" "state database $db is locked: another runwatch probably uses the same --state"
  printf 'ROLLBACK;\n.quit\n' >&7
  exec 7>&-
  wait "$cli" 2>/dev/null
else
  echo "note: sqlite3 is not installed; the lock test used a second runwatch only"
fi
expect_exit 0 $RW once $LIB --state "$db" "$tmp/uses_state.lua"   # free again
# }======

# {====== the default location: $XDG_STATE_HOME/runwatch, else ~/.local/state/runwatch (0700)
XDG_STATE_HOME="$tmp/xdg" expect_exit 0 $RW $LIB -e 'state.set("a", 1); print(state.path())'
expect_match "$tmp/out" "^$tmp/xdg/runwatch/state.db\$"
[ "$(stat -c %a "$tmp/xdg/runwatch")" = 700 ] && ok || bad "state directory mode is not 0700"
[ "$(stat -c %a "$tmp/xdg/runwatch/state.db")" = 600 ] && ok || bad "state file mode is not 0600"
mkdir -p "$tmp/home"
HOME="$tmp/home" XDG_STATE_HOME= expect_exit 0 $RW $LIB -e 'state.set("a", 1); print(state.path())'
expect_match "$tmp/out" "^$tmp/home/.local/state/runwatch/state.db\$"
# }======

# {====== 4. runwatch status and runwatch log
db="$tmp/report/state.db"
cat > "$tmp/report.lua" <<'EOF'
local json = require "runwatch.json"
local now = os.time()
state.audit("tag", "team/proj/abc123", "ok", "added tag reviewed", {rule = "nan-loss"})
state.audit("notify", "team/proj/abc123", "failed: HTTP 500", "slack #alerts", {rule = "nan-loss"})
state.audit("update", "team/proj/zzz999", "dry-run", "summary.checked = true")
state.set_alert("nan-loss", "team/proj/abc123", {state = "firing", since = now - 600, last_notified = now - 60, value = 0/0, run = "team/proj/abc123"})
state.set_alert("nan-loss", "team/proj/def456", {state = "pending", since = now - 30, value = 1.5, run = "team/proj/def456"})
state.set_alert("slow", "team/proj/abc123", {state = "resolved", since = now - 900, run = "team/proj/abc123"})
state.meta_set("daemon", {pid = 4242, started = now - 7200, version = "0.1.0", scripts = {"rules.lua"}})
state.meta_set("watch:train", {project = "team/proj", every = 30, last_tick = now - 12, last_duration = 0.8,
  running = 3, examined = 40, requests = 2, errors = 0})
state.meta_set("rule:nan-loss", {watch = "train", severity = "critical", ["for"] = 300, ["repeat"] = 3600})
state.meta_set("budget:api.wandb.ai", {rate = 10, burst = 20, concurrency = 8, tokens = 17.5, in_flight = 1,
  sent = 1234, throttled = 3, remaining = json.null})
EOF
expect_exit 0 $RW once $LIB --state "$db" "$tmp/report.lua"

expect_exit 0 $RW status $LIB --state "$db"
cp "$tmp/out" "$tmp/status.txt"
expect_match "$tmp/status.txt" "^state: $db\$"
expect_match "$tmp/status.txt" '^daemon: pid 4242, not running \(it ended without stopping cleanly: killed or crashed\), started .*\(2h ago\), version 0.1.0, scripts: rules.lua$'
expect_match "$tmp/status.txt" '^  train +team/proj +30s +[0-9]+s ago +0.8s +3 +40 +2 +0$'
expect_match "$tmp/status.txt" '^  nan-loss +train +critical +5m +1h +1 +1$'
expect_match "$tmp/status.txt" '^  slow +- +- +- +- +0 +0$'
expect_match "$tmp/status.txt" '^  nan-loss +team/proj/abc123 +[0-9T:-]+Z \(10m.*ago\) +NaN$'
expect_match "$tmp/status.txt" '^  api.wandb.ai +10 +20 +8 +17.5 +1 +1234 +3 +-$'
expect_no_match "$tmp/status.txt" 'def456'        # pending alerts are counted, not listed

expect_exit 0 $RW status $LIB --state "$db" --json
cp "$tmp/out" "$tmp/status.json"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["daemon"]["pid"]==4242; assert d["rules"]["nan-loss"]["firing"]==1; assert d["rules"]["nan-loss"]["pending"]==1; assert d["firing"][0]["run"]=="team/proj/abc123"; assert d["firing"][0]["value"]=="NaN"; assert d["watches"]["train"]["requests"]==2; assert d["budget"]["api.wandb.ai"]["sent"]==1234' "$tmp/status.json" 2> "$tmp/err"
then ok; else bad "status --json"; cat "$tmp/err"; fi
if command -v node >/dev/null; then
  if node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (d.rules["nan-loss"].firing !== 1) process.exit(1)' "$tmp/status.json"
  then ok; else bad "status --json does not parse with JSON.parse"; fi
fi

expect_exit 0 $RW log $LIB --state "$db"
cp "$tmp/out" "$tmp/log.txt"
[ "$(wc -l < "$tmp/log.txt")" = 3 ] && ok || bad "log: 3 lines expected"; 
expect_match "$tmp/log.txt" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z  report.lua  nan-loss  team/proj/abc123  tag  ok  added tag reviewed$'
expect_match "$tmp/log.txt" '  report.lua  nan-loss  team/proj/abc123  notify  failed: HTTP 500  slack #alerts$'
expect_match "$tmp/log.txt" '  report.lua  -  team/proj/zzz999  update  dry-run  summary.checked = true$'
expect_exit 0 $RW log $LIB --state "$db" --rule nan-loss
[ "$(wc -l < "$tmp/out")" = 2 ] && ok || bad "log --rule: 2 lines expected"
expect_exit 0 $RW log $LIB --state "$db" --run team/proj/zzz999 --since 1h
[ "$(wc -l < "$tmp/out")" = 1 ] && ok || bad "log --run --since: 1 line expected"
expect_exit 0 $RW log $LIB --state "$db" --since=2000-01-01T00:00:00Z --limit 1
expect_match "$tmp/out" 'update  dry-run'     # the newest one
expect_exit 0 $RW log $LIB --state "$db" --since 2999-01-01
[ -s "$tmp/out" ] && bad "log --since the future: output" || ok
expect_exit 0 $RW log $LIB --state "$db" --json --action notify
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==1 and d[0]["outcome"]=="failed: HTTP 500" and d[0]["script"]=="report.lua" and d[0]["rule"]=="nan-loss"' "$tmp/out" 2> "$tmp/err"
then ok; else bad "log --json"; cat "$tmp/err"; fi

# usage errors and a missing store
$RW log $LIB --state "$db" --bogus > "$tmp/out" 2> "$tmp/err"; rc=$?
[ "$rc" != 0 ] && ok || bad "log --bogus: exit 0"
expect_match "$tmp/err" "unknown option '--bogus'"
expect_match "$tmp/err" 'usage: runwatch log'
$RW log $LIB --state "$db" --since yesterday > "$tmp/out" 2> "$tmp/err"; rc=$?
[ "$rc" != 0 ] && ok || bad "log --since yesterday: exit 0"
expect_match "$tmp/err" "bad --since 'yesterday'"
expect_exit 1 $RW status $LIB --state "$tmp/none/state.db"
expect_match "$tmp/err" 'no state database at'
[ -e "$tmp/none" ] && bad "status created a directory" || ok

# options come before or after the command, in any order; "--" ends them
expect_exit 0 $RW --json status $LIB --state "$db"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" && ok || bad "--json status"
expect_exit 2 $RW status $LIB --state "$db" -- --json
expect_match "$tmp/err" "unexpected argument '--json'"
expect_exit 0 $RW log --rule nan-loss $LIB --state "$db"
[ "$(wc -l < "$tmp/out")" = 2 ] && ok || bad "log --rule before --state"
expect_exit 0 $RW status --help
expect_match "$tmp/out" '^usage: runwatch status'

# status and log work while a daemon writes
cat > "$tmp/daemon.lua" <<'EOF'
local n = 0
state.record_daemon()
every("20ms", function()
  n = n + 1
  state.transaction(function()
    state.meta_set("watch:busy", {project = "team/proj", every = 0.02, last_tick = os.time(), requests = n})
    state.audit("tick", "team/proj/r" .. n, "ok", "tick " .. n)
  end)
end)
EOF
$RW run $LIB --state "$db" "$tmp/daemon.lua" > /dev/null 2> "$tmp/daemon.err" &
daemon=$!
for i in $(seq 1 100); do   # until its first tick is in the store (slow under sanitizers)
  $RW status $LIB --state "$db" 2>/dev/null | grep -q '^  busy ' && break
  sleep 0.1
done
for i in 1 2 3 4 5; do
  expect_exit 0 $RW status $LIB --state "$db"
  expect_match "$tmp/out" '^  busy +team/proj'
  expect_exit 0 $RW log $LIB --state "$db" --action tick --limit 1
  expect_match "$tmp/out" '  tick  ok  tick [0-9]+$'
  sleep 0.1
done
# status tells a running daemon from one that stopped or was killed (the store's lock, not a pid)
expect_exit 0 $RW status $LIB --state "$db"
expect_match "$tmp/out" "^daemon: pid $daemon, running, started"
kill -TERM "$daemon"; wait "$daemon"; rc=$?
[ "$rc" = 0 ] && ok || { bad "daemon exit $rc"; cat "$tmp/daemon.err"; }
expect_exit 0 $RW status $LIB --state "$db"
expect_match "$tmp/out" "^daemon: pid $daemon, stopped .*ago"
$RW run $LIB --state "$db" "$tmp/daemon.lua" > /dev/null 2> "$tmp/daemon.err" &
daemon=$!
for i in $(seq 1 100); do
  $RW status $LIB --state "$db" 2>/dev/null | grep -q "^daemon: pid $daemon, running" && break
  sleep 0.1
done
expect_exit 0 $RW status $LIB --state "$db"
expect_match "$tmp/out" "^daemon: pid $daemon, running"
kill -9 "$daemon"; wait "$daemon" 2>/dev/null
expect_exit 0 $RW status $LIB --state "$db"
expect_match "$tmp/out" "^daemon: pid $daemon, not running \(it ended without stopping cleanly"
# }======

# {====== 5. a dry run changes nothing: the store and its -wal stay byte for byte (or absent)
db="$tmp/dry/state.db"
cat > "$tmp/dry.lua" <<'EOF'
state.set("n", (state.get("n") or 0) + 1)
state.outbox_add("k" .. state.get("n"), "webhook", {})
print("n=" .. state.get("n"))
EOF
expect_exit 0 $RW once $LIB --dry-run --state "$db" "$tmp/dry.lua"
expect_match "$tmp/out" '^n=1$'
{ [ -e "$db" ] || [ -e "$db-wal" ]; } && bad "a dry run created the store" || ok
[ -e "$tmp/dry" ] && bad "a dry run created the store's directory" || ok
expect_exit 0 $RW once $LIB --state "$db" "$tmp/dry.lua"
expect_match "$tmp/out" '^n=1$'
sum=$(cat "$db" "$db-wal" 2>/dev/null | cksum); ls_before=$(ls -a "$tmp/dry")
expect_exit 0 $RW once $LIB --dry-run --state "$db" "$tmp/dry.lua"
expect_match "$tmp/out" '^n=2$'          # the dry run works on a copy: it sees and changes it
[ "$(cat "$db" "$db-wal" 2>/dev/null | cksum)" = "$sum" ] && ok || bad "a dry run changed the store"
[ "$(ls -a "$tmp/dry")" = "$ls_before" ] && ok || bad "a dry run left files: $(ls -a "$tmp/dry")"
expect_exit 0 $RW once $LIB --state "$db" "$tmp/dry.lua"
expect_match "$tmp/out" '^n=2$'          # the real run continues from the real store
# while a daemon holds the store, a dry run still reads it (and is not refused)
$RW run $LIB --state "$db" -e 'state.set("hold", 1); every("50ms", function() state.set("t", os.time()) end)' > /dev/null 2>&1 &
holder=$!
sleep 0.5
expect_exit 0 $RW once $LIB --dry-run --state "$db" "$tmp/dry.lua"
expect_match "$tmp/out" '^n=3$'
kill -TERM "$holder"; wait "$holder" 2>/dev/null
# }======

finish
