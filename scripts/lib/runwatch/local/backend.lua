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
local fields = require "runwatch.fields"

local M = {}
local B = {}
B.__index = B
B.kind = "local"

-- live_window: with no exit record and no writer process to ask (no logs/debug.log PID, or
-- the run was written on another host), a run is "running" while one of its files changed
-- within this many seconds, else "crashed" (10 min, as W&B's LEET viewer decides).
M.defaults = {live_window = 600, watch_interval = 0}

local NULL = json.null

local function iso(t)
  if not t then return nil end
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t))
end

local function basename(p) return (p:gsub("/+$", ""):match("([^/]+)$")) or p end
local function dirname(p)
  local d = p:gsub("/+$", ""):match("^(.*)/[^/]*$")
  if d == "" then return "/" end
  return d or "."
end

local function is_dir(p)
  local st = fswatch.stat(p)
  return st and st.type == "directory"
end

-- "run-20260211_121423-kj3gdsjx" -> epoch seconds of the (local, zone-less) timestamp
local function dir_time(name)
  local y, mo, d, h, mi, s = name:match("run%-(%d%d%d%d)(%d%d)(%d%d)_(%d%d)(%d%d)(%d%d)%-")
  if not y then return nil end
  return os.time({year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(s)})
end

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

local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  local cwd = os.getenv("PWD") or "."
  p = p:gsub("^%./", "")
  return cwd .. "/" .. p
end

