-- Artifact name resolution as the SDK does it (defaults, aliases, versions) and malformed names rejected naming the part.
local t = require "testlib"
local an = require "runwatch.artifact_name"

local d = {entity = "me", project = "proj"}
local r = an.parse("e/p/mnist:v3", d)
t.eq({r.entity, r.project, r.collection, r.alias, r.name}, {"e", "p", "mnist", "v3", "mnist:v3"}, "full path")
r = an.parse("p/mnist:latest", d)
t.eq({r.entity, r.project, r.name}, {"me", "p", "mnist:latest"}, "default entity")
r = an.parse("mnist:best", {entity = "me"})
t.eq({r.entity, r.project, r.name}, {"me", "uncategorized", "mnist:best"}, "no project -> uncategorized")
r = an.parse("mnist", d)
t.eq({r.entity, r.project, r.name, r.alias}, {"me", "proj", "mnist", nil}, "no alias: name sent as is")

local function bad(path, want)
  local ok, err = pcall(an.parse, path, d)
  t.ok(not ok and tostring(err):find(want, 1, true), path .. " -> " .. tostring(err))
end
bad("a/b/c/d:", "at most 3")
bad("mnist:", "alias after ':' is empty")
bad(":v-1", "name part is empty")
bad("m:v-1", "not v<N>")
bad("m:v1x", "not v<N>")
bad("e//m:v1", "project part is empty")
bad(42, "expected a string")
t.done()
