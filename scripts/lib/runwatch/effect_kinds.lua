-- The registry of effect kinds: every side effect runwatch can have, one entry each. An entry
-- says how its payload (plain data, storable in the outbox) is checked, where it goes (the
-- destination that delivery limits and backs off), how it is shown (dry run, log, audit), how
-- it is performed, and what a delivery does after an ambiguous failure (one where the other side
-- may or may not have acted: a crash mid-request, a truncated answer):
--   repeat  perform it again: repeating is harmless (absolute writes) or the receiver can tell
--           (webhooks carry the same Idempotency-Key every time)
--   check   look first, and perform again only if it did not happen (a notes append)
--   drop    never repeat it (W&B alerts, Slack messages, run deletion): at most once
-- Adding a kind is one entry here plus its test; effects.lua owns the path they all take.
local json = require "runwatch.json"
local http = require "runwatch.http"
local retry = require "runwatch.retry"
local run_changes = require "runwatch.run_changes"

local K = {}

local function null(v) if v == json.null then return nil end return v end

local function split(path)
  local e, p, id = path:match("^([^/]+)/([^/]+)/([^/]+)$")
  if not e then error("bad run path '" .. tostring(path) .. "'", 3) end
  return e, p, id
end

local function not_found(path)
  return setmetatable({message = "Could not find run " .. path, op = "Run", retryable = false},
    require("runwatch.errors").CommError)
end

local function check_run(p, level)
  if type(p.run) ~= "string" then error("an effect on a run needs the run's path", level + 1) end
  if type(p.api) ~= "string" then error("an effect on a run needs its api", level + 1) end
end

local function strings(list, what, level)
  if type(list) ~= "table" or #list == 0 then error(what .. ": at least one string expected", level + 1) end
  for i, v in ipairs(list) do
    if type(v) ~= "string" then error(string.format("%s: item %d is a %s, not a string", what, i, type(v)), level + 1) end
  end
end

-- {====== run writes: a change set applied on a fresh read (run_changes), one UpsertBucket

-- fresh read of the run, or a not-found CommError
local function fresh_run(p, d)
  local e, pr, id = split(p.run)
  local attrs = d.backend:run(e, pr, id, true)
  if not attrs then error(not_found(p.run), 0) end
  return attrs
end

-- preview/perform of a change set: {attrs = what the server holds after, lines = plan lines}
local function write_change(p, d, change, dry)
  local fresh = fresh_run(p, d)
  local plan = run_changes.plan(change, fresh, p.run)
  if dry or plan.n == 0 then return {attrs = fresh, lines = plan.lines, unchanged = plan.n == 0} end
  if d.before_write then d.before_write(plan) end
  d.backend:write_run(fresh.storage_id, plan.set)
  return {attrs = run_changes.applied(fresh, plan), lines = plan.lines}
end

local function run_kind(entry)
  entry.dest = entry.dest or function(p) return "wandb:" .. p.api end
  entry.target = entry.target or function(p) return p.run end
  entry.preview = entry.preview or function(p, d) return write_change(p, d, entry.change(p), true).lines end
  entry.perform = entry.perform or function(p, d) return write_change(p, d, entry.change(p)) end
  return entry
end

K.update = run_kind{
  verb = "update", on_ambiguous = "repeat",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.change) ~= "table" then error("update: a change set expected", level + 1) end
  end,
  change = function(p) return p.change end,
  detail = function(p, res) return res and res.lines and table.concat(res.lines, "\n") or
    (run_changes.size(p.change) .. " change(s)") end,
}

K.tag = run_kind{
  verb = "tag", on_ambiguous = "repeat",
  check = function(p, level) check_run(p, level + 1); strings(p.tags, "tag", level + 1) end,
  change = function(p) return {tags_added = p.tags} end,
  detail = function(p) return "+" .. table.concat(p.tags, " +") end,
}

K.untag = run_kind{
  verb = "untag", on_ambiguous = "repeat",
  check = function(p, level) check_run(p, level + 1); strings(p.tags, "untag", level + 1) end,
  change = function(p) return {tags_removed = p.tags} end,
  detail = function(p) return "-" .. table.concat(p.tags, " -") end,
}

