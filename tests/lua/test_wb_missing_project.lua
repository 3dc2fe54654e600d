-- Issue 13 item 1, a missing project: api.runs over a project that does not exist raises a
-- CommError naming it (iteration, #runs, runs[1]), as the Python API raises "Could not find
-- project"; so does a watch's poll and the listings built on api.runs (sweep runs, exports);
-- an existing project without runs stays an empty list. The local backend says the same for a
-- project no run record names.
-- runwatch-expect-exit: 1
local t = require "testlib"
local wb = require "wbtest"
local errors = require "runwatch.errors"
local fswatch = require "runwatch.fswatch"
local json = require "runwatch.json"

-- the error value a call raises (nil when it did not raise)
local function raised(f, ...)
  local ok, err = pcall(f, ...)
  if ok then return nil end
  return err
end

local function commerror_naming(err, what, label)
  t.ok(errors.is(err), label .. ": a CommError (got " .. tostring(err) .. ")")
  t.ok(tostring(err):find(what, 1, true) ~= nil, label .. ": names " .. what .. " (" .. tostring(err) .. ")")
end

-- {====== api.runs on a typo'd project

local typo = api.runs("rw-team/visoin")
commerror_naming(raised(function() for _ in ipairs(typo) do end end), "rw-team/visoin", "iterating")
commerror_naming(raised(function() return #api.runs("rw-team/visoin", {state = "finished"}) end),
  "rw-team/visoin", "#runs")
commerror_naming(raised(function() return api.runs("rw-team/visoin", nil, {lazy = true})[1] end),
  "rw-team/visoin", "runs[1] of a lazy list")
commerror_naming(raised(function() return api.runs("nobody-here/vision")[1] end), "nobody-here/vision",
  "a missing entity")
t.ok(raised(function() return typo[1] end) ~= nil, "asking again raises again")

-- an existing project with no runs is an empty list, not an error
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "empty-project", runs = json.array({})}}})
local empty = api.runs("rw-team/empty-project")
t.eq(#empty, 0, "an existing empty project has no runs")
t.eq(empty[1], nil, "and no first run")
local n = 0
for _ in ipairs(api.runs("rw-team/empty-project", {state = "running"})) do n = n + 1 end
t.eq(n, 0, "iterating it yields nothing")
-- a filter that matches nothing in an existing project is empty too
t.eq(#api.runs("rw-team/vision", {group = "no-such-group"}), 0, "no match is empty")

-- }======

-- {====== what is built on listing

-- a sweep's runs on a project that is gone
commerror_naming(raised(function()
  local sw = require("runwatch.sweeps").new(api.default(), "rw-team", "visoin", {name = "abc", state = "RUNNING"})
  return sw.runs[1]
end), "rw-team/visoin", "sweep runs")

-- export of a typo'd project: nil and the message `runwatch export` prints
local nrows, err = export.project("rw-team/visoin", {output = os.tmpname()})
t.eq(nrows, nil, "export of a missing project fails")
t.ok(tostring(err):find("project rw-team/visoin not found", 1, true), "export names the project: " .. tostring(err))
-- export of an empty project writes a header-less empty file and succeeds
local out = os.tmpname()
local n2, err2 = export.project("rw-team/empty-project", {output = out, columns = "id,name"})
t.eq(n2, 0, "export of an empty project: 0 rows (" .. tostring(err2) .. ")")
os.remove(out)

-- a watch's poll raises the CommError (every tick, until the project exists), so `once` fails
local w = watch{project = "rw-team/visoin", every = 3600, id = "typo-watch", on_new_run = function() end}
commerror_naming(raised(function() return w.group:tick() end), "rw-team/visoin", "a watch's poll")
-- a watch on an empty project polls without error
local we = watch{project = "rw-team/empty-project", every = 3600, id = "empty-watch", on_new_run = function() end}
local stats = we.group:tick()
t.eq(stats.examined, 0, "a watch on an empty project examines nothing")
w:stop()

-- }======

-- {====== local runs: a project no run record names

local SRC = (os.getenv("RW_TESTS") or "tests") .. "/.."
local demo = dofile(SRC .. "/scripts/demo/demo_runs.lua")
local tmp = os.tmpname()
os.remove(tmp)
assert(fswatch.mkdir(tmp))
demo.write(tmp)
local la = api.open("local:" .. tmp)
t.ok(#la.runs() > 0, "the local directory has runs")
commerror_naming(raised(function() return la.runs("local/no-such-project")[1] end),
  "local/no-such-project", "a local project no run names")
t.ok(#la.runs(la.settings.entity .. "/" .. la.settings.project) > 0, "the directory's own project lists its runs")
t.eq(#la.runs(nil, {state = "no-such-state"}), 0, "an empty match in an existing local project")
os.execute("rm -rf '" .. tmp .. "'")

-- }======

t.done()
