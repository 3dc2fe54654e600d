-- --dry-run: reads happen, every write is printed as a diff and nothing is sent (checked in the
-- server's request log); the stored run is unchanged.
-- runwatch-args: --dry-run
local t = require "testlib"
local wb = require "wbtest"

t.eq(dry_run, true, "dry_run visible to Lua")
local path = "rw-team/vision/abc123xy"
local before = wb.stored(path)
local run = api.run(path)
run.summary.checked = true
run.config.lr = 0.5
run.tags[#run.tags + 1] = "reviewed"
run.notes = "dry"
wb.clear_requests()
t.eq(run:update(), true, "planned")
run:alert{title = "would alert"}
run:add_tags("x")
t.eq(run:delete{artifacts = true}, true, "delete planned")
local muts = 0
for _, r in ipairs(wb.requests()) do
  if r.query and r.query:find("^%s*mutation") then muts = muts + 1 end
end
t.eq(muts, 0, "no mutation sent in dry-run")
local after = wb.stored(path)
t.eq(after.summaryMetrics, before.summaryMetrics, "summary untouched")
t.eq(after.config, before.config, "config untouched")
t.eq(after.tags, before.tags, "tags untouched")
t.eq(#wb.admin("GET", "alerts"), 0, "no alert recorded")
api.flush()
t.eq(api.run(path).id, "abc123xy", "the run still exists after a dry-run delete")
t.done()
