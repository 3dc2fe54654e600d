-- rule{}: alert rules with a lifecycle over a watch's runs. when(run, ctx) -> cond, value is
-- evaluated for each run the watch examines; per fingerprint (rule, run) the alert goes
-- inactive -> pending -> firing (after `for`) -> resolved (re-armed). Each transition becomes
-- one effect per notify entry (effects.lua), queued in the run's transaction under a stable key
-- (rule, run, episode, transition, repeat number, entry), so a restart neither repeats nor
-- loses one. The alert states live in the state store with the run's cursor.
local core = require "runwatch.core"
local json = require "runwatch.json"
local task = require "runwatch.task"
local state = require "runwatch.state"
local duration = require "runwatch.duration"
local effects = require "runwatch.effects"
local kinds = require "runwatch.effect_kinds"
local template = require "runwatch.template"
local run_mod = require "runwatch.run"
local watch_mod = require "runwatch.watch"

local M = {}
local rules = {}
M.rules = rules

local SEVERITIES = {info = true, warning = true, critical = true, error = true}
local KNOWN = {name = true, watch = true, when = true, ["for"] = true, ["repeat"] = true,
  severity = true, notify = true, resolve = true, description = true}

-- {====== notify entries: what each kind of entry accepts, and the effect it becomes

-- kind -> the keys an entry of that kind may have
local NOTIFY = {
  slack = {slack = true, text = true, headers = true},
  webhook = {webhook = true, template = true, headers = true},
  wandb_alert = {wandb_alert = true, title = true, text = true, wait = true},
  tag = {tag = true, untag_on_resolve = true},
  untag = {untag = true},
  annotate = {annotate = true},
  notes = {notes = true},
  log = {log = true},
}
local NOTIFY_NAMES = "slack, webhook, wandb_alert, tag, untag, annotate, notes, log, or a function"

local function check_template(v, where, level)
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" or v == json.null then return end
  if t ~= "table" then error(where .. ": a template value cannot be a " .. t, level + 1) end
  for k, x in pairs(v) do check_template(x, where, level + 1) end
end

-- check_notify(entry, where, level) -> kind: raises at the script's line on a bad entry
local function check_notify(spec, where, level)
  if type(spec) == "function" then return "function" end
  if type(spec) ~= "table" then error(where .. ": an action table or a function expected", level + 1) end
  local kind
  for k in pairs(spec) do
    if NOTIFY[k] then
      if kind then error(where .. ": one action per entry (" .. kind .. " and " .. k .. ")", level + 1) end
      kind = k
    end
  end
  if not kind then error(where .. ": unknown action (" .. NOTIFY_NAMES .. ")", level + 1) end
  for k in pairs(spec) do
    if not NOTIFY[kind][k] then
      local allowed = {}
      for a in pairs(NOTIFY[kind]) do allowed[#allowed + 1] = a end
      table.sort(allowed)
      error(string.format("%s: unknown option %q for a %s action (%s)", where, tostring(k), kind,
        table.concat(allowed, ", ")), level + 1)
    end
  end
  if kind == "slack" or kind == "webhook" then kinds.check_url(spec[kind], where .. ": " .. kind, level + 1) end
  if spec.headers ~= nil then
    if type(spec.headers) ~= "table" then error(where .. ": headers must be a table", level + 1) end
    for k, v in pairs(spec.headers) do
      if type(k) ~= "string" or type(v) ~= "string" then error(where .. ": headers must map strings to strings", level + 1) end
    end
  end
  if spec.text ~= nil and type(spec.text) ~= "string" then error(where .. ": text must be a string", level + 1) end
  if spec.title ~= nil and type(spec.title) ~= "string" then error(where .. ": title must be a string", level + 1) end
  if spec.wait ~= nil then duration.parse(spec.wait, where .. ": wait", level + 1) end
  if spec.template ~= nil then check_template(spec.template, where .. ": template", level + 1) end
  if kind == "tag" or kind == "untag" then
    if type(spec[kind]) ~= "string" or spec[kind] == "" then error(where .. ": " .. kind .. " needs a tag (a string)", level + 1) end
  end
  if kind == "annotate" then
    if type(spec.annotate) ~= "table" or next(spec.annotate) == nil then
      error(where .. ": annotate needs a table of summary keys", level + 1)
    end
    check_template(spec.annotate, where .. ": annotate", level + 1)
  end
  if kind == "notes" and type(spec.notes) ~= "string" and spec.notes ~= true then
    error(where .. ": notes needs a line (a string) or true", level + 1)
  end
  if kind == "wandb_alert" and spec.wandb_alert ~= true then
    error(where .. ": wandb_alert = true expected", level + 1)
  end
  return kind
end
M.check_notify = check_notify

local function show(v)
  if type(v) == "number" and v ~= v then return "NaN" end
  return tostring(v)
end

local function default_text(alert, run, escape)
  escape = escape or function(x) return x end
  local v = alert.value
  local vs = v == nil and "" or (" (value " .. escape(show(v)) .. ")")
  return string.format("[%s] %s on %s%s %s", alert.transition:upper(), escape(alert.rule), escape(run.path), vs,
    escape(run.url or ""))
end

local WANDB_LEVEL = {critical = "ERROR", error = "ERROR", warning = "WARN", info = "INFO"}

-- The effect (kind, payload) one notify entry makes of a transition, or nil for none.
local function notify_effect(rule, i, spec, alert, run)
  local env = template.env(run, alert)
  local target = function(fields) return run_mod.payload(run, fields) end
  if type(spec) == "function" then
    local plain = {}
    for k, v in pairs(alert) do plain[k] = v end
    return "call", {fn = rule.name .. "#" .. i, run = run.path, api = rawget(run, "_").api.id, alert = plain}
  elseif spec.slack then
    local text = spec.text and template.render(spec.text, env, template.slack_escape) or
      default_text(alert, run, template.slack_escape)
    return "slack", {url = spec.slack, text = text, headers = spec.headers}
  elseif spec.webhook then
    local body = spec.template and template.render(spec.template, env) or
      {rule = alert.rule, transition = alert.transition, severity = alert.severity, value = alert.value,
       run = run.path, url = run.url, since = alert.since}
    return "webhook", {url = spec.webhook, body = body, headers = spec.headers}
  elseif spec.wandb_alert then
    local level = alert.transition == "resolved" and "INFO" or (WANDB_LEVEL[alert.severity] or "WARN")
    return "wandb_alert", target{title = spec.title and template.render(spec.title, env, tostring) or
      (alert.rule .. " " .. alert.transition), text = spec.text and template.render(spec.text, env, tostring) or
      default_text(alert, run), level = level, wait = spec.wait and duration.parse(spec.wait, "wait") or 0}
  elseif spec.tag then
    if alert.transition == "resolved" then
      if spec.untag_on_resolve then return "untag", target{tags = {spec.tag}} end
      return nil
    end
    return "tag", target{tags = {spec.tag}}
  elseif spec.untag then
    if alert.transition == "resolved" then return nil end
    return "untag", target{tags = {spec.untag}}
  elseif spec.annotate then
    if alert.transition == "resolved" then return nil end
    return "annotate", target{kv = template.render(spec.annotate, env)}
  elseif spec.notes then
    local line = type(spec.notes) == "string" and template.render(spec.notes, env, tostring) or default_text(alert, run)
    return "note", target{line = line}
  end
  return nil    -- log: the transition's own log line
end

-- }======

local Rule = {}
Rule.__index = Rule
Rule.__name = "runwatch.Rule"
function Rule:__tostring() return "runwatch.Rule (" .. self.name .. ")" end

-- one effect per notify entry for a transition (firing, repeat, resolved)
function Rule:send(a, transition, run)
  local alert = {rule = self.name, transition = transition, state = transition == "resolved" and "resolved" or "firing",
    value = a.value, severity = self.severity, since = a.since, episode = a.episode, n = a.notified or 1,
    description = self.description}
  for i, spec in ipairs(self.notify) do
    local key = table.concat({self.name, run.path, tostring(a.episode), transition, tostring(alert.n), tostring(i)}, "|")
    local ok, kind, p = pcall(notify_effect, self, i, spec, alert, run)
    if not ok then
      core.log("error", "rule " .. self.name .. " notify[" .. i .. "] on " .. run.path .. ": " .. tostring(kind))
    elseif kind then
      local res, err = effects.perform(kind, p, {key = key, rule = self.name})
      if res == nil then
        core.log("warn", "rule " .. self.name .. " notify[" .. i .. "] on " .. run.path .. " failed: " .. tostring(err))
      end
    end
  end
  core.log(transition == "resolved" and "info" or "warn",
    string.format("alert %s %s on %s", self.name, transition, run.path), {value = a.value})
end

-- evaluate(run, ctx): one step of the lifecycle for this run
function Rule:evaluate(run, ctx)
  local ok, cond, value = xpcall(self.when, debug.traceback, run, ctx)
  if not ok then
    local t = task.current()
    core.log("error", "rule " .. self.name .. " when() failed on " .. run.path .. ": " .. tostring(cond), nil,
      t and t.script, t and t.job)
    core.job_failed()
    return
  end
  local fp = run.path
  local now = ctx.now or core.time()
  local a = state.alert(self.name, fp) or {state = "inactive", episode = 0}
  local before = a.state
  if cond then
    if a.state == "inactive" or a.state == "resolved" then
      a = {state = "pending", since = now, episode = (a.episode or 0) + 1, run = fp, notified = 0}
    end
    a.value = value
    if a.state == "pending" and now - a.since >= self["for"] then
      a.state, a.fired_at, a.last_notified, a.notified = "firing", now, now, 1
      self:send(a, "firing", run)
    elseif a.state == "firing" and self["repeat"] and now - (a.last_notified or now) >= self["repeat"] then
      a.last_notified, a.notified = now, (a.notified or 1) + 1
      self:send(a, "repeat", run)
    end
  else
    if a.state == "pending" then
      a.state = "inactive"
    elseif a.state == "firing" then
      a.state, a.resolved_at = "resolved", now
      if self.resolve then self:send(a, "resolved", run) end
    end
  end
  if a.state ~= "inactive" or before ~= "inactive" then state.set_alert(self.name, fp, a) end
  return a.state
end

-- rule{name=, watch=, when=, ["for"]=, ["repeat"]=, severity=, notify={...}, resolve=true,
-- description=} -> Rule. Every option is checked here, at the script's line.
function M.rule(spec)
  if type(spec) ~= "table" then error("bad argument #1 to 'rule' (table expected, got " .. type(spec) .. ")", 2) end
  for k in pairs(spec) do
    if not KNOWN[k] then error(string.format("rule: unknown option %q", tostring(k)), 2) end
  end
  if type(spec.name) ~= "string" or spec.name == "" then error("rule: name is required (a non-empty string)", 2) end
  local name = spec.name
  if rules[name] then error("rule: two rules named '" .. name .. "'", 2) end
  if type(spec.when) ~= "function" then error("rule " .. name .. ": when must be a function", 2) end
  local ws = spec.watch
  if watch_mod.is_watch(ws) then ws = {ws} end
  if type(ws) ~= "table" or #ws == 0 then error("rule " .. name .. ": watch = a watch (or a list of watches)", 2) end
  for i, w in ipairs(ws) do
    if not watch_mod.is_watch(w) then error("rule " .. name .. ": watch[" .. i .. "] is not a watch", 2) end
  end
  local severity = spec.severity or "warning"
  if not SEVERITIES[severity] then error("rule " .. name .. ": severity must be info, warning, critical or error", 2) end
  if spec.resolve ~= nil and type(spec.resolve) ~= "boolean" then error("rule " .. name .. ": resolve must be true or false", 2) end
  if spec.description ~= nil and type(spec.description) ~= "string" then error("rule " .. name .. ": description must be a string", 2) end
  local notify = spec.notify or {}
  if type(notify) ~= "table" and type(notify) ~= "function" then
    error("rule " .. name .. ": notify must be a list of actions", 2)
  end
  if type(notify) == "function" or (#notify == 0 and next(notify) ~= nil) then notify = {notify} end
  for i, a in ipairs(notify) do check_notify(a, "rule " .. name .. " notify[" .. i .. "]", 2) end
  local r = setmetatable({
    name = name, when = spec.when, severity = severity, notify = notify, description = spec.description,
    ["for"] = duration.parse(spec["for"] or 0, "rule " .. name .. ": for", 2),
    ["repeat"] = spec["repeat"] and duration.parse(spec["repeat"], "rule " .. name .. ": repeat", 2) or nil,
    resolve = spec.resolve ~= false, watches = ws,
  }, Rule)
  if r["repeat"] == 0 then error("rule " .. name .. ": repeat must be more than 0", 2) end
  rules[name] = r
  for i, fn in ipairs(notify) do
    if type(fn) == "function" then effects.register_function(name .. "#" .. i, fn) end
  end
  for _, w in ipairs(ws) do watch_mod.attach_rule(w, r) end
  state.meta_set("rule:" .. name, {watch = ws[1].id, severity = severity, ["for"] = r["for"],
    ["repeat"] = r["repeat"]})
  return r
end

return M
