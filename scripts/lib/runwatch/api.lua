-- The user API, named as wandb.Api: api.run(path), api.runs(path, filters, opts), api.flush(),
-- api.default_entity, api.Api{...} for another server or key, api.open("local:DIR"). Results
-- are cached per api until api.flush(). The module itself is the default api (settings from
-- the environment, or the local backend with --local DIR).
local core = require "runwatch.core"
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local paths = require "runwatch.wb.paths"
local filters_mod = require "runwatch.filters"
local run_mod = require "runwatch.run"
local runs_mod = require "runwatch.runs"
local effects = require "runwatch.effects"
local duration = require "runwatch.duration"
require "runwatch.artifact_writes"          -- installs the Artifact write methods
local options = require "runwatch.options"

local M = {}
local Api = {}
local ApiMT = {__name = "runwatch.Api"}

ApiMT.__index = function(self, k)
  if k == "default_entity" then
    local s = rawget(self, "_")
    if not s.default_entity then s.default_entity = s.backend:default_entity() end
    return s.default_entity
  end
  local m = Api[k]
  if m then
    -- api.run(path) and api:run(path) both work
    return function(a, ...)
      if a == self then return m(self, ...) end
      return m(self, a, ...)
    end
  end
  local s = rawget(self, "_")
  return s[k]
end

-- Api{base_url=, api_key=, entity=, project=, timeout=, deadline=, retry_base=, retry_cap=,
--     rate=, burst=, concurrency=, max_size=, local_dir=} -> Api
local KNOWN = options.set{"base_url", "api_key", "entity", "project", "timeout", "deadline",
  "retry_base", "retry_cap", "rate", "burst", "concurrency", "max_size", "local_dir"}

-- new_api(o, id, level): level is where errors point (the script that called Api or open)
local function new_api(o, id, level)
  o = o or {}
  level = level or 3
  if type(o) ~= "table" then error("bad argument #1 to 'Api' (table expected)", level) end
  options.check("Api", o, KNOWN, level)
  local backend
  if o.local_dir then
    backend = require("runwatch.local.backend").new(o.local_dir)
  else
    local d = duration.parse
    backend = require("runwatch.wb.backend").new(o, {
      timeout = o.timeout and d(o.timeout, "timeout", level) or nil,
      deadline = o.deadline and d(o.deadline, "deadline", level) or nil,
      retry_base = o.retry_base and d(o.retry_base, "retry_base", level) or nil,
      retry_cap = o.retry_cap and d(o.retry_cap, "retry_cap", level) or nil,
      rate = o.rate, burst = o.burst, concurrency = o.concurrency, max_size = o.max_size})
  end
  local self = setmetatable({_ = {backend = backend, cache = {}, lists = {}, settings = backend.settings or {}}}, ApiMT)
  -- effects name their api (an outbox entry outlives this object): the same scripts give the
  -- same names after a restart
  local s = rawget(self, "_")
  s.id = effects.register_api(self, id or (o.local_dir and ("local:" .. o.local_dir)) or
    ("wandb:" .. tostring(s.settings.base_url or "?")))
  return self
end

function M.Api(o)
  local a = new_api(o, nil, 3)   -- not a tail call: errors point at the script's line
  return a
end

-- open("local:DIR") / open("https://host") -> Api
function M.open(spec, o)
  if type(spec) ~= "string" then error("bad argument #1 to 'open' (string expected)", 2) end
  local copy = {}
  for k, v in pairs(o or {}) do copy[k] = v end
  local dir = spec:match("^local:(.*)$")      -- "local:" alone: WANDB_DIR, else ./wandb
  if dir then copy.local_dir = dir
  elseif spec:match("^https?://") then copy.base_url = spec
  else error("bad api spec '" .. spec .. "' (local:DIR or an http(s) URL expected)", 2) end
  local a = new_api(copy, nil, 3)
  return a
end

local function defaults(self)
  local s = rawget(self, "_")
  local st = s.settings
  return {
    project = st.project,
    entity = st.entity or function()
      if not s.default_entity then s.default_entity = s.backend:default_entity() end
      return s.default_entity
    end,
  }
end

-- api.run(path [, {timeout=}]) -> Run (raises CommError when it does not exist)
function Api.run(self, path, o)
  local s = rawget(self, "_")
  local entity, project, id = paths.run(path, defaults(self), 2)
  local key = entity .. "/" .. project .. "/" .. id
  local cached = s.cache[key]
  if cached then return cached end
  if o and o.timeout then o = {timeout = duration.parse(o.timeout, "timeout", 2)} end
  local attrs = s.backend:run(entity, project, id, true, o)
  if not attrs then
    errors.raise({message = "Could not find run " .. key, op = "Run", exc = "not found"}, 2)
  end
  local r = run_mod.new(self, entity, project, attrs, true)
  s.cache[key] = r
  return r
end

