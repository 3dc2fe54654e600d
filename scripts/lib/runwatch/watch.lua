-- watch{}: turns polling into events on runs. Watches of one project (same api and filters)
-- share one poller: per tick one paged runs query for the alive and the newly created runs, one
-- batched lookup of runs that left, and batched history requests (many runs per request) from
-- each run's durable cursor. Events: on_new_run, on_state (+ on_finish/on_crash/on_fail/
-- on_killed), on_history (every row exactly once, restarts included), on_summary, on_tags,
-- on_stale / on_recover (steps stopped advancing; heartbeat alive = "silent", gone = "dead").
-- Over 600 lines: the poller (Group) and the watch handle share the cursor and tick state; the
-- split would pass that state between two files for no reader's benefit.
local core = require "runwatch.core"
local json = require "runwatch.json"
local task = require "runwatch.task"
local schedule = require "runwatch.schedule"
local duration = require "runwatch.duration"
local state = require "runwatch.state"
local effects = require "runwatch.effects"
local filters_mod = require "runwatch.filters"
local paths = require "runwatch.wb.paths"
local run_mod = require "runwatch.run"
local diff = require "runwatch.diff"
local api_mod = require "runwatch.api"
local runs_mod = require "runwatch.runs"
local fields = require "runwatch.fields"
local options = require "runwatch.options"

local M = {}
local groups = {}          -- key -> poller group
local watches = {}         -- every watch, in creation order
M.watches = watches

local ALIVE = {"running", "pending", "preempting"}
local IS_ALIVE = {running = true, pending = true, preempting = true}
local TERMINAL_EVENT = {finished = "on_finish", crashed = "on_crash", failed = "on_fail", killed = "on_killed"}
local HANDLERS = {"on_new_run", "on_state", "on_finish", "on_crash", "on_fail", "on_killed",
  "on_history", "on_summary", "on_tags", "on_stale", "on_recover"}
local KNOWN = {project = true, filters = true, every = true, id = true, api = true, stale = true,
  history = true, batch = true, per_page = true, cpu_budget = true, max_rows = true, name = true}
for _, h in ipairs(HANDLERS) do KNOWN[h] = true end
-- artifact events (artifact_watch.lua): watch{project =, artifacts = {type =, name =}, on_artifact_version =, on_alias =}
KNOWN.artifacts, KNOWN.on_artifact_version, KNOWN.on_alias = true, true, true

M.defaults = {every = 60, batch = 100, per_page = 500, max_rows = 1000,
  stale = {factor = 5, floor = 300, heartbeat = 600}}

local function null(v) if v == json.null then return nil end return v end
local tointeger, tonumber = math.tointeger, tonumber
local EMPTY = setmetatable({}, {__newindex = function() error("read-only table", 2) end})
-- cadence gaps to the microsecond: plenty for a median, and a short decimal in the cursor's JSON
-- (json.encode writes those without the slow shortest-text search)
local function round6(x) return math.floor(x * 1e6 + 0.5) / 1e6 end


