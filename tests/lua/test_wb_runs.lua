-- api.runs against the test server: each filter operator agrees with an independent evaluation
-- of the same runs in Lua, summary.X shorthand, order by config and summary keys, lazy paging
-- across many pages with nothing missing or repeated, #runs in one request, bad filters
-- rejected before any request.
local t = require "testlib"
local wb = require "wbtest"

local all = api.runs("rw-team/vision", nil, {per_page = 100})
local everything = {}
for i, r in ipairs(all) do everything[i] = r end
t.eq(#everything, #all, "ipairs saw every run")
t.ok(#everything >= 20, "fixture has runs: " .. #everything)

local function ids(list)
  local out = {}
  for _, r in ipairs(list) do out[#out + 1] = r.id end
  table.sort(out)
  return out
end

local function expect(filters, pred, label)
  local want = {}
  for _, r in ipairs(everything) do if pred(r) then want[#want + 1] = r end end
  local got = {}
  for _, r in ipairs(api.runs("rw-team/vision", filters, {per_page = 7})) do got[#got + 1] = r end
  t.eq(ids(got), ids(want), label)
  t.ok(#want > 0 or label:find("none", 1, true), label .. " selects something")
end

local function has_tag(r, tag) for _, x in ipairs(r.tags) do if x == tag then return true end end return false end
local loss = function(r) return r.summary.loss end
local num = function(v) return type(v) == "number" and v == v end

expect({state = "finished"}, function(r) return r.state == "finished" end, "plain equality")
expect({state = {["$eq"] = "running"}}, function(r) return r.state == "running" end, "$eq")
expect({state = {["$ne"] = "finished"}}, function(r) return r.state ~= "finished" end, "$ne")
expect({state = {["$in"] = {"crashed", "failed"}}}, function(r) return r.state == "crashed" or r.state == "failed" end, "$in")
expect({state = {["$nin"] = {"finished", "running"}}}, function(r) return r.state ~= "finished" and r.state ~= "running" end, "$nin")
expect({["summary.loss"] = {["$lt"] = 0.5}}, function(r) return num(loss(r)) and loss(r) < 0.5 end, "$lt on summary.X shorthand")
expect({["summary_metrics.loss"] = {["$gte"] = 0.5}}, function(r) return num(loss(r)) and loss(r) >= 0.5 end, "$gte")
expect({["summary.loss"] = {["$gt"] = 0.3, ["$lte"] = 1.0}}, function(r) return num(loss(r)) and loss(r) > 0.3 and loss(r) <= 1.0 end, "$gt and $lte")
expect({["config.lr"] = 0.01}, function(r) return r.config.lr == 0.01 end, "config.K equality")
expect({["config.optimizer.name"] = "adamw"}, function(r) return type(r.config.optimizer) == "table" and r.config.optimizer.name == "adamw" end, "nested config key")
expect({["config.experiment_name"] = {["$exists"] = true}}, function(r) return r.config.experiment_name ~= nil end, "$exists")
expect({["$or"] = {{["config.experiment_name"] = "foo"}, {["config.experiment_name"] = "bar"}}},
  function(r) return r.config.experiment_name == "foo" or r.config.experiment_name == "bar" end, "$or (the README example)")
expect({["$and"] = {{state = "finished"}, {tags = "baseline"}}}, function(r) return r.state == "finished" and has_tag(r, "baseline") end, "$and with tag membership")
expect({["$nor"] = {{state = "finished"}, {state = "running"}}}, function(r) return r.state ~= "finished" and r.state ~= "running" end, "$nor")
expect({display_name = {["$regex"] = "^frog"}}, function(r) return (r.name or ""):match("^frog") ~= nil end, "$regex")
expect({state = {["$not"] = {["$in"] = {"finished"}}}}, function(r) return r.state ~= "finished" end, "$not")
expect({group = "no-such-group"}, function() return false end, "no match (none)")

-- order by summary and config keys: finite values monotonic, runs without the key last
-- (NaN sorts below every number, as in MongoDB)
local function check_order(order, key, desc)
  local list = api.runs("rw-team/vision", nil, {order = order, per_page = 9})
  local prev, okk, seen_missing = nil, true, false
  for _, r in ipairs(list) do
    local v = key(r)
    if v == nil then seen_missing = true
    elseif not num(v) then -- NaN: no position asserted
    else
      if seen_missing then okk = false end
      if prev and ((desc and v > prev) or (not desc and v < prev)) then okk = false end
      prev = v
    end
  end
  t.ok(okk, "order " .. order)
end
check_order("-summary.loss", loss, true)
check_order("+summary_metrics.loss", loss, false)
check_order("config.lr", function(r) return r.config.lr end, false)
check_order("-config.batch_size", function(r) return r.config.batch_size end, true)

-- the filters are sent as the SDK sends them: a JSON string, Python separators
wb.clear_requests()
local fr = api.runs("rw-team/vision", {state = "finished"}, {per_page = 3})
local _ = fr[1]
local reqs = wb.requests("Runs")
t.eq(reqs[1].variables.filters, '{"state": "finished"}', "filters as a JSON string")
t.eq(reqs[1].variables.order, "-created_at", "default order")
t.eq(reqs[1].variables.perPage, 3)

-- bad filters: an error naming the field, before any request
wb.clear_requests()
t.checkerr('bad filter at summary.loss.$gtx: unknown operator "$gtx"', api.runs, "rw-team/vision", {["summary.loss"] = {["$gtx"] = 1}})
t.checkerr("bad filter at state.$in: $in needs a list", api.runs, "rw-team/vision", {state = {["$in"] = "finished"}})
t.checkerr("bad filter at $or: $or needs a non-empty list", api.runs, "rw-team/vision", {["$or"] = {}})
t.checkerr('unknown field "colour"', api.runs, "rw-team/vision", {colour = "red"})
t.checkerr("$exists needs true or false", api.runs, "rw-team/vision", {["config.x"] = {["$exists"] = 1}})
t.checkerr("per_page", api.runs, "rw-team/vision", nil, {per_page = 0})
t.eq(#wb.requests(), 0, "no request was sent for bad input")

-- 10,000 runs: #runs is one request; paging sees each run exactly once, in order
wb.admin("POST", "generate", {entity = "rw-team", project = "big", runs = 10000, running = 10, steps = 3, seed = 7})
wb.clear_requests()
local big = api.runs("rw-team/big", nil, {per_page = 1000, order = "+created_at"})
t.eq(#big, 10000, "#runs is runCount")
t.eq(#wb.requests("Runs"), 1, "#runs took one request")
local seen, count, sorted, prev = {}, 0, true, nil
for _, r in ipairs(big) do
  count = count + 1
  if seen[r.id] then t.ok(false, "run repeated: " .. r.id) end
  seen[r.id] = true
  if prev and r.created_at < prev then sorted = false end
  prev = r.created_at
end
t.eq(count, 10000, "every run once")
t.ok(sorted, "in created_at order")
t.eq(#wb.requests("Runs"), 10, "10 pages of 1000")
local cursors = {}
for _, q in ipairs(wb.requests("Runs")) do cursors[#cursors + 1] = q.variables.cursor end
t.eq(cursors[1], json.null, "first page has a null cursor")
t.ok(cursors[2] ~= nil, "later pages send the last edge's cursor")

-- keep = false streams: the same runs in one pass, earlier ones released
local stream = api.runs("rw-team/big", nil, {per_page = 1000, order = "+created_at", keep = false})
local sc, sseen = 0, {}
for _, r in ipairs(stream) do sc = sc + 1; sseen[r.id] = true end
t.eq(sc, 10000, "streamed every run")
local same = true
for id in pairs(seen) do if not sseen[id] then same = false end end
t.ok(same, "the same runs as the kept list")
t.checkerr("was released", function() return stream[1] end)

-- a missing project raises a CommError naming it (issue 13 item 1; test_wb_missing_project.lua)
t.checkerr("Could not find project rw-team/no-such-project", function() return #api.runs("rw-team/no-such-project") end)

t.done()
