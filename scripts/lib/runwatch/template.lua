-- Notification templates: "{{run.name}}: loss {{alert.value}}" filled from the documented run
-- and alert fields only (a template cannot reach into a run's internals, where the API key is),
-- with Slack's control characters escaped in what is substituted into Slack text.
local M = {}

-- The run fields a template may name (README, "Rules"); anything else renders empty.
M.RUN_FIELDS = {"id", "name", "display_name", "path", "url", "state", "entity", "project", "group",
  "job_type", "tags", "notes", "description", "created_at", "heartbeat_at", "sweep_name", "user",
  "config", "summary", "last_step", "runtime"}
M.ALERT_FIELDS = {"rule", "transition", "state", "value", "severity", "since", "episode", "n", "key",
  "description"}

local RUN_OK, ALERT_OK = {}, {}
for _, k in ipairs(M.RUN_FIELDS) do RUN_OK[k] = true end
for _, k in ipairs(M.ALERT_FIELDS) do ALERT_OK[k] = true end

-- env(run, alert) -> {run = view, alert = view}: views that read only the allowed fields (a
-- run's fields are read when a template names them, so an unused field costs nothing)
function M.env(run, alert)
  local rv = setmetatable({}, {__index = function(t, k)
    if not RUN_OK[k] or run == nil then return nil end
    local v = run[k]
    rawset(t, k, v)
    return v
  end})
  local av = setmetatable({}, {__index = function(_, k)
    if ALERT_OK[k] and alert then return alert[k] end
  end})
  return {run = rv, alert = av}
end

local function lookup(env, path)
  local v = env
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local function text_of(v)
  if v == nil then return "" end
  if type(v) == "number" then
    if v ~= v then return "NaN" end
    if v == math.huge then return "Infinity" end
    if v == -math.huge then return "-Infinity" end
  end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = text_of(x) end
    return table.concat(parts, ", ")
  end
  return tostring(v)
end

-- slack_escape(s): &, < and > as Slack's text format wants them, so a substituted run name
-- cannot ping a channel (<!channel>) or disguise a link (<https://evil|innocent>)
function M.slack_escape(s)
  return (s:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"))
end

local function render_string(s, env, escape)
  local whole = s:match("^{{%s*([%w_.]+)%s*}}$")
  if whole and not escape then return lookup(env, whole) end     -- keeps the value's type (JSON)
  return (s:gsub("{{%s*([%w_.]+)%s*}}", function(p)
    local v = text_of(lookup(env, p))
    return escape and escape(v) or v
  end))
end

-- render(template, env [, escape]) -> the template with its placeholders filled: a string, or a
-- table rendered member by member (a string that is only one placeholder keeps the value's
-- type, so a number stays a number in a JSON body). escape(text) is applied to every
-- substituted value (not to the template's own text).
function M.render(t, env, escape)
  if type(t) == "string" then return render_string(t, env, escape) end
  if type(t) ~= "table" then return t end
  local out = {}
  for k, v in pairs(t) do out[k] = M.render(v, env, escape) end
  return setmetatable(out, getmetatable(t))
end

return M