K.annotate = run_kind{
  verb = "annotate", on_ambiguous = "repeat",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.kv) ~= "table" or next(p.kv) == nil then error("annotate: a table of summary keys expected", level + 1) end
  end,
  change = function(p) return {summary_set = p.kv} end,
  detail = function(p) return json.encode(p.kv, {sort_keys = true}) end,
}

K.config = run_kind{
  verb = "config", on_ambiguous = "repeat",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.kv) ~= "table" or next(p.kv) == nil then error("config: a table of config keys expected", level + 1) end
  end,
  change = function(p) return {config_set = p.kv} end,
  detail = function(p) return json.encode(p.kv, {sort_keys = true}) end,
}

-- A notes append is a read-modify-write: repeating it blindly would append the line twice. The
-- notes text about to be written is kept with the delivery (d.save_progress) before the write;
-- a later delivery that finds the notes already starting with that text knows it happened.
K.note = run_kind{
  verb = "note", on_ambiguous = "check",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.line) ~= "string" then error("note: a string expected", level + 1) end
  end,
  change = function(p) return {notes_append = p.line} end,
  detail = function(p) return p.line end,
  perform = function(p, d)
    local sent = d.progress and d.progress.notes
    if sent then
      local fresh = fresh_run(p, d)
      local cur = null(fresh.notes) or ""
      if cur:sub(1, #sent) == sent then return {attrs = fresh, lines = {}, already = true} end
    end
    local dd = setmetatable({before_write = function(plan)
      if d.save_progress then d.save_progress({notes = plan.set.notes}) end
    end}, {__index = d})
    return write_change(p, dd, {notes_append = p.line})
  end,
}

-- }======

-- {====== W&B alerts and deletions: not idempotent, nothing to check: at most once

local LEVELS = {INFO = true, WARN = true, ERROR = true}

K.wandb_alert = {
  verb = "wandb-alert", on_ambiguous = "drop",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.title) ~= "string" or p.title == "" then error("alert needs a title", level + 1) end
    if not LEVELS[p.level] then error("bad alert level '" .. tostring(p.level) .. "' (INFO, WARN or ERROR)", level + 1) end
    if p.text ~= nil and type(p.text) ~= "string" then error("alert text must be a string", level + 1) end
    if type(p.wait) ~= "number" then error("alert wait must be a number of seconds", level + 1) end
  end,
  dest = function(p) return "wandb:" .. p.api end,
  target = function(p) return p.run end,
  detail = function(p) return p.level .. ": " .. p.title .. ((p.text and p.text ~= "") and (" -- " .. p.text) or "") end,
  preview = function(p) return {"  " .. p.level .. ": " .. p.title .. ((p.text and p.text ~= "") and (" -- " .. p.text) or "")} end,
  perform = function(p, d)
    local e, pr, id = split(p.run)
    local ok = d.backend:alert({entityName = e, projectName = pr, runName = id, title = p.title,
      text = p.text or "", severity = p.level, waitDuration = math.floor(p.wait * 1000)})
    if not ok then return nil, {message = "W&B did not accept the alert", retryable = false} end
    return true
  end,
}

K.delete = {
  verb = "delete", on_ambiguous = "drop",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.storage_id) ~= "string" then error("delete: the run's storage id expected", level + 1) end
  end,
  dest = function(p) return "wandb:" .. p.api end,
  target = function(p) return p.run end,
  detail = function(p) return p.artifacts and "with artifacts" or "artifacts kept" end,
  preview = function(p) return {"  artifacts: " .. (p.artifacts and "deleted too" or "kept")} end,
  perform = function(p, d) d.backend:delete_run(p.storage_id, p.artifacts); return true end,
}

-- }======

