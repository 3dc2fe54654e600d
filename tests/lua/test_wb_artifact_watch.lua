-- Artifact events against the W&B test server: the first tick primes (no events), then new
-- versions (in a known and in a brand-new collection) and alias moves are each delivered once,
-- with an Artifact; a tick with nothing new sends one listing and one batched request, however
-- many collections (100 here); a handler's effect is queued and performed after the commit.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"

local events = {}
local function ev(s) events[#events + 1] = s end
local function version(name, o)
  local b = {entity = "rw-team", project = "vision", type = "model", name = name,
    files = {["model.pt"] = {bytes = 500, seed = #events + 7}}, created_by = "abc123xy"}
  for k, v in pairs(o or {}) do b[k] = v end
  return wb.admin("POST", "artifacts/version", b)
end

local w = watch{project = "rw-team/vision", artifacts = {type = "model"}, every = "1h", id = "art-watch",
  on_artifact_version = function(a)
    ev("version " .. a.name .. " " .. a.type)
    if a.collection == "fresh-model" then a:add_aliases("seen-by-watch") end   -- an effect: queued
  end,
  on_alias = function(a, added, removed)
    ev("alias " .. a.name .. " +" .. table.concat(added, ",") .. " -" .. table.concat(removed, ","))
  end}
sleep(0.05)
while w.ticks < 1 do sleep(0.05) end
t.eq(#events, 0, "the first tick primes: no events for what existed")

local v3 = version("resnet-demo", {aliases = {"candidate"}})
t.eq(v3.version, "v3", "server: a new version")
wb.admin("POST", "artifacts/alias", {entity = "rw-team", project = "vision", name = "resnet-demo:v0", add = {"production"}})
version("fresh-model", {aliases = {"first"}})
version("mnist-small", {type = "dataset", files = {["x.csv"] = "1\n"}})    -- another type: not watched
w:tick()
table.sort(events)
t.eq(events, {
  "alias fresh-model:v0 +first -",
  "alias resnet-demo:v0 +production -",
  "alias resnet-demo:v1 + -production",
  "alias resnet-demo:v2 + -candidate",
  "alias resnet-demo:v3 +candidate -",
  "version fresh-model:v0 model",
  "version resnet-demo:v3 model",
}, "each new version and each alias change once")

-- the handler's effect was queued in the collection's transaction and performed after it
local function wait_for(what, f)
  for _ = 1, 100 do if f() then return true end sleep(0.05) end
  t.ok(false, "timed out waiting for " .. what)
end
wait_for("the handler's alias", function()
  for _, c in ipairs(wb.admin("GET", "artifacts/rw-team/vision").collections) do
    if c.name == "fresh-model" then return c.aliases["seen-by-watch"] == "v0" end
  end
end)

-- nothing new: no events, one listing and one batched request
events = {}
w:tick()           -- sees the handler's own alias
t.eq(events, {"alias fresh-model:v0 +seen-by-watch -"}, "the alias the handler added is an event too")
events = {}
wb.clear_requests()
w:tick()
t.eq(#events, 0, "nothing new: no events")
local ops = {}
for _, r in ipairs(wb.requests()) do ops[#ops + 1] = r.operationName end
t.eq(ops, {"ArtifactTypeArtifactCollections", "ArtifactWatchBatch"}, "two requests when nothing changed")
w:stop()

-- 100 collections, nothing new: still one listing page and two batched requests
for i = 1, 100 do
  wb.admin("POST", "artifacts/version", {entity = "rw-team", project = "nlp", type = "model",
    name = string.format("m%03d", i), files = {["w.bin"] = "w" .. i}})
end
local seen = 0
local w2 = watch{project = "rw-team/nlp", artifacts = {type = "model"}, every = "1h", id = "art-watch-100",
  on_artifact_version = function() seen = seen + 1 end}
sleep(0.05)
while w2.ticks < 1 do sleep(0.05) end
wb.clear_requests()
w2:tick()
local n = #wb.requests()
print(string.format("requests per tick with 100 collections and nothing new: %d", n))
t.eq(#wb.requests("ArtifactWatchBatch"), 2, "two batched requests for 100 collections")
t.eq(n, 3, "three requests in all")
t.eq(seen, 0, "no events")
wb.admin("POST", "artifacts/version", {entity = "rw-team", project = "nlp", type = "model", name = "m042", files = {["w.bin"] = "new"}})
w2:tick()
t.eq(seen, 1, "one new version among 100 collections")
w2:stop()

-- bad specs are misuse
t.checkerr("artifacts.type is required", watch, {project = "rw-team/vision", artifacts = {}, on_alias = function() end})
t.checkerr("needs on_artifact_version or on_alias", watch, {project = "rw-team/vision", artifacts = {type = "model"}})
t.checkerr("watches runs", watch, {project = "rw-team/vision", artifacts = {type = "model"},
  on_alias = function() end, on_history = function() end})
t.checkerr("artifacts.nmae", watch, {project = "rw-team/vision", artifacts = {type = "model", nmae = "x"}, on_alias = function() end})
t.done()
