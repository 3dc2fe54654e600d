-- rule{}: alert rules with a lifecycle over a watch's runs. when(run, ctx) -> cond, value is
-- evaluated for each run the watch examines; per fingerprint (rule, run) the alert goes
-- inactive -> pending -> firing (after `for`) -> resolved (re-armed). Each transition becomes
-- one effect per notify entry (effects.lua), queued in the run's transaction under a stable key
-- (rule, run, episode, transition, repeat number, entry), so a restart neither repeats nor
-- loses one. The alert states live in the state store with the run's cursor.
-- A declarative `when` (conditions.lua) is evaluated at every logged row that holds one of its
-- metrics (then at the end of the tick), over windows kept in the run's cursor (windows.lua);
-- cooldown and max_per_hour hold a firing back; group = true gathers a tick's Slack and webhook
-- notifications of many runs into one (alert_groups.lua).
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
local conditions = require "runwatch.conditions"
local windows = require "runwatch.windows"
local groups = require "runwatch.alert_groups"
local cohorts = require "runwatch.cohorts"
local options = require "runwatch.options"

local M = {}
local rules = {}
M.rules = rules
-- observer(rule, alert, transition, run, point): when set (runwatch backtest), transitions are
-- handed to it and no notification is made
M.observer = nil

local SEVERITIES = {info = true, warning = true, critical = true, error = true}
local KNOWN = {name = true, watch = true, when = true, ["for"] = true, ["repeat"] = true,
  severity = true, notify = true, resolve = true, description = true, cooldown = true,
  max_per_hour = true, group = true}

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
  options.check(where .. " (" .. kind .. ")", spec, NOTIFY[kind], level + 1)
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
  if M.observer then return M.observer(self, a, transition, run, self.point) end
  local alert = {rule = self.name, transition = transition, state = transition == "resolved" and "resolved" or "firing",
    value = a.value, severity = self.severity, since = a.since, episode = a.episode, n = a.notified or 1,
    description = self.description}
  for i, spec in ipairs(self.notify) do
    local key = table.concat({self.name, run.path, tostring(a.episode), transition, tostring(alert.n), tostring(i)}, "|")
    local ok, kind, p
    if self.group and type(spec) == "table" and (spec.slack or spec.webhook) then
      -- one message for the tick's runs: this run joins it (alert_groups.lua)
      ok, kind = pcall(groups.add, self, i, spec, alert, run, key)
    else
      ok, kind, p = pcall(notify_effect, self, i, spec, alert, run)
    end
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

-- held(a, now) -> why a firing waits ("cooldown", "max_per_hour"), or nil. The rule's firings
-- of the last hour are kept in the store (meta), written in the run's transaction.
function Rule:held(a, now)
  if self.cooldown and a.last_fired and now - a.last_fired < self.cooldown then return "cooldown" end
  if self.max_per_hour then
    local recent = 0
    for _, t in ipairs(state.meta_get("rulelimit:" .. self.name) or {}) do
      if type(t) == "number" and now - t < 3600 then recent = recent + 1 end
    end
    if recent >= self.max_per_hour then return "max_per_hour" end
  end
  return nil
end

