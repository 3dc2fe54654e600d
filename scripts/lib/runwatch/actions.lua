-- Actions: the one path every side effect takes -- tag/untag, annotate summary keys, append a
-- note, W&B alert, Slack incoming webhook, generic webhook with a JSON template. The path does
-- dry-run (print the plan, send nothing), retries (429/5xx/network, with backoff), dedupe (rule
-- notifications go through the durable outbox, keyed by rule, run, episode and transition) and
-- the audit log.
local core = require "runwatch.core"
local json = require "runwatch.json"
local http = require "runwatch.http"
local task = require "runwatch.task"

local M = {}
local memory_outbox = {}    -- when no state store is available
local memory_seen = {}
local memory_id = 0

local function state_mod()
  local ok, st = pcall(require, "runwatch.state")
  return ok and st or nil
end

local function dry() return core.options().dry_run end

local function audit(action, target, outcome, detail, extra)
  local st = state_mod()
  if st then pcall(st.audit, action, target, outcome, detail, extra) end
  local t = task.current()
  core.log(outcome == "ok" and "info" or (outcome == "dry-run" and "info" or "warn"),
    action .. " " .. target .. ": " .. outcome, {detail = detail, rule = extra and extra.rule},
    t and t.script, t and t.job)
end

-- {====== templates: "{{run.name}}", "{{alert.value}}"; a string that is only one placeholder
-- keeps the value's type (a number stays a number in JSON)

local function lookup(env, path)
  local v = env
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
    v = v[part]
  end
  return v
end

local function render_string(s, env)
  local whole = s:match("^{{%s*([%w_.]+)%s*}}$")
  if whole then return lookup(env, whole) end
  return (s:gsub("{{%s*([%w_.]+)%s*}}", function(p)
    local v = lookup(env, p)
    if v == nil then return "" end
    if type(v) == "number" and v ~= v then return "NaN" end
    return tostring(v)
  end))
end

function M.render(t, env)
  if type(t) == "string" then return render_string(t, env) end
  if type(t) ~= "table" then return t end
  local out = {}
  for k, v in pairs(t) do out[k] = M.render(v, env) end
  return setmetatable(out, getmetatable(t))
end

-- }======

-- Webhook bodies must be strict JSON for the receiving service: NaN and infinities become the
-- strings "NaN", "Infinity", "-Infinity" (a bare NaN token would make the whole body unreadable).
local function strict(v)
  if type(v) == "number" then
    if v ~= v then return "NaN" end
    if v == math.huge then return "Infinity" end
    if v == -math.huge then return "-Infinity" end
    return v
  end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = strict(x) end
  return setmetatable(out, getmetatable(v))
end
M.strict = strict

-- POST with retries: 429/5xx/network are retried 3 times with backoff; returns res or nil, err
local function post(url, body, headers, what)
  local last_err
  for attempt = 1, 4 do
    local res, err = http.post(url, strict(body), {headers = headers, timeout = 30})
    if res and res.status >= 200 and res.status < 300 then return res end
    if res and res.status < 500 and res.status ~= 429 and res.status ~= 408 then
      return nil, what .. ": HTTP " .. res.status, false
    end
    last_err = res and ("HTTP " .. res.status) or err
    if attempt < 4 then
      local wait = res and tonumber(res.headers["retry-after"]) or (0.5 * 2 ^ (attempt - 1))
      task.sleep(math.min(wait, 30))
    end
  end
  return nil, what .. ": " .. tostring(last_err), true
end

-- perform(kind, target, detail, fn, extra) -> true / nil, err. fn does the work.
local function perform(kind, target, detail, fn, extra)
  if dry() then
    core.write(string.format("[dry-run] would %s %s: %s\n", kind, target, detail))
    audit(kind, target, "dry-run", detail, extra)
    return true
  end
  local ok, res, err = pcall(fn)
  if ok and res then
    audit(kind, target, "ok", detail, extra)
    return true
  end
  local msg = ok and err or res
  audit(kind, target, "failed: " .. tostring(msg), detail, extra)
  return nil, tostring(msg)
end

-- {====== deferral: inside a watch handler the run's state transaction is open (that is what
-- makes rows exactly-once); an action called there is written to the outbox in the same
-- transaction and performed by flush() after the commit, so no network wait holds the store
-- and a crash neither loses nor repeats it.

M.context = nil          -- set by the watch engine around handler calls: {watch=, run=, api=, seq=}
local apis = {}          -- watch id -> api, for deferred actions delivered later

local function defer(action, run_path, args)
  local c = M.context
  local st = state_mod()
  if not c or not st or not st.in_transaction() or dry() then return false end
  c.seq = (c.seq or 0) + 1
  apis[c.watch] = c.api
  local key = table.concat({"handler", c.watch, run_path, tostring(c.tick), tostring(c.seq)}, "|")
  st.outbox_add(key, "action", {action = action, run = run_path, args = args, watch = c.watch})
  return true
