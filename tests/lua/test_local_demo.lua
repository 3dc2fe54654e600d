-- The local backend on the demo writer's runs (no $RW_SHARED needed): states (finished, failed, crashed by PID, running by mtime), values as written, filters and order, multi-block history, partial tails, damaged copies, refused writes, and a live run under a watch (every row once, then on_finish).
-- runwatch-mode: run
local t = require "testlib"
local json = require "runwatch.json"
local core = require "runwatch.core"
local fswatch = require "runwatch.fswatch"
local wandbfile = require "runwatch.wandbfile"

local SRC = (os.getenv("RW_TESTS") or "tests") .. "/.."
local demo = dofile(SRC .. "/scripts/demo/demo_runs.lua")
local W = demo.W

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function ids(list)
  local out = {}
  for _, r in ipairs(list) do out[#out + 1] = r.id end
  return out
end

local tmp = os.tmpname()
os.remove(tmp)
assert(fswatch.mkdir(tmp))
local specs = demo.write(tmp)
local la = api.open("local:" .. tmp)
local PROG = specs[6].id      -- the in-progress run gets a new id each time the demo is written
t.ok(PROG:match("^p%d%d%d%d%d%d%d$"), "the in-progress run's id: " .. PROG)
t.eq(la.settings.project, tmp:match("([^/]+)$"), "the directory's name is the default project")
t.eq(la.settings.entity, "local", "the default entity")

-- {====== every run as written

local function deep_num_eq(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b or (a ~= a and b ~= b) end
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_num_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

t.eq(#la.runs(), #specs, "every demo run is listed")
for _, s in ipairs(specs) do
  local run = la.run(s.id)
  local want_state = s.exit == 0 and "finished" or s.exit and "failed" or s.running and "running" or "crashed"
  t.eq(run.state, want_state, s.id .. ": state")
  t.eq(run.history_line_count, s.steps, s.id .. ": rows")
  t.eq(run.last_step, s.steps - 1, s.id .. ": last step")
  t.eq(run.name, s.name, s.id .. ": display name")
  t.eq(run.group, s.group, s.id .. ": group")
  t.eq(run.job_type, "train", s.id .. ": job type")
  t.eq(run.notes, s.notes, s.id .. ": notes")
  t.eq(run.tags, json.array({table.unpack(s.tags)}), s.id .. ": tags")
  local want_config = {}
  for k, v in pairs(s.config) do want_config[k] = v end
  for k, v in pairs(demo.CONFIG_UPDATE) do want_config[k] = v end
  want_config.scratch = nil
  t.ok(deep_num_eq(run.config, want_config), s.id .. ": config as written, with its config records applied")
  t.eq(run.created_at, os.date("!%Y-%m-%dT%H:%M:%S", s.start), s.id .. ": created_at")
  t.ok(deep_num_eq(run.summary.loss, s.summary.loss), s.id .. ": summary.loss")
  t.eq(run.summary._step, s.steps - 1, s.id .. ": summary._step")
  local info = la.backend:info(s.id)
  t.eq(info.error_count, 0, s.id .. ": no read error")
  t.eq(info.liveness, s.exit and "exit" or s.running and "mtime" or "pid", s.id .. ": how the state was decided")
  local sj = slurp(s.dir .. "/files/wandb-summary.json")
  if sj then t.ok(deep_num_eq(run.summary, json.decode(sj)), s.id .. ": summary equals files/wandb-summary.json") end
  if s.id ~= "dmo4fail" then
    t.eq(run.metadata and run.metadata.program, "train.py", s.id .. ": metadata from files/")
  else
    t.eq(run.metadata, nil, s.id .. ": an offline run has no metadata file")
  end
end

-- other layouts: a project's .wandb/ with a latest-run symlink, one run directory, one file
do
  local base = os.tmpname()
  os.remove(base)
  local src = specs[1].dir
  os.execute(string.format("mkdir -p '%s/proj/.wandb' && cp -r '%s' '%s/proj/.wandb/' && ln -s '%s' '%s/proj/.wandb/latest-run'",
    base, src, base, src:match("[^/]+$"), base))
  local b1 = api.open("local:" .. base .. "/proj")
  t.eq(ids(b1.runs()), {"dmo1base"}, "a project directory with .wandb/ (latest-run not counted twice)")
  t.eq(b1.settings.project, "proj", "its project is the directory's name")
  local b2 = api.open("local:" .. base .. "/proj/.wandb/latest-run")
  t.eq(b2.run("dmo1base").history_line_count, 300, "latest-run itself: one run directory")
  t.eq(b2.settings.project, "proj", "... in project proj")
  local b3 = api.open("local:" .. specs[1].file)
  t.eq(b3.run("dmo1base").state, "finished", "one .wandb file")
  os.execute("rm -rf '" .. base .. "'")
end

-- a directory that is not there: the world's failure, as a CommError naming it
local okn, errn = pcall(function() return #api.open("local:" .. tmp .. "/nope").runs() end)
t.ok(not okn and require("runwatch.errors").is(errn) and tostring(errn):find("nope: No such file", 1, true),
  "a missing directory: CommError: " .. tostring(errn))
t.checkerr("a directory expected", require("runwatch.local.backend").new, 5)
-- no directory: where the SDK writes runs (issue 17 item 6)
t.eq(require("runwatch.local.backend").new("").dir, require("runwatch.local.backend").default_dir(), "\"\": WANDB_DIR, else ./wandb")

-- a run seen running by its files' age turns crashed when they stop changing
do
  local b = require("runwatch.local.backend").new(tmp, {live_window = 0})
  t.eq(b:run("local", b.settings.project, PROG, true).state, "crashed", "no recent write, no exit: crashed")
end

-- }======

-- {====== filters, order, pages

t.eq(ids(la.runs(nil, {group = "mnist", state = "finished"}, {order = "+created_at"})), {"dmo1base", "dmo2hilr", "dmo3wide"}, "group and state")
t.eq(ids(la.runs(nil, {tags = "sweep"}, {order = "+created_at"})), {"dmo2hilr", "dmo3wide", PROG}, "a tag")
t.eq(ids(la.runs(nil, {["config.model.width"] = {["$gte"] = 1024}})), {"dmo3wide"}, "nested config")
t.eq(ids(la.runs(nil, {state = {["$in"] = {"failed", "crashed"}}}, {order = "+created_at"})), {"dmo4fail", "dmo5crsh"}, "$in")
t.eq(ids(la.runs(nil, {state = "finished"}, {order = "+summary.val_loss"})), {"dmo2hilr", "dmo3wide", "dmo1base"}, "NaN sorts below numbers, as on the server")
t.eq(ids(la.runs(nil, {["summary.loss"] = {["$lt"] = 0.2}}, {order = "+summary.loss"})), {"dmo3wide", "dmo1base"}, "NaN never compares")
t.eq(ids(la.runs(nil, {["$nor"] = {{group = "mnist"}}}, {order = "+created_at"})), {"dmo4fail", "dmo5crsh"}, "$nor")
t.eq(#la.runs("local/demo"), #specs, "the project of the run records")
local pages = la.runs(nil, nil, {order = "-created_at", per_page = 2})
t.eq(#pages, 6, "runCount")
t.eq(ids(pages), {PROG, "dmo5crsh", "dmo4fail", "dmo3wide", "dmo2hilr", "dmo1base"}, "pages of two")

-- projects, sweeps, files
local projects = {}
for _, p in ipairs(la.projects()) do projects[#projects + 1] = p.name end
t.eq(projects, {"demo"}, "api.projects(): the project the run records name")
t.eq(#la.projects()[1].runs(), #specs, "project:runs()")
local sw = la.sweep("demosw01")
t.eq(sw.run_count, 2, "api.sweep: the runs naming the sweep")
t.eq(ids(sw.runs), {"dmo3wide", "dmo2hilr"}, "sweep.runs")
t.eq(sw:best_run("val_loss", "+").id, "dmo3wide", "sweep:best_run skips NaN")
local ok0, err0 = pcall(la.sweep, "nosweep")
t.ok(not ok0 and tostring(err0):find("Could not find sweep", 1, true), "a missing sweep: CommError")
local names = {}
for _, f in ipairs(la.run("dmo1base"):files()) do names[#names + 1] = f.name end
t.eq(names, {"requirements.txt", "wandb-metadata.json", "wandb-summary.json"}, "run:files()")
t.eq(la.run("dmo1base"):file("requirements.txt"):read(), "torch==2.3.0\nwandb==0.24.2\n", "file:read()")
local dl = tmp .. "/dl/req.txt"
la.run("dmo1base"):file("requirements.txt"):download(dl)
t.eq(slurp(dl), "torch==2.3.0\nwandb==0.24.2\n", "file:download()")
os.remove(dl); os.remove(tmp .. "/dl")
ok0, err0 = pcall(la.run("dmo1base").file, la.run("dmo1base"), "nope.txt")
t.ok(not ok0 and tostring(err0):find("no file nope.txt", 1, true), "a missing file: CommError")
names = {}
for _, f in ipairs(la.run("dmo1base"):files{pattern = "wandb-%.json"}) do names[#names + 1] = f.name end
t.eq(names, {"wandb-metadata.json", "wandb-summary.json"}, "files with a LIKE pattern")
t.ok(la.run("dmo1base").updated_at ~= nil, "updated_at")

-- }======

-- {====== history across blocks; a partial tail

local wide = la.run("dmo3wide")
local steps = {}
for row in wide:scan_history{page_size = 64} do steps[#steps + 1] = row._step end
local want = {}
for i = 0, 399 do want[#want + 1] = i end
t.eq(steps, want, "scan_history over 5 blocks (records split FIRST/LAST)")
local rows = wide:history{keys = {"val_loss"}, samples = 1000}
t.eq(#rows, 40, "history with keys: every 10th step has val_loss")
t.eq(rows[1]._step, 9, "first val_loss row")
local sys = wide:history{stream = "system"}
t.eq(#sys, 13, "system rows")
t.ok(sys[1]["system.gpu.0.gpu"] ~= nil, "system.gpu.0.gpu")
local crash = la.run("dmo5crsh")
t.eq(crash.history_line_count, 130, "a partial last record is not an error and adds no row")
local diverged = {}
for row in la.run("dmo2hilr"):scan_history{keys = {"loss"}} do
  if row.loss ~= row.loss then diverged[#diverged + 1] = row._step end
end
t.eq(diverged[1], 150, "NaN losses read back as NaN")

-- }======

-- {====== writes are refused; nothing changes on disk

local base = la.run("dmo1base")
local file = la.backend:info("dmo1base").files[1]
local before = slurp(file)
base.config.lr = 1
local ok, err = pcall(base.update, base)
t.ok(not ok and tostring(err):find("local runs are read-only", 1, true), "update refused")
ok, err = pcall(base.delete, base)
t.ok(not ok and tostring(err):find("local runs are read-only", 1, true), "delete refused")
ok, err = pcall(base.set_summary, base, {x = 1})
t.ok(not ok and tostring(err):find("local runs are read-only", 1, true), "set_summary refused")
t.ok(slurp(file) == before, "the file is unchanged")
la.flush()
t.eq(la.run("dmo1base").config.lr, 0.01, "the run reads back unchanged")
local r = la.backend:download("file:///etc/passwd")
t.eq(r, nil, "download outside the local directory is refused")
t.checkerr("only file:// URLs", function() la.backend:download("https://example.com/x") end)

-- }======

-- {====== damaged copies: errors with offsets, reading goes on, nothing crashes

local wide_file = la.backend:info("dmo3wide").files[1]
local data = slurp(wide_file)
local dtmp = os.tmpname()          -- outside the demo directory, which la reads
os.remove(dtmp)
assert(fswatch.mkdir(dtmp))
local function damaged(name, bytes)
  local d = dtmp .. "/damaged-" .. name
  assert(fswatch.mkdir(d))
  spit(d .. "/run-dmo3wide.wandb", bytes)
  local b = require("runwatch.local.backend").new(d)
  local a = b:run("local", b.settings.project, "dmo3wide", true)
  return a, b:info("dmo3wide"), d
end
-- a flipped byte inside block 1
local flip = 40000
local a, info = damaged("flip", data:sub(1, flip) .. string.char(data:byte(flip + 1) ~ 0x55) .. data:sub(flip + 2))
t.eq(info.error_count, 1, "a flipped byte: one error")
t.ok(info.errors[1] and info.errors[1].offset >= 32768 and info.errors[1].offset <= flip, "the error names its offset: " ..
  tostring(info.errors[1] and info.errors[1].offset))
t.ok(a.history_line_count > 300 and a.history_line_count < 400, "rows before and after the damaged block: " .. a.history_line_count)
t.eq(a.state, "finished", "the exit record after the damage is read")
-- truncated at every block boundary: no error, fewer rows, no exit
for k = 1, #data // 32768 do
  local cut = k * 32768
  local a2, info2 = damaged("cut" .. k, data:sub(1, cut))
  t.eq(info2.error_count, 0, "cut at " .. cut .. ": no error")
  t.ok(a2.history_line_count > 0 and a2.history_line_count < 400 and a2.exit_code == json.null, "cut at " .. cut .. ": fewer rows, no exit")
end
-- not a .wandb at all
local a3, info3 = damaged("garbage", "this is not a W&B log")
t.eq(a3, nil, "garbage: not a run (issue 13 item 6)")
t.eq(info3.error_count, 1, "garbage: reported once")
t.ok(info3.errors[1] and info3.errors[1].message:find("not a .wandb file", 1, true), "garbage: the reader's reason")

t.eq(#la.runs(), #specs, "the damaged copies elsewhere are not the demo directory's runs")
t.eq(la.backend:info("dmo3wide").rows, 400, "and dmo3wide is still one clean run")

-- }======

-- {====== a live run under a watch: inotify pokes, every row exactly once, then on_finish

local got, finished, states = {}, 0, {}
local w = watch{project = la.settings.entity .. "/" .. la.settings.project, api = la, every = "60s",
  id = "demo-live", stale = false,
  on_history = function(run, rows)
    if run.id:match("^live") then for _, row in ipairs(rows) do got[#got + 1] = row._step end end
  end,
  on_state = function(run, old, new) states[#states + 1] = run.id .. ":" .. old .. ">" .. new end,
  on_finish = function(run) if run.id:match("^live") then finished = finished + 1 end end,
}
sleep(0.2)
local live = demo.live(tmp, {id = "livetest"})
local t0 = core.monotonic()
for _ = 1, 60 do live.step(); sleep(0.01) end
sleep(0.3)
local mid = la.run("livetest")
t.eq(mid.state, "running", "the live run is running (its writer, this process, is alive)")
t.eq(la.backend:info("livetest").liveness, "pid", "decided by the writer's PID on this host")
live.finish(0)
local waited = 0
while (finished == 0 or #got < 60) and waited < 10 do sleep(0.05); waited = waited + 0.05 end
local want_live = {}
for i = 0, 59 do want_live[#want_live + 1] = i end
t.eq(got, want_live, "live run: every row exactly once, in order")
t.eq(finished, 1, "live run: on_finish once")
t.ok(core.monotonic() - t0 < 8, "live rows arrived through file events (the poll is every 60 s)")
t.ok(w.ticks >= 3, "ticks: " .. w.ticks)
w:stop()

-- a live run that stops logging while its writer lives: on_stale "silent", then on_recover
local stale, recovered = {}, 0
local w2 = watch{project = la.settings.entity .. "/" .. la.settings.project, api = la, every = 0.2,
  id = "demo-stale", stale = {factor = 3, floor = 1, heartbeat = 3},
  on_stale = function(run, info) if run.id == "livestal" then stale[#stale + 1] = info.kind end end,
  on_recover = function(run) if run.id == "livestal" then recovered = recovered + 1 end end,
}
local live2 = demo.live(tmp, {id = "livestal"})
for _ = 1, 10 do live2.step(); sleep(0.02) end
waited = 0
while #stale == 0 and waited < 6 do sleep(0.1); waited = waited + 0.1 end
t.eq(stale, {"silent"}, "a quiet run whose writer lives is stale and silent")
for _ = 1, 3 do live2.step(); sleep(0.1) end
sleep(0.5)
t.eq(recovered, 1, "it recovers when rows come again")
live2.finish(0)
w2:stop()
la.backend:close()

-- }======

-- {====== runwatch.fswatch itself

do
  local p = tmp .. "/watched.txt"
  local seen = {}
  local fw = fswatch.new(p, function(w, now, before)
    seen[#seen + 1] = (now.exists and now.size or -1) .. "/" .. (before.exists and before.size or -1)
  end, {daemon = true})
  t.ok(tostring(fw):find("stopped", 1, true), "tostring: stopped")
  t.eq(fw:path(), p, "path()")
  fw:start(); fw:start()
  t.ok(fw:is_active(), "active")
  spit(p, "abc"); sleep(0.1)
  local f = io.open(p, "ab"); f:write("defg"); f:close(); sleep(0.1)
  os.remove(p); sleep(0.1)
  local all = table.concat(seen, " ")
  t.ok(seen[1] and seen[1]:match("/%-1$"), "an event when the file was created: " .. all)
  t.ok(all:find("7/", 1, true), "an event when it grew: " .. all)
  t.eq(seen[#seen], "-1/7", "an event when it was removed: " .. all)
  t.eq(fw:stat().exists, false, "stat() of a missing path")
  fw:stop()
  t.ok(not fw:is_active(), "stopped")
  fw:close(); fw:close()
  t.ok(tostring(fw):find("closed", 1, true), "close is idempotent")
  t.checkerr("closed file watch", function() fw:start() end)
  t.checkerr("function expected", fswatch.new, p)
  t.checkerr("empty path", fswatch.new, "", function() end)
  t.checkerr("interval", fswatch.new, p, function() end, {interval = -1})
  t.checkerr("bad field 'daemon'", fswatch.new, p, function() end, {daemon = 1})
  do local w2 <close> = fswatch.new(p, function() end):start() end
  local gone = fswatch.new(p, function() end)
  gone = nil
  collectgarbage()
  local st, e = fswatch.stat(tmp .. "/nope")
  t.ok(st == nil and e:find("No such file", 1, true), "stat: nil, err")
  local d, e2 = fswatch.dir(tmp .. "/nope")
  t.ok(d == nil and e2:find("No such file", 1, true), "dir: nil, err")
  t.eq(fswatch.dir(tmp)[1] ~= nil, true, "dir lists")
  t.eq(fswatch.pid_alive(core.getpid()), true, "pid_alive: this process")
  t.checkerr("positive process id", fswatch.pid_alive, 0)
  t.ok(type(fswatch.hostname()) == "string" and #fswatch.hostname() > 0, "hostname")
  t.eq(fswatch.mkdir(tmp), true, "mkdir of an existing directory is fine")
  local okm, em = fswatch.mkdir(tmp .. "/a/b/c")
  t.ok(okm == nil and em ~= nil, "mkdir does not make parents: nil, err")
end

-- }======

os.execute("rm -rf '" .. tmp:gsub("'", "") .. "' '" .. dtmp:gsub("'", "") .. "'")
t.done()