local function count_firing(self, now)
  if not self.max_per_hour then return end
  local keep = json.array({})
  for _, t in ipairs(state.meta_get("rulelimit:" .. self.name) or {}) do
    if type(t) == "number" and now - t < 3600 then keep[#keep + 1] = t end
  end
  keep[#keep + 1] = now
  state.meta_set("rulelimit:" .. self.name, keep)
end

-- step(a, cond, value, now, run) -> a: one step of the lifecycle of alert a
function Rule:step(a, cond, value, now, run)
  if cond then
    if a.state == "inactive" or a.state == "resolved" then
      a = {state = "pending", since = now, episode = (a.episode or 0) + 1, run = run.path, notified = 0,
        last_fired = a.last_fired, since_step = self.point and self.point.step}
    end
    a.value = value
    if a.state == "pending" and now - a.since >= self["for"] then
      local why = self:held(a, now)
      if why then
        if a.held ~= why then
          core.log("info", string.format("alert %s on %s held back (%s)", self.name, run.path, why), {value = value})
        end
        a.held = why
      else
        a.state, a.fired_at, a.last_notified, a.notified, a.last_fired, a.held = "firing", now, now, 1, now, nil
        count_firing(self, now)
        self:send(a, "firing", run)
      end
    elseif a.state == "firing" and self["repeat"] and now - (a.last_notified or now) >= self["repeat"] then
      a.last_notified, a.notified = now, (a.notified or 1) + 1
      self:send(a, "repeat", run)
    end
  else
    if a.state == "pending" then
      a.state, a.held = "inactive", nil
    elseif a.state == "firing" then
      a.state, a.resolved_at = "resolved", now
      if self.resolve then self:send(a, "resolved", run) end
    end
  end
  return a
end

local function failed(self, run, what, err)
  local t = task.current()
  core.log("error", "rule " .. self.name .. " " .. what .. " failed on " .. run.path .. ": " .. tostring(err), nil,
    t and t.script, t and t.job)
  core.job_failed()
end

-- evaluate(run, ctx): the lifecycle for this run, one step (a function `when`) or one step per
-- evaluation point (a declarative condition)
function Rule:evaluate(run, ctx)
  local fp = run.path
  local a = state.alert(self.name, fp) or {state = "inactive", episode = 0}
  local before = a.state
  if self.cond then
    a = self:evaluate_points(a, run, ctx)
    if not a then return end
  else
    local ok, cond, value = xpcall(self.when, debug.traceback, run, ctx)
    if not ok then failed(self, run, "when()", cond) return end
    a = self:step(a, cond, value, ctx.now or core.time(), run)
  end
  if a.state ~= "inactive" or before ~= "inactive" then state.set_alert(self.name, fp, a) end
  return a.state
end

-- {====== declarative conditions: windows, evaluation points, priming

local needs_of = setmetatable({}, {__mode = "k"})     -- watch -> {n = #rules, needs}
local primed = setmetatable({}, {__mode = "k"})       -- watch -> {path = rows before the cursor}
local prepared = setmetatable({}, {__mode = "k"})     -- watch -> the rows table it was prepared for

-- the windows every declarative rule of a watch needs (one set per run, shared by the rules)
local function watch_needs(w)
  local c = needs_of[w]
  if c and c.n == #w.rules then return c.needs end
  local needs = {}
  for _, r in ipairs(w.rules) do if r.cond then r.cond:needs(needs) end end
  needs_of[w] = {n = #w.rules, needs = needs}
  return needs
end

-- the run's windows for this tick (opened by the first declarative rule, kept in its cursor)
local function run_windows(ctx, path)
  if ctx.windows then return ctx.windows end
  local w = ctx.watch
  local c = ctx.cursor or {}
  local p = w and primed[w] and primed[w][path]
  if p then primed[w][path] = nil end
  local view = windows.open(c.windows, w and watch_needs(w) or ctx.needs, ctx.rows, p, ctx.from_step or 0)
  view.from = ctx.eval_from or 0
  view.primed_rows = p and #p or 0
  c.windows = view:saved()
  ctx.windows = view
  return view
end

-- evaluate_points(a, run, ctx) -> a: steps at each new row holding one of the condition's
-- metrics (rows before ctx.eval_from only fill the windows: a run already under way when the
-- watch first saw it), then at the end of the tick with the run's state and all values
function Rule:evaluate_points(a, run, ctx)
  local view = run_windows(ctx, run.path)
  for k in pairs(view.seen) do self.seen[k] = true end
  self.checked_rows = self.checked_rows + #(ctx.rows or {}) + (view.primed_rows or 0)
  local trackers = ctx.watch and self.trackers[ctx.watch] or self.trackers.backtest or {}
  local env = {run = run, ctx = ctx,
    peers = function(expr, r, x, t) local tr = trackers[expr]; return tr and tr:peers(r, x, t) or {} end,
    baseline = function(expr, x) local b = self.baselines[expr]; return b and b:value(x) end}
  local function at(step, st, now)
    env.view, env.state = view:at(step), st
    self.point = {step = step or ctx.last_step, time = now}
    local ok, cond, value = xpcall(self.cond.eval, debug.traceback, self.cond, env)
    if not ok then failed(self, run, "condition", cond) return false end
    a = self:step(a, cond, value, now, run)
    return true
  end
  for _, row in ipairs(ctx.rows or {}) do
    local st = math.tointeger(row._step)
    if st and st >= view.from then
      for k in pairs(self.keys) do
        if windows.value_of(row, k) ~= nil then
          if not at(st, "running", tonumber(row._timestamp) or ctx.now) then return nil end
          break
        end
      end
    end
  end
  if not at(nil, run.state, ctx.now or core.time()) then return nil end
  return a
end

-- prepare(w, chunk, rows, stats): before a page of runs is processed, the windows of runs under
-- way that lack values (a rule new to them, a larger window) are primed from recent history:
-- exact rows, one request per `batch` runs (the watch's own batching)
function Rule:prepare(w, chunk, rows, stats)
  local g = w.group
  -- peers of vs_cohort conditions, named baselines of vs_run ones
  if #self.cohort_exprs > 0 then
    self.trackers[w] = self.trackers[w] or {}
    local cursor_of = function(id)
      local c = w:cursor(g:run_path(id))
      return c and c.step
    end
    for _, e in ipairs(self.cohort_exprs) do
      local tr = self.trackers[w][e] or cohorts.new(e, {api = w.api, backend = g:backend(), entity = g.entity,
        project = g.project, filters = g.user_filters, span = g.max_rows, batch = g.batch})
      self.trackers[w][e] = tr
      tr:prepare(chunk, rows, cursor_of, stats)
    end
  end
  if self.baseline_tick ~= stats then
    self.baseline_tick = stats
    for _, b in pairs(self.baselines) do b:prepare(stats, g.max_rows) end
  end
  if prepared[w] == rows then return end
  prepared[w] = rows
  local needs = watch_needs(w)
  if next(needs) == nil then return end
  local list = {}
  for _, n in ipairs(chunk) do
    local path = g:run_path(n.id)
    local c = w:cursor(path)
    local from = c and c.step or g:initial_step(n)
    if windows.missing(c and c.windows, needs, from) then list[#list + 1] = {id = n.id, path = path, from = from} end
  end
  if #list == 0 then return end
  local got = windows.prime(g:backend(), g.entity, g.project, list, needs, {span = g.max_rows, batch = g.batch}, stats)
  primed[w] = primed[w] or {}
  for _, r in ipairs(list) do primed[w][r.path] = got[r.id] end
  core.log("debug", string.format("rules on %s: primed the windows of %d run(s)", w.id, #list))
end

-- tick_done(w, tick_id): the tick's grouped notifications go out; a metric no run has logged
-- yet is reported once (log and `runwatch status`)
function Rule:tick_done(w, tick_id)
  if self.group then groups.flush(self, w, tick_id) end
  if not self.cond or self.checked_rows == 0 then return end
  local missing = {}
  for k in pairs(self.keys) do if not self.seen[k] then missing[#missing + 1] = k end end
  table.sort(missing)
  local text = #missing > 0 and table.concat(missing, ", ") or nil
  if text ~= self.missing or (text and not self.warned) then
    self.missing, self.warned = text, text ~= nil
    if text then
      core.log("warn", string.format("rule %s: no run has logged %s yet (%d rows looked at); the rule stays " ..
        "inactive until one does (a typo in the key?)", self.name, text, self.checked_rows))
    end
    pcall(function()
      local m = state.meta_get("rule:" .. self.name) or {}
      m.missing = text and ("metric never logged: " .. text) or nil
      state.meta_set("rule:" .. self.name, m)
    end)
  end
end

-- }======

-- rule{name=, watch=, when=, ["for"]=, ["repeat"]=, severity=, notify={...}, resolve=true,
-- description=} -> Rule. Every option is checked here, at the script's line.
function M.rule(spec)
  if type(spec) ~= "table" then error("bad argument #1 to 'rule' (table expected, got " .. type(spec) .. ")", 2) end
  options.check("rule", spec, KNOWN, 2)
  if type(spec.name) ~= "string" or spec.name == "" then error("rule: name is required (a non-empty string)", 2) end
  local name = spec.name
  if rules[name] then error("rule: two rules named '" .. name .. "'", 2) end
  local cond
  if type(spec.when) ~= "function" then
    local bad = conditions.check(spec.when, "rule " .. name)
    if bad then error(bad, 0) end
    if not conditions.is_condition(spec.when) then
      error("rule " .. name .. ": when must be a function or a condition (metric(...):gt(x), state(...), all_of{...})", 2)
    end
    cond = spec.when
  end
  local ws = spec.watch
  if watch_mod.is_watch(ws) then ws = {ws} end
  if type(ws) ~= "table" or #ws == 0 then error("rule " .. name .. ": watch = a watch (or a list of watches)", 2) end
  for i, w in ipairs(ws) do
    if not watch_mod.is_watch(w) then error("rule " .. name .. ": watch[" .. i .. "] is not a watch", 2) end
    if cond and next(cond:keys()) and w.spec.history == false then
      error("rule " .. name .. ": a metric condition needs the watch's history (watch " .. w.id .. " has history = false)", 2)
    end
  end
  local max_ph = spec.max_per_hour
  if max_ph ~= nil and (math.type(max_ph) ~= "integer" or max_ph < 1) then
    error("rule " .. name .. ": max_per_hour must be a whole number, 1 or more (got " .. tostring(max_ph) .. ")", 2)
  end
  if spec.group ~= nil and type(spec.group) ~= "boolean" then error("rule " .. name .. ": group must be true or false", 2) end
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
    name = name, when = spec.when, cond = cond, severity = severity, notify = notify, description = spec.description,
    ["for"] = duration.parse(spec["for"] or 0, "rule " .. name .. ": for", 2),
    ["repeat"] = spec["repeat"] and duration.parse(spec["repeat"], "rule " .. name .. ": repeat", 2) or nil,
    cooldown = spec.cooldown and duration.parse(spec.cooldown, "rule " .. name .. ": cooldown", 2) or nil,
    max_per_hour = max_ph, group = spec.group == true,
    resolve = spec.resolve ~= false, watches = ws,
    keys = cond and cond:keys() or {}, seen = {}, checked_rows = 0,
    cohort_exprs = cond and cond:uses("cohort") or {}, trackers = setmetatable({}, {__mode = "k"}), baselines = {},
  }, Rule)
  for _, e in ipairs(cond and cond:uses("baseline") or {}) do r.baselines[e] = cohorts.baseline(e, ws[1].api) end
  if r["repeat"] == 0 then error("rule " .. name .. ": repeat must be more than 0", 2) end
  rules[name] = r
  for i, fn in ipairs(notify) do
    if type(fn) == "function" then effects.register_function(name .. "#" .. i, fn) end
  end
  for _, w in ipairs(ws) do watch_mod.attach_rule(w, r) end
  local old = state.meta_get("rule:" .. name)
  local described = cond and cond:describe() or nil
  -- a metric reported as never logged stays reported until a run logs it (or the rule changes)
  r.missing = type(old) == "table" and old.condition == described and type(old.missing) == "string" and
    old.missing:match("^metric never logged: (.*)$") or nil
  state.meta_set("rule:" .. name, {watch = ws[1].id, severity = severity, ["for"] = r["for"],
    ["repeat"] = r["repeat"], condition = described, cooldown = r.cooldown,
    max_per_hour = r.max_per_hour, group = r.group or nil,
    missing = r.missing and ("metric never logged: " .. r.missing) or nil})
  return r
end

return M
