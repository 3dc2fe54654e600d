-- A watch tick keeps many runs in one state transaction (a savepoint each, issue 18): another
-- job that wants the store meanwhile gets it between two runs, not after the whole page, and
-- every row is still delivered once, with the cursors and the handlers' own writes committed.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"

local NRUNS = 30
wb.admin("POST", "generate", {entity = "rw-team", project = "batch", runs = NRUNS, running = NRUNS, steps = 3, seed = 5})

local seen, dup, processed = {}, 0, 0
local w = watch{project = "rw-team/batch", every = "1h", id = "batch", stale = false,
  on_history = function(run, rows)
    local s = seen[run.id] or {}
    seen[run.id] = s
    for _, r in ipairs(rows) do
      if s[r._step] then dup = dup + 1 end
      s[r._step] = true
    end
    state.set("rows:" .. run.id, #rows + (state.get("rows:" .. run.id) or 0))
    sleep(0.01)                 -- a handler that waits: inside its run's savepoint
    processed = processed + 1
  end}
while w.ticks < 1 do sleep(0.02) end
wb.admin("POST", "simulate", {steps = 4})

-- the other job: writes the store as often as it can while the measured tick runs, and notes
-- how many runs the tick had processed at each of its writes
local ticking, stop, writes, err = false, false, 0, nil
local progress = {}             -- distinct values of `processed` seen by the writer mid-tick
local other = spawn(function()
  while not stop do
    local ok, e = pcall(state.set, "other", writes + 1)
    if ok then
      writes = writes + 1
      if ticking then progress[processed] = true end
    else
      err = e
      break
    end
    sleep(0.002)
  end
end)

local before = processed
ticking = true
local stats = w.group:tick()
ticking = false
stop = true
other:wait()
w:stop()

local points = 0
for _ in pairs(progress) do points = points + 1 end
t.eq(err, nil, "the other job's writes never failed (no 'another job's transaction' timeout)")
t.eq(processed - before, NRUNS, "the tick processed every run")
t.ok(points >= NRUNS // 3, string.format("the other job wrote between runs, not only after the page: " ..
  "at %d different points of the tick's %d runs", points, NRUNS))
t.eq(state.get("other"), writes, "every write of the other job is in the store")
t.eq(stats.failed, 0, "no run failed")
t.eq(dup, 0, "no row delivered twice")
local total, stored = 0, 0
for id, s in pairs(seen) do
  for _ in pairs(s) do total = total + 1 end
  stored = stored + (state.get("rows:" .. id) or 0)
end
t.eq(stored, total, "the handlers' own writes committed with the batch: " .. stored .. " rows recorded")
t.ok(total >= NRUNS * 7, "rows of both ticks delivered: " .. total)
t.done()
