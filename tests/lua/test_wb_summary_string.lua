-- Issue 13 item 3, a summary stored as a JSON-encoded string (a server quirk seen on crashed
-- runs: summaryMetrics holds a JSON string of a JSON object) reads as the inner object, as the
-- Python API's users see it; a summary or config that really is malformed raises a CommError
-- naming the actual reason (never "nil") when it is read, and the rest of the run (and of the
-- listing, and of an export) stays usable.
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"
local errors = require "runwatch.errors"

local inner = '{"loss": 0.25, "_step": 7, "_runtime": 12.5, "nested": {"a": 1}, "big": 9007199254740993}'
local base = {state = "crashed", createdAt = "2024-03-01T00:00:00", heartbeatAt = "2024-03-01T00:10:00",
  user = {name = "t", username = "t"}, tags = json.array({"x"})}
local function run(name, fields)
  local r = {name = name, displayName = name .. "-display", config = '{"lr": {"value": 0.1, "desc": null}}',
    summaryMetrics = '{"loss": 1}'}
  for k, v in pairs(base) do r[k] = v end
  for k, v in pairs(fields) do r[k] = v end
  return r
end
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "quirks", runs = json.array({
  run("twice000", {summaryMetrics = json.encode(inner)}),              -- "{\"loss\": 0.25, ...}"
  run("trunc000", {summaryMetrics = '{"loss": 0.5,'}),                  -- cut short
  run("number00", {summaryMetrics = "42"}),                             -- not an object
  run("strnobj0", {summaryMetrics = json.encode("not json at all")}),   -- a string, not an object
  run("badconf0", {config = '{"lr": {"value": 0.1'}),                   -- config cut short
  run("cfgtwice", {config = json.encode('{"lr": {"value": 0.3, "desc": null}}')}),
})}}})

local function raised(f)
  local ok, err = pcall(f)
  if ok then return nil end
  return err
end

-- the double-encoded summary is the inner object, exact
local r = api.run("rw-team/quirks/twice000")
t.eq(r.summary.loss, 0.25, "summary.loss from the inner object")
t.eq(r.summary.nested, {a = 1}, "nested values")
t.eq(r.summary.big, 9007199254740993, "an integer beyond 2^53 stays exact")
t.eq(r.runtime, 12.5, "runtime from the inner summary")
t.eq(r.config.lr, 0.1, "config unaffected")
local rc = api.run("rw-team/quirks/cfgtwice")
t.eq(rc.config.lr, 0.3, "a double-encoded config reads the same way")

-- really malformed: a CommError naming the reason; the rest of the run still reads
for _, case in ipairs({
  {id = "trunc000", field = "summary", why = "unexpected end of input"},
  {id = "number00", field = "summary", why = "a JSON number, not an object"},
  {id = "strnobj0", field = "summary", why = "a JSON string that holds no JSON object"},
  {id = "badconf0", field = "config", why = "unexpected end of input"},
}) do
  local bad = api.run("rw-team/quirks/" .. case.id)
  local err = raised(function() return bad[case.field] end)
  t.ok(errors.is(err), case.id .. ": reading " .. case.field .. " raises a CommError (" .. tostring(err) .. ")")
  local msg = tostring(err)
  t.ok(msg:find(case.why, 1, true), case.id .. ": the error names the reason: " .. msg)
  t.ok(msg:find("rw-team/quirks/" .. case.id, 1, true), case.id .. ": the error names the run: " .. msg)
  t.ok(not msg:find("nil", 1, true), case.id .. ": not 'nil': " .. msg)
  t.eq(bad.name, case.id .. "-display", case.id .. ": the name still reads")
  t.eq(bad.state, "crashed", case.id .. ": the state still reads")
  t.eq(bad.tags[1], "x", case.id .. ": the tags still read")
  if case.field == "summary" then t.eq(bad.config.lr, 0.1, case.id .. ": the config still reads")
  else t.eq(bad.summary.loss, 1, case.id .. ": the summary still reads") end
end

-- a listing with such runs: every run listed, each readable but for its malformed part
local names, loss = {}, {}
for _, x in ipairs(api.runs("rw-team/quirks", nil, {order = "+name"})) do
  names[#names + 1] = x.id
  local ok, sm = pcall(function() return x.summary end)
  if ok then loss[x.id] = sm.loss end
end
t.eq(#names, 6, "the listing has every run")
t.eq(loss.twice000, 0.25, "a listed run's double-encoded summary")
t.eq(loss.cfgtwice, 1, "a listed run's plain summary")

-- an export of the project writes every run; the malformed parts are left empty (and logged)
local out = os.tmpname()
local n, err = export.project("rw-team/quirks", {output = out, format = "jsonl", order = "+name"})
t.eq(n, 6, "export writes every run: " .. tostring(err))
local rows = {}
for line in io.lines(out) do local o = json.decode(line); rows[o.id] = o end
t.eq(rows.twice000 and rows.twice000["summary.loss"], 0.25, "exported: the inner summary")
t.eq(rows.trunc000 and rows.trunc000.name, "trunc000-display", "exported: the run with a malformed summary")
t.eq(rows.trunc000 and rows.trunc000["config.lr"], 0.1, "exported: its config")
t.eq(rows.badconf0 and rows.badconf0["summary.loss"], 1, "exported: the summary of a run whose config is malformed")
os.remove(out)

t.done()
