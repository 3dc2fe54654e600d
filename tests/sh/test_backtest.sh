# runwatch backtest gives exactly the firings a live watch produces from the same rows:
#   A. the test server: runs log simulated rows (a NaN, a crash, one kill -9 of the daemon on the
#      way) while a daemon runs rules (avg, change, zscore, is_nan, vs_cohort, state); afterwards
#      `runwatch backtest --json` on the project lists, per rule and run, the same transitions with
#      the same values as the webhooks the daemon sent;
#   B. the shared real runs: the 2,145 rows of a real training run (../shared/wandb-runs) replayed
#      into the test server in chunks under a live watch, and `runwatch backtest --local` on the
#      original files: the same firings;
# plus --html (a report with the firings marked), progress, and the bad-input exits.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
mkdir -p "$tmp/a" "$tmp/b"
cat > "$tmp/a/bt.lua" <<'LUA'
local hook = (os.getenv("RW_TEST_SERVER") or "http://localhost:1"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/bt"
local w = watch{project = "rw-team/bt", every = 0.1, id = "bt", stale = false}
local tpl = {rule = "{{alert.rule}}", run = "{{run.path}}", tr = "{{alert.transition}}", value = "{{alert.value}}"}
local function r(name, cond) rule{name = name, watch = w, when = cond, notify = {{webhook = hook, template = tpl}}} end
r("avg", metric("loss"):avg(3):gt(AVG_X))
r("up", metric("loss"):change{by = 0.001, relative = true, direction = "increase"})
r("z", metric("loss"):zscore{window = 5}:abs():gt(1.6))
r("nan", metric("loss"):last():is_nan())
r("cohort", metric("loss"):vs_cohort{by = "group", min_peers = 2}:gt(1.2))
r("crash", state("crashed", "failed"))
LUA
cat > "$tmp/b/real.lua" <<'LUA'
local hook = (os.getenv("RW_TEST_SERVER") or "http://localhost:1"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/real"
local w = watch{project = os.getenv("RW_BT_PROJECT") or "rw-team/real", every = 0.1, id = "real", stale = false}
local tpl = {rule = "{{alert.rule}}", run = "{{run.id}}", tr = "{{alert.transition}}", value = "{{alert.value}}"}
local function r(name, cond) rule{name = name, watch = w, when = cond, notify = {{webhook = hook, template = tpl}}} end
r("loss-spike", metric("train/loss"):zscore{window = 20}:abs():gt(2.5))
r("loss-up", metric("train/loss"):avg(10):change{by = 0.01, relative = true, direction = "increase"})
r("loss-avg", metric("train/loss"):avg(50):lt(3.75))
r("lr-low", metric("train/lr"):max(10):lte(0.0002))
LUA
cat > "$tmp/a/fn.lua" <<'LUA'
local w = watch{project = "rw-team/bt", id = "fn"}
-- a function rule: in a backtest, one evaluation per row (ctx.rows holds that row)
rule{name = "fn-nan", watch = w, when = function(run, ctx)
  for _, r in ipairs(ctx.rows) do if r.loss ~= r.loss then return true, "NaN at " .. r._step end end
  return false
end}
LUA
# compare.js LIVE_HOOKS BACKTEST_JSON KEYFIELD: per rule and run, the same transitions and values
cat > "$tmp/compare.js" <<'JS'
const fs = require("fs");
const hooks = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const bt = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const idOnly = process.argv[4] === "id";
const num = (v) => v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v;
const same = (a, b) => { a = num(a); b = num(b);
  if (typeof a !== "number" || typeof b !== "number") return a === b;
  if (Number.isNaN(a)) return Number.isNaN(b);
  return a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b)); };
