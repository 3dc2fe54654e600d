-- Issue 13 item 4, NaN and ±Infinity in keyed history: W&B's sampledHistory answer is inline
-- JSON and writes them as null (the test server does the same); history{keys}, scan_history{keys}
-- and export --history give the exact values (NaN, inf, -inf, a real null stays null), the same as
-- the full rows hold, with the rows and steps keyed history selects; docs/export.md's spellings.
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"

-- 40 steps: loss everywhere (with NaN, Infinity, -Infinity, null and a nested NaN), acc on even
-- steps, a key with '/' in its name
local rows = {}
local special = {[3] = "NaN", [4] = "Infinity", [5] = "-Infinity", [6] = "null", [17] = "NaN", [18] = "NaN",
  [19] = "NaN", [20] = "NaN", [33] = "Infinity"}
for s = 0, 39 do
  local loss = special[s] or string.format("%.17g", 1 / (s + 1))
  local parts = {'"_step": ' .. s, '"loss": ' .. loss, '"_timestamp": ' .. (1700000000 + s)}
  if s % 2 == 0 then parts[#parts + 1] = '"acc": ' .. (s == 10 and "NaN" or string.format("%.17g", s / 40)) end
  parts[#parts + 1] = '"val/r2": ' .. (s == 12 and "-Infinity" or "0.5")
  parts[#parts + 1] = '"m": {"a": ' .. (s == 7 and "NaN" or "1") .. "}"
  rows[#rows + 1] = "{" .. table.concat(parts, ", ") .. "}"
end
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "nanhist", runs = json.array({
  {name = "nanrun01", displayName = "nan-run", state = "finished", createdAt = "2024-03-01T00:00:00",
   heartbeatAt = "2024-03-01T01:00:00", config = "{}", summaryMetrics = '{"loss": NaN, "_step": 39}',
   history = json.array(rows), user = {name = "t", username = "t"}},
})}}})

