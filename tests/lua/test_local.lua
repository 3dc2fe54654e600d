-- The local backend on the real W&B runs of $RW_SHARED/wandb-runs, read in place: row counts, last step, exit/state, config and summary against the runs' own files, filters and order, history and scan_history, metadata, refused writes, --local, a live copy grown range by range under a watch (every row exactly once), and parse throughput.
-- runwatch-mode: run
local t = require "testlib"
local json = require "runwatch.json"
local core = require "runwatch.core"
local fswatch = require "runwatch.fswatch"
local wandbfile = require "runwatch.wandbfile"

local shared = os.getenv("RW_SHARED") or "../shared"
local RUNS = shared .. "/wandb-runs"
local BIN = os.getenv("RW_BIN")
local LIB = (os.getenv("RW_TESTS") or "tests") .. "/../scripts/lib"

if not fswatch.stat(RUNS) then
  print("SKIP: " .. RUNS .. " not found (set RW_SHARED): the local-run tests on real runs did not run")
  print("0 passed, 0 failed")
  os.exit(77)
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- {====== what the runs' own files say

-- PROVENANCE.txt: per run directory, its history rows, last step, exit code and runtime, records
local function provenance()
  local text = assert(slurp(RUNS .. "/PROVENANCE.txt"), "PROVENANCE.txt")
  local facts, cur = {}, nil
  for line in text:gmatch("[^\n]+") do
    local d = line:match("^((%S+)%-run%-[%w_%-]+)/") or line:match("^(run%-[%w_%-]+)/")
    if d then cur = {dir = d}; facts[#facts + 1] = cur end
    if cur then
      cur.text = (cur.text or "") .. " " .. line
    end
  end
  for _, f in ipairs(facts) do
    local s = f.text
    f.rows = tonumber(s:match("(%d+) history rows")) or (s:find("no history rows", 1, true) and 0)
    f.last_step = tonumber(s:match("last step (%d+)"))
    f.exit_code = tonumber(s:match("%(code (%-?%d+)%)") or s:match("exit code (%-?%d+)"))
    f.runtime = tonumber(s:match("runtime=(%d+)"))
    f.records = tonumber(s:match("(%d+) records"))
    f.bytes = tonumber(s:match("%.wandb: (%d+) bytes"))
  end
  return facts
end

-- A YAML subset (what config.yaml holds): block maps, "- " lists of scalars or maps, scalars.
local function yaml_scalar(s)
  s = s:gsub("%s+#.*$", "")
  if s == "null" or s == "~" or s == "" then return json.null end
  if s == "true" then return true end
  if s == "false" then return false end
  if s == ".nan" then return 0 / 0 end
  if s == ".inf" then return math.huge end
  if s == "-.inf" then return -math.huge end
  local q = s:match('^"(.*)"$')
  if q then return (json.decode('"' .. q .. '"')) end
  q = s:match("^'(.*)'$")
  if q then return (q:gsub("''", "'")) end
  if s:match("^[-+]?%d+$") then return math.tointeger(tonumber(s)) end
  if s:match("^[-+]?%d*%.?%d+[eE][-+]?%d+$") or s:match("^[-+]?%d+%.%d*$") or s:match("^[-+]?%.%d+$") then return tonumber(s) end
  return s
end

local function yaml_parse(text)
  local lines = {}
  for line in text:gmatch("[^\n]*") do
    if line:match("%S") and not line:match("^%s*#") then
      lines[#lines + 1] = {indent = #line:match("^( *)"), body = line:gsub("^ *", "")}
    end
  end
  local i = 1
  local function block(indent)
    local first = lines[i]
    if not first or first.indent < indent then return json.null end
    if first.body:sub(1, 2) == "- " or first.body == "-" then
      local list = json.array({})
      while lines[i] and lines[i].indent == first.indent and (lines[i].body:sub(1, 2) == "- " or lines[i].body == "-") do
        local item = lines[i].body:sub(3)
        if item:match("^[%w_%-./]+:%s") or item:match("^[%w_%-./]+:$") then
          -- a map inside a list item: re-read it as a block at the item's column
          lines[i] = {indent = first.indent + 2, body = item}
          list[#list + 1] = block(first.indent + 2)
        else
          list[#list + 1] = yaml_scalar(item)
          i = i + 1
        end
      end
      return list
    end
    local map = {}
    while lines[i] and lines[i].indent == first.indent do
      local k, rest = lines[i].body:match('^"?([^":]+)"?:%s*(.*)$')
      if not k then break end
      i = i + 1
      if rest == "" then map[k] = block(first.indent + 1) else map[k] = yaml_scalar(rest) end
    end
    return map
  end
  return block(0)
end

-- leaves of a value as {["a.b.1"] = scalar}
local function flatten(v, prefix, out)
  out = out or {}
  if type(v) == "table" then
    if json.is_array(v) then
      for i, x in ipairs(v) do flatten(x, prefix .. "." .. (i - 1), out) end
      if #v == 0 then out[prefix] = "[]" end
    else
      local n = 0
      for k, x in pairs(v) do n = n + 1; flatten(x, prefix == "" and k or (prefix .. "." .. k), out) end
      if n == 0 and prefix ~= "" then out[prefix] = "{}" end
    end
  else
    out[prefix] = v
  end
  return out
end

local function same_value(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b or (a ~= a and b ~= b) end
  return a == b
end

-- }======

local la = api.open("local:" .. RUNS)
local facts = provenance()
t.eq(#facts, 3, "PROVENANCE.txt names three run directories")

-- {====== every run: rows, steps, exit, state, config, summary, metadata

local all = la.runs()
t.eq(#all, #facts, "api.runs() over the directory finds every run")
for _, f in ipairs(facts) do
  local dir = RUNS .. "/" .. f.dir
  local id = f.dir:match("%-([%w]+)$")
  local run = la.run(id)
  local label = f.dir
  t.eq(run.id, id, label .. ": id")
  t.eq(run.history_line_count, f.rows, label .. ": history rows")
  t.eq(run.last_step, f.last_step or -1, label .. ": last step")
  t.eq(run.state, f.exit_code == 0 and "finished" or "failed", label .. ": state from the exit record")
  local info = la.backend:info(id)
  t.eq(info.exit and info.exit.exit_code, f.exit_code, label .. ": exit code")
  if f.runtime then t.eq(info.exit.runtime, f.runtime, label .. ": exit runtime") end
  local nrec = 0
  for _, n in pairs(info.counts) do nrec = nrec + n end
  if f.records then t.eq(nrec, f.records, label .. ": records") end
  t.eq(info.error_count, 0, label .. ": no read error")
  t.eq(run.read_only, true, label .. ": read_only")

  -- summary: every key of files/wandb-summary.json, same value and type
  local sj = slurp(dir .. "/files/wandb-summary.json")
  if sj then
    local want = assert(json.decode(sj))
    local got = run.summary
    local n, bad = 0, 0
    for k, v in pairs(flatten(want, "")) do
      n = n + 1
      local g = flatten(got, "")[k]
      if not (same_value(g, v) and math.type(g) == math.type(v)) then
        bad = bad + 1
        print("  summary " .. k .. ": " .. tostring(g) .. " vs " .. tostring(v))
      end
    end
    t.eq(bad, 0, label .. ": " .. n .. " summary values equal wandb-summary.json")
    for k in pairs(got) do
      if k ~= "_step" or want._step ~= nil or f.rows == 0 then
        t.ok(want[k] ~= nil, label .. ": summary key " .. k .. " is in wandb-summary.json")
      end
    end
  end

  -- config: every user key of files/config.yaml (value: trees), leaf by leaf
  local yt = slurp(dir .. "/files/config.yaml")
  if yt then
    local y = yaml_parse(yt)
    local n, bad = 0, 0
    for k, v in pairs(y) do
      if k ~= "_wandb" and k ~= "wandb_version" and type(v) == "table" then
        for path, want in pairs(flatten(v.value, k)) do
          n = n + 1
          local got = flatten(run.config, "")[path]
          if not same_value(got, want) then
            bad = bad + 1
            print("  config " .. path .. ": " .. tostring(got) .. " vs " .. tostring(want))
          end
        end
      end
    end
    t.eq(bad, 0, label .. ": " .. n .. " config values equal config.yaml")
    for k in pairs(run.config) do t.ok(y[k] ~= nil, label .. ": config key " .. k .. " is in config.yaml") end
    t.ok(run.rawconfig._wandb ~= nil, label .. ": _wandb stays in rawconfig")
  end

  -- metadata from files/wandb-metadata.json
  local mj = slurp(dir .. "/files/wandb-metadata.json")
  if mj then
    local m = assert(json.decode(mj))
    t.ok(run.metadata and run.metadata.host == m.host, label .. ": run.metadata.host")
  end

  -- the file is what PROVENANCE says
  local st = fswatch.stat(info.files[1])
  if f.bytes then t.eq(st.size, f.bytes, label .. ": .wandb size") end
end

-- }======

-- {====== details of the long run, against a direct read of the file

local BIGDIR = RUNS .. "/run-20260211_121423-kj3gdsjx"
local BIGFILE = BIGDIR .. "/run-kj3gdsjx.wandb"
local ref_steps, ref_val = {}, 0
do
  local f = assert(wandbfile.open(BIGFILE))
  for rec in f:records() do
    if rec.type == "history" then
      ref_steps[#ref_steps + 1] = rec.step or 0
      for _, it in ipairs(rec.items) do if it.key == "val/loss" then ref_val = ref_val + 1 end end
    end
  end
  f:close()
end

local big = la.run("kj3gdsjx")
t.eq(big.name, "tinylm_pretrain_512d_8L", "display name from the run record")
t.eq(big.project, "wandb-runs", "run path uses the directory's project")
t.eq(big.path, "local/wandb-runs/kj3gdsjx", "run.path")
t.eq(big.created_at, "2026-02-11T04:14:23", "created_at from RunRecord.start_time (UTC)")
t.eq(big.heartbeat_at, "2026-02-11T04:40:26", "heartbeat_at = start + runtime")
t.eq(big.commit, "9b6ecb7a19f14630d448bbc51e0e07c69df0cd51", "commit from the run record")
t.eq(big.config.lr, 0.0005, "config.lr")
t.eq(big.config.batch_size, 8, "config.batch_size")
t.eq(la.run("local/wandb-runs/kj3gdsjx").id, "kj3gdsjx", "entity/project/id with the directory's project")
t.eq(la.run("local/TinyLM/kj3gdsjx").id, "kj3gdsjx", "entity/project/id with the run's own project")
t.eq(la.run("wandb-runs/kj3gdsjx").id, "kj3gdsjx", "project/id")
local ok, err = pcall(la.run, "other/TinyLM/kj3gdsjx")
t.ok(not ok and require("runwatch.errors").is(err), "another entity: CommError")
ok, err = pcall(la.run, "nosuchid")
t.ok(not ok and tostring(err):find("Could not find run", 1, true), "missing run: CommError")

-- scan_history: every row once, in step order, whatever the page size
for _, ps in ipairs({100, 777, 5000}) do
  local steps = {}
  for row in big:scan_history{page_size = ps} do steps[#steps + 1] = row._step end
  t.eq(steps, ref_steps, "scan_history page_size " .. ps .. ": every row once (" .. #steps .. ")")
end
local n, okrows = 0, true
for row in big:scan_history{keys = {"val/loss"}, page_size = 500} do
  n = n + 1
  for k in pairs(row) do if k ~= "_step" and k ~= "val/loss" then okrows = false end end
end
t.eq(n, ref_val, "scan_history with keys: the rows that have the key")
t.ok(okrows, "scan_history with keys: only those keys")
n = 0
for _ in big:scan_history{min_step = 1000, max_step = 2000} do n = n + 1 end
local want = 0
for _, s in ipairs(ref_steps) do if s >= 1000 and s < 2000 then want = want + 1 end end
t.eq(n, want, "scan_history min_step/max_step")

-- history: sampled rows keep the first and the last
local h = big:history()
t.eq(#h, 500, "history: 500 samples")
t.eq(h[1]._step, 0, "history: first row")
t.eq(h[#h]._step, 107124, "history: last row")
h = big:history{samples = 5000}
t.eq(#h, 2145, "history: all rows when samples > rows")
h = big:history{keys = {"train/loss"}, samples = 10}
t.eq(#h, 10, "history with keys: sampled")
t.ok(h[1]["train/loss"] ~= nil and h[1]["val/loss"] == nil, "history with keys: only the keys")
local sys = big:history{stream = "system"}
t.eq(#sys, 208, "system metrics: one row per stats record")
t.ok(type(sys[1]["system.cpu"]) == "number" and sys[1]._timestamp > 1.77e9, "system rows: system.* and _timestamp")
t.ok(type(big.system_metrics["system.cpu"]) == "number", "run.system_metrics: latest values")

-- }======

-- {====== filters and order, evaluated locally

local function ids(list)
  local out = {}
  for _, r in ipairs(list) do out[#out + 1] = r.id end
  return out
end
t.eq(ids(la.runs(nil, {state = "finished"}, {order = "+created_at"})), {"g9dvvkua", "6h7uaalc", "kj3gdsjx"}, "finished, by created_at")
t.eq(ids(la.runs(nil, nil, {order = "-created_at"})), {"kj3gdsjx", "6h7uaalc", "g9dvvkua"}, "default-like order")
t.eq(ids(la.runs(nil, {["config.seed"] = 42}, {order = "+created_at"})), {"6h7uaalc", "kj3gdsjx"}, "config.seed = 42")
t.eq(ids(la.runs(nil, nil, {order = "-summary._runtime"})), {"kj3gdsjx", "6h7uaalc", "g9dvvkua"}, "order by a summary key; missing last")
t.eq(ids(la.runs(nil, nil, {order = "+summary._runtime"})), {"6h7uaalc", "kj3gdsjx", "g9dvvkua"}, "ascending; missing still last")
t.eq(ids(la.runs(nil, {["summary.train/loss"] = {["$lt"] = 4}})), {"kj3gdsjx"}, "summary.X $lt")
t.eq(ids(la.runs(nil, {display_name = {["$regex"] = "^TINY", ["$options"] = "i"}})), {"kj3gdsjx"}, "$regex with options")
t.eq(ids(la.runs(nil, {created_at = {["$gt"] = "2025-01-01"}}, {order = "+created_at"})), {"6h7uaalc", "kj3gdsjx"}, "dates")
t.eq(ids(la.runs(nil, {["$or"] = {{["config.data.split.val_size"] = 0.2}, {host = "cvp"}}}, {order = "+created_at"})),
  {"g9dvvkua", "6h7uaalc"}, "$or, nested config key, host")
t.eq(ids(la.runs(nil, {["config.epochs"] = {["$exists"] = true}})), {"kj3gdsjx"}, "$exists")
t.eq(ids(la.runs("local/TinyLM")), {"kj3gdsjx"}, "a project name from the run records selects its runs")
t.checkerr("Could not find project local/nothing-here", function() return #la.runs("local/nothing-here") end)  -- issue 13 item 1
local paged = la.runs(nil, nil, {order = "+created_at", per_page = 1})
t.eq(#paged, 3, "runCount with per_page = 1")
t.eq(ids(paged), {"g9dvvkua", "6h7uaalc", "kj3gdsjx"}, "pages of one run, by cursor")
ok, err = pcall(la.runs, nil, {state = {["$foo"] = 1}})
t.ok(not ok and tostring(err):find("unknown operator", 1, true), "a bad filter raises before reading")

-- }======

-- {====== writes are refused and touch nothing

local before = slurp(BIGFILE)
local bst = fswatch.stat(BIGDIR)
big.summary.checked = true
ok, err = pcall(big.update, big)
t.ok(not ok and tostring(err):find("local runs are read-only", 1, true), "run:update() refused: " .. tostring(err))
ok, err = pcall(big.add_tags, big, "x")
t.ok(not ok and tostring(err):find("local runs are read-only", 1, true), "run:add_tags() refused")
ok, err = pcall(big.alert, big, {title = "t"})
t.ok(not ok and tostring(err):find("local runs are read-only", 1, true), "run:alert() refused")
t.ok(slurp(BIGFILE) == before, "the .wandb file is unchanged")
t.eq(fswatch.stat(BIGDIR).mtime, bst.mtime, "the run directory is unchanged")

-- }======

-- {====== the command line: --local DIR, and dry-run still prints the plan

if BIN then
  local p = io.popen(sh_quote(BIN) .. " once --lib-dir " .. sh_quote(LIB) .. " --local " .. sh_quote(RUNS) ..
    [[ -e 'local r = api.run("kj3gdsjx"); print("RUN", r.state, r.last_step, #api.runs())' 2>&1]])
  local o = p:read("a"); p:close()
  t.ok(o:find("RUN\tfinished\t107124\t3", 1, true), "--local DIR is the default api: " .. o)
  p = io.popen(sh_quote(BIN) .. " once --dry-run --lib-dir " .. sh_quote(LIB) .. " --local " .. sh_quote(RUNS) ..
    [[ -e 'local r = api.run("6h7uaalc"); r.summary.checked = true; r.tags[#r.tags + 1] = "seen"; r:update()' 2>&1; echo "rc=$?"]])
  o = p:read("a"); p:close()
  t.ok(o:find("[dry-run] would update local/wandb-runs/6h7uaalc", 1, true), "dry-run prints the plan: " .. o)
  t.ok(o:find("summary.checked: (unset) -> true", 1, true) and o:find("rc=0", 1, true), "dry-run plan lines, exit 0")

  -- jobs stopped by a tiny CPU budget in the middle of the first read: each next job goes on
  -- where the last one stopped, and the result is the same as one uninterrupted read
  la.flush()
  local want_summary = json.encode(la.run("kj3gdsjx").summary, {sort_keys = true})
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[every(0.02, function() local r = api.run("kj3gdsjx")
    print("DONE", r.history_line_count, r.last_step, json.encode(r.summary, {sort_keys = true}))
    require("runwatch.core").stop() end)]])
  f:close()
  p = io.popen("timeout 120 " .. sh_quote(BIN) .. " run --cpu-budget 0.002 --lib-dir " .. sh_quote(LIB) .. " --local " ..
    sh_quote(RUNS) .. " " .. sh_quote(script) .. " 2>&1")
  o = p:read("a"); p:close()
  os.remove(script)
  local stopped = select(2, o:gsub("exceeded its CPU budget", ""))
  t.ok(o:find("DONE\t2145\t107124\t" .. want_summary, 1, true) ~= nil, "a read cut by CPU budgets completes with the same result")
  t.ok(stopped >= 1, "the first read was stopped " .. stopped .. " times")
end

-- }======

-- {====== throughput: the 1.4 MB run through the local backend

do
  local bytes = fswatch.stat(BIGFILE).size
  local best = math.huge
  for _ = 1, 3 do
    local b = require("runwatch.local.backend").new(BIGDIR)
    local t0 = core.monotonic()
    b:refresh()
    local dt = core.monotonic() - t0
    if dt < best then best = dt end
    t.eq(b:info("kj3gdsjx").rows, 2145, "bench parse: rows")
  end
  print(string.format("bench: local backend parsed %d bytes (10947 records, 2145 rows) in %.3f s: %.1f MB/s",
    bytes, best, bytes / best / 1e6))
  local t0 = core.monotonic()
  local n = 0
  for _ in big:scan_history{page_size = 1000} do n = n + 1 end
  print(string.format("bench: scan_history of %d rows in %.3f s", n, core.monotonic() - t0))
end

-- }======

-- {====== a live copy, grown range by range while a watch runs: every row exactly once

local tmp = os.tmpname()
os.remove(tmp)
assert(fswatch.mkdir(tmp))
assert(fswatch.mkdir(tmp .. "/wandb"))
local live_dir = tmp .. "/wandb/run-20260211_121423-kj3gdsjx"
assert(fswatch.mkdir(live_dir))
local live_file = live_dir .. "/run-kj3gdsjx.wandb"
local data = before
local lapi = api.open("local:" .. tmp)
local got, states, finishes, news = {}, {}, 0, 0
local w = watch{project = lapi.settings.entity .. "/" .. lapi.settings.project, api = lapi, every = "60s",
  id = "local-live-copy", stale = false,
  on_new_run = function(run) news = news + 1 end,
  on_history = function(run, rows) for _, r in ipairs(rows) do got[#got + 1] = r._step end end,
  on_state = function(run, old, new) states[#states + 1] = old .. ">" .. new end,
  on_finish = function() finishes = finishes + 1 end,
}
local seed = 12345
local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
local SIZES = {1, 3, 6, 7, 8, 64, 700, 4096, 20000, 32768}
local pos, appends = 0, 0
local out = assert(io.open(live_file, "wb"))
local t_start = core.monotonic()
while pos < #data do
  local n = SIZES[rnd(#SIZES)]
  -- some ranges stop right at, before or after a block boundary
  local nb = (pos // 32768 + 1) * 32768
  if rnd(4) == 1 and nb - pos > 0 and nb - pos <= 40000 then n = nb - pos + rnd(9) - 5 end
  if n < 1 then n = 1 end
  out:write(data:sub(pos + 1, pos + n))
  out:flush()
  pos = pos + n
  appends = appends + 1
  sleep(0.004)
end
out:close()
-- let the last pokes and a periodic tick through
local waited = 0
while (#got < #ref_steps or finishes == 0) and waited < 20 do sleep(0.1); waited = waited + 0.1 end
print(string.format("live copy: %d bytes in %d appends over %.1f s, %d rows delivered in %d ticks",
  #data, appends, core.monotonic() - t_start, #got, w.ticks))
t.eq(#got, #ref_steps, "live copy: as many rows as the file has")
t.eq(got, ref_steps, "live copy: every row exactly once, in order")
t.eq(news, 1, "live copy: on_new_run once")
t.eq(finishes, 1, "live copy: on_finish once when the exit record arrived")
t.eq(states, {"running>finished"}, "live copy: running, then finished")
t.ok(w.ticks >= 5, "live copy: the file watcher triggered the ticks (the poll is every 60 s): " .. w.ticks)
t.eq(lapi.backend:info("kj3gdsjx").error_count, 0, "live copy: no read error on any partial tail")
w:stop()
lapi.backend:close()
os.remove(live_file)
os.remove(live_dir)
os.remove(tmp .. "/wandb")
os.remove(tmp)

-- }======

t.done()
