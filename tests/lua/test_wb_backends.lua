-- Issue 14 item 3, one conformance suite for every backend (docs/backends.md): the demo runs are
-- written to disk and the same runs (records, history rows, system rows, files, the sweep) are
-- loaded into the W&B test server; then every method of the contract is asked the same questions
-- of the W&B backend and of the local backend, each answer is checked against the contract, and
-- the two backends' answers are compared.
local t = require "testlib"
local json = require "runwatch.json"
local fswatch = require "runwatch.fswatch"
local errors = require "runwatch.errors"
local filters = require "runwatch.filters"
local wb = require "wbtest"

local NULL = json.null
local function null(v) if v == NULL then return nil end return v end
local SRC = (os.getenv("RW_TESTS") or "tests") .. "/.."
local demo = dofile(SRC .. "/scripts/demo/demo_runs.lua")

-- {====== the same runs in both places

local tmp = os.tmpname()
os.remove(tmp)
assert(fswatch.mkdir(tmp))
local specs = demo.write(tmp)
local lb = require("runwatch.local.backend").new(tmp)
-- the project the demo's run records name (W&B would list the synced runs under it)
local LE, LP = lb.settings.entity, "demo"
local page = lb:runs_page(LE, LP, {filters = "{}", order = "+created_at", per_page = 100, full = true})
local fx_runs = {}
for _, r in ipairs(page.nodes) do
  local rows = {}
  for i, row in ipairs(lb:history(LE, LP, r.id, {samples = 100000})) do rows[i] = json.encode(row) end
  local events = {}
  for i, row in ipairs(lb:history(LE, LP, r.id, {stream = "system", samples = 100000})) do events[i] = json.encode(row) end
  local files = {}
  for _, f in ipairs(lb:files(LE, LP, r.id, {per_page = 100}).nodes) do
    files[#files + 1] = {name = f.name, content = lb:download(f.url).body, mimetype = f.mimetype}
  end
  fx_runs[#fx_runs + 1] = {name = r.id, displayName = r.name, state = r.state, config = r.config,
    summaryMetrics = r.summary, systemMetrics = r.system_metrics, tags = r.tags, notes = r.notes,
    description = r.description, group = r.group, jobType = r.job_type, sweepName = r.sweep_name,
    commit = r.commit, host = r.host, createdAt = r.created_at, heartbeatAt = r.heartbeat_at, user = r.user,
    history = json.array(rows), events = json.array(events), files = json.array(files)}
end
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "conform", runs = json.array(fx_runs),
  sweeps = json.array({{name = "demosw01", displayName = "demosw01", method = "grid", state = "FINISHED", config = "{}"}})}}})

local BACKENDS = {
  {name = "wandb", b = api.default().backend, e = "rw-team", p = "conform"},
  {name = "local", b = lb, e = LE, p = LP},
}

-- }======

