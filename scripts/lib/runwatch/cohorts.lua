-- Peers for vs_cohort and vs_run conditions: which runs of the watched project share a run's
-- cohort (by a run field, "config.model", or a function of the run), and their values of a
-- metric along a step axis ("_step" by default), read once with batched exact history requests
-- and kept up to date from the rows each tick already delivers. A peer's value at a step is
-- interpolated linearly between its two logged points around it; a peer that has not logged on
-- both sides of the step (or whose value there is not finite) does not count.
local json = require "runwatch.json"
local core = require "runwatch.core"
local filters_mod = require "runwatch.filters"
local run_mod = require "runwatch.run"
local fields = require "runwatch.fields"
local windows = require "runwatch.windows"

local M = {}
M.REFRESH = 600            -- seconds between listings of the project's runs
M.RELIST = 60              -- at most this often when new runs need a listing for their cohort
M.PEER_STATES = {running = true, finished = true}

local function null(v) if v == json.null then return nil end return v end

-- cohort_key(run, by) -> the run's cohort (a string), or nil when it has none
function M.cohort_key(run, by)
  local v
  if type(by) == "function" then v = by(run)
  else
    local head, rest = by:match("^([^.]+)%.?(.*)$")
    v = run[head]
    if rest ~= "" then v = type(v) == "table" and windows.value_of(v, rest) or nil end
  end
  v = null(v)
  if v == nil or v == "" then return nil end
  if type(v) == "table" then return json.encode(v, {sort_keys = true}) end
  return tostring(v)
end

-- interpolate(s, x) -> the series' value at x (s.x ascending), or nil outside its points
function M.interpolate(s, x)
  local xs, vs = s.x, s.v
  local n = #xs
  if n == 0 or x < xs[1] or x > xs[n] then return nil end
  local lo, hi = 1, n
  while lo < hi do                        -- the first index with xs[i] >= x
    local mid = (lo + hi) // 2
    if xs[mid] < x then lo = mid + 1 else hi = mid end
  end
  if xs[lo] == x then
    while lo < n and xs[lo + 1] == x do lo = lo + 1 end    -- repeated x: the last value logged
    return vs[lo]
  end
  local x1, x2 = xs[lo - 1], xs[lo]
  return vs[lo - 1] + (vs[lo] - vs[lo - 1]) * (x - x1) / (x2 - x1)
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- {====== a series of (x, value) points of one run

local function new_series() return {x = {}, v = {}, upto = -1} end

-- add rows (step order) past the series' last step
local function feed(s, rows, key, at)
  local added = false
  for _, row in ipairs(rows) do
    local st = math.tointeger(row._step)
    if st and st > s.upto then
      local ts = tonumber(row._timestamp)
      if ts and (not s.t_last or ts > s.t_last) then s.t_last = ts end
      local v, x = windows.number_of(row, key), windows.number_of(row, at)
      if v and x then
        -- keep x ascending (an axis that goes back, e.g. a restarted epoch counter, is sorted in)
        local i = #s.x + 1
        while i > 1 and s.x[i - 1] > x do i = i - 1 end
        table.insert(s.x, i, x)
        table.insert(s.v, i, v)
        added = true
      end
      s.upto = st
    end
  end
  return added
end
M.feed = feed

-- }======

local Tracker = {}
Tracker.__index = Tracker

-- new(expr, place) -> a tracker of one vs_cohort expression over a project. place = {api,
-- backend, entity, project, filters (a normalized filter or nil), span, batch}
function M.new(expr, place)
  return setmetatable({expr = expr, place = place, members = {}, series = {}, listed_at = nil, version = 0,
    cohort_cache = {}}, Tracker)
end

