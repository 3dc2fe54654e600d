-- Workload (c): read every history row of every run of a project, as a user writes it:
-- BENCH_MODE=seq one run after the other; BENCH_MODE=par map() over the runs, BENCH_LIMIT at once.
package.path = assert(os.getenv("RW_BENCH_DIR"), "RW_BENCH_DIR not set") .. "/workloads/?.lua;" .. package.path
local b = require "bench"

local function scan(run)
  local n, sum = 0, 0
  for row in run:scan_history() do
    n = n + 1
    if type(row.loss) == "number" then sum = sum + row.loss end
  end
  return {n = n, sum = sum}
end

local p0 = b.start()
local runs = api.runs(b.project)
local results
if b.env("BENCH_MODE", "seq") == "par" then
  results = map(runs:load_all(), scan, {limit = b.env("BENCH_LIMIT", 8)})
else
  results = {}
  for _, run in ipairs(runs) do results[#results + 1] = scan(run) end
end
local rows, sum = 0, 0
for _, r in ipairs(results) do rows, sum = rows + r.n, sum + r.sum end
b.report{workload = "scan", mode = b.env("BENCH_MODE", "seq"), runs = #results, rows = rows, sum = sum, phase = b.stop(p0)}
