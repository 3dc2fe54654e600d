-- Issue 13 item 5, order by keys with '/': real projects name metrics "valid/r2", "train/loss";
-- api.runs, export (and so `runwatch export --order`) and the local backend order by them, as
-- filters and columns already accept them; keys with other punctuation and spaces too.
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"

local runs = {}
local r2 = {0.3, 0.9, json.null, 0.1, 0.7}
for i, v in ipairs(r2) do
  local summary = v == json.null and '{"train/loss": 1}' or
    string.format('{"valid/r2": %s, "train/loss": %d, "acc (top-1)": %s, "val loss": %s}', v, i, v, v)
  runs[i] = {name = string.format("slash%03d", i), state = "finished", createdAt = string.format("2024-03-0%dT00:00:00", i),
    heartbeatAt = "2024-03-09T00:00:00", config = string.format('{"opt/lr": {"value": %d, "desc": null}}', 10 - i),
    summaryMetrics = summary, user = {name = "t", username = "t"}}
end
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "slashes", runs = json.array(runs)}}})

local function ids(list)
  local out = {}
  for _, r in ipairs(list) do out[#out + 1] = r.id end
  return out
end

-- missing keys sort last in both directions
t.eq(ids(api.runs("rw-team/slashes", nil, {order = "-summary.valid/r2"})),
  {"slash002", "slash005", "slash001", "slash004", "slash003"}, "-summary.valid/r2")
t.eq(ids(api.runs("rw-team/slashes", nil, {order = "+summary.valid/r2", per_page = 2})),
  {"slash004", "slash001", "slash005", "slash002", "slash003"}, "+summary.valid/r2 over pages")
t.eq(ids(api.runs("rw-team/slashes", nil, {order = "+config.opt/lr"})),
  {"slash005", "slash004", "slash003", "slash002", "slash001"}, "+config.opt/lr")
t.eq(ids(api.runs("rw-team/slashes", nil, {order = "summary.train/loss"})),
  {"slash001", "slash003", "slash002", "slash004", "slash005"}, "no sign: ascending (ties by creation)")
t.eq(ids(api.runs("rw-team/slashes", nil, {order = "-summary.acc (top-1)"})),
  {"slash002", "slash005", "slash001", "slash004", "slash003"}, "a key with spaces and parentheses")
t.eq(ids(api.runs("rw-team/slashes", {["summary.valid/r2"] = {["$gt"] = 0.2}}, {order = "-summary.val loss"})),
  {"slash002", "slash005", "slash001"}, "a filter and an order on such keys")

-- what the server was sent
wb.clear_requests()
local _ = api.runs("rw-team/slashes", nil, {order = "-summary.valid/r2", per_page = 7})[1]
local sent = wb.requests("Runs")
t.eq(sent[#sent] and sent[#sent].variables.order, "-summary_metrics.valid/r2", "the order sent")

-- still refused: empty, an empty segment, a bare section, control characters
t.checkerr("bad order", api.runs, "rw-team/slashes", nil, {order = "-summary..x"})
t.checkerr("bad order", api.runs, "rw-team/slashes", nil, {order = "-"})
t.checkerr("needs a key after it", api.runs, "rw-team/slashes", nil, {order = "-summary"})
t.checkerr("bad order", api.runs, "rw-team/slashes", nil, {order = "-summary.a\nb"})

-- export --order
local out = os.tmpname()
local n, err = export.project("rw-team/slashes", {output = out, order = "-summary.valid/r2",
  columns = "id,summary.valid/r2"})
t.eq(n, 5, "export --order -summary.valid/r2: " .. tostring(err))
local got = {}
for line in io.lines(out) do got[#got + 1] = (line:gsub("\r$", "")) end
t.eq(got, {"id,summary.valid/r2", "slash002,0.9", "slash005,0.7", "slash001,0.3", "slash004,0.1", "slash003,"},
  "the exported order")
os.remove(out)

-- the local backend orders by such keys too (its own evaluation)
local match = require "runwatch.local.match"
local ord = match.order(require("runwatch.filters").order("-summary.valid/r2"))
local entries = {}
for i, v in ipairs(r2) do
  local a = {id = "l" .. i, summary = v == json.null and "{}" or string.format('{"valid/r2": %s}', v)}
  entries[i] = {k = ord.sort_key(a), seq = i, name = a.id}
end
match.sort(entries, ord)
local lnames = {}
for i, e in ipairs(entries) do lnames[i] = e.name end
t.eq(lnames, {"l2", "l5", "l1", "l4", "l3"}, "local evaluation of -summary.valid/r2")

t.done()
