-- Issue 14 item 2, one table of run fields (fields.lua): the SDK's fragments made from it are
-- byte for byte the reference's Appendix A; every field it names reads on a W&B run and on a local
-- run through the same getter; filters, export columns and the watch poll follow it; and a new
-- field is one row: a copy of the library with one row added (Run.host, which the test server
-- has) reads, filters, exports and is polled by watches, with nothing else changed.
local t = require "testlib"
local json = require "runwatch.json"
local fswatch = require "runwatch.fswatch"
local fields = require "runwatch.fields"
local Q = require "runwatch.wb.queries"

local SRC = (os.getenv("RW_TESTS") or "tests") .. "/.."
local BIN = os.getenv("RW_BIN")
local shared = os.getenv("RW_SHARED") or (SRC .. "/../shared")
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- {====== the SDK's documents, made from the rows

local ref = slurp(shared .. "/reference/wandb-public-api.md")
if ref then
  local function block(title)
    local at = ref:find("### " .. title, 1, true)
    return at and ref:match("```graphql\n(.-)```", at)
  end
  t.eq(Q.RUNS_LAZY, block("Runs (lazy=True, default for api.runs)"), "Runs (lazy) is the SDK's text")
  t.eq(Q.RUNS_FULL, block("Runs (lazy=False)"), "Runs (full) is the SDK's text")
  t.eq(Q.RUN_FULL, block("Run (api.run / load(force) / load_full_data; full fragment)"), "Run is the SDK's text")
else
  print("SKIP (part): " .. shared .. "/reference not found: the SDK texts were not compared")
end
t.ok(Q.RUN_LAZY:find("fragment LightweightRunFragment on Run {\n  id\n  tags\n", 1, true), "the light fragment")

-- }======

-- {====== every field reads the same way on both backends

local SRCLIB = SRC .. "/scripts/lib"
local demo = dofile(SRC .. "/scripts/demo/demo_runs.lua")
local tmp = os.tmpname()
os.remove(tmp)
assert(fswatch.mkdir(tmp))
demo.write(tmp)
local la = api.open("local:" .. tmp)
local lrun = la.run("dmo4fail")
local wrun = api.run(api.runs("rw-team/vision", {state = "finished"}, {per_page = 1})[1].path)
local MUST = {storage_id = true, tags = true, id = true, name = true, display_name = true, state = true,
  config = true, created_at = true, heartbeat_at = true, system_metrics = true, summary = true, summary_metrics = true,
  history_line_count = true, user = true, last_step = true, runtime = true, read_only = true, entity = true,
  project = true, path = true, url = true, updated_at = true}
local local_only = {exit_code = true, liveness = true, writer_pid = true, error_count = true, offline = true,
  local_dir = true, local_files = true}
for _, f in ipairs(fields.FIELDS) do
  if f.view ~= false then
    for _, n in ipairs({f.name, table.unpack(f.also or {})}) do
      local okw, vw = pcall(function() return wrun[n] end)
      local okl, vl = pcall(function() return lrun[n] end)
      t.ok(okw and okl, n .. ": reads on both backends (" .. tostring(vw) .. ", " .. tostring(vl) .. ")")
      if local_only[n] then
        t.eq(vw, nil, n .. ": nil on W&B")
        t.ok(vl ~= nil or n == "writer_pid", n .. ": set on a local run")
      elseif MUST[n] then
        t.ok(vl ~= nil, n .. ": a local run has it")
      end
      if f.sdk == "light" and n ~= "sweep_name" and n ~= "commit" and n ~= "description" and n ~= "notes"
         and n ~= "group" and n ~= "job_type" then
        t.ok(vw ~= nil, n .. ": a W&B run has it")
      end
    end
  end
end
t.eq(wrun.user.username, (require("wbtest").stored(wrun.path).user or {}).username, "user from the record")
t.eq(lrun.exit_code, 1, "a local field by its script name")

-- filter columns and export columns are the table's
local filters = require "runwatch.filters"
for alias, col in pairs(fields.FILTER_COLUMNS) do
  t.ok(pcall(filters.encode, {[alias] = "x"}), "filter on " .. alias .. " (" .. col .. ") accepted")
end
for name in pairs(fields.EXPORT) do
  local okc = pcall(export.check_columns, {name}, true, 1)
  t.ok(okc, "export column " .. name)
end

-- }======

-- {====== a new field is one row

local lib = tmp .. "/lib"
os.execute("cp -r " .. q(SRCLIB) .. " " .. q(lib))
local fpath = lib .. "/runwatch/fields.lua"
local text = assert(slurp(fpath))
local row = '  {name = "run_host", gql = "host", optional = true, watch = true, export = true, filter = {"host"},\n' ..
  '    loc = function(L) return L.rec.host or NULL end},\n'
local patched, n = text:gsub('  {name = "host", view = false, filter = {"host"}, loc = function%(L%) return L.rec.host or NULL end},\n', row)
t.eq(n, 1, "the row is replaced in a copy of fields.lua")
spit(fpath, patched)
local script = tmp .. "/one_row.lua"
spit(script, [[
local wb = require "wbtest"
local ok = 0
-- W&B: the watch poll asks for it, filters and exports use it
local seen
local w = watch{project = "rw-team/vision", every = 3600, id = "one-row", on_new_run = function(run) seen = seen or run.run_host end}
w.group:tick()
local polled = false
for _, r in ipairs(wb.requests("WatchRuns")) do if r.query:find("\n%s*host\n") then polled = true end end
print("polled " .. tostring(polled))
local hosts = {}
for _, r in ipairs(api.runs("rw-team/vision", {host = {["$exists"] = true}}, {per_page = 100})) do hosts[#hosts + 1] = r.id end
print("filtered " .. #hosts)
local out = os.tmpname()
local n = export.project("rw-team/vision", {output = out, columns = "id,run_host", format = "jsonl"})
local with = 0
for line in io.lines(out) do if type(require("runwatch.json").decode(line).run_host) == "string" then with = with + 1 end end
print("exported " .. tostring(n) .. " " .. with)
os.remove(out)
-- local: the backend derives it
local la = api.open("local:" .. os.getenv("DEMO"))
print("local " .. tostring(la.run("dmo1base").run_host))
print("seen " .. tostring(seen))
w:stop()
]])
local p = io.popen("DEMO=" .. q(tmp) .. " LUA_PATH=" .. q(SRC .. "/tests/lua/?.lua;;") .. " " .. q(BIN) ..
  " once --lib-dir " .. q(lib) .. " --state " .. q(tmp .. "/state.db") .. " " .. q(script) .. " 2>&1")
local out = p:read("a")
p:close()
local stored_hosts = 0
for _, r in ipairs(api.runs("rw-team/vision", nil, {per_page = 100})) do
  local s = require("wbtest").stored(r.path)
  if s.host ~= nil and s.host ~= json.null then stored_hosts = stored_hosts + 1 end
end
t.ok(out:find("polled true", 1, true), "the watch poll asks for the new field: " .. out)
t.ok(stored_hosts > 0 and tonumber(out:match("filtered (%d+)") or 0) >= stored_hosts, "filtered on it (" .. stored_hosts .. "): " .. out)
t.ok(out:find("exported %d+ " .. stored_hosts) ~= nil, "exported where runs have it: " .. out)
t.ok(out:find("local " .. fswatch.hostname(), 1, true), "the local backend derives it: " .. out)
t.ok(out:find("seen %S") and not out:find("seen nil", 1, true), "a watched run has it: " .. out)

-- }======

os.execute("rm -rf " .. q(tmp))
t.done()
