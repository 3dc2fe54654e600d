-- rule{}: alert rules with a lifecycle over a watch's runs. when(run, ctx) -> cond, value is
-- evaluated for each run the watch examines; per fingerprint (rule, run) the alert goes
-- inactive -> pending -> firing (after `for`) -> resolved (re-armed). One notification per
-- transition, repeats only every `repeat`, all of it persisted with the run's cursor, so a
-- restart neither repeats nor loses one.
local core = require "runwatch.core"
local task = require "runwatch.task"
local schedule = require "runwatch.schedule"

local M = {}
local rules = {}
M.rules = rules
local memory = {}           -- alert states when no state store is available

local SEVERITIES = {info = true, warning = true, critical = true, error = true}
local KNOWN = {name = true, watch = true, when = true, ["for"] = true, ["repeat"] = true,
  severity = true, notify = true, resolve = true, description = true}

local function state_mod()
  local ok, st = pcall(require, "runwatch.state")
  return ok and st or nil
end

local Rule = {}
Rule.__index = Rule
Rule.__name = "runwatch.Rule"
function Rule:__tostring() return "runwatch.Rule (" .. self.name .. ")" end

function Rule:get(fp)
  local st = state_mod()
  if st then return st.alert(self.name, fp) end
  return memory[self.name .. "\0" .. fp]
end

function Rule:put(fp, a)
  local st = state_mod()
  if st then st.set_alert(self.name, fp, a) else memory[self.name .. "\0" .. fp] = a end
end

-- queue one notification per notify entry for a transition (firing, repeat, resolved)
function Rule:send(a, transition, run)
  local actions = require "runwatch.actions"
  for i = 1, #self.notify do
    actions.enqueue({rule = self.name, index = i, transition = transition, run = run.path,
      value = a.value, severity = self.severity, episode = a.episode, n = a.notified or 1,
      since = a.since, time = core.time()})
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
  local a = self:get(fp) or {state = "inactive", episode = 0}
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
  if a.state ~= "inactive" or before ~= "inactive" then self:put(fp, a) end
  return a.state
end

-- rule{name=, watch=, when=, ["for"]=, ["repeat"]=, severity=, notify={...}, resolve=true}
function M.rule(spec)
  if type(spec) ~= "table" then error("bad argument #1 to 'rule' (table expected)", 2) end
  for k in pairs(spec) do
    if not KNOWN[k] then error(string.format("rule: unknown option %q", tostring(k)), 2) end
  end
  if type(spec.name) ~= "string" or spec.name == "" then error("rule: name is required", 2) end
  if rules[spec.name] then error("rule: two rules named '" .. spec.name .. "'", 2) end
  if type(spec.when) ~= "function" then error("rule " .. spec.name .. ": when must be a function", 2) end
  local ws = spec.watch
  if getmetatable(ws) == require("runwatch.watch").Watch then ws = {ws} end
  if type(ws) ~= "table" or #ws == 0 then error("rule " .. spec.name .. ": watch = a watch (or a list of watches)", 2) end
  local severity = spec.severity or "warning"
  if not SEVERITIES[severity] then error("rule " .. spec.name .. ": severity must be info, warning, critical or error", 2) end
  local notify = spec.notify or {}
  if type(notify) ~= "table" then error("rule " .. spec.name .. ": notify must be a list of actions", 2) end
  if #notify == 0 and next(notify) ~= nil then notify = {notify} end
  local actions = require "runwatch.actions"
  for i, a in ipairs(notify) do actions.check(a, "rule " .. spec.name .. " notify[" .. i .. "]", 3) end
  local r = setmetatable({
    name = spec.name, when = spec.when, severity = severity, notify = notify,
    ["for"] = schedule.duration(spec["for"] or 0, "for", 2),
    ["repeat"] = spec["repeat"] and schedule.duration(spec["repeat"], "repeat", 2) or nil,
    resolve = spec.resolve ~= false, watches = ws,
  }, Rule)
  rules[r.name] = r
  local wmod = require "runwatch.watch"
  for _, w in ipairs(ws) do
    wmod.attach_rule(w, r)
    r.api = r.api or w.api
  end
  local st = state_mod()
  if st then
    pcall(st.meta_set, "rule:" .. r.name, {watch = ws[1].id, severity = severity, ["for"] = r["for"],
      ["repeat"] = r["repeat"]})
  end
  return r
end

return M