-- {====== the questions, each answer checked against the contract

local ans = {}
local function is_record(r)
  return type(r) == "table" and type(r.id) == "string" and type(r.storage_id) == "string" and type(r.name) == "string"
end
local function ids(nodes)
  local out = {}
  for i, n in ipairs(nodes) do out[i] = n.id end
  return out
end
local function sorted(list)
  local c = {table.unpack(list)}
  table.sort(c)
  return c
end
local function steps(rows)
  local out = {}
  for i, r in ipairs(rows) do out[i] = math.tointeger(r._step) end
  return out
end
local function raises_commerror(f, ...)
  local ok, err = pcall(f, ...)
  return not ok and errors.is(err), err
end

local FILTERS = {
  {state = "finished"},
  {tags = "sweep"},
  {["summary.loss"] = {["$lt"] = 0.5}},
  {["config.lr"] = {["$gte"] = 0.005}},
  {group = "cifar"},
  {["$or"] = {{state = "failed"}, {state = "crashed"}}},
  {display_name = {["$regex"] = "^mnist-(base|wide)"}},
  {["summary.loss"] = {["$exists"] = false}},
  {["config.model.layers"] = {["$in"] = {4, 6}}},
  {["summary.loss"] = {["$ne"] = 0}},
  {["$nor"] = {{group = "mnist"}}},
  {state = {["$not"] = {["$in"] = {"finished", "running"}}}},
  {sweep = "demosw01"},
  {job_type = "train", tags = {["$nin"] = {"baseline"}}},
}
local ORDERS = {"+created_at", "-created_at", "-summary.loss", "+summary.loss", "+config.lr", "-config.model.width",
  "+display_name", "-summary._runtime"}

for _, B in ipairs(BACKENDS) do
  local b, e, p, n = B.b, B.e, B.p, B.name
  local a = {}
  ans[n] = a
  -- run
  local r = b:run(e, p, "dmo1base", true)
  t.ok(is_record(r), n .. ": run -> a record")
  for _, k in ipairs({"config", "summary", "system_metrics"}) do
    t.ok(type(r[k]) == "string" and type(json.decode(r[k])) == "table", n .. ": " .. k .. " is JSON object text")
  end
  t.ok(math.type(r.last_step) == "integer", n .. ": last_step an integer")
  t.ok(type(r.user) == "table" and r.user.username ~= nil, n .. ": user {name, username}")
  a.run = {r.id, r.name, r.state, r.tags, null(r.group), null(r.job_type), null(r.notes), r.created_at, r.last_step,
    r.history_line_count, json.decode(r.config), json.decode(r.summary), r.user.username}
  t.eq(b:run(e, p, "nosuchrn", true), nil, n .. ": a missing run is nil")
  t.eq(b:run(e, "no-such-project", "dmo1base", true), nil, n .. ": a run of a missing project is nil")
  -- pages
  local all, cursor, pages, count = {}, nil, 0, nil
  repeat
    local pg = b:runs_page(e, p, {filters = "{}", order = "+created_at", per_page = 2, cursor = cursor, full = true})
    pages = pages + 1
    count = pg.count
    for _, x in ipairs(pg.nodes) do t.ok(is_record(x), n .. ": a page holds records"); all[#all + 1] = x.id end
    cursor = pg.cursor
  until not pg.has_next or pages > 20
  t.eq(count, #specs, n .. ": count")
  a.paged = all
  t.eq(b:runs_page(e, "no-such-project", {filters = "{}", order = "+created_at", per_page = 2}), nil,
    n .. ": a missing project is nil")
  local light = b:runs_page(e, p, {filters = "{}", order = "+created_at", per_page = 10, full = false})
  a.light = ids(light.nodes)
  -- filters and order
  a.filtered = {}
  for i, f in ipairs(FILTERS) do
    local pg = b:runs_page(e, p, {filters = filters.encode(f), order = "+created_at", per_page = 100})
    a.filtered[i] = sorted(ids(pg.nodes))
  end
  a.ordered = {}
  for i, o in ipairs(ORDERS) do
    local pg = b:runs_page(e, p, {filters = "{}", order = filters.order(o), per_page = 100})
    a.ordered[i] = ids(pg.nodes)
  end
  t.ok(raises_commerror(b.runs_page, b, e, p, {filters = '{"state": {"$foo": 1}}', order = "+created_at", per_page = 10}),
    n .. ": a filter the backend refuses is a CommError")
  -- watch
  local wp = b:watch_page(e, p, {filters = filters.encode({state = {["$in"] = {"finished", "failed"}}}), per_page = 100})
  a.watch = sorted(ids(wp.nodes))
  for _, x in ipairs(wp.nodes) do
    for _, k in ipairs({"id", "state", "created_at", "heartbeat_at", "tags", "summary"}) do
      t.ok(x[k] ~= nil, n .. ": the watch record has " .. k)
    end
  end
  local by = b:runs_by_name(e, p, {"dmo1base", "nosuchrn"})
  t.ok(is_record(by.dmo1base) and by.nosuchrn == nil, n .. ": runs_by_name")
  -- history
  a.keyed = b:history(e, p, "dmo2hilr", {keys = {"loss"}, samples = 1000})
  a.sampled = steps(b:history(e, p, "dmo1base", {samples = 7}))
  a.window = steps(b:history_page(e, p, "dmo1base", {min_step = 10, max_step = 20, page_size = 100}))
  a.window_keyed = b:history_page(e, p, "dmo2hilr", {min_step = 140, max_step = 160, page_size = 100, keys = {"loss"}})
  a.last = b:last_step(e, p, "dmo1base")
  local batch = b:history_batch(e, p, {{id = "dmo1base", min_step = 0, max_step = 5, samples = 10},
    {id = "nosuchrn", min_step = 0, max_step = 5, samples = 10}})
  a.batch = steps(batch.dmo1base or {})
  t.eq(batch.nosuchrn, nil, n .. ": a missing run is absent from a batch")
  a.system = #b:history(e, p, "dmo1base", {stream = "system", samples = 100000})
  t.eq(b:history(e, p, "nosuchrn", {samples = 5}), nil, n .. ": history of a missing run is nil")
  -- files
  local fp = b:files(e, p, "dmo1base", {per_page = 100})
  local names = {}
  for i, f in ipairs(fp.nodes) do names[i] = f.name end
  a.files = sorted(names)
  local req
  for _, f in ipairs(fp.nodes) do if f.name == "requirements.txt" then req = f end end
  local dl = req and b:download(req.url)
  a.download = dl and dl.status == 200 and dl.body
  t.eq(b:files(e, p, "nosuchrn", {}), nil, n .. ": files of a missing run is nil")
  -- projects, sweeps, optional fields, the entity
  local pp = b:projects_page(e, {per_page = 100})
  local found = false
  for _, x in ipairs(pp.nodes) do if x.name == p then found = true end end
  t.ok(found, n .. ": projects_page lists the project")
  local sw = b:sweep(e, p, "demosw01")
  a.sweep = sw and null(sw.runCount)
  t.eq(b:sweep(e, p, "nosweep0"), nil, n .. ": a missing sweep is nil")
  t.ok(type(b:field(e, p, "dmo1base", "updated_at", r)) == "string", n .. ": field(updated_at)")
  t.ok(type(b:default_entity()) == "string", n .. ": default_entity")
  t.ok(type(b:app_url()) == "string", n .. ": app_url")
  -- writes
  local okw, werr = pcall(b.write_run, b, r.storage_id, {notes = "conformance"})
  if b.kind == "local" then
    t.ok(not okw and errors.is(werr) and tostring(werr):find("read-only", 1, true), n .. ": writes refused: " .. tostring(werr))
  else
    t.ok(okw, n .. ": write_run: " .. tostring(werr))
    t.eq(b:run(e, p, "dmo1base", true).notes, "conformance", n .. ": written")
  end
end

-- }======

-- {====== the two backends agree

local W, L = ans.wandb, ans["local"]
local function same(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b or (a ~= a and b ~= b) end
  if type(a) == "table" and type(b) == "table" then
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
  end
  return a == b
end
local function agree(x, y, label)
  if same(x, y) then t.ok(true) else t.ok(false, label .. ": wandb " .. json.encode(x) .. " / local " .. json.encode(y)) end
end
-- the write above changed the W&B copy's notes: compare what it had
W.run[7] = L.run[7]
agree(W.run, L.run, "run record")
agree(W.paged, L.paged, "pages by cursor")
agree(W.light, L.light, "light listing")
for i, f in ipairs(FILTERS) do agree(W.filtered[i], L.filtered[i], "filter " .. json.encode(f)) end
for i, o in ipairs(ORDERS) do agree(W.ordered[i], L.ordered[i], "order " .. o) end
agree(W.watch, L.watch, "watch page")
agree(W.keyed, L.keyed, "keyed history (NaN exact)")
agree(W.sampled, L.sampled, "sampled steps")
agree(W.window, L.window, "a step window")
agree(W.window_keyed, L.window_keyed, "a keyed step window")
agree(W.last, L.last, "last step")
agree(W.batch, L.batch, "history batch")
agree(W.system, L.system, "system rows")
agree(W.files, L.files, "file names")
agree(W.download, L.download, "a file's bytes")
agree(W.sweep, L.sweep, "sweep run count")
t.ok(#W.keyed > 0 and W.keyed[#W.keyed].loss ~= W.keyed[#W.keyed].loss, "the diverged run's keyed history ends in NaN")

-- }======

os.execute("rm -rf '" .. tmp .. "'")
t.done()
