# The example scripts run against the W&B test server and do what they say: the best run of
# each group carries the tag, finished runs get summary.gen_gap, the dry-run changes nothing.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
EX="$RW_SRC/scripts/examples"
export RW_PROJECT=rw-team/vision

cat > "$tmp/check_best.lua" <<'LUA'
local best = {}
for _, r in ipairs(api.runs(os.getenv("RW_PROJECT"), {state = "finished"})) do
  local v = r.summary.loss
  if r.group and type(v) == "number" and v == v and (not best[r.group] or v < best[r.group].summary.loss) then best[r.group] = r end
end
local bad, n = 0, 0
for _, r in ipairs(api.runs(os.getenv("RW_PROJECT"))) do
  local has = false
  for _, t in ipairs(r.tags) do if t == "best-in-group" then has = true end end
  local should = r.group and best[r.group] == r
  if has ~= (should and true or false) then bad = bad + 1; print("wrong tag on " .. r.path) end
  if has then n = n + 1 end
end
print("tagged " .. n .. " wrong " .. bad)
LUA
cat > "$tmp/check_gap.lua" <<'LUA'
local with, without = 0, 0
for _, r in ipairs(api.runs(os.getenv("RW_PROJECT"), {state = "finished"})) do
  if r.summary.gen_gap ~= nil then with = with + 1 else without = without + 1 end
end
print("gap " .. with .. " nogap " .. without)
LUA

run_on_server() { "$RW_SRC/tests/server/with-server.sh" -- bash -c "$1"; }
run_on_server "$RW once $LIB '$EX/tag_best_per_group.lua' >/dev/null 2>&1 && $RW once $LIB '$tmp/check_best.lua'" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^tagged [1-9][0-9]* wrong 0$'
run_on_server "$RW once $LIB --dry-run '$EX/annotate_finished.lua' > '$tmp/dry' 2>&1; $RW once $LIB '$tmp/check_gap.lua'; $RW once $LIB '$EX/annotate_finished.lua' 2>/dev/null; $RW once $LIB '$tmp/check_gap.lua'" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^gap 0 nogap [1-9]'
expect_match "$tmp/out" '^gap [1-9][0-9]* nogap'
expect_match "$tmp/dry" 'would update rw-team/vision/.*'
expect_match "$tmp/dry" 'summary.gen_gap: \(unset\) ->'
finish
