-- `runwatch log [--state PATH] [--since 1h|ISO] [--rule NAME] [--run PATH] [--action A] [--limit N] [--json]`: the audit log of actions, one line each (read-only, works while the daemon runs).
local core = require "runwatch.core"
local json = require "runwatch.json"

local M = {}

M.USAGE = [[
usage: runwatch log [--state PATH] [--since 1h|ISO] [--rule NAME] [--run PATH] [--action A]
                    [--limit N] [--json]

Prints the audit log of the actions scripts took (tags, notes, alerts, webhooks, ...), oldest
first, one line each: time, script, rule, run, action, outcome, detail.

Options:
  --state PATH    the state store (default $XDG_STATE_HOME/runwatch/state.db)
  --since WHEN    only entries from this long ago ("90m", "1h", "7d") or since this time
                  ("2024-06-01", "2024-06-01T09:00:00Z")
  --rule NAME     only entries of this rule
  --run PATH      only entries about this run (entity/project/run_id)
  --action NAME   only this action (tag, update, notify, ...)
  --limit N       the newest N entries (default 100; 0 for all)
  --json          print one JSON array instead
  -h, --help      this help
]]

local function err(msg) io.stderr:write(core.redact("runwatch log: " .. msg .. "\n")) end

local VALUED = {["--since"] = "since", ["--rule"] = "rule", ["--run"] = "run",
  ["--action"] = "action", ["--limit"] = "limit"}

-- "1h" -> seconds ago; an ISO time -> epoch seconds; else nil
local function since_time(v, now, parse_time)
  local okd, secs = pcall(require("runwatch.cron").duration, v)
  if okd and type(secs) == "number" then return now - secs end
  return parse_time(v)
end

-- parse(args) -> options, or nil, message
function M.parse(args)
  local o = {}
  local i = 1
  args = args or {}
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if name == "--json" and not inline then o.json = true
    elseif (name == "-h" or name == "--help") and not inline then o.help = true
    elseif VALUED[name] then
      local v = inline
      if v == nil then
        i = i + 1
        v = args[i]
        if v == nil then return nil, "option " .. name .. " needs a value" end
      end
      o[VALUED[name]] = v
    elseif a:sub(1, 1) == "-" then
      return nil, "unknown option '" .. a .. "'"
    else
      return nil, "unexpected argument '" .. a .. "'"
    end
    i = i + 1
  end
  if o.limit then
    local n = tonumber(o.limit)
    if not n or math.type(n) ~= "integer" or n < 0 then return nil, "bad --limit '" .. o.limit .. "' (a count)" end
    o.limit = n
  end
  return o
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

-- main(args) -> exit status: 0, 1 when the store cannot be read, 2 for a usage error
function M.main(args)
  local o, perr = M.parse(args)
  if not o then
    err(perr)
    io.stderr:write(M.USAGE)
    return 2
  end
  if o.help then core.write(M.USAGE) return 0 end
  local state = require "runwatch.state"
  local filter = {rule = o.rule, run = o.run, action = o.action, limit = o.limit or 100}
  if filter.limit == 0 then filter.limit = math.maxinteger end
  if o.since then
    filter.since = since_time(o.since, core.time(), state.parse_time)
    if not filter.since then
      err("bad --since '" .. o.since .. "' (a duration like 1h or 7d, or an ISO-8601 time)")
      io.stderr:write(M.USAGE)
      return 2
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
