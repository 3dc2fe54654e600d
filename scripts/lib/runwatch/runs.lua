-- api.runs(): a lazy, paged list of runs. #runs is the server's runCount (one request);
-- runs[i] and ipairs(runs) fetch pages as they are reached (next cursor = the last edge's
-- cursor), and the next page is fetched while the script works through the current one.
local task = require "runwatch.task"
local errors = require "runwatch.errors"
local run_mod = require "runwatch.run"

local M = {}
local Runs = {}
local RunsMT = {__name = "runwatch.Runs"}

function M.new(api, entity, project, filters_json, order, per_page, full)
  return setmetatable({_ = {api = api, entity = entity, project = project, filters = filters_json,
    order = order, per_page = per_page, full = full, list = {}, count = nil, cursor = nil,
    has_next = true, pending = nil, missing = false}}, RunsMT)
end

local function st(self) return rawget(self, "_") end

local function fetch(s)
  local page = s.api.backend:runs_page(s.entity, s.project, {filters = s.filters, order = s.order,
    per_page = s.per_page, cursor = s.cursor, full = s.full})
  return page
end

-- Takes the next page: the prefetched one if any, else fetched now.
local function next_page(s)
  if not s.has_next then return false end
  local page
  if s.pending then
    local slot = s.pending
    s.pending = nil
    local ok, err = slot.task:wait()
    if not ok then error(slot.task.errvalue or err, 0) end
    page = slot.page
  else
    page = fetch(s)
  end
  if not page then
    s.missing, s.has_next, s.count = true, false, 0
    return false
  end
  s.count = page.count
  for _, node in ipairs(page.nodes) do
    s.list[#s.list + 1] = run_mod.new(s.api, s.entity, s.project, node, s.full)
  end
  s.cursor = page.cursor
  s.has_next = page.has_next and #page.nodes > 0
  return true
end

local function start_prefetch(s)
  if s.pending or not s.has_next or #s.list == 0 then return end
  local slot = {}
  slot.task = task.new(function() slot.page = fetch(s) end, {quiet = true})
  s.pending = slot
end

local function get(self, i)
  local s = st(self)
  while i > #s.list and s.has_next do
    if not next_page(s) then break end
  end
  -- the script is in the last page we have: fetch the next one meanwhile
  if i > #s.list - s.per_page // 2 then start_prefetch(s) end
  return s.list[i]
end

RunsMT.__index = function(self, k)
  if math.type(k) == "integer" then
    if k < 1 then return nil end
    return get(self, k)
  end
  return Runs[k]
end

RunsMT.__newindex = function() error("runs are read-only", 2) end

RunsMT.__len = function(self)
  local s = st(self)
  if s.count == nil then next_page(s) end
  return s.count or 0
end

RunsMT.__pairs = function(self)
  return function(t, i)
    i = i + 1
    local v = t[i]
    if v ~= nil then return i, v end
  end, self, 0
end

RunsMT.__tostring = function(self)
  local s = st(self)
  return string.format("<Runs %s/%s (%s loaded)>", s.entity, s.project, #s.list)
end

-- runs:iter() -> for run in runs:iter() do ... end
function Runs.iter(self)
  local i = 0
  return function()
    i = i + 1
    return self[i]
  end
end

-- runs:load_all() -> a plain list of every run
function Runs.load_all(self)
  local out = {}
  for r in Runs.iter(self) do out[#out + 1] = r end
  return out
end

function Runs.loaded(self) return #st(self).list end

return M