end

-- }======

-- {====== the actions, callable from handlers

function M.tag(run, ...)
  local tags = {...}
  if defer("tag", run.path, tags) then return true end
  return perform("tag", run.path, "+" .. table.concat(tags, " +"), function() run:add_tags(table.unpack(tags)); return true end)
end

function M.untag(run, ...)
  local tags = {...}
  if defer("untag", run.path, tags) then return true end
  return perform("untag", run.path, "-" .. table.concat(tags, " -"), function() run:remove_tags(table.unpack(tags)); return true end)
end

function M.annotate(run, kv)
  if defer("annotate", run.path, {kv}) then return true end
  return perform("annotate", run.path, json.encode(kv, {sort_keys = true}), function() run:set_summary(kv); return true end)
end

function M.note(run, line)
  if defer("note", run.path, {line}) then return true end
  return perform("note", run.path, line, function() run:append_notes(line); return true end)
end

function M.wandb_alert(run, o)
  if defer("wandb_alert", run.path, {o}) then return true end
  return perform("wandb-alert", run.path, (o.level or "INFO") .. ": " .. tostring(o.title),
    function() return run:alert(o) end)
end

function M.slack(url, text, o)
  o = o or {}
  if not o.extra and defer("slack", "slack", {url, text, {headers = o.headers}}) then return true end
  return perform("slack", "slack", text, function()
    local ok, err = post(url, {text = text}, o.headers, "slack")
    if not ok then return nil, err end
    return true
  end, o.extra)
end

function M.webhook(url, body, o)
  o = o or {}
  if not o.extra and defer("webhook", "webhook", {url, body, {headers = o.headers}}) then return true end
  local shown = type(body) == "table" and json.encode(body, {sort_keys = true}) or tostring(body)
  return perform("webhook", (url:match("^(https?://[^/]+)") or "webhook"), shown, function()
    local ok, err = post(url, body, o.headers, "webhook")
    if not ok then return nil, err end
    return true
  end, o.extra)
end

-- }======

