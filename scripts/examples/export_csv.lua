-- Export a project's finished runs to a CSV file from a script: one row per run, the columns
-- chosen below (nested keys dotted). Pages are streamed, so any number of runs fits in memory.
-- Usage: RW_PROJECT=entity/project [RW_OUT=finished.csv] runwatch once export_csv.lua
-- (the same from the shell: runwatch export entity/project --filters '{"state":"finished"}' -o finished.csv)
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local out = os.getenv("RW_OUT") or "finished-runs.csv"

local runs = api.runs(project, {state = "finished"}, {order = "+created_at", per_page = 1000})
local n, err = export.csv(runs, out, {"id", "name", "created_at", "config.lr", "config.batch_size",
  "config.optimizer", "summary.loss", "summary.acc", "summary._step"})
if not n then error("export to " .. out .. " failed: " .. tostring(err), 0) end
log.info("exported finished runs", {project = project, runs = n, file = out})