-- list the project's runs in the peer states (one paged query); cohorts computed from full records
function Tracker:list(stats)
  local pl = self.place
  local cond = {state = {["$in"] = json.array({"running", "finished"})}}
  local f = pl.filters and {["$and"] = json.array({pl.filters, cond})} or cond
  local fjson = filters_mod.encode(f, 3)
  local members, cursor = {}, nil
  repeat
    local page = pl.backend:runs_page(pl.entity, pl.project, {filters = fjson, per_page = 1000, cursor = cursor,
      order = "+created_at", full = true})
    if stats then stats.requests = (stats.requests or 0) + 1 end
    if not page then break end
    for _, rec in ipairs(page.nodes) do
      local run = run_mod.new(pl.api, pl.entity, pl.project, rec, true)
      local ok, key = pcall(M.cohort_key, run, self.expr.by)
      if not ok then
        core.log("warn", "vs_cohort: the cohort of " .. pl.entity .. "/" .. pl.project .. "/" .. tostring(rec.id) ..
          " could not be computed: " .. tostring(key))
        key = nil
      end
      members[rec.id] = {key = key, state = null(rec.state), last = fields.last_step(rec),
        lines = math.tointeger(null(rec.history_line_count))}
    end
    cursor = page.cursor
  until not page.has_next
  self.members = members
  self.listed_at = core.time()
  self.version = self.version + 1
end

-- set(id, rows, member): a run's whole history at once (backtest: no requests)
function Tracker:set(id, rows, member)
  local s = new_series()
  feed(s, rows, self.expr.key, self.expr.at)
  self.series[id] = s
  if member then self.members[id] = member; self.version = self.version + 1 end
end

-- prepare(chunk, rows_by_id, cursor_of, stats): before a page of runs is evaluated: the listing
-- is refreshed (every REFRESH seconds, or when a run of the page is not in it), and every member
-- of the cohorts the page's runs are in gets its series: loaded once (exact rows, `batch` runs per
-- request), then extended with the rows this tick delivered
-- does the watch's own record of a run carry what `by` reads (group, job_type, tags, ...: not
-- config, not a function)?
local function light_by(by)
  if type(by) ~= "string" then return false end
  local f = fields.BY_NAME[by:match("^[^.]+")]
  return f ~= nil and f.watch == true
end

