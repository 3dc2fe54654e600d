-- Reads W&B run directories for the local backend: finds the run logs (*.wandb) under the
-- roots, reads what was appended to each since the last time, and applies the records to a
-- per-run state: the run record's fields, config and summary trees (leaves kept as JSON text),
-- the history and stats index (file offsets), the exit, read errors. Methods it adds to the
-- backend: roots, dir_files, discover, update_run, refresh. See local/backend.lua.
local core = require "runwatch.core"
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local wandbfile = require "runwatch.wandbfile"
local fswatch = require "runwatch.fswatch"
local progress = require "runwatch.progress"

local M = {}
local B = {}          -- methods installed into the backend
M.methods = B

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
  run.artifacts = {logged = {}, used = {}, seen = {}}   -- artifact / use_artifact records
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
  elseif ty == "artifact" or ty == "use_artifact" then
    -- what the run logged / declared as input (issue 16 item 5); a record applied again after a
    -- stopped job is recognised by its place
    local where = si .. ":" .. rec.offset
    if not run.artifacts.seen[where] then
      run.artifacts.seen[where] = true
      local list = ty == "artifact" and run.artifacts.logged or run.artifacts.used
      list[#list + 1] = {name = rec.name, type = rec.artifact_type, digest = rec.digest, id = rec.id,
        description = rec.description, metadata = rec.metadata, aliases = rec.aliases, tags = rec.tags,
        entity = rec.entity, project = rec.project}
    end
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
          -- k.has is set once its logs are registered (below): a job stopped by its CPU budget
          -- in between must find this directory again next time
          for _, n in ipairs(files) do found[#found + 1] = {k.path .. "/" .. n, k.path, k} end
          if #files == 0 and self.subscribed and (name:match("^run%-") or name:match("^offline%-run%-")) then
            self:watch_path(k.path)     -- a run directory whose log is not there yet
          end
        end
      end
    end
  end
  for _, f in ipairs(found) do
    if not self.segs[f[1]] then add_segment(self, f[1], f[2]) end
  end
  for _, f in ipairs(found) do if f[3] then f[3].has = true end end
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
  -- the first listing reads every run's log (thousands of runs: seconds), so on a terminal it
  -- shows a transient bar after half a second; later refreshes read only new bytes
  local bar
  if not self.listed then
    local on, forced = progress.wanted(self.progress, true)
    bar = progress.new{enabled = on, unit = "runs", total = #self.order, delay = not forced and 0.5 or 0}
  end
  for i, run in ipairs(self.order) do
    self:update_run(run)
    if bar then bar.done = i; bar:draw() end
  end
  if bar then bar:clear() end
  self.listed = true
  if self.subscribed then self:sync_watches() end
end

-- }======

M.iso, M.basename, M.dirname, M.is_dir, M.absolute, M.normalize = iso, basename, dirname, is_dir, absolute, normalize
M.present, M.item_path, M.tree_json, M.safe_tree_json = present, item_path, tree_json, safe_tree_json

return M
