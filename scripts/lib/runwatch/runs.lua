-- api.runs(): a lazy, paged list of runs. #runs is the server's runCount (one request);
-- runs[i] and ipairs(runs) fetch pages as they are reached (next cursor = the last edge's
-- cursor), and the next page is fetched while the script works through the current one. A
-- project that does not exist raises a CommError naming it (the Python API's "Could not find
-- project"); a run id already listed is never listed again (see paged.lua's key).
local paged = require "runwatch.paged"
local run_mod = require "runwatch.run"
local errors = require "runwatch.errors"

local M = {}

-- missing(entity, project, level): the CommError of a listing whose project does not exist
function M.missing(entity, project, level)
  errors.raise({message = "Could not find project " .. entity .. "/" .. project, op = "Runs",
    exc = "project not found"}, (level or 1) + 1)
end

-- A run's identity in a listing: its id. Ids of 1 to 11 lowercase base-36 characters (W&B's
-- generated ids have 8) become one integer (value * 16 + length: no two ids share one), which
-- costs a set a third of what the string does (100,000 ids: about 4 MB); others stay strings.
function M.key(node)
  local id = node.id
  local n = #id
  if n >= 1 and n <= 11 and not id:find("[^0-9a-z]") then return tonumber(id, 36) * 16 + n end
  return id
end

function M.new(api, entity, project, filters_json, order, per_page, full, timeout, keep)
  local backend = rawget(api, "_").backend
  local function fetch(cursor)
    local page = backend:runs_page(entity, project, {filters = filters_json, order = order,
      per_page = per_page, cursor = cursor, full = full, timeout = timeout})
    if not page then M.missing(entity, project, 2) end
    return page
  end
  local function wrap(node) return run_mod.new(api, entity, project, node, full) end
  return paged.new(fetch, wrap, {per_page = per_page, name = "Runs " .. entity .. "/" .. project, keep = keep,
    key = M.key})
end

return M
