-- `runwatch log [--state PATH] [--since 1h|ISO] [--rule NAME] [--run PATH] [--action A] [--limit N] [--json]` (options declared in cli/spec.lua): the audit log of actions, one line each (read-only, works while the daemon runs).
local core = require "runwatch.core"
local json = require "runwatch.json"

local M = {}

local function err(msg) io.stderr:write(core.redact("runwatch log: " .. msg .. "\n")) end

-- "1h" -> seconds ago; an ISO time -> epoch seconds; else nil
local function since_time(v, now, parse_time)
  local okd, secs = pcall(require("runwatch.cron").duration, v)
  if okd and type(secs) == "number" then return now - secs end
  return parse_time(v)
end


local function cell(v)
  if v == nil or v == json.null or v == "" then return "-" end
  return (tostring(v):gsub("[\r\n\t]+", " "))
end

-- Non-finite numbers become strings, so the output is strict JSON (jq, JSON.parse).
local function strict(v)
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    return v ~= v and "NaN" or (v > 0 and "Infinity" or "-Infinity")
  end
  if type(v) == "table" then
    local mt = getmetatable(v)
    local c = {}
    for k, x in pairs(v) do c[k] = strict(x) end
    return setmetatable(c, mt)
  end
  return v
end
M.strict = strict

-- main(options) -> exit status: 0, 1 when the store cannot be read, 2 for a usage error
-- (options: cli/spec.lua)
function M.main(o)
  local state = require "runwatch.state"
  local filter = {rule = o.rule, run = o.run, action = o.action, limit = o.limit or 100}
  if filter.limit == 0 then filter.limit = math.maxinteger end
  if o.since then
    filter.since = since_time(o.since, core.time(), state.parse_time)
    if not filter.since then
      return require("runwatch.cli.parse").usage_error("log",
        "bad --since '" .. o.since .. "' (a duration like 1h or 7d, or an ISO-8601 time)")
    end
  end
  local ok, e = pcall(function()
    state.open(nil, {readonly = true})
    local list = state.audit_list(filter)
    if o.json then
      local arr = json.array()
      for i, a in ipairs(list) do
        arr[i] = strict({id = a.id, time = a.time, script = a.script, job = a.job, rule = a.rule,
          run = a.run, action = a.action, outcome = a.outcome, detail = a.detail, extra = a.extra})
      end
      core.write(json.encode(arr, {sort_keys = true}) .. "\n")
      return
    end
    local lines = {}
    for i, a in ipairs(list) do
      lines[i] = table.concat({a.time, cell(a.script), cell(a.rule), cell(a.run), cell(a.action),
        cell(a.outcome), cell(a.detail)}, "  ")
    end
    if #lines > 0 then core.write(table.concat(lines, "\n") .. "\n") end
  end)
  state.close()
  if not ok then
    err(tostring(e))
    return 1
  end
  return 0
end

return M
