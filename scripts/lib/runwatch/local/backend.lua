-- The local-runs backend: W&B run directories (wandb/run-*/run-<id>.wandb, online or offline) read in place, behind the same methods as runwatch/wb/backend.lua; read-only.
--
-- new(dir [, opts]) accepts a wandb/ directory, a directory holding run directories (or a
-- wandb/ or .wandb/ below it), one run directory, or one .wandb file. Each .wandb file is
-- parsed once and then only its new bytes are read (the reader's offset is kept), so polling
-- and watching cost what was appended. Config, summary, history, system metrics and the exit
-- come from the records; files/wandb-summary.json is used only when the records hold no
-- summary; files/wandb-metadata.json is run.metadata. Runs come out as run records, each field
-- derived as fields.lua says (the contract: docs/backends.md). See docs/local.md.
local core = require "runwatch.core"
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local wandbfile = require "runwatch.wandbfile"
local fswatch = require "runwatch.fswatch"
local match = require "runwatch.local.match"
local scan = require "runwatch.local.scan"
local rows_mod = require "runwatch.local.rows"
local files_mod = require "runwatch.local.files"
local fields = require "runwatch.fields"

local M = {}
local B = {}
B.__index = B
B.kind = "local"
for k, v in pairs(scan.methods) do B[k] = v end
for k, v in pairs(files_mod.methods) do B[k] = v end

-- live_window: with no exit record and no writer process to ask (no logs/debug.log PID, or
-- the run was written on another host), a run is "running" while one of its files changed
-- within this many seconds, else "crashed" (10 min, as W&B's LEET viewer decides).
M.defaults = {live_window = 600, watch_interval = 0}

local NULL = json.null
local iso, basename, dirname, is_dir = scan.iso, scan.basename, scan.dirname, scan.is_dir
local absolute, normalize = scan.absolute, scan.normalize
local present, tree_json, safe_tree_json = scan.present, scan.tree_json, scan.safe_tree_json
local read_stats, sample_indices, lower_bound = rows_mod.read_stats, rows_mod.sample_indices, rows_mod.lower_bound
local rows_of, sampled = rows_mod.rows_of, rows_mod.sampled

-- The project name for runs whose record has none: the directory's name, skipping wandb/,
-- .wandb/ and run directories (~/proj/wandb/run-x -> "proj"), or "local".
local function default_project(dir)
  local p = dir:gsub("/+$", "")
  if p:match("%.wandb$") and not is_dir(p) then p = dirname(p) end
  for _ = 1, 3 do
    local b = basename(p)
    if b == "wandb" or b == ".wandb" or b == "latest-run" or b:match("^offline%-run%-") or b:match("^run%-%d") then
      p = dirname(p)
    else break end
  end
  local b = basename(p)
  if not b or b == "" or b == "." or b == ".." or b == "/" then return "local" end
  return b
end

-- default_dir() -> where W&B writes runs when no directory is given, as the SDK decides:
-- WANDB_DIR (the run directories go in its wandb/, which new() finds), else ./wandb
function M.default_dir()
  local d = os.getenv("WANDB_DIR")
  if d and d ~= "" then return d end
  return "./wandb"
end

-- new(dir [, {live_window = secs, entity =, project =}]) -> backend; dir "" or nil: default_dir()
function M.new(dir, opts)
  if dir == nil or dir == "" then dir = M.default_dir() end
  if type(dir) ~= "string" then
    error("bad argument #1 to 'local backend' (a directory expected)", 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #2 to 'local backend' (table expected)", 2) end
  dir = dir:gsub("(.)/+$", "%1")
  local b = setmetatable({
    dir = dir,
    abs = absolute(dir),
    live_window = opts.live_window or M.defaults.live_window,
    progress = opts.progress,   -- the first listing's bar: true/false forces it, nil on a terminal
    settings = {entity = opts.entity or "local", project = opts.project or default_project(normalize(absolute(dir))),
      base_url = "local:" .. dir, local_dir = dir},
    dirs = {},            -- directory path -> {mtime, names, files = {names of *.wandb}}
    subdirs = {},         -- root -> {name = {path, has (a .wandb seen)} or false (not a directory)}
    segs = {},            -- .wandb path -> segment
    runs = {},            -- run id -> run
    order = {},           -- runs in discovery order (seq)
    seq = 0,
    watches = {},         -- path -> FsWatch (only once a watch subscribed)
    subscribers = {},
    stats = {bytes = 0, records = 0, parse_time = 0},
  }, B)
  return b
end

function B:app_url() return "file://" .. normalize(self.abs) end
function B:default_entity() return self.settings.entity end

-- {====== state, attrs

local function read_head(path, n)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read(n or 4096)
  f:close()
  return s
end

-- The writer's PID from logs/debug.log (every line carries it: "...MainThread:12345 [file...").
local function writer_pid(seg)
  local p = seg.dir .. "/logs/debug.log"
  local st = fswatch.stat(p)
  if not st then return nil end
  if seg.pid_mtime == st.mtime then return seg.pid end
  seg.pid_mtime = st.mtime
  local head = read_head(p, 8192) or ""
  local pid = head:match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d[,.]%d+ %u+%s+.-:(%d+) %[")
    or head:match("\n%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d[,.]%d+ %u+%s+.-:(%d+) %[")
  seg.pid = pid and math.tointeger(tonumber(pid)) or nil
  return seg.pid
end

local LIVENESS_FILES = {"", "/logs/debug-internal.log", "/logs/debug.log", "/files/output.log"}

local function last_write(seg)
  local newest
  for _, suffix in ipairs(LIVENESS_FILES) do
    local st = fswatch.stat(suffix == "" and seg.path or (seg.dir .. suffix))
    if st and (not newest or st.mtime > newest) then newest = st.mtime end
  end
  return newest
end

local hostname_cache
local function hostname()
  if hostname_cache == nil then hostname_cache = fswatch.hostname() or false end
  return hostname_cache or nil
end

-- state, heartbeat time, how it was decided ("exit", "pid", "mtime")
function B:liveness(run, now)
  local ex = run.exit
  local seg = run.segs[#run.segs]
  if ex and not ex.not_complete then
    local code = ex.exit_code
    local state = code == 0 and "finished" or (code == 254 and "crashed" or "failed")
    local hb
    if run.rec.start_time then hb = run.rec.start_time + (ex.runtime or 0) end
    return state, hb or last_write(seg), "exit"
  end
  -- without an exit record the answer costs a few stats and a kill(pid, 0): kept for a second
  local lc = run.live_cache
  if lc and lc.version == run.version and now >= lc.at and now - lc.at < 1 then
    return lc[1], lc[2], lc[3], lc[4]
  end
  local mt = last_write(seg)
  local hb = mt
  local pid = writer_pid(seg)
  local host = run.rec.host
  local state, how
  if pid and (not host or host == hostname()) then
    state, how = fswatch.pid_alive(pid) and "running" or "crashed", "pid"
    -- a writer process known alive is a heartbeat (wandb-core may not write for minutes)
    if state == "running" then hb = now end
  else
    state, how, pid = (mt and now - mt < self.live_window) and "running" or "crashed", "mtime", nil
  end
  run.live_cache = {state, hb, how, pid, at = now, version = run.version}
  return state, hb, how, pid
end

local function created_time(run)
  if run.rec.start_time then return run.rec.start_time end
  local seg = run.segs[1]
  if seg and seg.time then return seg.time end
  local st = seg and fswatch.stat(seg.path)
  return st and st.mtime or nil
end

local function run_entity(self, run)
  local e = run.rec.entity
  return (e and e ~= "") and e or self.settings.entity
end
local function run_project(self, run)
  local p = run.rec.project
  return (p and p ~= "") and p or self.settings.project
end

-- The default entity and project stand for the whole directory; other names select the runs
-- whose run record says so.
function B:matches(run, entity, project)
  return (entity == self.settings.entity or entity == run_entity(self, run))
    and (project == self.settings.project or project == run_project(self, run) or project == "*")
end

local function summary_text(self, run)
  if not run.has_summary then
    local seg = run.segs[#run.segs]
    local s = seg and read_head(seg.dir .. "/files/wandb-summary.json", 64 * 1024 * 1024)
    local v = s and json.decode(s)
    if type(v) == "table" and not json.is_array(v) then return s:gsub("%s+$", "") end
  end
  local text = safe_tree_json(run, run.summary, false, "summary")
  if run.last_step and run.summary._step == nil then
    text = text == "{}" and ('{"_step":' .. run.last_step .. "}") or ('{"_step":' .. run.last_step .. "," .. text:sub(2))
  end
  return text
end

local user_names = {}
local function owner(seg)
  local st = seg and fswatch.stat(seg.dir)
  if not st then return nil end
  local name = user_names[st.uid]
  if name == nil then
    name = fswatch.username(st.uid) or tostring(st.uid)
    user_names[st.uid] = name
  end
  return name
end

-- The run as a run record (fields.lua: every field's `loc` applied to the run's facts). The table
-- is shared until the run changes: callers must not modify it (run.lua and watch.lua copy what
-- they change).
function B:attrs(run, now)
  now = now or core.time()
  local state, hb, how, pid = self:liveness(run, now)
  local c = run.cache
  if not c or c.version ~= run.version or c.state ~= state or c.hb ~= hb then
    local created = created_time(run)
    local seg = run.segs[#run.segs]
    local sys = {}
    for k, v in pairs(run.sys) do sys[k] = v end
    local summary = summary_text(self, run)
    local runtime
    if run.exit then runtime = run.exit.runtime
    else
      local sv = match.parsed_doc({summary = summary}, "summary")
      runtime = math.type(sv._runtime) and sv._runtime or (created and hb and math.max(0, hb - created)) or nil
    end
    local files = {}
    for i, sg in ipairs(run.segs) do files[i] = sg.path end
    local a = fields.from_local({id = run.id, storage_id = run.id, entity = run_entity(self, run),
      project = run_project(self, run), rec = run.rec, state = state, heartbeat = hb, created = created,
      config = safe_tree_json(run, run.config, true, "config"), summary = summary, system_metrics = tree_json(sys),
      rows = run.nrows, last_step = run.last_step, runtime = runtime, user = owner(seg),
      exit_code = run.exit and run.exit.exit_code, liveness = how, pid = pid, errors = run.nerrors,
      offline = seg and seg.offline or false, dir = seg and seg.dir, files = json.array(files)})
    c = {version = run.version, state = state, hb = hb, attrs = a}
    run.cache = c
  end
  return c.attrs
end

-- }======

-- {====== Backend methods (the same as wb/backend.lua)

local function find(self, entity, project, id)
  self:refresh(id)
  local run = self.runs[id]
  if not run then
    -- a run record id that differs from the file name
    for _, r in ipairs(self.order) do if r.rec.run_id == id then run = r break end end
  end
  if not run or not present(run) or not self:matches(run, entity, project) then return nil end
  return run
end

function B:find_run(entity, project, id) return find(self, entity, project, id) end

-- run(e, p, id, full) -> attrs, or nil when there is no such run
function B:run(entity, project, id, full, opts)
  local run = find(self, entity, project, id)
  if not run then return nil end
  return self:attrs(run)
end

-- run_artifacts(e, p, id, "logged" | "used") -> list of the artifact records of the run's
-- .wandb file ({name, type, digest, aliases, tags, description, metadata (JSON text), id}), or
-- nil when there is no such run (issue 16 item 5: read-only, what the file records)
function B:run_artifacts(entity, project, id, which)
  local run = find(self, entity, project, id)
  if not run then return nil end
  local out = {}
  for i, a in ipairs(run.artifacts[which == "used" and "used" or "logged"]) do out[i] = a end
  return out
end

local function compile_filters(f, op)
  local ok, pred = pcall(match.compile, f)
  if not ok then errors.raise({message = tostring(pred), op = op, exc = "bad filter"}, 3) end
  return pred
end

-- The runs of a query in order: {{run=, attrs=, k=, seq=}, ...}
function B:select(entity, project, filters, order, op)
  self:refresh()
  local pred = compile_filters(filters, op)
  local ord = match.order(order)
  local now = core.time()
  local list = {}
  for _, run in ipairs(self.order) do
    if present(run) and self:matches(run, entity, project) then
      local a = self:attrs(run, now)
      -- ties in the order go by creation (the run's start, then its id), as on W&B, where a
      -- run's place among equals is when it was created; not by when this process found it
      if pred(a) then
        list[#list + 1] = {run = run, attrs = a, k = ord.sort_key(a), seq = (a.created_at ~= NULL and a.created_at or "") .. "\0" .. run.id}
      end
    end
  end
  match.sort(list, ord)
  return list, ord
end

local function cursor_of(e)
  return json.encode(json.array({e.k[1], e.k[2] == nil and NULL or e.k[2], e.seq}))
end

-- index of the first entry after the cursor
local function after_cursor(list, ord, cursor, op)
  if not cursor or cursor == NULL then return 1 end
  local c = type(cursor) == "string" and json.decode(cursor)
  if type(c) ~= "table" or #c ~= 3 then errors.raise({message = "invalid runs cursor", op = op}, 3) end
  local probe = {k = {c[1], c[2] ~= NULL and c[2] or nil}, seq = c[3]}
  local lo, hi = 1, #list + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if match.compare(ord, list[mid], probe) <= 0 then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function page_of(list, ord, o, op)
  local start = after_cursor(list, ord, o.cursor, op)
  local n = math.min(o.per_page or 50, 1000)
  local nodes, last = {}, nil
  for i = start, math.min(#list, start + n - 1) do
    nodes[#nodes + 1] = list[i].attrs
    last = cursor_of(list[i])
  end
  return nodes, last, start + #nodes - 1 < #list
end

-- exists(e, p) -> whether the project is there: the directory's own (default) names, or
-- ones a run record gives
function B:exists(entity, project)
  if (entity == self.settings.entity or entity == "*") and (project == self.settings.project or project == "*") then
    return true
  end
  for _, run in ipairs(self.order) do
    if present(run) and self:matches(run, entity, project) then return true end
  end
  return false
end

-- runs_page(e, p, {filters, order, per_page, cursor, full}) -> {count, nodes, cursor, has_next},
-- or nil when the project does not exist
function B:runs_page(entity, project, o)
  local list, ord = self:select(entity, project, o.filters, o.order, "Runs")
  if #list == 0 and not self:exists(entity, project) then return nil end
  local nodes, last, more = page_of(list, ord, o, "Runs")
  return {count = #list, nodes = nodes, cursor = last, has_next = more and last ~= nil}
end

-- watch_page(e, p, {filters, per_page, cursor, order}) -> {nodes, cursor, has_next}
function B:watch_page(entity, project, o)
  local list, ord = self:select(entity, project, o.filters, o.order or "+created_at", "WatchRuns")
  if #list == 0 and not self:exists(entity, project) then return nil end
  local nodes, last, more = page_of(list, ord, o, "WatchRuns")
  return {nodes = nodes, cursor = last, has_next = more and last ~= nil}
end

-- runs_by_name(e, p, ids) -> {id = attrs or nil}
function B:runs_by_name(entity, project, ids)
  local out = {}
  for _, id in ipairs(ids) do
    local run = find(self, entity, project, id)
    if run then out[id] = self:attrs(run) end
  end
  return out
end

-- field(e, p, id, name) -> one field of a run's record (records carry every field already)
function B:field(entity, project, id, name)
  local run = find(self, entity, project, id)
  if not run then return nil end
  local v = self:attrs(run)[name]
  if v == NULL then return nil end
  return v
end

-- projects_page(entity, {per_page, cursor}) -> {nodes, cursor, has_next}: the projects the
-- run records name (the directory's name for runs that name none), by name
function B:projects_page(entity, o)
  self:refresh()
  local by = {}
  for _, run in ipairs(self.order) do
    if present(run) and (entity == self.settings.entity or entity == run_entity(self, run)) then
      local p = run_project(self, run)
      local created = created_time(run)
      local cur = by[p]
      if not cur then by[p] = {name = p, created = created}
      elseif created and (not cur.created or created < cur.created) then cur.created = created end
    end
  end
  local list = {}
  for _, p in pairs(by) do list[#list + 1] = p end
  table.sort(list, function(a, b) return a.name < b.name end)
  local cursor = o.cursor ~= NULL and o.cursor or nil
  local nodes, last, more = {}, nil, false
  local n = math.min(o.per_page or 50, 1000)
  for _, p in ipairs(list) do
    if not cursor or p.name > cursor then
      if #nodes >= n then more = true break end
      nodes[#nodes + 1] = {id = core.base64("Project:v1:" .. p.name .. ":" .. entity), name = p.name,
        entityName = entity, createdAt = p.created and iso(p.created) or NULL, isBenchmark = false}
      last = p.name
    end
  end
  return {nodes = nodes, cursor = last, has_next = more, count = #list}
end

-- sweep(e, p, name) -> sweep attrs made from the runs whose run record names that sweep, or
-- nil (a local directory holds no sweep config: best_run needs its metric given)
function B:sweep(entity, project, name)
  self:refresh()
  local n, running, first = 0, false, nil
  for _, run in ipairs(self.order) do
    if present(run) and run.rec.sweep_id == name and self:matches(run, entity, project) then
      n = n + 1
      local a = self:attrs(run)
      if a.state == "running" then running = true end
      if a.created_at ~= NULL and (not first or a.created_at < first) then first = a.created_at end
    end
  end
  if n == 0 then return nil end
  return {id = core.base64("Sweep:v1:" .. name .. ":" .. project .. ":" .. entity), name = name, displayName = name,
    state = running and "RUNNING" or "FINISHED", config = NULL, method = NULL, bestLoss = NULL,
    createdAt = first or NULL, updatedAt = NULL, runCount = n, runCountExpected = NULL, description = NULL}
end

-- {====== history rows (local/rows.lua reads them)

-- history(e, p, id, {keys, samples, stream, x_axis}) -> rows, or nil when the run is missing
function B:history(entity, project, id, o)
  local run = find(self, entity, project, id)
  if not run then return nil end
  if o.stream == "system" or o.stream == "events" then
    local rows = {}
    read_stats(run, sample_indices(#run.stats_off, o.samples), function(_, row) rows[#rows + 1] = row end)
    return rows
  end
  if o.keys then
    local keys = {o.x_axis or "_step"}
    for _, k in ipairs(o.keys) do if k ~= keys[1] then keys[#keys + 1] = k end end
    return sampled(run, 1, run.nrows, keys, o.samples)
  end
  return rows_of(run, sample_indices(run.nrows, o.samples))
end

-- last_step(e, p, id) -> the last history step (-1 when none)
function B:last_step(entity, project, id)
  local run = find(self, entity, project, id)
  return run and run.last_step or -1
end

-- history_page(e, p, id, {min_step, max_step (exclusive), page_size, keys}) -> rows
function B:history_page(entity, project, id, o)
  local run = find(self, entity, project, id)
  if not run then return {} end
  local lo = lower_bound(run, o.min_step or 0)
  local hi = (o.max_step and lower_bound(run, o.max_step) or run.nrows + 1) - 1
  if o.keys then
    local keys = {"_step"}
    for _, k in ipairs(o.keys) do if k ~= "_step" then keys[#keys + 1] = k end end
    return sampled(run, lo, hi, keys, o.page_size)
  end
  local indices = {}
  for i = lo, math.min(hi, lo + (o.page_size or 500) - 1) do indices[#indices + 1] = i end
  return rows_of(run, indices)
end

-- history_batch(e, p, specs) -> {id = rows}: rows in [min_step, max_step), at most samples each
function B:history_batch(entity, project, specs)
  local out = {}
  for _, sp in ipairs(specs) do
    local run = find(self, entity, project, sp.id)
    if run then
      local lo = lower_bound(run, sp.min_step or 0)
      local hi = (sp.max_step and lower_bound(run, sp.max_step) or run.nrows + 1) - 1
      local n = sp.samples or 500
      local indices = {}
      for i = lo, math.min(hi, lo + n - 1) do indices[#indices + 1] = i end
      out[sp.id] = rows_of(run, indices)
    end
  end
  return out
end

-- }======

-- {====== writes: refused

local function storage_run(self, storage_id)
  for _, run in ipairs(self.order) do
    if run.id == storage_id then return run end
  end
end

function B:upsert(vars, fields)
  local run = vars and storage_run(self, vars.id)
  local what = run and (run.segs[#run.segs] and run.segs[#run.segs].dir or run.id) or "this run"
  errors.raise({message = "local runs are read-only: " .. what .. " was not changed (runwatch reads " ..
    "W&B run directories; sync the run to W&B with `wandb sync` to edit it there)", op = "UpsertBucket",
    exc = "read-only"}, 2)
end

function B:write_run(id, set) return self:upsert({id = id}, set) end

function B:delete_run(id, artifacts)
  local run = storage_run(self, id)
  errors.raise({message = "local runs are read-only: " .. (run and run.segs[#run.segs].dir or "the run") ..
    " was not deleted (remove the directory yourself if you mean it)", op = "DeleteRun", exc = "read-only"}, 2)
end

function B:alert(vars)
  errors.raise({message = "local runs are read-only: no W&B alert can be sent for the local run " ..
    tostring(vars and vars.runName) .. " (use a webhook or Slack action instead)",
    op = "NotifyScriptableRunAlert", exc = "read-only"}, 2)
end

-- }======

-- {====== watching: ev_stat (inotify) watchers on the directories and the growing logs

function B:notify(path)
  for _, fn in ipairs(self.subscribers) do
    local ok, err = pcall(fn, path)
    if not ok then core.log("warn", "local runs: a subscriber failed: " .. tostring(err)) end
  end
end

function B:watch_path(path)
  if self.watches[path] then return end
  local w = fswatch.new(path, function() self:notify(path) end,
    {daemon = true, interval = self.watch_interval or M.defaults.watch_interval})
  w:start()
  self.watches[path] = w
end

-- After a refresh: watch the logs of runs that may still grow; stop watching finished ones.
function B:sync_watches()
  for _, run in ipairs(self.order) do
    local done = run.exit and not run.exit.not_complete
    for _, seg in ipairs(run.segs) do
      local w = self.watches[seg.path]
      if done and w and seg ~= run.segs[#run.segs] then w:close(); self.watches[seg.path] = nil
      elseif not done and not w then self:watch_path(seg.path)
      elseif done and w then w:close(); self.watches[seg.path] = nil end
    end
  end
end

-- subscribe(e, p, fn): fn() runs when a run file under the directory grows or a new run
-- directory appears (the watch engine then ticks at once). Nothing to do in `once` mode.
function B:subscribe(entity, project, fn)
  if type(fn) ~= "function" then error("bad argument #3 to 'subscribe' (function expected)", 2) end
  if core.options().mode == "once" then return false end
  self.subscribers[#self.subscribers + 1] = fn
  if not self.subscribed then
    self.subscribed = true
    local ok, err = pcall(self.refresh, self)
    if not ok then core.log("warn", "local runs: " .. tostring(err)) end
    local okr, roots = pcall(self.roots, self)
    for _, r in ipairs(okr and roots or {}) do self:watch_path(r) end
  end
  return true
end

-- close(): stop every file watcher
function B:close()
  for p, w in pairs(self.watches) do w:close(); self.watches[p] = nil end
  self.subscribers = {}
  self.subscribed = false
end

-- }======

-- {====== for runwatch inspect and tests

-- info(id) -> what was parsed for a run: counts, rows, steps, exit, errors, state, files
function B:info(id)
  local run = self.runs[id]
  if not run then return nil end
  local state, hb, how, pid = self:liveness(run, core.time())
  local files = {}
  for i, s in ipairs(run.segs) do files[i] = s.path end
  return {id = run.id, counts = run.counts, rows = run.nrows, first_step = run.steps[1], last_step = run.last_step,
    dropped_rows = run.dropped, exit = run.exit, errors = run.errors, error_count = run.nerrors,
    state = state, heartbeat = hb, liveness = how, pid = pid, files = files, stats_rows = #run.stats_off,
    keys = run.keys, record = run.rec}
end

-- ids([all]) -> the run ids found, in discovery order; all: also those whose files are not
-- .wandb logs (runwatch inspect reports them)
function B:ids(all)
  self:refresh()
  local out = {}
  for _, run in ipairs(self.order) do
    if present(run) or (all and #run.segs > 0) then out[#out + 1] = run.id end
  end
  return out
end

-- }======

M.sample_indices = sample_indices
return M
