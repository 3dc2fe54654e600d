-- The Artifact object (one version, as wandb.Artifact shows a fetched one): fields from the SDK's
-- ArtifactFragment, files (lazy pages), one file's bytes, verified downloads, lineage. Its writes
-- (save, add_aliases, remove_aliases, delete) are artifact_writes.lua's, installed by api.lua.
local json = require "runwatch.json"
local core = require "runwatch.core"
local digest = require "runwatch.digest"
local errors = require "runwatch.errors"
local paged = require "runwatch.paged"
local queries = require "runwatch.wb.artifact_queries"
local download = require "runwatch.artifact_download"
local options = require "runwatch.options"

local M = {}
local Artifact = {}
local MT = {__name = "runwatch.Artifact", __index = Artifact}
MT.__tostring = function(a) return "<Artifact " .. a.qualified_name .. " (" .. a.version .. ")>" end

local function null(v) if v == json.null then return nil end return v end

-- version aliases ("v3") are the version, not aliases (the SDK filters them out)
local function is_version(a) return a:match("^v%d+$") ~= nil end

-- aliases of `list` (ArtifactAlias nodes) that belong to collection `coll` of entity/project (all
-- of them when the nodes carry no collection); returns aliases, the vN among them
function M.aliases(list, coll, entity, project)
  local out, version = {}, nil
  for _, a in ipairs(null(list) or {}) do
    local c = null(a.artifactCollection)
    local mine = not c or (c.name == coll and (not project or not c.project or c.project == json.null or
      (c.project.name == project and c.project.entity.name == entity)))
    if mine then
      if is_version(a.alias) then version = a.alias else out[#out + 1] = a.alias end
    end
  end
  return out, version
end

local function decode_metadata(text, label)
  text = null(text)
  if text == nil or text == "" then return {} end
  local v = json.decode(text)
  if type(v) ~= "table" then
    errors.raise({message = "metadata of " .. label .. " is not a JSON object", op = "Artifact"}, 4)
  end
  return v
end

-- new(api, node, o) -> Artifact. node: an ArtifactFragment; o: {entity, project, collection,
-- name (as asked), version ("vN"), aliases}
function M.new(api, node, o)
  local seq = node.artifactSequence
  local sp = null(seq.project) or {}
  local a = {
    id = node.id,
    entity = o.entity, project = o.project, collection = o.collection,
    name = o.name, version = o.version, aliases = o.aliases,
    type = node.artifactType.name,
    description = null(node.description),
    state = node.state,
    size = null(node.size), digest = null(node.digest), commit_hash = null(node.commitHash),
    file_count = null(node.fileCount),
    created_at = null(node.createdAt),
    updated_at = null(node.updatedAt) or null(node.createdAt),
    history_step = null(node.historyStep) and math.max(0, node.historyStep - 1) or nil,
    ttl = (null(node.ttlDurationSeconds) or -2) > 0 and node.ttlDurationSeconds or nil,
    source_entity = sp.entity and sp.entity.name or o.entity,
    source_project = sp.name or o.project,
    source_collection = seq.name,
    source_version = "v" .. tostring(node.versionIndex),
    tags = {},
    _api = api, _backend = rawget(api, "_").backend,
  }
  for _, t in ipairs(null(node.tags) or {}) do a.tags[#a.tags + 1] = t.name end
  a.qualified_name = a.entity .. "/" .. a.project .. "/" .. a.name
  a.source_name = a.source_collection .. ":" .. a.source_version
  a.is_link = a.entity ~= a.source_entity or a.project ~= a.source_project or a.collection ~= a.source_collection
  a.metadata = decode_metadata(node.metadata, a.qualified_name)
  M.snapshot(a)
  return setmetatable(a, MT)
end

local function copy(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end

-- snapshot(a): what was loaded, for save() to send only what the script changed (metadata per
-- key, as its JSON text)
function M.snapshot(a)
  local meta = {}
  for k, v in pairs(a.metadata) do meta[k] = json.encode(v, {sort_keys = true}) end
  a._loaded = {aliases = copy(a.aliases), description = a.description, tags = copy(a.tags), metadata = meta}
end

-- refresh(a, node): the fields of a version after a write (UpdateArtifact's answer)
function M.refresh(a, node)
  a.description = null(node.description)
  a.metadata = decode_metadata(node.metadata, a.qualified_name)
  a.tags = {}
  for _, t in ipairs(null(node.tags) or {}) do a.tags[#a.tags + 1] = t.name end
  a.updated_at = null(node.updatedAt) or a.updated_at
  if node.aliases then a.aliases = M.aliases(node.aliases, a.collection, a.entity, a.project) end
  M.snapshot(a)
end

-- ---------------------------------------------------------------- files

local File = {}
local FileMT = {__name = "runwatch.ArtifactFile", __index = File}
FileMT.__tostring = function(f) return string.format("<ArtifactFile %s (%s bytes)>", f.name, tostring(f.size)) end

local function new_file(art, node)
  return setmetatable({name = node.name, size = null(node.sizeBytes), digest = null(node.digest),
    md5 = null(node.md5), mimetype = null(node.mimetype), updated_at = null(node.updatedAt),
    url = null(node.url), direct_url = null(node.directUrl), id = node.id, artifact = art.qualified_name,
    _backend = art._backend}, FileMT)
end

-- file:read() -> the bytes, checked against the digest (raises CommError on a failure or a mismatch)
function File:read()
  local url = self.direct_url or self.url
  local res, err = self._backend:download(url, {max_size = self.size and math.max(self.size, 1) or nil})
  local what = self.name .. " of " .. self.artifact
  if not res then errors.raise({message = "download of " .. what .. " failed: " .. tostring(err), exc = err, op = "ArtifactFile.read"}, 2) end
  if res.status ~= 200 then
    errors.raise({message = "download of " .. what .. " failed: HTTP " .. res.status, status = res.status, op = "ArtifactFile.read"}, 2)
  end
  local got = core.base64(digest.md5(res.body))
  if self.digest and self.digest:match("^[%w+/]+=*$") and #self.digest == 24 and got ~= self.digest then
    errors.raise({message = string.format("digest mismatch for %s: expected %s, got %s", what, self.digest, got),
      op = "ArtifactFile.read", exc = "digest mismatch"}, 2)
  end
  return res.body
end

local function files_page(art, names, per_page, cursor)
  local data = art._backend:gql(queries.GetArtifactMembershipFiles, {entity = art.entity, project = art.project,
    collection = art.collection, alias = art.version, fileNames = names or json.null, cursor = cursor or json.null,
    perPage = per_page}, {op = "GetArtifactMembershipFiles"})
  local p = null(data.project)
  local c = p and null(p.artifactCollection)
  local m = c and null(c.artifactMembership)
  local files = m and null(m.files)
  if not files then
    errors.raise({message = "artifact membership '" .. art.collection .. ":" .. art.version .. "' not found in '" ..
      art.entity .. "/" .. art.project .. "'", op = "GetArtifactMembershipFiles", exc = "not found"}, 4)
  end
  local nodes = {}
  for _, e in ipairs(files.edges) do nodes[#nodes + 1] = e.node end
  return {nodes = nodes, cursor = null(files.pageInfo.endCursor), has_next = files.pageInfo.hasNextPage,
    count = null(files.totalCount)}
end

-- artifact:files([{names = {...}, per_page = 50}]) -> lazy list of ArtifactFile
function Artifact:files(o)
  o = o or {}
  if type(o) ~= "table" then error("bad argument #1 to 'files' (table expected)", 2) end
  options.check("files", o, {names = true, per_page = true}, 2)
  if o.names ~= nil and type(o.names) ~= "table" then error("files: names must be a list of paths", 2) end
  local per_page = o.per_page or 50
  return paged.new(function(cursor) return files_page(self, o.names, per_page, cursor) end,
    function(node) return new_file(self, node) end, {per_page = per_page, name = "ArtifactFiles " .. self.qualified_name})
end

-- artifact:file(path) -> ArtifactFile (CommError when the version has no such file)
function Artifact:file(path)
  if type(path) ~= "string" then error("bad argument #1 to 'file' (path expected)", 2) end
  local page = files_page(self, {path}, 1, nil)
  local node = page.nodes[1]
  if not node or node.name ~= path then
    errors.raise({message = "no file " .. path .. " in artifact " .. self.qualified_name, op = "GetArtifactMembershipFiles",
      exc = "not found"}, 2)
  end
  return new_file(self, node)
end

-- artifact:manifest() -> list of {path, digest, size, ref} (the manifest checked as download checks it)
function Artifact:manifest() return download.manifest(self) end

-- artifact:download([dir [, {path_prefix =, concurrency =}]]) -> dir, stats. dir defaults to
-- ./artifacts/<source_name> as the SDK's does.
function Artifact:download(dir, o)
  if dir ~= nil and type(dir) ~= "string" then error("bad argument #1 to 'download' (directory expected)", 2) end
  if o ~= nil and type(o) ~= "table" then error("bad argument #2 to 'download' (table expected)", 2) end
  if o then options.check("download", o, {path_prefix = true, concurrency = true}, 2) end
  if o and o.path_prefix ~= nil and type(o.path_prefix) ~= "string" then error("download: path_prefix must be a string", 2) end
  if o and o.concurrency ~= nil and (math.type(o.concurrency) ~= "integer" or o.concurrency < 1 or o.concurrency > 64) then
    error("download: concurrency must be an integer from 1 to 64", 2)
  end
  dir = dir or ((os.getenv("WANDB_ARTIFACT_DIR") or "./artifacts") .. "/" .. self.source_name)
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end
  return download.download(self, dir, o)
end

-- ---------------------------------------------------------------- lineage

local function run_of(api, node)
  node = null(node)
  if not node or node.__typename ~= "Run" then return nil end
  return api.run(node.project.entity.name .. "/" .. node.project.name .. "/" .. node.name)
end

-- artifact:logged_by() -> the Run that logged this version, or nil (a user upload)
function Artifact:logged_by()
  local data = self._backend:gql(queries.ArtifactCreatedBy, {id = self.id}, {op = "ArtifactCreatedBy"})
  local a = null(data.artifact)
  return a and run_of(self._api, a.createdBy) or nil
end

-- artifact:used_by() -> list of Runs that declared this version as input
function Artifact:used_by()
  local data = self._backend:gql(queries.ArtifactUsedBy, {id = self.id}, {op = "ArtifactUsedBy"})
  local a = null(data.artifact)
  local out = {}
  for _, e in ipairs(a and a.usedBy.edges or {}) do
    out[#out + 1] = run_of(self._api, e.node)
  end
  return out
end

M.Artifact, M.MT, M.File = Artifact, MT, File
return M
