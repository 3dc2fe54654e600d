# Grouped notifications, cooldown and max_per_hour across ticks and restarts (each `runwatch once`
# is one tick of a new process on the same state file):
#   tick 1: three runs fire `grp` -> one Slack message and one webhook listing the three;
#           four runs fire `limit` (max_per_hour = 2) -> two notifications, two held back;
#           run 5 fires `cool` (cooldown 1h)
#   tick 2: a fourth run fires `grp` and the first resolves -> one firing and one resolved message;
#           `cool` resolves on run 5
#   tick 3: `cool` is true again on run 5 within the hour -> held (pending), no notification;
#           `limit` is still at its limit -> nothing
# Then kill -9 at random moments while a grouped rule fires on simulated rows: every firing and
# resolution of every run is in exactly one delivered grouped message, none lost, none twice.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
mkdir -p "$tmp/d" "$tmp/k" "$tmp/check"
cat > "$tmp/d/rules.lua" <<'LUA'
local hook = os.getenv("RW_TEST_SERVER"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/"
local w = watch{project = "rw-team/grp", every = 0.1, id = "grp", stale = false}
rule{name = "grp", watch = w, group = true, when = metric("x"):gt(0), notify = {
  {slack = hook .. "slack", text = "{{run.id}} x={{alert.value}}"},
  {webhook = hook .. "grp", template = {run = "{{run.id}}", value = "{{alert.value}}"}},
  {webhook = hook .. "grp-plain"}}}
rule{name = "cool", watch = w, cooldown = "1h", when = metric("y"):gt(0), notify = {{webhook = hook .. "cool"}}}
rule{name = "limit", watch = w, max_per_hour = 2, when = metric("z"):gt(0), notify = {{webhook = hook .. "limit"}}}
LUA
cat > "$tmp/k/daemon.lua" <<'LUA'
local hook = os.getenv("RW_TEST_SERVER"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/"
local w = watch{project = "rw-team/grpk", every = 0.1, id = "grpk", stale = false}
rule{name = "up", watch = w, group = true, when = metric("loss"):change{by = 0.001, relative = true, direction = "increase"},
  notify = {{webhook = hook .. "up", template = {run = "{{run.id}}", tr = "{{alert.transition}}",
    episode = "{{alert.episode}}", value = "{{alert.value}}"}}}}
LUA
cat > "$tmp/check/check.lua" <<'LUA'
local wb = require "wbtest"
local ref = require "condref"
local seen, members, dup, bad = {}, {}, 0, 0
for _, h in ipairs(wb.admin("GET", "hooks?name=up")) do
  local key = h.headers["idempotency-key"]
  if not seen[key] then
    seen[key] = true
    for _, m in ipairs(h.json.runs) do
      local k = m.run .. "|" .. m.episode .. "|" .. m.tr
      if members[k] then dup = dup + 1 end
      members[k] = m
    end
  end
end
local total = 0
for _, r in ipairs(api.runs("rw-team/grpk")) do
  local rows = {}
  for row in r:scan_history{page_size = 1000} do rows[#rows + 1] = row end
  local ep = 0
  for _, x in ipairs(ref.transitions(rows, {key = "loss", change = {by = 0.001, relative = true, direction = "increase"}})) do
    if x.transition == "firing" then ep = ep + 1 end
    total = total + 1
    local m = members[r.id .. "|" .. ep .. "|" .. x.transition]
    if not m or not ref.same(m.value, x.value) then bad = bad + 1; print("MISSING " .. r.id .. " " .. ep .. " " .. x.transition) end
    members[r.id .. "|" .. ep .. "|" .. x.transition] = nil
  end
end
local extra = 0
for k in pairs(members) do extra = extra + 1; print("EXTRA " .. k) end
print(string.format("grouped transitions %d missing %d extra %d twice %d messages %d", total, bad, extra, dup,
  #wb.admin("GET", "hooks?name=up")))
LUA
cat > "$tmp/inner.sh" <<SH
set -u
S="--state $tmp/state.db"
api() { curl -s -X POST "\$RW_TEST_SERVER/_admin/\$1" -d "\$2" >/dev/null; }
row() { echo "{\"_step\":\$1,\"_timestamp\":\$((\$(date +%s) + \$1)),\$2}"; }
future=\$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S)
runs=""
for i in 1 2 3 4 5; do runs="\$runs{\"name\":\"grp0000\$i\",\"state\":\"running\",\"createdAt\":\"\$future\",\"history\":[]},"; done
api load "{\"projects\":[{\"entity\":\"rw-team\",\"name\":\"grp\",\"runs\":[\${runs%,}]}]}"
tick() { $RW once $LIB \$S "$tmp/d/rules.lua" >> "$tmp/once.log" 2>&1; echo "tick \$1 exit \$?"; }
# tick 1
for i in 1 2 3; do api runs/rw-team/grp/grp0000\$i "{\"append_history\":[\$(row 0 '"x":'\$i',"z":1')]}"; done
api runs/rw-team/grp/grp00004 "{\"append_history\":[\$(row 0 '"x":0,"z":1')]}"
api runs/rw-team/grp/grp00005 "{\"append_history\":[\$(row 0 '"x":0,"y":1')]}"
tick 1
curl -s "\$RW_TEST_SERVER/_admin/hooks" > "$tmp/hooks1.json"
# tick 2
api runs/rw-team/grp/grp00001 "{\"append_history\":[\$(row 1 '"x":0')]}"
api runs/rw-team/grp/grp00004 "{\"append_history\":[\$(row 1 '"x":4')]}"
api runs/rw-team/grp/grp00005 "{\"append_history\":[\$(row 1 '"y":0')]}"
tick 2
curl -s "\$RW_TEST_SERVER/_admin/hooks" > "$tmp/hooks2.json"
# tick 3
api runs/rw-team/grp/grp00005 "{\"append_history\":[\$(row 2 '"y":1')]}"
api runs/rw-team/grp/grp00003 "{\"append_history\":[\$(row 1 '"z":0')]}"
api runs/rw-team/grp/grp00003 "{\"append_history\":[\$(row 2 '"z":1')]}"
tick 3
curl -s "\$RW_TEST_SERVER/_admin/hooks" > "$tmp/hooks3.json"
$RW status $LIB \$S > "$tmp/status.out"
# kill -9 with a grouped rule on simulated rows
runs=""
for i in 1 2 3 4 5 6; do runs="\$runs{\"name\":\"grk0000\$i\",\"state\":\"running\",\"createdAt\":\"\$future\",\"history\":[]},"; done
api load "{\"projects\":[{\"entity\":\"rw-team\",\"name\":\"grpk\",\"runs\":[\${runs%,}]}]}"
api simulate '{"steps":2}'
K="--state $tmp/k.db"
for cycle in 1 2 3 4 5 6 7 8; do
  $RW run $LIB \$K "$tmp/k/daemon.lua" >> "$tmp/daemon.log" 2>&1 &
  pid=\$!
  for i in \$(seq 1 \$((RANDOM % 5 + 2))); do api simulate "{\"steps\":\$((RANDOM % 3 + 1))}"; sleep 0.\$((RANDOM % 3 + 1)); done
  kill -9 \$pid; wait \$pid 2>/dev/null
done
$RW run $LIB \$K "$tmp/k/daemon.lua" >> "$tmp/daemon.log" 2>&1 &
pid=\$!
sleep 2
kill -TERM \$pid; wait \$pid
echo "daemon exit \$?"
LUA_PATH="$RW_TESTS/lua/?.lua;;" $RW once $LIB \$K "$tmp/check/check.lua"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh" > "$tmp/out" 2>&1
for i in 1 2 3; do expect_match "$tmp/out" "^tick $i exit 0\$"; done
# what each tick sent, from the receiver's records
cat > "$tmp/sum.js" <<'JS'
const fs = require("fs");
const [f, prev] = [process.argv[2], process.argv[3]];
const all = JSON.parse(fs.readFileSync(f, "utf8"));
const before = prev ? JSON.parse(fs.readFileSync(prev, "utf8")).length : 0;
for (const h of all.slice(before)) {
  if (h.name === "slack") console.log("slack " + h.json.text.replace(/\n/g, " / "));
  else if (h.name === "grp") console.log("grp " + h.json.transition + " " + h.json.count + " " +
    h.json.runs.map(r => r.run + "=" + r.value).join(","));
  else if (h.name === "grp-plain") console.log("grp-plain " + h.json.transition + " " + h.json.runs.map(r => r.run).join(","));
  else console.log(h.name + " " + h.json.transition + " " + h.json.run.split("/")[2]);
}
JS
node "$tmp/sum.js" "$tmp/hooks1.json" | sort > "$tmp/t1"
node "$tmp/sum.js" "$tmp/hooks2.json" "$tmp/hooks1.json" | sort > "$tmp/t2"
node "$tmp/sum.js" "$tmp/hooks3.json" "$tmp/hooks2.json" | sort > "$tmp/t3"
cat > "$tmp/want1" <<'TXT'
cool firing grp00005
grp firing 3 grp00001=1,grp00002=2,grp00003=3
grp-plain firing rw-team/grp/grp00001,rw-team/grp/grp00002,rw-team/grp/grp00003
limit firing grp00001
limit firing grp00002
slack [FIRING] grp: 3 runs / • grp00001 x=1 / • grp00002 x=2 / • grp00003 x=3
TXT
cat > "$tmp/want2" <<'TXT'
cool resolved grp00005
grp firing 1 grp00004=4
grp resolved 1 grp00001=1
grp-plain firing rw-team/grp/grp00004
grp-plain resolved rw-team/grp/grp00001
slack [FIRING] grp: 1 run / • grp00004 x=4
slack [RESOLVED] grp: 1 run / • grp00001 x=1
TXT
: > "$tmp/want3"
for i in 1 2 3; do
  if diff "$tmp/want$i" "$tmp/t$i" > "$tmp/diff$i"; then ok; else bad "tick $i sent other notifications"; sed 's/^/  | /' "$tmp/diff$i"; fi
done
expect_match "$tmp/once.log" 'alert cool on rw-team/grp/grp00005 held back \(cooldown\)'
expect_match "$tmp/once.log" 'alert limit on rw-team/grp/grp0000[34] held back \(max_per_hour\)'
# after the kill -9 cycles: every grouped member once
expect_match "$tmp/out" '^daemon exit 0$'
expect_match "$tmp/out" '^grouped transitions [1-9][0-9]* missing 0 extra 0 twice 0 messages [1-9]'
grep -E '^(grouped|MISSING|EXTRA)' "$tmp/out" | head -5
finish
