-- Logging for scripts: log.debug/info/warn/error(msg, fields). Every line names the script and
-- the job it came from; secrets are redacted by the host.
local core = require "runwatch.core"
local task = require "runwatch.task"

local M = {}

local function emit(level, msg, fields)
  if fields ~= nil and type(fields) ~= "table" then
    error("bad argument #2 to 'log." .. level .. "' (table expected, got " .. type(fields) .. ")", 3)
  end
  local t = task.current()
  core.log(level, tostring(msg), fields, t and t.script, t and t.job)
end

function M.debug(msg, fields) emit("debug", msg, fields) end
function M.info(msg, fields) emit("info", msg, fields) end
function M.warn(msg, fields) emit("warn", msg, fields) end
function M.error(msg, fields) emit("error", msg, fields) end
function M.enabled(level) return core.log_enabled(level) end

return M