const live = {}, seen = new Set();
for (const h of hooks) {
  const k = h.headers["idempotency-key"];
  if (seen.has(k)) continue; seen.add(k);
  const key = h.json.rule + " " + h.json.run;
  (live[key] = live[key] || []).push({tr: h.json.tr, value: h.json.value});
}
const back = {};
for (const r of bt.rules) for (const f of r.runs) {
  const run = idOnly ? f.run.split("/").pop() : f.run;
  back[r.rule + " " + run] = f.events.map(e => ({tr: e.transition, value: e.value}));
}
let total = 0, bad = 0;
for (const key of new Set([...Object.keys(live), ...Object.keys(back)])) {
  const a = live[key] || [], b = back[key] || [];
  total += b.length;
  const ok = a.length === b.length && a.every((x, i) => x.tr === b[i].tr && same(x.value, b[i].value));
  if (!ok) { bad++; console.log("DIFF " + key + " live " + JSON.stringify(a) + " backtest " + JSON.stringify(b)); }
}
console.log(`compared ${Object.keys(back).length} rule/run pairs, ${total} transitions, ${bad} different`);
JS
cat > "$tmp/inner.sh" <<SH
set -u
S="--state $tmp/state.db"
api() { curl -s -X POST "\$RW_TEST_SERVER/_admin/\$1" -d "\$2" >/dev/null; }
future=\$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S)
runs=""
for i in 1 2 3 4; do runs="\$runs{\"name\":\"bt00000\$i\",\"state\":\"running\",\"group\":\"g\",\"createdAt\":\"\$future\",\"history\":[]},"; done
api load "{\"projects\":[{\"entity\":\"rw-team\",\"name\":\"bt\",\"runs\":[\${runs%,}]}]}"
api simulate '{"steps":3}'
x=\$(curl -s "\$RW_TEST_SERVER/_admin/run/rw-team/bt/bt000001?history=1" | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    const r = JSON.parse(s); console.log(JSON.parse(typeof r.history[1] === "string" ? r.history[1] : JSON.stringify(r.history[1])).loss * 0.97) })')
sed -i "s/AVG_X/\$x/" "$tmp/a/bt.lua"
$RW run $LIB \$S "$tmp/a/bt.lua" >> "$tmp/daemon.log" 2>&1 &
pid=\$!
for i in \$(seq 1 12); do
  api simulate "{\"steps\":\$((RANDOM % 4 + 1))}"; sleep 0.2
  [ \$i = 5 ] && api runs/rw-team/bt/bt000002 '{"nan":true}'
  [ \$i = 8 ] && { kill -9 \$pid; wait \$pid 2>/dev/null; $RW run $LIB \$S "$tmp/a/bt.lua" >> "$tmp/daemon.log" 2>&1 & pid=\$!; }
done
api runs/rw-team/bt/bt000003 '{"state":"crashed","heartbeat":false}'
for i in 1 2 4; do api runs/rw-team/bt/bt00000\$i '{"state":"finished","heartbeat":false}'; done
sleep 1.5
kill -TERM \$pid; wait \$pid
echo "daemon exit \$?"
curl -s "\$RW_TEST_SERVER/_admin/hooks?name=bt" > "$tmp/a/hooks.json"
# the backtest: same script, the finished project, nothing performed
before=\$(curl -s "\$RW_TEST_SERVER/_admin/hooks" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')
RW_PROGRESS=1 $RW backtest $LIB "$tmp/a/bt.lua" --project rw-team/bt --json --html "$tmp/a/report.html" > "$tmp/a/bt.json" 2> "$tmp/a/bt.err"
echo "backtest exit \$?"
after=\$(curl -s "\$RW_TEST_SERVER/_admin/hooks" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')
echo "hooks during the backtest: \$((after - before))"
node "$tmp/compare.js" "$tmp/a/hooks.json" "$tmp/a/bt.json"
$RW backtest $LIB "$tmp/a/bt.lua" --project rw-team/bt > "$tmp/a/bt.txt" 2>&1; echo "text exit \$?"
$RW backtest $LIB "$tmp/a/fn.lua" --project rw-team/bt --json 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => { const r = JSON.parse(s).rules[0];
    console.log("fn fired " + r.fired + " " + r.runs.map(x => x.run + " " + x.value + " " + x.firings).join(",")) })'
$RW backtest $LIB "$tmp/a/fn.lua" --project rw-team/bt --since 30d --filters '{"name": "bt000002"}' --json 2>/dev/null |
  node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log("filtered runs " + JSON.parse(s).runs))'
