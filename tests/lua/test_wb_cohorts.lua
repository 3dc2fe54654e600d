-- Cohort conditions against the test server: runs of two groups log a loss at different steps
-- (one peer every 2 steps, one every 3); one run of group a diverges. Its vs_cohort z-score is
-- compared, at each of its rows, with its peers' values interpolated to the same step -- exactly
-- as an independent reference computes them from the rows the peers had logged by that tick --
-- and its notifications match the reference's, value by value. Group b has too few peers and
-- never fires. Cohorts by "config.model" and by a function give the same firings as by "group".
-- vs_run against a finished baseline logged every 4 steps. After the first tick, peers cost no
-- request: their rows come with the watch's own.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"
local ref = require "condref"
local json = require "runwatch.json"
local retry = require "runwatch.retry"
local hooks = wb.base:gsub("127%.0%.0%.1", "localhost") .. "/hooks/"

retry.policies.webhook.redeliver = {base = 0.2, cap = 0.5, times = 50}
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

-- the runs: name, group, model, every (logs a loss every k steps), loss(step)
local RUNS = {
  {name = "coha0001", group = "a", model = "m1", every = 2, f = function(s) return 1 / (1 + s / 10) + 0.01 end},
  {name = "coha0002", group = "a", model = "m1", every = 3, f = function(s) return 1 / (1 + s / 10) - 0.02 end},
  {name = "coha0003", group = "a", model = "m1", every = 1, f = function(s) return 1 / (1 + s / 10) + 0.03 * math.sin(s) end},
  {name = "coha0004", group = "a", model = "m1", every = 1, f = function(s)
    return s < 20 and 1 / (1 + s / 10) or 1 / (1 + s / 10) + (s - 20) * 0.05 end},
  {name = "cohb0001", group = "b", model = "m2", every = 1, f = function(s) return 5 + s end},
  {name = "cohb0002", group = "b", model = "m2", every = 1, f = function(s) return 1 end},
}
local STEPS = 60
local base_rows, base_hist = {}, {}
for s = 0, STEPS, 4 do
  base_rows[#base_rows + 1] = {_step = s, loss = 1 / (1 + s / 10)}
  base_hist[#base_hist + 1] = json.encode(base_rows[#base_rows])
end
local fixtures = {{name = "base0001", state = "finished", group = "base", createdAt = iso(now - 3600),
  history = base_hist, summaryMetrics = base_hist[#base_hist]}}
for _, r in ipairs(RUNS) do
  fixtures[#fixtures + 1] = {name = r.name, state = "running", group = r.group, createdAt = iso(now + 30),
    config = json.encode({model = {value = r.model}}), history = json.array({})}
end
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "cohort", runs = fixtures}}})

-- ticks are driven by the test (the real Group:tick), after every run logged its rows of a chunk
local w = watch{project = "rw-team/cohort", every = 3600, id = "cohort-live", stale = false}
local function tpl() return {rule = "{{alert.rule}}", run = "{{run.id}}", tr = "{{alert.transition}}", value = "{{alert.value}}"} end
rule{name = "by-group", watch = w, when = metric("loss"):vs_cohort{by = "group", stat = "zscore", min_peers = 2}:gt(3),
  notify = {{webhook = hooks .. "cohort", template = tpl()}}}
rule{name = "by-model", watch = w, when = metric("loss"):vs_cohort{by = "config.model", min_peers = 2}:gt(3),
  notify = {{webhook = hooks .. "cohort", template = tpl()}}}
rule{name = "by-function", watch = w, when = metric("loss"):vs_cohort{by = function(run) return run.group end,
  min_peers = 2}:gt(3), notify = {{webhook = hooks .. "cohort", template = tpl()}}}
rule{name = "vs-base", watch = w, when = metric("loss"):vs_run{path = "rw-team/cohort/base0001", stat = "ratio"}:gt(1.5),
  notify = {{webhook = hooks .. "cohort", template = tpl()}}}

-- ticks: every run logs its rows of [lo, hi), then the watch takes them
local logged = {}                      -- name -> rows appended so far
local ticks = {}                       -- {hi = ..., peers_rows = snapshot}
local lo = 0
local tick_requests = {}
wait_for("the first tick", function() return w.ticks >= 1 end)
local CHUNKS = {7, 5, 9, 4, 11, 6, 8, 10}
for _, k in ipairs(CHUNKS) do
  local hi = math.min(STEPS + 1, lo + k)
  for _, r in ipairs(RUNS) do
    local texts = {}
    logged[r.name] = logged[r.name] or {}
    for s = lo, hi - 1 do
      if s % r.every == 0 then
        local row = {_step = s, _timestamp = now + 100 + s, loss = r.f(s)}
        logged[r.name][#logged[r.name] + 1] = row
        texts[#texts + 1] = json.encode(row)
      end
    end
    if #texts > 0 then wb.admin("POST", "runs/rw-team/cohort/" .. r.name, {append_history = texts}) end
  end
  ticks[#ticks + 1] = {lo = lo, hi = hi}
  local stats = w.group:tick()
  if #ticks > 1 then tick_requests[#tick_requests + 1] = stats.requests end
  lo = hi
  if lo > STEPS then break end
end
wait_for("deliveries", function() return #state.outbox_pending() == 0 end)
sleep(0.3)

-- the reference: at each of a run's rows, its peers' values at that step from the rows they had
-- logged by the end of that tick, interpolated linearly; population z-score; min_peers 2
local function interp(rows, x)
  if #rows == 0 or x < rows[1]._step or x > rows[#rows]._step then return nil end
  for i, r in ipairs(rows) do
    if r._step == x then return r.loss end
    if r._step > x then
      local a = rows[i - 1]
      return a.loss + (r.loss - a.loss) * (x - a._step) / (r._step - a._step)
    end
  end
end
local function upto(rows, hi)
  local out = {}
  for _, r in ipairs(rows) do if r._step < hi then out[#out + 1] = r end end
  return out
end
local function reference(run, value_at)
  local out, firing, last_true = {}, false, nil
  for _, tk in ipairs(ticks) do
    for _, row in ipairs(logged[run.name]) do
      if row._step >= tk.lo and row._step < tk.hi then
        local v = value_at(run, row, tk)
        local cond = v ~= nil and v > (run.x or 3)
        if cond and not firing then firing = true; out[#out + 1] = {transition = "firing", value = v}
        elseif not cond and firing then firing = false; out[#out + 1] = {transition = "resolved", value = last_true} end
        if cond then last_true = v end
      end
    end
  end
  return out
end
local function cohort_z(run, row, tk)
  local peers = {}
  for _, p in ipairs(RUNS) do
    if p.group == run.group and p.name ~= run.name then
      local v = interp(upto(logged[p.name], tk.hi), row._step)
      if v then peers[#peers + 1] = v end
    end
  end
  if #peers < 2 then return nil end
  local m = 0
  for _, v in ipairs(peers) do m = m + v end
  m = m / #peers
  local q = 0
  for _, v in ipairs(peers) do q = q + (v - m) ^ 2 end
  local sd = math.sqrt(q / #peers)
  if sd == 0 then return row.loss == m and 0 or (row.loss > m and math.huge or -math.huge) end
  return (row.loss - m) / sd
end
local function base_ratio(run, row)
  local b = interp(base_rows, row._step)
  return b and row.loss / b
end

local got = {}
for _, x in ipairs(wb.admin("GET", "hooks?name=cohort")) do
  local k = x.json.rule .. "|" .. x.json.run
  got[k] = got[k] or {}
  table.insert(got[k], x.json)
end
local function compare(rule_name, run, want)
  local g = got[rule_name .. "|" .. run.name] or {}
  t.eq(#g, #want, rule_name .. " on " .. run.name .. ": as many notifications as the reference")
  for i = 1, math.min(#g, #want) do
    t.ok(g[i].tr == want[i].transition and ref.same(g[i].value, want[i].value), string.format(
      "%s on %s #%d: got %s %s, want %s %s", rule_name, run.name, i, g[i].tr, tostring(g[i].value),
      want[i].transition, tostring(want[i].value)))
  end
  return #want
end
local fired = 0
for _, run in ipairs(RUNS) do
  local want = reference(run, cohort_z)
  if run.group == "b" then t.eq(#want, 0, "group b: one peer each, never enough (min_peers 2)") end
  for _, name in ipairs({"by-group", "by-model", "by-function"}) do fired = fired + compare(name, run, want) end
  local rw = reference(setmetatable({x = 1.5}, {__index = run}), base_ratio)
  compare("vs-base", run, rw)
end
t.ok((got["by-group|coha0004"] or {})[1] ~= nil, "the diverging run fired against its cohort")
t.ok(fired >= 3, "cohort firings: " .. fired)
t.ok(#(got["vs-base|coha0004"] or {}) >= 1, "the diverging run fired against the baseline")
t.eq(table.concat(tick_requests, " "), string.rep("2", #tick_requests, " "),
  "after the first, every tick costs the watch's own requests only (runs, history): peers come with them")
w:stop()
t.done()
