-- Issue 13 item 2, paging can repeat a run: with the test server paging by position, as W&B's
-- own cursors do (the duplicate-runs reports against wandb.Api), a run created between two
-- pages of a `-created_at` listing shifts the next page by one. A listing never yields the same
-- run id twice: api.runs kept and streamed (keep = false), lazy lists, exports of a project and
-- of a list; every run that existed when the listing began is still listed once. With
-- `+created_at` the new run is listed too (at the end).
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"
local Q = require "runwatch.wb.queries"

local P = "rw-team/paging"
local created = 0

-- a fresh project of 10 runs, and positional cursors
local function setup()
  wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "paging", runs = json.array({})}}})
  wb.admin("POST", "generate", {entity = "rw-team", project = "paging", runs = 10, steps = 2, seed = 5})
  wb.admin("POST", "cursors", {mode = "offset"})
end

-- creates a run now (the newest: first in -created_at order), through the API as wandb.init does
local function create_run()
  created = created + 1
  local id = string.format("new%05d", created)
  api.default().backend:gql(Q.CREATE_RUN, {project = "paging", entity = "rw-team", name = id, state = "running"},
    {op = "UpsertBucket"})
  return id
end

local function ids_of(runs_list)
  local out = {}
  for _, r in ipairs(runs_list) do out[#out + 1] = r.id end
  return out
end

local function check(label, got, before, new_id, expect_new)
  local seen, dup = {}, nil
  for _, id in ipairs(got) do
    if seen[id] then dup = dup or id end
    seen[id] = true
  end
  t.eq(dup, nil, label .. ": no run listed twice")
  local missing = {}
  for _, id in ipairs(before) do if not seen[id] then missing[#missing + 1] = id end end
  t.eq(missing, {}, label .. ": every run that existed before is listed")
  if expect_new then t.ok(seen[new_id], label .. ": the run created meanwhile is listed") end
end

-- iterate(list, hook): ids in order; hook(i) runs before element i is read
local function iterate(list, hook)
  local out, i = {}, 0
  while true do
    i = i + 1
    if hook then hook(i) end
    local r = list[i]
    if not r then break end
    out[#out + 1] = r.id
  end
  return out
end

setup()
local before = ids_of(api.runs(P, nil, {per_page = 100}))
t.eq(#before, 10, "the project's runs")

-- the server really shifts: two raw pages around a new run repeat the boundary run
local be = api.default().backend
local p1 = be:runs_page("rw-team", "paging", {filters = "{}", order = "-created_at", per_page = 3})
create_run()
local p2 = be:runs_page("rw-team", "paging", {filters = "{}", order = "-created_at", per_page = 3, cursor = p1.cursor})
t.eq(p2.nodes[1].id, p1.nodes[3].id, "positional cursors: the raw next page starts with the previous page's last run")

for _, case in ipairs({
  {label = "api.runs -created_at", opts = {per_page = 3}},
  {label = "api.runs streamed", opts = {per_page = 3, keep = false}},
  {label = "api.runs lazy", opts = {per_page = 3, lazy = true}},
  {label = "api.runs +created_at", opts = {per_page = 3, order = "+created_at"}, new = true},
  {label = "api.runs by summary", opts = {per_page = 2, order = "-summary.loss"}},
}) do
  setup()
  before = ids_of(api.runs(P, nil, {per_page = 100, order = case.opts.order}))
  api.flush()
  local new_id
  local got = iterate(api.runs(P, nil, case.opts), function(i)
    if i == 2 then new_id = create_run() end       -- after the first page, before the second
  end)
  check(case.label, got, before, new_id, case.new)
  api.flush()
end

-- exports stream their own pages: the same guarantee
setup()
before = ids_of(api.runs(P, nil, {per_page = 100}))
local out = os.tmpname()
local n = 0
local created_id
local it, info = export.each_run(P, nil, {per_page = 3})
local got = {}
for r in it do
  n = n + 1
  got[#got + 1] = r.id
  if n == 1 then created_id = create_run() end
end
check("export.each_run", got, before, created_id)

setup()
before = ids_of(api.runs(P, nil, {per_page = 100}))
api.flush()
local list = api.runs(P, nil, {per_page = 3})
local _ = list[1]                                       -- page 1 loaded
create_run()
local rows, err = export.jsonl(list, out, {"id"})
t.ok(rows, "export of a list: " .. tostring(err))
local f = assert(io.open(out))
got = {}
for line in f:lines() do got[#got + 1] = json.decode(line).id end
f:close()
check("export.jsonl of a list", got, before)
os.remove(out)

-- the identity a listing remembers: distinct for distinct ids (leading zeros, lengths, others)
local key = require("runwatch.runs").key
local keys, ok_keys = {}, true
for _, id in ipairs({"abc", "0abc", "00abc", "a", "0", "zzzzzzzzzzz", "zzzzzzzzzz", "ABC", "a-b", "abcdefghijkl", ""}) do
  local k = key({id = id})
  if keys[k] ~= nil then ok_keys = false end
  keys[k] = id
end
t.ok(ok_keys, "run keys are distinct for distinct ids")

wb.admin("POST", "cursors", {mode = "keyset"})
t.done()
