-- Artifact events for watch{project =, artifacts = {type =, name =}, on_artifact_version =,
-- on_alias =}: per tick, the collections of the type (one listing, or the names given) and one
-- batched request per 50 collections (their newest versions and their aliases), compared with
-- each collection's cursor in the state database. A new COMMITTED version or an alias change
-- runs the handlers inside the collection's transaction, with the cursor and the handlers'
-- effects: delivered exactly once across restarts. Nothing changed: no request per collection.
local core = require "runwatch.core"
local json = require "runwatch.json"
local task = require "runwatch.task"
local schedule = require "runwatch.schedule"
local state = require "runwatch.state"
local effects = require "runwatch.effects"
local options = require "runwatch.options"
local artifacts = require "runwatch.artifacts"

local M = {}
M.BATCH = 50          -- collections per request
M.RECENT = 20         -- newest versions asked per collection per tick (more new ones are paged)
M.HANDLERS = {"on_artifact_version", "on_alias"}
local KNOWN = {type = true, name = true}

local function null(v) if v == json.null then return nil end return v end

local AW = {}
AW.__index = AW
AW.__name = "runwatch.ArtifactWatch"
function AW:__tostring() return string.format("runwatch.ArtifactWatch (%s %s)", self.id, self.project) end

-- the batched document for n collections (aliases c1..cn, names in $n1..$nn)
local docs = {}
local function batch_doc(n)
  if docs[n] then return docs[n] end
  local vars, fields = {}, {}
  for i = 1, n do
    vars[#vars + 1] = ", $n" .. i .. ": String!"
    fields[#fields + 1] = "      c" .. i .. ": artifactCollection(name: $n" .. i .. ") {\n        ...WatchedCollection\n      }\n"
  end
  docs[n] = "query ArtifactWatchBatch($entity: String!, $project: String!, $type: String!, $filters: JSONString, $first: Int"
    .. table.concat(vars) .. ") {\n  project(entityName: $entity, name: $project) {\n    artifactType(name: $type) {\n"
    .. table.concat(fields) .. "    }\n  }\n}\n\n"
    .. "fragment WatchedCollection on ArtifactCollection {\n  __typename\n  name\n"
    .. "  artifacts(first: $first, order: \"-version_index\", filters: $filters) {\n    totalCount\n"
    .. "    edges {\n      version\n      node {\n        id\n        versionIndex\n      }\n    }\n  }\n"
    .. "  aliases(first: 1000) {\n    edges {\n      node {\n        alias\n        artifact {\n          id\n"
    .. "          versionIndex\n        }\n      }\n    }\n  }\n}\n"
  return docs[n]
end

-- the names of the watched collections this tick
function AW:collection_names()
  if self.names then return self.names end
  local out = {}
  for _, c in ipairs(artifacts.collections(self.api, self.project, self.type, {per_page = 100}):stream()) do
    out[#out + 1] = c.name
  end
  return out
end

-- {name = {versions = {{v = "v3", index = 3, id}} newest first, total, aliases = {alias = {id, v}}}}
function AW:fetch(names, stats)
  local be = rawget(self.api, "_").backend
  local out = {}
  for first = 1, #names, M.BATCH do
    local chunk = {table.unpack(names, first, math.min(first + M.BATCH - 1, #names))}
    local vars = {entity = self.entity, project = self.project_name, type = self.type,
      filters = '{"state": "COMMITTED"}', first = M.RECENT}
    for i, n in ipairs(chunk) do vars["n" .. i] = n end
    local data = be:gql(batch_doc(#chunk), vars, {op = "ArtifactWatchBatch"})
    stats.requests = stats.requests + 1
    local p = null(data.project)
    local t = p and null(p.artifactType)
    for i, n in ipairs(chunk) do
      local c = t and null(t["c" .. i])
      if c then
        local rec = {versions = {}, total = c.artifacts.totalCount, aliases = {}}
        for _, e in ipairs(c.artifacts.edges) do
          rec.versions[#rec.versions + 1] = {v = e.version, index = e.node.versionIndex, id = e.node.id}
        end
        for _, e in ipairs(c.aliases.edges) do
          local a, art = e.node.alias, null(e.node.artifact)
          if art and a ~= "latest" and not a:match("^v%d+$") then
            rec.aliases[a] = {id = art.id, v = "v" .. tostring(art.versionIndex)}
          end
        end
        out[n] = rec
      end
    end
  end
  return out
end

-- the new versions of a collection (index above `max`), oldest first; pages beyond the batch's
-- newest ones when there are more
function AW:new_versions(name, rec, max)
  local list = {}
  for _, v in ipairs(rec.versions) do if v.index > max then list[#list + 1] = v end end
  if #list == #rec.versions and rec.total > #rec.versions then
    list = {}
    for _, a in ipairs(artifacts.versions(self.api, self.project, self.type, name, {per_page = 100}):stream()) do
      local idx = tonumber(a.version:sub(2))
      if idx <= max then break end
      list[#list + 1] = {v = a.version, index = idx, id = a.id}
    end
  end
  table.sort(list, function(x, y) return x.index < y.index end)
  return list
end

function AW:call(name, ...)
  local fn = self.spec[name]
  if not fn then return end
  local ok, err = xpcall(fn, debug.traceback, ...)
  if not ok then
    self.errors = self.errors + 1
    local t = task.current()
    core.log("error", "watch " .. self.id .. " " .. name .. " failed: " .. tostring(err), nil, t and t.script, t and t.job)
  end
end

-- The events of one collection, in its transaction with its new cursor. Returns the event count.
function AW:process(name, rec, cur, fresh_collection, tick_id)
  local max = cur and cur.max or -1
  local news = self:new_versions(name, rec, max)
  local old = cur and cur.aliases or {}
  local changed = {}        -- version id -> {v, added = {}, removed = {}}
  local function slot(x)
    local s = changed[x.id]
    if not s then s = {v = x.v, added = {}, removed = {}}; changed[x.id] = s end
    return s
  end
  for a, x in pairs(rec.aliases) do
    if not old[a] or old[a].id ~= x.id then table.insert(slot(x).added, a) end
  end
  for a, x in pairs(old) do
    if not rec.aliases[a] or rec.aliases[a].id ~= x.id then table.insert(slot(x).removed, a) end
  end
  local new_max = max
  for _, v in ipairs(rec.versions) do if v.index > new_max then new_max = v.index end end
  for _, v in ipairs(news) do if v.index > new_max then new_max = v.index end end
  if #news == 0 and next(changed) == nil and cur and cur.max == new_max then return 0 end
  local path = self.project .. "/" .. name
  local n = 0
  local prime = not cur and not fresh_collection
  state.transaction(function()
    local _ <close> = task.with_context({defer = true, watch = self.id, run = path, tick = tick_id})
    if not prime then
      for _, v in ipairs(news) do
        n = n + 1
        self:call("on_artifact_version", self.api.artifact(path .. ":" .. v.v))
      end
      local ids = {}
      for id in pairs(changed) do ids[#ids + 1] = id end
      table.sort(ids, function(x, y) return tonumber(changed[x].v:sub(2)) < tonumber(changed[y].v:sub(2)) end)
      for _, id in ipairs(ids) do
        local s = changed[id]
        table.sort(s.added); table.sort(s.removed)
        local ok, art = pcall(self.api.artifact, path .. ":" .. s.v)
        if ok then
          n = n + 1
          self:call("on_alias", art, s.added, s.removed)
        elseif not (type(art) == "table" and art.exc == "not found") then
          error(art, 0)                 -- the world failed: roll back, try again next tick
        end                             -- a deleted version: its aliases went with it
      end
    end
    local aliases = {}
    for a, x in pairs(rec.aliases) do aliases[a] = x end
    state.set_cursor(self.id, path, {max = new_max, aliases = json.object(aliases)})
  end)
  return n
end

-- One tick: the collections, one batched request per 50, the events of those that changed.
function AW:tick()
  local t0 = core.now()
  local stats = {requests = 0, collections = 0, events = 0, failed = 0}
  local primed = state.meta_get("artifactwatch:" .. self.id)
  local names = self:collection_names()
  if not self.names then stats.requests = stats.requests + math.max(1, math.ceil(#names / 100)) end
  local recs = self:fetch(names, stats)
  local cursors = state.cursors(self.id)
  local tick_id = string.format("%.6f", core.time())
  for _, name in ipairs(names) do
    local rec = recs[name]
    if rec then
      stats.collections = stats.collections + 1
      local path = self.project .. "/" .. name
      local ok, n = pcall(self.process, self, name, rec, cursors[path], primed ~= nil, tick_id)
      if ok then stats.events = stats.events + n
      else
        stats.failed = stats.failed + 1
        core.log("error", "watch " .. self.id .. ": " .. path .. " not processed: " .. tostring(n) ..
          " (processed again next tick)")
      end
    end
  end
  if not primed then state.meta_set("artifactwatch:" .. self.id, {primed = core.time()}) end
  effects.kick()
  self.ticks = self.ticks + 1
  stats.duration = core.now() - t0
  self.last_stats = stats
  pcall(state.meta_set, "watch:" .. self.id, {project = self.project, every = self.every, last_tick = core.time(),
    last_duration = stats.duration, requests = stats.requests, collections = stats.collections,
    events = stats.events, errors = self.errors, failed = stats.failed})
  if stats.failed > 0 then core.job_failed() end
  return stats
end

function AW:stop()
  self.stopped = true
  if self.schedule then self.schedule:stop() end
  return self
end

local ids = {}

-- watch(spec, o) -> ArtifactWatch; o: the api, entity, project, every, id, cpu_budget watch.lua resolved
function M.watch(spec, o)
  local a = spec.artifacts
  if type(a) ~= "table" then error("watch: artifacts must be a table {type =, name =}", 3) end
  options.check("watch", a, KNOWN, 3, "artifacts.")
  if type(a.type) ~= "string" or a.type == "" then error("watch: artifacts.type is required (e.g. \"model\")", 3) end
  local names
  if a.name ~= nil then
    names = type(a.name) == "table" and a.name or {a.name}
    for _, n in ipairs(names) do
      if type(n) ~= "string" or n == "" or n:find("[/:]") then
        error("watch: artifacts.name must be a collection name (or a list of them) without '/' or ':'", 3)
      end
    end
  end
  for _, h in ipairs(M.HANDLERS) do
    if spec[h] ~= nil and type(spec[h]) ~= "function" then error("watch: " .. h .. " must be a function", 3) end
  end
  if not spec.on_artifact_version and not spec.on_alias then
    error("watch: artifacts needs on_artifact_version or on_alias", 3)
  end
  if ids[o.id] and not ids[o.id].stopped then error("watch: two watches with the id '" .. o.id .. "' (give each an id)", 3) end
  local w = setmetatable({spec = spec, id = o.id, api = o.api, entity = o.entity, project_name = o.project,
    project = o.entity .. "/" .. o.project, type = a.type, names = names, every = o.every, ticks = 0, errors = 0}, AW)
  ids[o.id] = w
  w.schedule = schedule.every(o.every, function() w:tick() end,
    {immediate = true, name = "artifact watch " .. w.project .. "/" .. a.type, cpu_budget = o.cpu_budget})
  state.record_daemon()
  effects.kick()
  return w
end

function M.is(v) return getmetatable(v) == AW end

return M
