-- Durations as scripts write them ("90s", "5m", "1h30m", "250ms", or seconds as a number),
-- checked with an error naming the option. The lowest layer of the library's Lua side: the
-- scheduler, watches, rules and the API all parse options with it.
local cron = require "runwatch.cron"

local M = {}

-- duration(v, what, level) -> seconds. Raises "bad <what> ..." at the caller's `level`.
function M.parse(v, what, level)
  level = (level or 1) + 1
  if type(v) == "number" then
    if v ~= v or v < 0 or v == math.huge then
      error(string.format("bad %s %s: a non-negative number of seconds expected", what or "duration", tostring(v)), level)
    end
    return v
  end
  if type(v) ~= "string" then
    error(string.format("bad %s (a duration like \"5m\" or seconds expected, got %s)", what or "duration", type(v)), level)
  end
  local ok, secs = pcall(cron.duration, v)
  if not ok then
    local msg = tostring(secs):gsub("^[^:]*:%d+: ", "")
    if what and what ~= "duration" then msg = msg .. " (" .. what .. ")" end
    error(msg, level)
  end
  return secs
end

return M
