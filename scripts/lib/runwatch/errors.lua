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

M.CommError = CommError
return M
