-- Deep comparison of JSON-like values (integer/float and NaN aware) and the human-readable
-- change lines that dry-run prints and the audit log keeps: "summary.loss: 0.5 -> 0.25".
local json = require "runwatch.json"

local M = {}

-- same(a, b): values are equal as W&B would store them (1 ~= 1.0; NaN == NaN; deep tables)
function M.same(a, b)
  if a == b then return math.type(a) == math.type(b) end
  if type(a) == "number" and type(b) == "number" then return a ~= a and b ~= b end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  if json.is_array(a) ~= json.is_array(b) and (next(a) == nil or next(b) == nil) then return false end
  for k, v in pairs(a) do if not M.same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- copy(v): a deep copy keeping array marks
function M.copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.copy(x) end
  return setmetatable(out, getmetatable(v))
end

-- show(v): compact JSON for a change line; (unset) for absent values
function M.show(v)
  if v == nil then return "(unset)" end
  local ok, s = pcall(json.encode, v, {sort_keys = true})
  if not ok then return tostring(v) end
  if #s > 200 then s = s:sub(1, 197) .. "..." end
  return s
end

-- keys(old, new) -> changed set {k = new value or nil}, removed list, sorted key list
function M.keys(old, new)
  local set, removed, order = {}, {}, {}
  for k, v in pairs(new) do
    if not M.same(v, old[k]) then set[k] = v; order[#order + 1] = k end
  end
  for k in pairs(old) do
    if new[k] == nil then removed[#removed + 1] = k; order[#order + 1] = k end
  end
  table.sort(order, function(a, b) return tostring(a) < tostring(b) end)
  table.sort(removed, function(a, b) return tostring(a) < tostring(b) end)
  return set, removed, order
end

-- tags(old, new) -> added, removed (set semantics, in a stable order)
function M.tags(old, new)
  old, new = old or {}, new or {}
  -- the common case, every run on every tick: the same list as last time
  if #old == #new then
    local same = true
    for i = 1, #new do if old[i] ~= new[i] then same = false break end end
    if same then return {}, {} end
  end
  local o, n = {}, {}
  for _, t in ipairs(old or {}) do o[t] = true end
  for _, t in ipairs(new or {}) do n[t] = true end
  local added, removed = {}, {}
  for _, t in ipairs(new or {}) do if not o[t] and not added[t] then added[#added + 1] = t; added[t] = true end end
  for _, t in ipairs(old or {}) do if not n[t] and not removed[t] then removed[#removed + 1] = t; removed[t] = true end end
  for _, t in ipairs(added) do added[t] = nil end
  for _, t in ipairs(removed) do removed[t] = nil end
  return added, removed
end

return M
