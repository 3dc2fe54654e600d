-- An Artifact's writes, through the one effect path (effects.lua; kinds artifact_alias,
-- artifact_unalias, artifact_update, artifact_delete): add_aliases/remove_aliases at once,
-- save() sending only what the script changed (aliases, description, metadata per key, tags),
-- delete{delete_aliases}. Installed on artifact.lua's objects when api.lua loads.
local json = require "runwatch.json"
local effects = require "runwatch.effects"
local artifact = require "runwatch.artifact"
local options = require "runwatch.options"

local M = {}
local Artifact = artifact.Artifact

local function payload(a, fields)
  local p = {api = a._api.id, id = a.id, artifact = a.entity .. "/" .. a.project .. "/" .. a.collection .. ":" .. a.version,
    entity = a.entity, project = a.project, collection = a.collection}
  for k, v in pairs(fields) do p[k] = v end
  return p
end

-- runs one effect; raises the CommError when it failed (as the SDK does); true
local function write(a, kind, fields, level)
  local res, err = effects.perform(kind, payload(a, fields), {level = level + 1})
  if res == nil then error(err, 0) end
  return res
end

local function list_of(...)
  local first = ...
  if type(first) == "table" then return first end
  return {...}
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function minus(a, b)
  local sb, out = set_of(b), {}
  for _, v in ipairs(a) do if not sb[v] then out[#out + 1] = v end end
  return out
end

local function adopt_aliases(a, added, removed)
  local cur = minus(a._loaded.aliases, removed)
  for _, x in ipairs(added) do if not set_of(cur)[x] then cur[#cur + 1] = x end end
  a._loaded.aliases = cur
  local keep = {}
  for _, x in ipairs(a.aliases) do keep[#keep + 1] = x end
  a.aliases = minus(keep, removed)
  for _, x in ipairs(added) do if not set_of(a.aliases)[x] then a.aliases[#a.aliases + 1] = x end end
end

-- artifact:add_aliases("production", ...) -> true: moved onto this version at once (an alias
-- another version of the collection holds moves)
function Artifact:add_aliases(...)
  local list = list_of(...)
  write(self, "artifact_alias", {aliases = list}, 2)
  adopt_aliases(self, list, {})
  return true
end

-- artifact:remove_aliases("candidate", ...) -> true
function Artifact:remove_aliases(...)
  local list = list_of(...)
  write(self, "artifact_unalias", {aliases = list}, 2)
  adopt_aliases(self, {}, list)
  return true
end

-- the script's changes since the version was read: aliases added/removed, update fields
local function changes(a)
  local L = a._loaded
  if type(a.aliases) ~= "table" then error("artifact.aliases must be a list of strings", 3) end
  if type(a.metadata) ~= "table" then error("artifact.metadata must be a table", 3) end
  if type(a.tags) ~= "table" then error("artifact.tags must be a list of strings", 3) end
  local c = {added = minus(a.aliases, L.aliases), removed = minus(L.aliases, a.aliases)}
  local u, n = {}, 0
  if a.description ~= L.description then
    if a.description == nil then error("artifact.description cannot be cleared (W&B takes nil as unchanged)", 3) end
    u.description, n = a.description, n + 1
  end
  local set, rm = {}, {}
  for k, v in pairs(a.metadata) do
    if L.metadata[k] ~= json.encode(v, {sort_keys = true}) then set[k] = v; n = n + 1 end
  end
  for k in pairs(L.metadata) do if a.metadata[k] == nil then rm[#rm + 1] = k; n = n + 1 end end
  table.sort(rm)
  if next(set) then u.metadata_set = set end
  if #rm > 0 then u.metadata_remove = rm end
  local ta, tr = minus(a.tags, L.tags), minus(L.tags, a.tags)
  if #ta > 0 then u.tags_add = ta; n = n + 1 end
  if #tr > 0 then u.tags_remove = tr; n = n + 1 end
  c.update, c.n = u, n + #c.added + #c.removed
  return c
end

-- artifact:save() -> true when something was written (or planned in dry-run, or queued by a
-- handler), false when nothing changed. In the SDK's order: AddAliases, DeleteAliases, then
-- UpdateArtifact on a fresh read (metadata changed key by key).
function Artifact:save()
  local c = changes(self)
  if c.n == 0 then return false end
  if #c.added > 0 then write(self, "artifact_alias", {aliases = c.added}, 2) end
  if #c.removed > 0 then write(self, "artifact_unalias", {aliases = c.removed}, 2) end
  if next(c.update) then
    local res = write(self, "artifact_update", c.update, 2)
    if type(res) == "table" and res.node then artifact.refresh(self, res.node); return true end
  end
  artifact.snapshot(self)
  return true
end

-- artifact:delete{delete_aliases = false} -> true. W&B refuses to delete a version that still has
-- aliases unless delete_aliases is true (a CommError). At most once.
function Artifact:delete(o)
  o = o or {}
  if type(o) ~= "table" then error("bad argument #1 to 'delete' (table expected)", 2) end
  options.check("delete", o, {delete_aliases = true}, 2)
  if o.delete_aliases ~= nil and type(o.delete_aliases) ~= "boolean" then error("delete: delete_aliases must be true or false", 2) end
  local da = o.delete_aliases
  if da == nil then da = false end
  write(self, "artifact_delete", {delete_aliases = da}, 2)
  return true
end

return M
