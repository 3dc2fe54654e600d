-- runwatch check's lint (scripts/lib/runwatch/lint.lua): the tokens it sees, the globals it
-- reports as read but never defined (and those it must not), the literal durations and cron
-- expressions it checks, and the line numbers after long strings, comments and escapes.
local t = require "testlib"
local lint = require "runwatch.lint"

local checks = {
  duration = function(s) if s:match("x") then return "bad duration " .. s end end,
  cron = function(s) if s:match("^60") then return "bad cron " .. s end end,
}
local KNOWN = {print = true, every = true, api = true, string = true, pairs = true, ipairs = true, require = true, math = true}
local function known(n) return KNOWN[n] == true end

local function run(src)
  local problems, warnings = lint.lint("s.lua", src, known, checks)
  return problems, warnings
end
-- the names warned about, "name@line" in order
local function warned(src)
  local _, w = run(src)
  local out = {}
  for _, line in ipairs(w) do
    local l, name = line:match("^s%.lua:(%d+): warning: global '([^']+)'")
    out[#out + 1] = name .. "@" .. l
  end
  return table.concat(out, " ")
end

-- tokens
local kinds = {}
lint.each('local x = a.b:c("s\\"q", [[long\n]], 1e+10, 0x1p-3, .5) -- c\n--[==[ x ]==] y..z ... ::l::', function(kind, v)
  kinds[#kinds + 1] = kind == "name" and v or kind == "op" and v or kind
end)
t.eq(table.concat(kinds, " "), 'local x = a . b : c ( string , string , number , number , number ) y .. z ... :: l ::', "tokens")

-- globals read but never defined
t.eq(warned("evry('5m', function() end)\n"), "evry@1", "a typo")
t.eq(warned("local a, b <const> = 1, 2\nprint(a, b)\n"), "", "locals and attributes")
t.eq(warned("local x\ny = 2\nprint(x, y)\n"), "", "a local list ends at the next statement; y is assigned")
t.eq(warned("local function f(p, q, ...) return p + q end\nf(1, 2)\n"), "", "a local function and its parameters")
t.eq(warned("function g(a) return a end\nprint(g(1))\n"), "", "a global function")
t.eq(warned("function M.h(a) return a end\n"), "M@1", "a field function reads its table")
t.eq(warned("local t = {}\nfunction t:m(a) return self, a end\n"), "self@2", "a method: self is not a parameter written in the source")
t.eq(warned("for i = 1, 2 do print(i) end\nfor k, v in pairs({}) do print(k, v) end\n"), "", "loop variables")
t.eq(warned("local t = {name = 1, other = 2}\nprint(t.name, t:other())\n"), "", "table keys, fields and methods")
t.eq(warned("print(1e10, 0xff, 3.5e-2)\n"), "", "numbers are not names (1e10 used to warn about 'e10')")
t.eq(warned("local s = 'a' .. missing\n"), "missing@1", "a read after .. (was taken for a field)")
t.eq(warned("for i = 1, 3 do\n  if i == 2 then goto continue end\n  ::continue::\nend\n"), "", "goto and labels")
t.eq(warned("print(unknown1)\nprint(unknown1, unknown2)\n"), "unknown1@1 unknown2@2", "first read, once")
t.eq(warned("print(later)\nlater = 1\n"), "", "defined anywhere in the file counts")
t.eq(warned("print(\"unknown_in_string\", [[unknown_in_long]]) -- unknown_in_comment\n--[[ unknown_in_block ]]\n"), "",
  "strings and comments hold no names")
t.eq(warned("local s = \"a\\\nb\"\nprint(after_escape)\n"), "after_escape@3", "an escaped newline in a string counts")
t.eq(warned("local s = [[\n\n\n]]\n--[==[\n\n]==]\nprint(after_long)\n"), "after_long@8", "lines after long strings and comments")
t.eq(warned("x = 1 y = x == z\n"), "z@1", "== is a comparison, = an assignment")

-- literal durations and cron expressions
local p = run('every("5x", f)\nlocal w = {every = "1x", ["for"] = "2x", stale_after = "3m"}\ncron("60 * * * *", f)\nsleep(\'9x\')\nx.every("7x")\n')
t.eq(#p, 6, "six bad literals: " .. table.concat(p, " | "))
t.eq(p[1], "s.lua:1: bad duration 5x", "every(...)")
t.eq(p[2], "s.lua:2: bad duration 1x", "{every = ...}")
t.eq(p[3], "s.lua:2: bad duration 2x", '{["for"] = ...}')
t.eq(p[4], "s.lua:3: bad cron 60 * * * *", "cron(...)")
t.eq(p[5], "s.lua:4: bad duration 9x", "sleep('...')")
t.eq(p[6], "s.lua:5: bad duration 7x", "a method or field named every")
t.eq(#run('every(interval, f)\nlocal t = {every = var}\nprint("every(\\"5x\\")")\n'), 0, "no literal, or inside a string: nothing")

t.done()
