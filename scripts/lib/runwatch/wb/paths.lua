-- Run and project paths as the W&B SDK parses them (Api._parse_path), plus run URLs:
-- "entity/project/id", "entity/project/runs/id", "project/id", "entity/project:id", "id",
-- and "https://wandb.ai/entity/project/runs/id?...". The parts go to the server only as GraphQL
-- variables, so odd characters (spaces, quotes, '#', '?', '%', unicode, "..") are passed as they
-- are and simply find no run; what cannot be a name at all is a "bad run path" error here:
-- control characters, invalid UTF-8, an empty part, more than MAX_LEN bytes.
local M = {}

M.MAX_LEN = 2048      -- bytes in a whole path (a run URL with its query string fits easily)
local SHOW_MAX = 100  -- longer paths are shortened in error messages

local function strip(s) return (s:gsub("^[%s/]+", ""):gsub("[%s/]+$", "")) end

-- The path as an error message shows it: quoted, escaped, at most SHOW_MAX bytes.
local function show(path)
  local s = path
  if #s > SHOW_MAX then s = s:sub(1, SHOW_MAX) end
  s = string.format("%q", s):gsub("\\\n", "\\n"):gsub("[\128-\255]", function(c)
    return string.format("\\x%02X", c:byte())
  end)
  if #path > SHOW_MAX then s = s .. string.format("... (%d bytes)", #path) end
  return s
end

local function bad(what, path, why, level)
  error(string.format("bad %s path %s: %s", what, show(path), why), level + 1)
end

-- What cannot be part of any name: checked on the whole text before it is split.
local function check_text(what, path, level)
  if #path > M.MAX_LEN then bad(what, path, string.format("too long (%d bytes; at most %d)", #path, M.MAX_LEN), level + 1) end
  local ok, at = utf8.len(path)
  -- UTF-8, or a lone surrogate in WTF-8 form as json.decode keeps it from an answer: whatever
  -- json.encode can send as a variable
  if not ok and not pcall(require("runwatch.json").encode, path) then
    bad(what, path, string.format("not valid UTF-8 (byte %d)", at), level + 1)
  end
  local c = path:find("[%z\1-\31\127]")
  if c then
    -- leading/trailing newlines (a line read from a file) are stripped like spaces; inner ones are not
    local inner = strip(path)
    c = inner:find("[%z\1-\31\127]")
    if c then
      bad(what, path, string.format("control character \\%d at byte %d of %s", inner:byte(c), c, show(inner)), level + 1)
    end
  end
end

local function default_entity(defaults, path, what, level)
  local entity = defaults.entity
  if type(entity) == "function" then entity = entity() end
  if entity ~= nil and type(entity) ~= "string" then
    bad(what, path, "the default entity is a " .. type(entity) .. ", not a string", level + 1)
  end
  return entity
end

-- run(path, defaults) -> entity, project, id. defaults = {entity=, project=}; defaults.entity
-- may be a function (the viewer's default entity, fetched only when needed).
function M.run(path, defaults, level)
  level = (level or 1) + 1
  if type(path) ~= "string" then
    error("bad run path (string expected, got " .. type(path) .. ")", level)
  end
  check_text("run", path, level)
  local p = path
  local scheme = p:match("^(%a+)://")
  if scheme and (scheme:lower() == "https" or scheme:lower() == "http") then
    p = p:gsub("^%a+://[^/]+", ""):gsub("[?#].*$", "")
    local e, pr, id = p:match("^/([^/]+)/([^/]+)/runs/([^/]+)/*")
    if not e then bad("run", path, "a run URL looks like https://wandb.ai/ENTITY/PROJECT/runs/ID", level) end
    return e, pr, id
  end
  p = strip(p:gsub("/runs/", "/"):gsub("/sweeps/", "/"))
  local parts = {}
  for part in (p .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = part:match("^%s*(.-)%s*$") end
  local entity, project, id
  if #parts == 3 then
    entity, project, id = parts[1], parts[2], parts[3]
    if entity == "" then bad("run", path, "empty entity (entity/project/id expected)", level) end
    if project == "" then bad("run", path, "empty project (entity/project/id expected)", level) end
  elseif #parts == 2 and parts[2]:find(":", 1, true) then
    entity = parts[1]
    project, id = parts[2]:match("^([^:]*):(.*)$")
    if entity == "" then bad("run", path, "empty entity (entity/project:id expected)", level) end
    if project == "" then bad("run", path, "empty project before ':'", level) end
  elseif #parts == 2 then
    project, id = parts[1], parts[2]
    if project == "" then bad("run", path, "empty project (project/id expected)", level) end
  elseif #parts == 1 and parts[1]:find(":", 1, true) then
    project, id = parts[1]:match("^([^:]*):(.*)$")
    if project == "" then bad("run", path, "empty project before ':'", level) end
  elseif #parts == 1 then
    id = parts[1]
  else
    bad("run", path, "too many parts (entity/project/id expected)", level)
  end
  defaults = defaults or {}
  if not id or id == "" then bad("run", path, "missing run id", level) end
  if not project or project == "" then project = defaults.project end
  if not project or project == "" then bad("run", path, "missing project (give entity/project/id or set WANDB_PROJECT)", level) end
  if not entity or entity == "" then entity = default_entity(defaults, path, "run", level) end
  if not entity or entity == "" then bad("run", path, "missing entity (give entity/project/id or set WANDB_ENTITY)", level) end
  return entity, project, id
end

-- project(path, defaults) -> entity, project ("p", "e/p" or a project URL; nil for the defaults)
function M.project(path, defaults, level)
  level = (level or 1) + 1
  defaults = defaults or {}
  local entity, project
  if path ~= nil and type(path) ~= "string" then
    error("bad project path (string expected, got " .. type(path) .. ")", level)
  end
  if path ~= nil then check_text("project", path, level) end
  local p = path and strip(path) or ""
  local scheme = p:match("^(%a+)://")
  if scheme and (scheme:lower() == "https" or scheme:lower() == "http") then
    local e, pr = p:gsub("^%a+://[^/]+", ""):gsub("[?#].*$", ""):match("^/([^/]+)/([^/]+)")
    if not e then bad("project", path, "a project URL looks like https://wandb.ai/ENTITY/PROJECT", level) end
    return e, pr
  end
  if p == "" then
    project = defaults.project or "uncategorized"
  else
    local e, pr = p:match("^([^/]*)/(.*)$")
    if e then
      entity, project = e:match("^%s*(.-)%s*$"), pr:match("^%s*(.-)%s*$")
      if project:find("/", 1, true) then bad("project", path, "entity/project expected", level) end
      if entity == "" or project == "" then bad("project", path, "an empty part (entity/project expected)", level) end
    else
      project = p
    end
  end
  if not entity then entity = default_entity(defaults, path or "", "project", level) end
  if not entity or entity == "" then
    bad("project", path or "", "missing entity (give entity/project or set WANDB_ENTITY)", level)
  end
  return entity, project
end

return M