-- {====== Slack and webhooks: POSTs with the webhook retry policy

local function origin(url) return url:match("^(https?://[^/?#]+)") or "webhook" end

-- Webhook bodies are strict JSON for the receiving service: NaN and infinities become the
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
K.strict = strict

local CONNECT_FAILED = {[6] = true, [7] = true}   -- CURLE_COULDNT_RESOLVE_HOST / _CONNECT

-- POST with the webhook policy -> true, or nil and {message, retryable, sent_maybe, status}
local function post(url, body, headers, what, idempotent)
  return retry.call("webhook", function(_, timeout)
    local res, err, code = http.post(url, strict(body), {headers = headers, timeout = math.min(30, timeout)})
    if res and res.status >= 200 and res.status < 300 then return true end
    if res then
      return nil, {message = what .. ": HTTP " .. res.status, status = res.status, headers = res.headers,
        retryable = retry.retryable_status("webhook", res.status),
        sent_maybe = false}   -- the receiver answered that it did not take it
    end
    return nil, {message = what .. ": " .. tostring(err), retryable = retry.retryable_transport(code, err),
      sent_maybe = not CONNECT_FAILED[code]}
  end, {idempotent = idempotent, label = what .. " " .. origin(url)})
end

local function check_url(u, what, level)
  if type(u) ~= "string" or not u:match("^https?://[^/?#%s]+") then
    error(what .. " needs an http:// or https:// URL (got " .. (type(u) == "string" and string.format("%q", u) or type(u)) .. ")", level + 1)
  end
end
K.check_url = check_url

local function check_headers(h, what, level)
  if h == nil then return end
  if type(h) ~= "table" then error(what .. ": headers must be a table", level + 1) end
  for k, v in pairs(h) do
    if type(k) ~= "string" or type(v) ~= "string" then error(what .. ": headers must map strings to strings", level + 1) end
  end
end

K.slack = {
  verb = "slack", on_ambiguous = "drop",        -- Slack cannot deduplicate: never post twice
  check = function(p, level)
    check_url(p.url, "slack", level + 1)
    if type(p.text) ~= "string" then error("slack: the text must be a string", level + 1) end
    check_headers(p.headers, "slack", level + 1)
  end,
  dest = function(p) return origin(p.url) end,
  target = function() return "slack" end,
  detail = function(p) return p.text end,
  preview = function(p) return {"  " .. p.text} end,
  perform = function(p, d)
    local headers = {["Idempotency-Key"] = d.key}
    for k, v in pairs(p.headers or {}) do headers[k] = v end
    return post(p.url, {text = p.text}, headers, "slack", false)
  end,
}

K.webhook = {
  verb = "webhook", on_ambiguous = "repeat",    -- the same Idempotency-Key every time
  check = function(p, level)
    check_url(p.url, "webhook", level + 1)
    check_headers(p.headers, "webhook", level + 1)
  end,
  dest = function(p) return origin(p.url) end,
  target = function(p) return origin(p.url) end,
  detail = function(p)
    return type(p.body) == "table" and json.encode(strict(p.body), {sort_keys = true}) or tostring(p.body)
  end,
  preview = function(p)
    return {"  POST " .. origin(p.url) .. " " .. (type(p.body) == "table" and
      json.encode(strict(p.body), {sort_keys = true}) or tostring(p.body))}
  end,
  perform = function(p, d)
    local headers = {["Idempotency-Key"] = d.key}
    for k, v in pairs(p.headers or {}) do headers[k] = v end
    return post(p.url, p.body, headers, "webhook", true)
  end,
}

-- }======

-- {====== a rule's own notify function: at least once (it gets alert.key to deduplicate)

K.call = {
  verb = "notify", on_ambiguous = "repeat",
  check = function(p, level)
    if type(p.fn) ~= "string" then error("notify: a registered function name expected", level + 1) end
  end,
  dest = function(p) return "function:" .. p.fn end,
  target = function(p) return p.run or p.fn end,
  detail = function(p) return p.fn .. " " .. tostring(p.alert and p.alert.transition) end,
  preview = function(p) return {"  call " .. p.fn .. " (" .. tostring(p.alert and p.alert.transition) .. ")"} end,
  perform = function(p, d)
    local fn = d.functions[p.fn]
    if not fn then return nil, {message = "notify function " .. p.fn .. " no longer exists", retryable = false} end
    local run = p.run and d.api and d.api.run(p.run) or nil
    local alert = {}
    for k, v in pairs(p.alert or {}) do alert[k] = v end
    alert.key = d.key
    fn(alert, run)
    return true
  end,
}

-- }======

return K