-- api.runs(path, filters, {order = "-created_at", per_page = 50, lazy = false, keep = true,
-- timeout = nil}) -> Runs. keep = false streams: one pass in order, constant memory.
function Api.runs(self, path, filters, o)
  local s = rawget(self, "_")
  o = o or {}
  if type(o) ~= "table" then error("bad argument #3 to 'runs' (table expected)", 2) end
  local entity, project = paths.project(path, defaults(self), 2)
  local fjson = filters_mod.encode(filters, 2)
  local order = filters_mod.order(o.order, 2)
  local per_page = o.per_page or 50
  if math.type(per_page) ~= "integer" or per_page < 1 or per_page > 1000 then
    error("bad option per_page (an integer from 1 to 1000 expected)", 2)
  end
  local full = not o.lazy
  local key = table.concat({entity, project, fjson, order, tostring(per_page), tostring(full)}, "\0")
  local cached = o.keep ~= false and s.lists[key]
  if cached then return cached end
  local timeout = o.timeout and duration.parse(o.timeout, "timeout", 2) or nil
  local keep = o.keep ~= false
  local list = runs_mod.new(self, entity, project, fjson, order, per_page, full, timeout, keep)
  if keep then s.lists[key] = list end
  return list
end

-- api.projects([entity [, {per_page = 50}]]) -> lazy list of projects {name, entity, id,
-- created_at, runs(filters, opts)}
function Api.projects(self, entity, o)
  local s = rawget(self, "_")
  o = o or {}
  entity = entity or s.settings.entity or self.default_entity
  if type(entity) ~= "string" or entity == "" then error("bad argument #1 to 'projects' (entity name expected)", 2) end
  local per_page = o.per_page or 50
  local api = self
  local function wrap(node)
    local p = {name = node.name, entity = node.entityName or entity, id = node.id, created_at = node.createdAt}
    p.path = p.entity .. "/" .. p.name
    p.runs = function(filters, ro) return api.runs(p.path, filters, ro) end
    return setmetatable(p, {__name = "runwatch.Project", __tostring = function(x) return "<Project " .. x.path .. ">" end})
  end
  return require("runwatch.paged").new(function(cursor)
    return s.backend:projects_page(entity, {per_page = per_page, cursor = cursor})
  end, wrap, {per_page = per_page, name = "Projects " .. entity})
end

-- api.sweep("entity/project/sweep_id") -> Sweep (raises CommError when it does not exist)
function Api.sweep(self, path)
  local s = rawget(self, "_")
  local entity, project, id = paths.run(path, defaults(self), 2)
  local key = "sweep:" .. entity .. "/" .. project .. "/" .. id
  if not s.cache[key] then s.cache[key] = require("runwatch.sweeps").get(self, s.backend, entity, project, id) end
  return s.cache[key]
end

-- api.artifact("entity/project/name:alias" [, {type =}]) -> Artifact; api.artifacts(project, type,
-- collection [, {per_page =, order =}]) -> lazy versions; api.artifact_collections(project, type);
-- api.artifact_types(project); api.artifact_exists(name, {type}), api.artifact_collection(project,
-- type, name), api.artifact_type(project, type) (artifacts.lua; CommError when missing, as the SDK)
function Api.artifact(self, name, o) return require("runwatch.artifacts").get(self, name, o) end
function Api.artifacts(self, project, type_name, collection, o)
  return require("runwatch.artifacts").versions(self, project, type_name, collection, o)
end
function Api.artifact_collections(self, project, type_name, o)
  return require("runwatch.artifacts").collections(self, project, type_name, o)
end
function Api.artifact_types(self, project, o) return require("runwatch.artifacts").types(self, project, o) end
function Api.artifact_exists(self, name, o) return require("runwatch.artifacts").exists(self, name, o) end
function Api.artifact_collection(self, project, type_name, name)
  return require("runwatch.artifacts").collection(self, project, type_name, name)
end
function Api.artifact_type(self, project, type_name) return require("runwatch.artifacts").type(self, project, type_name) end

-- api.flush() -- drop cached runs and lists; the next call reads from the server again
function Api.flush(self)
  local s = rawget(self, "_")
  s.cache, s.lists = {}, {}
end

-- The default api, created on first use.
local default
local function get_default()
  if not default then
    local opts = core.options()
    default = new_api(opts.local_dir and {local_dir = opts.local_dir} or {}, "default")
  end
  return default
end
M.default = get_default
effects.default_api = get_default

-- api.run(...) and api:run(...) on the module use the default api, made when the method is
-- called (so a setting that cannot work raises inside the caller's pcall, not at the lookup)
setmetatable(M, {__index = function(_, k)
  local m = Api[k]
  if type(m) == "function" then
    return function(a, ...)
      local d = get_default()
      if a == M then return m(d, ...) end
      return m(d, a, ...)
    end
  end
  return get_default()[k]
end})

return M
