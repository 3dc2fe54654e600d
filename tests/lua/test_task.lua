-- Coroutine jobs: spawn runs later, await/sleep read sequentially, join, parallel/map with a
-- concurrency limit and ordered results, errors isolated and re-raised where asked.
local t = require "testlib"
local task = require "runwatch.task"

local seq = {}
local child = spawn(function(a, b) seq[#seq + 1] = "child " .. a .. b end, "x", "y")
seq[#seq + 1] = "parent"
t.ok(child:wait(), "child finished ok")
t.eq(seq, {"parent", "child xy"}, "spawn runs on a later loop turn, with its arguments")

-- a failing child does not kill the parent; wait reports it
local bad = task.new(function() error("child broke") end, {quiet = true})
local ok, err = bad:wait()
t.ok(not ok and err:find("child broke", 1, true), "wait returns false, err: " .. tostring(err))

-- parallel keeps order and respects the limit
local active, peak = 0, 0
local fns = {}
for i = 1, 12 do
  fns[i] = function()
    active = active + 1
    if active > peak then peak = active end
    sleep(0.01 * (13 - i) / 12)
    active = active - 1
    return i * i
  end
end
local res = parallel(fns, {limit = 3})
for i = 1, 12 do t.eq(res[i], i * i, "result " .. i .. " in order") end
t.eq(peak, 3, "at most 3 at a time")

-- map, and an error in one of them raised after all finish
local out = map({"a", "b", "c"}, function(v, i) return v .. i end)
t.eq(out, {"a1", "b2", "c3"}, "map")
local finished = 0
t.checkerr("item 2 failed", function()
  return map({1, 2, 3}, function(v)
    sleep(0.01)
    if v == 2 then error("item 2 failed") end
    finished = finished + 1
  end)
end)
t.eq(finished, 2, "the other items still ran")

-- coroutine.yield at a job's top level is a clear error, not a hang
local y = task.new(function() coroutine.yield(1) end, {quiet = true})
local okk, yerr = y:wait()
t.ok(not okk and yerr:find("yielded outside", 1, true), "stray yield reported: " .. tostring(yerr))

-- sleep misuse
t.checkerr("non-negative", sleep, -1)

t.done()
