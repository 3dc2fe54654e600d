-- One watch tick over 1,000 running runs, each with 10 new history rows: every row delivered,
-- and the number of requests stays small and does not grow with the number of runs.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"

local function tick_requests(project, nruns)
  wb.admin("POST", "generate", {entity = "rw-team", project = project, runs = nruns, running = nruns, steps = 5, seed = 11})
  local rows = 0
  local w = watch{project = "rw-team/" .. project, every = "1h", id = "scale-" .. project, stale = false,
    on_history = function(run, r) rows = rows + #r end}
  sleep(0.05)
  while w.ticks < 1 do sleep(0.05) end          -- the first tick: initial rows
  local first_rows = rows
  wb.admin("POST", "simulate", {steps = 10})
  wb.clear_requests()
  rows = 0
  w.group:tick()                                  -- the tick we measure
  local reqs = #wb.requests()
  w:stop()
  return reqs, rows, first_rows
end

local r100, rows100 = tick_requests("scale100", 100)
local r1000, rows1000, first = tick_requests("scale1000", 1000)
print(string.format("requests per tick: %d for 100 running runs, %d for 1,000 running runs", r100, r1000))
t.eq(first, 5000, "first tick delivered the 5 existing rows of each of the 1,000 runs")
t.eq(rows1000, 10000, "second tick delivered 10 new rows for each of the 1,000 runs")
t.eq(rows100, 1000, "and for each of the 100 runs")
t.ok(r1000 < 30, "under 30 requests for 1,000 running runs: " .. r1000)
t.ok(r1000 <= r100 + 12, "requests grow far slower than runs (10x runs): " .. r100 .. " -> " .. r1000)
t.done()
