-- Grouped notifications (rule{group = true}): the Slack and webhook notifications of the runs that
-- fire (or repeat, or resolve) a rule in one tick become one message listing them, as
-- Alertmanager's group_by does. Each run joins its group in its own transaction (a state meta
-- row per member, committed with the run's cursor and alert state); at the end of the tick one
-- transaction turns the members into one effect per (notify entry, transition), under a key made
-- from its members, and removes them: a crash before that commit leaves the members for the next
-- tick's message, a crash after it leaves the queued effect. Nothing is sent twice or lost.
local json = require "runwatch.json"
local core = require "runwatch.core"
local task = require "runwatch.task"
local state = require "runwatch.state"
local effects = require "runwatch.effects"
local template = require "runwatch.template"

local M = {}

local function prefix(rule) return "rulegroup:" .. #rule.name .. ":" .. rule.name .. "|" end

local function show(v)
  if type(v) == "number" and v ~= v then return "NaN" end
  if v == math.huge then return "Infinity" end
  if v == -math.huge then return "-Infinity" end
  return tostring(v)
end

-- add(rule, i, spec, alert, run, key): the run joins the tick's group of notify entry i (a Slack
-- line or a webhook item rendered now, from the run as it is in this tick)
function M.add(rule, i, spec, alert, run, key)
  local env = template.env(run, alert)
  local m = {entry = i, transition = alert.transition, run = run.path, key = key, value = alert.value}
  if spec.slack then
    local esc = template.slack_escape
    m.line = spec.text and template.render(spec.text, env, esc) or
      string.format("%s (%s)%s %s", esc(tostring(run.name or run.id)), esc(run.path),
        alert.value == nil and "" or (" value " .. esc(show(alert.value))), esc(run.url or ""))
  else
    m.item = spec.template and template.render(spec.template, env) or
      {run = run.path, name = run.name, url = run.url, value = alert.value, since = alert.since,
       episode = alert.episode}
  end
  state.meta_set(prefix(rule) .. key, m)
end

-- flush(rule, w, tick_id): one effect per (entry, transition) for the members waiting, queued in
-- one transaction with their removal; then delivered outside the tick
function M.flush(rule, w, tick_id)
  local ok, err = pcall(state.transaction, function()
    local members = state.meta_list(prefix(rule))
    local keys = {}
    for k in pairs(members) do keys[#keys + 1] = k end
    if #keys == 0 then return end
    table.sort(keys)
    local _ <close> = task.with_context({defer = true, watch = w and w.id, tick = tick_id})
    local buckets, order = {}, {}
    for _, k in ipairs(keys) do
      local m = members[k]
      if type(m) == "table" and rule.notify[m.entry] then
        local b = m.entry .. "|" .. m.transition
        if not buckets[b] then buckets[b] = {}; order[#order + 1] = b end
        local list = buckets[b]
        list[#list + 1] = m
      end
      state.meta_set(k, nil)
    end
    for _, b in ipairs(order) do
      local list = buckets[b]
      local first = list[1]
      local spec = rule.notify[first.entry]
      local tr = first.transition
      local key = table.concat({"group", rule.name, tostring(first.entry), tr, first.key, tostring(#list)}, "|")
      if spec.slack then
        local lines = {string.format("[%s] %s: %d run%s", tr:upper(), template.slack_escape(rule.name), #list,
          #list == 1 and "" or "s")}
        for _, m in ipairs(list) do lines[#lines + 1] = "• " .. m.line end
        effects.perform("slack", {url = spec.slack, text = table.concat(lines, "\n"), headers = spec.headers},
          {key = key, rule = rule.name})
      else
        local items = json.array({})
        for _, m in ipairs(list) do items[#items + 1] = m.item end
        effects.perform("webhook", {url = spec.webhook, headers = spec.headers, body = {rule = rule.name,
          transition = tr, severity = rule.severity, count = #list, runs = items}}, {key = key, rule = rule.name})
      end
    end
  end)
  if not ok then
    core.log("error", "rule " .. rule.name .. ": grouped notifications not queued (" .. tostring(err) ..
      "); they go with the next tick's")
    return
  end
  effects.kick()
end

return M
