-- Fault injection with the test server: 429 storms (Retry-After), 5xx bursts, answers slower
-- than the timeout, connections dropped mid-body, truncated and malformed answers, GraphQL
-- errors, the server down for a while, the per-call deadline, non-retryable statuses, and
-- mutations that must not be repeated. Each: a clear error, or success after retrying; no
-- partial page taken as complete; no alert doubled or lost.
local t = require "testlib"
local wb = require "wbtest"
local core = require "runwatch.core"

local function fresh(o)
  local opts = {retry_base = 0.05, retry_cap = 0.5, deadline = 20, timeout = 5}
  for k, v in pairs(o or {}) do opts[k] = v end
  return api.Api(opts)
end
local function faults(rules) wb.admin("POST", "faults", {rules = rules}) end
local function reset() wb.admin("DELETE", "faults"); wb.clear_requests() end
local function n(op) return #wb.requests(op) end
local results = {}
local function record(fault, outcome) results[#results + 1] = string.format("| %s | %s |", fault, outcome) end

local path = "rw-team/vision/abc123xy"
local want = wb.stored(path).displayName

-- 429 storm: three 429s with Retry-After: 1, then success; the wait is honoured
reset()
faults({{match = {op = "Run"}, times = 3, action = {status = 429, headers = {["Retry-After"] = "1", ["RateLimit-Remaining"] = "0", ["RateLimit-Reset"] = "1"}}}})
local t0 = core.monotonic()
t.eq(fresh().run(path).name, want, "429 x3 then success")
local waited = core.monotonic() - t0
t.eq(n("Run"), 4, "4 attempts")
t.ok(waited >= 2.5, "Retry-After honoured (waited " .. string.format("%.1f", waited) .. " s, backoff alone would be 0.35 s)")
record("429 x3 with Retry-After: 1", "success after 3 retries, waits honour Retry-After")

-- 500/502/503 burst
for _, code in ipairs({500, 502, 503}) do
  reset()
  faults({{match = {op = "Run"}, times = 2, action = {status = code}}})
  t.eq(fresh().run(path).name, want, code .. " x2 then success")
  t.eq(n("Run"), 3, code .. ": 3 attempts")
end
record("500, 502, 503 x2 each", "success after 2 retries")

-- slower than the timeout
reset()
faults({{match = {op = "Run"}, times = 1, action = {delay_ms = 3000}}})
t.eq(fresh({timeout = 0.5}).run(path).name, want, "timeout then success")
t.eq(n("Run"), 2, "timed-out attempt retried")
record("answer slower than the 0.5 s timeout", "success on the retry")

-- dropped before answering, dropped mid-body, truncated, malformed
for _, f in ipairs({{drop = "before"}, {drop = "mid-body"}, {truncate = 100}, {malformed = true}}) do
  reset()
  faults({{match = {op = "Run"}, times = 2, action = f}})
  local name = json.encode(f)
  t.eq(fresh().run(path).name, want, name .. " x2 then success")
  t.eq(n("Run"), 3, name .. ": retried")
end
record("connection dropped before the answer / mid-body, truncated body, malformed JSON (x2 each)", "success after 2 retries")

-- a truncated page in the middle of a listing is retried, never taken as complete
reset()
faults({{match = {op = "Runs"}, after = 2, times = 1, action = {truncate = 200}}})
local count = 0
for _ in ipairs(fresh().runs("rw-team/vision", nil, {per_page = 5})) do count = count + 1 end
t.eq(count, #wb.admin("GET", "projects")[1] and (function()
  for _, p in ipairs(wb.admin("GET", "projects")) do if p.name == "vision" then return p.runs end end end)(), "every run listed despite a truncated page")
record("page 3 of a run listing truncated", "retried; the listing is complete")

