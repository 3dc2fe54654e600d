-- Declarative conditions (conditions.lua) over metric windows (windows.lua), against a reference
-- computed here from the whole series: avg/min/max/last, change (absolute, relative, each
-- direction, prior windows), zscore, is_nan at every logged row, with fewer values than the
-- window, NaN and infinities inside windows, keys with '/' and nested keys, rows without the key.
-- The rows arrive in random chunks and the windows go through JSON between chunks (what the
-- cursor stores), so a restart between any two rows gives the same answers. Then the mistakes a
-- script can make, each raised by rule{} naming the rule and the builder's line.
local t = require "testlib"
local json = require "runwatch.json"
local windows = require "runwatch.windows"
local C = require "runwatch.conditions"

math.randomseed(15)

-- {====== a series with NaN, infinities, gaps (rows without the key) and integers

local N = 400
local rows = {}
for i = 0, N - 1 do
  local r = {_step = i, _timestamp = 1700000000 + i}
  local u = math.random()
  if u < 0.85 then
    local v = math.sin(i / 7) * 3 + math.random() * 0.5
    if u < 0.02 then v = 0 / 0 elseif u < 0.03 then v = math.huge elseif u < 0.04 then v = -math.huge
    elseif u < 0.1 then v = math.random(0, 5) end      -- integers too
    r["train/loss"] = v
    r.eval = {acc = v / 10}                               -- nested: metric("eval.acc")
  end
  if math.random() < 0.05 then r["train/loss"] = "n/a" end   -- not a number: ignored
  rows[#rows + 1] = r
end

-- the reference: values of a key in step order
local function series(key)
  local out = {}
  for _, r in ipairs(rows) do
    local v = r[key]
    if key == "eval.acc" then v = r.eval and r.eval.acc end
    if type(v) == "number" then out[#out + 1] = {step = r._step, v = v} end
  end
  return out
end

local function ref_agg(name, vals)
  if name == "last" then return vals[#vals] end
  if name == "avg" then
    local s = 0
    for _, v in ipairs(vals) do s = s + v end
    return s / #vals
  end
  for _, v in ipairs(vals) do if v ~= v then return v end end
  local m = vals[1]
  for _, v in ipairs(vals) do if (name == "min" and v < m) or (name == "max" and v > m) then m = v end end
  return m
end

local function slice(s, i, n) -- n values ending at index i, or nil
  if i - n + 1 < 1 then return nil end
  local out = {}
  for j = i - n + 1, i do out[#out + 1] = s[j].v end
  return out
end

local function same(a, b)
  if a == nil or b == nil then return a == b end
  if a ~= a then return b ~= b end
  if a == b then return true end
  return math.abs(a - b) <= 1e-12 * math.max(math.abs(a), math.abs(b))
end

-- }======

-- the cases: condition, and its reference at the i-th value of its key -> cond, value
local cases = {}
local function case(name, cond, key, ref) cases[#cases + 1] = {name = name, cond = cond, key = key, ref = ref} end

for _, ag in ipairs({"avg", "min", "max"}) do
  for _, n in ipairs({1, 5, 50}) do
    case(ag .. n .. " gt", C.metric("train/loss")[ag](C.metric("train/loss"), n):gt(1.5), "train/loss",
      function(s, i) local w = slice(s, i, n); if not w then return false end; local v = ref_agg(ag, w); return v > 1.5, v end)
    case(ag .. n .. " lte", C.metric("eval.acc")[ag](C.metric("eval.acc"), n):lte(-0.1), "eval.acc",
      function(s, i) local w = slice(s, i, n); if not w then return false end; local v = ref_agg(ag, w); return v <= -0.1, v end)
  end
end
case("last lt", C.metric("train/loss"):last():lt(0), "train/loss",
  function(s, i) local v = s[i].v; return v < 0, v end)
case("plain gte", C.metric("train/loss"):gte(2), "train/loss",
  function(s, i) local v = s[i].v; return v >= 2, v end)
case("last is_nan", C.metric("train/loss"):last():is_nan(), "train/loss",
  function(s, i) local v = s[i].v; return v ~= v or v == math.huge or v == -math.huge, v end)
case("avg is_nan", C.metric("train/loss"):avg(10):is_nan(), "train/loss",
  function(s, i) local w = slice(s, i, 10); if not w then return false end
    local v = ref_agg("avg", w); return not (v == v and math.abs(v) ~= math.huge), v end)

local function ref_change(ag, n, prior, by, rel, dir)
  return function(s, i)
    local cur, prev = slice(s, i, n), slice(s, i - n, prior)
    if not cur or not prev then return false end
    local a, b = ref_agg(ag, cur), ref_agg(ag, prev)
    local d = a - b
    if rel then
      if b == 0 then d = (d == 0) and 0.0 or (d > 0 and math.huge or -math.huge) else d = d / math.abs(b) end
    end
    if d ~= d then return false, d end
    if dir == "increase" then return d >= by, d elseif dir == "decrease" then return d <= -by, d end
    return math.abs(d) >= by, d
  end
end
case("avg change any", C.metric("train/loss"):avg(5):change{by = 1}, "train/loss", ref_change("avg", 5, 5, 1, false, "any"))
case("avg change rel inc", C.metric("train/loss"):avg(4):change{by = 0.2, relative = true, direction = "increase"},
  "train/loss", ref_change("avg", 4, 4, 0.2, true, "increase"))
case("max change dec prior", C.metric("train/loss"):max(3):change{by = 0.5, direction = "decrease", prior = 7},
  "train/loss", ref_change("max", 3, 7, 0.5, false, "decrease"))
case("raw change", C.metric("train/loss"):change{by = 2}, "train/loss", ref_change("last", 1, 1, 2, false, "any"))
case("wandb increases_by frac", C.metric("train/loss"):avg(3):increases_by{frac = 0.5}, "train/loss",
  ref_change("avg", 3, 3, 0.5, true, "increase"))
case("wandb decreases_by diff", C.metric("train/loss"):decreases_by{diff = 1}, "train/loss",
  ref_change("last", 1, 1, 1, false, "decrease"))

local function ref_z(n, absolute, cmp, x)
  return function(s, i)
    local before = slice(s, i - 1, n)
    if not before then return false end
    local mean = 0
    for _, v in ipairs(before) do mean = mean + v end
    mean = mean / n
    local var = 0
    for _, v in ipairs(before) do var = var + (v - mean) ^ 2 end
    local sd = math.sqrt(var / n)
    local v = s[i].v
    local z
    if sd == 0 then z = v == mean and 0.0 or (v > mean and math.huge or -math.huge) else z = (v - mean) / sd end
    if absolute then z = math.abs(z) end
    if z ~= z then return false, z end
    if cmp == "gt" then return z > x, z end
    return z < x, z
  end
end
case("zscore gt", C.metric("train/loss"):zscore{window = 20}:gt(2), "train/loss", ref_z(20, false, "gt", 2))
case("zscore abs", C.metric("train/loss"):zscore(8):abs():gt(1.5), "train/loss", ref_z(8, true, "gt", 1.5))
case("zscore lt", C.metric("eval.acc"):zscore(5):lt(-1), "eval.acc", ref_z(5, false, "lt", -1))

-- {====== every case at every row, rows in random chunks, windows through JSON between chunks

local needs = {}
for _, c in ipairs(cases) do c.cond:needs(needs) end
local per_case = {}
for ci in ipairs(cases) do per_case[ci] = {} end
local saved, pos = nil, 1
local chunks = 0
while pos <= #rows do
  local k = math.random(1, 17)
  local chunk = {table.unpack(rows, pos, math.min(#rows, pos + k - 1))}
  local view = windows.open(saved and json.decode(json.encode(saved)) or nil, needs, chunk, nil, pos - 1)
  for _, r in ipairs(chunk) do
    view:at(r._step)
    for ci, c in ipairs(cases) do
      if windows.number_of(r, c.key) ~= nil then
        local ok, v = c.cond:eval({view = view, state = "running"})
        per_case[ci][#per_case[ci] + 1] = {ok = ok, v = v, step = r._step}
      end
    end
  end
  saved = view:saved()
  pos = pos + #chunk
  chunks = chunks + 1
end
t.ok(chunks > 20, "rows fed in " .. chunks .. " chunks")

for ci, c in ipairs(cases) do
  local s = series(c.key)
  local got = per_case[ci]
  t.eq(#got, #s, c.name .. ": one evaluation per logged value")
  local bad, fired = 0, 0
  for i = 1, math.min(#got, #s) do
    local want_ok, want_v = c.ref(s, i)
    want_ok = want_ok and true or false
    if got[i].ok ~= want_ok or (want_v ~= nil and not same(got[i].v, want_v)) then
      bad = bad + 1
      if bad <= 3 then
        print(string.format("  %s at step %d: got %s %s, want %s %s", c.name, s[i].step, tostring(got[i].ok),
          tostring(got[i].v), tostring(want_ok), tostring(want_v)))
      end
    end
    if want_ok then fired = fired + 1 end
  end
  t.eq(bad, 0, c.name .. ": every point as the reference (" .. fired .. " true of " .. #s .. ")")
end

-- the cursor keeps only what the windows need, not the history
local kept = 0
for _, w in pairs(saved.k) do kept = kept + #w.s end
local need_total = 0
for _, n in pairs(needs) do need_total = need_total + n end
t.ok(kept <= need_total, "the cursor keeps " .. kept .. " values (the windows need " .. need_total .. ")")

-- }======

-- {====== fewer values than the window; a row delivered twice is not counted twice

do
  local v = windows.open(nil, {x = 3}, {{_step = 0, x = 5}, {_step = 1, x = 7}}, nil, 0)
  local c = C.metric("x"):avg(3):gt(0)
  t.eq((c:eval({view = v:at(nil)})), false, "avg(3) of two values: not evaluated yet (false)")
  local v2 = windows.open(v:saved(), {x = 3}, {{_step = 1, x = 7}, {_step = 2, x = 9}}, nil, 1)
  local ok, val = c:eval({view = v2:at(nil)})
  t.ok(ok and val == 7, "the third value completes the window, the repeated row is not counted: " .. tostring(val))
  local nested = windows.open(nil, {["a.b.c"] = 1}, {{_step = 0, a = {["b.c"] = 4}}, {_step = 1, ["a.b"] = {c = 6}}}, nil, 0)
  t.eq(nested:last("a.b.c", 1)[1], 6, "nested keys, a dot inside a level's own key")
  local pv = windows.open(nil, {x = 2}, {{_step = 10, x = 1}}, nil, 10)
  t.eq(pv:saved().cap.x, 0, "a run with rows before the cursor and no priming: windows marked incomplete")
  local pp = windows.open(nil, {x = 2}, {{_step = 10, x = 1}}, {{_step = 3, x = 4}, {_step = 7, x = 5}}, 10)
  t.eq(table.concat(pp:last("x", 3), ","), "4,5,1", "primed rows come before the new ones")
  t.eq(pp:saved().cap.x, 2, "primed windows are complete")
end

-- }======

-- {====== cohorts: peers' values at the run's step, interpolated; too few peers

do
  local cohorts = require "runwatch.cohorts"
  local ex = C.metric("loss"):vs_cohort{by = "group", stat = "zscore", min_peers = 3}
  local e = ex:gt(3)
  local tr = cohorts.new(ex, {})
  local function rows_of(steps, f)
    local out = {}
    for _, st in ipairs(steps) do out[#out + 1] = {_step = st, loss = f(st)} end
    return out
  end
  -- peers log at other steps than the run: p1 every 2 steps, p2 every 5, p3 at 0 and 100 only
  tr:set("p1", rows_of({0, 2, 4, 6, 8, 10}, function(s) return 1 + s end), {key = "g", state = "running"})
  tr:set("p2", rows_of({0, 5, 10}, function(s) return 2 * s end), {key = "g", state = "finished"})
  tr:set("p3", rows_of({0, 100}, function(s) return s / 10 end), {key = "g", state = "running"})
  tr:set("other", rows_of({0, 7}, function() return 99 end), {key = "h", state = "running"})
  tr:set("dead", rows_of({0, 7}, function() return 99 end), {key = "g", state = "crashed"})
  tr:set("run", rows_of({7}, function() return 50 end), {key = "g", state = "running"})
  local run = {id = "run"}
  local peers = tr:peers(run, 7)
  -- p1 at 7: between (6, 7) and (8, 9) -> 8; p2 at 7: between (5, 10) and (10, 20) -> 14; p3: 0.7
  t.eq(#peers, 3, "three peers cover step 7 (another cohort and a crashed run do not count)")
  table.sort(peers)
  t.ok(math.abs(peers[1] - 0.7) < 1e-12 and peers[2] == 8 and peers[3] == 14, "interpolated to step 7: " ..
    table.concat(peers, ", "))
  local mean = (0.7 + 8 + 14) / 3
  local sd = math.sqrt(((0.7 - mean) ^ 2 + (8 - mean) ^ 2 + (14 - mean) ^ 2) / 3)
  local view = windows.open(nil, e:needs({}), {{_step = 7, loss = 50}}, nil, 0):at(nil)
  local env = {view = view, run = run, peers = function(ex, r, x) return tr:peers(r, x) end}
  local ok, z = e:eval(env)
  t.ok(ok and math.abs(z - (50 - mean) / sd) < 1e-12, "zscore against the peers at the run's step: " .. tostring(z))
  t.eq(#tr:peers(run, 11), 1, "past p1's and p2's last points only p3 covers step 11")
  local ok2, v2 = e:eval({view = windows.open(nil, e:needs({}), {{_step = 11, loss = 50}}, nil, 0):at(nil),
    run = run, peers = env.peers})
  t.eq(ok2, false, "too few peers (1 of min_peers 3): false")
  t.eq(v2, nil, "and no value")
  local mex = C.metric("loss"):vs_cohort{by = "group", stat = "ratio_to_median", min_peers = 2}
  local med = mex:gt(1)
  local ok3, r3 = med:eval({view = view, run = run, peers = function(_, r, x) return tr:peers(r, x) end})
  t.ok(ok3 and r3 == 50 / 8, "ratio to the peers' median: " .. tostring(r3))
  t.eq(cohorts.interpolate({x = {1, 2, 2, 3}, v = {10, 20, 21, 30}}, 2), 21, "a repeated step: its last value")
  local key = cohorts.cohort_key(setmetatable({}, {__index = function(_, k)
    if k == "config" then return {model = {name = "resnet"}} end end}), "config.model.name")
  t.eq(key, "resnet", "by = \"config.model.name\": a nested config value")
  -- vs_run: a baseline logged at other steps
  local b = C.metric("loss"):vs_run{path = "e/p/base", stat = "ratio"}
  local base = cohorts.baseline(b, nil)
  base:set(rows_of({0, 10}, function(s) return 10 + s end))
  local okb, vb = b:gt(2):eval({view = view, run = run, baseline = function(ex, x) return base:value(x) end})
  t.ok(okb and math.abs(vb - 50 / 17) < 1e-12, "vs_run ratio to the baseline interpolated at step 7: " .. tostring(vb))
end

-- }======

-- {====== mistakes: raised by rule{} with the rule's name and the builder's line

local w = watch{project = "me/proj", every = 3600, id = "conditions-errors"}
local function load_error(pattern, line, fn)
  local ok, err = pcall(fn)
  t.ok(not ok and tostring(err):find(pattern, 1, true) ~= nil, "error mentions " .. pattern .. ": " .. tostring(err))
  t.ok(tostring(err):find("test_conditions.lua:" .. line .. ":", 1, true) ~= nil,
    "the error names the line " .. line .. ": " .. tostring(err))
end
local L = debug.getinfo(1, "l").currentline
load_error("rule r1: metric(\"loss\"):avg(0): the window must be", L + 2, function() rule{name = "r1", watch = w,
  when = metric("loss"):avg(0):gt(1)} end)
load_error("rule r2: metric(\"loss\"):max(-3)", L + 3, function() rule{name = "r2", watch = w, when = metric("loss"):max(-3):gt(1)} end)
load_error("rule r3: change: unknown direction \"up\"", L + 5, function() rule{name = "r3", watch = w,
  when = metric("acc"):avg(10):change{by = 0.05, relative = true, direction = "up"}} end)
load_error("rule r4: metric(\"loss\"):avg(5):gt() needs a number (got \"high\")", L + 7, function()
  rule{name = "r4", watch = w, when = metric("loss"):avg(5):gt("high")} end)
load_error("rule r5: vs_cohort: unknown stat \"mean\"", L + 9, function() rule{name = "r5", watch = w,
  when = metric("loss"):vs_cohort{by = "group", stat = "mean"}:gt(3)} end)
load_error("rule r6: metric(\"loss\"):zscore: the window must be", L + 11, function() rule{name = "r6", watch = w,
  when = metric("loss"):zscore{window = 0}:gt(3)} end)
load_error("rule r7: metric(\"loss\"):avg(5) is a value, not a condition", L + 13, function() rule{name = "r7", watch = w,
  when = metric("loss"):avg(5)} end)
load_error("rule r8: state(): unknown run state \"exploded\"", L + 15, function() rule{name = "r8", watch = w,
  when = any_of{state("crashed", "exploded"), metric("loss"):gt(1)}} end)
load_error("rule r9: metric(\"loss\"):gt() needs a number (got NaN)", L + 17, function() rule{name = "r9", watch = w,
  when = metric("loss"):gt(0 / 0)} end)
local ok, err = pcall(rule, {name = "r10", watch = w, when = metric("x"):gt(1), cooldown = "soon"})
t.ok(not ok and tostring(err):find("rule r10: cooldown", 1, true), "a bad cooldown: " .. tostring(err))
ok, err = pcall(rule, {name = "r11", watch = w, when = metric("x"):gt(1), max_per_hour = 0})
t.ok(not ok and tostring(err):find("max_per_hour", 1, true), "a bad max_per_hour: " .. tostring(err))
local w_nohist = watch{project = "me/proj", every = 3600, id = "conditions-nohist", history = false}
ok, err = pcall(rule, {name = "r12", watch = w_nohist, when = metric("x"):gt(1)})
t.ok(not ok and tostring(err):find("history = false", 1, true), "a metric condition on a watch without history: " .. tostring(err))
-- state() stays the state store too
t.eq(type(state.get), "function", "state.get is still there")
t.eq(tostring(state("crashed", "failed")), "runwatch.Condition (state in (crashed, failed))")
w:stop()
w_nohist:stop()

-- }======

t.done()
