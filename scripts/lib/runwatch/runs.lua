-- api.runs(): a lazy, paged list of runs. #runs is the server's runCount (one request);
-- runs[i] and ipairs(runs) fetch pages as they are reached (next cursor = the last edge's
-- cursor), and the next page is fetched while the script works through the current one.
local paged = require "runwatch.paged"
local run_mod = require "runwatch.run"

local M = {}

function M.new(api, entity, project, filters_json, order, per_page, full, timeout, keep)
  local backend = rawget(api, "_").backend
  local function fetch(cursor)
    return backend:runs_page(entity, project, {filters = filters_json, order = order,
      per_page = per_page, cursor = cursor, full = full, timeout = timeout})
  end
  local function wrap(node) return run_mod.new(api, entity, project, node, full) end
  return paged.new(fetch, wrap, {per_page = per_page, name = "Runs " .. entity .. "/" .. project, keep = keep})
end

return M
