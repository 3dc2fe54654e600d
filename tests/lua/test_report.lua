-- report.render/report.html without a server: self-contained HTML (no scripts, no external
-- references), tables, charts with one path point per data row and gaps for NaN, axes and
-- legend, escaping of every text (markup in names, titles, cells; bad UTF-8; control bytes),
-- well-formed markup, misuse errors, and the file written whole.
local t = require "testlib"

-- a small XML-ish checker: every tag closed in order (HTML void elements allowed unclosed)
local VOID = {meta = true, br = true, img = true, hr = true, input = true, link = true}
local function balanced(s)
  local stack = {}
  s = s:gsub("<!DOCTYPE[^>]*>", ""):gsub("<style>.-</style>", "")
  for slash, name, rest in s:gmatch("<(/?)([%w:-]+)([^>]*)>") do
    name = name:lower()
    if slash == "/" then
      local top = table.remove(stack)
      if top ~= name then return false, "</" .. name .. "> closes <" .. tostring(top) .. ">" end
    elseif not rest:match("/$") and not VOID[name] then
      stack[#stack + 1] = name
    end
  end
  if #stack > 0 then return false, "unclosed <" .. stack[#stack] .. ">" end
  if s:find("<[^%w/!]") then return false, "a stray '<'" end
  return true
end

local function paths_of(html)
  local out = {}
  for tag in html:gmatch("<path [^>]*>") do
    local cmds, ms = 0, 0
    local d = tag:match(' d="([^"]*)"')
    for c in d:gmatch("[ML]") do cmds = cmds + 1; if c == "M" then ms = ms + 1 end end
    out[#out + 1] = {rows = tonumber(tag:match('data%-rows="(%d+)"')), points = tonumber(tag:match('data%-points="(%d+)"')),
      cmds = cmds, moves = ms, series = tag, d = d}
  end
  return out
end

local evil = '<script>alert("x")</script> & <img src=x onerror=alert(1)> \'q\''
local rows = {}
for i = 1, 50 do rows[i] = {_step = i - 1, loss = 1 / i, acc = i / 50} end
rows[20].loss = 0 / 0
rows[21].loss = 1 / 0

local html = report.render{title = "weekly " .. evil, sections = {
  {type = "text", text = "first " .. evil .. "\nsame paragraph\n\nsecond paragraph"},
  {type = "table", title = evil, rows = {{name = evil, loss = 0.5, n = 3, ok = true}, {name = "β,🚀", loss = 0 / 0}},
    columns = {"name", "loss", "n", "ok"}},
  {type = "chart", title = "loss " .. evil, x = "_step", y = {"loss", "acc"},
    series = {{name = "run " .. evil, rows = rows}}},
  {type = "chart", title = "points", y = "metric",
    series = {{name = "a", points = {{0, 1}, {10, 2}, {20, 1.5}}}, {name = "b", x = {0, 5, 10}, y = {3, 2, 1}}}},
  {type = "chart", title = "empty", y = "loss", series = {{name = "nothing", rows = {}}}},
}}

t.ok(html:match("^<!DOCTYPE html>") ~= nil, "an HTML5 document")
do
  local okb, why = balanced(html)
  t.ok(okb, "every tag closed in order: " .. tostring(why))
end
t.ok(not html:find("<script", 1, true), "no script element (the evil names are escaped)")
t.ok(not html:find("<img", 1, true), "no img element")
t.ok(not html:find("onerror=alert%(1%)>"), "no live attribute")
t.ok(html:find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt; &#39;q&#39;", 1, true) ~= nil,
  "names shown escaped")
t.ok(not html:find("https?://[%w.]+/[%w/]*%.[cj]ss?"), "no external stylesheet or script")
t.ok(not html:find(' src="', 1, true) and not html:find(' href="', 1, true), "no external references")
t.ok(html:find("<title>weekly &lt;script&gt;", 1, true) ~= nil, "title escaped")
t.ok(html:find("<p>first &lt;script&gt;.-<br/>same paragraph</p>") ~= nil, "line break inside a paragraph")
t.ok(html:find("<p>second paragraph</p>", 1, true) ~= nil, "blank line: a new paragraph")
t.ok(html:find('<td class="num">0.5</td><td class="num">3</td><td>True</td>', 1, true) ~= nil, "table cells")
t.ok(html:find('<td>β,🚀</td><td class="num">NaN</td><td></td><td></td>', 1, true) ~= nil, "missing cells empty, NaN shown")

local ps = paths_of(html)
t.eq(#ps, 5, "loss, acc, a, b, nothing")
t.eq(ps[1].rows, 50, "loss: one row per data row")
t.eq(ps[1].points, 48, "loss: NaN and inf rows are not drawn")
t.eq(ps[1].cmds, 48, "loss: one M/L per point")
t.eq(ps[1].moves, 2, "loss: the line breaks at the gap")
t.eq(ps[2].points, 50, "acc: a point per row")
t.eq(ps[2].cmds, 50)
t.eq(ps[2].moves, 1, "acc: one unbroken line")
t.eq({ps[3].points, ps[4].points}, {3, 3}, "points= and x=/y= series")
t.eq(ps[5].points, 0, "empty series")
t.ok(html:find(">no data</text>", 1, true) ~= nil, "an empty chart says so")
-- hover: a <title> per point
local titles = 0
for _ in html:gmatch("<circle [^>]*><title>") do titles = titles + 1 end
t.eq(titles, 48 + 50 + 3 + 3, "a hover title per point")
t.ok(html:find("<title>run &lt;script&gt;.- = 0, acc = 0.02</title>") ~= nil, "hover text names series, x and y")
-- axes: ticks with labels, both axis labels, a legend entry per line
local svg1 = html:match('<svg [^>]*id="chart%-1".-</svg>')
local yt, xt = 0, 0
for _ in svg1:gmatch('text%-anchor="end" dominant%-baseline="middle">[^<]+</text>') do yt = yt + 1 end
for _ in svg1:gmatch('<line class="tick"') do xt = xt + 1 end
t.ok(yt >= 4 and yt <= 12, "y ticks: " .. yt)
t.ok(xt >= 4 and xt <= 12, "x ticks: " .. xt)
t.ok(svg1:find('>_step</text>', 1, true) ~= nil, "x axis label")
t.ok(svg1:find('>loss, acc</text>', 1, true) ~= nil, "y axis label")
t.ok(svg1:find('>0.4</text>', 1, true) ~= nil and svg1:find('>40</text>', 1, true) ~= nil, "round tick labels")
local legend = html:match('<ul class="legend">(.-)</ul>')
local items = 0
for _ in legend:gmatch("<li>") do items = items + 1 end
t.eq(items, 2, "legend: one entry per line")
t.ok(legend:find("run &lt;script&gt;", 1, true) ~= nil, "legend escaped")

-- table floats: 6 significant digits by default, the exact value on hover; digits = false: exact
do
  local tr = {{x = 1 / 3, y = 0.25, z = 1 << 60}}
  local h = report.render{sections = {{type = "table", rows = tr, columns = {"x", "y", "z"}}}}
  t.ok(h:find('<td class="num" title="0.3333333333333333">0.333333</td><td class="num">0.25</td><td class="num">1152921504606846976</td>', 1, true) ~= nil,
    "rounded floats, exact on hover, integers exact")
  h = report.render{sections = {{type = "table", rows = tr, columns = {"x"}, digits = false}}}
  t.ok(h:find('<td class="num">0.3333333333333333</td>', 1, true) ~= nil, "digits = false: exact")
  t.checkerr("digits = 1 to 17", report.render, {sections = {{type = "table", rows = tr, digits = 0}}})
end

-- bad UTF-8 and control bytes in names become U+FFFD: the document stays valid UTF-8
local bad = report.render{title = "x\0y\1z\255w", sections = {{type = "text", text = "\192\128 ok \237\160\128"}}}
t.ok(utf8.len(bad) ~= nil, "output is valid UTF-8")
t.ok(not bad:find("[%z\1-\8\11\12\14-\31]"), "no control characters")
t.ok(bad:find("<title>x\239\191\189y\239\191\189z\239\191\189w</title>", 1, true) ~= nil, "replacement characters")

-- report.html writes one file, whole
local path = os.tmpname()
local p, err = report.html{title = "file", path = path, sections = {{type = "text", text = "hi"}}}
t.eq(p, path, "report.html returns the path: " .. tostring(err))
local f = assert(io.open(path, "rb"))
local written = f:read("a")
f:close()
t.ok(written:find("<p>hi</p>", 1, true) and written:find("</html>\n$"), "the file holds the whole document")
t.eq(io.open(path .. ".tmp"), nil, "no temporary file left")
os.remove(path)
p, err = report.html{path = "/nonexistent-dir/r.html", sections = {}}
t.ok(p == nil and tostring(err):find("cannot write report", 1, true), "unwritable path: nil, err: " .. tostring(err))

-- misuse raises
t.checkerr("bad report (path", report.html, {sections = {}})
t.checkerr("table expected", report.html, "x")
t.checkerr('type = "table", "chart" or "text" expected, got pie', report.render, {sections = {{type = "pie"}}})
t.checkerr("runs= or series= expected", report.render, {sections = {{type = "chart", y = "loss"}}})
t.checkerr("runs need y", report.render, {sections = {{type = "chart", runs = {}}}})
t.checkerr("text = a string", report.render, {sections = {{type = "text"}}})
t.checkerr("needs rows=, points= or x= and y=", report.render, {sections = {{type = "chart", y = "a", series = {{name = "n"}}}}})

-- export.text, the value format shared by CSV and report cells
t.eq(export.text(3), "3")
t.eq(export.text(0.1 + 0.2), "0.30000000000000004")
t.eq(export.text(1.0), "1.0")
t.eq(export.text(1e20), "1e+20")
t.eq(export.text(math.maxinteger), "9223372036854775807")
t.eq(export.text(-1 / 0), "-inf")
t.eq(export.text(true), "True")
t.eq(export.text(json.null), "")
t.eq(export.text({1, 2}), "[1,2]")
t.eq(export.field('say "hi", ok'), '"say ""hi"", ok"')
t.eq(export.field("line\nbreak"), '"line\nbreak"')
t.eq(export.field("plain"), "plain")

t.done()
