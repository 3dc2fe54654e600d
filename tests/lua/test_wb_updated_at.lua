-- Issue 13 item 7, run.updated_at: Run.updatedAt is not in the reference schema, so a W&B
-- server may not have it. runwatch asks for it only where the server's schema has it (one
-- introspection per api), and otherwise derives it (the heartbeat, else the creation time);
-- an optional field never breaks a call: no failing request, listings and exports go on.
local t = require "testlib"
local wb = require "wbtest"

local function fresh() return api.Api{} end
local function count(op)
  local n = 0
  for _, r in ipairs(wb.requests()) do if r.operationName == op then n = n + 1 end end
  return n
end
local function failed()
  local n = 0
  for _, r in ipairs(wb.requests()) do if r.status ~= 200 then n = n + 1 end end
  return n
end

local any = api.runs("rw-team/vision", {state = "finished"}, {per_page = 1})[1]
local path = any.path
local stored = wb.stored(path)
-- make the three times differ, so each assertion tells which one was used
wb.admin("POST", "runs/" .. path, {updatedAt = "2024-03-20T10:00:00Z"})
stored = wb.stored(path)
t.ok(stored.updatedAt ~= stored.heartbeatAt and stored.heartbeatAt ~= stored.createdAt, "three different times")

-- a server whose schema has Run.updatedAt: asked for, the stored value
wb.clear_requests()
local a = fresh()
local r = a.run(path)
t.eq(r.updated_at, stored.updatedAt, "updated_at: the server's value")
t.eq(count("RunUpdatedAt"), 1, "asked once")
local r2 = a.run(api.runs("rw-team/vision", {state = "running"}, {per_page = 1})[1].path)
local _ = r2.updated_at
t.eq(count("RunFields"), 1, "the schema is looked at once per api")

-- a server without it: derived, no failing request
wb.admin("POST", "schema", {without = {"Run.updatedAt"}})
wb.clear_requests()
local b = fresh()
local rb = b.run(path)
local okk, v = pcall(function() return rb.updated_at end)
t.ok(okk, "updated_at does not raise on a server without Run.updatedAt: " .. tostring(v))
t.eq(v, stored.heartbeatAt, "derived from the heartbeat")
t.eq(count("RunUpdatedAt"), 0, "not asked where the schema lacks it")
t.eq(failed(), 0, "no failing request")
-- a run without a heartbeat: the creation time
local json = require "runwatch.json"
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "noheart", runs = json.array({
  {name = "nohb0001", state = "pending", createdAt = "2024-03-02T00:00:00", config = "{}", summaryMetrics = "{}",
   user = {name = "t", username = "t"}}})}}})
t.eq(fresh().run("rw-team/noheart/nohb0001").updated_at, "2024-03-02T00:00:00", "no heartbeat: the creation time")

-- listings, exports and filters on other fields go on
local n = 0
for _, x in ipairs(b.runs("rw-team/vision", nil, {per_page = 10})) do
  n = n + 1
  if n <= 3 then t.ok(type(x.updated_at) == "string", "a listed run's updated_at: " .. tostring(x.updated_at)) end
end
t.ok(n > 10, "the listing is complete: " .. n)
local out = os.tmpname()
local rows, err = export.project("rw-team/vision", {api = b, output = out, columns = "id,updated_at", format = "jsonl"})
t.ok(rows and rows > 10, "export with an updated_at column: " .. tostring(err))
t.eq(failed(), 0, "still no failing request")
os.remove(out)

-- a server without introspection (a GraphQL error for __type): derived too
wb.admin("POST", "schema", {without = json.array({})})
wb.admin("POST", "faults", {rules = {{match = {op = "RunFields"}, times = -1, action = {graphql_error = "introspection is disabled"}}}})
local c = fresh()
local rcc = c.run(path)
local ok2, v2 = pcall(function() return rcc.updated_at end)
t.ok(ok2, "no introspection: no error: " .. tostring(v2))
t.eq(v2, stored.heartbeatAt, "no introspection: derived")
wb.admin("DELETE", "faults")

t.done()