-- {====== notify specs of rules

local KINDS = {slack = true, webhook = true, wandb_alert = true, tag = true, untag = true,
  annotate = true, notes = true, log = true}

function M.check(spec, where, level)
  if type(spec) == "function" then return end
  if type(spec) ~= "table" then error(where .. ": an action table or a function expected", level + 1) end
  local kind
  for k in pairs(spec) do if KINDS[k] then
    if kind then error(where .. ": one action per entry (" .. kind .. " and " .. k .. ")", level + 1) end
    kind = k
  end end
  if not kind then
    error(where .. ": unknown action (slack, webhook, wandb_alert, tag, untag, annotate, notes, log)", level + 1)
  end
  if (kind == "slack" or kind == "webhook") and type(spec[kind]) ~= "string" then
    error(where .. ": " .. kind .. " needs a URL string (got " .. type(spec[kind]) .. ")", level + 1)
  end
end

local function default_text(alert, run)
  local v = alert.value
  local vs = v == nil and "" or (" (value " .. (type(v) == "number" and v ~= v and "NaN" or tostring(v)) .. ")")
  return string.format("[%s] %s on %s%s %s", alert.transition:upper(), alert.rule, run.path, vs, run.url or "")
end

-- Performs a deferred handler action from its outbox payload (outside any transaction).
local function deliver_action(p)
  local api = apis[p.watch] or require("runwatch.api").default()
  local a = p.args or {}
  if p.action == "slack" then return M.slack(a[1], a[2], {headers = a[3] and a[3].headers, extra = {}}) end
  if p.action == "webhook" then return M.webhook(a[1], a[2], {headers = a[3] and a[3].headers, extra = {}}) end
  local run = api.run(p.run)
  if p.action == "tag" then return M.tag(run, table.unpack(a)) end
  if p.action == "untag" then return M.untag(run, table.unpack(a)) end
  if p.action == "annotate" then return M.annotate(run, a[1]) end
  if p.action == "note" then return M.note(run, a[1]) end
  if p.action == "wandb_alert" then return M.wandb_alert(run, a[1]) end
  return nil, "unknown deferred action " .. tostring(p.action), false
end

-- Builds and runs one notification of a rule from its outbox payload.
local function deliver(p)
  if p.action then return deliver_action(p) end
  local rules = require("runwatch.rules").rules
  local r = rules[p.rule]
  if not r then return nil, "rule " .. tostring(p.rule) .. " no longer exists", false end
  local spec = r.notify[p.index]
  if not spec then return nil, "rule " .. p.rule .. " has no notify[" .. p.index .. "]", false end
  local api = r.api or require("runwatch.api").default()
  local run = api.run(p.run)
  local alert = {rule = p.rule, transition = p.transition, state = p.transition == "resolved" and "resolved" or "firing",
    value = p.value, severity = p.severity, since = p.since, episode = p.episode, n = p.n}
  local env = {run = run, alert = alert}
  local extra = {rule = p.rule}
  if type(spec) == "function" then
    return perform("notify", run.path, p.rule .. " " .. p.transition, function() spec(alert, run); return true end, extra)
  end
  if spec.slack then
    local text = spec.text and M.render(spec.text, env) or default_text(alert, run)
    return M.slack(spec.slack, text, {extra = extra, headers = spec.headers})
  elseif spec.webhook then
    local body = spec.template and M.render(spec.template, env) or
      {rule = alert.rule, transition = alert.transition, severity = alert.severity, value = alert.value,
       run = run.path, url = run.url, since = alert.since}
    local headers = {["Idempotency-Key"] = p.key}
    for k, v in pairs(spec.headers or {}) do headers[k] = v end
    return M.webhook(spec.webhook, body, {headers = headers, extra = extra})
  elseif spec.wandb_alert then
    local level = ({critical = "ERROR", error = "ERROR", warning = "WARN", info = "INFO"})[alert.severity] or "WARN"
    if p.transition == "resolved" then level = "INFO" end
    return perform("wandb-alert", run.path, level .. ": " .. p.rule .. " " .. p.transition, function()
      return run:alert{title = spec.title and M.render(spec.title, env) or (p.rule .. " " .. p.transition),
        text = spec.text and M.render(spec.text, env) or default_text(alert, run), level = level,
        wait = spec.wait or 0}
    end, extra)
  elseif spec.tag then
    if p.transition == "resolved" then
      if spec.untag_on_resolve then return perform("untag", run.path, "-" .. spec.tag, function() run:remove_tags(spec.tag); return true end, extra) end
      return true
    end
    return perform("tag", run.path, "+" .. spec.tag, function() run:add_tags(spec.tag); return true end, extra)
  elseif spec.untag then
    if p.transition == "resolved" then return true end
    return perform("untag", run.path, "-" .. spec.untag, function() run:remove_tags(spec.untag); return true end, extra)
  elseif spec.annotate then
    if p.transition == "resolved" then return true end
    local kv = M.render(spec.annotate, env)
    return perform("annotate", run.path, json.encode(kv, {sort_keys = true}), function() run:set_summary(kv); return true end, extra)
  elseif spec.notes then
    local line = M.render(type(spec.notes) == "string" and spec.notes or default_text(alert, run), env)
    return perform("note", run.path, line, function() run:append_notes(line); return true end, extra)
  elseif spec.log then
    core.log(alert.transition == "resolved" and "info" or "warn", default_text(alert, run))
    return true
  end
  return nil, "unknown action", false
end

-- enqueue(payload): a rule's notification. Durable outbox (dedupe key: rule, run, episode,
-- transition, repeat number) written in the caller's transaction; delivered by flush().
function M.enqueue(p)
  p.key = table.concat({p.rule, p.run, tostring(p.episode), p.transition, tostring(p.n), tostring(p.index)}, "|")
  local st = state_mod()
  if st then
    st.outbox_add(p.key, "notify", p)
  elseif not memory_seen[p.key] then
    memory_seen[p.key] = true
    memory_id = memory_id + 1
    memory_outbox[#memory_outbox + 1] = {id = memory_id, key = p.key, payload = p, attempts = 0}
  end
end

-- flush(): deliver every pending notification (also those left by a previous process).
M.max_attempts = 8
function M.flush()
  local st = state_mod()
  local pending = st and st.outbox_pending() or memory_outbox
  for _, e in ipairs(pending) do
    local p = e.payload
    p.key = p.key or e.key
    local ok, res, err, retry = pcall(deliver, p)
    if ok and res then
      if st then st.outbox_done(e.id, "ok") else e.done = true end
    else
      local msg = ok and err or res
      local attempts = (e.attempts or 0) + 1
      if (ok and retry == false) or attempts >= M.max_attempts then
        core.log("error", "notification " .. p.key .. " given up: " .. tostring(msg))
        if st then st.outbox_done(e.id, "failed: " .. tostring(msg)) else e.done = true end
      else
        core.log("warn", "notification " .. p.key .. " failed (attempt " .. attempts .. "), will retry: " .. tostring(msg))
        if st then st.outbox_fail(e.id, tostring(msg)) else e.attempts = attempts end
      end
    end
  end
  if not st then
    local keep = {}
    for _, e in ipairs(memory_outbox) do if not e.done then keep[#keep + 1] = e end end
    memory_outbox = keep
  end
end

-- }======

return M
