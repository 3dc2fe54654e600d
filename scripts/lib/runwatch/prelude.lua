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
      if not ok then add(pos, err)
      elseif not cronmod.parse(arg):next(os.time(), "UTC") then
        add(pos, string.format('bad cron expression "%s": it never fires', arg))
      end
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

-- Globals a script reads but never defines, and that runwatch does not provide either: most
-- often a typo (evry, log.inof is not caught: only names). Found with a small tokenizer, so it
-- is a warning, never an error. Locals and parameters anywhere in the file count as defined.
local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat return then true until while"):gmatch("%a+") do KEYWORDS[w] = true end

local function strip(src)
  -- remove comments and strings, keep line breaks (so positions keep their line)
  local out, i, n = {}, 1, #src
  while i <= n do
    local c = src:sub(i, i)
    local lvl = src:match("^%-%-%[(=*)%[", i)
    if lvl then
      local e = src:find("]" .. lvl .. "]", i, true) or n
      out[#out + 1] = src:sub(i, e):gsub("[^\n]", " ")
      i = e + #lvl + 2
    elseif src:sub(i, i + 1) == "--" then
      local e = src:find("\n", i, true) or n + 1
      out[#out + 1] = string.rep(" ", e - i)
      i = e
    elseif src:match("^%[=*%[", i) then
      local l = src:match("^%[(=*)%[", i)
      local e = src:find("]" .. l .. "]", i, true) or n
      out[#out + 1] = src:sub(i, e + #l + 1):gsub("[^\n]", " ")
      i = e + #l + 2
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = src:sub(j, j)
        if d == "\\" then j = j + 2 elseif d == c or d == "\n" then break else j = j + 1 end
      end
      out[#out + 1] = '""' .. string.rep(" ", math.max(0, j - i - 1))
      i = j + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

local function undefined_globals(path, src)
  local code = strip(src)
  local defined = {}
  for names in code:gmatch("local%s+function%s+([%a_][%w_]*)") do defined[names] = true end
  for list in code:gmatch("local%s+([%a_][%w_%s,<>]*)") do
    for name in list:gmatch("[%a_][%w_]*") do if not KEYWORDS[name] then defined[name] = true end end
  end
  for params in code:gmatch("function[%s%w_.:]*%(([^)]*)%)") do
    for name in params:gmatch("[%a_][%w_]*") do defined[name] = true end
  end
  for list in code:gmatch("for%s+([%a_][%w_%s,]*)%s+in") do
    for name in list:gmatch("[%a_][%w_]*") do defined[name] = true end
  end
  for name in code:gmatch("for%s+([%a_][%w_]*)%s*=") do defined[name] = true end
  for name in code:gmatch("function%s+([%a_][%w_]*)%s*%(") do defined[name] = true end
  -- assignments to plain names (globals of the script)
  for pre, name in code:gmatch("([^.%w_:%s]?%s*)([%a_][%w_]*)%s*=[^=]") do defined[name] = true end
  local warnings, seen = {}, {}
  local pos = 1
  for start, name in code:gmatch("()([%a_][%w_]*)") do
    local before = code:sub(1, start - 1):match("([%.:]?)%s*$")
    if before == "" and not KEYWORDS[name] and not defined[name] and G[name] == nil and lazy[name] == nil
       and not seen[name] and name ~= "SCRIPT" and name ~= "_ENV" then
      -- a table constructor key ({name = ...}) is not a read
      local after = code:sub(start + #name):match("^%s*(.)")
      local prev = code:sub(1, start - 1):match("([{,])%s*$")
      if not (after == "=" and prev) and not (after == "=" and code:sub(start + #name):match("^%s*==") == nil) then
        seen[name] = true
        warnings[#warnings + 1] = string.format("%s:%d: warning: global '%s' is read but never defined (a typo?)",
          path, line_of(code, start), name)
      end
    end
  end
  return warnings
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
      local problems = lint(path, src)
      if #problems > 0 then return false, table.concat(problems, "\n") end
      for _, w in ipairs(undefined_globals(path, src)) do core.log("warn", w) end
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
