-- Artifact names ("entity/project/collection:alias") parsed as the W&B SDK parses them, with errors naming the bad part.
local M = {}

-- parse(path, defaults) -> {entity, project, collection, alias, name}
-- Split once at the first ':' (right side = alias or vN), the left on '/' into 1-3 parts; a missing
-- project defaults to defaults.project or "uncategorized", a missing entity to defaults.entity.
-- `name` is what the server is asked for: "collection:alias", or "collection" when no ':' was given.
-- Malformed input raises an error naming the part (misuse by the script).
function M.parse(path, defaults)
  defaults = defaults or {}
  if type(path) ~= "string" then
    error("artifact name: expected a string like 'entity/project/name:alias', got " .. type(path), 2)
  end
  local left, alias = path, nil
  local colon = path:find(":", 1, true)
  if colon then left, alias = path:sub(1, colon - 1), path:sub(colon + 1) end
  local parts = {}
  for part in (left .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = part end
  if #parts > 3 then
    error(("artifact name %q: the path part %q has %d '/'-separated parts, at most 3 (entity/project/name)")
      :format(path, left, #parts), 2)
  end
  local labels = ({{"name"}, {"project", "name"}, {"entity", "project", "name"}})[#parts]
  for i, part in ipairs(parts) do
    if part == "" then error(("artifact name %q: the %s part is empty"):format(path, labels[i]), 2) end
  end
  if alias then
    if alias == "" then error(("artifact name %q: the alias after ':' is empty"):format(path), 2) end
    if alias:find("^v%-") or (alias:find("^v%d") and not alias:find("^v%d+$")) then
      error(("artifact name %q: the version %q is not v<N> with N a non-negative integer"):format(path, alias), 2)
    end
    if alias:find(":", 1, true) then
      error(("artifact name %q: the alias %q contains ':'"):format(path, alias), 2)
    end
  end
  local collection = parts[#parts]
  local project = parts[#parts - 1] or defaults.project or "uncategorized"
  local entity = parts[#parts - 2] or defaults.entity
  return {entity = entity, project = project, collection = collection, alias = alias,
          name = alias and (collection .. ":" .. alias) or collection}
end

return M
