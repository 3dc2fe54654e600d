-- Declarative conditions for rule{when = ...}, named after W&B Automations' Python builders:
-- metric("loss"):avg(5):gt(2.5), metric("acc"):avg(10):change{by = 0.05, relative = true},
-- metric("loss"):zscore{window = 50}:gt(3), metric("loss"):last():is_nan(), state("crashed"),
-- all_of / any_of / none_of, cohorts (vs_cohort, vs_run). A condition is data: it is checked
-- when built (a mistake is kept with its script line and raised by rule{}, which names the
-- rule), says which metric values it needs (windows.lua keeps them), and is evaluated at a point
-- (a logged row, or the end of a tick) against those windows: eval(env) -> true/false, value.
local M = {}

local Expr, Cond, Bad = {}, {}, {}
Expr.__index, Cond.__index, Bad.__index = Expr, Cond, Bad
Expr.__name, Cond.__name, Bad.__name = "runwatch.Metric", "runwatch.Condition", "runwatch.Condition"

local STATES = {running = true, finished = true, crashed = true, failed = true, killed = true,
  preempted = true, preempting = true, pending = true}
local DIRECTIONS = {increase = "increase", decrease = "decrease", any = "any",
  inc = "increase", dec = "decrease"}
local COHORT_STATS = {zscore = true, ratio_to_median = true}
local RUN_STATS = {diff = true, ratio = true}

-- {====== mistakes: kept with the script's line, raised by rule{} (which names the rule)

-- where() -> "script.lua:12": the first frame outside this file (builders tail-call each other,
-- so counting levels would not do)
local SELF = debug.getinfo(1, "S").source
local function where()
  for level = 2, 64 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.source ~= SELF and info.what ~= "C" and (info.currentline or 0) > 0 then
      return info.short_src .. ":" .. info.currentline
    end
  end
  return "?"
end

local function bad(msg) return setmetatable({err = msg, where = where()}, Bad) end
-- every builder call on a bad condition keeps the first mistake
Bad.__index = function() return function(self) return self end end
Bad.__tostring = function(self) return "runwatch.Condition (bad: " .. self.where .. ": " .. self.err .. ")" end

function M.is_bad(v) return getmetatable(v) == Bad end
function M.is_condition(v) return getmetatable(v) == Cond end
function M.is_expression(v) return getmetatable(v) == Expr end

-- check(v, what) -> nil, or the message "file:line: what: why" of a mistake in v (deep)
function M.check(v, what)
  if getmetatable(v) == Bad then return v.where .. ": " .. what .. ": " .. v.err end
  if getmetatable(v) == Expr then
    return v.where .. ": " .. what .. ": " .. v:describe() .. " is a value, not a condition: compare it " ..
      "(:gt(x), :lt(x), :gte(x), :lte(x), :is_nan())"
  end
  if getmetatable(v) == Cond and v.list then
    for i, c in ipairs(v.list) do
      local m = M.check(c, what)
      if m then return m end
    end
  end
  return nil
end

local function show(x)
  if type(x) == "string" then return string.format("%q", x) end
  return tostring(x)
end

local function count_arg(n, what, level)
  if math.type(n) == "float" and n == math.floor(n) and n > 0 and n < 2^31 then n = math.tointeger(n) end
  if math.type(n) ~= "integer" or n < 1 then
    return nil, bad(string.format("%s: the window must be a whole number of values, 1 or more (got %s)",
      what, show(n)), level + 1)
  end
  return n
end

local function number_arg(x, what, level)
  if type(x) ~= "number" or x ~= x then
    return nil, bad(string.format("%s needs a number (got %s)", what, type(x) == "number" and "NaN" or show(x)),
      level + 1)
  end
  return x
end

-- }======

