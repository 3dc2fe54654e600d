-- Tests of runwatch.cron from Lua: parse/next/valid/duration, raised and returned errors, lifetime.
local t = require "testlib"
local cron = require "runwatch.cron"

local JAN1 = 1704067200          -- 2024-01-01 00:00:00 UTC, a Monday
local H, D = 3600, 86400

-- {====== parse, tostring, next in UTC
local c = cron.parse("0 9 * * MON")
t.eq(tostring(c), 'runwatch.Cron("0 9 * * MON")', "tostring")
t.eq(c:expr(), "0 9 * * MON", "expr")
t.eq(getmetatable(c).__name, "runwatch.Cron", "metatable name")
t.eq(c:next(JAN1, "UTC"), JAN1 + 9 * H, "next Monday 09:00")
t.eq(c:next(JAN1 + 9 * H, "UTC"), JAN1 + 7 * D + 9 * H, "strictly after")
t.eq(c:next(JAN1 + 0.75, "UTC"), JAN1 + 9 * H, "a float `after`")
t.eq(c:next(JAN1, "utc"), JAN1 + 9 * H, "utc spelled in lower case")
t.eq(math.type(c:next(JAN1)), "integer", "local time gives an integer")
t.ok(c:next(JAN1) > JAN1, "local time: later than after")
t.checkerr([[bad cron expression "12": expected 5 fields]], cron.parse, 12)

local cases = {
  -- expression, after, expected next (UTC)
  {"*/15 * * * *", JAN1 + 7 * 60 + 30, JAN1 + 15 * 60},
  {"10-50/10 * * * *", JAN1 + 10 * 60, JAN1 + 20 * 60},
  {"5/15 * * * *", JAN1 + 6 * 60, JAN1 + 20 * 60},
  {"1,5,10 * * * *", JAN1 + 2 * 60, JAN1 + 5 * 60},
  {"0 0 * * 7", JAN1, JAN1 + 6 * D},
  {"0 0 * * sun", JAN1, JAN1 + 6 * D},
  {"0 0 * * FRI-SUN", JAN1, JAN1 + 4 * D},
  {"0 0 1 jul *", JAN1, 1719792000},                      -- 2024-07-01
  {"0 0 13 * FRI", 1725148800, 1725148800 + 5 * D},        -- from 2024-09-01: Fri 6th (Vixie OR)
  {"0 0 29 2 *", 1709251200, 1835395200},                  -- from 2024-03-01: 2028-02-29
  {"0 0 31 * *", 1706659200, 1711843200},                  -- from 2024-01-31: 2024-03-31
  {"@hourly", JAN1, JAN1 + H},
  {"@daily", JAN1, JAN1 + D},
  {"@midnight", JAN1, JAN1 + D},
  {"@weekly", JAN1, JAN1 + 6 * D},
  {"@monthly", JAN1, JAN1 + 31 * D},
  {"@yearly", JAN1, JAN1 + 366 * D},
  {"@annually", JAN1 - 1, JAN1},
}
for _, k in ipairs(cases) do
  t.eq(cron.parse(k[1]):next(k[2], "UTC"), k[3], k[1])
end

-- The world's failures: nil, msg.
local n, err = cron.parse("0 0 30 2 *"):next(JAN1, "UTC")
t.eq(n, nil, "no match")
t.eq(err, 'cron "0 0 30 2 *" after 1704067200: no matching time within 8 years', "no-match message")
n, err = c:next(1 << 50, "UTC")
t.eq(n, nil, "out of range")
t.ok(type(err) == "string" and err:find("out of the supported range", 1, true), "range message")
-- }======

