-- Artifact writes against the W&B test server, through the effect path: aliases added (moved) and
-- removed, save() sending only what changed (metadata key by key on a fresh read, so another
-- writer's key survives), concurrent alias writers, bad aliases refused before any request,
-- deletion refused while aliases remain, one audit row per effect.
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local task = require "runwatch.task"

local function stored(cname)
  for _, c in ipairs(wb.admin("GET", "artifacts/rw-team/vision").collections) do
    if c.name == cname then return c end
  end
end
local function mutations()
  local n = 0
  for _, r in ipairs(wb.requests()) do if r.query and r.query:find("^%s*mutation") then n = n + 1 end end
  return n
end

-- add_aliases moves an alias another version holds
local before = stored("resnet-demo")
t.eq(before.aliases.production, "v1", "fixture: production on v1")
local v0 = api.artifact("rw-team/vision/resnet-demo:v0")
wb.clear_requests()
t.eq(v0:add_aliases("production", "reviewed"), true, "add_aliases")
local req = wb.requests("AddAliases")
t.eq(#req, 1, "one AddAliases")
t.eq(req[1].variables.input.artifactID, v0.id, "by the version's id")
t.eq(req[1].variables.input.aliases[1], {alias = "production", artifactCollectionName = "resnet-demo",
  entityName = "rw-team", projectName = "vision"}, "the SDK's alias input")
local after = stored("resnet-demo")
t.eq(after.aliases.production, "v0", "production moved to v0")
t.eq(after.aliases.reviewed, "v0", "reviewed on v0")
t.ok(table.concat(v0.aliases, ","):find("production", 1, true), "the object shows it")
t.eq(api.artifact("rw-team/vision/resnet-demo:production").id, v0.id, "resolves to v0 now")
local rows = state.audit_list{action = "alias"}
t.eq(#rows, 1, "one audit row")
t.eq(rows[1].run, "rw-team/vision/resnet-demo:v0", "audited target")
t.eq(rows[1].outcome, "ok", "audited outcome")

-- remove_aliases
t.eq(v0:remove_aliases{"reviewed"}, true, "remove_aliases")
t.eq(stored("resnet-demo").aliases.reviewed, nil, "reviewed removed")
t.eq(#state.audit_list{action = "unalias"}, 1, "one audit row for unalias")

-- bad aliases are misuse: raised at the call, nothing sent
wb.clear_requests()
t.checkerr("is a version, not an alias", v0.add_aliases, v0, "v3")
t.checkerr("contains '/' or ':'", v0.add_aliases, v0, "a/b")
t.checkerr("cannot be empty", v0.add_aliases, v0, "")
t.checkerr("at least one alias", v0.add_aliases, v0)
t.eq(mutations(), 0, "no mutation for bad aliases")

-- save(): only what changed; metadata key by key on a fresh read
local a = api.artifact("rw-team/vision/mnist-small:v0")
local other = api.artifact("rw-team/vision/mnist-small:v0")
other.metadata.checked_by = "someone else"        -- another writer, after `a` was read
t.eq(other:save(), true, "the other writer saves")
wb.clear_requests()
t.eq(a:save(), false, "nothing changed: nothing sent")
t.eq(mutations(), 0, "no request for an unchanged save")
a.description = "the first two rows"
a.metadata.score = 0.93
a.metadata.rows = nil
a.tags[#a.tags + 1] = "checked"
a.aliases[#a.aliases + 1] = "baseline"
t.eq(a:save(), true, "save")
t.eq(#wb.requests("AddAliases"), 1, "aliases added")
t.eq(#wb.requests("DeleteAliases"), 0, "none removed")
t.eq(#wb.requests("UpdateArtifact"), 1, "one UpdateArtifact")
local upd = wb.requests("UpdateArtifact")[1].variables.input
t.eq(upd.tagsToAdd, {{tagName = "checked"}}, "tags as deltas")
local v = stored("mnist-small").versions[1]
t.eq(v.description, "the first two rows", "description written")
local meta = json.decode(v.metadata)
t.eq(meta.score, 0.93, "metadata key set")
t.eq(meta.rows, nil, "metadata key removed")
t.eq(meta.checked_by, "someone else", "the other writer's key survives")
t.eq(v.tags, {"checked"}, "tags")
t.eq(stored("mnist-small").aliases.baseline, "v0", "alias added by save")
t.eq(a.metadata.checked_by, "someone else", "the object shows what the server holds")
t.eq(a:save(), false, "saved: nothing left to send")

-- concurrent writers on one collection: both aliases land, each on its own version
local x1 = api.artifact("rw-team/vision/mnist-small:v1")
local x2 = api.artifact("rw-team/vision/mnist-small:v2")
task.parallel({function() return x1:add_aliases("left") end, function() return x2:add_aliases("right") end})
local s = stored("mnist-small")
t.eq({s.aliases.left, s.aliases.right}, {"v1", "v2"}, "both concurrent aliases landed")
-- and two writers on one alias: the last one holds it, the other version loses it
x1:add_aliases("champion")
x2:add_aliases("champion")
s = stored("mnist-small")
t.eq(s.aliases.champion, "v2", "the last writer holds the alias")
t.ok(not table.concat(s.versions[2].aliases, ","):find("champion", 1, true), "v1 no longer has it")

-- delete: refused while the version has aliases, then with delete_aliases
local victim = api.artifact("rw-team/vision/vit-demo:v0")
local ok, e = pcall(victim.delete, victim)
t.ok(not ok and errors.is(e) and e.message:find("has aliases", 1, true), "refused with aliases: " .. tostring(e))
t.eq(stored("vit-demo").versions[1].state, "COMMITTED", "still there")
t.eq(victim:delete{delete_aliases = true}, true, "deleted with its aliases")
t.eq(stored("vit-demo").versions[1].state, "DELETED", "deleted on the server")
ok, e = pcall(api.artifact, "rw-team/vision/vit-demo:v0")
t.ok(not ok and errors.is(e), "a deleted version no longer resolves")
local dr = state.audit_list{action = "artifact-delete"}
t.eq(#dr, 2, "two audit rows (refused, done)")
t.ok(dr[1].outcome:find("failed", 1, true) or dr[2].outcome:find("failed", 1, true), "the refusal is audited as failed")
t.done()