-- {====== per-run bookkeeping

-- The last step a run record reports (fields.last_step: historyKeys, else summary._step), else -1.
local node_last_step = fields.last_step

-- decode a summary JSON string, tolerating garbage (an empty table then)
local function decode_summary(s)
  local ok, v = pcall(fields.decode_object, s, "summary", "?")
  return ok and v or {}
end

-- Median of a list of numbers (the run's recent step cadence)
-- A handler's and a rule's ctx: ctx.changed (the summary keys that changed this tick) is
-- computed when first read, so a tick whose handlers never look decodes no summaries.
local CTX_MT = {__index = function(t, k)
  if k ~= "changed" then return nil end
  local f = rawget(t, "_changed")
  local v = f and f() or {}
  rawset(t, "changed", v)
  return v
end}

-- ahead(fn): starts fn now as a quiet sub-job and returns a function that waits for it and
-- gives its result, or raises its error in the waiting job (a failed poll still fails the tick)
local function ahead(fn)
  local out
  local t = task.new(function() out = fn() end, {quiet = true})
  return function()
    t:wait()
    if not t.ok then error(t.errvalue or t.err, 0) end
    return out
  end
end

local function median(list)
  if #list == 0 then return nil end
  local c = {}
  for i, v in ipairs(list) do c[i] = v end
  table.sort(c)
  return c[(#c + 1) // 2]
end

-- }======

local Watch = {}
Watch.__index = Watch
Watch.__name = "runwatch.Watch"
function Watch:__tostring()
  return string.format("runwatch.Watch (%s %s every %gs)", self.id, self.project, self.every)
end

-- Calls a handler in isolation: an error is logged (with traceback) and counted; the tick goes on.
function Watch:call(name, ...)
  local fn = self.spec[name]
  if not fn then return true end
  local ok, err = xpcall(fn, debug.traceback, ...)
  if not ok then
    local t = task.current()
    core.log("error", "watch " .. self.id .. " " .. name .. " failed: " .. tostring(err), nil,
      t and t.script, t and t.job)
    core.job_failed()
    self.errors = self.errors + 1
  end
  return ok
end

function Watch:stop()
  self.stopped = true
  local g = self.group
  for i, w in ipairs(g.watches) do if w == self then table.remove(g.watches, i) break end end
  if #g.watches == 0 and g.schedule then g.schedule:stop() end
  return self
end

-- The cursor cache: each run's committed cursor as the JSON text the store holds, decoded when
-- used (one string per run and nothing for the collector to walk: 10,000 watched runs keep ~6 MB
-- less than as tables), with its step and line count beside it for fetch_history. It only ever
-- holds committed values: save() writes in the run's savepoint, and the cache takes the text once
-- the batch has committed (process_batch), so a rolled-back transaction leaves nothing advanced.
local function load_cursor(w, path)
  local text = w.cursors[path]
  if text == nil then
    local c, t = state.cursor(w.id, path)
    w.cursors[path] = t or false
    if c then w.steps[path], w.lines[path] = c.step, c.lines end
    return c
  end
  return text and json.decode(text) or nil
end

-- Watch:cursor(path) -> the run's cursor: a fresh table the caller may change, or nil
function Watch:cursor(path) return load_cursor(self, path) end

-- Watch:head(path) -> the cursor's step and line count, without decoding it (nil: no cursor)
function Watch:head(path)
  if self.cursors[path] == nil then load_cursor(self, path) end
  return self.steps[path], self.lines[path]
end

-- save(path, c): the run's new cursor, written in its savepoint; kept in self.saved until the
-- batch commits (process_batch hands it to remember)
function Watch:save(path, c)
  self.saved = {path = path, text = state.set_cursor(self.id, path, c), step = c.step, lines = c.lines}
end

function Watch:remember(s) self.cursors[s.path], self.steps[s.path], self.lines[s.path] = s.text, s.step, s.lines end
function Watch:forget(path) self.cursors[path], self.steps[path], self.lines[path] = nil, nil, nil end

-- {====== the tick

local Group = {}
Group.__index = Group

local function group_key(api, project, filters_json)
  return tostring(api) .. "\0" .. project .. "\0" .. filters_json
end

-- Everything runs with the same api; the api's backend does the requests.
function Group:backend() return self.api.backend end

-- "entity/project/id": a run's path, the key of its cursor
function Group:run_path(id) return self.entity .. "/" .. self.project .. "/" .. id end

-- The filter of a tick's poll: alive runs and runs created since the last tick. Runs created
-- before the watch began are seen only while alive: one that ended before it began is never
-- reported as new (the mark never goes below the start).
function Group:poll_filter()
  local mark = self.created_mark or self.start_mark
  if self.created_mark and self.created_mark < self.start_mark then mark = self.start_mark end
  local cond = {["$or"] = json.array({
    {state = {["$in"] = json.array({table.unpack(ALIVE)})}},
    {createdAt = {["$gt"] = mark}},
  })}
  local f = self.user_filters and {["$and"] = json.array({self.user_filters, cond})} or cond
  return filters_mod.encode(f, 3), mark
end

-- One page of the poll (a missing project raises, as api.runs does).
function Group:poll_page(fjson, cursor, stats)
  local page = self:backend():watch_page(self.entity, self.project, {filters = fjson, per_page = self.per_page,
    cursor = cursor, order = "+created_at"})
  stats.requests = stats.requests + 1
  if not page then runs_mod.missing(self.entity, self.project) end
  return page
end

-- The runs alive at the last tick that the poll did not list (they finished, crashed, ...):
-- one batched lookup per `batch` of them.
function Group:departed(alive_before, seen, stats)
  local be = self:backend()
  local gone, nodes = {}, {}
  for id in pairs(alive_before) do if not seen[id] then gone[#gone + 1] = id end end
  table.sort(gone)
  for i = 1, #gone, self.batch do
    local chunk = {table.unpack(gone, i, math.min(i + self.batch - 1, #gone))}
    local found = be:runs_by_name(self.entity, self.project, chunk)
    stats.requests = stats.requests + 1
    for _, id in ipairs(chunk) do
      if found[id] then nodes[#nodes + 1] = found[id] else self.alive[id] = nil end
    end
  end
  return nodes
end

-- The first new step of a run seen for the first time: 0 if created after the watch began.
function Group:first_new_step(node)
  if (null(node.created_at) or "") <= (self.start_mark or "") then return node_last_step(node) + 1 end
  return 0
end

-- Where history starts for a run a watch sees for the first time: from step 0 for runs alive
-- or created after the watch began; after the last step for runs that ended before it began.
-- When only declarative rules read the rows (they prime their windows from recent history, see
-- rules.lua), runs already under way start at their last step too.
function Group:initial_step(node)
  local old_rows, declarative = false, false
  for _, w in ipairs(self.watches) do
    if w.spec.on_history or w.spec.history == true then old_rows = true end
    for _, r in ipairs(w.rules) do if r.cond then declarative = true else old_rows = true end end
  end
  if not declarative then old_rows = true end
  if not old_rows or not IS_ALIVE[null(node.state) or ""] then return self:first_new_step(node) end
  return 0
end

-- Fetches new history rows for the runs that have some, in batches of `batch` runs per request,
-- from the lowest cursor among the watches, in windows of at most max_rows steps.
function Group:fetch_history(nodes, stats)
  local need = {}
  for _, n in ipairs(nodes) do
    local path = self:run_path(n.id)
    local last = node_last_step(n)
    local count = math.tointeger(null(n.history_line_count))
    local from, open = nil, false
    for _, w in ipairs(self.watches) do
      if w.wants_history then
        local step, lines = w:head(path)
        local next_step = step or self:initial_step(n)
        -- the summary's _step can lag behind the history: a summary written meanwhile (by us or
        -- anyone, on a fresh read) can carry an older _step than the row just logged. The
        -- history's line count still grew, so the rows are asked for all the same.
        local grew = step and count and lines and count > lines and next_step > last
        if (next_step <= last or grew) and (not from or next_step < from) then
          from = next_step
          open = grew and next_step > last
        end
      end
    end
    if from then
      need[#need + 1] = {id = n.id, from = from, last = open and (from + self.max_rows - 1) or last, rows = {},
        open = open}
    end
  end
  local rows_by_id = {}
  while #need > 0 do
    local specs = {}
    for _, r in ipairs(need) do
      specs[#specs + 1] = {id = r.id, min_step = r.from, max_step = math.min(r.last + 1, r.from + self.max_rows),
        samples = self.max_rows}
    end
    -- batches in parallel, within the host's budget
    local fns = {}
    local be = self:backend()
    for i = 1, #specs, self.batch do
      local chunk = {table.unpack(specs, i, math.min(i + self.batch - 1, #specs))}
      fns[#fns + 1] = function() return be:history_batch(self.entity, self.project, chunk) end
    end
    local results = task.parallel(fns, {limit = 8})
    stats.requests = stats.requests + #fns
    local more = {}
    local by = {}
    for _, res in ipairs(results) do for id, rows in pairs(res) do by[id] = rows end end
    for i, r in ipairs(need) do
      local rows = by[r.id] or {}
      if #r.rows == 0 then r.rows = rows         -- the first window (nearly always the only one)
      else for _, row in ipairs(rows) do r.rows[#r.rows + 1] = row end end
      local upto = specs[i].max_step
      if r.open then
        rows_by_id[r.id] = r.rows
        -- a full window may have more behind it: the line count is not taken as seen yet
        if #rows >= self.max_rows then self.lines_pending[r.id] = true end
      elseif upto <= r.last then r.from = upto; more[#more + 1] = r
      else rows_by_id[r.id] = r.rows end
    end
    need = more
  end
  return rows_by_id
end

-- Processes one run for one watch: events, history, staleness, rules. The cursor is saved
-- after the run's handlers returned (each run in its own savepoint: process_batch).
function Watch:process(node, rows, now, stats, path)
  local c = self:cursor(path)
  local fresh = c == nil
  local state = null(node.state)
  local run = run_mod.new(self.api, self.group.entity, self.group.project, node, false)
  local prev = c or EMPTY        -- c is this call's own copy (the cache keeps the committed text);
  c = c or {}                    -- prev's fields are read before c's are replaced
  -- (eval_from, from_step and stale are set later: named here, the table is made with room)
  local ctx = setmetatable({watch = self, now = now, rows = EMPTY, first = fresh, cursor = c,
    eval_from = nil, from_step = nil, stale = nil}, CTX_MT)
  stats.examined = stats.examined + 1

  if fresh then
    c.step = self.group:initial_step(node)
    ctx.eval_from = self.group:first_new_step(node)     -- rules: older rows fill windows only
    c.first_seen = now
    c.advanced = now
    c.hb_changed = now
    self:call("on_new_run", run)
  end
  ctx.from_step = c.step

  -- history: rows from the cursor on, in step order, exactly once
  if self.wants_history and rows then
    -- the hot loop of a tick (every new row of every run): numeric loops. When every row is new
    -- (the common case) and this watch is the only one reading them, the list is handed over as
    -- it came; otherwise the new rows are copied out.
    local n, from, all = #rows, c.step or 0, true
    for i = 1, n do
      local s = tointeger(rows[i]._step)
      if not (s and s >= from) then all = false break end
    end
    local new = rows
    if not (all and self.group.history_readers == 1) then
      new = {}
      for i = 1, n do
        local row = rows[i]
        local s = tointeger(row._step)
        if s and s >= from then new[#new + 1] = row end
      end
    end
    if #new > 0 then
      ctx.rows = new
      self:call("on_history", run, new)
      c.step = tointeger(new[#new]._step) + 1
      stats.rows = stats.rows + #new
      -- cadence from the rows' own timestamps (the training process's clock)
      local gaps = c.gaps or {}
      local pa, ps = tonumber(new[1]._timestamp), tointeger(new[1]._step)
      for i = 2, #new do
        local b, st = tonumber(new[i]._timestamp), tointeger(new[i]._step)
        if pa and b and b > pa and st > ps then
          gaps[#gaps + 1] = round6(b - pa)
          if #gaps > 20 then table.remove(gaps, 1) end
        end
        pa, ps = b, st
      end
      c.gaps = gaps
    end
  end

  -- summary changes (decoded only when the text changed)
  local sm = fields.summary_text(node)
  if not fresh and sm ~= prev.summary then
    local old_text = prev.summary
    local function changed_keys()
      local _, _, order = diff.keys(decode_summary(old_text), decode_summary(sm))
      return order
    end
    if self.spec.on_summary then
      local order = changed_keys()
      ctx.changed = order
      if #order > 0 then self:call("on_summary", run, order) end
    else
      ctx._changed = changed_keys       -- a rule reading ctx.changed pays for it, nobody else
    end
  end
  c.summary = sm

  -- tags, including ones a person adds in the UI
  local tags = null(node.tags) or EMPTY
  local same_tags = false
  if not fresh and prev.tags then
    local added, removed = diff.tags(prev.tags, tags)
    if #added + #removed > 0 then self:call("on_tags", run, added, removed) else same_tags = true end
  end
  c.tags = same_tags and prev.tags or json.array({table.unpack(tags)})

  -- state changes
  if not fresh and prev.state and prev.state ~= state then
    self:call("on_state", run, prev.state, state)
    local specific = TERMINAL_EVENT[state]
    if specific then self:call(specific, run) end
  end
  c.state = state
  -- the history's line count the rows delivered so far account for (see fetch_history)
  local count = math.tointeger(null(node.history_line_count))
  if count and not self.group.lines_pending[node.id] then c.lines = count end

  -- staleness: steps that stop advancing for longer than k times the run's cadence
  -- the last step: the summary's, or the last row delivered when the summary lags behind
  local last = math.max(node_last_step(node), (c.step or 0) - 1)
  if c.last_step == nil or last > c.last_step then
    if c.last_step ~= nil and c.last_step >= 0 and not (c.gaps and #c.gaps > 0) then
      -- no row timestamps: estimate the cadence from what the ticks saw
      local gaps = c.tick_gaps or {}
      gaps[#gaps + 1] = round6((now - (c.advanced or now)) / math.max(1, last - c.last_step))
      if #gaps > 20 then table.remove(gaps, 1) end
      c.tick_gaps = gaps
    end
    c.last_step = last
    c.advanced = now
    if c.stale then
      local info = {kind = c.stale, silence = now - (c.stale_since or now), last_step = last, recovered = true}
      c.stale, c.stale_since = nil, nil
      self:call("on_recover", run, info)
    end
  end
  local hb = null(node.heartbeat_at)
  if hb ~= c.hb then c.hb = hb; c.hb_changed = now end
  if self.stale and state == "running" then
    local cadence = median(c.gaps or {}) or median(c.tick_gaps or {})
    local threshold = math.max(self.stale.floor, (cadence or 0) * self.stale.factor)
    local silence = now - (c.advanced or now)
    local kind = (now - (c.hb_changed or now)) < self.stale.heartbeat and "silent" or "dead"
    if silence > threshold then
      ctx.stale = {kind = kind, silence = silence, threshold = threshold, cadence = cadence,
        last_step = c.last_step, heartbeat_at = hb}
      if c.stale ~= kind then
        c.stale = kind
        c.stale_since = c.stale_since or (c.advanced or now)
        self:call("on_stale", run, ctx.stale)
      end
    end
  elseif c.stale and not IS_ALIVE[state or ""] then
    c.stale, c.stale_since = nil, nil      -- it ended: no longer stale, nothing to recover
  end

  -- rules on this run
  for _, r in ipairs(self.rules) do r:evaluate(run, ctx) end

  if IS_ALIVE[state or ""] then self.group.alive[node.id] = true else self.group.alive[node.id] = nil end
  c.seen = now
  self:save(path, c)
end

-- Processes one run for one watch in a savepoint of the batch's transaction (process_batch),
-- with the handlers' and rules' effects deferred to the outbox in it. -> true, or false when the
-- savepoint failed (a full disk, an I/O error): then nothing of the run is kept, in the store or
-- in memory, and it is looked at again next tick, even if it ended meanwhile. The cursor it
-- saved goes to `done`, for the cache once the batch has committed.
local function process_in_savepoint(w, n, rows, now, stats, path, tick_id)
  local _ <close> = task.with_context({defer = true, watch = w.id, run = path, tick = tick_id})
  w:process(n, rows, now, stats, path)
end

function Group:process_one(w, n, rows, now, stats, tick_id, done)
  local path = self:run_path(n.id)
  w.saved = nil
  local ok, err = pcall(state.transaction, process_in_savepoint, w, n, rows, now, stats, path, tick_id)
  local saved = w.saved
  w.saved = nil
  if ok then
    done[#done + 1] = {w = w, id = n.id, path = path, saved = saved}
    return true
  end
  self:not_processed(w, n.id, path, err)
  return false
end

-- A run whose state was not saved: its cached cursor goes (the store has the truth) and it is
-- revisited next tick (by name if it is no longer listed).
function Group:not_processed(w, id, path, err)
  w:forget(path)
  self.alive[id] = true
  local t = task.current()
  core.log("error", "watch " .. w.id .. ": " .. path .. " not processed: " .. tostring(err), nil,
    t and t.script, t and t.job)
end

-- Processes work items {w, n, rows} in batches: one state transaction holds many runs, each in
-- its own savepoint (a failed run undoes only itself), so a page costs one commit instead of one
-- per run. The cursors enter the cache when their batch has committed; a failed commit drops the
-- batch's runs from it and they are processed again next tick. A batch ends early when a run
-- failed or another job waits for the store (that job then gets its turn before the next one).
function Group:process_batch(work, now, stats, tick_id)
  local i = 1
  while i <= #work do
    local first, done, failed = i, {}, false
    local ok, err = pcall(state.transaction, function()
      repeat
        local it = work[i]
        i = i + 1
        if not it.w.stopped and not self:process_one(it.w, it.n, it.rows, now, stats, tick_id, done) then
          stats.failed = stats.failed + 1
          failed = true
        end
      until i > #work or failed or state.contended()
    end)
    if ok then
      for _, d in ipairs(done) do if d.saved then d.w:remember(d.saved) end end
    else
      for _, d in ipairs(done) do self:not_processed(d.w, d.id, d.path, err) end
      stats.failed = stats.failed + #done
      if i == first then                 -- the transaction did not begin: none of the rest can
        for j = i, #work do
          local it = work[j]
          self:not_processed(it.w, it.n.id, self:run_path(it.n.id), err)
        end
        stats.failed = stats.failed + (#work - i + 1)
        i = #work + 1
      end
    end
    -- what this batch queued is delivered outside the tick, while the next runs are processed
    effects.kick()
    if i <= #work and state.contended() then         -- the waiting job's turn, for up to 0.1 s
      local deadline = core.monotonic() + 0.1
      repeat task.sleep(0.005) until not state.contended() or core.monotonic() > deadline
    end
  end
end

-- poke(): data changed (a file watcher saw it): tick soon, once, unless a tick is running.
function Group:poke()
  if self.poke_pending or #self.watches == 0 then return end
  self.poke_pending = true
  schedule.after(0.05, function()
    self.poke_pending = false
    if self.schedule and self.schedule.task and not self.schedule.task.done then return end
    self:tick()
  end)
end

-- One tick of a group: poll, fetch history once, then every watch processes every run.
function Group:tick()
  local t0 = core.now()
  local now = math.floor(core.time() * 1000 + 0.5) / 1000   -- ms: short in the cursors' JSON
  local stats = {requests = 0, examined = 0, rows = 0, failed = 0}
  if not self.start_mark then
    local saved = state.meta_get("watchgroup:" .. self.key_id)
    self.start_mark = saved and saved.start_mark or os.date("!%Y-%m-%dT%H:%M:%S", math.floor(now))
    self.created_mark = saved and saved.created_mark or nil
    if saved and saved.alive then for _, id in ipairs(saved.alive) do self.alive[id] = true end end
  end
  self.lines_pending = {}
  local any_history = false
  self.history_readers = 0                  -- watches that get the rows (Watch:process)
  for _, w in ipairs(self.watches) do
    if w.wants_history then any_history = true; self.history_readers = self.history_readers + 1 end
  end
  local tick_id = string.format("%.6f", now)        -- unique across restarts of the daemon
  -- one poll page of runs at a time: their new rows are fetched, delivered and dropped before
  -- the next page's, so memory follows the page size, not the number of running runs
  local function process_page(chunk, rows)
    for _, w in ipairs(self.watches) do        -- rules that prime windows, load peers' values
      for _, r in ipairs(w.rules) do if r.prepare then r:prepare(w, chunk, rows, stats) end end
    end
    local work = {}
    for _, w in ipairs(self.watches) do
      if not w.stopped then
        for _, n in ipairs(chunk) do
          work[#work + 1] = {w = w, n = n, rows = rows[n.id] or (any_history and {} or nil)}
        end
      end
    end
    self:process_batch(work, now, stats, tick_id)
  end
  -- Pipelined: each poll page's history requests start as soon as the page arrives, and the next
  -- poll page is fetched meanwhile; the pages are processed in order, each once its rows are in.
  -- At most two pages of rows are held at once (memory follows the page size).
  local alive_before = {}
  for id in pairs(self.alive) do alive_before[id] = true end
  local fjson, mark = self:poll_filter()
  local seen = {}
  local function with_rows(nodes)
    return ahead(function() return any_history and #nodes > 0 and self:fetch_history(nodes, stats) or {} end)
  end
  local function poll(cursor)
    local page = self:poll_page(fjson, cursor, stats)
    for _, n in ipairs(page.nodes) do
      seen[n.id] = true
      local ca = null(n.created_at)
      if ca and ca > mark and (not self.created_mark or ca > self.created_mark) then self.created_mark = ca end
    end
    page.rows = with_rows(page.nodes)
    return page
  end
  local page = poll(nil)
  while page do
    local cursor = page.cursor
    local next_page = page.has_next and ahead(function() return poll(cursor) end)
    local departed = not page.has_next and ahead(function()
      local nodes = self:departed(alive_before, seen, stats)
      return {nodes = nodes, rows = with_rows(nodes)}
    end)
    local rows = page.rows()
    if #page.nodes > 0 then process_page(page.nodes, rows) end
    page = next_page and next_page() or nil
    if departed then
      local d = departed()
      local drows = d.rows()
      if #d.nodes > 0 then process_page(d.nodes, drows) end
    end
  end
  for _, w in ipairs(self.watches) do          -- rules that act once per tick (grouped messages)
    for _, r in ipairs(w.rules) do if r.tick_done then r:tick_done(w, tick_id) end end
  end
  local alive = {}
  for id in pairs(self.alive) do alive[#alive + 1] = id end
  table.sort(alive)
  local running = #alive
  for _, w in ipairs(self.watches) do
    w.ticks = w.ticks + 1
    w.last_tick = now
    w.last_stats = {requests = stats.requests, examined = stats.examined, rows = stats.rows,
      duration = core.now() - t0, running = running, failed = stats.failed}
  end
  -- status records: a failure here (a full disk) costs only what `runwatch status` shows
  local ok, err = pcall(function()
    local bs = self:backend().budget_status and self:backend():budget_status()
    if bs then state.meta_set("budget:" .. bs.host, bs) end
    state.meta_set("watchgroup:" .. self.key_id, {start_mark = self.start_mark, created_mark = self.created_mark,
      alive = json.array(alive)})
    for _, w in ipairs(self.watches) do
      state.meta_set("watch:" .. w.id, {project = self.entity .. "/" .. self.project, every = w.every,
        last_tick = now, last_duration = core.now() - t0, running = running, examined = stats.examined,
        requests = stats.requests, rows = stats.rows, errors = w.errors, failed = stats.failed})
    end
  end)
  if not ok then core.log("warn", "watch status not saved: " .. tostring(err)) end
  if stats.failed > 0 then
    core.log("error", string.format("watch tick %s/%s: %d run(s) not processed (their state was not " ..
      "saved); they are processed again next tick", self.entity, self.project, stats.failed))
    core.job_failed()
  end
  core.log("debug", string.format("watch tick %s/%s: %d runs, %d rows, %d requests, %.3f s",
    self.entity, self.project, stats.examined, stats.rows, stats.requests, core.now() - t0))
  return stats
end

-- }======

-- Checks of watch{} options, each naming the option (errors at the script's line).
local function positive_int(v, what, max)
  if v == nil then return nil end
  if math.type(v) ~= "integer" or v < 1 or (max and v > max) then
    error(string.format("watch: %s must be %s (got %s)", what,
      max and ("an integer from 1 to " .. max) or "a positive integer", tostring(v)), 3)
  end
  return v
end

local STALE_KNOWN = {factor = true, floor = true, heartbeat = true}
local function stale_opts(v)
  if v == false then return nil end
  if v ~= nil and v ~= true and type(v) ~= "table" then
    error("watch: stale must be a table {factor =, floor =, heartbeat =} or false (got " .. type(v) .. ")", 3)
  end
  local t = type(v) == "table" and v or {}
  options.check("watch", t, STALE_KNOWN, 3, "stale.")
  local factor = t.factor or M.defaults.stale.factor
  if type(factor) ~= "number" or factor ~= factor or factor <= 0 or factor == math.huge then
    error("watch: stale.factor must be a positive number (got " .. (type(factor) == "string" and string.format("%q", factor) or tostring(factor)) .. ")", 3)
  end
  return {factor = factor,
    floor = duration.parse(t.floor or M.defaults.stale.floor, "watch: stale.floor", 3),
    heartbeat = duration.parse(t.heartbeat or M.defaults.stale.heartbeat, "watch: stale.heartbeat", 3)}
end

function M.is_watch(v) return getmetatable(v) == Watch end

-- watch{project=, filters=, every=, id=, stale=, on_...=} -> Watch
function M.watch(spec)
  if type(spec) ~= "table" then error("bad argument #1 to 'watch' (table expected, got " .. type(spec) .. ")", 2) end
  options.check("watch", spec, KNOWN, 2)
  for _, h in ipairs(HANDLERS) do
    if spec[h] ~= nil and type(spec[h]) ~= "function" then error("watch: " .. h .. " must be a function", 2) end
  end
  local api = spec.api or api_mod.default()
  if type(api) ~= "table" or getmetatable(api) == nil or rawget(api, "_") == nil then error("watch: api must be an Api (api.Api{...})", 2) end
  local a = rawget(api, "_")
  local backend = a.backend
  if type(spec.project) ~= "string" then error("watch: project is required (\"entity/project\")", 2) end
  local entity, project = paths.project(spec.project, {entity = function() return api.default_entity end}, 2)
  if spec.filters ~= nil and type(spec.filters) ~= "table" then error("watch: filters must be a table", 2) end
  local user_filters = spec.filters and filters_mod.normalize(spec.filters, 2) or nil
  local fjson = user_filters and filters_mod.encode(spec.filters, 2) or ""
  local every = duration.parse(spec.every or M.defaults.every, "watch: every", 2)
  if every <= 0 then error("watch: every must be more than 0", 2) end
  local stale = stale_opts(spec.stale)
  if spec.history ~= nil and type(spec.history) ~= "boolean" then error("watch: history must be true or false", 2) end
  local batch = positive_int(spec.batch, "batch", 100) or M.defaults.batch
  local per_page = positive_int(spec.per_page, "per_page", 1000) or M.defaults.per_page
  local max_rows = positive_int(spec.max_rows, "max_rows") or M.defaults.max_rows
  local cpu_budget = spec.cpu_budget and duration.parse(spec.cpu_budget, "watch: cpu_budget", 2) or 120
  if cpu_budget <= 0 then error("watch: cpu_budget must be more than 0", 2) end
  for _, k in ipairs({"id", "name"}) do
    if spec[k] ~= nil and (type(spec[k]) ~= "string" or spec[k] == "") then error("watch: " .. k .. " must be a non-empty string", 2) end
  end
  local cur = task.current()
  local script = cur and cur.script or "script"
  local n = 0
  for _, w in ipairs(watches) do if w.script == script then n = n + 1 end end
  local id = spec.id or spec.name or string.format("%s:%s/%s#%d", script, entity, project, n + 1)
  for _, w in ipairs(watches) do
    if w.id == id then error("watch: two watches with the id '" .. id .. "' (give each an id)", 2) end
  end
  if spec.artifacts ~= nil or spec.on_artifact_version ~= nil or spec.on_alias ~= nil then
    if spec.artifacts == nil then error("watch: on_artifact_version and on_alias need artifacts = {type =, name =}", 2) end
    for _, h in ipairs(HANDLERS) do
      if spec[h] ~= nil then error("watch: " .. h .. " watches runs; give artifact handlers a watch of their own", 2) end
    end
    return require("runwatch.artifact_watch").watch(spec, {api = api, entity = entity, project = project,
      every = every, id = id, cpu_budget = cpu_budget})
  end
  local w = setmetatable({spec = spec, id = id, project = entity .. "/" .. project, every = every,
    api = api, stale = stale, cursors = {}, steps = {}, lines = {}, rules = {}, ticks = 0, errors = 0, script = script,
    wants_history = spec.history ~= false and (spec.on_history ~= nil or spec.history == true)}, Watch)
  local key = group_key(api, entity .. "/" .. project, fjson)
  local g = groups[key]
  if not g then
    g = setmetatable({api = api, entity = entity, project = project, user_filters = user_filters,
      watches = {}, alive = {}, lines_pending = {}, batch = batch, per_page = per_page, max_rows = max_rows,
      every = every, key_id = entity .. "/" .. project .. (fjson ~= "" and ("?" .. fjson) or "")}, Group)
    groups[key] = g
    g.schedule = schedule.every(every, function() g:tick() end,
      {immediate = true, name = "watch " .. entity .. "/" .. project, cpu_budget = cpu_budget})
  elseif every < g.every or g.schedule.stopped then
    -- the group polls at the shortest interval among its watches (and again after all its
    -- watches had stopped)
    if g.schedule.stopped then g.every = every end
    g.every = math.min(g.every, every)
    g.schedule:stop()
    g.schedule = schedule.every(g.every, function() g:tick() end,
      {immediate = true, name = "watch " .. entity .. "/" .. project, cpu_budget = cpu_budget})
  end
  -- a backend that can tell when its data changed (local run files) triggers a tick at once
  if not g.subscribed and backend.subscribe then
    g.subscribed = true
    backend:subscribe(entity, project, function() g:poke() end)
  end
  w.group = g
  g.watches[#g.watches + 1] = w
  watches[#watches + 1] = w
  if not M.daemon_recorded then
    M.daemon_recorded = true
    state.record_daemon()
    effects.kick()          -- what a previous process left in the outbox
  end
  return w
end

-- A rule asks for history when its watch has none: rules see the new rows in ctx.rows.
function M.attach_rule(w, r)
  w.rules[#w.rules + 1] = r
  w.wants_history = w.spec.history ~= false
end

M.Watch = Watch
return M
