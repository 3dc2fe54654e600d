-- rules against the live simulation: a NaN loss fires once and resolves once (Slack-style and
-- generic webhooks counted by the server's receiver, a W&B alert, a tag), a stalled run fires
-- after `for` and repeats only every `repeat`, a condition that clears while pending never
-- notifies, the webhook template gets run and alert fields, the key never reaches a webhook.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"
local hooks = wb.base:gsub("127%.0%.0%.1", "localhost") .. "/hooks/"

wb.admin("POST", "simulate", {steps = 1})
local running = {}
for _, r in ipairs(api.runs("rw-team/vision", {state = "running"})) do running[#running + 1] = r.id end
table.sort(running)
local nan_id, stall_id, blip_id = running[1], running[2], running[3]

local w = watch{project = "rw-team/vision", every = 0.2, id = "rules-watch", stale = false}

rule{name = "nan-loss", watch = w, severity = "critical",
  when = function(run) local v = run.summary.loss; return v ~= v, v end,
  notify = {
    {slack = hooks .. "slack"},
    {webhook = hooks .. "generic", template = {rule = "{{alert.rule}}", run = "{{run.path}}",
      state = "{{alert.transition}}", value = "{{alert.value}}", name = "{{run.name}}", text = "run {{run.id}} is {{alert.state}}"}},
    {wandb_alert = true},
    {tag = "diverged"},
  }}

-- stalled: no new step for 0.6 s while running; fires after 0.4 s, repeats every 1 s
local last_seen = {}
rule{name = "stalled", watch = w, ["for"] = 0.4, ["repeat"] = 1.0,
  when = function(run, ctx)
    if run.state ~= "running" then return false end
    local step = run.summary._step
    local seen = last_seen[run.id]
    if not seen or seen.step ~= step then last_seen[run.id] = {step = step, at = ctx.now}; return false end
    return ctx.now - seen.at > 0.6, ctx.now - seen.at
  end,
  notify = {{webhook = hooks .. "stalled"}}}

-- a condition true for one tick only: goes pending, clears, never notifies (for = 5 s)
local blips = 0
rule{name = "blip", watch = w, ["for"] = 5,
  when = function(run) if run.id == blip_id and blips < 1 then blips = blips + 1; return true end; return false end,
  notify = {{webhook = hooks .. "blip"}}}

sleep(0.5)
wb.admin("POST", "runs/rw-team/vision/" .. nan_id, {nan = true})
wb.admin("POST", "runs/rw-team/vision/" .. stall_id, {stall = true})
for _ = 1, 6 do wb.admin("POST", "simulate", {steps = 1}); sleep(0.25) end
-- the NaN run logs normal rows again: resolved
for _ = 1, 10 do wb.admin("POST", "simulate", {steps = 1}); sleep(0.25) end
sleep(0.5)

local function hooks_of(name) return wb.admin("GET", "hooks?name=" .. name) end
local slack = hooks_of("slack")
local transitions = {}
for _, h in ipairs(slack) do
  local tr = h.json.text:match("^%[(%u+)%]")
  transitions[tr] = (transitions[tr] or 0) + 1
  t.ok(h.json.text:find(nan_id, 1, true), "slack text names the run")
end
t.eq(transitions.FIRING, 1, "nan-loss: one firing message")
t.eq(transitions.RESOLVED, 1, "nan-loss: one resolved message")
t.eq(#slack, 2, "nothing else sent to slack")

local generic = hooks_of("generic")
t.eq(#generic, 2, "generic webhook: firing and resolved")
local g1 = generic[1].json
t.eq(g1.rule, "nan-loss")
t.eq(g1.run, "rw-team/vision/" .. nan_id)
t.eq(g1.state, "firing")
t.eq(g1.value, "NaN", "a NaN value is sent as the string NaN (strict JSON for receivers)")
t.eq(g1.text, "run " .. nan_id .. " is firing", "template interpolation")
t.ok(generic[1].headers["idempotency-key"] ~= nil, "an idempotency key is sent")
for _, h in ipairs(generic) do t.eq(h.has_authorization, false, "no Authorization header to a webhook") end
for _, h in ipairs(slack) do t.eq(h.contains_api_key, false, "the key never reaches a webhook") end

local alerts = wb.admin("GET", "alerts")
local wa = 0
for _, a in ipairs(alerts) do if a.runName == nan_id then wa = wa + 1; t.eq(a.severity, wa == 1 and "ERROR" or "INFO") end end
t.eq(wa, 2, "W&B alerts: firing (ERROR) and resolved (INFO)")
local tags = wb.stored("rw-team/vision/" .. nan_id).tags
local has = false
for _, x in ipairs(tags) do if x == "diverged" then has = true end end
t.ok(has, "the run got the tag")

local stalled = hooks_of("stalled")
local firing, repeats, other = 0, 0, 0
for _, h in ipairs(stalled) do
  if h.json.run ~= "rw-team/vision/" .. stall_id then other = other + 1
  elseif h.json.transition == "firing" then firing = firing + 1
  elseif h.json.transition == "repeat" then repeats = repeats + 1 end
end
t.eq(firing, 1, "stalled: fired once")
t.ok(repeats >= 1 and repeats <= 4, "stalled: repeated every second, not every tick: " .. repeats)
t.eq(other, 0, "stalled: no other run")
t.eq(#hooks_of("blip"), 0, "a condition that cleared while pending never notified")

w:stop()
t.done()
