-- Issue 13 item 11: every option table a script gives (every, after, cron, http.get/post/request,
-- Api{}, api.open, watch{}, its stale = {}, rule{}, a notify action) is checked when it is given:
-- an unknown name (`imediate = true`) or a bad value is an error at the script's own line, with
-- the closest known name, before anything runs or is sent. (On the old main every one of the
-- unknown names below was silently ignored, and max_rows = 0 made `once` loop forever.)
local t = require "testlib"
local here = debug.getinfo(1, "S").short_src

-- bad(pattern, f): f raises, the message names this file and the line f was written on, and
-- contains pattern
local function bad(pattern, f)
  local line = debug.getinfo(f, "S").linedefined
  local ok, err = pcall(f)
  if ok then t.ok(false, "no error for: " .. pattern) return end
  err = tostring(err)
  t.ok(err:find(here .. ":" .. line .. ":", 1, true) == 1, "at the script's line " .. line .. ": " .. err)
  t.ok(err:find(pattern, 1, true), "'" .. err .. "' contains '" .. pattern .. "'")
end
local function nop() end

-- schedules
bad('every: unknown option "imediate" (did you mean "immediate"?', function() every("5m", nop, {imediate = true}) end)
bad('after: unknown option "bogus" (known: cpu_budget, name)', function() after("5m", nop, {bogus = 1}) end)
bad('cron: unknown option "jiter" (did you mean "jitter"?', function() cron("0 * * * *", nop, {jiter = "1m"}) end)
bad('every: immediate must be true or false (got string)', function() every("5m", nop, {immediate = "yes"}) end)
bad('every: name must be a non-empty string', function() every("5m", nop, {name = 5}) end)
bad("bad argument #3 to 'every' (table of options expected, got string)", function() every("5m", nop, "fast") end)

-- http
bad('http.get: unknown option "timout" (did you mean "timeout"?', function() http.get("http://127.0.0.1:9/", {timout = 5}) end)
bad('http.post: unknown option "url"', function() http.post("http://127.0.0.1:9/", "x", {url = "y"}) end)
bad('http.request: unknown option "hedaers" (did you mean "headers"?', function() http.request{url = "http://127.0.0.1:9/", hedaers = {}} end)

-- Api
bad('Api: unknown option "entitiy" (did you mean "entity"?', function() api.Api{entitiy = "x"} end)
bad('Api: unknown option "backend"', function() api.Api{backend = {}} end)
bad('Api: unknown option "projct" (did you mean "project"?', function() api.open("http://127.0.0.1:9", {projct = "p"}) end)
bad('bad duration "5x"', function() api.Api{timeout = "5x"} end)

-- watch and rule
bad('watch: unknown option "imediate"', function() watch{project = "e/p", imediate = true} end)
bad('watch: max_rows must be a positive integer (got 0)', function() watch{project = "e/p", max_rows = 0} end)
bad('watch: batch must be an integer from 1 to 100 (got 0)', function() watch{project = "e/p", batch = 0} end)
bad('watch: stale.factor must be a positive number (got "five")', function() watch{project = "e/p", stale = {factor = "five"}} end)
bad('watch: unknown option "stale.factr" (did you mean "stale.factor"?', function() watch{project = "e/p", stale = {factr = 2}} end)
local w = watch{project = "e/p"}
bad('rule: unknown option "whn" (did you mean "when"?', function() rule{name = "r", watch = w, whn = nop} end)
bad('notify must be a list of actions', function() rule{name = "r", watch = w, when = nop, notify = "not a url"} end)
bad('slack needs an http:// or https:// URL (got "not a url")', function() rule{name = "r", watch = w, when = nop, notify = {{slack = "not a url"}}} end)
bad('webhook needs an http:// or https:// URL (got "file:///etc/passwd")', function() rule{name = "r", watch = w, when = nop, notify = {{webhook = "file:///etc/passwd"}}} end)
bad('(slack): unknown option "txt" (did you mean "text"?', function() rule{name = "r", watch = w, when = nop, notify = {{slack = "https://h.example/x", txt = "hi"}}} end)
w:stop()

-- good options still pass, and the same check is quiet about them
local s = every("1h", nop, {immediate = false, jitter = "1s", name = "ok", cpu_budget = "2s"})
t.ok(s ~= nil, "every with known options")
s:stop()
local a = after("1h", nop, {name = "later"})
t.ok(a ~= nil, "after with known options")
a:stop()
t.ok(api.Api{entity = "e", project = "p", timeout = "5s", rate = 5}, "Api with known options")

-- the suggestion is the closest known name, never a far one
local options = require "runwatch.options"
t.eq(options.suggestion("imediate", options.set{"immediate", "name"}), "immediate")
t.eq(options.suggestion("zzz", options.set{"immediate", "name"}), nil)
t.eq(options.suggestion("x", options.set{"y"}), nil, "one letter is never 'close' to another")
t.done()
