-- --dry-run on artifacts: each write is planned (the plan names what would move), nothing is sent
-- (the server's request log has no mutation) and the stored artifacts are unchanged.
-- runwatch-args: --dry-run
local t = require "testlib"
local wb = require "wbtest"

t.eq(dry_run, true, "dry_run visible to Lua")
local before = wb.admin("GET", "artifacts/rw-team/vision")
local a = api.artifact("rw-team/vision/resnet-demo:v0")
wb.clear_requests()
t.eq(a:add_aliases("production"), true, "alias planned")
t.eq(a:remove_aliases("latest"), true, "unalias planned")
a.description = "dry"
a.metadata.note = "dry"
t.eq(a:save(), true, "update planned")
t.eq(a:delete{delete_aliases = true}, true, "delete planned")
local muts = 0
for _, r in ipairs(wb.requests()) do
  if r.query and r.query:find("^%s*mutation") then muts = muts + 1 end
end
t.eq(muts, 0, "no mutation sent in dry-run")
t.ok(#wb.requests("ArtifactMembershipByName") >= 1, "the alias plan read where the alias is now")
t.eq(wb.admin("GET", "artifacts/rw-team/vision"), before, "stored artifacts unchanged")
t.done()