$RW backtest $LIB "$tmp/a/fn.lua" --project rw-team/vision --since 30d > "$tmp/e7" 2>&1; echo "old runs exit \$?"
# bad input
$RW backtest $LIB "$tmp/a/bt.lua" --project rw-team/nosuchproject > "$tmp/e1" 2>&1; echo "missing project exit \$?"
$RW backtest $LIB "$tmp/a/bt.lua" --project rw-team/bt --filters '{"state": {"\$bogus": 1}}' > "$tmp/e2" 2>&1; echo "bad filter exit \$?"
$RW backtest $LIB "$tmp/a/bt.lua" --project rw-team/bt --filters '{"group": "nobody"}' > "$tmp/e3" 2>&1; echo "no runs exit \$?"
$RW backtest $LIB "$tmp/a/bt.lua" --project rw-team/bt --filters 'not json' > "$tmp/e4" 2>&1; echo "not json exit \$?"
$RW backtest $LIB --project rw-team/bt > "$tmp/e5" 2>&1; echo "no script exit \$?"
$RW backtest $LIB "$tmp/a/bt.lua" > "$tmp/e6" 2>&1; echo "no project exit \$?"
# B. a real run, replayed into the server under a live watch, then backtested on its files
if [ -d "$RW_SHARED/wandb-runs" ]; then
  $RW once $LIB --local "$RW_SHARED/wandb-runs" -e '
    local out = assert(io.open(os.getenv("RW_ROWS"), "w"))
    for row in api.run("local/TinyLM/kj3gdsjx"):scan_history{page_size = 1000} do out:write(json.encode(row), "\n") end
    out:close()' 2>> "$tmp/b/err"
  echo "real rows \$(wc -l < "$tmp/b/rows.jsonl")"
  api load "{\"projects\":[{\"entity\":\"rw-team\",\"name\":\"real\",\"runs\":[{\"name\":\"kj3gdsjx\",\"state\":\"running\",\"createdAt\":\"\$future\",\"history\":[]}]}]}"
  $RW run $LIB --state "$tmp/b/state.db" "$tmp/b/real.lua" >> "$tmp/b/daemon.log" 2>&1 &
  pid=\$!
  LUA_PATH="$RW_TESTS/lua/?.lua;;" $RW once $LIB -e '
    local wb = require "wbtest"
    local rows = {}
    for line in io.lines(os.getenv("RW_ROWS")) do rows[#rows + 1] = line end
    local i = 1
    math.randomseed(7)
    while i <= #rows do
      local n = math.random(50, 300)
      wb.admin("POST", "runs/rw-team/real/kj3gdsjx", {append_history = {table.unpack(rows, i, math.min(#rows, i + n - 1))}})
      i = i + n
      sleep(0.25)
    end' 2>> "$tmp/b/err"
  api runs/rw-team/real/kj3gdsjx '{"state":"finished","heartbeat":false}'
  sleep 2
  kill -TERM \$pid; wait \$pid
  curl -s "\$RW_TEST_SERVER/_admin/hooks?name=real" > "$tmp/b/hooks.json"
  RW_BT_PROJECT=local/TinyLM $RW backtest $LIB --local "$RW_SHARED/wandb-runs" "$tmp/b/real.lua" --project local/TinyLM --json > "$tmp/b/bt.json" 2>> "$tmp/b/err"
  echo "real backtest exit \$?"
  node "$tmp/compare.js" "$tmp/b/hooks.json" "$tmp/b/bt.json" id | sed 's/^/real /'
else
  echo "SKIP part B: $RW_SHARED/wandb-runs is absent"
fi
SH
RW_ROWS="$tmp/b/rows.jsonl" "$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh" > "$tmp/out" 2>&1
# C. the README's walkthrough: scripts/examples/automations.lua on the demo runs
$RW once $LIB --local "$tmp/demo" "$RW_SRC/scripts/demo/make_runs.lua" > /dev/null 2>&1
$RW backtest $LIB --local "$tmp/demo" "$RW_SRC/scripts/examples/automations.lua" --project local/demo \
  --html "$tmp/demo.html" > "$tmp/demo.txt" 2> "$tmp/demo.err"
echo "demo exit $?" >> "$tmp/demo.txt"
expect_match "$tmp/out" '^daemon exit 0$'
expect_match "$tmp/out" '^backtest exit 0$'
expect_match "$tmp/out" '^hooks during the backtest: 0$'
expect_match "$tmp/out" '^compared [1-9][0-9]* rule/run pairs, [1-9][0-9]* transitions, 0 different$'
grep -E '^(compared|real compared|DIFF|real DIFF)' "$tmp/out" | head -10
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const r = Object.fromEntries(d.rules.map(x => [x.rule, x]));
console.log("runs " + d.runs + " crash " + r.crash.fired + " nan " + r.nan.fired + " finished-but-fired " +
  r.avg.finished_but_fired.length + " evaluated " + r.avg.evaluated);' "$tmp/a/bt.json" > "$tmp/a/sum"
expect_match "$tmp/a/sum" '^runs 4 crash 1 nan 1 finished-but-fired [1-9] evaluated 4$'
expect_match "$tmp/a/bt.err" 'backtest: read 4 runs, [0-9]+ rows in [0-9]+ requests'
expect_match "$tmp/a/report.html" '<svg'
expect_match "$tmp/a/report.html" 'class="series markers" data-series="firing"'
expect_match "$tmp/out" '^text exit 0$'
expect_match "$tmp/a/bt.txt" '^rule avg \(metric\("loss"\):avg\(3\) > '
expect_match "$tmp/a/bt.txt" 'runs evaluated 4, fired [1-9]'
expect_match "$tmp/a/bt.txt" 'first firing at step [0-9]+'
expect_match "$tmp/out" '^fn fired 1 rw-team/bt/bt000002 NaN at [0-9]+ 2$'
expect_match "$tmp/out" '^filtered runs 1$'
expect_match "$tmp/out" '^old runs exit 1$'
expect_match "$tmp/e7" 'no runs in rw-team/vision match created in the last 30d'
expect_match "$tmp/out" '^missing project exit 1$'
expect_match "$tmp/e1" 'Could not find project rw-team/nosuchproject'
expect_match "$tmp/out" '^bad filter exit 1$'
expect_match "$tmp/e2" 'bad --filters'
expect_match "$tmp/out" '^no runs exit 1$'
expect_match "$tmp/e3" 'no runs in rw-team/bt match --filters'
expect_match "$tmp/out" '^not json exit 1$'
expect_match "$tmp/e4" 'bad --filters'
expect_match "$tmp/out" '^no script exit 2$'
expect_match "$tmp/out" '^no project exit 2$'
expect_match "$tmp/e6" '--project ENTITY/PROJECT is required'
expect_match "$tmp/demo.txt" '^demo exit 0$'
expect_match "$tmp/demo.txt" '^backtest of .*automations.lua on local/demo: 6 runs$'
expect_match "$tmp/demo.txt" '^  local/demo/dmo4fail +first firing at step 89, .* value failed'
expect_match "$tmp/demo.txt" '^  local/demo/dmo2hilr +first firing at step 112, .* value 1.72078'
expect_match "$tmp/demo.txt" '^  local/demo/dmo2hilr +first firing at step 150, .* value NaN'
expect_match "$tmp/demo.html" 'data-series="firing"'
if grep -q '^SKIP part B' "$tmp/out"; then
  echo "SKIP: part B (the shared real runs are absent)"
else
  expect_match "$tmp/out" '^real rows 2145$'
  expect_match "$tmp/out" '^real backtest exit 0$'
  expect_match "$tmp/out" '^real compared 4 rule/run pairs, [1-9][0-9]* transitions, 0 different$'
fi
finish
