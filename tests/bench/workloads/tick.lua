-- Workloads (b) and (e): one watch tick over the running runs of a project. A first tick (the
-- watch's own, at start) sets every run's cursor; then every running run logs BENCH_STEPS new
-- rows (POST /_admin/simulate), the server's request log is cleared, and one tick is measured.
-- runwatch-mode: run (the watch ticks on its own schedule; it is stopped after the measured tick)
package.path = assert(os.getenv("RW_BENCH_DIR"), "RW_BENCH_DIR not set") .. "/workloads/?.lua;" .. package.path
local b = require "bench"

local rows, runs_seen = 0, {}
local w = watch{project = b.project, every = "1h", id = "bench-tick", stale = false,
  on_history = function(run, new) rows = rows + #new; runs_seen[run.id] = true end}
while w.ticks < 1 do sleep(0.01) end
local first_rows = rows
local hwm_first = b.proc_status()

b.admin("POST", "simulate", {steps = b.env("BENCH_STEPS", 10)})
b.admin("DELETE", "requests")
rows, runs_seen = 0, {}
local p0 = b.start()
local stats = {examined = 0, requests = 0}
if b.env("BENCH_SKIP_TICK", "") == "" then stats = w.group:tick() end  -- skipped: profiles subtract it
local phase = b.stop(p0)
w:stop()
local runs = 0
for _ in pairs(runs_seen) do runs = runs + 1 end
collectgarbage("collect")
local _, rss_after_gc = b.proc_status()
local core = require "runwatch.core"
local heap = core.stats()
b.report{workload = "tick", runs = runs, rows = rows, first_rows = first_rows, examined = stats.examined,
  tick_requests = stats.requests, hwm_after_first_kb = hwm_first, rss_after_gc_kb = rss_after_gc,
  lua_live_kb = heap.mem // 1024, lua_peak_kb = heap.mem_peak // 1024, phase = phase}
