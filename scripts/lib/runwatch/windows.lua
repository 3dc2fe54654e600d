-- Metric windows of declarative conditions: per run, the last values of each metric key a rule
-- needs (exact logged values with their steps), fed from the rows each tick already delivers and
-- kept in the run's cursor, so they commit with it (a kill -9 neither resets nor double-counts a
-- window). A run already under way when a rule starts on it is primed from its recent history.
local json = require "runwatch.json"
local task = require "runwatch.task"

local M = {}

local function null(v) if v == json.null then return nil end return v end

-- lookup(t, key): t[key], else a dotted path into nested tables ("eval.acc" -> t.eval.acc, also
-- when a level's own key holds a dot: t["eval"]["top.1"])
local function lookup(t, key, depth)
  local v = t[key]
  if v ~= nil or depth > 16 then return v end
  local i = 0
  while true do
    i = key:find(".", i + 1, true)
    if not i then return nil end
    local sub = t[key:sub(1, i - 1)]
    if type(sub) == "table" and sub ~= json.null then
      local x = lookup(sub, key:sub(i + 1), depth + 1)
      if x ~= nil then return x end
    end
  end
end

-- value_of(row, key) -> the row's value of a metric (any type; nil when absent or null). A key
-- is matched as written first ("val/acc", a flat "train.loss"), then as a path into nested values.
function M.value_of(row, key)
  return null(lookup(row, key, 0))
end

-- number_of(row, key) -> the value when it is a number (NaN and the infinities included), else nil
function M.number_of(row, key)
  local v = M.value_of(row, key)
  if type(v) == "number" then return v end
  return nil
end

local function step_of(row) return math.tointeger(row._step) end

-- {====== a run's windows during one evaluation

local View = {}
View.__index = View

-- open(saved, needs, rows, primed, before) -> view. saved: what the cursor holds ({k = {[key] =
-- {s, v}}, cap = {[key] = n}}); needs: {[key] = n values}; rows: the new rows of this tick in step
-- order; primed: rows from before them (priming) or nil; before: the step the new rows start at
-- (0: the run has nothing earlier). The view holds every value (old and new) for this tick's
-- evaluation points; view:saved() is the trimmed table the cursor keeps, with the capacity each
-- key is complete for (a key that lacks earlier values keeps its old capacity: primed again).
function M.open(saved, needs, rows, primed, before)
  saved = type(saved) == "table" and saved or {}
  local old_k = type(saved.k) == "table" and saved.k or {}
  local old_cap = type(saved.cap) == "table" and saved.cap or {}
  local v = setmetatable({k = {}, cap = {}, pos = {}, needs = needs, from = saved.from, seen = {}}, View)
  for name, n in pairs(needs) do
    -- a plain series ("loss"), or a pair ("loss\0_step": the value with another key of its row)
    local key, at = name:match("^(.-)%z(.*)$")
    key = key or name
    local s, x, a, tm = {}, {}, at and {} or nil, at and {} or nil
    local function add(row, last)
      local val = M.value_of(row, key)
      if val ~= nil then v.seen[key] = true end
      local st = step_of(row)
      if type(val) ~= "number" or not st or (last and st <= last) then return false end
      if at then
        local ax = M.number_of(row, at)
        if ax == nil then return false end
        a[#a + 1] = ax
        tm[#tm + 1] = tonumber(row._timestamp) or 0      -- when it was logged (peers that ended)
      end
      s[#s + 1] = st; x[#x + 1] = val
      return true
    end
    local o = old_k[name]
    local have = (old_cap[name] or 0) >= n
    if primed and not have then
      -- rebuilt from the primed rows (they hold everything the saved values held, and more)
      for _, row in ipairs(primed) do add(row) end
      have = true
    elseif type(o) == "table" and type(o.s) == "table" and type(o.v) == "table" then
      for i = 1, math.min(#o.s, #o.v) do
        s[i] = o.s[i]; x[i] = o.v[i]
        if a then
          a[i] = type(o.x) == "table" and o.x[i] or 0
          tm[i] = type(o.t) == "table" and o.t[i] or 0
        end
      end
      if #s > 0 then v.seen[key] = true end
    end
    -- new values: only after the last one held (a row is never counted twice)
    for _, row in ipairs(rows or {}) do add(row, s[#s]) end
    v.k[name] = {s = s, v = x, x = a, t = tm}
    v.cap[name] = (have or (before or 0) <= 0) and n or (old_cap[name] or 0)
    v.pos[name] = #s           -- evaluation position: every value (moved back by :at)
  end
  return v
end

-- at(step): positions every key at its last value logged at or before `step` (nil: all values).
-- Steps only move forward within a tick, as the evaluation points do.
function View:at(step)
  for key, w in pairs(self.k) do
    if step == nil then self.pos[key] = #w.s
    else
      local j = 0
      local lo, hi = 1, #w.s
      while lo <= hi do             -- the last index with s <= step
        local mid = (lo + hi) // 2
        if w.s[mid] <= step then j = mid; lo = mid + 1 else hi = mid - 1 end
      end
      self.pos[key] = j
    end
  end
  return self
end

-- last(key, n [, skip]) -> the n values before the last `skip` ones (oldest first), or nil when
-- fewer were logged. last("loss", 5) is the last five values at the current position.
function View:last(key, n, skip)
  local w = self.k[key]
  if not w then return nil end
  local j = self.pos[key] - (skip or 0)
  if j < n then return nil end
  local out = {}
  for i = j - n + 1, j do out[#out + 1] = w.v[i] end
  return out
end

-- last_pair(name) -> {v = value, x = the paired key's value} at the current position, or nil
function View:last_pair(name)
  local w = self.k[name]
  local j = self.pos[name]
  if not w or not j or j < 1 or not w.x then return nil end
  return {v = w.v[j], x = w.x[j], step = w.s[j], t = w.t and w.t[j]}
end

-- count(key) -> values logged up to the current position
function View:count(key) return self.pos[key] or 0 end

-- step(key) -> the step of the value at the current position
function View:step(key)
  local w = self.k[key]
  return w and w.s[self.pos[key]] or nil
end

-- saved() -> the table the cursor keeps: the last cap values of each key
function View:saved()
  local k = {}
  for key, w in pairs(self.k) do
    local n = self.cap[key] or 0
    local first = math.max(1, #w.s - math.max(n, 1) + 1)
    local s, x, a, tm = json.array({}), json.array({}), w.x and json.array({}) or nil, w.t and json.array({}) or nil
    for i = first, #w.s do
      s[#s + 1] = w.s[i]; x[#x + 1] = w.v[i]
      if a then a[#a + 1] = w.x[i]; tm[#tm + 1] = w.t[i] end
    end
    k[key] = {s = s, v = x, x = a, t = tm}
  end
  return {k = k, cap = self.cap, from = self.from}
end

-- }======

-- {====== priming: recent values of runs already under way

-- missing(saved, needs, from) -> true when the saved windows lack values a rule needs from
-- before step `from` (a rule new to this run, or a window made larger)
function M.missing(saved, needs, from)
  if not from or from <= 0 then return false end
  local cap = type(saved) == "table" and type(saved.cap) == "table" and saved.cap or {}
  for key, n in pairs(needs) do
    if (cap[key] or 0) < n then return true end
  end
  return false
end

-- prime(backend, entity, project, list, needs, opts) -> {id = rows}: for each {id, from} of
-- list, the rows before step `from` that hold the last needs[key] values of every key (exact
-- rows, newest windows first, going back one window of opts.span steps at a time while a key
-- still lacks values and the history goes further back). One request per opts.batch runs and
-- window; stats.requests counts them.
function M.prime(be, entity, project, list, needs, opts, stats)
  local span, batch, rounds = opts.span or 1000, opts.batch or 100, opts.rounds or 20
  local out, todo = {}, {}
  for _, r in ipairs(list) do
    out[r.id] = {}
    todo[#todo + 1] = {id = r.id, hi = r.from, chunks = {}}
  end
  local round = 0
  while #todo > 0 and round < rounds do
    round = round + 1
    local specs = {}
    for i, r in ipairs(todo) do
      local lo = math.max(0, r.hi - span)
      r.lo = lo
      specs[i] = {id = r.id, min_step = lo, max_step = r.hi, samples = span}
    end
    local fns = {}
    for i = 1, #specs, batch do
      local chunk = {table.unpack(specs, i, math.min(i + batch - 1, #specs))}
      fns[#fns + 1] = function() return be:history_batch(entity, project, chunk) end
    end
    local results = task.parallel(fns, {limit = 8})
    if stats then stats.requests = (stats.requests or 0) + #fns end
    local by = {}
    for _, res in ipairs(results) do for id, rows in pairs(res) do by[id] = rows end end
    local more = {}
    for _, r in ipairs(todo) do
      local rows = by[r.id] or {}
      table.insert(r.chunks, 1, rows)
      -- enough values of every key, or nothing further back?
      local short = false
      if r.lo > 0 then
        for name, n in pairs(needs) do
          local key = name:match("^(.-)%z") or name
          local c = 0
          for _, ch in ipairs(r.chunks) do
            for _, row in ipairs(ch) do if M.number_of(row, key) ~= nil then c = c + 1 end end
          end
          if c < n then short = true break end
        end
      end
      if short then r.hi = r.lo; more[#more + 1] = r
      else
        local all = out[r.id]
        for _, ch in ipairs(r.chunks) do for _, row in ipairs(ch) do all[#all + 1] = row end end
      end
    end
    todo = more
  end
  for _, r in ipairs(todo) do       -- gave up going back: what was found
    local all = out[r.id]
    for _, ch in ipairs(r.chunks) do for _, row in ipairs(ch) do all[#all + 1] = row end end
  end
  return out
end

-- read(backend, entity, project, list, opts, on_round) -> {id = rows}, requests: every row of
-- each {id, from, last, lines} of list from step `from` to `last` (exact: a window never holds
-- more rows than a request returns). A window spans opts.samples (1,000) rows' worth of steps,
-- from the run's density (lines per step), so sparse logging costs few requests; a window that
-- comes back full is read again in halves. opts.batch runs per request, 8 requests at once.
function M.read(be, entity, project, list, opts, on_round)
  local samples, batch = opts.samples or 1000, opts.batch or 100
  local out, todo, nreq = {}, {}, 0
  for _, r in ipairs(list) do
    out[r.id] = {}
    if r.last >= r.from then
      local density = (r.lines and r.lines > 0) and (r.last + 1) / r.lines or 1
      local span = math.max(samples, math.min(10000000, math.floor(samples * density * 0.8)))
      todo[#todo + 1] = {id = r.id, from = r.from, last = r.last, span = span}
    end
  end
  while #todo > 0 do
    local specs = {}
    for i, t in ipairs(todo) do
      specs[i] = {id = t.id, min_step = t.from, max_step = math.min(t.last + 1, t.from + t.span), samples = samples}
    end
    local fns = {}
    for i = 1, #specs, batch do
      local chunk = {table.unpack(specs, i, math.min(i + batch - 1, #specs))}
      fns[#fns + 1] = function() return be:history_batch(entity, project, chunk) end
    end
    local results = task.parallel(fns, {limit = 8})
    nreq = nreq + #fns
    local by = {}
    for _, res in ipairs(results) do for id, rows in pairs(res) do by[id] = rows end end
    local more = {}
    for i, t in ipairs(todo) do
      local rows = by[t.id] or {}
      if #rows >= samples and t.span > 1 and specs[i].max_step - specs[i].min_step > #rows then
        t.span = math.max(1, t.span // 2)          -- maybe sampled: read it again, smaller
      else
        local all = out[t.id]
        for _, row in ipairs(rows) do all[#all + 1] = row end
        t.from = specs[i].max_step
        if #rows < samples // 4 and t.span < 10000000 then t.span = t.span * 2 end
      end
      if t.from <= t.last then more[#more + 1] = t end
    end
    todo = more
    if on_round then on_round(nreq) end
  end
  return out, nreq
end

-- }======

return M
