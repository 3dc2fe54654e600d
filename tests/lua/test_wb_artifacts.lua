-- Artifacts read against the W&B test server: the SDK's documents byte for byte, name resolution
-- (aliases, versions, defaults, missing), every field against what the server stores, paging by
-- endCursor, collections, types, a run's logged/used artifacts, lineage, bad names.
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local queries = require "runwatch.wb.artifact_queries"

-- the documents are the reference's (when ../shared is present)
local ref
do
  local f = io.open((os.getenv("RW_SHARED") or "../shared") .. "/reference/wandb-artifacts.md", "rb")
  if f then ref = f:read("a"); f:close() end
end
if ref then
  local n = 0
  for name, text in pairs(queries) do
    local s = ref:find("### " .. name .. " ", 1, true) or ref:find("### " .. name .. "\n", 1, true)
    t.ok(s, name .. " is in the reference")
    local body = s and ref:match("```graphql\n(.-)```", s)
    t.eq(text, body, name .. " is byte for byte the reference's")
    n = n + 1
  end
  t.ok(n >= 16, "16 documents")
else
  print("SKIP (documents vs reference): ../shared/reference is absent")
end

local stored = wb.admin("GET", "artifacts/rw-team/vision")
local function coll(name)
  for _, c in ipairs(stored.collections) do if c.name == name then return c end end
