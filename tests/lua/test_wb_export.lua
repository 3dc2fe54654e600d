-- export against the test server: CSV parsed back (RFC 4180) and compared value by value with the
-- stored runs, JSON Lines and JSON (lossless), columns, filters and order, history rows, Lua
-- lists, api.runs results streamed without filling their cache, plain rows, iterators, errors;
-- report charts built from runs (one point per history row, NaN as a gap, names escaped).
local t = require "testlib"
local wb = require "wbtest"
local json = require "runwatch.json"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
local fxf = assert(io.open(here .. "/../report/export-fixture.json", "rb"))
local fx_text = fxf:read("a")
fxf:close()
local res = assert(http.request{method = "POST", url = wb.base .. "/_admin/load", body = fx_text,
  headers = {["Content-Type"] = "application/json"}})
t.eq(res.status, 200, "edge-case fixture loaded")
local P = "rw-team/export-edge"
local tmp = os.tmpname()

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- An RFC 4180 reader, independent of the exporter; strict: a quote inside an unquoted field,
-- text after a closing quote or a record not ended by CRLF is an error.
local function parse_csv(s)
  local rows, row, buf = {}, {}, {}
  local i, n = 1, #s
  local quoted, was_quoted, start = false, false, true
  local function end_field()
    row[#row + 1] = table.concat(buf)
    buf, was_quoted, start = {}, false, true
  end
  while i <= n do
    local c = s:sub(i, i)
    if quoted then
      if c == '"' then
        if s:sub(i + 1, i + 1) == '"' then buf[#buf + 1] = '"'; i = i + 1
        else quoted = false; was_quoted = true end
      else
        buf[#buf + 1] = c
      end
    elseif c == '"' then
      if not start then error("quote inside an unquoted field at byte " .. i) end
      quoted, start = true, false
    elseif c == "," then
      end_field()
    elseif c == "\r" and s:sub(i + 1, i + 1) == "\n" then
      end_field()
      rows[#rows + 1] = row
      row = {}
      i = i + 1
    elseif c == "\n" or c == "\r" then
      error("bare line break outside quotes at byte " .. i)
    else
      if was_quoted then error("text after a closing quote at byte " .. i) end
      buf[#buf + 1] = c
      start = false
    end
    i = i + 1
  end
  if quoted then error("unterminated quoted field") end
  if #row > 0 or #buf > 0 then error("last record not ended by CRLF") end
  return rows
end

local function csv_records(path)
  local ok, rows = pcall(parse_csv, slurp(path))
  t.ok(ok, "well-formed RFC 4180: " .. tostring(not ok and rows or ""))
  if not ok then return {}, {} end
  local header = table.remove(rows, 1)
  local recs = {}
  for i, r in ipairs(rows) do
    t.eq(#r, #header, "record " .. i .. " has one field per column")
    local rec = {}
    for j, c in ipairs(header) do rec[c] = r[j] end
    recs[i] = rec
  end
  return header, recs
end

-- What the server holds, as the columns name it.
local stored = {}
local stored_order = {}
for _, r in ipairs(json.decode(fx_text).projects[1].runs) do
  local s = wb.stored(P .. "/" .. r.name, true)
  local cfg = {}
  for k, v in pairs(s.config_decoded) do
    if k ~= "_wandb" and k ~= "wandb_version" then
      if type(v) == "table" and not json.is_array(v) and v.value ~= nil then cfg[k] = v.value else cfg[k] = v end
    end
  end
  local hist = {}
  for i, row in ipairs(s.history or {}) do hist[i] = type(row) == "string" and json.decode(row) or row end
  local sm = {}
  for k, v in pairs(s.summary_decoded) do if k ~= "_wandb" then sm[k] = v end end   -- internal: not a default column
  local rt = s.summary_decoded._runtime
  if rt == nil and type(s.summary_decoded._wandb) == "table" then rt = s.summary_decoded._wandb.runtime end
  stored[r.name] = {id = r.name, name = s.displayName, state = s.state, created_at = s.createdAt,
    tags = s.tags, notes = s.notes, ["user.username"] = type(s.user) == "table" and s.user.username or nil,
    group = s.group, runtime = tonumber(rt), sweep_name = s.sweepName,
    config = cfg, summary = sm, summary_all = s.summary_decoded, history = hist}
  stored_order[#stored_order + 1] = r.name
end
t.eq(#stored_order, 10, "ten edge-case runs")

local function stored_value(id, col)
  local s = stored[id]
  local head, rest = col:match("^([^.]+)%.(.+)$")
  if head == "config" then return s.config[rest] end
  if head == "summary" then return s.summary[rest] end
  local v = s[col]
  if v == json.null then return nil end
  return v
end

local function bits(x) return string.pack("<d", x) end

-- check_cell(cell, v, label): the CSV text of stored value v
local function check_cell(cell, v, label)
  if v == nil or v == json.null then return t.eq(cell, "", label .. " (missing/null is empty)") end
  if type(v) == "string" then return t.eq(cell, v, label) end
  if type(v) == "boolean" then return t.eq(cell, v and "True" or "False", label) end
  if math.type(v) == "integer" then return t.eq(cell, string.format("%d", v), label .. " (exact integer)") end
  if math.type(v) == "float" then
    if v ~= v then return t.eq(cell, "NaN", label) end
    if v == math.huge then return t.eq(cell, "inf", label) end
    if v == -math.huge then return t.eq(cell, "-inf", label) end
    local back = tonumber(cell)
    t.ok(cell:find("[.e]") ~= nil, label .. ": a float reads as a float: " .. cell)
    return t.ok(math.type(back) == "float" and bits(back) == bits(v), label .. ": round-trips: " .. cell)
  end
  return t.eq(json.decode(cell), v, label .. " (nested as JSON)")
end

---------------------------------------------------------------- CSV, default columns
local n, err = export.project(P, {output = tmp})
t.eq(n, 10, "export.project wrote 10 runs: " .. tostring(err))
local header, recs = csv_records(tmp)
do
  local want = {"id", "name", "state", "tags", "notes", "user.username", "group", "created_at", "runtime", "sweep_name"}
  local ck, sk = {}, {}
  for _, s in pairs(stored) do
    for k in pairs(s.config) do ck[k] = true end
    for k in pairs(s.summary) do sk[k] = true end
  end
  local cl, sl = {}, {}
  for k in pairs(ck) do cl[#cl + 1] = k end
  for k in pairs(sk) do sl[#sl + 1] = k end
  table.sort(cl); table.sort(sl)
  for _, k in ipairs(cl) do want[#want + 1] = "config." .. k end
  for _, k in ipairs(sl) do want[#want + 1] = "summary." .. k end
  t.eq(header, want, "default columns: what the W&B runs table shows, every config key, every summary key but _wandb (sorted)")
end
t.eq(#recs, 10, "one record per run")
local seen = {}
for _, rec in ipairs(recs) do
  local id = rec.id
  t.ok(stored[id] ~= nil, "exported id is a stored run: " .. tostring(id))
  if stored[id] then
    seen[id] = true
    for _, col in ipairs(header) do check_cell(rec[col], stored_value(id, col), id .. " " .. col) end
  end
end
do
  local c = 0
  for _ in pairs(seen) do c = c + 1 end
  t.eq(c, 10, "each run exported once")
end
-- the default order is -created_at, as api.runs
t.eq(recs[1].id, "edge0009", "newest first")
t.eq(recs[10].id, "edge0000", "oldest last")
t.ok(slurp(tmp):find("\r\n", 1, true) ~= nil, "records end with CRLF")

---------------------------------------------------------------- JSON Lines and JSON: lossless
local function check_object(obj, label)
  local id = obj.id
  local s = stored[id]
  if not t.ok(s ~= nil, label .. ": stored run " .. tostring(id)) then return end
  t.eq(obj.name, s.name, label .. " name")
  t.eq(obj.state, s.state, label .. " state")
  for k, v in pairs(s.config) do
    if v == json.null then t.eq(obj["config." .. k], json.null, label .. " config." .. k .. " null stays null")
    else t.eq(obj["config." .. k], v, label .. " config." .. k) end
  end
  for k, v in pairs(s.summary) do t.eq(obj["summary." .. k], v, label .. " summary." .. k) end
  local nkeys = 0
  for _ in pairs(obj) do nkeys = nkeys + 1 end
  local want = 0
  for _, c in ipairs(export.RUN_DEFAULT) do if s[c] ~= nil and s[c] ~= json.null then want = want + 1 end end
  for _ in pairs(s.config) do want = want + 1 end
  for _ in pairs(s.summary) do want = want + 1 end
  t.eq(nkeys, want, label .. ": only the run's own keys")
end

n, err = export.project(P, {output = tmp, format = "jsonl"})
t.eq(n, 10, "jsonl: 10 runs " .. tostring(err))
local lines = {}
for line in slurp(tmp):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
t.eq(#lines, 10, "one line per run")
for i, line in ipairs(lines) do
  local obj, derr = json.decode(line)
  if t.ok(type(obj) == "table", "jsonl line " .. i .. " decodes: " .. tostring(derr)) then check_object(obj, "jsonl " .. i) end
end
t.ok(lines[1]:match('^{"id":"edge0009","name":') ~= nil, "keys in column order: " .. lines[1]:sub(1, 40))

n, err = export.project(P, {output = tmp, format = "json", per_page = 3})
t.eq(n, 10, "json: 10 runs over 4 pages " .. tostring(err))
local arr = json.decode(slurp(tmp))
t.ok(type(arr) == "table" and #arr == 10, "json: one array of 10 objects")
for i, obj in ipairs(arr or {}) do check_object(obj, "json " .. i) end
t.eq(json.encode(json.decode(lines[1])), json.encode(arr[1]), "json and jsonl objects agree")

---------------------------------------------------------------- chosen columns, nested keys
n = export.project(P, {output = tmp, columns = "id,name,config.nested.w.deep,config.nested.x,summary._wandb.runtime,tags,config.s"})
header, recs = csv_records(tmp)
t.eq(header, {"id", "name", "config.nested.w.deep", "config.nested.x", "summary._wandb.runtime", "tags", "config.s"}, "chosen columns, in order")
for _, rec in ipairs(recs) do
  local s = stored[rec.id]
  t.eq(rec["config.nested.w.deep"], "ü", "nested key (dotted)")
  t.eq(json.decode(rec["config.nested.x"]), s.config.nested.x, "nested list as JSON")
  t.eq(rec["summary._wandb.runtime"], string.format("%d", s.summary_all._wandb.runtime), "nested summary key (summary._wandb when asked for)")
  t.eq(rec["config.s"], 'a,b "c"\nd\r\ne', "quotes, commas and line breaks survive")
end
t.eq(json.decode(recs[1].tags), {"t,1", 'q"t'}, "tags as a JSON list")

---------------------------------------------------------------- filters and order, like api.runs
do
  local f = {state = {["$in"] = {"finished", "crashed"}}}
  n = export.project(P, {output = tmp, columns = {"id"}, filters = f, order = "+summary.acc"})
  local _, got = csv_records(tmp)
  local want = {}
  for _, r in ipairs(api.runs(P, f, {order = "+summary.acc"})) do want[#want + 1] = r.id end
  local ids = {}
  for i, rec in ipairs(got) do ids[i] = rec.id end
  t.eq(ids, want, "filters and order as api.runs")
  t.ok(#want >= 2 and #want < 10, "the filter selects some runs: " .. #want)
  n = export.project(P, {output = tmp, columns = {"id"}, filters = '{"state": "running"}'})
  t.eq(n, 2, "filters as a JSON string")
end

---------------------------------------------------------------- history rows
do
  n, err = export.project(P, {output = tmp, history = {"loss", "acc"}, columns = {"id", "name"}})
  header, recs = csv_records(tmp)
  t.eq(header, {"id", "name", "_step", "loss", "acc"}, "history columns: run columns, _step, keys")
  local want = 0
  for _, s in pairs(stored) do want = want + #s.history end
  t.eq(n, want, "one row per run and step")
  t.eq(#recs, want, "every history row exported")
  for _, rec in ipairs(recs) do
    local s = stored[rec.id]
    local row = s.history[tonumber(rec._step) + 1]
    t.eq(rec.name, s.name, "run name on each row")
    check_cell(rec.loss, row.loss, rec.id .. " step " .. rec._step .. " loss")
    check_cell(rec.acc, row.acc, rec.id .. " step " .. rec._step .. " acc")
  end
  n = export.project(P, {output = tmp, history = "loss", format = "jsonl", filters = {display_name = "NaN"}})
  local rows = {}
  for line in slurp(tmp):gmatch("([^\n]*)\n") do rows[#rows + 1] = json.decode(line) end
  t.eq(#rows, #stored.edge0008.history, "history jsonl of one run")
  t.eq(rows[1], {id = "edge0008", _step = 0, loss = stored.edge0008.history[1].loss}, "history object: id, _step, key")
end

---------------------------------------------------------------- Lua lists and api.runs results
do
  export.project(P, {output = tmp})
  local want = slurp(tmp)
  local list = api.runs(P):load_all()
  n = export.csv(list, tmp)
  t.eq(n, 10, "export.csv(list of runs)")
  t.eq(slurp(tmp), want, "a list of runs exports exactly as the project")
  local rs = api.runs(P, nil, {per_page = 3})
  n = export.csv(rs, tmp)
  t.eq(n, 10, "export.csv(api.runs(...))")
  t.eq(slurp(tmp), want, "an api.runs result exports exactly as the project")
  t.eq(rs:loaded(), 0, "streamed from its query: the Runs cache stays empty")
  -- a list read to the end is used as it is; a streaming one (keep = false) is fetched afresh
  local kept = api.runs(P, nil, {per_page = 4})
  for _ in ipairs(kept) do end
  n = export.csv(kept, tmp)
  t.eq(slurp(tmp), want, "a list read to the end exports from its runs")
  local okk, streaming = pcall(api.runs, P, nil, {per_page = 4, keep = false})
  if okk then
    for _ in ipairs(streaming) do end
    n = export.csv(streaming, tmp)
    t.eq(n, 10, "a streaming list already read is exported whole")
    t.eq(slurp(tmp), want, "a streaming list exports exactly as the project")
  end
  n = export.jsonl(api.runs(P, {state = "finished"}), tmp, {"id", "summary.loss"})
  local c = 0
  for line in slurp(tmp):gmatch("[^\n]+") do
    local o = json.decode(line)
    c = c + 1
    t.eq(o["summary.loss"], stored[o.id].summary.loss, "jsonl of a Runs object")
  end
  t.eq(c, n, "jsonl line count")
  local it, info = export.each_run(P, {state = "finished"}, {per_page = 2})
  local k = 0
  for r in it do k = k + 1; t.eq(r.state, "finished", "each_run applies the filter") end
  t.eq(k, info.count, "each_run: every run of runCount")
end

---------------------------------------------------------------- plain rows and iterators
do
  local rows = {
    {a = 1, ["b.c"] = 2, d = {e = 3}, f = 0.1, g = true},
    {a = "x,y", d = {e = "q\""}, f = 0 / 0, h = json.null},
    {a = -7, f = -1 / 0, g = false},
  }
  n = export.csv(rows, tmp, {"a", "b.c", "d.e", "f", "g", "missing"})
  t.eq(n, 3)
  t.eq(slurp(tmp), 'a,b.c,d.e,f,g,missing\r\n1,2,3,0.1,True,\r\n"x,y",,"q""",NaN,,\r\n-7,,,-inf,False,\r\n', "plain rows as CSV")
  n = export.csv(rows, tmp)
  header = csv_records(tmp)
  t.eq(header, {"a", "b.c", "d", "f", "g", "h"}, "default columns of plain rows: their keys, sorted")
  -- an iterator: rows stream, columns found on the way (spooled)
  local i = 0
  local src = {{step = 1, loss = 0.5}, {step = 2, acc = 0.25}, {step = 3, loss = 0.125, note = "n,1"}}
  n = export.csv(function() i = i + 1; return src[i] end, tmp)
  t.eq(n, 3, "iterator source")
  t.eq(slurp(tmp), 'acc,loss,note,step\r\n,0.5,,1\r\n0.25,,,2\r\n,0.125,"n,1",3\r\n', "iterator: union of columns")
  n = export.jsonl(rows, tmp, {"a", "f", "h", "missing"})
  t.eq(slurp(tmp), '{"a":1,"f":0.1}\n{"a":"x,y","f":NaN,"h":null}\n{"a":-7,"f":-Infinity}\n', "jsonl: null kept, missing left out")
  n = export.json({}, tmp, {"a"})
  t.eq(n, 0)
  t.eq(json.decode(slurp(tmp)), json.array({}), "json of nothing: an empty array")
  n = export.csv({}, tmp)
  t.eq(slurp(tmp), "\r\n", "csv of nothing without columns: an empty header")
end

---------------------------------------------------------------- errors
t.checkerr("bad format 'xml'", export.write, {}, tmp, {format = "xml"})
t.checkerr('unknown column "bogus"', export.project, P, {columns = {"bogus"}})
t.checkerr("bad columns (empty list)", export.csv, {}, tmp, {})
t.checkerr("bad argument #1", export.csv, 42, tmp)
t.checkerr("bad per_page", export.project, P, {per_page = 5000})
t.checkerr('bad filter at (top level): unknown field "colour"', export.project, P, {filters = {colour = 1}})
t.checkerr("bad history", export.project, P, {history = {}})
n, err = export.csv({{a = 1}}, "/nonexistent-dir/x.csv")
t.ok(n == nil and tostring(err):find("cannot write", 1, true), "unwritable file: nil, err: " .. tostring(err))
n, err = export.project("rw-team/no-such-project", {output = tmp})
t.ok(n == nil and tostring(err):find("rw-team/no-such-project not found", 1, true), "missing project: nil, err: " .. tostring(err))
wb.admin("POST", "faults", {rules = {{match = {op = "Runs"}, times = -1, action = {status = 400}}}})
n, err = export.project(P, {output = tmp})
t.ok(n == nil and tostring(err):find("CommError", 1, true), "server failing: nil, err: " .. tostring(err))
wb.admin("DELETE", "faults")

---------------------------------------------------------------- report charts from runs
do
  local runs = {api.run(P .. "/edge0004"), api.run(P .. "/edge0005")}
  local html = report.render{title = "edge <report>", sections = {
    {type = "table", title = "runs", rows = runs, columns = {"id", "name", "summary.loss"}},
    {type = "chart", title = "loss & acc", runs = runs, x = "_step", y = {"loss", "acc"}},
  }}
  local paths = {}
  for tag in html:gmatch("<path [^>]*>") do paths[#paths + 1] = tag end
  t.eq(#paths, 4, "one path per run and key")
  for _, p in ipairs(paths) do
    local rows, pts = tonumber(p:match('data%-rows="(%d+)"')), tonumber(p:match('data%-points="(%d+)"'))
    local d = p:match(' d="([^"]*)"')
    local cmds = 0
    for _ in d:gmatch("[ML]") do cmds = cmds + 1 end
    t.eq(cmds, pts, "one M/L command per point")
  end
  -- edge0004 logged loss NaN at step 3: 9 rows, 8 points, the line broken in two
  local p4 = paths[1]
  t.eq(tonumber(p4:match('data%-rows="(%d+)"')), #stored.edge0004.history, "rows: every history row")
  t.eq(tonumber(p4:match('data%-points="(%d+)"')), #stored.edge0004.history - 1, "the NaN row is not drawn")
  local ms = 0
  for _ in p4:match(' d="([^"]*)"'):gmatch("M") do ms = ms + 1 end
  t.eq(ms, 2, "a gap where the NaN was")
  t.eq(tonumber(paths[3]:match('data%-points="(%d+)"')), #stored.edge0005.history, "edge0005 loss: a point per row")
  t.ok(not html:find("<img", 1, true) and not html:find("<script", 1, true), "run names cannot inject markup")
  t.ok(html:find("&lt;img src=x onerror=alert(1)&gt;&amp;amp;&lt;/td&gt;", 1, true) ~= nil, "the name shows escaped")
end

os.remove(tmp)
t.done()
