-- Progress bars (progress.lua): no ETA until it means something (issue 13 item 14: the first
-- update showed an absurd ETA), the rate measured from the first item done, thousands and clock.
local t = require "testlib"
local progress = require "runwatch.progress"

-- a bar on a fake clock and a fake stream
local now = 100.0
local written = {}
local out = {write = function(_, ...) for _, s in ipairs({...}) do written[#written + 1] = s end end}
local function last_line() return written[#written - 2] end

t.eq(progress.new{enabled = false}, nil, "disabled: no bar")
local bar = progress.new{enabled = true, unit = "runs", total = 1000, clock = function() return now end, out = out}

-- start-up: 3 s of connection and a first page before the first item
now = now + 3
bar.done = 1; bar:draw()
t.ok(last_line():find("ETA %-%-:%-%-"), "one item done: no ETA yet, got " .. last_line())
-- a burst of items right after the first one (a whole page at once): still too early
now = now + 0.05
bar.done = 50; bar:draw()
t.ok(bar:eta(now) == nil, "50 items in 0.05 s: no estimate before MIN_SECONDS")
-- steady 10 items/s from the first item on
now = now + 0.25
bar.done = 53; bar:draw()
now = 103 + 10
bar.done = 101
local eta = bar:eta(now)
t.ok(eta ~= nil, "after 10 s and 101 items there is an estimate")
-- rate from the first item: 100 items in 10 s -> 899 left at 10/s = 89.9 s; the start-up 3 s
-- would have made it 899 / (101/13) = 115.7 s
t.ok(math.abs(eta - 89.9) < 0.01, "ETA from the rate since the first item: " .. tostring(eta))
bar:draw()
t.ok(last_line():find("ETA 1:30"), "ETA drawn as m:ss: " .. last_line())
t.ok(last_line():find("101/1,000 runs"), "done/total with thousands: " .. last_line())
bar.done = 1000; bar:draw(true)
t.ok(written[#written] == "\n" and last_line():find("in 0:13"), "final line: elapsed time and a newline")

-- throttled: at most 5 draws a second
now = now + 0.3
local n = #written
bar.done = 1001; bar:draw(); bar:draw()
t.eq(#written, n + 4, "two draws in the same instant write once (\\r, line, erase, end)")

-- no total: no ETA at all, a count and a rate
local b2 = progress.new{enabled = true, unit = "files", clock = function() return now end, out = out}
now = now + 1; b2.done = 12345; b2:draw()
t.ok(last_line():find("^12,345 files") and not last_line():find("ETA"), "unknown total: " .. last_line())

t.eq(progress.clock(3725), "1:02:05", "hours")
t.eq(progress.clock(0 / 0), "--:--", "NaN")
t.eq(progress.thousands(1234567), "1,234,567", "thousands")
t.eq(progress.wanted(false), false, "forced off")
t.eq(progress.wanted(true), true, "forced on")
t.done()
