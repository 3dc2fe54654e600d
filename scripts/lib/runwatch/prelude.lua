-- The prelude: defines the globals scripts see (every, after, cron, spawn, log, http, json, ...),
-- loads each script with its own _ENV, runs `check`, and dispatches Lua-side commands.
local core = require "runwatch.core"
local task = require "runwatch.task"
local schedule = require "runwatch.schedule"

local M = {}
local opts = core.options()
-- the standard globals, before the prelude adds or replaces any (see M.global_names)
local STD = {}
for k, v in pairs(_G) do STD[k] = v end

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
  metric = "runwatch.conditions", all_of = "runwatch.conditions", any_of = "runwatch.conditions",
  none_of = "runwatch.conditions",
}
local lazy_field = { watch = "watch", rule = "rule", metric = "metric", all_of = "all_of", any_of = "any_of",
  none_of = "none_of" }

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
-- A table without __index (plain, or a JSON array) takes the C iterator: the library iterates
-- with this ipairs too, and the Lua one costs a function call per item.
local c_ipairs = ipairs
local function lua_inext(tt, i)
  i = i + 1
  local v = tt[i]
  if v ~= nil then return i, v end
end
G.ipairs = function(t)
  local mt = getmetatable(t)
  if mt == nil or (type(mt) == "table" and rawget(mt, "__index") == nil) then return c_ipairs(t) end
  return lua_inext, t, 0
end
G.sleep = function(d) return task.sleep(schedule.duration(d, "sleep", 2)) end

setmetatable(G, {__index = function(t, k)
  local mod = lazy[k]
  if not mod then return nil end
  local ok, m = pcall(require, mod)
  if not ok then error(m, 2) end
  local v = lazy_field[k] and m[lazy_field[k]] or m
  -- state("crashed", "failed") is a rule condition; state.get/set the store
  if k == "state" and getmetatable(v) == nil then
    setmetatable(v, {__call = require("runwatch.conditions").state})
  end
  rawset(t, k, v)
  return v
end})

-- Scripts get the debug library without sethook: a job could otherwise switch off the hook that
-- enforces its CPU budget and spin forever.
local script_debug = {}
for k, v in pairs(debug) do script_debug[k] = v end
script_debug.sethook = function()
  error("debug.sethook is not available to scripts (it would switch off the CPU budget)", 2)
end
G.debug = script_debug

-- print goes through the host's redaction, like the log; so do io.write and every file
-- handle's write when it leads to stdout or stderr (io.stdout, io.stderr, /dev/stdout, ...).
core.redact_stdio()
local function redacting_print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  core.write(table.concat(parts, "\t") .. "\n")
end
G.print = redacting_print

-- global_names() -> the sorted names of the globals runwatch gives a script (added or replaced
-- standard ones, the lazily loaded modules, SCRIPT): what runwatch.types must annotate
function M.global_names()
  local set = {SCRIPT = true}
  for k, v in pairs(G) do
    if type(k) == "string" and STD[k] ~= v and k ~= "_G" then set[k] = true end
  end
  for k in pairs(lazy) do set[k] = true end
  set.debug = nil   -- the standard library minus sethook
  local names = {}
  for k in pairs(set) do names[#names + 1] = k end
  table.sort(names)
  return names
end

local function script_name(path)
  return path and (path:match("([^/]+)$") or path) or "(command line)"
end

-- {====== check: compile, then lint what can be checked without running anything (lint.lua)

-- Literal schedule arguments are validated as they would be at run time; globals read but never
-- defined (and not provided by runwatch) are warnings: most often a typo (evry).
local function check_source(path, src)
  local okc, cronmod = pcall(require, "runwatch.cron")
  local checks = {
    duration = function(arg)
      local ok, err = pcall(cronmod.duration, arg)
      if not ok then return (tostring(err):gsub("^[^:]*:%d+: ", "")) end
    end,
    cron = function(arg)
      local ok, err = cronmod.valid(arg)
      if not ok then return err end
      if not cronmod.parse(arg):next(os.time(), "UTC") then
        return string.format('bad cron expression "%s": it never fires', arg)
      end
    end,
  }
  if not okc then checks = {duration = function() end, cron = function() end} end
  local function known(name)
    return G[name] ~= nil or lazy[name] ~= nil or name == "SCRIPT" or name == "_ENV"
  end
  return require("runwatch.lint").lint(path, src, known, checks)
end

-- }======

local function new_env(name)
  local env = setmetatable({}, {__index = G})
  env.SCRIPT = name
  env._ENV_NAME = name
  return env
end

local load_one

-- load_script(path, code) -> true, or false, "file:line: message". A directory stands for the
-- *.lua files in it, in name order (a service's script set; a reload sees files added since).
function M.load_script(path, code)
  local fswatch = require "runwatch.fswatch"
  local st = path and fswatch.stat(path)
  if not (st and st.type == "directory") then return load_one(path, code) end
  local names, derr = fswatch.dir(path)
  if not names then return false, "cannot read directory " .. tostring(derr) end
  local n = 0
  for _, f in ipairs(names) do
    if f:match("%.lua$") then
      local sub = path:gsub("/+$", "") .. "/" .. f
      local fst = fswatch.stat(sub)
      if fst and fst.type ~= "directory" then
        n = n + 1
        local ok, err = load_one(sub)
        if not ok then return false, err end
      end
    end
  end
  if n == 0 then return false, path .. ": no *.lua script in this directory" end
  return true
end

function load_one(path, code)
  local name = script_name(path)
  local env = new_env(name)
  local fn, err
  if path then
    local f, ferr = io.open(path, "r")
    if not f then return false, "cannot open script " .. tostring(ferr) end
    local rok, src, rerr = pcall(f.read, f, "a")       -- a script larger than --mem-limit
    f:close()
    if not rok then return false, path .. ": out of memory while loading (" .. tostring(src) .. ")" end
    if not src then return false, "cannot read script " .. path .. ": " .. tostring(rerr) end
    if src:sub(1, 3) == "\239\187\191" then src = src:sub(4) end   -- a UTF-8 BOM, as lua.c skips it
    if src:sub(1, 1) == "#" then src = "--" .. src end   -- allow a #! line
    local lok
    lok, fn, err = pcall(load, src, "@" .. path, "t", env)
    if not lok then fn, err = nil, path .. ": out of memory while loading (" .. tostring(fn) .. ")" end
    -- every load error names the script (binary chunks, memory, the parser's limits say nothing)
    if not fn and not tostring(err):find(path, 1, true) then err = path .. ": " .. tostring(err) end
    if fn and opts.mode == "check" then
      fn = nil                                   -- the compiled chunk is not needed: free it first
      collectgarbage()
      local problems, warnings = check_source(path, src)
      if #problems > 0 then return false, table.concat(problems, "\n") end
      for _, w in ipairs(warnings) do core.log("warn", w) end
      scripts[#scripts + 1] = {name = name, path = path, env = env}
      core.write("ok  " .. path .. "\n")
      return true
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
    -- the same parse as the C side's (which already printed any usage error or help)
    local p = require("runwatch.cli.parse").parse(opts.argv)
    local mod = require(p.cmd.module)
    task.new(function()
      local status = mod.main(p.options, p.args)
      if math.type(status) == "integer" and status ~= 0 then core.set_exit_status(status) end
    end, {script = opts.command, job = "main"})
  end
end

M.scripts = scripts
return M
