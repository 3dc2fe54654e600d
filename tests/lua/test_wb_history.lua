-- history and scan_history against the test server: sampled history, full rows, scan across
-- page boundaries (no step repeated or skipped) with and without keys, min/max step.
local t = require "testlib"
local wb = require "wbtest"

local run = api.run("rw-team/vision/abc123xy")
local stored = wb.stored("rw-team/vision/abc123xy", true)
local want = {}
for _, row in ipairs(stored.history) do
  local r = type(row) == "string" and json.decode(row) or row
  want[#want + 1] = r
end
t.ok(#want > 5, "the fixture run has history rows: " .. #want)

-- full history rows (strings decoded), all keys
local rows = run:history()
t.eq(#rows, #want, "history(): every row (fewer than samples)")
for i = 1, #want do t.eq(rows[i], want[i], "row " .. i) end

-- keys: sampled rows hold _step plus the keys
rows = run:history{keys = {"loss"}, samples = 1000}
t.eq(#rows, #want, "sampled history: every row has loss")
t.eq(rows[1]._step, want[1]._step)
t.eq(rows[1].loss, want[1].loss)
t.eq(rows[1].acc, nil, "only the requested keys")

-- samples caps the number of rows
rows = run:history{samples = 5}
t.ok(#rows <= 5 and #rows >= 2, "history{samples=5} -> " .. #rows .. " rows")

-- scan_history over many pages: 2,503 steps, pages of 1,000 and of 7
wb.admin("POST", "generate", {entity = "rw-team", project = "hist", runs = 1, running = 0, steps = 2503, keys = {"loss", "acc"}, seed = 3})
local h = api.runs("rw-team/hist")[1]
for _, ps in ipairs({1000, 7}) do
  local steps, okseq = 0, true
  for row in h:scan_history{page_size = ps} do
    if row._step ~= steps then okseq = false end
    steps = steps + 1
  end
  t.ok(okseq, "page_size " .. ps .. ": steps in order, none repeated or skipped")
  t.eq(steps, 2503, "page_size " .. ps .. ": every step")
end
local n, okk = 0, true
for row in h:scan_history{keys = {"loss"}, page_size = 500} do
  if row._step ~= n or row.loss == nil or row.acc ~= nil then okk = false end
  n = n + 1
end
t.eq(n, 2503, "scan with keys: every step (the inclusive server bound does not duplicate)")
t.ok(okk, "scan with keys: _step and loss only")
n = 0
local first, last
for row in h:scan_history{min_step = 100, max_step = 1100, page_size = 300} do
  first = first or row._step
  last = row._step
  n = n + 1
end
t.eq(n, 1000, "min_step/max_step: [100, 1100)")
t.eq(first, 100)
t.eq(last, 1099)

-- the scan pages by step: ceil(2503/1000) HistoryPage requests
wb.clear_requests()
for _ in h:scan_history{page_size = 1000} do end
t.eq(#wb.requests("HistoryPage"), 3, "3 pages")

-- system metrics stream
local ev = run:history{stream = "system"}
t.ok(#ev >= 1, "system events: " .. #ev)
t.checkerr("keys can only be given for the default stream", run.history, run, {keys = {"x"}, stream = "system"})

t.done()
