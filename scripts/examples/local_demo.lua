-- The built-in demo: local W&B runs read with the same api as W&B itself (runwatch once --local DIR local_demo.lua): a table of runs, a filtered and ordered query, a history scan, and a watch.
--
-- Make the demo runs first: build/runwatch once --local /tmp/rw-demo scripts/demo/make_runs.lua
-- Then: build/runwatch once --local /tmp/rw-demo scripts/examples/local_demo.lua
-- Without --local, point it at a directory with api.open("local:DIR").
local a = runwatch.options.local_dir and api.default() or api.open("local:/tmp/rw-demo")

local function fmt(v)
  if type(v) ~= "number" then return v == nil and "-" or tostring(v) end
  if v ~= v then return "NaN" end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.4f", v)
end

-- every run: state, steps, last loss, and a derived metric (the generalization gap)
local runs = a.runs(nil, nil, {order = "+created_at"})
print(string.format("%d local runs in %s\n", #runs, a.settings.local_dir or "?"))
print(string.format("%-9s %-10s %-18s %6s %10s %10s %8s", "id", "state", "name", "steps", "last loss", "val_loss", "gap"))
for _, run in ipairs(runs) do
  local s = run.summary
  local gap = (type(s.val_loss) == "number" and type(s.loss) == "number") and (s.val_loss - s.loss) or nil
  print(string.format("%-9s %-10s %-18s %6d %10s %10s %8s", run.id, run.state, run.name,
    run.last_step + 1, fmt(s.loss), fmt(s.val_loss), fmt(gap)))
end

-- Mongo-style filters and order, evaluated locally with W&B's semantics
local best = a.runs(nil, {state = "finished", ["config.lr"] = {["$lt"] = 0.1}},
  {order = "+summary.val_loss", per_page = 10})
if #best > 0 then
  local b = best[1]
  print(string.format("\nbest finished run with lr < 0.1: %s (%s), val_loss %s, width %s",
    b.id, b.name, fmt(b.summary.val_loss), fmt(b.config.model and b.config.model.width)))
  -- every row, paged by step: the step where the loss first went under 0.5
  for row in b:scan_history{keys = {"loss"}, page_size = 100} do
    if row.loss < 0.5 then print("  loss < 0.5 first at step " .. row._step); break end
  end
end

-- which runs diverged (a NaN in their history)?
for _, run in ipairs(a.runs(nil, {tags = "sweep"})) do
  for row in run:scan_history{keys = {"loss"}} do
    if row.loss ~= row.loss then print(string.format("%s diverged: NaN loss at step %d", run.id, row._step)); break end
  end
end

-- writes are refused: local runs are read-only
local run1 = runs[1]
if run1 then
  run1.tags[#run1.tags + 1] = "reviewed"
  local ok, err = pcall(run1.update, run1)
  print("\nrun:update() on a local run: " .. (ok and "planned (dry run)" or tostring(err):sub(1, 60) .. "..."))
end

-- a watch on the same runs: in `once` mode it ticks once; with `runwatch run` it reacts as
-- soon as a run file grows (see scripts/demo/make_runs.lua for a live run)
print("\nwatch:")
local w = watch{project = a.settings.entity .. "/" .. a.settings.project, api = a, every = "5s", id = "local-demo",
  on_new_run = function(run) print(string.format("  seen %-9s %-9s last step %d", run.id, run.state, run.last_step)) end,
  on_history = function(run, rows)
    local last = rows[#rows]
    print(string.format("  %s: %d new rows, step %d loss %s", run.id, #rows, last._step, fmt(last.loss)))
  end,
  on_finish = function(run) print("  " .. run.id .. " finished") end,
  on_crash = function(run) print("  " .. run.id .. " crashed") end,
}
spawn(function()
  while w.ticks == 0 do sleep(0.05) end
  if w.last_stats.rows == 0 then
    print("  (nothing new: a watch delivers each row once, across restarts; its cursors are in the state " ..
      "database. Write the demo runs again for a new run in progress, or give --state a new file.)")
  end
end)
