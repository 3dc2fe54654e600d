-- run:update and key-level edits against the test server: untouched config and summary values
-- come back bit-identical (NaN, 17-digit floats, 2^53+1, unicode, desc and wandb_version kept),
-- a concurrent writer's keys survive, keys can be removed, tags have set semantics, alerts.
local t = require "testlib"
local wb = require "wbtest"
local diff = require "runwatch.diff"

local path = "rw-team/vision/abc123xy"
local before = wb.stored(path)
local run = api.run(path)

-- change one summary key, one config key, a tag, the notes
run.summary.checked = true
run.config.lr = 0.002
run.tags[#run.tags + 1] = "reviewed"
run.notes = "looked at by runwatch"
wb.clear_requests()
t.eq(run:update(), true, "update wrote something")
local muts = wb.requests("UpsertBucket")
t.eq(#muts, 1, "one mutation")
t.eq(#wb.requests("Run"), 1, "one fresh read before writing")

local after = wb.stored(path)
-- summary: every key but the new one bit-identical
for k, v in pairs(before.summary_decoded) do
  t.ok(diff.same(after.summary_decoded[k], v), "summary." .. k .. " unchanged")
end
t.eq(after.summary_decoded.checked, true, "summary.checked written")
t.eq(math.type(after.summary_decoded.big), "integer", "big int stays an integer")
t.eq(after.summary_decoded.loss, 0.30000000000000004, "17-digit float exact")
t.ok(after.summaryMetrics:find("0.30000000000000004", 1, true), "text of the 17-digit float kept")
-- config: untouched keys identical including desc; wandb_version kept (the SDK drops it)
for k, v in pairs(before.config_decoded) do
  if k ~= "lr" then t.ok(diff.same(after.config_decoded[k], v), "config." .. k .. " unchanged") end
end
t.eq(after.config_decoded.lr.value, 0.002, "config.lr written")
t.eq(after.config_decoded.lr.desc, json.null, "desc kept")
t.eq(after.config_decoded.wandb_version, before.config_decoded.wandb_version, "wandb_version kept")
t.eq(after.config_decoded.seed.value, 9007199254740993, "int64 config exact")
-- tags and notes
local tagset = {}
for _, x in ipairs(after.tags) do tagset[x] = (tagset[x] or 0) + 1 end
t.eq(tagset.reviewed, 1, "tag added once")
for _, x in ipairs(before.tags) do t.eq(tagset[x], 1, "old tag " .. x .. " kept") end
t.eq(after.notes, "looked at by runwatch")
-- the run object shows the new state; a second update with no change sends nothing
t.eq(run.summary.checked, true)
wb.clear_requests()
t.eq(run:update(), false, "nothing changed -> false")
t.eq(#wb.requests(), 0, "and no request")

-- a summary with NaN and Infinity round-trips
local nanrun = nil
for _, r in ipairs(api.runs("rw-team/vision", {state = "crashed"})) do
  local v = r.summary.loss
  if v ~= v then nanrun = r break end
end
t.ok(nanrun ~= nil, "a run with a NaN loss exists")
if nanrun then
  local b2 = wb.stored(nanrun.path)
  nanrun.summary.note = "nan kept"
  nanrun:update()
  local a2 = wb.stored(nanrun.path)
  for k, v in pairs(b2.summary_decoded) do t.ok(diff.same(a2.summary_decoded[k], v), "NaN run summary." .. k) end
  t.ok(a2.summaryMetrics:find("NaN", 1, true), "NaN written as NaN")
end

-- a concurrent writer: the server gets a new key after we loaded; ours does not clobber it
local r2 = api.run("rw-team/vision/q1w2e3r4")
local _ = r2.summary
wb.admin("POST", "runs/rw-team/vision/q1w2e3r4", {summary_set = {written_elsewhere = 42}, tags_add = {"from-ui"}})
r2.summary.mine = "x"
r2.tags[#r2.tags + 1] = "mine"
r2:update()
local s2 = wb.stored("rw-team/vision/q1w2e3r4")
t.eq(s2.summary_decoded.written_elsewhere, 42, "concurrent writer's summary key survived")
t.eq(s2.summary_decoded.mine, "x", "our key written")
local has = {}
for _, x in ipairs(s2.tags) do has[x] = true end
t.ok(has["from-ui"] and has["mine"], "both tags present")

-- removing keys: run.summary[k] = nil / run.config[k] = nil then update
r2.summary.mine = nil
r2.config.epochs = nil
r2:update()
s2 = wb.stored("rw-team/vision/q1w2e3r4")
t.eq(s2.summary_decoded.mine, nil, "summary key removed on the server")
t.eq(s2.config_decoded.epochs, nil, "config key removed on the server")
t.eq(s2.summary_decoded.written_elsewhere, 42, "other keys still there")

-- key-level helpers write at once
r2:add_tags("a", "b", "a")
r2:remove_tags("from-ui")
r2:set_summary({derived = 1.5})
r2:append_notes("line one")
r2:append_notes("line two")
s2 = wb.stored("rw-team/vision/q1w2e3r4")
has = {}
for _, x in ipairs(s2.tags) do has[x] = (has[x] or 0) + 1 end
t.eq(has.a, 1, "add_tags: set semantics")
t.eq(has["from-ui"], nil, "remove_tags")
t.eq(s2.summary_decoded.derived, 1.5, "set_summary")
t.ok(s2.notes:find("line one\nline two$") ~= nil, "append_notes: " .. tostring(s2.notes))

-- display name, group, job type
r2.name = "renamed-run"
r2.group = "g2"
r2.job_type = "eval"
r2:update()
s2 = wb.stored("rw-team/vision/q1w2e3r4")
t.eq(s2.displayName, "renamed-run")
t.eq(s2.group, "g2")
t.eq(s2.jobType, "eval")
t.checkerr("read-only", function() r2.state = "finished" end)
t.checkerr("must be a string", function() r2.notes = 5 end)

-- alert through notifyScriptableRunAlert
wb.admin("DELETE", "alerts")
t.eq(run:alert{title = "Loss spike", text = "loss > 2", level = "WARN", wait = "5m"}, true, "alert sent")
local alerts = wb.admin("GET", "alerts")
t.eq(#alerts, 1, "one alert recorded")
t.eq(alerts[1].title, "Loss spike")
t.eq(alerts[1].severity, "WARN")
t.eq(alerts[1].waitDuration, 300000, "wait in milliseconds")
t.eq(alerts[1].runName, "abc123xy")
t.checkerr("bad alert level", run.alert, run, {title = "x", level = "LOUD"})

t.done()