function Tracker:prepare(chunk, rows_by_id, cursor_of, stats)
  local pl = self.place
  local now = core.time()
  local unknown = {}
  for _, n in ipairs(chunk) do if not self.members[n.id] then unknown[#unknown + 1] = n end end
  if not self.listed_at or now - self.listed_at > M.REFRESH or
      (#unknown > 0 and not light_by(self.expr.by) and now - self.listed_at > M.RELIST) then
    self:list(stats)
  end
  -- runs new since the listing: their cohort from the watch's record when it carries it
  for _, n in ipairs(unknown) do
    if not self.members[n.id] and light_by(self.expr.by) then
      local ok, key = pcall(M.cohort_key, run_mod.new(pl.api, pl.entity, pl.project, n, false), self.expr.by)
      self.members[n.id] = {key = ok and key or nil, state = null(n.state), last = fields.last_step(n),
        lines = math.tointeger(null(n.history_line_count))}
      self.version = self.version + 1
    end
  end
  local active = {}
  for _, n in ipairs(chunk) do
    local m = self.members[n.id]
    if m then
      m.state = null(n.state) or m.state
      m.last = math.max(m.last or -1, fields.last_step(n))
      m.lines = math.tointeger(null(n.history_line_count)) or m.lines
      if m.key then active[m.key] = true end
    end
  end
  local load = {}
  for id, m in pairs(self.members) do
    if m.key and active[m.key] then
      local s = self.series[id]
      local rows = rows_by_id[id]
      local c = cursor_of(id)
      if s and rows and #rows > 0 and (not c or s.upto >= (c - 1)) then
        feed(s, rows, self.expr.key, self.expr.at)
      end
      if not s then
        s = new_series()
        self.series[id] = s
      end
      if (m.last or -1) > s.upto then load[#load + 1] = {id = id, s = s, last = m.last, lines = m.lines} end
    end
  end
  self:load(load, stats)
end

-- load(list, stats): reads the rows after each series' last step up to its run's last step
-- (windows.read: exact, batched, windows sized by the run's density)
function Tracker:load(list, stats)
  if #list == 0 then return end
  local pl = self.place
  local spec = {}
  for i, r in ipairs(list) do spec[i] = {id = r.id, from = r.s.upto + 1, last = r.last, lines = r.lines} end
  local got, n = windows.read(pl.backend, pl.entity, pl.project, spec, {samples = pl.span, batch = pl.batch})
  if stats then stats.requests = (stats.requests or 0) + n end
  for _, r in ipairs(list) do
    feed(r.s, got[r.id] or {}, self.expr.key, self.expr.at)
    r.s.upto = math.max(r.s.upto, r.last)
  end
end

-- peers(run, x [, t]) -> the finite values of the run's peers at x (interpolated), in run id
-- order. t: when the run logged the value compared. A member that ended crashed (failed,
-- killed) was a peer while it ran: it counts for values logged up to its own last row's time.
function Tracker:peers(run, x, t)
  local m = self.members[run.id]
  local out = {}
  if not m or not m.key then return out end
  -- the cohort's members in id order, made once per change of the members (not per point)
  local sig = self.version
  local c = self.cohort_cache[m.key]
  if not c or c.sig ~= sig then
    local ids = {}
    for id, p in pairs(self.members) do if p.key == m.key then ids[#ids + 1] = id end end
    table.sort(ids)
    c = {sig = sig, ids = ids}
    self.cohort_cache[m.key] = c
  end
  for _, id in ipairs(c.ids) do
    local p, s = self.members[id], self.series[id]
    if id ~= run.id and s then
      local ok = M.PEER_STATES[p.state or ""]
      if not ok and t then
        local ended = p.ended_at or s.t_last
        ok = ended and t <= ended
      end
      if ok then
        local v = M.interpolate(s, x)
        if v and finite(v) then out[#out + 1] = v end
      end
    end
  end
  return out
end

-- {====== a named baseline run (vs_run)

local Baseline = {}
Baseline.__index = Baseline

function M.baseline(expr, api)
  local e, p, id = expr.path:match("^([^/]+)/([^/]+)/([^/]+)$")
  return setmetatable({expr = expr, api = api, entity = e, project = p, id = id, s = new_series(),
    state = nil}, Baseline)
end

-- prepare(stats, span): while the baseline runs (or before it was read), its new rows are read
-- (one light read of the run, then its rows after the last one held)
function Baseline:prepare(stats, span)
  if self.state and self.state ~= "running" and self.s.upto >= (self.last or -1) then return end
  local be = rawget(self.api, "_").backend
  local rec = be:run(self.entity, self.project, self.id, true)
  if stats then stats.requests = (stats.requests or 0) + 1 end
  if not rec then
    if not self.warned then
      core.log("warn", "vs_run: the baseline run " .. self.expr.path .. " does not exist")
      self.warned = true
    end
    return
  end
  self.state = null(rec.state)
  self.last = fields.last_step(rec)
  while self.s.upto < self.last do
    local lo = self.s.upto + 1
    local hi = math.min(self.last + 1, lo + (span or 1000))
    local got = be:history_batch(self.entity, self.project, {{id = self.id, min_step = lo, max_step = hi,
      samples = span or 1000}})
    if stats then stats.requests = (stats.requests or 0) + 1 end
    feed(self.s, got[self.id] or {}, self.expr.key, self.expr.at)
    self.s.upto = math.max(self.s.upto, hi - 1)
  end
end

function Baseline:set(rows) feed(self.s, rows, self.expr.key, self.expr.at) end

function Baseline:value(x)
  local v = M.interpolate(self.s, x)
  if v and finite(v) then return v end
  return nil
end

-- }======

return M
