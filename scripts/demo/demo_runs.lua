-- The demo data set: six W&B run directories (finished, diverged, failed, crashed, offline, in progress) written with wandb_writer.lua, and a live run that grows a few rows per second; loaded with dofile().
--
--   local demo = dofile("scripts/demo/demo_runs.lua")
--   local runs = demo.write(dir)             -- dir/wandb/run-*/... ; returns the specs written
--   local live = demo.live(dir, {id = "x"})  -- a running run; live:step(), live:finish(code)
-- Everything is deterministic except the live run's times.
local json = require "runwatch.json"
local core = require "runwatch.core"
local fswatch = require "runwatch.fswatch"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local W = dofile(here .. "wandb_writer.lua")

local M = {W = W}
local BASE = 1767603600          -- 2026-01-05T09:00:00Z

-- deterministic noise in [-1, 1)
local function rng(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 1073741824 - 1
  end
end

local function mkdirs(path)
  local acc = path:sub(1, 1) == "/" and "" or "."
  for part in path:gmatch("[^/]+") do
    acc = acc .. "/" .. part
    local ok, err = fswatch.mkdir(acc)
    if not ok then error("cannot create " .. acc .. ": " .. tostring(err), 0) end
  end
end

local function spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- The runs: id, name, config, steps, loss shape, ending.
M.SPECS = {
  {id = "dmo1base", name = "mnist-baseline", group = "mnist", tags = {"baseline"}, steps = 300,
    config = {lr = 0.01, optimizer = "adam", batch_size = 64, model = {layers = 4, width = 256}, seed = 1},
    loss0 = 2.3, floor = 0.12, tau = 70, exit = 0, online = true, notes = "the reference run"},
  {id = "dmo2hilr", name = "mnist-high-lr", group = "mnist", tags = {"sweep"}, steps = 240, sweep = "demosw01",
    config = {lr = 0.5, optimizer = "sgd", batch_size = 64, model = {layers = 4, width = 256}, seed = 2},
    loss0 = 2.3, floor = 0.9, tau = 40, diverge_at = 150, exit = 0, online = true},
  {id = "dmo3wide", name = "mnist-wide", group = "mnist", tags = {"sweep", "best-candidate"}, steps = 400,
    sweep = "demosw01",
    config = {lr = 0.003, optimizer = "adam", batch_size = 128, model = {layers = 4, width = 1024}, seed = 3},
    loss0 = 2.3, floor = 0.07, tau = 90, exit = 0, online = true},
  {id = "dmo4fail", name = "cifar-oom", group = "cifar", tags = {}, steps = 90,
    config = {lr = 0.01, optimizer = "adam", batch_size = 512, model = {layers = 18, width = 512}, seed = 4},
    loss0 = 2.3, floor = 0.8, tau = 60, exit = 1, online = false},
  {id = "dmo5crsh", name = "cifar-killed", group = "cifar", tags = {}, steps = 130,
    config = {lr = 0.02, optimizer = "sgd", batch_size = 256, model = {layers = 18, width = 512}, seed = 5},
    loss0 = 2.3, floor = 0.6, tau = 80, exit = nil, online = true},
  -- still running on another machine (a shared file system): no exit record, no writer PID to
  -- ask here, so it counts as running while its files changed in the last 10 minutes. It gets
  -- a new id ("p" and 7 digits of the time) each time the demo is written: a new run started.
  {id = "dmo6prog", fresh_id = true, name = "mnist-in-progress", group = "mnist", tags = {"sweep"}, steps = 120,
    config = {lr = 0.001, optimizer = "adam", batch_size = 64, model = {layers = 8, width = 512}, seed = 8},
    loss0 = 2.3, floor = 0.1, tau = 100, exit = nil, running = true, host = "gpu-node-7", online = true},
}

-- What every demo run's config records add to its initial config (scratch is removed again).
M.CONFIG_UPDATE = {epochs = 3, data = {augment = true, dataset = "mnist-demo"}, scratch = 1}

local function dir_name(spec, start)
  return (spec.online and "run-" or "offline-run-") .. os.date("%Y%m%d_%H%M%S", start) .. "-" .. spec.id
end

-- A run being written: the writer, the running summary, the step.
local Run = {}
Run.__index = Run

local function open_run(dir, spec, start, host)
  local rundir = dir .. "/wandb/" .. dir_name(spec, start)
  mkdirs(rundir .. "/files")
  mkdirs(rundir .. "/logs")
  local w = assert(W.create(rundir .. "/run-" .. spec.id .. ".wandb"))
  w:write(W.header("0.24.2+runwatch-demo"))
  w:write(W.run{run_id = spec.id, project = "demo", display_name = spec.name, group = spec.group,
    job_type = "train", tags = spec.tags, notes = spec.notes, host = host or "demo-host", sweep_id = spec.sweep,
    start_time = start, config = spec.config, git_remote = "https://example.com/demo.git",
    git_commit = "0123456789abcdef0123456789abcdef01234567"})
  -- config changed after init (wandb.config.update), then a key removed: config records
  w:write(W.config(M.CONFIG_UPDATE))
  w:write(W.config(nil, {"scratch"}))
  return setmetatable({w = w, spec = spec, start = start, dir = rundir, n = 0, summary = {},
    noise = rng(spec.config.seed or 7), dt = 0.5}, Run)
end

-- the metrics of step i
function Run:row(i)
  local s = self.spec
  local loss
  if s.diverge_at and i >= s.diverge_at then
    loss = 0 / 0
  elseif s.diverge_at and i > s.diverge_at - 40 then
    loss = s.floor + (i - (s.diverge_at - 40)) * 0.15 + 0.05 * self.noise()
  else
    loss = s.loss0 * math.exp(-i / s.tau) + s.floor + 0.02 * self.noise()
  end
  local row = {loss = loss, lr = s.config.lr, ["train/samples_per_sec"] = 900 + 40 * self.noise()}
  if i % 10 == 9 then
    row.val_loss = loss == loss and (loss * 1.08 + 0.01 + 0.01 * self.noise()) or loss
    row.acc = loss == loss and math.max(0, math.min(1, 1 - loss / 2.5)) or 0.1
  end
  return row
end

-- step([now]) appends one step as wandb-core does: summary (timing), summary (values), history
function Run:step(now)
  local i = self.n
  local t = now or (self.start + 5 + i * self.dt)
  local runtime = t - self.start
  local row = self:row(i)
  row._runtime = runtime
  row._timestamp = t
  for k, v in pairs(row) do self.summary[k] = v end
  self.summary._step = i
  self.summary._wandb = {runtime = math.floor(runtime)}
  self.w:write(W.summary({_wandb = {runtime = math.floor(runtime)}, _runtime = math.floor(runtime)}))
  local values = {}
  for k, v in pairs(row) do values[k] = v end
  values._step = i
  self.w:write(W.summary(values))
  self.w:write(W.history(i, row))
  if i % 30 == 29 then
    self.w:write(W.stats(t, {cpu = 40 + 10 * self.noise(), memory_percent = 31.5 + self.noise(),
      ["gpu.0.gpu"] = 87 + 5 * self.noise(), ["gpu.0.memoryAllocated"] = 61.2}))
  end
  if i % 50 == 0 then
    self.w:write(W.output(t, string.format("step %d loss %.4f\n", i, row.loss)))
  end
  self.n = i + 1
  self.last_t = t
  return row
end

-- finish(code) writes the exit record (and, for online runs, the files wandb-core writes at the end)
function Run:finish(code)
  local runtime = math.floor((self.last_t or self.start) - self.start + 1)
  self.w:write(W.summary({_wandb = {runtime = runtime}, _runtime = runtime}))
  self.summary._wandb = {runtime = runtime}
  self.summary._runtime = runtime
  self.w:write(W.exit(code, runtime))
  self.w:close()
  if self.spec.online then
    spit(self.dir .. "/files/wandb-summary.json", json.encode(self.summary) .. "\n")
  end
end

local function metadata(spec, start, host)
  return json.encode({os = "Linux-6.1.0-demo-x86_64", python = "CPython 3.11.2", host = host or "demo-host",
    startedAt = os.date("!%Y-%m-%dT%H:%M:%S", start) .. ".000000Z", program = "train.py",
    git = {remote = "https://example.com/demo.git", commit = "0123456789abcdef0123456789abcdef01234567"},
    username = "demo", cpu_count = 8, gpu_count = 1, gpu = "Demo GPU"}, {indent = 2})
end

-- A PID that no longer runs: a child shell's, after it exited.
local function dead_pid()
  local p = io.popen("sh -c 'echo $$'")
  local pid = p and tonumber(p:read("l"))
  if p then p:close() end
  return math.tointeger(pid) or 999999
end

local function debug_log(rundir, start, pid)
  spit(rundir .. "/logs/debug.log", string.format(
    "%s,123 INFO    MainThread:%d [wandb_setup.py:_flush():81] Current SDK version is 0.24.2\n" ..
    "%s,456 INFO    MainThread:%d [wandb_init.py:init():870] starting run threads in backend\n",
    os.date("%Y-%m-%d %H:%M:%S", math.floor(start)), pid, os.date("%Y-%m-%d %H:%M:%S", math.floor(start)), pid))
end

-- Removes a directory tree this module wrote (plain files and directories only).
local function rm_tree(path)
  local st = fswatch.stat(path, false)
  if not st then return end
  if st.type == "directory" then
    for _, name in ipairs(fswatch.dir(path) or {}) do rm_tree(path .. "/" .. name) end
  end
  os.remove(path)
end

-- write(dir) -> the specs written (each with .dir and .file). dir gets a wandb/ directory;
-- demo run directories written there before are replaced.
function M.write(dir)
  mkdirs(dir .. "/wandb")
  for _, name in ipairs(fswatch.dir(dir .. "/wandb") or {}) do
    for _, spec in ipairs(M.SPECS) do
      local pat = spec.fresh_id and "p%d%d%d%d%d%d%d" or spec.id
      if name:match("run%-%d+_%d+%-" .. pat .. "$") then rm_tree(dir .. "/wandb/" .. name) end
    end
  end
  for _, spec in ipairs(M.SPECS) do
    if spec.fresh_id then spec.id = string.format("p%07d", os.time() % 10000000) end
  end
  local host = fswatch.hostname()
  for n, spec in ipairs(M.SPECS) do
    local start = spec.running and (os.time() - 5 - spec.steps // 2) or (BASE + (n - 1) * 2400)
    local r = open_run(dir, spec, start, spec.host or host)
    spec.dir, spec.file, spec.start = r.dir, r.w.path, start
    if spec.online then spit(r.dir .. "/files/wandb-metadata.json", metadata(spec, start, host) .. "\n") end
    spit(r.dir .. "/files/requirements.txt", "torch==2.3.0\nwandb==0.24.2\n")
    for _ = 1, spec.steps do r:step() end
    if spec.exit then
      r:finish(spec.exit)
    elseif spec.running then
      r.w:close()
    else
      -- killed: no exit record, the last record only half on disk, the writer's PID gone
      local t = r.last_t + 0.5
      r.w:write(W.summary({_runtime = math.floor(t - start), note = string.rep("x", 300)}), {partial = 40})
      r.w:close()
      debug_log(r.dir, start, dead_pid())
    end
    spec.summary = r.summary
  end
  return M.SPECS
end

-- live(dir, {id =, name =}) -> a running run written by this process (its PID in
-- logs/debug.log): live:step() appends a row now; live:finish(code) ends it.
function M.live(dir, o)
  o = o or {}
  local id = o.id or ("live" .. string.format("%04d", core.getpid() % 10000))
  local spec = {id = id, name = o.name or "mnist-live", group = "mnist", tags = {"live"}, steps = 0,
    config = {lr = 0.005, optimizer = "adam", batch_size = 64, model = {layers = 6, width = 512}, seed = 6},
    loss0 = 2.3, floor = 0.1, tau = 60, online = true}
  local start = os.time()
  local host = fswatch.hostname()
  local r = open_run(dir, spec, start, host)
  debug_log(r.dir, start, core.getpid())
  spit(r.dir .. "/files/wandb-metadata.json", metadata(spec, start, host) .. "\n")
  local live = {run = r, id = id, dir = r.dir, file = r.w.path}
  function live.step() return r:step(core.time()) end
  function live.finish(code) r:finish(code or 0) end
  return live
end

return M
