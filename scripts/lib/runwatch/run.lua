-- A W&B run as scripts see it (names follow wandb.Api's Run): fields read from the run's attrs,
-- config values unwrapped from {value, desc}, summary, tags; history and scan_history; and
-- update(), which writes only what the script changed, key by key, on top of a fresh read, so
-- a concurrent writer's other keys survive. In dry-run the change is printed, not sent.
local core = require "runwatch.core"
local json = require "runwatch.json"
local diff = require "runwatch.diff"
local errors = require "runwatch.errors"
local task = require "runwatch.task"

local M = {}
local Run = {}          -- methods
local RunMT = {__name = "runwatch.Run"}

local INTERNAL_CONFIG = {_wandb = true, wandb_version = true}
local SETTABLE = {name = "displayName", display_name = "displayName", notes = "notes",
  description = "description", group = "group", job_type = "jobType"}

local function null(v) if v == json.null then return nil end return v end

local function decode_obj(s, what, run)
  if s == nil or s == json.null then return {} end
  if type(s) == "table" then return s end
  if type(s) ~= "string" then
    errors.raise({message = string.format("malformed %s for run %s: %s instead of a JSON string", what, run, type(s))}, 3)
  end
  local v, err = json.decode(s)
  if type(v) ~= "table" then
    errors.raise({message = string.format("malformed %s JSON for run %s: %s", what, run, tostring(err))}, 3)
  end
  return v
end

-- The unwrapped view of a raw config: {lr = 0.1} from {"lr": {"value": 0.1, "desc": null}}
local function unwrap(raw)
  local out = {}
  for k, v in pairs(raw) do
    if not INTERNAL_CONFIG[k] then
      if type(v) == "table" and not json.is_array(v) and v.value ~= nil then out[k] = v.value
      else out[k] = v end
    end
  end
  return out
end
M.unwrap = unwrap

-- new(api, entity, project, attrs, full) -> Run
function M.new(api, entity, project, attrs, full)
  local r = {_ = {api = api, entity = entity, project = project, attrs = attrs, full = full ~= false,
    over = {}}}
  return setmetatable(r, RunMT)
end

local function st(self) return rawget(self, "_") end

-- Decoded config/summary, created on first use (10,000 listed runs cost nothing until read).
-- A run listed with fewer fields (lazy lists, watches) loads in full only when a missing field
-- is read.
local function ensure_field(self, field)
  local s = st(self)
  if s.full or s.attrs[field] ~= nil then return end
  -- fill in the missing fields without dropping what the script already read or changed
  local attrs = s.api.backend:run(s.entity, s.project, s.attrs.name, true)
  if not attrs then errors.raise({message = "Could not find run " .. self.path, op = "Run"}, 3) end
  for k, v in pairs(attrs) do if s.attrs[k] == nil then s.attrs[k] = v end end
  s.full = true
end

local function config_raw(self)
  local s = st(self)
  if not s.config_raw then
    ensure_field(self, "config")
    s.config_raw = decode_obj(s.attrs.config, "config", self.path)
  end
  return s.config_raw
end

local getters = {
  id = function(s) return s.attrs.name end,
  storage_id = function(s) return s.attrs.id end,
  name = function(s) return null(s.attrs.displayName) end,
  display_name = function(s) return null(s.attrs.displayName) end,
  state = function(s) return null(s.attrs.state) end,
  notes = function(s) return null(s.attrs.notes) end,
  description = function(s) return null(s.attrs.description) end,
  group = function(s) return null(s.attrs.group) end,
  job_type = function(s) return null(s.attrs.jobType) end,
  created_at = function(s) return null(s.attrs.createdAt) end,
  heartbeat_at = function(s) return null(s.attrs.heartbeatAt) end,
  sweep_name = function(s) return null(s.attrs.sweepName) end,
  commit = function(s) return null(s.attrs.commit) end,
  read_only = function(s) return null(s.attrs.readOnly) end,
  project_id = function(s) return null(s.attrs.projectId) end,
  history_line_count = function(s) return null(s.attrs.historyLineCount) end,
  entity = function(s) return s.entity end,
  project = function(s) return s.project end,
  user = function(s)
    local u = null(s.attrs.user)
    return u and {name = null(u.name), username = null(u.username)} or nil
  end,
}

RunMT.__index = function(self, k)
  local s = st(self)
  local m = Run[k]
  if m then return m end
  if s.over[k] ~= nil then return s.over[k] end
  local g = getters[k]
  if g then return g(s) end
  if k == "path" then return s.entity .. "/" .. s.project .. "/" .. s.attrs.name end
  if k == "url" then
    return s.api.backend:app_url() .. "/" .. s.entity .. "/" .. s.project .. "/runs/" .. s.attrs.name
  end
  if k == "tags" then
    if not s.tags then
      local t = {}
      for i, v in ipairs(null(s.attrs.tags) or {}) do t[i] = v end
      s.tags = json.array(t)
    end
    return s.tags
  end
  if k == "config" then
    if not s.config then s.config = unwrap(config_raw(self)) end
    return s.config
  end
  if k == "rawconfig" then return config_raw(self) end
  if k == "summary" or k == "summary_metrics" then
    if not s.summary then
      ensure_field(self, "summaryMetrics")
      s.summary = decode_obj(s.attrs.summaryMetrics, "summary", self.path)
    end
    return s.summary
  end
  if k == "system_metrics" then
    if not s.system_metrics then
      ensure_field(self, "systemMetrics")
      s.system_metrics = decode_obj(s.attrs.systemMetrics, "systemMetrics", self.path)
    end
    return s.system_metrics
  end
  if k == "last_step" then
    local hk = null(s.attrs.historyKeys)
    if hk and null(hk.lastStep) then return hk.lastStep end
    if not s.full then ensure_field(self, "historyKeys"); return self.last_step end
    return -1
  end
  if k == "metadata" then
    if s.metadata == nil then s.metadata = Run.fetch_metadata(self) or false end
    return s.metadata or nil
  end
  if k == "updated_at" then
    if s.attrs.updatedAt == nil then s.attrs.updatedAt = s.api.backend:updated_at(s.entity, s.project, s.attrs.name) or json.null end
    return null(s.attrs.updatedAt)
  end
  if k == "runtime" then
    local sm = self.summary
    local rt = sm._runtime or (type(sm._wandb) == "table" and sm._wandb.runtime)
    return tonumber(rt)
  end
  return nil
end

RunMT.__newindex = function(self, k, v)
  local s = st(self)
  if SETTABLE[k] then
    if v ~= nil and type(v) ~= "string" then error("run." .. k .. " must be a string or nil", 2) end
    s.over[k == "display_name" and "name" or k] = v == nil and json.null or v
    if k == "name" then s.over.display_name = v == nil and json.null or v end
    if k == "display_name" then s.over.name = v == nil and json.null or v end
    return
  end
  if k == "tags" then
    if type(v) ~= "table" then error("run.tags must be a list of strings", 2) end
    for i, t in ipairs(v) do if type(t) ~= "string" then error("run.tags[" .. i .. "] must be a string", 2) end end
    s.tags = json.array(v)
    return
  end
  if k == "config" or k == "summary" then
    if type(v) ~= "table" then error("run." .. k .. " must be a table", 2) end
    if k == "config" then config_raw(self) else local _ = self.summary end
    s[k] = v
    return
  end
  error("run." .. tostring(k) .. " is read-only", 2)
end

RunMT.__tostring = function(self)
  local s = st(self)
  return string.format("<Run %s (%s)>", self.path, tostring(null(s.attrs.state)))
end

RunMT.__eq = function(a, b) return a.path == b.path end

-- run:load(force) -- re-fetch the run (full data). Local edits not yet written are dropped.
function Run.load(self, force)
  local s = st(self)
  if not force and s.full then return self end
  local attrs = s.api.backend:run(s.entity, s.project, s.attrs.name, true)
  if not attrs then
    errors.raise({message = "Could not find run " .. self.path, op = "Run"}, 2)
  end
  s.attrs, s.full = attrs, true
  s.config_raw, s.config, s.summary, s.system_metrics, s.tags, s.metadata = nil, nil, nil, nil, nil, nil
  s.over = {}
  return self
end

-- What the script changed since the run was loaded: {scalars, tags_added, tags_removed,
-- config_set, config_removed, summary_set, summary_removed}; nil when nothing.
local function changes(self)
  local s = st(self)
  local c = {scalars = {}, n = 0}
  for k, v in pairs(s.over) do
    local field = SETTABLE[k]
    if field and k ~= "display_name" then
      local old = null(s.attrs[field])
      local new = null(v)
      if old ~= new then c.scalars[k] = v; c.n = c.n + 1 end
    end
  end
  if s.tags then
    c.tags_added, c.tags_removed = diff.tags(null(s.attrs.tags) or {}, s.tags)
    c.n = c.n + #c.tags_added + #c.tags_removed
  end
  if s.config then
    local orig = unwrap(decode_obj(s.attrs.config, "config", self.path))
    c.config_set, c.config_removed = diff.keys(orig, s.config)
    c.n = c.n + #c.config_removed
    for _ in pairs(c.config_set) do c.n = c.n + 1 end
  end
  if s.summary then
    local orig = decode_obj(s.attrs.summaryMetrics, "summary", self.path)
    c.summary_set, c.summary_removed = diff.keys(orig, s.summary)
    c.n = c.n + #c.summary_removed
    for _ in pairs(c.summary_set) do c.n = c.n + 1 end
  end
  return c.n > 0 and c or nil
end

-- The plan: merged values on top of fresh attrs, and the change lines to print.
local function plan(self, c, fresh)
  local p = {lines = {}, fields = {}, vars = {}}
  local function line(s) p.lines[#p.lines + 1] = s end
  local names = {name = {"display_name", "displayName"}, notes = {"notes", "notes"},
    description = {"description", "description"}, group = {"groupName", "groupName"},
    job_type = {"jobType", "jobType"}}
  local keys = {}
  for k in pairs(c.scalars) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = c.scalars[k]
    local var, input = names[k][1], names[k][2]
    p.vars[var] = v
    p.fields[#p.fields + 1] = {var = var, input = input, type = "String"}
    line(string.format("  %s: %s -> %s", k, diff.show(null(fresh[SETTABLE[k]])), diff.show(null(v))))
  end
  if c.tags_added and (#c.tags_added + #c.tags_removed) > 0 then
    local have, out, seen = {}, {}, {}
    for _, t in ipairs(c.tags_removed) do have[t] = "drop" end
    for _, t in ipairs(null(fresh.tags) or {}) do
      if have[t] ~= "drop" and not seen[t] then out[#out + 1] = t; seen[t] = true end
    end
    for _, t in ipairs(c.tags_added) do if not seen[t] then out[#out + 1] = t; seen[t] = true end end
    p.vars.tags = json.array(out)
    p.fields[#p.fields + 1] = {var = "tags", input = "tags", type = "[String!]"}
    local parts = {}
    for _, t in ipairs(c.tags_added) do parts[#parts + 1] = "+" .. t end
    for _, t in ipairs(c.tags_removed) do parts[#parts + 1] = "-" .. t end
    line("  tags: " .. table.concat(parts, " "))
    p.tags = out
  end
  local function merge(kind, set, removed, fresh_json, wrap)
    if not set then return end
    local n = #removed
    for _ in pairs(set) do n = n + 1 end
    if n == 0 then return end
    local raw = decode_obj(fresh_json, kind, self.path)
    local view = wrap and unwrap(raw) or raw
    local ks = {}
    for k in pairs(set) do ks[#ks + 1] = k end
    for _, k in ipairs(removed) do ks[#ks + 1] = k end
    table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(ks) do
      local new = set[k]
      line(string.format("  %s.%s: %s -> %s", kind, tostring(k), diff.show(view[k]), new == nil and "(removed)" or diff.show(new)))
      if new == nil then raw[k] = nil
      elseif wrap then
        local old = raw[k]
        local desc = (type(old) == "table" and not json.is_array(old) and old.value ~= nil) and old.desc or json.null
        raw[k] = {value = new, desc = desc == nil and json.null or desc}
      else raw[k] = new end
    end
    return raw
  end
  local cfg = merge("config", c.config_set, c.config_removed, fresh.config, true)
  if cfg then
    p.vars.config = json.encode(cfg)
    p.fields[#p.fields + 1] = {var = "config", input = "config", type = "JSONString"}
    p.config = p.vars.config
  end
  local sm = merge("summary", c.summary_set, c.summary_removed, fresh.summaryMetrics, false)
  if sm then
    p.vars.summaryMetrics = json.encode(sm)
    p.fields[#p.fields + 1] = {var = "summaryMetrics", input = "summaryMetrics", type = "JSONString"}
    p.summary = p.vars.summaryMetrics
  end
  return p
end

-- run:update([{fresh = true}]) -> true when something was written (or planned in dry-run),
-- false when nothing changed. Fields the script did not change are not sent at all; changed
-- config/summary keys are applied on top of values read just before the write.
function Run.update(self, opts)
  opts = opts or {}
  local s = st(self)
  local c = changes(self)
  if not c then
    core.log("debug", "update " .. self.path .. ": nothing changed")
    return false
  end
  local fresh = s.attrs
  if opts.fresh ~= false and not s.api.dry_run_no_read then
    fresh = s.api.backend:run(s.entity, s.project, s.attrs.name, true)
    if not fresh then errors.raise({message = "Could not find run " .. self.path, op = "Run"}, 2) end
  end
  local p = plan(self, c, fresh)
  if s.api.dry_run then
    s.api:report_plan("update " .. self.path, p.lines)
    return true
  end
  if #p.fields > 0 then
    local vars = {id = fresh.id}
    for k, v in pairs(p.vars) do vars[k] = v == nil and json.null or v end
    s.api.backend:upsert(vars, p.fields)
    s.api:audit("update", self.path, table.concat(p.lines, "\n"))
  end
  -- the run now shows what the server holds: fresh values plus our changes
  if p.config then fresh.config = p.config end
  if p.summary then fresh.summaryMetrics = p.summary end
  if p.tags then fresh.tags = p.tags end
  for k, v in pairs(c.scalars) do fresh[SETTABLE[k]] = v end
  s.attrs, s.full = fresh, true
  s.config_raw, s.config, s.summary, s.tags = nil, nil, nil, nil
  s.over = {}
  return true
end
Run.save = Run.update

-- Key-level edits written at once: add_tags/remove_tags (set semantics), set_summary,
-- set_config, set_notes, append_notes. Each re-reads the run and changes only its keys.
local function edit(self, fn)
  local s = st(self)
  Run.load(self, true)
  fn(self)
  return Run.update(self, {fresh = false})
end

function Run.add_tags(self, ...)
  local add = type(...) == "table" and ... or {...}
  return edit(self, function(r)
    local t = r.tags
    local have = {}
    for _, x in ipairs(t) do have[x] = true end
    for _, x in ipairs(add) do
      if type(x) ~= "string" then error("tags must be strings", 4) end
      if not have[x] then t[#t + 1] = x; have[x] = true end
    end
  end)
end

function Run.remove_tags(self, ...)
  local rm = type(...) == "table" and ... or {...}
  return edit(self, function(r)
    local drop = {}
    for _, x in ipairs(rm) do drop[x] = true end
    local keep = {}
    for _, x in ipairs(r.tags) do if not drop[x] then keep[#keep + 1] = x end end
    r.tags = keep
  end)
end

function Run.set_summary(self, kv)
  if type(kv) ~= "table" then error("bad argument #1 to 'set_summary' (table expected)", 2) end
  return edit(self, function(r) local sm = r.summary; for k, v in pairs(kv) do sm[k] = v end end)
end

function Run.set_config(self, kv)
  if type(kv) ~= "table" then error("bad argument #1 to 'set_config' (table expected)", 2) end
  return edit(self, function(r) local cf = r.config; for k, v in pairs(kv) do cf[k] = v end end)
end

function Run.append_notes(self, line)
  if type(line) ~= "string" then error("bad argument #1 to 'append_notes' (string expected)", 2) end
  return edit(self, function(r)
    local n = r.notes
    r.notes = (n and n ~= "" and (n:sub(-1) == "\n" and n or n .. "\n") or "") .. line
  end)
end

-- run:history{keys=, samples=500, stream="default"|"system", x_axis="_step"} -> rows
function Run.history(self, o)
  o = o or {}
  local s = st(self)
  if o.keys ~= nil and type(o.keys) ~= "table" then error("bad option keys (list of strings expected)", 2) end
  if o.keys and (o.stream or "default") ~= "default" then error("keys can only be given for the default stream", 2) end
  local rows = s.api.backend:history(s.entity, s.project, s.attrs.name, {keys = o.keys,
    samples = o.samples or 500, stream = o.stream or "default", x_axis = o.x_axis or "_step"})
  if not rows then errors.raise({message = "Could not find run " .. self.path, op = "RunFullHistory"}, 2) end
  return rows
end

-- run:scan_history{keys=, page_size=, min_step=0, max_step=} -> iterator over every row,
-- paged by step (no step repeated or skipped at page boundaries). Without a page_size, windows
-- of 10,000 steps (a tenth of the SDK's requests); two windows are fetched ahead while the
-- script handles the current one. If the server caps a window's rows below what it holds, the
-- rest of that window is asked for before moving on, so no row is skipped.
function Run.scan_history(self, o)
  o = o or {}
  local s = st(self)
  local page_size = o.page_size or 10000
  if math.type(page_size) ~= "integer" or page_size < 1 then error("bad option page_size (positive integer expected)", 2) end
  local backend = s.api.backend
  if o.stream == "system" or o.stream == "events" then
    -- the system stream has no step ranges: one request for every event row, then iterate
    local rows = backend:history(s.entity, s.project, s.attrs.name, {stream = "system", samples = o.samples or 100000}) or {}
    local i = 0
    return function() i = i + 1; return rows[i] end
  end
  local hk = null(s.attrs.historyKeys)
  local last = hk and math.tointeger(null(hk.lastStep))
  if not last then last = backend:last_step(s.entity, s.project, s.attrs.name, o.stream) end
  local stop = last + 1
  if o.max_step and o.max_step < stop then stop = o.max_step end
  -- one window [from, to): all its rows, asking again from the last row when the server capped it
  local function fetch(from, to)
    local out = {}
    while from < to do
      local rows = backend:history_page(s.entity, s.project, s.attrs.name, {min_step = from,
        max_step = to, page_size = page_size, keys = o.keys, stream = o.stream})
      for _, r in ipairs(rows) do out[#out + 1] = r end
      local tail = rows[#rows] and math.tointeger(rows[#rows]._step)
      if #rows < page_size or not tail or tail + 1 >= to then break end
      from = tail + 1
    end
    return out
  end
  local queue = {}            -- windows being fetched, in order
  local next_off = o.min_step or 0
  local function fill()
    while #queue < 2 and next_off < stop do
      local from, to = next_off, math.min(next_off + page_size, stop)
      next_off = to
      local slot = {}
      slot.task = task.new(function() slot.rows = fetch(from, to) end, {quiet = true})
      queue[#queue + 1] = slot
    end
  end
  fill()
  local rows, i = {}, 0
  return function()
    while true do
      i = i + 1
      if rows[i] ~= nil then return rows[i] end
      local slot = table.remove(queue, 1)
      if not slot then return nil end
      local ok, err = slot.task:wait()
      if not ok then error(slot.task.errvalue or err, 0) end
      rows, i = slot.rows or {}, 0
      fill()
    end
  end
end

-- run:alert{title=, text=, level="INFO"|"WARN"|"ERROR", wait="5m"}
function Run.alert(self, o)
  if type(o) ~= "table" then error("bad argument #1 to 'alert' (table expected)", 2) end
  if type(o.title) ~= "string" or o.title == "" then error("alert needs a title", 2) end
  local level = (o.level or "INFO"):upper()
  if level ~= "INFO" and level ~= "WARN" and level ~= "ERROR" then
    error("bad alert level '" .. tostring(o.level) .. "' (INFO, WARN or ERROR)", 2)
  end
  local wait = o.wait and require("runwatch.schedule").duration(o.wait, "wait", 2) or 60
  local s = st(self)
  local vars = {entityName = s.entity, projectName = s.project, runName = s.attrs.name,
    title = o.title, text = o.text or "", severity = level, waitDuration = math.floor(wait * 1000)}
  if s.api.dry_run then
    s.api:report_plan("alert " .. self.path, {"  " .. level .. ": " .. o.title .. (o.text and (" -- " .. o.text) or "")})
    return true
  end
  local ok = s.api.backend:alert(vars)
  s.api:audit("alert", self.path, level .. ": " .. o.title)
  return ok
end

-- run:files{names=, pattern=, per_page=} -> lazy list of File; run:file(name) -> File
function Run.files(self, o)
  local s = st(self)
  return require("runwatch.files").list(s.api.backend, s.entity, s.project, s.attrs.name, o)
end

function Run.file(self, name)
  if type(name) ~= "string" then error("bad argument #1 to 'file' (string expected)", 2) end
  local s = st(self)
  return require("runwatch.files").one(s.api.backend, s.entity, s.project, s.attrs.name, name)
end

-- run:delete{artifacts = false}: deletes the run on W&B. In dry-run the plan is printed and
-- nothing is sent.
function Run.delete(self, o)
  o = o or {}
  local s = st(self)
  if s.api.dry_run then
    s.api:report_plan("delete " .. self.path, {"  artifacts: " .. (o.artifacts and "deleted too" or "kept")})
    return true
  end
  s.api.backend:delete_run(s.attrs.id, o.artifacts)
  s.api:audit("delete", self.path, o.artifacts and "with artifacts" or "artifacts kept")
  s.api.cache[self.path] = nil
  return true
end

-- run.metadata: wandb-metadata.json (git remote and commit, host, ...) or nil
function Run.fetch_metadata(self)
  local s = st(self)
  local ok, res = pcall(function()
    local page = s.api.backend:files(s.entity, s.project, s.attrs.name, {names = {"wandb-metadata.json"}})
    local node = page and page.nodes[1]
    if not node or not null(node.url) then return nil end
    local r, err = s.api.backend:download(node.url)
    if not r or r.status ~= 200 then
      core.log("debug", "metadata of " .. self.path .. ": " .. tostring(err or ("HTTP " .. r.status)))
      return nil
    end
    return json.decode(r.body)
  end)
  if not ok then core.log("debug", "metadata of " .. self.path .. ": " .. tostring(res)); return nil end
  return res
end

M.Run = Run
M.MT = RunMT
return M