-- {====== metric expressions

-- metric(key) -> an expression over a logged metric (its last value until aggregated)
function M.metric(key)
  if type(key) ~= "string" or key == "" then
    return bad("metric() needs the metric's key, a non-empty string (got " .. show(key) .. ")", 2)
  end
  return setmetatable({kind = "agg", key = key, where = where()}, Expr)
end

local function agg(self, name, n, level)
  if self.kind ~= "agg" or self.agg then
    return bad(string.format("%s:%s(): aggregate a metric once, right after metric()", self:describe(), name), level + 1)
  end
  local what = string.format("metric(%q):%s(%s)", self.key, name, show(n))
  if name ~= "last" then
    local ok, b = count_arg(n, what, level + 1)
    if not ok then return b end
    n = ok
  else
    n = 1
  end
  return setmetatable({kind = "agg", key = self.key, agg = name, n = n, where = self.where}, Expr)
end

function Expr:avg(n) return agg(self, "avg", n, 2) end
function Expr:mean(n) return agg(self, "avg", n, 2) end
function Expr:min(n) return agg(self, "min", n, 2) end
function Expr:max(n) return agg(self, "max", n, 2) end
function Expr:last() return agg(self, "last", nil, 2) end

-- zscore(n) or zscore{window = n}: the latest value against the mean and standard deviation of
-- the n values before it (W&B's default window: 30)
function Expr:zscore(o)
  if self.kind ~= "agg" or self.agg then return bad(self:describe() .. ":zscore(): only on a metric's values", 2) end
  local n = o
  if type(o) == "table" then
    for k in pairs(o) do
      if k ~= "window" then return bad(string.format("zscore: unknown option %q (window)", tostring(k)), 2) end
    end
    n = o.window
  end
  if n == nil then n = 30 end
  local ok, b = count_arg(n, string.format("metric(%q):zscore", self.key), 2)
  if not ok then return b end
  return setmetatable({kind = "zscore", key = self.key, n = ok, where = self.where}, Expr)
end

-- abs(): the absolute value (W&B: metric(...).zscore(30).abs() > 3)
function Expr:abs()
  local e = {}
  for k, v in pairs(self) do e[k] = v end
  e.absolute = true
  return setmetatable(e, Expr)
end

local KNOWN_COHORT = {by = true, at = true, stat = true, min_peers = true}

-- vs_cohort{by =, at = "_step", stat = "zscore" | "ratio_to_median", min_peers = 3}: the run's
-- value at a step against its peers' values at the same step (interpolated)
function Expr:vs_cohort(o)
  if self.kind ~= "agg" or self.agg then return bad(self:describe() .. ":vs_cohort(): only on a metric's values", 2) end
  if type(o) ~= "table" then return bad("vs_cohort needs a table {by =, at =, stat =, min_peers =}", 2) end
  for k in pairs(o) do
    if not KNOWN_COHORT[k] then return bad(string.format("vs_cohort: unknown option %q (by, at, stat, min_peers)", tostring(k)), 2) end
  end
  if type(o.by) ~= "string" and type(o.by) ~= "function" then
    return bad("vs_cohort: by must be a run field (\"group\", \"config.model\", ...) or a function(run)", 2)
  end
  if type(o.by) == "string" and o.by == "" then return bad("vs_cohort: by must not be empty", 2) end
  local at = o.at or "_step"
  if type(at) ~= "string" or at == "" then return bad("vs_cohort: at must be a metric key (default \"_step\")", 2) end
  local stat = o.stat or "zscore"
  if not COHORT_STATS[stat] then
    return bad(string.format("vs_cohort: unknown stat %s (zscore or ratio_to_median)", show(stat)), 2)
  end
  local mp = o.min_peers or 3
  if math.type(mp) == "float" and mp == math.floor(mp) then mp = math.tointeger(mp) end
  if math.type(mp) ~= "integer" or mp < 1 then
    return bad("vs_cohort: min_peers must be a whole number, 1 or more (got " .. show(o.min_peers) .. ")", 2)
  end
  return setmetatable({kind = "cohort", key = self.key, by = o.by, at = at, stat = stat, min_peers = mp,
    where = self.where}, Expr)
end

-- vs_run{path = "e/p/id", at = "_step", stat = "diff" | "ratio"}: against a named baseline run
function Expr:vs_run(o)
  if self.kind ~= "agg" or self.agg then return bad(self:describe() .. ":vs_run(): only on a metric's values", 2) end
  if type(o) == "string" then o = {path = o} end
  if type(o) ~= "table" then return bad("vs_run needs {path = \"entity/project/run_id\"}", 2) end
  for k in pairs(o) do
    if k ~= "path" and k ~= "at" and k ~= "stat" then
      return bad(string.format("vs_run: unknown option %q (path, at, stat)", tostring(k)), 2)
    end
  end
  if type(o.path) ~= "string" or not o.path:match("^[^/]+/[^/]+/[^/]+$") then
    return bad("vs_run: path must be \"entity/project/run_id\" (got " .. show(o.path) .. ")", 2)
  end
  local stat = o.stat or "diff"
  if not RUN_STATS[stat] then return bad(string.format("vs_run: unknown stat %s (diff or ratio)", show(stat)), 2) end
  local at = o.at or "_step"
  if type(at) ~= "string" or at == "" then return bad("vs_run: at must be a metric key (default \"_step\")", 2) end
  return setmetatable({kind = "baseline", key = self.key, path = o.path, at = at, stat = stat, where = self.where}, Expr)
end

function Expr:describe()
  local s = string.format("metric(%q)", self.key)
  if self.kind == "agg" then
    if self.agg == "last" then s = s .. ":last()"
    elseif self.agg then s = s .. string.format(":%s(%d)", self.agg, self.n) end
  elseif self.kind == "zscore" then s = s .. string.format(":zscore(%d)", self.n)
  elseif self.kind == "cohort" then
    s = s .. string.format(":vs_cohort{by = %s, stat = %q}", type(self.by) == "string" and
      string.format("%q", self.by) or "function", self.stat)
  else s = s .. string.format(":vs_run{path = %q, stat = %q}", self.path, self.stat) end
  if self.absolute then s = s .. ":abs()" end
  return s
end
Expr.__tostring = function(self) return "runwatch.Metric (" .. self:describe() .. ")" end

-- the windows an expression reads: needs[name] = values kept; pair series are "key\0at"
local function pair(key, at) return key .. "\0" .. at end
M.pair = pair

function Expr:needs(out)
  if self.kind == "agg" then out[self.key] = math.max(out[self.key] or 0, self.n or 1)
  elseif self.kind == "zscore" then out[self.key] = math.max(out[self.key] or 0, self.n + 1)
  else out[pair(self.key, self.at)] = math.max(out[pair(self.key, self.at)] or 0, 1) end
  return out
end

local function nan_aware_min(vals, greater)
  local m = vals[1]
  for i = 1, #vals do
    local v = vals[i]
    if v ~= v then return v end
    if (greater and v > m) or (not greater and v < m) then m = v end
  end
  return m
end

-- aggregate(name, vals) -> the exact aggregate (sums in logged order; NaN propagates)
local function aggregate(name, vals)
  if name == "avg" then
    local s = 0
    for i = 1, #vals do s = s + vals[i] end
    return s / #vals
  elseif name == "min" then return nan_aware_min(vals, false)
  elseif name == "max" then return nan_aware_min(vals, true) end
  return vals[#vals]
end
M.aggregate = aggregate

-- mean and population standard deviation
local function mean_std(vals)
  local s = 0
  for i = 1, #vals do s = s + vals[i] end
  local mean = s / #vals
  local q = 0
  for i = 1, #vals do local d = vals[i] - mean; q = q + d * d end
  return mean, math.sqrt(q / #vals)
end
M.mean_std = mean_std

local function zscore(v, mean, std)
  if std == 0 then
    if v == mean then return 0.0 end
    return v > mean and math.huge or -math.huge
  end
  return (v - mean) / std
end
M.zscore = zscore

local function median(vals)
  local c = {}
  for i, v in ipairs(vals) do c[i] = v end
  table.sort(c)
  local n = #c
  if n % 2 == 1 then return c[(n + 1) // 2] end
  return (c[n // 2] + c[n // 2 + 1]) / 2
end
M.median = median

-- value(env) -> the expression's value at the point, or nil (not enough values yet)
function Expr:value(env)
  local view = env.view
  local v
  if self.kind == "agg" then
    local vals = view:last(self.key, self.n or 1)
    if not vals then return nil end
    v = aggregate(self.agg or "last", vals)
  elseif self.kind == "zscore" then
    local latest = view:last(self.key, 1)
    local before = view:last(self.key, self.n, 1)
    if not latest or not before then return nil end
    local mean, std = mean_std(before)
    v = zscore(latest[1], mean, std)
  else
    local p = view:last_pair(pair(self.key, self.at))
    if not p then return nil end
    local own, x = p.v, p.x
    if self.kind == "cohort" then
      local peers = env.peers and env.peers(self, env.run, x, p.t) or {}
      if #peers < self.min_peers then return nil end
      if self.stat == "zscore" then
        local mean, std = mean_std(peers)
        v = zscore(own, mean, std)
      else
        v = own / median(peers)
      end
    else
      local b = env.baseline and env.baseline(self, x)
      if b == nil then return nil end
      v = self.stat == "ratio" and own / b or own - b
    end
  end
  if self.absolute and v then v = math.abs(v) end
  return v
end

-- }======

-- {====== conditions

local function cmp_cond(self, op, x, level)
  local n, b = number_arg(x, self:describe() .. ":" .. op .. "()", level + 1)
  if not n then return b end
  return setmetatable({op = op, expr = self, x = n, where = self.where}, Cond)
end

function Expr:gt(x) return cmp_cond(self, "gt", x, 2) end
function Expr:lt(x) return cmp_cond(self, "lt", x, 2) end
function Expr:gte(x) return cmp_cond(self, "gte", x, 2) end
function Expr:lte(x) return cmp_cond(self, "lte", x, 2) end
Expr.ge, Expr.le = Expr.gte, Expr.lte

-- is_nan(): the value is NaN or infinite
function Expr:is_nan() return setmetatable({op = "nan", expr = self, where = self.where}, Cond) end

local CHANGE_KNOWN = {by = true, relative = true, direction = true, prior = true}

local function change_cond(self, o, level)
  if self.kind ~= "agg" then return bad(self:describe() .. ":change(): only on a metric's values or its aggregate", level + 1) end
  if type(o) ~= "table" then return bad("change needs a table {by =, relative =, direction =, prior =}", level + 1) end
  for k in pairs(o) do
    if not CHANGE_KNOWN[k] then
      return bad(string.format("change: unknown option %q (by, relative, direction, prior)", tostring(k)), level + 1)
    end
  end
  local by, b = number_arg(o.by, "change: by", level + 1)
  if not by then return b end
  if by <= 0 then return bad("change: by must be more than 0 (the direction says which way; got " .. show(by) .. ")", level + 1) end
  if o.relative ~= nil and type(o.relative) ~= "boolean" then return bad("change: relative must be true or false", level + 1) end
  local dir = DIRECTIONS[o.direction or "any"]
  if not dir then
    return bad(string.format("change: unknown direction %s (increase, decrease or any)", show(o.direction)), level + 1)
  end
  local n = self.n or 1
  local prior = n
  if o.prior ~= nil then
    local p, pb = count_arg(o.prior, "change: prior", level + 1)
    if not p then return pb end
    prior = p
  end
  return setmetatable({op = "change", expr = self, by = by, relative = o.relative == true, direction = dir,
    prior = prior, where = self.where}, Cond)
end

-- change{by =, relative = false, direction = "any", prior = window}: the aggregate of the last
-- window against the aggregate of the window before it
function Expr:change(o) return change_cond(self, o, 2) end

-- W&B's names: changes_by{diff = x} (absolute) or {frac = x} (relative), increases_by, decreases_by
local function wandb_change(self, o, dir, level)
  if type(o) ~= "table" then return bad("needs {diff = x} or {frac = x}", level + 1) end
  for k in pairs(o) do
    if k ~= "diff" and k ~= "frac" then return bad(string.format("unknown option %q (diff or frac)", tostring(k)), level + 1) end
  end
  if (o.diff == nil) == (o.frac == nil) then return bad("give exactly one of diff and frac", level + 1) end
  return change_cond(self, {by = o.diff or o.frac, relative = o.frac ~= nil, direction = dir}, level + 1)
end
function Expr:changes_by(o) return wandb_change(self, o, "any", 2) end
function Expr:increases_by(o) return wandb_change(self, o, "increase", 2) end
function Expr:decreases_by(o) return wandb_change(self, o, "decrease", 2) end

-- state("crashed", "failed"): the run is in one of these states (at the end of a tick; while
-- rows are evaluated a run is running)
-- (also as the __call of the state module, the `state` global: a first table argument is skipped)
function M.state(...)
  local args = table.pack(...)
  local list, set = {}, {}
  for i = type(args[1]) == "table" and 2 or 1, args.n do
    local s = args[i]
    if type(s) ~= "string" or not STATES[s:lower()] then
      return bad(string.format("state(): unknown run state %s (running, finished, crashed, failed, killed, " ..
        "preempted, preempting, pending)", show(s)), 2)
    end
    set[s:lower()] = true
    list[#list + 1] = s:lower()
  end
  if #list == 0 then return bad("state() needs at least one run state", 2) end
  return setmetatable({op = "state", states = set, names = list, where = where()}, Cond)
end

local function combinator(op, name)
  return function(list)
    if type(list) ~= "table" or getmetatable(list) ~= nil or #list == 0 then
      return bad(name .. " needs a list of conditions: " .. name .. "{c1, c2, ...}", 2)
    end
    for i, c in ipairs(list) do
      if getmetatable(c) == Bad then return c end
      if getmetatable(c) ~= Cond and type(c) ~= "function" then
        if getmetatable(c) == Expr then
          return bad(string.format("%s[%d]: %s is a value, not a condition: compare it (:gt(x), ...)", name, i,
            c:describe()), 2)
        end
        return bad(string.format("%s[%d] is a %s, not a condition (or a function(run, ctx))", name, i, type(c)), 2)
      end
    end
    local l = {}
    for i, c in ipairs(list) do
      l[i] = type(c) == "function" and setmetatable({op = "fn", fn = c, where = where()}, Cond) or c
    end
    return setmetatable({op = op, list = l, where = where()}, Cond)
  end
end
M.all_of = combinator("all", "all_of")
M.any_of = combinator("any", "any_of")
M.none_of = combinator("none", "none_of")

local OPS = {gt = ">", lt = "<", gte = ">=", lte = "<="}

function Cond:describe()
  local op = self.op
  if OPS[op] then return string.format("%s %s %s", self.expr:describe(), OPS[op], tostring(self.x)) end
  if op == "nan" then return self.expr:describe() .. " is NaN/Inf" end
  if op == "change" then
    local amt = self.relative and string.format("%g%%", self.by * 100) or tostring(self.by)
    local verb = self.direction == "any" and "changes" or (self.direction .. "s")
    return string.format("%s %s by %s", self.expr:describe(), verb, amt)
  end
  if op == "state" then return "state in (" .. table.concat(self.names, ", ") .. ")" end
  if op == "fn" then return "function" end
  local parts = {}
  for i, c in ipairs(self.list) do parts[i] = c:describe() end
  local name = op == "all" and "all_of" or op == "any" and "any_of" or "none_of"
  return name .. "{" .. table.concat(parts, ", ") .. "}"
end
Cond.__tostring = function(self) return "runwatch.Condition (" .. self:describe() .. ")" end

-- needs(out) -> {[series] = values kept}; keys(out) -> {[metric key] = true} (evaluation points)
function Cond:needs(out)
  out = out or {}
  if self.expr then
    self.expr:needs(out)
    if self.op == "change" then
      local k = self.expr.key
      out[k] = math.max(out[k] or 0, (self.expr.n or 1) + self.prior)
    end
  end
  for _, c in ipairs(self.list or {}) do c:needs(out) end
  return out
end

function Cond:keys(out)
  out = out or {}
  if self.expr then
    out[self.expr.key] = true
  end
  for _, c in ipairs(self.list or {}) do c:keys(out) end
  return out
end

-- uses(kind) -> true when the condition has an expression of that kind (cohort, baseline)
function Cond:uses(kind, out)
  out = out or {}
  if self.expr and self.expr.kind == kind then out[#out + 1] = self.expr end
  for _, c in ipairs(self.list or {}) do c:uses(kind, out) end
  return out
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- eval(env) -> true/false, value. env: view (windows at the point), run, ctx, state (the run's
-- state at the point), peers(expr, run, x), baseline(expr, x)
function Cond:eval(env)
  local op = self.op
  if OPS[op] then
    local v = self.expr:value(env)
    if v == nil then return false, nil end
    local x = self.x
    if op == "gt" then return v > x, v
    elseif op == "lt" then return v < x, v
    elseif op == "gte" then return v >= x, v end
    return v <= x, v
  elseif op == "nan" then
    local v = self.expr:value(env)
    if v == nil then return false, nil end
    return not finite(v), v
  elseif op == "change" then
    local e = self.expr
    local n = e.n or 1
    local cur = env.view:last(e.key, n)
    local prev = env.view:last(e.key, self.prior, n)
    if not cur or not prev then return false, nil end
    local a, b = aggregate(e.agg or "last", cur), aggregate(e.agg or "last", prev)
    local d = a - b
    if self.relative then
      if b == 0 then d = d == 0 and 0.0 or (d > 0 and math.huge or -math.huge)
      else d = d / math.abs(b) end
    end
    if d ~= d then return false, d end
    if self.direction == "increase" then return d >= self.by, d
    elseif self.direction == "decrease" then return d <= -self.by, d end
    return math.abs(d) >= self.by, d
  elseif op == "state" then
    return self.states[env.state or ""] == true, env.state
  elseif op == "fn" then
    local c, v = self.fn(env.run, env.ctx)
    return c and true or false, v
  elseif op == "all" then
    local first
    for i, c in ipairs(self.list) do
      local ok, v = c:eval(env)
      if i == 1 then first = v end
      if not ok then return false, first end
    end
    return true, first
  elseif op == "any" then
    local first
    for i, c in ipairs(self.list) do
      local ok, v = c:eval(env)
      if i == 1 then first = v end
      if ok then return true, v end
    end
    return false, first
  end
  for _, c in ipairs(self.list) do                 -- none
    if (c:eval(env)) then return false, nil end
  end
  return true, nil
end

-- }======

return M
