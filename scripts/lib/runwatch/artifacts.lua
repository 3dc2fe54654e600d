-- Artifact lookups and listings as wandb.Api has them: api.artifact(name), api.artifacts(project,
-- type, collection) (versions, lazy pages), api.artifact_collections, api.artifact_types, and a
-- run's logged/used artifacts; names resolved as the SDK resolves them (artifact_name.lua).
-- Pages follow pageInfo.endCursor (artifact paging, unlike runs). W&B backend only.
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local paged = require "runwatch.paged"
local names = require "runwatch.artifact_name"
local paths = require "runwatch.wb.paths"
local queries = require "runwatch.wb.artifact_queries"
local artifact = require "runwatch.artifact"
local options = require "runwatch.options"

local M = {}

local function null(v) if v == json.null then return nil end return v end

local function backend_of(api, level)
  local b = rawget(api, "_").backend
  if not b.gql then error("artifacts need the W&B backend (this api reads local runs)", level + 1) end
  return b
end

local function per_page_of(o, dflt, level)
  local n = o.per_page or dflt
  if math.type(n) ~= "integer" or n < 1 or n > 1000 then
    error("bad option per_page (an integer from 1 to 1000 expected)", level + 1)
  end
  return n
end

-- entity/project defaults for names, as api.lua gives them (the entity may cost a query)
local function default_entity(api)
  local s = rawget(api, "_")
  return s.settings.entity or api.default_entity
end

local function default_project(api)
  return rawget(api, "_").settings.project
end

-- get(api, name, {type =}) -> Artifact; CommError with the SDK's messages when missing
function M.get(api, name, o)
  o = o or {}
  if type(o) ~= "table" then error("bad argument #2 to 'artifact' (table expected)", 3) end
  options.check("artifact", o, {type = true}, 3)
  if o.type ~= nil and type(o.type) ~= "string" then error("artifact: type must be a string", 3) end
  local p = names.parse(name, {project = default_project(api)})
  local entity = p.entity or default_entity(api)
  if not entity or entity == "" then
    errors.raise({message = "Could not determine entity. Please include the entity as part of the artifact name path.",
      op = "ArtifactMembershipByName"}, 3)
  end
  local b = backend_of(api, 3)
  local data = b:gql(queries.ArtifactMembershipByName, {entity = entity, project = p.project, name = p.name},
    {op = "ArtifactMembershipByName"})
  local proj = null(data.project)
  if not proj then
    errors.raise({message = "project '" .. p.project .. "' not found under entity '" .. entity .. "'",
      op = "ArtifactMembershipByName", exc = "not found"}, 3)
  end
  local m = null(proj.artifactCollectionMembership)
  if not m then
    errors.raise({message = "artifact membership '" .. p.name .. "' not found in '" .. entity .. "/" .. p.project .. "'",
      op = "ArtifactMembershipByName", exc = "not found"}, 3)
  end
  local node = m.artifact
  if o.type and node.artifactType.name ~= o.type then
    errors.raise({message = "type " .. o.type .. " specified but this artifact is of type " .. node.artifactType.name,
      op = "ArtifactMembershipByName", exc = "type mismatch"}, 3)
  end
  local coll = m.artifactCollection
  local cp = null(coll.project)
  local e2, p2 = cp and cp.entity.name or entity, cp and cp.name or p.project
  local aliases, vn = artifact.aliases(m.aliases, nil)
  local version = vn or ("v" .. tostring(m.versionIndex))
  return artifact.new(api, node, {entity = e2, project = p2, collection = coll.name,
    name = p.alias and p.name or (coll.name .. ":" .. version), version = version, aliases = aliases})
end

