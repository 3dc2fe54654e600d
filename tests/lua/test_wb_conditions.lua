-- Declarative rules against the test server, end to end: runs created while the watch runs have
-- every logged row evaluated (notifications compared with an independent reference, value by
-- value, for keys with '/', NaN rows and rows in random chunks per tick); runs already under way
-- are primed from recent history in one batched request per 100 runs and fire on their current
-- windows, never on old crossings; state() fires once with the state; a metric no run logs keeps
-- its rule inactive and is reported (status meta), without failing ticks.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"
local ref = require "condref"
local json = require "runwatch.json"
local retry = require "runwatch.retry"
local hooks = wb.base:gsub("127%.0%.0%.1", "localhost") .. "/hooks/"

retry.policies.webhook.redeliver = {base = 0.2, cap = 0.5, times = 50}
math.randomseed(42)
local now = os.time()
local function iso(s) return os.date("!%Y-%m-%dT%H:%M:%S", s) end
local function wait_for(what, fn, secs)
  local deadline = os.time() + (secs or 20)
  while os.time() <= deadline do
    if fn() then return true end
    sleep(0.1)
  end
  t.ok(false, "timed out waiting for " .. what)
  return false
end
local function num(v)       -- a row value as JSON text (NaN as the W&B SDK writes it)
  if v ~= v then return "NaN" end
  if v == math.huge then return "Infinity" end
  return string.format("%.17g", v)