-- "/a/b/../c/./d" -> "/a/c/d" (lexically; symbolic links are not followed)
local function normalize(p)
  local parts = {}
  for part in p:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 then parts[#parts] = nil end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
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

-- {====== raw JSON trees (config, summary): leaves are value_json texts, decoded only when needed

local function descend(node, k, create)
  local child = node[k]
  if type(child) == "table" then return child end
  if child == nil and not create then return nil end
  local t = {}
  if type(child) == "string" then
    local v = json.decode(child)
    if type(v) == "table" and not json.is_array(v) then
      for kk, vv in pairs(v) do t[kk] = json.encode(vv) end
    elseif not create then
      return nil
    end
  end
  node[k] = t
  return t
end

local function item_path(it)
  if it.nested_key and #it.nested_key > 0 then return it.nested_key end
  return {it.key}
end

local function tree_set(root, path, raw)
  local node = root
  for i = 1, #path - 1 do node = descend(node, path[i], true) end
  node[path[#path]] = (raw ~= nil and raw ~= "") and raw or "null"
end

local function tree_del(root, path)
  local node = root
  for i = 1, #path - 1 do
    node = descend(node, path[i], false)
    if not node then return end
  end
  node[path[#path]] = nil
end

-- JSON text of a tree; wrap = true wraps each top-level value as {"value": ...} (config)
local function tree_json(node, wrap)
  local keys = {}
  for k in pairs(node) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = node[k]
    local text = type(v) == "table" and tree_json(v) or v
    if wrap then text = '{"value":' .. text .. "}" end
    parts[i] = json.encode(k) .. ":" .. text
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- A tree's text, checked once: a leaf that is not valid JSON becomes null (and is reported).
local function safe_tree_json(run, node, wrap, what)
  local text = tree_json(node, wrap)
  if json.decode(text) ~= nil then return text end
  local function clean(n, prefix)
    for k, v in pairs(n) do
      if type(v) == "table" then clean(v, prefix .. k .. ".")
      elseif json.decode(v) == nil then
        n[k] = "null"
        run.errors[#run.errors + 1] = {message = string.format("malformed %s value for %s%s", what, prefix, k)}
      end
    end
  end
  clean(node, "")
  return tree_json(node, wrap)
end

-- }======

-- {====== runs and segments

local reset_run

-- A job can be stopped anywhere (its CPU budget), so a new run is complete before it is
-- registered, and the list in discovery order is rebuilt when a registration was cut short.
local function new_run(self, id)
  local run = {id = id, segs = {}, seq = self.seq + 1}
  reset_run(run)
  self.order_dirty = true
  self.seq = run.seq
  self.runs[id] = run
  self.order[#self.order + 1] = run
  self.order_dirty = false
  return run
end

local function check_order(self)
  if not self.order_dirty then return end
  local list = {}
  for _, run in pairs(self.runs) do list[#list + 1] = run end
  table.sort(list, function(a, b) return a.seq < b.seq end)
  self.order = list
  self.order_dirty = false
end

-- Forget everything parsed for a run (a file shrank or was replaced): it is read again.
function reset_run(run)
  run.resetting = true     -- until the end: a reset cut short is done again
  run.rec = {tags = json.array({})}
  run.config = {}
  run.summary = {}
  run.sys = {}
  run.steps, run.row_seg, run.row_off = {}, {}, {}
  run.nrows, run.last_step, run.dropped = 0, nil, 0
  run.stats_seg, run.stats_off, run.stats_time = {}, {}, {}
  run.keys = {}
  run.exit = nil
  run.counts = {}
  run.errors = {}
  run.nerrors = 0
  run.has_summary = false
  run.version = (run.version or 0) + 1
  run.cache = nil
  for _, seg in ipairs(run.segs) do
    seg.offset, seg.size, seg.fatal, seg.open_error = nil, nil, nil, nil
    seg.run_seen = false
  end
  run.resetting = false
end

local RUN_FIELDS = {"entity", "project", "display_name", "notes", "group", "job_type", "sweep_id", "host",
  "git_remote", "git_commit", "storage_id"}

-- Applies one record. Re-applying the same record (after a job was stopped half-way through)
-- changes nothing: config/summary sets are idempotent, index entries are checked by offset.
local function apply(run, seg, si, rec)
  local ty = rec.type
  if ty == "history" then
    local n0 = run.nrows
    if n0 > 0 and run.row_off[n0] == rec.offset and run.row_seg[n0] == si then
      run.last_step = run.steps[n0]
      return
    end
    local step = rec.step
    if step == nil then
      for _, it in ipairs(rec.items) do
        if it.key == "_step" then step = math.tointeger(tonumber(it.value_json)) end
      end
    end
    if step == nil then step = (run.last_step or -1) + 1 end
    if run.last_step and step <= run.last_step then
      run.dropped = run.dropped + 1     -- a step already seen (a rewound resume): keep the first
      run.counts[ty] = (run.counts[ty] or 0) + 1
      return
    end
    local n = run.nrows + 1
    run.steps[n], run.row_seg[n], run.row_off[n] = step, si, rec.offset
    run.nrows = n          -- after the entry is complete (a job may be stopped anywhere)
    run.last_step = step
    for _, it in ipairs(rec.items) do
      local k = it.nested_key and it.nested_key[1] or it.key
      if not run.keys[k] then run.keys[k] = true end
      if k == "_timestamp" then run.last_row_time = tonumber(it.value_json) end
    end
  elseif ty == "summary" then
    run.has_summary = true
    for _, it in ipairs(rec.update) do tree_set(run.summary, item_path(it), it.value_json) end
    for _, it in ipairs(rec.remove) do tree_del(run.summary, item_path(it)) end
  elseif ty == "config" then
    for _, it in ipairs(rec.update) do tree_set(run.config, item_path(it), it.value_json) end
    for _, it in ipairs(rec.remove) do tree_del(run.config, item_path(it)) end
  elseif ty == "stats" then
    local n0 = #run.stats_off
    if n0 > 0 and run.stats_off[n0] == rec.offset and run.stats_seg[n0] == si then return end
    local n = n0 + 1
    run.stats_seg[n], run.stats_time[n] = si, rec.timestamp
    run.stats_off[n] = rec.offset      -- last: its length is the count
    for _, it in ipairs(rec.items) do run.sys["system." .. it.key] = it.value_json end
    if rec.timestamp then run.last_stats_time = rec.timestamp end
  elseif ty == "run" then
    local r = run.rec
    local first = not seg.run_seen
    for _, f in ipairs(RUN_FIELDS) do
      if rec[f] ~= nil and rec[f] ~= "" then r[f] = rec[f] end
    end
    if rec.run_id and rec.run_id ~= "" then r.run_id = rec.run_id end
    if first or #rec.tags > 0 then r.tags = json.array({table.unpack(rec.tags)}) end
    if rec.start_time and not r.start_time then r.start_time = rec.start_time end
    if rec.resumed then r.resumed = true end
    for _, it in ipairs(rec.config or {}) do tree_set(run.config, item_path(it), it.value_json) end
    for _, it in ipairs(rec.summary or {}) do
      run.has_summary = true
      tree_set(run.summary, item_path(it), it.value_json)
    end
    seg.run_seen = true
  elseif ty == "exit" then
    run.exit = {exit_code = rec.exit_code, runtime = rec.runtime, not_complete = rec.not_complete or false, seg = si}
  elseif ty == "header" then
    run.rec.producer = rec.producer
  end
  run.counts[ty] = (run.counts[ty] or 0) + 1
end

-- Reads what was appended to one segment since the last time. Returns true when it changed.
-- The offset is kept after every record, so a parse stopped half-way (a job over its CPU
-- budget) goes on from there the next time.
local function parse_seg(self, run, si, st)
  local seg = run.segs[si]
  if seg.size and st.size < seg.size then
    reset_run(run)
    return "reset"
  end
  if seg.size == st.size and seg.mtime == st.mtime then return false end
  if seg.fatal and seg.size == st.size then return false end
  local t0 = core.monotonic()
  local f, err = wandbfile.open(seg.path, (seg.offset or 0) > 0 and {offset = seg.offset} or nil)
  if not f and tostring(err):find("not a .wandb file", 1, true) then
    -- a file named *.wandb that is not a W&B log: not a run (listed again if it becomes one)
    if seg.not_log ~= err then
      core.log("warn", "local runs: " .. tostring(err) .. ": not listed as a run")
      run.nerrors = run.nerrors + 1
      run.errors[#run.errors + 1] = {offset = 0, message = tostring(err), file = seg.path}
      run.version = run.version + 1
    end
    seg.not_log = err
    seg.size, seg.mtime = st.size, st.mtime
    return true
  end
  seg.not_log = nil
  if not f then
    if err ~= seg.open_error then
      run.nerrors = run.nerrors + 1
      run.errors[#run.errors + 1] = {offset = 0, message = tostring(err), file = seg.path}
      run.version = run.version + 1
    end
    seg.open_error = err
    seg.size, seg.mtime = st.size, st.mtime
    return true
  end
  seg.open_error = nil
  local start = seg.offset or 0
  local changed = false
  while true do
    local rec, e = f:read()
    if rec == nil then break end
    if rec == false then
      run.nerrors = run.nerrors + 1
      if #run.errors < 1000 then
        run.errors[#run.errors + 1] = {offset = e.offset, message = e.message, file = seg.path}
      end
      changed = true
      if e.fatal then seg.fatal = e.message break end
    else
      apply(run, seg, si, rec)
      self.stats.records = self.stats.records + 1
      changed = true
    end
    seg.offset = f:offset()
    if changed then run.version = run.version + 1 end
  end
  seg.offset = f:offset()
  f:close()
  seg.size, seg.mtime = st.size, st.mtime
  self.stats.bytes = self.stats.bytes + math.max(0, seg.offset - start)
  self.stats.parse_time = self.stats.parse_time + (core.monotonic() - t0)
  return changed
end

local function sort_segs(run)
  table.sort(run.segs, function(a, b)
    if a.time ~= b.time then return (a.time or 0) < (b.time or 0) end
    return a.path < b.path
  end)
end

local function add_segment(self, path, rundir)
  local name = basename(path)
  local id = name:match("^run%-(.+)%.wandb$") or name:match("^(.+)%.wandb$")
  local dname = basename(rundir)
  local run = self.runs[id] or new_run(self, id)
  local seg
  for _, sg in ipairs(run.segs) do if sg.path == path then seg = sg end end
  if not seg then
    seg = {path = path, dir = rundir, time = dir_time(dname), dirname = dname,
      offline = dname:match("^offline%-") ~= nil, run = run}
    run.segs[#run.segs + 1] = seg
    if #run.segs > 1 then
      sort_segs(run)
      reset_run(run)      -- segments are applied in time order: read them again in that order
    end
  end
  self.segs[path] = seg   -- registered last: a cut-short registration is simply done again
  if self.subscribed then self:watch_path(path) end
  return run
end

-- The directories that hold run directories (or are one).
function B:roots()
  local st, err = fswatch.stat(self.dir)
  if not st then
    errors.raise({message = "local runs: cannot read " .. self.dir .. ": " .. tostring(err):gsub("^[^:]*: ", ""),
      op = "local", exc = err}, 3)
  end
  if st.type ~= "directory" then return {}, self.dir end
  local roots = {self.dir}
  for _, sub in ipairs({"wandb", ".wandb"}) do
    local p = self.dir .. "/" .. sub
    if is_dir(p) then roots[#roots + 1] = p end
  end
  return roots
end

-- the *.wandb regular files among a directory's names (a ".wandb" directory is W&B's own
-- directory, not a log)
local function wandb_files(dir, names)
  local out = {}
  for _, n in ipairs(names) do
    if n:match(".%.wandb$") and n:sub(1, 1) ~= "." then
      local st = fswatch.stat(dir .. "/" .. n)
      if st and st.type == "file" then out[#out + 1] = n end
    end
  end
  return out
end

-- Lists the *.wandb files of a directory (cached until its mtime changes).
function B:dir_files(path, st)
  local d = self.dirs[path]
  if d and d.mtime == st.mtime then return d.files end
  local names = fswatch.dir(path)
  if not names then return {} end
  d = {mtime = st.mtime, files = wandb_files(path, names), names = names}
  self.dirs[path] = d
  return d.files
end

-- Finds run directories and new .wandb files. A root is listed again only when its mtime
-- changed (an entry was added or removed); subdirectories are looked into until they hold a
-- .wandb file.
function B:discover()
  check_order(self)
  local roots, single = self:roots()
  local found = {}
  if single then
    if not self.segs[single] then add_segment(self, single, dirname(single)) end
    return
  end
  for _, root in ipairs(roots) do
    local rst = fswatch.stat(root)
    local prev = self.dirs[root]
    local changed = rst and (not prev or prev.mtime ~= rst.mtime)
    local own = rst and self:dir_files(root, rst) or {}
    -- a root's own *.wandb files are runs (a run directory), and so are its subdirectories' (a
    -- stray *.wandb file beside run directories must not hide them)
    for _, n in ipairs(own) do found[#found + 1] = {root .. "/" .. n, root} end
    if rst then
      if self.subscribed then self:watch_path(root) end
      local known = self.subdirs[root]
      if not known then known = {}; self.subdirs[root] = known end
      local d = self.dirs[root]
      if changed then
        local present = {}
        for _, name in ipairs(d.names) do
          present[name] = true
          if not known[name] and name ~= "latest-run" and name ~= "wandb" and name:sub(1, 1) ~= "." then
            local p = root .. "/" .. name
            local st = fswatch.stat(p)
            known[name] = (st and st.type == "directory") and {path = p, has = false} or false
          end
        end
        for name in pairs(known) do if not present[name] then known[name] = nil end end
      end
      for _, name in ipairs(d.names) do
        local k = known[name]
        if k and not k.has then
          local st = fswatch.stat(k.path)
          local files = st and self:dir_files(k.path, st) or {}
          for _, n in ipairs(files) do found[#found + 1] = {k.path .. "/" .. n, k.path} end
          if #files > 0 then
            k.has = true
          elseif self.subscribed and (name:match("^run%-") or name:match("^offline%-run%-")) then
            self:watch_path(k.path)     -- a run directory whose log is not there yet
          end
        end
      end
    end
  end
  for _, f in ipairs(found) do
    if not self.segs[f[1]] then add_segment(self, f[1], f[2]) end
  end
end

local function seg_stat(seg)
  return fswatch.stat(seg.path)
end

-- Brings one run up to date (new bytes of its segments).
function B:update_run(run)
  if run.resetting then reset_run(run) end
  for _ = 1, 3 do
    local again = false
    for si, seg in ipairs(run.segs) do
      local st = seg_stat(seg)
      if not st then
        seg.missing = true             -- removed: the run is not listed while it is gone
      elseif seg.missing then
        seg.missing = false            -- back (maybe another file): read it again
        reset_run(run)
        again = true
        break
      else
        local r = parse_seg(self, run, si, st)
        if r == "reset" then again = true break end
      end
    end
    if not again then break end
  end
end

-- A run is there while one of its logs is (a file that is not a .wandb log is not one).
local function present(run)
  for _, seg in ipairs(run.segs) do if not seg.missing and not seg.not_log then return true end end
  return false
end

-- refresh([id]): discover new runs, read new bytes; with an id, only that run (when known).
function B:refresh(id)
  if id and self.runs[id] then
    self:roots()
    self:update_run(self.runs[id])
    return
  end
  self:discover()
  for _, run in ipairs(self.order) do self:update_run(run) end
  if self.subscribed then self:sync_watches() end
end

-- }======

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

-- run(e, p, id, full) -> attrs, or nil when there is no such run
function B:run(entity, project, id, full, opts)
  local run = find(self, entity, project, id)
  if not run then return nil end
  return self:attrs(run)
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

-- {====== history rows: re-read from the file at the indexed offsets

local function set_path(row, path, v)
  local node = row
  for i = 1, #path - 1 do
    local k = path[i]
    if type(node[k]) ~= "table" then node[k] = {} end
    node = node[k]
  end
  node[path[#path]] = v
end

local function decode_value(s)
  if s == nil or s == "" then return NULL end
  local v = json.decode(s)
  if v == nil then return NULL end
  return v
end

-- Reads the records of one kind at the indexed offsets (sorted indices into segs/offs), calls
-- emit(idx, rec). One reader per segment, reopened at the next wanted offset when it is far.
local FAR = 256 * 1024
local function read_indexed(run, kind, segs, offs, indices, emit)
  local k, n = 1, #indices
  while k <= n do
    local si = segs[indices[k]]
    local seg = run.segs[si]
    local f = seg and wandbfile.open(seg.path, {offset = offs[indices[k]]})
    if not f then
      errors.raise({message = "local run " .. run.id .. ": cannot read " .. (seg and seg.path or "?"), op = "History"}, 5)
    end
    while k <= n and segs[indices[k]] == si do
      local want = offs[indices[k]]
      if want > f:offset() + FAR then
        f:close()
        f = wandbfile.open(seg.path, {offset = want})
        if not f then break end
      end
      local rec, e = f:read()
      if rec == nil then break end                 -- the file ends here now: skip the rest
      if rec then
        if rec.type == kind then
          while k <= n and segs[indices[k]] == si and offs[indices[k]] < rec.offset do k = k + 1 end
          if k <= n and segs[indices[k]] == si and offs[indices[k]] == rec.offset then
            emit(indices[k], rec)
            k = k + 1
          end
        end
      elseif e.fatal then
        break
      end
    end
    if f then f:close() end
    while k <= n and segs[indices[k]] == si do k = k + 1 end
  end
end

local function read_rows(run, indices, emit)
  read_indexed(run, "history", run.row_seg, run.row_off, indices, function(idx, rec)
    local row = {}
    for _, it in ipairs(rec.items) do set_path(row, item_path(it), decode_value(it.value_json)) end
    if row._step == nil then row._step = run.steps[idx] end
    emit(idx, row)
  end)
end

local function read_stats(run, indices, emit)
  read_indexed(run, "stats", run.stats_seg, run.stats_off, indices, function(idx, rec)
    local row = {_wandb = true, _timestamp = rec.timestamp}
    if rec.timestamp and run.rec.start_time then row._runtime = rec.timestamp - run.rec.start_time end
    for _, it in ipairs(rec.items) do row["system." .. it.key] = decode_value(it.value_json) end
    emit(idx, row)
  end)
end

-- Evenly spaced indices into [1, n], at most `samples`, keeping the first and the last.
local function sample_indices(n, samples)
  if samples == nil or samples == NULL then samples = 500 end
  local out = {}
  if samples <= 0 or n == 0 then return out end
  if n <= samples then for i = 1, n do out[i] = i end return out end
  if samples == 1 then return {n} end
  for i = 0, samples - 1 do out[#out + 1] = math.floor(i * (n - 1) / (samples - 1) + 0.5) + 1 end
  return out
end

-- first index with steps[i] >= step
local function lower_bound(run, step)
  local lo, hi = 1, run.nrows + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if run.steps[mid] < step then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function rows_of(run, indices)
  local rows = {}
  read_rows(run, indices, function(_, row) rows[#rows + 1] = row end)
  return rows
end

-- The sampledHistory rule: rows in [lo, hi] that have every key; each row only those keys
-- (and _step); then sampled.
local function sampled(run, lo, hi, keys, samples)
  local need, uniq, seen = {}, {}, {}
  for _, k in ipairs(keys) do
    if not seen[k] then seen[k] = true; uniq[#uniq + 1] = k end
    if k ~= "_step" then need[#need + 1] = k end
  end
  for _, k in ipairs(need) do if not run.keys[k] then return {} end end
  local indices = {}
  for i = lo, hi do indices[#indices + 1] = i end
  local picked = {}
  read_rows(run, indices, function(_, row)
    for _, k in ipairs(need) do if row[k] == nil then return end end
    local r = {}
    for _, k in ipairs(uniq) do r[k] = row[k] end
    picked[#picked + 1] = r
  end)
  local out = {}
  for _, i in ipairs(sample_indices(#picked, samples)) do out[#out + 1] = picked[i] end
  return out
end

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

-- {====== files

local MIME = {json = "application/json", yaml = "application/x-yaml", yml = "application/x-yaml",
  txt = "text/plain", log = "text/plain", patch = "text/x-diff", py = "text/x-python", png = "image/png",
  jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", svg = "image/svg+xml", html = "text/html",
  csv = "text/csv", md = "text/markdown"}

local function list_files(dir, prefix, out, depth)
  if depth > 16 then return end
  for _, name in ipairs(fswatch.dir(dir) or {}) do
    local p = dir .. "/" .. name
    local st = fswatch.stat(p)
    if st and st.type == "directory" then list_files(p, prefix .. name .. "/", out, depth + 1)
    elseif st and st.type == "file" then out[#out + 1] = {name = prefix .. name, path = p, st = st} end
  end
end

local function like(pattern)
  local parts = {"^"}
  for ch in pattern:gmatch(utf8.charpattern) do
    if ch == "%" then parts[#parts + 1] = ".*"
    elseif ch == "_" then parts[#parts + 1] = "."
    else parts[#parts + 1] = ch:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0") end
  end
  parts[#parts + 1] = "$"
  return table.concat(parts)
end

local function file_url(path) return "file://" .. normalize(absolute(path)) end

-- files(e, p, id, {names, pattern, per_page, cursor}) -> {count, nodes, cursor, has_next}
function B:files(entity, project, id, o)
  local run = find(self, entity, project, id)
  if not run then return nil end
  local byname = {}
  for _, seg in ipairs(run.segs) do
    local list = {}
    list_files(seg.dir .. "/files", "", list, 0)
    for _, f in ipairs(list) do byname[f.name] = f end
  end
  local all = {}
  for _, f in pairs(byname) do all[#all + 1] = f end
  table.sort(all, function(a, b) return a.name < b.name end)
  local list = all
  if o.names and #o.names > 0 then
    local want = {}
    for _, n in ipairs(o.names) do want[n] = true end
    local l = {}
    for _, f in ipairs(list) do if want[f.name] then l[#l + 1] = f end end
    list = l
  end
  if o.pattern and o.pattern ~= NULL then
    local pat = like(o.pattern)
    local l = {}
    for _, f in ipairs(list) do if f.name:match(pat) then l[#l + 1] = f end end
    list = l
  end
  if o.cursor and o.cursor ~= NULL then
    local l = {}
    for _, f in ipairs(list) do if f.name > o.cursor then l[#l + 1] = f end end
    list = l
  end
  local n = math.min(o.per_page or 50, 1000)
  local nodes, last = {}, nil
  for i = 1, math.min(n, #list) do
    local f = list[i]
    local ext = f.name:match("%.([%w]+)$")
    nodes[i] = {id = core.base64("File:" .. f.path), name = f.name, url = file_url(f.path),
      directUrl = file_url(f.path), sizeBytes = f.st.size, mimetype = MIME[ext and ext:lower() or ""] or "application/octet-stream",
      updatedAt = iso(f.st.mtime), md5 = NULL}
    last = f.name
  end
  return {count = #all, nodes = nodes, cursor = last, has_next = #list > #nodes and last ~= nil}
end

-- download(url [, {output = path, max_size = bytes}]) -> {status, headers, body} or nil, err.
-- Only file:// URLs of files inside the local directory.
function B:download(url, opts)
  opts = opts or {}
  if type(url) ~= "string" or not url:match("^file://") then
    error("local backend: only file:// URLs of local run files can be downloaded", 2)
  end
  local path = url:gsub("^file://", ""):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  local root = normalize(self.abs)
  path = normalize(path)
  if path:sub(1, #root + 1) ~= root .. "/" then
    return nil, "not a file of the local run directory " .. self.dir
  end
  local f, err = io.open(path, "rb")
  if not f then
    if fswatch.stat(path) then return nil, err end
    return {status = 404, headers = {}, body = ""}
  end
  local body = f:read("a")
  f:close()
  if opts.max_size and #body > opts.max_size then return nil, "file larger than max_size" end
  if opts.output then
    local out, oerr = io.open(opts.output, "wb")
    if not out then return nil, oerr end
    out:write(body)
    out:close()
    return {status = 200, headers = {["content-length"] = tostring(#body)}}
  end
  return {status = 200, headers = {["content-length"] = tostring(#body)}, body = body}
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