-- exists(api, name, {type =}) -> boolean: false where get raises a CommError, except a timeout
-- (raised, as the SDK's artifact_exists does); a malformed name is misuse and raises
function M.exists(api, name, o)
  local ok, e = pcall(M.get, api, name, o)
  if ok then return true end
  if errors.is(e) then
    local m = tostring(e.message):lower()
    if not (m:find("timed out", 1, true) or m:find("timeout", 1, true) or e.deadline_passed) then return false end
  end
  error(e, 0)
end

-- a connection's page for paged.lua: {nodes, cursor = endCursor, has_next, count}
local function page_of(c, node_of)
  local nodes = {}
  for _, e in ipairs(c.edges) do nodes[#nodes + 1] = node_of and node_of(e) or e.node end
  return {nodes = nodes, cursor = null(c.pageInfo.endCursor), has_next = c.pageInfo.hasNextPage, count = null(c.totalCount)}
end

local function project_of(api, project, level)
  local defaults = {project = default_project(api), entity = function() return default_entity(api) end}
  return paths.project(project, defaults, level + 1)
end

-- versions(api, project, type, collection, {per_page = 50, order = "-version_index"}) -> lazy list of Artifact
function M.versions(api, project, type_name, collection, o)
  o = o or {}
  if type(type_name) ~= "string" or type_name == "" then error("bad argument #2 to 'artifacts' (type name expected)", 3) end
  if type(collection) ~= "string" or collection == "" or collection:find("[/:]") then
    error("bad argument #3 to 'artifacts' (a collection name without '/' or ':' expected)", 3)
  end
  if type(o) ~= "table" then error("bad argument #4 to 'artifacts' (table expected)", 3) end
  options.check("artifacts", o, {per_page = true, order = true}, 3)
  local entity, proj = project_of(api, project, 3)
  local per_page = per_page_of(o, 50, 3)
  local order = o.order or "-version_index"
  local b = backend_of(api, 3)
  local label = entity .. "/" .. proj .. "/" .. collection
  local function fetch(cursor)
    local data = b:gql(queries.ProjectArtifacts, {entity = entity, project = proj, order = order, type = type_name,
      collection = collection, filters = '{"state": "COMMITTED"}', perPage = per_page, cursor = cursor or json.null},
      {op = "ProjectArtifacts"})
    local p = null(data.project)
    local t = p and null(p.artifactType)
    local c = t and null(t.artifactCollection)
    if not c then
      errors.raise({message = "Could not find artifact collection " .. label .. " of type " .. type_name,
        op = "ProjectArtifacts", exc = "not found"}, 3)
    end
    return page_of(c.artifacts, function(e) return {version = e.version, node = e.node} end)
  end
  local function wrap(x)
    local aliases = artifact.aliases(x.node.aliases, collection, entity, proj)
    return artifact.new(api, x.node, {entity = entity, project = proj, collection = collection,
      name = collection .. ":" .. x.version, version = x.version, aliases = aliases})
  end
  return paged.new(fetch, wrap, {per_page = per_page, name = "Artifacts " .. label})
end

local wrap_collection          -- below
local Collection = {}
local CollectionMT = {__name = "runwatch.ArtifactCollection", __index = Collection}
CollectionMT.__tostring = function(c) return "<ArtifactCollection " .. c.entity .. "/" .. c.project .. "/" .. c.name .. ">" end

-- collection:versions([o]) -> api.artifacts(project, type, name, o)
function Collection:versions(o) return M.versions(self._api, self.entity .. "/" .. self.project, self.type, self.name, o) end

function wrap_collection(api, entity, proj, n)
  local cp = null(n.project)
  local c = {id = n.id, name = n.name, type = n.type.name, description = null(n.description),
    created_at = null(n.createdAt), updated_at = null(n.updatedAt), entity = cp and cp.entity.name or entity,
    project = cp and cp.name or proj, is_sequence = n.__typename == "ArtifactSequence", tags = {}, _api = api}
  for _, e in ipairs(n.tags.edges) do c.tags[#c.tags + 1] = e.node.name end
  return setmetatable(c, CollectionMT)
end

-- collection(api, project, type, name) -> one collection (ProjectArtifactCollection); CommError
-- naming what is missing
function M.collection(api, project, type_name, name)
  if type(type_name) ~= "string" or type_name == "" then error("bad argument #2 to 'artifact_collection' (type name expected)", 3) end
  if type(name) ~= "string" or name == "" or name:find("[/:]") then
    error("bad argument #3 to 'artifact_collection' (a collection name without '/' or ':' expected)", 3)
  end
  local entity, proj = project_of(api, project, 3)
  local data = backend_of(api, 3):gql(queries.ProjectArtifactCollection, {entity = entity, project = proj,
    type = type_name, name = name}, {op = "ProjectArtifactCollection"})
  local p = null(data.project)
  local t = p and null(p.artifactType)
  local c = t and null(t.artifactCollection)
  if not c then
    errors.raise({message = "Could not find artifact collection " .. entity .. "/" .. proj .. "/" .. name ..
      " of type '" .. type_name .. "'", op = "ProjectArtifactCollection", exc = "not found"}, 3)
  end
  return wrap_collection(api, entity, proj, c)
end

-- collections(api, project, type, {per_page = 50}) -> lazy list of collections
function M.collections(api, project, type_name, o)
  o = o or {}
  if type(type_name) ~= "string" or type_name == "" then error("bad argument #2 to 'artifact_collections' (type name expected)", 3) end
  if type(o) ~= "table" then error("bad argument #3 to 'artifact_collections' (table expected)", 3) end
  options.check("artifact_collections", o, {per_page = true, order = true}, 3)
  local entity, proj = project_of(api, project, 3)
  local per_page = per_page_of(o, 50, 3)
  local b = backend_of(api, 3)
  local function fetch(cursor)
    local data = b:gql(queries.ArtifactTypeArtifactCollections, {entity = entity, project = proj, type = type_name,
      order = o.order or json.null, filters = json.null, perPage = per_page, cursor = cursor or json.null},
      {op = "ArtifactTypeArtifactCollections"})
    local p = null(data.project)
    local t = p and null(p.artifactType)
    local c = t and null(t.artifactCollections)
    if not c then
      errors.raise({message = "Could not find artifact type '" .. type_name .. "' in " .. entity .. "/" .. proj,
        op = "ArtifactTypeArtifactCollections", exc = "not found"}, 3)
    end
    return page_of(c)
  end
  return paged.new(fetch, function(n) return wrap_collection(api, entity, proj, n) end, {per_page = per_page, name = "ArtifactCollections " .. entity .. "/" .. proj .. "/" .. type_name})
end

-- types(api, project, {per_page = 50}) -> lazy list of {id, name, description, created_at, collections()}
function M.types(api, project, o)
  o = o or {}
  if type(o) ~= "table" then error("bad argument #2 to 'artifact_types' (table expected)", 3) end
  options.check("artifact_types", o, {per_page = true}, 3)
  local entity, proj = project_of(api, project, 3)
  local per_page = per_page_of(o, 50, 3)
  local b = backend_of(api, 3)
  local function fetch(cursor)
    local data = b:gql(queries.ProjectArtifactTypes, {entity = entity, project = proj, perPage = per_page,
      cursor = cursor or json.null}, {op = "ProjectArtifactTypes"})
    local p = null(data.project)
    if not p then
      errors.raise({message = "project '" .. proj .. "' not found under entity '" .. entity .. "'",
        op = "ProjectArtifactTypes", exc = "not found"}, 3)
    end
    return page_of(p.artifactTypes)
  end
  local function wrap(n)
    local t = {id = n.id, name = n.name, description = null(n.description), created_at = null(n.createdAt)}
    t.collections = function(_, co) return M.collections(api, entity .. "/" .. proj, n.name, co) end
    return setmetatable(t, {__name = "runwatch.ArtifactType", __tostring = function() return "<ArtifactType " .. n.name .. ">" end})
  end
  return paged.new(fetch, wrap, {per_page = per_page, name = "ArtifactTypes " .. entity .. "/" .. proj})
end

local LocalMT = {__name = "runwatch.LocalArtifact"}
LocalMT.__tostring = function(a) return "<LocalArtifact " .. tostring(a.name) .. " (" .. tostring(a.type) .. ")>" end

-- local_run(backend, e, p, id, which) -> plain list of what a local run's .wandb file records:
-- {name, type, digest, aliases, tags, description, metadata, entity, project, run} for logged
-- artifacts, {name, type, id, run} for used ones. Read-only (no files, no writes).
function M.local_run(b, entity, project, run_id, which)
  local list = b:run_artifacts(entity, project, run_id, which)
  if not list then
    errors.raise({message = "Could not find run " .. entity .. "/" .. project .. "/" .. run_id,
      op = which == "used" and "RunInputArtifacts" or "RunOutputArtifacts", exc = "not found"}, 4)
  end
  local out = {}
  for i, r in ipairs(list) do
    local meta = r.metadata and r.metadata ~= "" and json.decode(r.metadata) or nil
    local a = {name = r.name, type = r.type, digest = r.digest, id = r.id, description = r.description,
      metadata = type(meta) == "table" and meta or {}, entity = r.entity or entity, project = r.project or project,
      aliases = {}, tags = {}, run = entity .. "/" .. project .. "/" .. run_id}
    for _, x in ipairs(r.aliases or {}) do a.aliases[#a.aliases + 1] = x end
    for _, x in ipairs(r.tags or {}) do a.tags[#a.tags + 1] = x end
    out[i] = setmetatable(a, LocalMT)
  end
  return out
end

-- artifact_type(api, project, type) -> {id, name, description, created_at, collections()}
function M.type(api, project, type_name)
  if type(type_name) ~= "string" or type_name == "" then error("bad argument #2 to 'artifact_type' (type name expected)", 3) end
  local entity, proj = project_of(api, project, 3)
  local data = backend_of(api, 3):gql(queries.ProjectArtifactType, {entity = entity, project = proj, type = type_name},
    {op = "ProjectArtifactType"})
  local p = null(data.project)
  local n = p and null(p.artifactType)
  if not n then
    errors.raise({message = "Could not find artifact type '" .. type_name .. "'", op = "ProjectArtifactType", exc = "not found"}, 3)
  end
  local t = {id = n.id, name = n.name, description = null(n.description), created_at = null(n.createdAt)}
  t.collections = function(_, co) return M.collections(api, entity .. "/" .. proj, n.name, co) end
  return setmetatable(t, {__name = "runwatch.ArtifactType", __tostring = function() return "<ArtifactType " .. n.name .. ">" end})
end

-- of_run(api, entity, project, run_id, "logged" | "used", {per_page = 100}) -> lazy list of Artifact
function M.of_run(api, entity, project, run_id, which, o)
  o = o or {}
  if type(o) ~= "table" then error("bad argument #1 to '" .. which .. "_artifacts' (table expected)", 3) end
  options.check(which .. "_artifacts", o, {per_page = true}, 3)
  local per_page = per_page_of(o, 100, 3)
  local lb = rawget(api, "_").backend
  if not lb.gql and lb.run_artifacts then return M.local_run(lb, entity, project, run_id, which) end
  local b = backend_of(api, 3)
  local q, op = queries.RunOutputArtifacts, "RunOutputArtifacts"
  if which == "used" then q, op = queries.RunInputArtifacts, "RunInputArtifacts" end
  local function fetch(cursor)
    local data = b:gql(q, {entity = entity, project = project, run = run_id, perPage = per_page, cursor = cursor or json.null}, {op = op})
    local p = null(data.project)
    local r = p and null(p.run)
    if not r then
      errors.raise({message = "Could not find run " .. entity .. "/" .. project .. "/" .. run_id, op = op, exc = "not found"}, 3)
    end
    return page_of(r.artifacts)
  end
  local function wrap(node)
    local seq = node.artifactSequence
    local sp = null(seq.project)
    local e2, p2 = sp and sp.entity.name or entity, sp and sp.name or project
    local version = "v" .. tostring(node.versionIndex)
    local aliases = artifact.aliases(node.aliases, seq.name, e2, p2)
    return artifact.new(api, node, {entity = e2, project = p2, collection = seq.name,
      name = seq.name .. ":" .. version, version = version, aliases = aliases})
  end
  return paged.new(fetch, wrap, {per_page = per_page, name = op .. " " .. entity .. "/" .. project .. "/" .. run_id})
end

return M
