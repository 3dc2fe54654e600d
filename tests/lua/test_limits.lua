-- Limits: a runaway loop (even one that catches its own errors) and a memory bomb are each
-- stopped with a clear error while another job keeps ticking; the process survives.
-- runwatch-args: --mem-limit 96
-- runwatch-mode: run
local t = require "testlib"
local task = require "runwatch.task"
local core = require "runwatch.core"

local ticks = 0
local ticker = every(0.01, function() ticks = ticks + 1 end, {immediate = true})

-- a tight loop that swallows errors with pcall: stopped by the budget hook (yield escapes pcall)
local loop = task.new(function()
  while true do pcall(function() while true do end end) end
end, {quiet = true, budget = 0.2})
local ok, err = loop:wait()
t.ok(not ok and tostring(err):find("CPU budget", 1, true), "runaway loop stopped: " .. tostring(err))

-- a loop inside a C call that cannot yield (table.sort comparator) is stopped by an error
local sorter = task.new(function()
  local a = {}
  for i = 1, 100 do a[i] = i end
  table.sort(a, function(x, y) while true do end end)
end, {quiet = true, budget = 0.2})
ok, err = sorter:wait()
t.ok(not ok and tostring(err):find("CPU budget", 1, true), "loop in a non-yieldable call stopped: " .. tostring(err))

-- a memory bomb hits the cap (the test runs with --mem-limit) and is stopped
local bomb = task.new(function()
  local hog = {}
  for i = 1, 1e9 do hog[i] = string.rep("x", 65536) .. i end
end, {quiet = true, budget = 600})
ok, err = bomb:wait()
t.ok(not ok and tostring(err):find("memory", 1, true), "memory bomb stopped: " .. tostring(err):sub(1, 120))
collectgarbage()
t.ok(core.stats().mem < 64 * 1024 * 1024, "its memory was freed: " .. core.stats().mem)

-- the other job kept ticking throughout
local before = ticks
sleep(0.05)
t.ok(ticks > before and before >= 1, "ticker kept running: " .. before .. " -> " .. ticks)
ticker:stop()

t.done()
