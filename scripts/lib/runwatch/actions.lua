-- actions.*: the side effects a script calls by name (tag, untag, annotate, note, W&B alert,
-- Slack, webhook). Each is one effect (effects.lua): dry run, deferral inside watch handlers,
-- retries, audit. They return true, or nil and the error when the world failed; misuse raises.
local effects = require "runwatch.effects"
local kinds = require "runwatch.effect_kinds"
local run_mod = require "runwatch.run"
local duration = require "runwatch.duration"

local M = {}

local function done(res, err)
  if res == nil then return nil, err end
  return true
end

local function run_effect(kind, run, fields)
  if getmetatable(run) ~= run_mod.MT then error("bad argument #1 to '" .. kind .. "' (a run expected)", 3) end
  return done(effects.perform(kind, run_mod.payload(run, fields), {level = 3}))
end

local function list(...)
  local first = ...
  if type(first) == "table" then return first end
  return {...}
end

function M.tag(run, ...) return run_effect("tag", run, {tags = list(...)}) end
function M.untag(run, ...) return run_effect("untag", run, {tags = list(...)}) end
function M.annotate(run, kv) return run_effect("annotate", run, {kv = kv}) end
function M.note(run, line) return run_effect("note", run, {line = line}) end

-- wandb_alert(run, {title=, text=, level="INFO"|"WARN"|"ERROR", wait=})
function M.wandb_alert(run, o)
  if type(o) ~= "table" then error("bad argument #2 to 'wandb_alert' (table expected)", 2) end
  local level = type(o.level) == "string" and o.level:upper() or (o.level == nil and "INFO" or o.level)
  return run_effect("wandb_alert", run, {title = o.title, text = o.text, level = level,
    wait = o.wait and duration.parse(o.wait, "wait", 2) or 60})
end

-- slack(url, text [, {headers =}])
function M.slack(url, text, o)
  o = o or {}
  return done(effects.perform("slack", {url = url, text = text, headers = o.headers}, {level = 2}))
end

-- webhook(url, body [, {headers =}]): body is JSON (a table) or text; an Idempotency-Key header
-- is sent, the same on every retry and redelivery
function M.webhook(url, body, o)
  o = o or {}
  return done(effects.perform("webhook", {url = url, body = body, headers = o.headers}, {level = 2}))
end

M.strict = kinds.strict
M.render = require("runwatch.template").render

return M
