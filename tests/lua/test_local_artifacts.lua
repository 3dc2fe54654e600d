-- Issue 16 item 5: run:logged_artifacts() / used_artifacts() on local runs list what the .wandb
-- file records (artifact and use_artifact records), read-only. On the real runs of
-- $RW_SHARED/wandb-runs: as many as the file holds records of that type (counted by type,
-- independently of their fields), with the fields the record carries.
local t = require "testlib"
local json = require "runwatch.json"
local fswatch = require "runwatch.fswatch"
local wandbfile = require "runwatch.wandbfile"

local shared = os.getenv("RW_SHARED") or "../shared"
local RUNS = shared .. "/wandb-runs"
if not fswatch.stat(RUNS) then
  print("SKIP: " .. RUNS .. " not found (set RW_SHARED): the local artifact tests did not run")
  print("0 passed, 0 failed")
  os.exit(77)
end

-- records of a type in a run's .wandb file, and the decoded artifact records
local function count(dir, ty)
  local n, recs = 0, {}
  for _, name in ipairs(fswatch.dir(RUNS .. "/" .. dir)) do
    if name:match("%.wandb$") then
      local f = assert(wandbfile.open(RUNS .. "/" .. dir .. "/" .. name))
      for rec in f:records() do
        if rec.type == ty then n = n + 1; recs[#recs + 1] = rec end
      end
      f:close()
    end
  end
  return n, recs
end

local la = api.open("local:" .. RUNS)
local total = 0
for _, dir in ipairs(fswatch.dir(RUNS)) do
  local id = dir:match("%-([%w]+)$")
  if id and fswatch.stat(RUNS .. "/" .. dir).type == "directory" then
    local run = la.run(id)
    local n, recs = count(dir, "artifact")
    local logged = run:logged_artifacts()
    t.eq(#logged, n, id .. ": one logged artifact per artifact record")
    for i, a in ipairs(logged) do
      t.eq(a.name, recs[i].name, id .. " name")
      t.eq(a.type, recs[i].artifact_type, id .. " type")
      t.ok(type(a.name) == "string" and a.name ~= "", id .. ": the record names the artifact")
      t.eq(type(a.metadata), "table", id .. ": metadata decoded")
      t.eq(a.run, run.path, id .. ": the run it came from")
    end
    local u = count(dir, "use_artifact")
    t.eq(#run:used_artifacts(), u, id .. ": one used artifact per use_artifact record")
    total = total + n
  end
end
t.ok(total >= 1, "the real runs hold at least one artifact record: " .. total)
-- the offline run's record is its code artifact (wandb-local-format.md: "artifact (7208 B, code artifact)")
local code = la.run("g9dvvkua"):logged_artifacts()[1]
t.eq(code and code.type, "code", "the legacy writer's code artifact")
local ok, e = pcall(function() return la.run("g9dvvkua"):logged_artifacts()[1]:download("/tmp/x") end)
t.ok(not ok, "local artifacts are read-only records: no download (" .. tostring(e) .. ")")
t.done()
