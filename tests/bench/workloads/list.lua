-- Workload (a): list every run of a project with its config and summary, as a user writes it.
package.path = assert(os.getenv("RW_BENCH_DIR"), "RW_BENCH_DIR not set") .. "/workloads/?.lua;" .. package.path
local b = require "bench"

local p0 = b.start()
local runs, keys = 0, 0
for _, run in ipairs(api.runs(b.project, nil, {per_page = b.env("BENCH_PER_PAGE", 50)})) do
  for _ in pairs(run.config) do keys = keys + 1 end
  for _ in pairs(run.summary) do keys = keys + 1 end
  runs = runs + 1
end
b.report{workload = "list", runs = runs, keys = keys, phase = b.stop(p0)}
