-- Issue 17 item 1: the editor annotations (scripts/lib/runwatch/types.lua, what `runwatch types`
-- writes) never drift from the library. Every global a script sees and every name of the tables
-- and objects it gets back must be annotated, and every annotated name must exist: the
-- annotations are parsed here and compared with the real globals, modules and objects at run
-- time (a name added to the library without an annotation, or an annotation of a name that is
-- gone, fails this test).
local t = require "testlib"
local text = require "runwatch.types"

-- {====== the annotations: classes with their members, globals, which variable is which class
local classes, globals, var_class = {}, {}, {}
local cur
local function class(name)
  classes[name] = classes[name] or {fields = {}, methods = {}}
  return classes[name]
end
for line in (text .. "\n"):gmatch("([^\n]*)\n") do
  local cname, rest = line:match("^%-%-%-@class ([%w_.]+)(.*)$")
  if cname then
    cur = cname
    class(cname).parent = rest:match("^%s*:%s*([%w_.]+)")
  elseif line:match("^%-%-%-@field ") then
    local f = line:match("^%-%-%-@field ([%w_]+)")
    if cur and f then class(cur).fields[f] = true end
  elseif line:match("^%-%-%-") then
    -- other annotations (---@param, ---@type, ---@overload, ---@private) keep the class open
  else
    local lvar = line:match("^local ([%a_][%w_]*) = ")
    local gvar = line:match("^([%a_][%w_]*) = ")
    local gfun = line:match("^function ([%a_][%w_]*)%(")
    local tvar, member = line:match("^function ([%a_][%w_]*)[.:]([%a_][%w_]*)%(")
    if lvar then var_class[lvar] = cur end
    if gvar then globals[gvar] = true; var_class[gvar] = cur end
    if gfun then globals[gfun] = true end
    if tvar then
      local c = var_class[tvar]
      t.ok(c ~= nil, "types.lua: function " .. tvar .. "." .. member .. " on a variable with no ---@class")
      if c then class(c).methods[member] = true end
    end
    cur = nil
  end
end
t.ok(next(globals) ~= nil and classes["runwatch.Run"] ~= nil, "the annotations parsed")
-- }======

