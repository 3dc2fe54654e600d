-- The one option parser of the command line: argv against cli/spec.lua's table. Global and
-- command options are accepted before or after the command name; values are checked and
-- converted by their declared type. Run by the C side before the app starts (through
-- cli/entry.lua: global options, help, usage errors) and by the prelude for a Lua command's own
-- options.
local spec = require "runwatch.cli.spec"

local M = {}

local function key_of(o) return o.key or o.name:gsub("^%-+", ""):gsub("%-", "_") end
M.key_of = key_of

-- indexes: global options by name and short name; commands by name, each with its options
local global_opt = {}
for _, o in ipairs(spec.global) do
  global_opt[o.name] = o
  if o.short then global_opt[o.short] = o end
end
local commands, any_opt = {}, {}
for _, c in ipairs(spec.commands) do
  commands[c.name] = c
  c.opt_index = {}
  for _, o in ipairs(c.options or {}) do
    c.opt_index[o.name] = o
    if o.short then c.opt_index[o.short] = o end
    any_opt[o.name] = any_opt[o.name] or o
    if o.short then any_opt[o.short] = any_opt[o.short] or o end
  end
end
M.commands = commands

-- "(csv, jsonl or json)"
local function one_of(list)
  if #list == 1 then return list[1] end
  return table.concat(list, ", ", 1, #list - 1) .. " or " .. list[#list]
end
M.one_of = one_of

-- check and convert one option's value -> value, or nil, message
local function convert(o, v)
  local t = o.type or "string"
  if t == "string" then return v end
  if t == "choice" then
    for _, c in ipairs(o.choices) do if c == v then return v end end
    return nil, string.format("bad %s '%s' (%s)", o.name, v, one_of(o.choices))
  end
  local n = tonumber(v)
  if t == "integer" then n = n and math.tointeger(n) end
  local bad = not n or n ~= n or n == math.huge or (o.min and n < o.min) or (o.max and n > o.max)
  if not bad then return n end
  local what
  if o.min and o.max then what = string.format("%s to %s", o.min, o.max)
  elseif t == "integer" then what = "a whole number" .. (o.min and " of at least " .. o.min or "")
  else what = "a number" .. (o.min and " of at least " .. o.min or "") end
  if o.value == "SECS" then what = what .. ", in seconds" elseif o.value == "MB" then what = what .. ", in megabytes" end
  return nil, string.format("bad %s '%s' (%s)", o.name, v, what)
end

-- Is `word` a script rather than --local's DIR? (a *.lua that is not a directory)
local function is_script_file(word)
  if not word:match("%.lua$") then return false end
  local f = io.open(word, "r")
  if not f then return true end
  local ok, _, code = f:read(0)
  f:close()
  return not (ok == nil and code == 21)   -- EISDIR: a directory named *.lua is a DIR
end

-- parse(argv) -> result: {command = name|nil, cmd = its spec, global = {key = value},
-- options = {key = value}, args = {...}, help = bool, version = bool, err = message|nil}.
-- Values are converted (numbers, integers); multi options are lists; an optional value left
-- out is "".
function M.parse(argv)
  local r = {global = {}, options = {}, args = {}}
  local deferred = {}     -- command options met before the command name: {o, value}
  local function fail(msg) r.err = r.err or msg end
  local function store(dest, o, v)
    local k = key_of(o)
    if o.multi then
      dest[k] = dest[k] or {}
      table.insert(dest[k], v)
    else
      dest[k] = v
    end
  end
  local i, n, ended = 1, #argv, false
  while i <= n do
    local a = argv[i]
    if not ended and a == "--" then
      ended = true
    elseif not ended and a:sub(1, 1) == "-" and a ~= "-" then
      local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
      name = name or a
      local o = global_opt[name] or (r.cmd and r.cmd.opt_index[name]) or (not r.cmd and any_opt[name])
      local is_global = global_opt[name] ~= nil
      if not o then
        fail(string.format("unknown option '%s'%s", name,
          r.cmd and any_opt[name] and (" (runwatch " .. r.cmd.name .. " has no such option)") or ""))
      else
        local v
        if not o.value then
          if inline then fail("option " .. name .. " takes no value") end
          v = o.set == nil and true or o.set
        elseif inline then
          v = inline
        elseif o.optional then
          local nx = argv[i + 1]
          if nx == nil or (nx:sub(1, 1) == "-" and nx ~= "-") or is_script_file(nx)
             or (not r.cmd and commands[nx]) then
            v = ""
          else
            v, i = nx, i + 1
          end
        else
          v, i = argv[i + 1], i + 1
          if v == nil then fail("option " .. name .. " needs a value") end
        end
        if v ~= nil and o.value and not (o.optional and v == "") then
          local cv, e = convert(o, v)
          if cv == nil then fail(e) end
          v = cv
        end
        if v ~= nil then
          if o.name == "--help" then r.help = true
          elseif o.name == "--version" then r.version = true
          elseif is_global then store(r.global, o, v)
          elseif r.cmd then store(r.options, o, v)
          else deferred[#deferred + 1] = {o, v} end
        end
      end
    elseif not r.cmd then
      local c = commands[a]
      if c then r.cmd, r.command = c, a
      else fail(string.format("unknown command '%s'", a)) ; r.bad_command = true end
    else
      r.args[#r.args + 1] = a
    end
    i = i + 1
  end
  if not r.cmd and r.global.code and not r.bad_command then r.cmd, r.command = commands.once, "once" end
  if r.help or r.version then r.err = nil return r end
  if r.err then return r end
  if not r.cmd then r.err = "no command given" return r end
  for _, d in ipairs(deferred) do
    local o, v = d[1], d[2]
    if r.cmd.opt_index[o.name] ~= o and r.cmd.opt_index[o.short or ""] ~= o then
      r.err = string.format("unknown option '%s' (runwatch %s has no such option)", o.name, r.cmd.name)
      return r
    end
    store(r.options, o, v)
  end
  local as = (r.cmd.args or {})[1]
  local min = as and as.min or 0
  local max = as and (as.max or (as.many and math.huge) or 1) or 0
  local count = #r.args + ((r.cmd.mode and r.global.code) and #r.global.code or 0)
  if #r.args > max then
    r.err = string.format("unexpected argument '%s'%s", r.args[max + 1],
      as and (" (" .. (max == 1 and "one " or "at most " .. max .. " ") .. as.name .. " expected)") or "")
  elseif count < min then
    r.err = as.missing or ("no " .. as.name .. " given")
  end
  for _, o in ipairs(r.cmd.options or {}) do
    if not r.err and o.required and r.options[key_of(o)] == nil then
      r.err = string.format("%s %s is required", o.name, o.value or "")
    end
  end
  return r
end

-- synopsis(cmd|nil) -> "usage: runwatch export [ENTITY/PROJECT] [OPTIONS]"
function M.synopsis(c)
  if not c then return "usage: runwatch COMMAND [ARGS...] [OPTIONS]" end
  local s = "usage: runwatch " .. c.name
  local as = (c.args or {})[1]
  if as then
    local w = as.name .. (as.many and "..." or "")
    if (as.min or 0) == 0 then w = "[" .. w .. "]" end
    s = s .. " " .. w
  end
  s = s .. " [OPTIONS]"
  if c.mode then s = s .. "\n       runwatch " .. c.name .. " -e CODE [SCRIPT...] [OPTIONS]" end
  return s
end

-- The text of a usage error, for stderr.
function M.error_text(cmd_name, msg)
  local c = cmd_name and commands[cmd_name]
  return string.format("runwatch%s: %s\n%s\nTry 'runwatch%s --help'.\n", c and (" " .. c.name) or "", msg,
    M.synopsis(c), c and (" " .. c.name) or "")
end

-- usage_error(cmd_name, msg) -> 2: a Lua command's own check of its options failed
function M.usage_error(cmd_name, msg)
  io.stderr:write(M.error_text(cmd_name, msg))
  return 2
end

return M