end
local mnist = coll("mnist-small")
local function custom(list)
  local out = {}
  for _, a in ipairs(list) do if not a:match("^v%d+$") then out[#out + 1] = a end end
  return out
end

-- every field of one version against the server's record
local function same(a, c, v, what)
  t.eq(a.id, v.id, what .. " id")
  t.eq(a.version, v.version, what .. " version")
  t.eq(a.type, c.type, what .. " type")
  t.eq(a.digest, v.digest, what .. " digest")
  t.eq(a.commit_hash, v.commitHash, what .. " commit_hash")
  t.eq(a.size, v.size, what .. " size")
  t.eq(a.file_count, v.fileCount, what .. " file_count")
  t.eq(a.state, v.state, what .. " state")
  t.eq(a.description, v.description ~= json.null and v.description or nil, what .. " description")
  t.eq(a.metadata, v.metadata and json.decode(v.metadata) or {}, what .. " metadata")
  t.eq(a.tags, v.tags, what .. " tags")
  t.eq(a.created_at, v.createdAt, what .. " created_at")
  t.eq(a.updated_at, v.updatedAt ~= json.null and v.updatedAt or v.createdAt, what .. " updated_at (createdAt when never updated)")
  t.eq(a.entity, "rw-team", what .. " entity")
  t.eq(a.project, "vision", what .. " project")
  t.eq(a.collection, c.name, what .. " collection")
  t.eq(a.source_name, c.name .. ":" .. v.version, what .. " source_name")
  t.eq(a.is_link, false, what .. " is_link")
end

-- name resolution
wb.clear_requests()
local best = api.artifact("rw-team/vision/mnist-small:best")
t.eq(wb.count("ArtifactMembershipByName"), 1, "one request")
local req = wb.requests("ArtifactMembershipByName")[1]
t.eq(req.variables, {entity = "rw-team", project = "vision", name = "mnist-small:best"}, "variables as the SDK sends them")
local vb = mnist.versions[tonumber(mnist.aliases.best:sub(2)) + 1]
same(best, mnist, vb, "best")
t.eq(best.name, "mnist-small:best", "name keeps the alias asked")
t.eq(best.qualified_name, "rw-team/vision/mnist-small:best")
t.eq(best.aliases, custom(vb.aliases), "aliases without vN")
t.ok(#best.aliases > 0, "best has aliases")

local latest = api.artifact("vision/mnist-small:latest")       -- entity from WANDB_ENTITY
t.eq(latest.version, "v" .. (#mnist.versions - 1), "latest is the newest version")
t.ok(table.concat(latest.aliases, ","):find("latest", 1, true), "latest among its aliases")
local bare = api.artifact("rw-team/vision/mnist-small")
t.eq(bare.name, "mnist-small:" .. bare.version, "no alias: name gets the version")
t.eq(bare.id, latest.id, "no alias resolves as latest")
local v0 = api.artifact("rw-team/vision/mnist-small:v0", {type = "dataset"})
same(v0, mnist, mnist.versions[1], "v0")
t.eq(api.artifact("rw-team/vision/mnist-small:" .. mnist.versions[1].digest).id, v0.id, "by digest")

local ok, e = pcall(api.artifact, "rw-team/vision/mnist-small:v99")
t.ok(not ok and errors.is(e), "missing version is a CommError")
t.eq(e.message, "artifact membership 'mnist-small:v99' not found in 'rw-team/vision'", "the SDK's message")
ok, e = pcall(api.artifact, "rw-team/nope/mnist-small:v0")
t.eq(ok or e.message, "project 'nope' not found under entity 'rw-team'", "missing project")
ok, e = pcall(api.artifact, "rw-team/vision/mnist-small:v0", {type = "model"})
t.eq(ok or e.message, "type model specified but this artifact is of type dataset", "type mismatch")
t.checkerr("the alias after ':' is empty", api.artifact, "rw-team/vision/mnist-small:")
t.checkerr("at most 3", api.artifact, "a/b/c/d:")
t.checkerr("not v<N>", api.artifact, "rw-team/vision/mnist-small:v-1")
t.checkerr('unknown option "tpye" (did you mean "type"?', api.artifact, "rw-team/vision/mnist-small:v0", {tpye = "model"})
t.checkerr('unknown option "per_pgae"', api.artifacts, "rw-team/vision", "dataset", "mnist-small", {per_pgae = 2})

-- versions: lazy pages following endCursor, newest first, each equal to the stored one
wb.clear_requests()
local list = api.artifacts("rw-team/vision", "dataset", "mnist-small", {per_page = 2})
t.eq(#list, #mnist.versions, "#list is totalCount")
local seen = {}
for i, a in ipairs(list) do
  local v = mnist.versions[#mnist.versions - i + 1]
  same(a, mnist, v, "listed " .. v.version)
  t.eq(a.aliases, custom(v.aliases), "listed aliases of " .. v.version)
  seen[#seen + 1] = a.version
end
t.eq(#seen, #mnist.versions, "every version listed once")
local reqs = wb.requests("ProjectArtifacts")
t.eq(#reqs, 2, "two pages of 2")
t.eq(reqs[2].variables.cursor, "bzox", "page 2 asks for the previous endCursor") -- base64 "o:1"
t.eq(reqs[1].variables.filters, '{"state": "COMMITTED"}', "the SDK's state filter text")
ok, e = pcall(function() return #api.artifacts("rw-team/vision", "dataset", "nope") end)
t.ok(not ok and errors.is(e) and e.message:find("nope", 1, true), "missing collection names it: " .. tostring(e))

-- collections and types
local colls = api.artifact_collections("rw-team/vision", "model")
local cn = {}
for _, c in ipairs(colls) do cn[#cn + 1] = c.name; t.eq(c.type, "model", c.name .. " type") end
table.sort(cn)
t.eq(cn, {"resnet-demo", "vit-demo"}, "model collections")
t.eq(#colls[1]:versions(), #coll(colls[1].name).versions, "collection:versions()")
local tn = {}
for ty in api.artifact_types("rw-team/vision"):iter() do tn[#tn + 1] = ty.name end
table.sort(tn)
local want = {}
for _, ty in ipairs(stored.types) do want[#want + 1] = ty.name end
table.sort(want)
t.eq(tn, want, "types")

-- exists, one collection, one type
t.eq(api.artifact_exists("rw-team/vision/mnist-small:best"), true, "artifact_exists")
t.eq(api.artifact_exists("rw-team/vision/mnist-small:v99"), false, "artifact_exists: missing version")
t.eq(api.artifact_exists("rw-team/nope/mnist-small"), false, "artifact_exists: missing project")
t.eq(api.artifact_exists("rw-team/vision/mnist-small:v0", {type = "model"}), false, "artifact_exists: another type")
t.checkerr("the alias after ':' is empty", api.artifact_exists, "rw-team/vision/mnist-small:")
local one = api.artifact_collection("rw-team/vision", "dataset", "mnist-small")
t.eq({one.name, one.type, one.id, one.is_sequence}, {"mnist-small", "dataset", mnist.id, true}, "artifact_collection")
t.eq(#one:versions(), #mnist.versions, "its versions")
ok, e = pcall(api.artifact_collection, "rw-team/vision", "model", "mnist-small")
t.ok(not ok and errors.is(e) and e.message:find("mnist-small", 1, true), "a collection of another type is missing: " .. tostring(e))
local ty = api.artifact_type("rw-team/vision", "model")
t.eq(ty.name, "model", "artifact_type")
local nmodel = 0
for _, c in ipairs(stored.collections) do if c.type == "model" then nmodel = nmodel + 1 end end
t.eq(#ty:collections(), nmodel, "its collections")
ok, e = pcall(api.artifact_type, "rw-team/vision", "nope")
t.eq(ok or e.message, "Could not find artifact type 'nope'", "missing type")

-- a run's artifacts
local logged = api.run("rw-team/vision/r2d2c3po"):logged_artifacts()
local expect = {}
for _, c in ipairs(stored.collections) do
  for _, v in ipairs(c.versions) do if v.createdBy == "r2d2c3po" then expect[#expect + 1] = c.name .. ":" .. v.version end end
end
local got = {}
for _, a in ipairs(logged) do got[#got + 1] = a.name end
t.eq(got, expect, "logged_artifacts")
t.ok(#got > 0, "r2d2c3po logged something")
local used = api.run("rw-team/vision/x7k2m9p4"):used_artifacts()
got = {}
for _, a in ipairs(used) do got[#got + 1] = a.name end
t.eq(got, {"mnist-small:v1"}, "used_artifacts")
t.eq(#used, 1, "#used")

-- lineage
t.eq(best:logged_by().id, vb.createdBy, "logged_by")
local ub = {}
for _, r in ipairs(best:used_by()) do ub[#ub + 1] = r.id end
t.eq(ub, vb.usedBy, "used_by")
t.done()
