-- The effect path against the test server: two watches (two projects, and two filters of one
-- project) share the outbox without sending anything twice; a handler's context does not leak
-- into another job; an ambiguous W&B alert is never repeated and an interrupted notes append is
-- checked before it is repeated; templates reach only documented fields and Slack text is
-- escaped; a bad key never leaks a budget slot; watch/rule options are checked at load.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"
local retry = require "runwatch.retry"
local hooks = wb.base:gsub("127%.0%.0%.1", "localhost") .. "/hooks/"
local SCRIPT = "test_wb_effects.lua"

local function faults(rules) wb.admin("POST", "faults", {rules = rules}) end
local function hooks_of(name) return wb.admin("GET", "hooks?name=" .. name) end
local function wait_for(what, fn, secs)
  local deadline = os.time() + (secs or 15)
  while os.time() <= deadline do
    if fn() then return true end
    sleep(0.1)
  end
  t.ok(false, "timed out waiting for " .. what)
  return false
end

-- deliveries are retried quickly here (the policy's own spacing is minutes)
retry.policies.webhook.redeliver = {base = 0.2, cap = 0.5, times = 50}

wb.admin("POST", "simulate", {steps = 1})

-- {====== 1. two watches, two projects, plus a second filter of one project: each rule's
-- notifications go out exactly once (the outbox is shared; every entry has one deliverer)

local w_vision = watch{project = "rw-team/vision", every = 0.1, id = "fx-vision", stale = false}
local w_nlp = watch{project = "rw-team/nlp", every = 0.1, id = "fx-nlp", stale = false}
local w_vision_pending = watch{project = "rw-team/vision", every = 0.1, id = "fx-pending", stale = false,
  filters = {state = "pending"}}
for name, w in pairs({vision = w_vision, nlp = w_nlp, pending = w_vision_pending}) do
  rule{name = "seen-" .. name, watch = w, when = function(run) return true, run.id end,
    notify = {{webhook = hooks .. "seen-" .. name}, {wandb_alert = true, title = "seen {{run.id}} " .. name}}}
end
sleep(1.0)
w_vision:stop(); w_nlp:stop(); w_vision_pending:stop()
wait_for("the deliveries of the three watches", function()
  for _, e in ipairs(state.outbox_pending()) do if e.key:find("^seen%-") then return false end end
  return true
end, 30)
for _, name in ipairs({"vision", "nlp", "pending"}) do
  local firing = state.alerts{rule = "seen-" .. name, state = "firing"}
  local got, keys, dup = hooks_of("seen-" .. name), {}, 0
  for _, h in ipairs(got) do
    local k = h.headers["idempotency-key"]
    if keys[k] then dup = dup + 1 end
    keys[k] = true
  end
  t.ok(#firing > 0, name .. ": the rule fired")
  t.eq(#got, #firing, name .. ": one webhook per firing alert (none lost, none repeated)")
  t.eq(dup, 0, name .. ": no Idempotency-Key twice")
  local alerts = 0
  for _, a in ipairs(wb.admin("GET", "alerts")) do if a.title:find(" " .. name .. "$") then alerts = alerts + 1 end end
  t.eq(alerts, #firing, name .. ": one W&B alert per firing alert")
end

-- }======

-- {====== 2. a handler's context stays with its task: another job's action meanwhile is done
-- at once (not queued under the watch), the handler's own is queued and done after its commit

local target = "rw-team/nlp/bert0002"
local in_handler, timer_checked = false, false
local w_ctx = watch{project = "rw-team/nlp", every = 30, id = "fx-ctx", stale = false,
  on_new_run = function(run)
    if run.path ~= target then return end
    actions.tag(run, "from-handler")
    in_handler = true
    sleep(0.6)                    -- the handler waits: other jobs run meanwhile
    local tags = wb.stored(target).tags
    local has = false
    for _, x in ipairs(tags) do if x == "from-handler" then has = true end end
    t.ok(not has, "the handler's own action is queued until its transaction commits")
    in_handler = false
  end}
local timer_job = every(0.05, function()
  if not in_handler or timer_checked then return end
  timer_checked = true
  local ok, err = actions.tag(api.run(target), "from-timer")
  t.ok(ok, "another job's action while a handler waits: " .. tostring(err))
  local has = false
  for _, x in ipairs(wb.stored(target).tags) do if x == "from-timer" then has = true end end
  t.ok(has, "another job's action is on the server when it returns")
end)
wait_for("the handler's tag", function()
  for _, x in ipairs(wb.stored(target).tags) do if x == "from-handler" then return true end end
end)
t.ok(timer_checked, "the timer job ran while the handler waited")
timer_job:stop(); w_ctx:stop()
-- the deliverer audits an entry after the server's answer, in its own transaction: the server
-- can show the tag a moment before the row is written (sooner when another job's transaction is
-- open then), so the row is waited for, then counted
local function audit_rows()
  local handler_rows, timer_rows = 0, 0
  for _, r in ipairs(state.audit_list{run = target, action = "tag"}) do
    if r.detail == "+from-handler" then handler_rows = handler_rows + 1 end
    if r.detail == "+from-timer" then timer_rows = timer_rows + 1 end
  end
  return handler_rows, timer_rows
end
wait_for("the handler's tag audited", function() return audit_rows() > 0 end)
sleep(0.3)
local handler_rows, timer_rows = audit_rows()
t.eq(handler_rows, 1, "one audit row for the handler's tag")
t.eq(timer_rows, 1, "one audit row for the timer's tag")

-- }======

-- {====== 3. ambiguous failures: a W&B alert whose answer is cut off after the server acted is
-- never repeated; a notes append cut off the same way is checked before it is repeated

wb.admin("DELETE", "alerts")
local amb_api = api.Api{deadline = 1.5, retry_base = 0.1, retry_cap = 0.2}
faults({{match = {op = "NotifyScriptableRunAlert"}, times = -1, action = {truncate = 5}},
        {match = {op = "UpsertBucket"}, times = -1, action = {truncate = 5}}})
local w_amb = watch{project = "rw-team/nlp", every = 0.2, id = "fx-amb", stale = false, api = amb_api,
  filters = {state = "running"}}
rule{name = "amb", watch = w_amb, when = function(run) return true end,
  notify = {{wandb_alert = true, title = "amb {{run.id}}"}, {notes = "amb note {{alert.episode}}"}}}
sleep(2.5)
faults(json.array())
wait_for("the notes delivery", function()
  for _, e in ipairs(state.outbox_pending()) do if e.key:find("^amb|") then return false end end
  return true
end, 20)
w_amb:stop()
local amb_alerts = 0
for _, a in ipairs(wb.admin("GET", "alerts")) do if a.title == "amb bert0002" then amb_alerts = amb_alerts + 1 end end
t.eq(amb_alerts, 1, "the W&B alert reached the server once (its cut-off answer is not repeated)")
local notes = wb.stored(target).notes or ""
local _, lines = notes:gsub("amb note 1", "")
t.eq(lines, 1, "the note line is there once: " .. notes)
local outcome
for _, r in ipairs(state.audit_list{rule = "amb", action = "wandb-alert"}) do outcome = r.outcome end
t.ok(outcome and outcome:find("^unknown"), "the alert's audit says its outcome is unknown: " .. tostring(outcome))

-- }======

-- {====== 4. templates: only documented fields; Slack control characters escaped in what is
-- substituted (the template's own text is kept)

local hostile = "rw-team/vision/x7k2m9p4"
wb.admin("POST", "runs/" .. hostile, {displayName = "<!channel> <https://evil.example|click> & co"})
local w_tpl = watch{project = "rw-team/vision", every = 30, id = "fx-tpl", stale = false,
  filters = {name = "x7k2m9p4"}}
rule{name = "tpl", watch = w_tpl, when = function() return true, 1.5 end,
  notify = {{slack = hooks .. "tpl-slack", text = "<!here> {{run.name}} value {{alert.value}} key[{{run._.api.settings.api_key}}]"},
            {webhook = hooks .. "tpl-hook", template = {name = "{{run.name}}", key = "{{run._.api.settings.api_key}}",
              secret = "x{{run._}}y", value = "{{alert.value}}"}}}}
wait_for("the templated notifications", function() return #hooks_of("tpl-slack") > 0 and #hooks_of("tpl-hook") > 0 end)
w_tpl:stop()
local st = hooks_of("tpl-slack")[1]
t.eq(st.json.text, "<!here> &lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co value 1.5 key[]",
  "Slack text: substituted fields escaped, the template's own text kept, internals unreachable")
t.eq(st.contains_api_key, false, "no key in the Slack body")
local th = hooks_of("tpl-hook")[1].json
t.eq(th.name, "<!channel> <https://evil.example|click> & co", "a JSON template gets the name as it is")
t.eq(th.key, nil, "an undocumented field renders as nothing")
t.eq(th.secret, "xy", "run._ is not reachable")
t.eq(th.value, 1.5, "a whole placeholder keeps its type")

-- }======

-- {====== 5. a bad key never leaks a budget slot: after many refused calls the host's other
-- calls still go through

local bad = api.Api{api_key = "short"}
for _ = 1, 12 do
  local ok, err = pcall(bad.run, "rw-team/vision/abc123xy")
  t.ok(not ok and tostring(err):find("API key", 1, true) ~= nil or tostring(err):find("key", 1, true) ~= nil,
    "a malformed key is refused: " .. tostring(err))
end
local ok, r = pcall(api.run, "rw-team/vision/r2d2c3po")
t.ok(ok and r.id == "r2d2c3po", "the host's budget still serves other calls: " .. tostring(r))

-- }======

-- {====== 6. options are checked at load, naming the option and the script's line

local function errs(pattern, fn)
  local ok2, err = pcall(fn)
  t.ok(not ok2 and tostring(err):find(pattern), "error '" .. pattern .. "': " .. tostring(err))
  t.ok(not ok2 and tostring(err):find(SCRIPT .. ":%d+:"), "the error names the script's line: " .. tostring(err))
end
errs("max_rows", function() watch{project = "rw-team/vision", max_rows = 0} end)
errs("batch", function() watch{project = "rw-team/vision", batch = 0} end)
errs("stale.factor", function() watch{project = "rw-team/vision", stale = {factor = "five"}} end)
errs("stale.flor", function() watch{project = "rw-team/vision", stale = {flor = "5m"}} end)
errs('unknown option "imediate"', function() watch{project = "rw-team/vision", imediate = true} end)
local w_opts = watch{project = "rw-team/vision", id = "fx-opts", every = 60}
w_opts:stop()
errs("http:// or https:// URL", function() rule{name = "r1", watch = w_opts, when = function() end, notify = {{slack = "not a url"}}} end)
errs("http:// or https:// URL", function() rule{name = "r2", watch = w_opts, when = function() end, notify = {{webhook = "file:///etc/passwd"}}} end)
errs('unknown option "txt"', function() rule{name = "r3", watch = w_opts, when = function() end, notify = {{slack = hooks .. "x", txt = "hi"}}} end)
errs("unknown action", function() rule{name = "r4", watch = w_opts, when = function() end, notify = {{email = "me@example.com"}}} end)
errs("repeat", function() rule{name = "r5", watch = w_opts, when = function() end, ["repeat"] = "soon"} end)
errs("watch", function() rule{name = "r6", watch = {}, when = function() end} end)

-- }======

-- {====== 7. the summary's _step lags behind the history (a summary written on a fresh read just
-- before the training process logged a row carries the older _step): the rows still arrive

local lag_path = "rw-team/vision/c9r0f1v2"
local got_rows = {}
local w_lag = watch{project = "rw-team/vision", every = 0.1, id = "fx-lag", stale = false,
  filters = {name = "c9r0f1v2"},
  on_history = function(run, rows) for _, r in ipairs(rows) do got_rows[#got_rows + 1] = r._step end end}
wait_for("the first rows", function() return #got_rows > 0 end)
local before = wb.stored(lag_path)
local next_step = before.lastStep + 1
wb.admin("POST", "runs/" .. lag_path, {append_history = {
  {_step = next_step, loss = 0.5, _timestamp = os.time()}, {_step = next_step + 1, loss = 0.4, _timestamp = os.time()}},
  update_summary = false})
t.ok(wb.stored(lag_path).summary_decoded._step < next_step, "the summary lags behind the history")
wait_for("the rows past the summary's _step", function() return got_rows[#got_rows] == next_step + 1 end)
w_lag:stop()
local seen_steps = {}
local dup_steps = 0
for _, st_ in ipairs(got_rows) do if seen_steps[st_] then dup_steps = dup_steps + 1 end seen_steps[st_] = true end
t.ok(seen_steps[next_step] and seen_steps[next_step + 1], "both rows delivered although the summary says otherwise")
t.eq(dup_steps, 0, "no row twice")

-- }======

t.done()
