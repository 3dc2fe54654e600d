-- Tests of runwatch.wandbfile, the .wandb reader binding: records, live tails, errors, inspect, misuse.
local t = require "testlib"
local wandbfile = require "runwatch.wandbfile"
local json = require "runwatch.json"

local shared = os.getenv("RW_SHARED") or "../shared"
local runs = shared .. "/wandb-runs"
local BIG = runs .. "/run-20260211_121423-kj3gdsjx"
local SMALL = runs .. "/run-20251104_111004-6h7uaalc"
local LEGACY = runs .. "/offline-run-20210216_154407-g9dvvkua"

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function spit(path, s, mode)
  local f = assert(io.open(path, mode or "wb"))
  f:write(s)
  f:close()
end

local temps = {}
local function tmp()
  local p = os.tmpname()
  temps[#temps + 1] = p
  return p
end

-- All records available now: list of records, list of errors.
local function read_all(f)
  local recs, errs = {}, {}
  while true do
    local r, e = f:read()
    if r == nil then break end
    if r == false then errs[#errs + 1] = e else recs[#recs + 1] = r end
  end
  return recs, errs
end

local have_shared = slurp(BIG .. "/run-kj3gdsjx.wandb") ~= nil

---------------------------------------------------------------- misuse raises, the world returns nil, err
do
  t.checkerr("bad argument #1", wandbfile.open)
  t.checkerr("bad option 'bogus'", wandbfile.open, "x.wandb", {bogus = 1})
  t.checkerr("bad option 'offset'", wandbfile.open, "x.wandb", {offset = 3})
  t.checkerr("bad option 'offset'", wandbfile.open, "x.wandb", {offset = -1})
  t.checkerr("bad field 'output'", wandbfile.open, "x.wandb", {output = "yes"})

  local f, err = wandbfile.open("/nonexistent/dir/run-x.wandb")
  t.ok(f == nil and type(err) == "string" and err:find("No such file", 1, true), "missing file: " .. tostring(err))
  local f2, err2 = wandbfile.inspect("/nonexistent/dir/run-x.wandb")
  t.ok(f2 == nil and type(err2) == "string", "inspect of a missing file")

  local p = tmp()
  spit(p, "hello world, not a log")
  f, err = wandbfile.open(p)
  t.ok(f == nil and err:find("not a .wandb file", 1, true), "not a .wandb file: " .. tostring(err))
  spit(p, ":W&B\xe1\xbe\0")
  f, err = wandbfile.open(p, {offset = 1000})
  t.ok(f == nil and err:find("beyond the end", 1, true), "offset beyond the end: " .. tostring(err))

  -- A header-only file: a valid, empty log; then closed-file misuse.
  f = assert(wandbfile.open(p))
  t.eq(f:read(), nil, "no record yet")
  t.eq(f:offset(), 7, "offset after the header")
  t.eq(f:size(), 7, "size")
  t.ok(tostring(f):find("runwatch.WandbFile", 1, true), "__tostring")
  f:close()
  f:close()   -- idempotent
  t.ok(tostring(f):find("closed", 1, true), "__tostring when closed")
  t.checkerr("closed wandb file", f.read, f)
  t.checkerr("closed wandb file", f.offset, f)
  t.checkerr("closed wandb file", f.records, f)
  t.checkerr("runwatch.WandbFile expected", f.read, {})
  do
    local g <close> = assert(wandbfile.open(p))
    t.eq(g:read(), nil, "<close> variable")
  end
  -- Dropped without close: __gc closes it.
  for _ = 1, 50 do wandbfile.open(p) end
  collectgarbage()
  collectgarbage()
  t.ok(true, "collected")
end

if have_shared then
  ---------------------------------------------------------------- the long real run
  local path = BIG .. "/run-kj3gdsjx.wandb"
  local f <close> = assert(wandbfile.open(path))
  local recs, errs = read_all(f)
  t.eq(#errs, 0, "no errors")
  t.eq(#recs, 10947, "records")
  local n, hist, last_step, exit, run, stats = {}, 0, nil, nil, nil, 0
  local summary = {}
  local function apply(tbl, items, remove)
    for _, it in ipairs(items) do
      local path_ = it.nested_key or {it.key}
      local node = tbl
      for i = 1, #path_ - 1 do
        if type(node[path_[i]]) ~= "table" then node[path_[i]] = {} end
        node = node[path_[i]]
      end
      if remove then node[path_[#path_]] = nil
      else node[path_[#path_]] = assert(json.decode(it.value_json)) end
    end
  end
  local prev = 0
  local ordered = true
  for _, r in ipairs(recs) do
    n[r.type] = (n[r.type] or 0) + 1
    if r.offset <= prev then ordered = false end
    prev = r.offset
    if r.type == "history" then
      hist = hist + 1
      last_step = r.step
    elseif r.type == "exit" then exit = r
    elseif r.type == "run" then run = r
    elseif r.type == "summary" then apply(summary, r.update); apply(summary, r.remove, true)
    elseif r.type == "stats" then
      stats = stats + 1
      if stats == 1 then
        t.ok(type(r.timestamp) == "number" and r.timestamp > 1.7e9, "stats timestamp")
        t.ok(#r.items > 5 and type(r.items[1].key) == "string" and type(r.items[1].value_json) == "string",
             "stats items")
      end
    end
  end
  t.ok(ordered, "offsets increase")
  t.eq(recs[1].type, "header", "first record")
  t.eq(recs[1].offset, 7, "first offset")
  t.ok(recs[1].producer:find("^0%.24%.2%+"), "header producer")
  t.eq(hist, 2145, "history rows")
  t.eq(last_step, 107124, "last step")
  t.eq(n.stats, 208, "stats records")
  t.eq(n.summary, 4291, "summary records")
  t.eq(n.output_raw, 4294, "output_raw records (not decoded)")
  t.eq(exit and exit.exit_code, 0, "exit code")
  t.eq(exit and exit.runtime, 1563, "runtime")
  t.eq(run.run_id, "kj3gdsjx", "run_id")
  t.eq(run.project, "TinyLM", "project")
  t.eq(run.display_name, "tinylm_pretrain_512d_8L", "display_name")
  t.eq(run.git_remote, "git@github.com:AuroraEchos/TinyLM.git", "git remote")
  t.eq(run.git_commit, "9b6ecb7a19f14630d448bbc51e0e07c69df0cd51", "git commit")
  t.eq(run.tags, {}, "no tags")
  t.ok(run.start_time > 1770783263 and run.start_time < 1770783264, "start_time")
  local config = {}
  for _, it in ipairs(run.config) do config[it.key] = json.decode(it.value_json) end
  t.eq(config.lr, 0.0005, "config lr")
  t.eq(config.batch_size, 8, "config batch_size")
  t.eq(config.dtype, "bfloat16", "config dtype")
  t.eq(config.use_wandb, true, "config use_wandb")
  -- A history row: nested_key leaves, key joined, value_json text.
  local h
  for _, r in ipairs(recs) do if r.type == "history" then h = r; break end end
  t.eq(h.step, 0, "first step")
  local row = {}
  for _, it in ipairs(h.items) do
    t.ok(it.nested_key and table.concat(it.nested_key, ".") == it.key, "key = joined nested_key")
    row[it.key] = json.decode(it.value_json)
  end
  t.eq(row._step, 0, "_step")
  t.ok(math.abs(row["train/loss"] - 8.947674751281738) < 1e-12, "train/loss")
  -- The final summary equals files/wandb-summary.json.
  local want = json.decode(assert(slurp(BIG .. "/files/wandb-summary.json")))
  local function same(a, b, where)
    if type(a) == "table" and type(b) == "table" then
      for k, v in pairs(b) do same(a[k], v, where .. "." .. k) end
      for k in pairs(a) do if b[k] == nil then t.ok(false, "extra summary key " .. where .. "." .. k) end end
    else
      t.ok(a == b, "summary " .. where .. ": " .. tostring(a) .. " vs " .. tostring(b))
    end
  end
  same(summary, want, "summary")
  t.eq(f:offset(), 1426035, "offset at the end")
  t.eq(f:size(), 1426035, "size")
  t.eq(f:read(), nil, "nothing more")
  t.eq(#f:errors(), 0, "errors() empty")

  -- output = true: the console text.
  do
    local g <close> = assert(wandbfile.open(path, {output = true}))
    local lines, first = 0, nil
    for r in g:records() do
      if r.type == "output_raw" then
        lines = lines + 1
        first = first or r
      end
    end
    t.eq(lines, 4294, "output_raw with lines")
    t.ok(first.line:find("^Start training"), "first output line: " .. tostring(first.line))
    t.ok(first.stream == "stdout" or first.stream == "stderr", "stream")
  end

  -- Resume at a saved offset: exactly the remaining records.
  do
    local mid = recs[5000].offset
    local g <close> = assert(wandbfile.open(path, {offset = mid}))
    local rest = read_all(g)
    t.eq(#rest, 10947 - 4999, "records after a resume")
    t.eq(rest[1].offset, mid, "first record at the saved offset")
  end

  ---------------------------------------------------------------- inspect
  local s = assert(wandbfile.inspect(path))
  t.eq(s.records, 10947, "inspect records")
  t.eq(s.counts.history, 2145, "inspect counts.history")
  t.eq(s.counts.stats, 208, "inspect counts.stats")
  t.eq(s.history_rows, 2145, "inspect history_rows")
  t.eq(s.first_step, 0, "inspect first_step")
  t.eq(s.last_step, 107124, "inspect last_step")
  t.eq(s.exit_code, 0, "inspect exit_code")
  t.eq(s.runtime, 1563, "inspect runtime")
  t.eq(s.has_exit, true, "inspect has_exit")
  t.eq(s.complete, true, "inspect complete")
  t.eq(s.error_count, 0, "inspect error_count")
  t.eq(s.size, 1426035, "inspect size")
  t.eq(s.bytes_read, 1426035, "inspect bytes_read")
  t.eq(s.chunks.first, 41, "inspect FIRST chunks")
  t.eq(s.chunks.last, 41, "inspect LAST chunks")
  t.eq(s.chunks.pads, 2, "inspect pads")
  t.eq(s.alignment, "standard", "inspect alignment")
  t.eq(s.run.run_id, "kj3gdsjx", "inspect run")
  local keys = table.concat(s.keys, ",")
  t.ok(keys:find("train/loss", 1, true) and keys:find("_step", 1, true), "inspect keys: " .. keys)
  t.ok(wandbfile.stat == wandbfile.inspect, "stat is inspect")

  local legacy = assert(wandbfile.inspect(LEGACY .. "/run-g9dvvkua.wandb"))
  t.eq(legacy.records, 10, "legacy records")
  t.eq(legacy.has_footer, true, "legacy footer")
  t.eq(legacy.complete, true, "legacy complete")
  t.eq(legacy.history_rows, 0, "legacy has no history")
  t.eq(legacy.first_step, nil, "no steps")

  ---------------------------------------------------------------- a live writer
  do
    local data = assert(slurp(SMALL .. "/run-6h7uaalc.wandb"))
    local want_recs = read_all(assert(wandbfile.open(SMALL .. "/run-6h7uaalc.wandb")))
    local p = tmp()
    spit(p, "")
    local g = assert(wandbfile.open(p))
    local got, errors, at = {}, 0, 0
    math.randomseed(7)
    while at < #data do
      local k = math.random(1, 3000)
      spit(p, data:sub(at + 1, at + k), "ab")
      at = at + k
      local rs, es = read_all(g)
      for _, r in ipairs(rs) do got[#got + 1] = r end
      errors = errors + #es
      if math.random(5) == 1 then   -- a daemon restart at the saved offset
        local off = g:offset()
        g:close()
        g = assert(wandbfile.open(p, {offset = off}))
      end
    end
    g:close()
    t.eq(errors, 0, "live: no errors")
    t.eq(#got, #want_recs, "live: same number of records")
    local same_offsets = true
    for i = 1, #want_recs do
      if not got[i] or got[i].offset ~= want_recs[i].offset or got[i].type ~= want_recs[i].type then
        same_offsets = false
      end
    end
    t.ok(same_offsets, "live: same records in the same order, no duplicate")

    ---------------------------------------------------------------- corruption and truncation
    local bad = data:sub(1, 20000) .. string.char(data:byte(20001) ~ 0x40) .. data:sub(20002)
    spit(p, bad)
    g = assert(wandbfile.open(p))
    local rs, es = {}, {}
    while true do
      local r, e = g:read()
      if r == nil then break end
      if r == false then
        es[#es + 1] = e
        t.ok(type(e.offset) == "number" and type(e.message) == "string", "error shape")
      else rs[#rs + 1] = r end
    end
    t.eq(#es, 1, "one error for one flipped byte")
    t.ok(es[1] and es[1].offset <= 20000 and es[1].offset >= 0, "error offset in the damaged block")
    t.ok(es[1] and es[1].message:find("CRC", 1, true), "reason: " .. tostring(es[1] and es[1].message))
    t.eq(#g:errors(), 1, "errors() keeps it")
    t.eq(rs[#rs].type, "exit", "reading went on to the exit record")
    local after = 0
    for _, r in ipairs(rs) do if r.offset >= 32768 then after = after + 1 end end
    local want_after = 0
    for _, r in ipairs(want_recs) do if r.offset >= 32768 then want_after = want_after + 1 end end
    t.eq(after, want_after, "every record of the next block")
    g:close()
    local si = assert(wandbfile.inspect(p))
    t.eq(si.error_count, 1, "inspect counts the error")
    t.ok(si.errors[1].offset == es[1].offset, "inspect error offset")

    spit(p, data:sub(1, 30000))
    si = assert(wandbfile.inspect(p))
    t.eq(si.complete, false, "a cut file is not complete")
    t.ok(si.tail and si.tail.offset <= 30000 and si.tail.offset + si.tail.bytes == 30000, "tail of a cut file")
    t.eq(si.error_count, 0, "a cut file has no error")
  end
end

for _, p in ipairs(temps) do os.remove(p) end
if not have_shared then
  print("SKIP: " .. runs .. " not found (set RW_SHARED): the real-run tests did not run")
  print(string.format("%d passed, %d failed", t.passed, t.failed))
  os.exit(t.failed > 0 and 1 or 77)
end
t.done()
