-- CommError: what a failed call to W&B raises, like wandb.CommError. Fields: message, status
-- (HTTP status or nil), errors (the GraphQL errors list or nil), exc (the underlying cause),
-- op (the operation), retryable, attempts. tostring gives one readable line.
local M = {}

local CommError = {}
CommError.__index = CommError
CommError.__name = "runwatch.CommError"

function CommError.__tostring(e)
  local parts = {"CommError: "}
  if e.status and e.status ~= 200 then parts[#parts + 1] = "HTTP " .. e.status .. ": " end
  parts[#parts + 1] = e.message or "unknown error"
  if e.op then parts[#parts + 1] = " (" .. e.op .. ")" end
  if e.attempts and e.attempts > 1 then parts[#parts + 1] = " after " .. e.attempts .. " attempts" end
  return (table.concat(parts):gsub("[\r\n]+", " "))
end

-- new{message=, status=, errors=, exc=, op=, retryable=} -> CommError
function M.new(fields)
  return setmetatable(fields, CommError)
end

-- raise(fields, level): error() with a CommError value
function M.raise(fields, level)
  error(M.new(fields), (level or 1) + 1)
end

function M.is(v) return getmetatable(v) == CommError end

local function repr(v)
  local t = type(v)
  if t == "string" then
    if #v > 200 then v = v:sub(1, 200) .. "..." end
    return (string.format("%q", v):gsub("\\\n", "\\n"))
  elseif t == "number" or t == "boolean" then return tostring(v)
  elseif t == "table" then return "{...}" end
  return t
end

-- describe(v) -> one line for an error value that is not a string: its __tostring, else a
-- table's fields (`{code = 5, msg = "boom"}`, sorted, at most 10; no metamethod runs), else
-- its type. What `error({...})` in a script shows instead of "error object is a table value".
function M.describe(v)
  if type(v) == "string" then return v end
  local mt = getmetatable(v)
  if type(mt) == "table" and rawget(mt, "__tostring") then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" then return s end
    if not ok then return "error object whose __tostring failed: " .. (type(s) == "string" and s or type(s)) end
  end
  if type(v) ~= "table" then return "(error object is a " .. type(v) .. " value)" end
  local keys = {}
  for k in next, v do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  local parts = {}
  for i = 1, math.min(#keys, 10) do
    local k = keys[i]
    local name = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or ("[" .. repr(k) .. "]")
    parts[#parts + 1] = name .. " = " .. repr(rawget(v, k))
  end
  if #keys > 10 then parts[#parts + 1] = "... (" .. (#keys - 10) .. " more)" end
  return "error object {" .. table.concat(parts, ", ") .. "}"
end

M.CommError = CommError
return M