local run = api.run("rw-team/nanhist/nanrun01")
local full = run:history{samples = 1000}          -- full rows: JSON strings, exact
t.eq(#full, 40, "the full rows")

-- the server really writes null for NaN in the keyed answer (this is what runwatch must undo)
local raw = api.default().backend:gql(require("runwatch.wb.queries").SAMPLED_HISTORY,
  {project = "nanhist", entity = "rw-team", name = "nanrun01",
   specs = json.array({json.encode({keys = json.array({"_step", "loss"}), samples = 1000}, {python = true})})},
  {op = "RunSampledHistory"})
t.eq(raw.project.run.sampledHistory[1][4].loss, json.null, "the keyed answer has null for NaN")

local function same(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b or (a ~= a and b ~= b) end
  if type(a) == "table" and type(b) == "table" then
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
  end
  return a == b
end

-- expected keyed rows from the full rows: rows with every key, only those keys (and _step)
local function expected(keys)
  local out = {}
  for _, r in ipairs(full) do
    local ok = true
    for _, k in ipairs(keys) do if r[k] == nil then ok = false end end
    if ok then
      local e = {_step = r._step}
      for _, k in ipairs(keys) do e[k] = r[k] end
      out[#out + 1] = e
    end
  end
  return out
end

local function check_rows(label, got, keys)
  local want = expected(keys)
  t.eq(#got, #want, label .. ": row count")
  local bad = nil
  for i, w in ipairs(want) do
    if not same(got[i], w) then bad = bad or (i - 1) end
  end
  t.eq(bad, nil, label .. ": every value exact (first differing row)")
end

local nan = function(v) return v ~= v end
local h = run:history{keys = {"loss"}, samples = 1000}
check_rows("history{keys = loss}", h, {"loss"})
t.ok(nan(h[4].loss), "history: NaN at step 3")
t.eq(h[5].loss, math.huge, "history: Infinity at step 4")
t.eq(h[6].loss, -math.huge, "history: -Infinity at step 5")
t.eq(h[7].loss, json.null, "history: a real null stays null")
check_rows("history{keys = loss, acc}", run:history{keys = {"loss", "acc"}, samples = 1000}, {"loss", "acc"})
check_rows("history{keys = m}", run:history{keys = {"m"}, samples = 1000}, {"m"})
check_rows("history{keys = val/r2}", run:history{keys = {"val/r2"}, samples = 1000}, {"val/r2"})

-- another x axis: its rows carry that key and the metric, not _step, and still exact values
local hx = run:history{keys = {"loss"}, x_axis = "_timestamp", samples = 1000}
t.eq(#hx, 40, "x_axis rows")
t.ok(hx[4] and nan(hx[4].loss) and hx[4]._timestamp == 1700000003, "x_axis: NaN at the 4th row")
t.eq(hx[4] and hx[4]._step, nil, "x_axis: no _step in the rows")

-- samples: still at most that many rows, each exact
local few = run:history{keys = {"loss"}, samples = 10}
t.ok(#few <= 10 and #few >= 2, "sampled: at most 10 rows (" .. #few .. ")")
local exact = true
for _, r in ipairs(few) do if not same(r.loss, full[r._step + 1].loss) then exact = false end end
t.ok(exact, "sampled rows hold the exact values of their steps")

local function scan(o)
  local out = {}
  for r in run:scan_history(o) do out[#out + 1] = r end
  return out
end
check_rows("scan_history{keys = loss}", scan{keys = {"loss"}}, {"loss"})
check_rows("scan_history{keys = loss, page_size = 4}", scan{keys = {"loss"}, page_size = 4}, {"loss"})
check_rows("scan_history{keys = loss, acc, page_size = 3}", scan{keys = {"loss", "acc"}, page_size = 3}, {"loss", "acc"})
check_rows("scan_history{keys = m, page_size = 5}", scan{keys = {"m"}, page_size = 5}, {"m"})
local window = scan{keys = {"loss"}, page_size = 4, min_step = 15, max_step = 22}
t.eq(#window, 7, "a step window: steps 15..21")
t.ok(nan(window[3].loss) and nan(window[6].loss), "NaN inside a step window")

-- export --history: the spellings of docs/export.md
local out = os.tmpname()
local function lines_of(path)
  local l = {}
  for line in io.lines(path) do l[#l + 1] = line:gsub("\r$", "") end
  return l
end
local n, err = export.project("rw-team/nanhist", {output = out, format = "csv", history = "loss", columns = "id"})
t.eq(n, 40, "export --history rows: " .. tostring(err))
local lines = lines_of(out)
t.eq(lines[1], "id,_step,loss", "the header")
t.eq(lines[5], "nanrun01,3,NaN", "CSV: NaN")
t.eq(lines[6], "nanrun01,4,inf", "CSV: inf")
t.eq(lines[7], "nanrun01,5,-inf", "CSV: -inf")
t.eq(lines[8], "nanrun01,6,", "CSV: null is empty")
n, err = export.project("rw-team/nanhist", {output = out, format = "csv", history = "loss,acc", columns = "id"})
t.eq(n, 20, "export --history with two keys: the rows that have both: " .. tostring(err))
lines = lines_of(out)
t.eq(lines[4], "nanrun01,4,inf,0.1", "CSV: inf beside a value")
t.eq(lines[7], "nanrun01,10,0.09090909090909091,NaN", "CSV: NaN in the second key")
n, err = export.project("rw-team/nanhist", {output = out, format = "jsonl", history = "loss"})
t.eq(n, 40, "export --history jsonl rows: " .. tostring(err))
lines = lines_of(out)
t.ok(lines[4]:find('"loss":NaN', 1, true), "JSON Lines: NaN: " .. lines[4])
t.ok(lines[5]:find('"loss":Infinity', 1, true), "JSON Lines: Infinity: " .. lines[5])
t.ok(lines[6]:find('"loss":-Infinity', 1, true), "JSON Lines: -Infinity: " .. lines[6])
t.ok(lines[7]:find('"loss":null', 1, true), "JSON Lines: null: " .. lines[7])
os.remove(out)

-- the README's example fires against W&B
local found
for row in run:scan_history{keys = {"loss"}, page_size = 1000} do
  if row.loss ~= row.loss then found = row._step break end
end
t.eq(found, 3, "the README's NaN example finds step 3")

t.done()