-- {====== misuse raises, with the parser's message
t.checkerr('bad cron expression "0 25 * * *": hour 25 out of range 0-23 at position 3', cron.parse, "0 25 * * *")
t.checkerr('bad cron expression "0 0 *": expected 5 fields (minute hour day-of-month month day-of-week), got 3',
  cron.parse, "0 0 *")
t.checkerr("minute has an empty list item at position 3", cron.parse, "1,,2 * * * *")
t.checkerr("minute step 0 out of range 1-59 at position 3", cron.parse, "*/0 * * * *")
t.checkerr("hour range 5-3 is reversed at position 3", cron.parse, "0 5-3 * * *")
t.checkerr("day-of-week unknown name 'FOO' at position 9", cron.parse, "0 0 * * FOO")
t.checkerr("unknown macro '@reboot'", cron.parse, "@reboot")
t.checkerr('bad cron expression "0 0\\x00 * * *": NUL byte at position 4', cron.parse, "0 0\0 * * *")
t.checkerr("(string expected, got nil)", cron.parse, nil)
t.checkerr("(string expected, got table)", cron.parse, {})
t.checkerr("invalid option 'Europe/Berlin'", c.next, c, JAN1, "Europe/Berlin")
t.checkerr("(not a finite time)", c.next, c, 0 / 0)
t.checkerr("(not a finite time)", c.next, c, math.huge)
t.checkerr("bad argument #2 to", c.next, c, "soon")
t.checkerr("(number expected, got string)", c.next, c, "soon")
t.checkerr("runwatch.Cron expected, got table", c.next, {}, JAN1)
-- }======

-- {====== valid: never raises for a bad expression
t.eq(cron.valid("*/5 * * * *"), true, "valid")
t.eq(cron.valid("@weekly"), true, "valid macro")
do
  local okv, msg = cron.valid("0 25 * * *")
  t.eq(okv, false, "invalid")
  t.eq(msg, 'bad cron expression "0 25 * * *": hour 25 out of range 0-23 at position 3', "invalid message")
  okv, msg = cron.valid("")
  t.eq(okv, false, "empty is invalid")
  t.eq(msg, 'bad cron expression "": empty', "empty message")
end
t.checkerr("string expected", cron.valid, {})
-- }======

-- {====== duration
t.eq(cron.duration("90s"), 90.0)
t.eq(cron.duration("5m"), 300.0)
t.eq(cron.duration("1h30m"), 5400.0)
t.eq(cron.duration("1h 30m"), 5400.0)
t.eq(cron.duration("1.5h"), 5400.0)
t.eq(cron.duration("1d"), 86400.0)
t.eq(cron.duration("1w"), 604800.0)
t.eq(cron.duration("250ms"), 0.25)
t.eq(cron.duration("0s"), 0.0)
t.eq(cron.duration("30"), 30.0, "a numeric string is seconds, as a float")
t.eq(cron.duration(30), 30, "a number is returned as it is")
t.eq(cron.duration(1.5), 1.5)
t.eq(cron.duration(0), 0)
t.checkerr([[bad duration "5x": unknown unit 'x' at position 2]], cron.duration, "5x")
t.checkerr([[bad duration "": empty]], cron.duration, "")
t.checkerr([[bad duration "1h1h": unit 'h' repeated at position 4]], cron.duration, "1h1h")
t.checkerr([[bad duration "-5m": negative durations are not allowed at position 1]], cron.duration, "-5m")
t.checkerr([[bad duration "200y"]], cron.duration, "200y")
t.checkerr("too large (over 100 years)", cron.duration, "40000d")
t.checkerr("bad duration -5: negative durations are not allowed", cron.duration, -5)
t.checkerr("not a finite number", cron.duration, 0 / 0)
t.checkerr("not a finite number", cron.duration, math.huge)
t.checkerr("too large (over 100 years)", cron.duration, 1e12)
t.checkerr([[bad duration "5\x00s": NUL byte at position 2]], cron.duration, "5\0s")
t.checkerr("(string or number expected, got table)", cron.duration, {})
t.checkerr("(string or number expected, got no value)", cron.duration)
-- }======

-- {====== lifetime: close is idempotent, use after close raises, <close> works
do
  local d <close> = cron.parse("@daily")
  t.eq(d:next(0, "UTC"), 86400, "@daily from the epoch")
end
local e = cron.parse("@hourly")
e:close()
e:close()
t.ok(tostring(e):find("(closed)", 1, true), "tostring of a closed Cron")
t.checkerr("attempt to use a closed runwatch.Cron", e.next, e, JAN1)
t.checkerr("attempt to use a closed runwatch.Cron", e.expr, e)
do  -- many short-lived objects are collected without trouble
  for i = 1, 1000 do cron.parse(string.format("%d * * * *", i % 60)) end
  collectgarbage()
  collectgarbage()
  t.ok(true, "garbage collection")
end
-- }======

t.done()
