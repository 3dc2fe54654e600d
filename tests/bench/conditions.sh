#!/usr/bin/env bash
# What declarative rules cost a watch tick (issue 15): N running runs (default 1000) on the test
# server, each logging 10 new rows, then one tick measured three ways: a watch that only counts
# the rows (on_history), the same with 4 declarative rules (avg, change, zscore, is_nan), and
# with a vs_cohort rule too (10 groups: ~100 peers per run). Prints requests and Lua CPU seconds
# per tick; the requests must not change (windows and peers come with the rows the watch reads).
#   tests/bench/conditions.sh [N]        RUNWATCH=path/to/runwatch to use another binary
set -eu
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rw="${RUNWATCH:-$root/build/runwatch}"
n="${1:-1000}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/bench.lua" <<'LUA'
local wb = require "wbtest"
local N = tonumber(os.getenv("N"))
local MODE = os.getenv("MODE")
wb.admin("POST", "generate", {entity = "rw-team", project = "bench", runs = N, running = N, steps = 200,
  keys = {"loss", "acc"}, seed = 1})
local w = watch{project = "rw-team/bench", every = 3600, id = "bench", stale = false, per_page = 1000,
  history = MODE == "plain" or nil, on_history = MODE == "plain" and function() end or nil}
if MODE ~= "plain" then
  rule{name = "avg", watch = w, when = metric("loss"):avg(20):gt(5)}
  rule{name = "chg", watch = w, when = metric("acc"):avg(10):change{by = 0.05, relative = true, direction = "decrease"}}
  rule{name = "z", watch = w, when = metric("loss"):zscore{window = 50}:abs():gt(4)}
  rule{name = "nan", watch = w, when = metric("loss"):last():is_nan()}
end
if MODE == "cohort" then
  rule{name = "grp", watch = w, when = metric("loss"):vs_cohort{by = "group", min_peers = 2}:gt(3)}
end
while w.ticks < 1 do sleep(0.1) end      -- the first tick: listing, priming, peers
wb.admin("POST", "simulate", {steps = 10})
local t0 = os.clock()
local s = w.group:tick()
print(string.format("%-8s %6d runs %7d rows %4d requests %7.2f s CPU", MODE, N, s.rows, s.requests, os.clock() - t0))
w:stop()
LUA
echo "one tick, 10 new rows per run"
for mode in plain rules cohort; do
  MODE=$mode N=$n "$root/tests/server/with-server.sh" -- env LUA_PATH="$root/tests/lua/?.lua;;" \
    "$rw" run --lib-dir "$root/scripts/lib" --state "$tmp/$mode.db" --log-level error --cpu-budget 600 "$tmp/bench.lua"
done
