-- The prelude: defines the globals scripts see (every, after, cron, spawn, log, http, json, ...),
-- loads each script with its own _ENV, runs `check`, and dispatches Lua-side commands.
local core = require "runwatch.core"
local task = require "runwatch.task"
local schedule = require "runwatch.schedule"

local M = {}
local opts = core.options()

-- The W&B key (environment or netrc) is registered for redaction before any script runs, so
-- nothing a script prints or logs can show it, even before it first uses the API.
pcall(function() require("runwatch.wb.settings").resolve({}) end)
local scripts = {}

-- Lazily required modules, so a script that never touches the API loads nothing extra.
local lazy = {
  http = "runwatch.http", json = "runwatch.json", log = "runwatch.log",
  api = "runwatch.api", wandb = "runwatch.api", watch = "runwatch.watch",
  rule = "runwatch.rules", state = "runwatch.state", export = "runwatch.export",
  report = "runwatch.report", actions = "runwatch.actions",
}
local lazy_field = { watch = "watch", rule = "rule" }

local G = _G
G.runwatch = {
  version = core.version,
  dry_run = opts.dry_run,
  mode = opts.mode,
  options = opts,
}
G.dry_run = opts.dry_run
G.every = schedule.every
G.after = schedule.after
G.cron = schedule.cron
G.spawn = task.spawn
G.parallel = task.parallel
G.map = task.map
-- ipairs in Lua, so that iterating a lazy list (api.runs) may wait for the next page: the C
-- ipairs cannot yield from inside __index.
G.ipairs = function(t)
  return function(tt, i)
    i = i + 1
    local v = tt[i]
    if v ~= nil then return i, v end
  end, t, 0
end
G.sleep = function(d) return task.sleep(schedule.duration(d, "sleep", 2)) end

setmetatable(G, {__index = function(t, k)
  local mod = lazy[k]
  if not mod then return nil end
  local ok, m = pcall(require, mod)
  if not ok then error(m, 2) end
  local v = lazy_field[k] and m[lazy_field[k]] or m
  rawset(t, k, v)
  return v
end})

-- print goes through the host's redaction, like the log.
local function redacting_print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  core.write(table.concat(parts, "\t") .. "\n")
end
G.print = redacting_print

local function script_name(path)
  return path and (path:match("([^/]+)$") or path) or "(command line)"
end

-- {====== check: compile, then lint what can be checked without running anything

local function line_of(src, pos)
  local n = 1
  for _ in src:sub(1, pos):gmatch("\n") do n = n + 1 end
  return n
end

-- Literal schedule arguments are validated as `runwatch check` would find them at run time.
local function lint(path, src)
  local problems = {}
  local okc, cronmod = pcall(require, "runwatch.cron")
  if not okc then return {} end
  local function add(pos, msg) problems[#problems + 1] = string.format("%s:%d: %s", path, line_of(src, pos), msg) end
  for pos, fname, q, arg in src:gmatch("()%f[%w_]([%a_]+)%s*%(%s*([\"'])(.-)%3") do
    if fname == "every" or fname == "after" or fname == "sleep" then
      local ok, err = pcall(cronmod.duration, arg)
      if not ok then add(pos, tostring(err):gsub("^[^:]*:%d+: ", "")) end
    elseif fname == "cron" then
      local ok, err = cronmod.valid(arg)
      if not ok then add(pos, err) end
    end
  end
  for pos, key, q, arg in src:gmatch("()%f[%w_%[]%[?[\"']?([%a_]+)[\"']?%]?%s*=%s*([\"'])(.-)%3") do
    if key == "every" or key == "for" or key == "repeat" or key == "stale_after" then
      local ok, err = pcall(cronmod.duration, arg)
      if not ok then add(pos, tostring(err):gsub("^[^:]*:%d+: ", "")) end
    end
  end
  return problems
end

-- }======

local function new_env(name)
  local env = setmetatable({}, {__index = G})
  env.SCRIPT = name
  env._ENV_NAME = name
  return env
end

-- load_script(path, code) -> true, or false, "file:line: message"
function M.load_script(path, code)
  local name = script_name(path)
  local env = new_env(name)
  local fn, err
  if path then
    local f, ferr = io.open(path, "r")
    if not f then return false, "cannot open script " .. tostring(ferr) end
    local src = f:read("a")
    f:close()
    if src:sub(1, 1) == "#" then src = "--" .. src end   -- allow a #! line
    fn, err = load(src, "@" .. path, "t", env)
    if fn and opts.mode == "check" then
      local problems = lint(path, src)
      if #problems > 0 then return false, table.concat(problems, "\n") end
    end
  else
    fn, err = load(code, "=(command line)", "t", env)
  end
  if not fn then return false, err end
  scripts[#scripts + 1] = {name = name, path = path, fn = fn, env = env}
  if opts.mode == "check" then
    core.write("ok  " .. (path or "(command line)") .. "\n")
    return true
  end
  -- The top level runs now, as a job: an error before its first wait is a load error.
  local t, terr = task.run_now(fn, {script = name, job = "main"})
  if not t then return false, terr end
  return true
end

-- start(): after every script loaded. Lua-side commands run here.
function M.start()
  if opts.command then
    local mod = require("runwatch.commands." .. opts.command)
    task.new(function()
      local status = mod.main(opts.args)
      if status and status ~= 0 then core.job_failed() end
    end, {script = opts.command, job = "main"})
  end
end

M.scripts = scripts
return M
