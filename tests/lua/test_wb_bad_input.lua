-- Bad input against the test server: bad filters, orders and paths are errors naming the field
-- before any request (the server's request log stays empty); run paths with odd characters reach
-- the server only as GraphQL variables and find no run; answers over the size cap, nested past
-- the JSON depth limit, with lone surrogates or invalid UTF-8, or shaped wrong, give a clear
-- CommError (or a nil for optional data), never a crash; the process goes on working after each.
-- Assertions marked LEAD FIX fail until the change described in docs/reliability.md is made.
local t = require "testlib"
local wb = require "wbtest"
local core = require "runwatch.core"
local errors = require "runwatch.errors"

local path = "rw-team/vision/abc123xy"
local want_name = wb.stored(path).displayName
local function fresh(o)
  local opts = {retry_base = 0.05, retry_cap = 0.2, deadline = 2, timeout = 5}
  for k, v in pairs(o or {}) do opts[k] = v end
  return api.Api(opts)
end
local function faults(rules) wb.admin("POST", "faults", {rules = rules}) end
local function reset() wb.admin("DELETE", "faults"); wb.clear_requests() end
local function graphql_requests() return #wb.requests() end
local function still_works(label)
  wb.admin("DELETE", "faults")
  local ok, r = pcall(function() return fresh().run(path).name end)
  t.eq(ok and r, want_name, "the process still works after: " .. label)
end
local function is_commerror(e) return type(e) == "table" and getmetatable(e) == getmetatable(errors.new{message = "x"}) end

-- {====== bad filters, orders and options: an error naming the field, and no request at all
reset()
local bad_filters = {
  {{colour = "red"}, 'bad filter at (top level): unknown field "colour"'},
  {{["summary.loss"] = {["$gtx"] = 1}}, 'bad filter at summary.loss.$gtx: unknown operator "$gtx"'},
  {{state = {["$in"] = "finished"}}, "bad filter at state.$in: $in needs a list, got string"},
  {{state = {["$in"] = {"a", {}}}}, "bad filter at state.$in[2]: list items must be scalars"},
  {{["config.lr"] = {["$gt"] = {1}}}, "bad filter at config.lr.$gt: $gt needs a string, number, boolean or json.null, got table"},
  {{["config.x"] = {["$exists"] = "yes"}}, "bad filter at config.x.$exists: $exists needs true or false, got string"},
  {{display_name = {["$regex"] = 5}}, "bad filter at display_name.$regex: $regex needs a string, got number"},
  {{display_name = {["$options"] = "i"}}, "bad filter at display_name.$options: $options needs a $regex beside it"},
  {{state = print}, "bad filter at state: a value must be a string, number, boolean, json.null, a list or a table, got function"},
  {{["summary.loss"] = {["$lt"] = 0 / 0}}, "bad filter at summary.loss.$lt: $lt cannot compare with NaN"},
  {{["$where"] = "1"}, 'bad filter at $where: unknown top-level operator "$where"'},
  {{["$or"] = {}}, "bad filter at $or: $or needs a non-empty list of filters"},
  {{["$and"] = {{state = "x"}, 5}}, "bad filter at $and[2]: a table expected, got number"},
  {{[1] = {state = "x"}}, "bad filter at (top level): keys must be strings, got number 1 (a filter is a table of field = condition, not a list"},
  {{[true] = 1}, "bad filter at (top level): keys must be strings, got boolean true"},
  {{state = {[2] = "x"}}, "bad filter at state[2]: keys must be strings, got number 2"},
  {{["config.x"] = {a = {[1.5] = 1}}}, "bad filter at config.x.a[1.5]: keys of a table value must be strings, got number 1.5"},
  {{["config.\255"] = 1}, 'the key "config.\\xFF" is not valid UTF-8 (byte 8)'},
  {{group = "ok\255"}, "bad filter at group: the value is not valid UTF-8 (byte 3)"},
  {{config = 1}, 'bad filter at (top level): "config" needs a key after it (config.KEY)'},
  {{["config..x"] = 1}, 'bad filter at (top level): malformed key "config..x"'},
  {{["summary.loss"] = 1, ["summary_metrics.loss"] = 2}, "the field is given twice"},
  {(function() local f = {state = "x"} for _ = 1, 100 do f = {["$and"] = {f}} end return f end)(), "nested deeper than 64 tables"},
  {(function() local f = {} f["$or"] = {f} return f end)(), "bad filter at $or[1]: the filter contains itself (a reference cycle)"},
  {(function() local v = {} v.self = v return {["config.x"] = v} end)(), "bad filter at config.x.self: the filter contains itself"},
  {"state = finished", "bad filter at (top level): a table expected, got string"},
}
for _, c in ipairs(bad_filters) do
  t.checkerr(c[2], api.runs, "rw-team/vision", c[1])
end
-- the message points at the caller's line
local ok, err = pcall(function() local r = api.runs("rw-team/vision", {colour = "red"}) return r end)
t.ok(not ok and tostring(err):match("^[^:]*test_wb_bad_input%.lua:%d+: bad filter"), "the error names the script line: " .. tostring(err))
-- a huge key is shown shortened
ok, err = pcall(api.runs, "rw-team/vision", {[string.rep("k", 100000)] = 1})
t.ok(not ok and #tostring(err) < 600 and tostring(err):find("(100000 bytes)", 1, true), "a 100 KB key gives a short message: " .. #tostring(err) .. " bytes")
-- orders and options
for _, o in ipairs({"-", "--x", "summary.", "config.", "a b", "x\0", "☃", "config"}) do
  t.checkerr("bad order", api.runs, "rw-team/vision", nil, {order = o})
end
t.checkerr("bad order (string expected, got number)", api.runs, "rw-team/vision", nil, {order = 5})
t.checkerr("per_page", api.runs, "rw-team/vision", nil, {per_page = 0})
t.checkerr("per_page", api.runs, "rw-team/vision", nil, {per_page = 1.5})
t.checkerr("per_page", api.runs, "rw-team/vision", nil, {per_page = 1001})
-- a watch with a bad filter fails when it is declared
t.checkerr('bad filter at (top level): unknown field "colour"', watch,
  {project = "rw-team/vision", every = "1h", filters = {colour = "red"}, on_new_run = function() end})
t.checkerr("bad filter at state.$in", watch,
  {project = "rw-team/vision", every = "1h", filters = {state = {["$in"] = 5}}, on_new_run = function() end})
t.eq(graphql_requests(), 0, "no request was sent for any bad filter, order or option")
-- }======

-- {====== run paths with odd characters: variables only, "Could not find run" or a path error
reset()
local normal_query
do
  local r = fresh().run(path)
  t.eq(r.name, want_name, "a normal run loads")
  normal_query = wb.requests("Run")[1].query
  t.ok(type(normal_query) == "string" and #normal_query > 0, "the Run document is logged")
end
local odd_ids = {"has space", 'quo"te', "it's", "résumé-β", "#frag", "q?x=1", "100%", "%2e%2e%2f", "a\\b",
  "{x}", "$id", "<script>", "semi;colon", "tab\u{3000}wide", string.rep("x", 2000)}
for _, id in ipairs(odd_ids) do
  reset()
  local full = "rw-team/vision/" .. id
  local okr, e = pcall(fresh().run, full)
  local label = string.format("%q", #id > 30 and id:sub(1, 30) .. "..." or id)
  t.ok(not okr and is_commerror(e) and tostring(e):find("Could not find run", 1, true), label .. ": Could not find run (" .. tostring(e):sub(1, 100) .. ")")
  local log = wb.requests("Run")
  t.eq(#log, 1, label .. ": one request")
  if log[1] then
    t.eq(log[1].variables.name, id, label .. ": the id reached the server unchanged, as a variable")
    t.eq(log[1].query, normal_query, label .. ": the document is the usual one")
    t.eq(log[1].status, 200, label .. ": the server answered normally")
  end
end
-- odd characters in the entity and project too
for _, p in ipairs({"rw-team/../abc123xy", "rw team/vision/abc123xy", "rw-team/vi sion#x/abc123xy", "../rw-team:abc123xy"}) do
  reset()
  local okr, e = pcall(fresh().run, p)
  t.ok(not okr and tostring(e):find("Could not find run", 1, true), string.format("%q: Could not find run (%s)", p, tostring(e)))
  t.eq(#wb.requests("Run"), 1, p .. ": one request, as variables")
end
-- a project with odd characters does not exist: a CommError naming it (issue 13 item 1)
reset()
t.checkerr("Could not find project rw-team/no such #project?x=1%", function() return #fresh().runs("rw-team/no such #project?x=1%") end)
t.eq(wb.requests("Runs")[1].variables.project, "no such #project?x=1%", "the project name reached the server unchanged")
-- what cannot be a name: a path error, no request
reset()
local bad_paths = {
  {"rw-team/vision/../abc123xy", "too many parts"},
  {"../../etc/passwd", "too many parts"},
  {"rw-team//abc123xy", "empty project"},
  {"rw-team/vision/x\0y", "control character \\0"},
  {"rw-team/vision/x\ny", "control character \\10"},
  {"rw-team/vision/\255", "not valid UTF-8 (byte 16)"},
  {"rw-team/vision/" .. string.rep("x", 3000), "too long (3015 bytes; at most 2048)"},
  {"https://wandb.ai/rw-team/vision", "a run URL looks like"},
  {"", "missing run id"},
}
for _, c in ipairs(bad_paths) do
  t.checkerr("bad run path", fresh().run, c[1])
  t.checkerr(c[2], fresh().run, c[1])
end
t.checkerr("bad run path (string expected, got table)", fresh().run, {})
t.checkerr("bad project path", fresh().runs, "a/b/c")
t.checkerr("bad project path", fresh().runs, "rw-team/\1x")
ok, err = pcall(fresh().run, "rw-team/vision/" .. string.rep("y", 5000))
t.ok(not ok and #tostring(err) < 400, "a 5 KB path gives a short message: " .. #tostring(err) .. " bytes")
t.eq(graphql_requests(), 0, "no request for a path that cannot be a name")
-- }======

-- {====== answers over the size cap
-- the transport: an answer over max_size is nil + a clear message, for a plain and a gzipped body
local function raw_post(max_size)
  return http.request{method = "POST", url = wb.base .. "/graphql", max_size = max_size,
    body = json.encode({query = "query Run { viewer { id } }"}),
    headers = {Authorization = "Basic " .. core.base64("api:" .. wb.key), ["Content-Type"] = "application/json"}}
end
math.randomseed(5)
local noise = {}
for i = 1, 200000 do noise[i] = string.char(97 + math.random(0, 25)) end
noise = table.concat(noise)
for _, case in ipairs({{"incompressible 200 KB", '{"data": {"x": "' .. noise .. '"}}'},
                       {"200 KB that gzips to a few hundred bytes", '{"data": {"x": "' .. string.rep(" ", 200000) .. '"}}'}}) do
  reset()
  faults({{match = {path = "/graphql"}, times = 1, action = {status = 200, body = case[2]}}})
  local res, e = raw_post(65536)
  t.ok(res == nil and tostring(e):find("larger than the limit of 65536 bytes", 1, true), case[1] .. ": " .. tostring(e))
  t.ok(not tostring(e):find(wb.key, 1, true), case[1] .. ": no key in the message")
end
-- the W&B client: an oversized answer is a CommError naming the limit, never a crash. The
-- client's cap is not an option yet, so the transport's max_size is set here from outside.
local rawhttp = require "runwatch.http"
local orig_request = rawhttp.request
local cap
rawhttp.request = function(o)
  if cap and o.url:find("/graphql$") and o.max_size == nil then o.max_size = cap end
  return orig_request(o)
end
reset()
cap = 65536
faults({{match = {op = "Run"}, times = -1, action = {status = 200, body = '{"data": {"x": "' .. noise .. '"}}'}}})
local t0 = core.monotonic()
ok, err = pcall(fresh({deadline = 1}).run, path)
t.ok(not ok and is_commerror(err), "oversized answer -> CommError: " .. tostring(err))
local attempts = #wb.requests("Run")
-- (while it is retried, the last attempt may be cut short by the deadline and name a timeout)
t.ok(tostring(err):find("larger than the limit of 65536 bytes", 1, true) or attempts > 1 and tostring(err):find("timed out", 1, true),
  "the CommError names the limit: " .. tostring(err))
print(string.format("note: an oversized answer was tried %d times in %.1f s before the CommError", attempts, core.monotonic() - t0))
t.eq(attempts, 1, "LEAD FIX (wb/client.lua): an answer over the cap is not retried (it will not get smaller)")
cap = nil
still_works("an oversized answer")
-- Api{max_size = N} sets the client's cap
reset()
faults({{match = {op = "Run"}, times = 1, action = {status = 200, body = '{"data": {"x": "' .. noise .. '"}}'}}})
ok, err = pcall(fresh({max_size = 65536, deadline = 1}).run, path)
t.ok(not ok and tostring(err):find("larger than the limit of 65536", 1, true),
  "LEAD FIX (wb/client.lua, api.lua): Api{max_size = 65536} caps W&B answers: " .. tostring(err))
rawhttp.request = orig_request
still_works("Api{max_size}")
-- }======

-- {====== JSON nested past the depth limit, lone surrogates, invalid UTF-8, wrong shapes
reset()
faults({{match = {op = "Run"}, times = -1, action = {status = 200,
  body = '{"data": {"project": {"run": ' .. string.rep("[", 600) .. string.rep("]", 600) .. '}}}'}}})
ok, err = pcall(fresh({deadline = 1}).run, path)
t.ok(not ok and is_commerror(err) and (tostring(err):find("nesting deeper than 512", 1, true) or tostring(err):find("timed out", 1, true)),
  "an answer nested 600 deep -> CommError (retried as malformed until the deadline): " .. tostring(err))
still_works("a deep answer")
-- nested past the limit inside the config text: a CommError for that run
reset()
faults({{match = {op = "Run"}, times = 1, action = {status = 200,
  body = '{"data": {"project": {"run": {"id": "x", "name": "abc123xy", "config": "' .. string.rep("[", 600) .. string.rep("]", 600) .. '", "summaryMetrics": "{}"}}}}'}}})
ok, err = pcall(function() local r = fresh().run(path) return r.config end)
t.ok(not ok and is_commerror(err) and tostring(err):find("nesting deeper than 512", 1, true), "a config nested 600 deep -> CommError: " .. tostring(err))
-- lone surrogates (\udc80) in an answer: kept as WTF-8 bytes, written back as the same escapes
reset()
faults({{match = {op = "Run"}, times = 1, action = {status = 200,
  body = '{"data": {"project": {"run": {"id": "x", "name": "abc123xy", "displayName": "\\udc80\\ud800x", "config": "{\\"k\\": {\\"value\\": \\"\\\\udc80\\"}}", "summaryMetrics": "{}", "tags": []}}}}'}}})
ok, err = pcall(function()
  local r = fresh().run(path)
  return {r.name, json.encode(r.name), json.encode(r.config)}
end)
t.ok(ok, "an answer with lone surrogates loads: " .. tostring(ok or err))
if ok then
  t.eq(err[1], "\xED\xB2\x80\xED\xA0\x80x", "kept as WTF-8")
  t.eq(err[2], '"\\udc80\\ud800x"', "written back as the same escapes")
  t.eq(err[3], '{"k":"\\udc80"}', "in config too")
  t.ok(pcall(api.runs, "rw-team/vision", {display_name = err[1]}), "and usable in a filter")
end
-- invalid UTF-8 in a downloaded file (wandb-metadata.json): no metadata, no crash
reset()
wb.admin("POST", "load", {projects = {{entity = "rw-team", name = "badfiles", runs = {
  {name = "badutf8a", displayName = "bad utf8", state = "finished", config = "{}", summaryMetrics = "{}",
   files = {{name = "wandb-metadata.json", contentBase64 = core.base64('{"git": {"remote": "x\255y"}}')}}},
  {name = "deepmeta", displayName = "deep", state = "finished", config = "{}", summaryMetrics = "{}",
   files = {{name = "wandb-metadata.json", content = string.rep("[", 600) .. string.rep("]", 600)}}},
}}}})
for _, id in ipairs({"badutf8a", "deepmeta"}) do
  ok, err = pcall(function() return fresh().run("rw-team/badfiles/" .. id).metadata end)
  t.ok(ok and err == nil, id .. ": metadata is nil, no crash: " .. tostring(ok) .. " " .. tostring(err))
end
-- invalid UTF-8 straight in a GraphQL answer needs a raw-bytes fault (see docs/reliability.md);
-- the decoder's side is checked directly: a clear message with the byte offset
local v, derr = json.decode('{"data": {"x": "a\255"}}')
t.ok(v == nil and derr == "json: invalid UTF-8 at byte 18", "invalid UTF-8 in an answer: " .. tostring(derr))
-- wrong shapes: a CommError, not an error from deep inside the library
local shapes = {
  {'{"data": null}', "Received non-compatible response"},
  {'{"data": {"project": {"run": null}}}', "Could not find run"},
  {'{"errors": [5, null]}', "5"},
  {'{"data": {"project": {"run": 5}}}', "malformed"},
  {'{"data": {"project": {"run": {}}}}', "malformed"},
  {'{"data": {"project": {"run": {"id": "x", "name": "abc123xy", "config": 5, "summaryMetrics": "{}"}}}}', "malformed"},
  {'{"data": {"project": {"run": {"id": "x", "name": "abc123xy", "config": "{}", "summaryMetrics": "not json"}}}}', "malformed"},
}
for _, c in ipairs(shapes) do
  reset()
  faults({{match = {op = "Run"}, times = 1, action = {status = 200, body = c[1]}}})
  ok, err = pcall(function() local r = fresh().run(path); return r.config, r.summary end)
  local lead = c[2] == "malformed" and "LEAD FIX (wb/backend.lua): " or ""
  t.ok(not ok and is_commerror(err) and tostring(err):find(c[2], 1, true),
    lead .. c[1]:sub(1, 70) .. " -> a CommError with '" .. c[2] .. "': " .. tostring(err))
end
t.ok(not tostring(select(2, pcall(function() reset(); faults({{match = {op = "Run"}, times = 1, action = {status = 200, body = '{"errors": [5, null]}'}}}); fresh().run(path) end))):find("userdata", 1, true),
  "LEAD FIX (wb/client.lua): a null in the errors list is not shown as 'userdata: (nil)'")
still_works("wrong shapes")
-- }======

reset()
t.done()
