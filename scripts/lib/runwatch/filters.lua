-- MongoDB-style run filters: validation before any request (an error names the field and the
-- operator), translation to the server's keys (summary.X -> summary_metrics.X), encoding as the
-- SDK sends them, and local evaluation with the same semantics (for local runs).
local json = require "runwatch.json"

local M = {}

local OPS = {["$eq"] = true, ["$ne"] = true, ["$gt"] = true, ["$gte"] = true, ["$lt"] = true,
  ["$lte"] = true, ["$in"] = true, ["$nin"] = true, ["$exists"] = true, ["$regex"] = true,
  ["$not"] = true, ["$options"] = true}
local LOGICAL = {["$and"] = true, ["$or"] = true, ["$nor"] = true}

-- Run columns the server filters and orders on, with their snake_case aliases.
M.COLUMNS = {name = "name", id = "name", displayName = "displayName", display_name = "displayName",
  state = "state", createdAt = "createdAt", created_at = "createdAt", heartbeatAt = "heartbeatAt",
  heartbeat_at = "heartbeatAt", updatedAt = "updatedAt", updated_at = "updatedAt", group = "group",
  jobType = "jobType", job_type = "jobType", tags = "tags", username = "username", host = "host",
  sweep = "sweep", sweepName = "sweep", sweep_name = "sweep", duration = "duration",
  notes = "notes", description = "description"}

-- server key for a user key: summary.X -> summary_metrics.X (the SDK's only summary prefix)
function M.server_key(k)
  if k:sub(1, 8) == "summary." then return "summary_metrics." .. k:sub(9) end
  return k
end

local function is_array(t)
  if type(t) ~= "table" then return false end
  if json.is_array(t) then return true end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function fail(path, msg, level)
  error(string.format("bad filter at %s: %s", path == "" and "(top level)" or path, msg), level + 1)
end

local function check_key(path, k, level)
  if type(k) ~= "string" then fail(path, "keys must be strings, got " .. type(k), level + 1) end
  if k:sub(1, 1) == "$" then return end
  local root = k:match("^([^.]+)")
  if M.COLUMNS[root] == nil and root ~= "config" and root ~= "summary_metrics" and root ~= "summary"
     and root ~= "keys_info" and root ~= "tags" and root ~= "system_metrics" then
    fail(path, string.format("unknown field %q (run columns: name, display_name, state, created_at, " ..
      "heartbeat_at, group, job_type, tags, username, host, sweep, duration; or config.X, summary.X)", k), level + 1)
  end
  if k:find("%.%.") or k:sub(-1) == "." then fail(path, string.format("malformed key %q", k), level + 1) end
end

local scalar = {string = true, number = true, boolean = true}

-- Validates and rewrites one field's condition; returns the server form.
local function field_cond(path, v, level)
  if type(v) ~= "table" or is_array(v) and next(v) ~= nil then
    if type(v) == "table" then return json.array(v) end
    if not scalar[type(v)] and v ~= json.null then
      fail(path, "a value must be a string, number, boolean, json.null or an operator table, got " .. type(v), level + 1)
    end
    return v
  end
  if v == json.null then return v end
  local out = {}
  local has_op, has_plain = false, false
  for op, arg in pairs(v) do
    if type(op) ~= "string" then fail(path, "operator keys must be strings", level + 1) end
    if op:sub(1, 1) == "$" then
      has_op = true
      local p = path .. "." .. op
      if not OPS[op] then
        if LOGICAL[op] then fail(p, op .. " belongs at the top level or inside $and/$or/$nor, not on a field", level + 1) end
        fail(p, string.format("unknown operator %q (known: $eq $ne $gt $gte $lt $lte $in $nin $exists $regex $not)", op), level + 1)
      end
      if op == "$in" or op == "$nin" then
        if not is_array(arg) then fail(p, op .. " needs a list, got " .. type(arg), level + 1) end
        local a = {}
        for i, x in ipairs(arg) do
          if not scalar[type(x)] and x ~= json.null then fail(p .. "[" .. i .. "]", "list items must be scalars, got " .. type(x), level + 1) end
          a[i] = x
        end
        out[op] = json.array(a)
      elseif op == "$exists" then
        if type(arg) ~= "boolean" then fail(p, "$exists needs true or false, got " .. type(arg), level + 1) end
        out[op] = arg
      elseif op == "$regex" or op == "$options" then
        if type(arg) ~= "string" then fail(p, op .. " needs a string, got " .. type(arg), level + 1) end
        out[op] = arg
      elseif op == "$not" then
        if type(arg) ~= "table" then fail(p, "$not needs an operator table, got " .. type(arg), level + 1) end
        out[op] = field_cond(p, arg, level + 1)
      else
        if not scalar[type(arg)] and arg ~= json.null then
          fail(p, op .. " needs a string, number, boolean or json.null, got " .. type(arg), level + 1)
        end
        if type(arg) == "number" and (arg ~= arg) then fail(p, op .. " cannot compare with NaN", level + 1) end
        out[op] = arg
      end
    else
      has_plain = true
      out[op] = arg
    end
  end
  if has_op and has_plain then fail(path, "mixes operators and plain keys", level + 1) end
  if not has_op then return v end   -- an object literal compared for equality
  return out
end

local function doc(path, f, level)
  if type(f) ~= "table" then fail(path, "a table expected, got " .. type(f), level + 1) end
  local out = {}
  for k, v in pairs(f) do
    local p = path == "" and tostring(k) or (path .. "." .. tostring(k))
    check_key(path, k, level + 1)
    if LOGICAL[k] then
      if not is_array(v) or #v == 0 then fail(p, k .. " needs a non-empty list of filters", level + 1) end
      local list = {}
      for i, sub in ipairs(v) do list[i] = doc(p .. "[" .. i .. "]", sub, level + 1) end
      out[k] = json.array(list)
    elseif k:sub(1, 1) == "$" then
      fail(p, string.format("unknown top-level operator %q (known: $and $or $nor)", k), level + 1)
    else
      out[M.server_key(k)] = field_cond(p, v, level + 1)
    end
  end
  return out
end

-- normalize(filters) -> server-form filter table (validated). Raises naming the field.
function M.normalize(filters, level)
  if filters == nil then return {} end
  return doc("", filters, (level or 1) + 1)
end

-- encode(filters) -> the JSON string sent as $filters, formatted like Python's json.dumps
function M.encode(filters, level)
  local n = M.normalize(filters, (level or 1) + 1)
  if next(n) == nil then return "{}" end
  return json.encode(n, {python = true, sort_keys = true})
end

-- order("-summary.loss") -> "-summary_metrics.loss"; config.X -> config.X.value
function M.order(o, level)
  if o == nil or o == "" then return "-created_at" end
  if type(o) ~= "string" then error("bad order (string expected, got " .. type(o) .. ")", (level or 1) + 1) end
  local sign, key = o:match("^([+-]?)(.+)$")
  if not key:match("^[%w_.%-]+$") then error(string.format("bad order %q", o), (level or 1) + 1) end
  key = M.server_key(key)
  local first, rest = key:match("^config%.([^.]+)(.*)$")
  if first and not rest:match("^%.value") then key = "config." .. first .. ".value" .. rest end
  return (sign == "" and "+" or sign) .. key
end

return M
