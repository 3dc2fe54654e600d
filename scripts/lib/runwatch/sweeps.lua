-- api.sweep("entity/project/sweep_id"): a sweep's state, config, its runs (a lazy list) and
-- best_run(metric, order), which reads the metric and goal from the sweep's config by default.
local json = require "runwatch.json"
local errors = require "runwatch.errors"

local M = {}
local Sweep = {}
Sweep.__index = function(self, k)
  if Sweep[k] then return Sweep[k] end
  if k == "runs" then
    local r = self._api.runs(self.entity .. "/" .. self.project, {sweep = self.id})
    rawset(self, "runs", r)
    return r
  end
  return nil
end
Sweep.__name = "runwatch.Sweep"
function Sweep:__tostring() return string.format("<Sweep %s/%s/%s (%s)>", self.entity, self.project, self.id, tostring(self.state)) end

local function null(v) if v == json.null then return nil end return v end

-- The sweep config is YAML or JSON text; JSON is decoded, and metric name/goal are read from
-- either form (YAML: the "metric:" block's "name:" and "goal:" lines).
local function parse_config(text)
  if type(text) ~= "string" then return nil, nil end
  local doc = json.decode(text)
  if type(doc) == "table" then return doc, doc.metric end
  local block = text:match("\nmetric:%s*\n(.-)\n%S") or text:match("^metric:%s*\n(.-)\n%S") or
    text:match("\nmetric:%s*\n(.*)$")
  local metric
  if block then
    metric = {name = block:match("%f[%w]name:%s*([^\n]+)"), goal = block:match("%f[%w]goal:%s*([^\n]+)")}
    if metric.name then metric.name = metric.name:gsub("%s+$", ""):gsub("^['\"]", ""):gsub("['\"]$", "") end
    if metric.goal then metric.goal = metric.goal:gsub("%s+$", "") end
  end
  return text, metric
end

function M.new(api, entity, project, attrs)
  local config, metric = parse_config(null(attrs.config))
  return setmetatable({_api = api, entity = entity, project = project, id = attrs.name,
    name = null(attrs.displayName) or attrs.name, display_name = null(attrs.displayName),
    state = null(attrs.state), method = null(attrs.method), best_loss = null(attrs.bestLoss),
    config = config, metric = metric, created_at = null(attrs.createdAt), updated_at = null(attrs.updatedAt),
    run_count = null(attrs.runCount), run_count_expected = null(attrs.runCountExpected),
    description = null(attrs.description), storage_id = null(attrs.id)}, Sweep)
end

-- sweep:best_run([metric [, order]]) -> the best run of the sweep by summary metric, or nil.
-- order "+" (lowest first) or "-" (highest first); default from the config's goal.
function Sweep:best_run(metric, order)
  local m = metric or (self.metric and self.metric.name)
  if not m then error("best_run: no metric given and the sweep config names none", 2) end
  if not order then
    local goal = self.metric and self.metric.goal
    order = goal == "maximize" and "-" or "+"
  end
  if order ~= "+" and order ~= "-" then error("best_run: order must be '+' or '-'", 2) end
  local runs = self._api.runs(self.entity .. "/" .. self.project,
    {sweep = self.id, ["summary." .. m] = {["$exists"] = true}}, {order = order .. "summary." .. m, per_page = 10})
  for _, r in ipairs(runs) do
    local v = r.summary[m]
    if type(v) == "number" and v == v then return r end
  end
  return nil
end

function M.get(api, backend, entity, project, id)
  local attrs = backend:sweep(entity, project, id)
  if not attrs then
    errors.raise({message = "Could not find sweep " .. entity .. "/" .. project .. "/" .. id, op = "GetSweep"}, 3)
  end
  return M.new(api, entity, project, attrs)
end

return M