end
local function row_text(r)
  local parts = {}
  for _, k in ipairs({"_step", "_timestamp", "train/loss", "val/acc"}) do
    if r[k] ~= nil then parts[#parts + 1] = string.format("%q: %s", k, num(r[k])) end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end
local function template() return {rule = "{{alert.rule}}", run = "{{run.id}}", tr = "{{alert.transition}}",
  value = "{{alert.value}}"} end
local function outbox_empty() return #state.outbox_pending() == 0 end

-- {====== 1. runs already under way: primed from recent history, batched

local OLD = 150
local old_runs = {}
for i = 1, OLD do
  local hist = {}
  for s = 0, 29 do
    -- run 1 ends high (its current window is over the threshold), the others stay low
    local v = (i == 1 and s >= 25) and 10 + s or 1 + (s % 3) * 0.1
    hist[#hist + 1] = row_text({_step = s, _timestamp = now - 1000 + s, ["train/loss"] = v})
  end
  old_runs[i] = {name = string.format("old%05d", i), state = "running", createdAt = iso(now - 86400),
    heartbeatAt = iso(now), history = hist, summaryMetrics = hist[#hist]}     -- W&B's summary: the last row
end
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "prime", runs = old_runs}}})
wb.clear_requests()
local w_prime = watch{project = "rw-team/prime", every = 0.2, id = "cond-prime", stale = false}
rule{name = "prime-avg", watch = w_prime, when = metric("train/loss"):avg(5):gt(5),
  notify = {{webhook = hooks .. "prime", template = template()}}}
wait_for("the first tick", function() return w_prime.ticks >= 1 end)
t.eq(wb.count("WatchHistory"), 2, "150 runs under way primed in 2 requests (100 runs each)")
wait_for("run 1's firing", function() return #wb.admin("GET", "hooks?name=prime") >= 1 and outbox_empty() end)
local h = wb.admin("GET", "hooks?name=prime")
t.eq(#h, 1, "only the run whose current window is over the threshold fired")
t.eq(h[1] and h[1].json.run, "old00001")
t.ok(h[1] and ref.same(h[1].json.value, (35 + 36 + 37 + 38 + 39) / 5), "its value is the average of its last 5 logged values")
-- run 2 crosses with new rows: the window spans old and new values
local r2 = {}
for s = 30, 33 do r2[#r2 + 1] = row_text({_step = s, _timestamp = now + s, ["train/loss"] = 20}) end
wb.clear_requests()
wb.admin("POST", "runs/rw-team/prime/old00002", {append_history = r2})
wait_for("run 2's firing", function() return #wb.admin("GET", "hooks?name=prime") >= 2 and outbox_empty() end)
h = wb.admin("GET", "hooks?name=prime")
t.eq(h[2] and h[2].json.run, "old00002")
-- steps 27..29 are 1.0, 1.1, 1.2 (1 + (s % 3) * 0.1), then 20, 20: the second new row crosses
t.ok(h[2] and ref.same(h[2].json.value, (1.0 + 1.1 + 1.2 + 20 + 20) / 5), "the window spans primed and new values: " ..
  tostring(h[2] and h[2].json.value))
t.ok(wb.count("WatchHistory") <= 3, "no priming again: only the new rows were asked for (" ..
  wb.count("WatchHistory") .. " history requests)")
w_prime:stop()

-- }======

-- {====== 2. new runs: every row evaluated, in random chunks per tick

local NEW = {"new00001", "new00002", "new00003"}
local runs = {}
for i, name in ipairs(NEW) do
  runs[i] = {name = name, state = "running", createdAt = iso(now + 30), heartbeatAt = iso(now + 30),
    history = json.array({})}
end
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "cond", runs = runs}}})
local w = watch{project = "rw-team/cond", every = 0.1, id = "cond-live", stale = false}
local RULES = {
  {name = "loss-avg", key = "train/loss", agg = "avg", n = 3, cmp = "gt", x = 2.5},
  {name = "acc-max", key = "val/acc", agg = "max", n = 4, cmp = "lt", x = 0.3},
  {name = "loss-last-lte", key = "train/loss", agg = "last", n = 1, cmp = "lte", x = 0},
}
for _, r in ipairs(RULES) do
  local m = metric(r.key)
  m = r.agg == "last" and m:last() or m[r.agg](m, r.n)
  rule{name = r.name, watch = w, when = m[r.cmp](m, r.x), notify = {{webhook = hooks .. "live", template = template()}}}
end
rule{name = "loss-nan", watch = w, when = metric("train/loss"):last():is_nan(),
  notify = {{webhook = hooks .. "live", template = template()}}}
rule{name = "crashed", watch = w, when = state("crashed", "failed"),
  notify = {{webhook = hooks .. "live", template = template()}}}
rule{name = "missing-metric", watch = w, when = metric("no/such/metric"):avg(2):gt(0),
  notify = {{webhook = hooks .. "live", template = template()}}}

local all_rows = {}
for i, name in ipairs(NEW) do
  local rows = {}
  for s = 0, 79 do
    local r = {_step = s, _timestamp = now + 100 + s}
    if math.random() < 0.9 then
      r["train/loss"] = (i == 2 and s == 40) and 0 / 0 or (2.5 + math.sin(s / 4 + i) * 1.5)
    end
    if s % 2 == 0 then r["val/acc"] = 0.3 + math.cos(s / 6 + i) * 0.2 end
    rows[#rows + 1] = r
  end
  all_rows[name] = rows
end
local pos = {1, 1, 1}
local chunks = 0
while pos[1] <= 80 or pos[2] <= 80 or pos[3] <= 80 do
  for i, name in ipairs(NEW) do
    local k = math.random(0, 15)
    if pos[i] <= 80 and k > 0 then
      local texts = {}
      for j = pos[i], math.min(80, pos[i] + k - 1) do texts[#texts + 1] = row_text(all_rows[name][j]) end
      wb.admin("POST", "runs/rw-team/cond/" .. name, {append_history = texts})
      pos[i] = pos[i] + #texts
    end
  end
  chunks = chunks + 1
  local want = {}
  for i, name in ipairs(NEW) do want[name] = pos[i] - 1 end
  wait_for("the watch to take the rows", function()
    for name, last in pairs(want) do
      local c = state.cursor("cond-live", "rw-team/cond/" .. name)
      if not c or (c.step or 0) < last then return false end
    end
    return true
  end)
end
t.ok(chunks >= 5, "rows delivered over " .. chunks .. " ticks")
wb.admin("POST", "runs/rw-team/cond/new00003", {state = "crashed", heartbeat = false})
wait_for("the crash", function()
  local a = state.alert("crashed", "rw-team/cond/new00003")
  return a and a.state == "firing"
end)
wait_for("deliveries", outbox_empty)
sleep(0.3)

local got = {}
for _, x in ipairs(wb.admin("GET", "hooks?name=live")) do
  local k = x.json.rule .. "|" .. x.json.run
  got[k] = got[k] or {}
  table.insert(got[k], x.json)
end
local total = 0
for _, r in ipairs(RULES) do
  for _, name in ipairs(NEW) do
    local want = ref.transitions(all_rows[name], r)
    local g = got[r.name .. "|" .. name] or {}
    total = total + #want
    t.eq(#g, #want, r.name .. " on " .. name .. ": as many notifications as the reference's crossings")
    local bad = 0
    for i = 1, math.min(#g, #want) do
      if g[i].tr ~= want[i].transition or not ref.same(g[i].value, want[i].value) then
        bad = bad + 1
        print(string.format("  %s %s #%d: got %s %s, want %s %s (step %d)", r.name, name, i, g[i].tr,
          tostring(g[i].value), want[i].transition, tostring(want[i].value), want[i].step))
      end
    end
    t.eq(bad, 0, r.name .. " on " .. name .. ": transitions and values as the reference")
  end
end
t.ok(total >= 10, "the reference has " .. total .. " crossings")
local nan = got["loss-nan|new00002"] or {}
t.eq(#nan, 2, "the NaN row fires is_nan once and the next value resolves it")
t.eq(nan[1] and nan[1].value, "NaN", "the value that fired is NaN")
for _, name in ipairs({"new00001", "new00003"}) do t.eq(got["loss-nan|" .. name], nil, "no NaN in " .. name) end
local cr = got["crashed|new00003"] or {}
t.eq(#cr, 1, "state(crashed, failed) fired once")
t.eq(cr[1] and cr[1].value, "crashed", "its value is the state")
t.eq(got["crashed|new00001"], nil, "the running runs did not fire state()")

-- a metric nobody logs: inactive, reported, no failed ticks
for _, name in ipairs(NEW) do t.eq(got["missing-metric|" .. name], nil, "missing metric: no notification") end
local meta = state.meta_get("rule:missing-metric") or {}
t.ok(tostring(meta.missing):find("no/such/metric", 1, true), "status records the metric never logged: " ..
  tostring(meta.missing))
t.eq(state.meta_get("rule:loss-avg").missing, nil, "a logged metric is not reported")
t.eq(w.errors, 0, "no handler or rule error in any tick")
w:stop()

-- }======

t.done()