-- GraphQL errors and non-retryable statuses: one attempt, a CommError
reset()
faults({{match = {op = "Run"}, times = 1, action = {graphql_error = "internal failure"}}})
local ok, err = pcall(fresh().run, path)
t.ok(not ok and tostring(err):find("internal failure", 1, true), "GraphQL error -> CommError")
t.eq(n("Run"), 1, "GraphQL errors are not retried")
for _, code in ipairs({400, 403, 404, 409, 422}) do
  reset()
  faults({{match = {op = "Run"}, times = 1, action = {status = code}}})
  ok, err = pcall(fresh().run, path)
  t.ok(not ok and err.status == code, code .. " -> CommError with status")
  t.eq(n("Run"), 1, code .. " not retried")
end
record("GraphQL error; 400, 403, 404, 409, 422", "CommError at once, no retry")

-- the per-call deadline: 503 forever
reset()
faults({{match = {op = "Run"}, times = -1, action = {status = 503}}})
t0 = core.monotonic()
ok, err = pcall(fresh({deadline = 1.5}).run, path)
local took = core.monotonic() - t0
t.ok(not ok and tostring(err):find("deadline", 1, true), "gives up at the deadline: " .. tostring(err))
t.ok(took < 4, "within about the deadline: " .. string.format("%.1f", took))
record("503 forever", "CommError after the call's deadline (1.5 s here, 60 s by default)")

-- the server gone for 2 s and back
reset()
wb.admin("POST", "down", {ms = 2000})
sleep(0.2)                                  -- the server goes down 20 ms after answering
t0 = core.monotonic()
t.eq(fresh({deadline = 15}).run(path).name, want, "server down, then back: success")
t.ok(core.monotonic() - t0 > 1.0, "it really waited for the server to come back")
t.ok(n("Run") >= 1, "answered after the comeback")
record("server down for 2 s (connection refused)", "success once it is back")

-- alerts are not repeated when the server may have acted (dropped mid-body: it executed)
reset()
wb.admin("DELETE", "alerts")
faults({{match = {op = "NotifyScriptableRunAlert"}, times = 1, action = {drop = "mid-body"}}})
local run = fresh().run(path)
ok, err = pcall(run.alert, run, {title = "once only"})
t.ok(not ok, "ambiguous failure of an alert -> CommError, not a retry")
t.eq(#wb.admin("GET", "alerts"), 1, "the alert was delivered exactly once")
-- ... but a 429 (rejected before acting) is retried
reset()
wb.admin("DELETE", "alerts")
faults({{match = {op = "NotifyScriptableRunAlert"}, times = 2, action = {status = 429, headers = {["Retry-After"] = "0"}}}})
t.eq(run:alert{title = "after 429"}, true, "alert retried after 429")
t.eq(#wb.admin("GET", "alerts"), 1, "and delivered exactly once")
record("alert mutation dropped mid-body / answered 429", "not repeated (CommError) / retried, delivered once")

-- upsertBucket is idempotent: retried after an ambiguous failure, the value written once
reset()
faults({{match = {op = "UpsertBucket"}, times = 1, action = {drop = "mid-body"}}})
run.summary.fault_test = 42
t.eq(run:update(), true, "update retried after a dropped answer")
t.eq(wb.stored(path).summary_decoded.fault_test, 42, "written")
record("UpsertBucket dropped mid-body", "retried (setting the same values twice is harmless)")

-- downloads are retried too (the download policy of retry.lua): two 503s, then the file
reset()
faults({{match = {path = "/files/"}, times = 2, action = {status = 503, headers = {["Retry-After"] = "0"}}}})
local frun = fresh().run("rw-team/vision/abc123xy")
local content = frun:file("requirements.txt"):read()
t.ok(type(content) == "string" and #content > 0, "a file download after two 503s: " .. tostring(content and #content))
local file_gets = 0
for _, r in ipairs(wb.requests()) do if r.path and r.path:find("^/files/") then file_gets = file_gets + 1 end end
t.eq(file_gets, 3, "two refused downloads, then the one that worked")
record("file download answered 503 twice", "retried (download policy), then read")

reset()
print("\n| fault injected | outcome |\n|---|---|\n" .. table.concat(results, "\n"))
t.done()
