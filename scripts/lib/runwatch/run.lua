-- A W&B run as scripts see it (names follow wandb.Api's Run): its fields (fields.lua says which
-- and how each is shown), config values unwrapped from {value, desc}, summary, tags; history and
-- scan_history; and update(), which writes only what the script changed, key by key, on top of a
-- fresh read, so a concurrent writer's other keys survive. In dry-run the change is printed, not
-- sent. A Run wraps a run record (a backend's plain table in script terms, docs/backends.md).
local core = require "runwatch.core"
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local task = require "runwatch.task"
local duration = require "runwatch.duration"
local effects = require "runwatch.effects"
local run_changes = require "runwatch.run_changes"
local fields = require "runwatch.fields"

local M = {}
local Run = {}          -- methods
local RunMT = {__name = "runwatch.Run"}

local SETTABLE = run_changes.SETTABLE

local function null(v) if v == json.null then return nil end return v end

local decode_obj = fields.decode_object
local unwrap = run_changes.unwrap
M.unwrap = unwrap

-- new(api, entity, project, record, full) -> Run
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
  local attrs = s.api.backend:run(s.entity, s.project, s.attrs.id, true)
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

-- One way to show a field per view of fields.lua (run internals s, the field's row f, the Run)
local VIEWS = {}
VIEWS[true] = function(s, f)
  local v = s.attrs[f.name]
  if v == nil and f.optional then
    -- a field no fragment carries: asked for (or derived) on first read, then kept
    v = s.api.backend:field(s.entity, s.project, s.attrs.id, f.name, s.attrs)
    if v == nil then v = json.null end
    s.attrs[f.name] = v
  end
  return null(v)
end
VIEWS.computed = function(s, f) return f.get(s) end
VIEWS.list = function(s, f)
  local v = null(s.attrs[f.name])
  if type(v) ~= "table" then return nil end
  local out = {}
  for i, x in ipairs(v) do out[i] = x end
  return json.array(out)
end
VIEWS.user = function(s, f)
  local u = null(s.attrs[f.name])
  return u and {name = null(u.name), username = null(u.username)} or nil
end
VIEWS.tags = function(s, f)
  if not s.tags then
    local t = {}
    for i, v in ipairs(null(s.attrs[f.name]) or {}) do t[i] = v end
    s.tags = json.array(t)
  end
  return s.tags
end
VIEWS.config = function(s, f, self)
  if not s.config then s.config = unwrap(config_raw(self)) end
  return s.config
end
-- (the decoded object is kept as s.summary / s.system_metrics: run_changes compares the
-- script's s.summary with the record's)
VIEWS.object = function(s, f, self)
  if s[f.name] == nil then
    ensure_field(self, f.name)
    s[f.name] = decode_obj(s.attrs[f.name], f.name, self.path)
  end
  return s[f.name]
end
VIEWS.last_step = function(s, f, self)
  local v = math.tointeger(null(s.attrs.last_step))
  if v then return v end
  if not s.full then ensure_field(self, "last_step"); return self.last_step end
  return -1
end
VIEWS.runtime = function(s, f, self)
  local v = null(s.attrs.runtime)
  if v ~= nil then return tonumber(v) end
  local sm = self.summary
  local rt = sm._runtime or (type(sm._wandb) == "table" and sm._wandb.runtime)
  return tonumber(rt)
end

-- the getters: every name of every row of fields.lua with a view
local getters = {}
for _, f in ipairs(fields.FIELDS) do
  if f.view ~= false then
    local view = VIEWS[f.view or true]
    assert(view, "fields.lua: no view " .. tostring(f.view) .. " in run.lua")
    local function g(s, self) return view(s, f, self) end
    for _, n in ipairs({f.name, table.unpack(f.also or {})}) do getters[n] = g end
  end
end
M.getters = getters

RunMT.__index = function(self, k)
  local s = st(self)
  local m = Run[k]
  if m then return m end
  if s.over[k] ~= nil then return s.over[k] end
  local g = getters[k]
  if g then return g(s, self) end
  if k == "rawconfig" then return config_raw(self) end
  if k == "metadata" then
    if s.metadata == nil then s.metadata = Run.fetch_metadata(self) or false end
    return s.metadata or nil
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
  local attrs = s.api.backend:run(s.entity, s.project, s.attrs.id, true)
  if not attrs then
    errors.raise({message = "Could not find run " .. self.path, op = "Run"}, 2)
  end
  s.attrs, s.full = attrs, true
  s.config_raw, s.config, s.summary, s.system_metrics, s.tags, s.metadata = nil, nil, nil, nil, nil, nil
  s.over = {}
  return self
end

-- The effect payload of a write to this run (effect_kinds.lua)
local function target(self, fields)
  local s = st(self)
  local p = {api = s.api.id, run = self.path}
  for k, v in pairs(fields) do p[k] = v end
  return p
end
M.payload = target

-- After a write: the run shows what the server now holds (the effect's fresh read with our
-- changes), or, when the write was queued by a handler, our changes on what it had.
local function written(self, res, change)
  local s = st(self)
  if res and res.attrs then
    s.attrs, s.full = res.attrs, true
  elseif change then
    local p = run_changes.plan(change, s.attrs, self.path)
    s.attrs = run_changes.applied(s.attrs, p)
  end
  s.config_raw, s.config, s.summary, s.tags = nil, nil, nil, nil
  s.over = {}
end

-- Runs a write effect; raises the CommError when it failed (as the W&B Python API does).
local function write(self, kind, fields, change, level)
  local res, err = effects.perform(kind, target(self, fields), {level = level + 1})
  if res == nil then error(err, 0) end
  if type(res) ~= "table" or res.dry_run then return true end
  if res.attrs or (res.queued and change) then written(self, res, change) end
  return true
end

-- run:update() -> true when something was written (or planned in dry-run, or queued by a
-- handler), false when nothing changed. Fields the script did not change are not sent at all;
-- changed config/summary keys are applied on top of values read just before the write.
function Run.update(self)
  local c = run_changes.of(st(self), self.path)
  if not c then
    core.log("debug", "update " .. self.path .. ": nothing changed")
    return false
  end
  return write(self, "update", {change = c}, c, 2)
end
Run.save = Run.update

-- Key-level edits written at once: add_tags/remove_tags (set semantics), set_summary,
-- set_config, append_notes. Each re-reads the run and changes only its keys.
local function list_of(...)
  local first = ...
  if type(first) == "table" then return first end
  return {...}
end

function Run.add_tags(self, ...)
  local tags = list_of(...)
  return write(self, "tag", {tags = tags}, {tags_added = tags}, 2)
end

function Run.remove_tags(self, ...)
  local tags = list_of(...)
  return write(self, "untag", {tags = tags}, {tags_removed = tags}, 2)
end

function Run.set_summary(self, kv)
  if type(kv) ~= "table" then error("bad argument #1 to 'set_summary' (table expected)", 2) end
  return write(self, "annotate", {kv = kv}, {summary_set = kv}, 2)
end

function Run.set_config(self, kv)
  if type(kv) ~= "table" then error("bad argument #1 to 'set_config' (table expected)", 2) end
  return write(self, "config", {kv = kv}, {config_set = kv}, 2)
end

function Run.append_notes(self, line)
  if type(line) ~= "string" then error("bad argument #1 to 'append_notes' (string expected)", 2) end
  return write(self, "note", {line = line}, {notes_append = line}, 2)
end

-- run:history{keys=, samples=500, stream="default"|"system", x_axis="_step"} -> rows
function Run.history(self, o)
  o = o or {}
  local s = st(self)
  if o.keys ~= nil and type(o.keys) ~= "table" then error("bad option keys (list of strings expected)", 2) end
  if o.keys and (o.stream or "default") ~= "default" then error("keys can only be given for the default stream", 2) end
  local rows = s.api.backend:history(s.entity, s.project, s.attrs.id, {keys = o.keys,
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
    local rows = backend:history(s.entity, s.project, s.attrs.id, {stream = "system", samples = o.samples or 100000}) or {}
    local i = 0
    return function() i = i + 1; return rows[i] end
  end
  local last = math.tointeger(null(s.attrs.last_step))
  if not last then last = backend:last_step(s.entity, s.project, s.attrs.id, o.stream) end
  local stop = last + 1
  if o.max_step and o.max_step < stop then stop = o.max_step end
  -- one window [from, to): all its rows, asking again from the last row when the server capped it
  local function fetch(from, to)
    local out = {}
    while from < to do
      local rows = backend:history_page(s.entity, s.project, s.attrs.id, {min_step = from,
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

-- run:alert{title=, text=, level="INFO"|"WARN"|"ERROR", wait="5m"} -> true
function Run.alert(self, o)
  if type(o) ~= "table" then error("bad argument #1 to 'alert' (table expected)", 2) end
  local level = type(o.level) == "string" and o.level:upper() or (o.level == nil and "INFO" or o.level)
  local wait = o.wait and duration.parse(o.wait, "wait", 2) or 60
  return write(self, "wandb_alert", {title = o.title, text = o.text, level = level, wait = wait}, nil, 2)
end

-- run:files{names=, pattern=, per_page=} -> lazy list of File; run:file(name) -> File
function Run.files(self, o)
  local s = st(self)
  return require("runwatch.files").list(s.api.backend, s.entity, s.project, s.attrs.id, o)
end

function Run.file(self, name)
  if type(name) ~= "string" then error("bad argument #1 to 'file' (string expected)", 2) end
  local s = st(self)
  return require("runwatch.files").one(s.api.backend, s.entity, s.project, s.attrs.id, name)
end

-- run:logged_artifacts{per_page = 100} / run:used_artifacts{...} -> lazy lists of Artifact
-- (the versions this run logged / declared as inputs; artifacts.lua)
function Run.logged_artifacts(self, o)
  local s = st(self)
  return require("runwatch.artifacts").of_run(s.api, s.entity, s.project, s.attrs.id, "logged", o)
end

function Run.used_artifacts(self, o)
  local s = st(self)
  return require("runwatch.artifacts").of_run(s.api, s.entity, s.project, s.attrs.id, "used", o)
end

-- run:delete{artifacts = false}: deletes the run on W&B. In dry-run the plan is printed and
-- nothing is sent.
function Run.delete(self, o)
  o = o or {}
  local s = st(self)
  local res, err = effects.perform("delete", target(self, {storage_id = s.attrs.storage_id, artifacts = o.artifacts and true or false}),
    {level = 2})
  if res == nil then error(err, 0) end
  if not (type(res) == "table" and res.dry_run) then s.api.cache[self.path] = nil end
  return true
end

-- run.metadata: wandb-metadata.json (git remote and commit, host, ...) or nil
function Run.fetch_metadata(self)
  local s = st(self)
  local ok, res = pcall(function()
    local page = s.api.backend:files(s.entity, s.project, s.attrs.id, {names = {"wandb-metadata.json"}})
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
