-- The command line's one table (cli/spec.lua) and one parser (cli/parse.lua) (issue 17 item 2,
-- issue 14 "commands declared once"): every command's --help names all its options, exit
-- statuses and examples (checked against the table, through the real binary); options before
-- or after the command; values checked by type; the man page made from the same table; the
-- C side and the table agree on log levels; every Lua command's module exists.
local t = require "testlib"
local spec = require "runwatch.cli.spec"
local parse = require "runwatch.cli.parse"
local help = require "runwatch.cli.help"

local bin = assert(os.getenv("RW_BIN"), "RW_BIN")
local lib = os.getenv("RW_TESTS") .. "/../scripts/lib"

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
-- run(args...) -> stdout, stderr, exit status of the binary
local n_run = 0
local function run(...)
  n_run = n_run + 1
  local errf = os.tmpname()
  local parts = {sh_quote(bin), "--lib-dir", sh_quote(lib)}
  for _, a in ipairs({...}) do parts[#parts + 1] = sh_quote(a) end
  local p = io.popen(table.concat(parts, " ") .. " 2>" .. errf)
  local out = p:read("a")
  local _, _, code = p:close()
  local f = io.open(errf)
  local err = f:read("a")
  f:close()
  os.remove(errf)
  return out, err, code
end

local function has(text, s) return text:find(s, 1, true) ~= nil end

-- {====== the table itself: names unique, one meaning per option name, no clash with globals

local globals = {}
for _, o in ipairs(spec.global) do
  t.ok(globals[o.name] == nil, "global option listed once: " .. o.name)
  globals[o.name] = o
  if o.short then globals[o.short] = o end
  t.ok(type(o.help) == "string" and #o.help > 5, o.name .. " has help")
end
local seen_cmd, arity = {}, {}
for _, c in ipairs(spec.commands) do
  t.ok(not seen_cmd[c.name], "command listed once: " .. c.name)
  seen_cmd[c.name] = true
  t.ok((c.mode ~= nil) ~= (c.module ~= nil) or c.print ~= nil, c.name .. ": run by C (mode), by Lua (module) or by the parser (print)")
  t.ok(type(c.summary) == "string" and type(c.description) == "string", c.name .. " has a summary and a description")
  t.ok(type(c.exit) == "table" and #c.exit >= 2, c.name .. " lists its exit statuses")
  t.ok(type(c.examples) == "table" and #c.examples >= 1, c.name .. " has examples")
  for _, o in ipairs(c.options or {}) do
    t.ok(globals[o.name] == nil and (o.short == nil or globals[o.short] == nil),
      c.name .. " " .. o.name .. " is not also a global option")
    local kind = o.value and (o.optional and "optional" or "value") or "flag"
    if arity[o.name] then
      t.eq(kind, arity[o.name], o.name .. " means the same in every command (so it can come before the command name)")
    end
    arity[o.name] = kind
  end
  if c.module then
    local ok, mod = pcall(require, c.module)
    t.ok(ok and type(mod) == "table" and type(mod.main) == "function", c.name .. ": " .. c.module .. ".main exists")
    t.ok(ok and mod.USAGE == nil and mod.parse == nil, c.name .. ": no usage text or argv parser of its own")
  end
end
for _, name in ipairs({"run", "once", "check", "status", "log", "inspect", "export", "help"}) do
  t.ok(seen_cmd[name], "the table declares " .. name)
end
-- export's formats are its --format choices
do
  local fmt
  for _, o in ipairs(parse.commands.export.options) do if o.name == "--format" then fmt = o end end
  local formats = require("runwatch.export").FORMATS
  for _, c in ipairs(fmt.choices) do t.ok(formats[c] ~= nil, "--format " .. c .. " is an export format") end
end

-- }======

-- {====== --help of every command, from the binary: every option, exit status and example

local global_help, gerr, gcode = run("--help")
t.eq(gcode, 0, "runwatch --help exits 0: " .. gerr)
for _, c in ipairs(spec.commands) do
  t.ok(has(global_help, "  " .. c.name .. " ") or has(global_help, "  " .. c.name .. "\n"), "runwatch --help lists " .. c.name)
end
for _, o in ipairs(spec.global) do t.ok(has(global_help, help.label(o)), "runwatch --help names " .. help.label(o)) end

for _, c in ipairs(spec.commands) do
  local out, err, code = run(c.name, "--help")
  t.eq(code, 0, c.name .. " --help exits 0: " .. err)
  t.ok(out:sub(1, #("usage: runwatch " .. c.name)) == "usage: runwatch " .. c.name, c.name .. " --help starts with its usage")
  t.eq(out, help.text(c), c.name .. " --help is the table's text")
  for _, o in ipairs(c.options or {}) do
    t.ok(has(out, help.label(o)), c.name .. " --help names its option " .. help.label(o))
  end
  for _, o in ipairs(spec.global) do
    t.ok(has(out:gsub("\n%s*", " "), help.label(o)), c.name .. " --help names the global option " .. help.label(o))
  end
  for _, e in ipairs(c.exit) do
    t.ok(out:find("\n  " .. e[1] .. "%s+") ~= nil, c.name .. " --help gives exit status " .. e[1])
  end
  for _, e in ipairs(c.examples) do t.ok(has(out, e[1]), c.name .. " --help shows the example " .. e[1]) end
  -- the same help before the command name, with -h, and from `runwatch help NAME`
  t.eq((run("--help", c.name)), out, "runwatch --help " .. c.name)
  t.eq((run(c.name, "-h")), out, c.name .. " -h")
  t.eq((run("help", c.name)), out, "runwatch help " .. c.name)
end
-- a help text that lost an option would fail the check above: the check can fail
do
  local c = parse.commands.log
  local text = help.text(c):gsub("%-%-rule NAME", "")
  t.ok(not has(text, "--rule NAME"), "a help text without --rule is caught")
end

-- }======

-- {====== the parser: positions, forms, types, errors

local function p(...) return parse.parse({...}) end
local r = p("--state", "s.db", "status", "--json")
t.eq({r.command, r.global.state, r.options.json, r.err}, {"status", "s.db", true, nil}, "global before, command option after")
r = p("--json", "status", "--state=s.db")
t.eq({r.command, r.global.state, r.options.json, r.err}, {"status", "s.db", true, nil}, "command option before the command, --opt=value")
r = p("log", "--limit", "5", "--since=1h", "--rule", "--weird")
t.eq({r.options.limit, math.type(r.options.limit), r.options.since, r.options.rule}, {5, "integer", "1h", "--weird"},
  "values converted; a value may start with a dash")
r = p("once", "-e", "print(1)", "-e", "print(2)", "a.lua", "--cpu-budget", "2.5", "--mem-limit", "64", "b.lua")
t.eq({r.global.code, r.args, r.global.cpu_budget, r.global.mem_limit}, {{"print(1)", "print(2)"}, {"a.lua", "b.lua"}, 2.5, 64},
  "-e repeats; scripts around options")
r = p("-e", "print(1)")
t.eq({r.command, r.err}, {"once", nil}, "-e alone implies once")
r = p("once", "--", "--odd.lua")
t.eq({r.args, r.err}, {{"--odd.lua"}}, "-- ends the options")
r = p("export", "-o", "x.csv", "--no-progress", "team/proj")
t.eq({r.options.output, r.options.progress, r.args[1]}, {"x.csv", false, "team/proj"}, "-o short name; --no-progress sets progress=false")
r = p("once", "--local", "x.lua")
t.eq({r.global.local_dir, r.args}, {"", {"x.lua"}}, "--local before a script: no DIR")
r = p("--local", "status")
t.eq({r.global.local_dir, r.command}, {"", "status"}, "--local before the command: no DIR")
r = p("--local", "runs", "once", "x.lua")
t.eq({r.global.local_dir, r.command}, {"runs", "once"}, "--local DIR")
r = p("export", "--local=", "team/p")
t.eq({r.global.local_dir, r.args[1]}, {"", "team/p"}, "--local= (empty: the default)")

local errors = {
  {{"once", "--bogus", "x.lua"}, "unknown option '--bogus'"},
  {{"once", "--json", "x.lua"}, "unknown option '--json' (runwatch once has no such option)"},
  {{"--json", "once", "x.lua"}, "unknown option '--json' (runwatch once has no such option)"},
  {{"frobnicate"}, "unknown command 'frobnicate'"},
  {{}, "no command given"},
  {{"once"}, "no script given"},
  {{"inspect"}, "no PATH given"},
  {{"export", "a/b", "c/d"}, "unexpected argument 'c/d' (one ENTITY/PROJECT expected)"},
  {{"status", "x"}, "unexpected argument 'x'"},
  {{"export", "--order"}, "option --order needs a value"},
  {{"status", "--json=1"}, "option --json takes no value"},
  {{"once", "--cpu-budget", "x", "a.lua"}, "bad --cpu-budget 'x' (a number of at least 0, in seconds)"},
  {{"once", "--mem-limit", "0", "a.lua"}, "bad --mem-limit '0' (a number of at least 1, in megabytes)"},
  {{"once", "--stop-grace", "-1", "a.lua"}, "bad --stop-grace '-1'"},
  {{"export", "--per-page", "1001"}, "bad --per-page '1001' (1 to 1000)"},
  {{"log", "--limit", "1.5"}, "bad --limit '1.5' (a whole number of at least 0)"},
  {{"once", "--log-level", "loud", "a.lua"}, "bad --log-level 'loud' (debug, info, warn, error or off)"},
  {{"export", "--format", "xml"}, "bad --format 'xml' (csv, jsonl or json)"},
  {{"help", "--completion", "zsh"}, "bad --completion 'zsh' (bash)"},
}
for _, e in ipairs(errors) do
  local res = parse.parse(e[1])
  t.ok(res.err and has(res.err, e[2]), table.concat(e[1], " ") .. " -> " .. e[2] .. " (got " .. tostring(res.err) .. ")")
end
-- through the binary: exit 2, the message, the command's usage line
local _, err, code = run("log", "--limit", "x")
t.eq(code, 2, "a usage error exits 2")
t.ok(has(err, "runwatch log: bad --limit 'x'") and has(err, "usage: runwatch log") and has(err, "Try 'runwatch log --help'"),
  "the error names the command, shows its usage: " .. err)
local _, err2, code2 = run("help", "nope")
t.eq(code2, 2, "help of an unknown command exits 2")
t.ok(has(err2, "unknown command 'nope'"), err2)

-- every log level the table offers is one the C side takes (the two lists are kept in step)
for _, level in ipairs(spec.LOG_LEVELS) do
  local _, lerr, lcode = run("once", "--log-level", level, "-e", "")
  t.eq(lcode, 0, "--log-level " .. level .. " accepted by the C side: " .. lerr)
end
local out = run("--log-format", "json", "--log-level", "debug", "-e", "log.debug('x')")
local _, lerr = run("--log-format", "json", "--log-level", "debug", "-e", "log.debug('hello there')")
t.ok(has(lerr, '"level":"debug"') and has(lerr, "hello there"), "global options reach the C side: " .. lerr .. out)

-- --version anywhere
local vout, _, vcode = run("status", "--version")
t.ok(vcode == 0 and vout:match("^runwatch %d+%.%d+"), "--version after a command: " .. vout)

-- }======

-- {====== the man page: from the same table, every command, option and environment variable

local man, merr, mcode = run("help", "--man")
t.eq(mcode, 0, "help --man exits 0: " .. merr)
t.ok(man:match("^%.\\\"") and has(man, ".TH RUNWATCH 1"), "a roff man page")
local function roff(s) return (s:gsub("\\", "\\e"):gsub("%-", "\\-")) end
for _, c in ipairs(spec.commands) do
  t.ok(has(man, '.SS "runwatch ' .. roff(c.name)), "the man page has a section for " .. c.name)
  for _, o in ipairs(c.options or {}) do t.ok(has(man, roff(o.name)), "the man page names " .. c.name .. " " .. o.name) end
end
for _, o in ipairs(spec.global) do t.ok(has(man, "\\fB" .. roff((o.short and (o.short .. ", ") or "") .. o.name)), "the man page names " .. o.name) end
for _, e in ipairs(spec.environment) do t.ok(has(man, roff(e[1])), "the man page names " .. e[1]) end
-- the built page (the build runs `runwatch help --man`) is this text; groff renders it cleanly
local build = bin:match("^(.*)/[^/]+$")
local f = io.open(build .. "/runwatch.1")
if f then
  local built = f:read("a")
  f:close()
  -- the built one came from the built-in library; this one from --lib-dir: the same source
  t.eq(built, man, "build/runwatch.1 is what runwatch help --man prints")
else
  t.ok(false, "the build made " .. build .. "/runwatch.1")
end
if os.execute("command -v groff >/dev/null 2>&1") then
  local tmp = os.tmpname()
  local fh = io.open(tmp, "w"); fh:write(man); fh:close()
  local gp = io.popen("groff -man -Tutf8 -ww " .. tmp .. " 2>&1 >/dev/null")
  local warnings = gp:read("a")
  gp:close()
  t.eq(warnings, "", "groff -ww renders the man page without a warning")
  local rp = io.popen("groff -man -Tascii " .. tmp .. " 2>/dev/null | col -b 2>/dev/null || groff -man -Tascii " .. tmp)
  local rendered = rp:read("a")
  rp:close()
  os.remove(tmp)
  t.ok(has(rendered, "runwatch export") and has(rendered, "--per-page"), "the rendered page reads as text")
else
  print("SKIP (render check): groff is not installed")
end

-- }======

t.ok(n_run > 30, "ran the binary " .. n_run .. " times")
t.done()