local function sorted(set)
  local l = {}
  for k in pairs(set) do l[#l + 1] = k end
  table.sort(l)
  return l
end

-- same(what, runtime_set, annotated_set): both directions, naming each difference
local function same(what, runtime, annotated)
  for _, k in ipairs(sorted(runtime)) do
    t.ok(annotated[k], what .. ": '" .. k .. "' exists but has no annotation in runwatch/types.lua")
  end
  for _, k in ipairs(sorted(annotated)) do
    t.ok(runtime[k], what .. ": '" .. k .. "' is annotated but does not exist")
  end
end

local function members(cname, kinds)
  local c = assert(classes[cname], "no ---@class " .. cname)
  local s = {}
  if kinds ~= "methods" then for k in pairs(c.fields) do s[k] = true end end
  for k in pairs(c.methods) do s[k] = true end
  return s
end

-- the public names of a table: string keys, no _private or __meta names
local function names_of(tbl, only_functions)
  local s = {}
  for k, v in pairs(tbl) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and (not only_functions or type(v) == "function") then s[k] = true end
  end
  return s
end

-- 1. the globals a script sees
local runtime_globals = {}
for _, n in ipairs(require("runwatch.prelude").global_names()) do runtime_globals[n] = true end
same("global", runtime_globals, globals)

-- 2. the tables behind the globals: every name, public or the library's own (---@private)
for _, g in ipairs{"runwatch", "http", "json", "log", "api", "state", "export", "report", "actions"} do
  local cname = var_class[g]
  t.ok(cname ~= nil, "global table " .. g .. " has a ---@class")
  if cname then same(g, names_of(_ENV[g]), members(cname)) end
end

-- 3. the objects scripts get back
local function upvalue(fn, name)
  for i = 1, 256 do
    local n, v = debug.getupvalue(fn, i)
    if not n then return nil end
    if n == name then return v end
  end
end
local run_mod = require "runwatch.run"
local run_names = names_of(run_mod.Run)
for k in pairs(run_mod.getters) do run_names[k] = true end
run_names.metadata, run_names.rawconfig = true, true   -- served by run.lua's __index itself
same("Run", run_names, members("runwatch.Run"))

local a = api.Api{}
local api_methods = names_of(assert(upvalue(getmetatable(a).__index, "Api"), "api.lua's Api table"))
api_methods.default_entity = true                        -- api.lua's __index asks it once
same("Api", api_methods, members("runwatch.Api"))

local paged = require "runwatch.paged"
same("Runs", names_of(assert(upvalue(paged.MT.__index, "Paged"), "paged.lua's Paged table")), members("runwatch.Runs", "methods"))

same("Watch", names_of(require("runwatch.watch").Watch, true), members("runwatch.Watch", "methods"))
same("File", names_of(require("runwatch.files").File, true), members("runwatch.File", "methods"))

local s = every("1h", function() end)
same("Schedule", names_of(getmetatable(s).__index, true), members("runwatch.Schedule"))
s:stop()
local tk = spawn(function() end)
same("Task", names_of(getmetatable(tk).__index, true), members("runwatch.Task"))
tk:wait()

local cond = metric("loss")
same("Condition", names_of(getmetatable(cond).__index, true), members("runwatch.Condition"))

local w = watch{project = "e/p"}
local r = rule{name = "types-test", watch = w, when = function() end}
same("Rule", names_of(getmetatable(r).__index, true), members("runwatch.Rule"))
w:stop()

-- a sweep with every attribute W&B sends, so that each of its fields is there
local sw = require("runwatch.sweeps").new(a, "e", "p", {name = "s1", displayName = "S", state = "RUNNING",
  method = "bayes", bestLoss = 0.1, config = "metric:\n  name: loss\n  goal: minimize\nmethod: bayes\n",
  createdAt = "2024-01-01T00:00:00Z", updatedAt = "2024-01-02T00:00:00Z", runCount = 3,
  runCountExpected = 10, description = "d", id = "U3dlZXA6MQ=="})
local sweep_names = names_of(sw)
for k in pairs(names_of(getmetatable(sw), true)) do sweep_names[k] = true end
sweep_names.runs = true                                  -- sweeps.lua's __index lists them on use
same("Sweep", sweep_names, members("runwatch.Sweep"))

-- 4. the options tables: each ---@class of options names exactly what the library accepts (the
-- modules' own KNOWN sets, found among the upvalues of the functions that check them)
local function find_upvalue(fn, name, depth, seen)
  seen = seen or {}
  if depth < 0 or seen[fn] then return nil end
  seen[fn] = true
  for i = 1, 256 do
    local n, v = debug.getupvalue(fn, i)
    if not n then break end
    if n == name and type(v) == "table" then return v end
    if type(v) == "function" then
      local r = find_upvalue(v, name, depth - 1, seen)
      if r then return r end
    end
  end
end
local function known(fn, name)
  local k = find_upvalue(fn, name or "KNOWN", 3)
  t.ok(k ~= nil, "found the accepted options of " .. tostring(name or "KNOWN"))
  return k or {}
end
same("watch{} options", known(require("runwatch.watch").watch), members("runwatch.WatchSpec"))
same("rule{} options", known(require("runwatch.rules").rule), members("runwatch.RuleSpec"))
same("Api{} options", known(require("runwatch.api").Api), members("runwatch.ApiOptions"))
local sched_known = known(require("runwatch.schedule").every)
local sched = {}
for _, kind in pairs(sched_known) do for k in pairs(kind) do sched[k] = true end end
same("every/after/cron options", sched, members("runwatch.ScheduleOptions"))
same("http options", known(require("runwatch.http").request), members("runwatch.HttpOptions"))

-- 5. the text is what LuaLS reads: a meta file, no code that runs
t.ok(text:match("^%-%-%-@meta") ~= nil, "starts with ---@meta")
t.ok(load(text, "=types", "t") ~= nil, "it is valid Lua")
t.done()
