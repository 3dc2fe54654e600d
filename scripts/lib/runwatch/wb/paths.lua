-- Run and project paths as the W&B SDK parses them (Api._parse_path), plus run URLs:
-- "entity/project/id", "entity/project/runs/id", "project/id", "entity/project:id", "id",
-- and "https://wandb.ai/entity/project/runs/id?...".
local M = {}

local function strip(s) return (s:gsub("^[%s/]+", ""):gsub("[%s/]+$", "")) end

local function bad(path, why, level)
  error(string.format("bad run path %q: %s", path, why), level + 1)
end

-- run(path, defaults) -> entity, project, id. defaults = {entity=, project=}; defaults.entity
-- may be a function (the viewer's default entity, fetched only when needed).
function M.run(path, defaults, level)
  level = (level or 1) + 1
  if type(path) ~= "string" then bad(tostring(path), "a string expected", level) end
  local p = path
  if p:match("^https?://") then
    p = p:gsub("^https?://[^/]+", ""):gsub("[?#].*$", "")
    local e, pr, id = p:match("^/([^/]+)/([^/]+)/runs/([^/]+)/*")
    if not e then bad(path, "a run URL looks like https://wandb.ai/ENTITY/PROJECT/runs/ID", level) end
    return e, pr, id
  end
  p = strip(p:gsub("/runs/", "/"):gsub("/sweeps/", "/"))
  local parts = {}
  for part in (p .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = part:match("^%s*(.-)%s*$") end
  local entity, project, id
  if #parts == 3 then
    entity, project, id = parts[1], parts[2], parts[3]
  elseif #parts == 2 and parts[2]:find(":", 1, true) then
    entity = parts[1]
    project, id = parts[2]:match("^([^:]*):(.*)$")
  elseif #parts == 2 then
    project, id = parts[1], parts[2]
  elseif #parts == 1 and parts[1]:find(":", 1, true) then
    project, id = parts[1]:match("^([^:]*):(.*)$")
  elseif #parts == 1 then
    id = parts[1]
  else
    bad(path, "too many parts (entity/project/id expected)", level)
  end
  defaults = defaults or {}
  if not project or project == "" then project = defaults.project end
  if not entity or entity == "" then
    entity = defaults.entity
    if type(entity) == "function" then entity = entity() end
  end
  if not id or id == "" then bad(path, "missing run id", level) end
  if not project or project == "" then bad(path, "missing project (give entity/project/id or set WANDB_PROJECT)", level) end
  if not entity or entity == "" then bad(path, "missing entity (give entity/project/id or set WANDB_ENTITY)", level) end
  return entity, project, id
end

-- project(path, defaults) -> entity, project ("p" or "e/p"; nil for the defaults)
function M.project(path, defaults, level)
  level = (level or 1) + 1
  defaults = defaults or {}
  local entity, project
  if path == nil or path == "" then
    project = defaults.project or "uncategorized"
  elseif type(path) ~= "string" then
    error("bad project path (string expected, got " .. type(path) .. ")", level)
  else
    local p = strip(path)
    local e, pr = p:match("^([^/]+)/(.+)$")
    if e then entity, project = e, pr else project = p end
    if project:find("/", 1, true) then error(string.format("bad project path %q: entity/project expected", path), level) end
  end
  if not entity then
    entity = defaults.entity
    if type(entity) == "function" then entity = entity() end
  end
  if not entity or entity == "" then
    error(string.format("bad project path %q: missing entity (give entity/project or set WANDB_ENTITY)", tostring(path)), level)
  end
  return entity, project
end

return M
