-- Timers and schedules: firing order, one-shot vs repeat, stop/again inside the callback, no
-- overlap, jitter bounds, misuse raising, closed-timer errors, a failing tick not stopping others.
-- runwatch-mode: run
-- runwatch-expect-exit: 1
local t = require "testlib"
local timer = require "runwatch.timer"
local core = require "runwatch.core"
local schedule = require "runwatch.schedule"

-- order: shorter delays fire first, equal delays in creation order
local order = {}
for _, d in ipairs({0.03, 0.01, 0.02, 0.01}) do
  timer.new(d, 0, function() order[#order + 1] = d end):start()
end
sleep(0.06)
t.eq(order, {0.01, 0.01, 0.02, 0.03}, "timers fire in deadline order")

-- repeat, and stop from inside the callback
local n = 0
local rep = timer.new(0.005, 0.005, function(self)
  n = n + 1
  if n == 4 then self:stop() end
end):start()
sleep(0.1)
t.eq(n, 4, "repeating timer stopped from its callback after 4 ticks")
t.ok(not rep:is_active(), "stopped timer is inactive")

-- again from inside a one-shot callback re-arms it
local m = 0
timer.new(0.005, 0, function(self)
  m = m + 1
  if m < 3 then self:again(0.005) end
end):start()
sleep(0.1)
t.eq(m, 3, "one-shot re-armed twice with again()")

-- misuse and closed timers
t.checkerr("non-negative", timer.new, -1, 0, function() end)
t.checkerr("function expected", timer.new, 1, 0, "nope")
local c = timer.new(1, 0, function() end)
c:close()
c:close()
t.checkerr("closed timer", c.start, c)
t.ok(tostring(c):find("closed", 1, true), "tostring of a closed timer")
do local tt <close> = timer.new(10, 0, function() end):start() end

-- every: no overlap -- a tick arriving while the previous run is still running is skipped
local runs, concurrent, maxc = 0, 0, 0
local s = schedule.every(0.02, function()
  runs = runs + 1
  concurrent = concurrent + 1
  if concurrent > maxc then maxc = concurrent end
  sleep(0.05)
  concurrent = concurrent - 1
end, {immediate = true})
sleep(0.2)
s:stop()
sleep(0.06)
t.eq(maxc, 1, "ticks never overlap")
t.ok(s.skipped > 0, "overlapping ticks were skipped: " .. s.skipped)
t.ok(runs >= 2, "it still ran several times: " .. runs)

-- a tick that raises does not stop the schedule nor other jobs
local bad, good = 0, 0
local sb = schedule.every(0.01, function() bad = bad + 1; error("tick failure " .. bad) end, {immediate = true})
local sg = schedule.every(0.01, function() good = good + 1 end, {immediate = true})
sleep(0.08)
sb:stop(); sg:stop()
t.ok(bad >= 3 and good >= 3, "failing schedule keeps ticking and so do others: " .. bad .. "/" .. good)

-- jitter: each delay lies in [interval, interval + jitter) and the delays differ
local delays = {}
local sj = schedule.every(0.01, function(self) end, {jitter = 0.01})
for _ = 1, 8 do
  sleep(0.015)
  delays[#delays + 1] = sj.last_delay
end
sj:stop()
local okj, distinct = true, {}
for _, d in ipairs(delays) do
  if d < 0.01 or d >= 0.02 then okj = false end
  distinct[d] = true
end
local nd = 0
for _ in pairs(distinct) do nd = nd + 1 end
t.ok(okj, "jittered delays within [10 ms, 20 ms)")
t.ok(nd >= 2, "jittered delays vary: " .. nd .. " distinct")

-- after fires once; stop() before it fires cancels it
local fired = 0
schedule.after(0.01, function() fired = fired + 1 end)
local cancelled = schedule.after(0.01, function() fired = fired + 100 end)
cancelled:stop()
sleep(0.05)
t.eq(fired, 1, "after fired once, the stopped one never")

-- bad durations name the expression
t.checkerr('bad interval', schedule.every, -5, function() end)
t.checkerr("function expected", schedule.every, 1, nil)

-- the failing ticks above count as job failures; this test's own verdict is its assertions
t.done()
