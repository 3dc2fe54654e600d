-- Helpers shared by the bench's runwatch workloads: the test server's admin API, a measured
-- phase (wall time, CPU time, VmHWM/VmRSS: the same readings baseline.js takes) and the one
-- result line the driver (tests/bench/measure.js) reads: "BENCH {json}".
-- Settings come from the environment: RW_TEST_SERVER (the test server), BENCH_PROJECT.
local core = require "runwatch.core"
local http = require "runwatch.http"
local json = require "runwatch.json"

local M = {}
M.server = assert(os.getenv("RW_TEST_SERVER"), "RW_TEST_SERVER not set (run through tests/bench/run.sh)")
M.project = (os.getenv("WANDB_ENTITY") or "rw-team") .. "/" .. (os.getenv("BENCH_PROJECT") or "bench")

function M.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return tonumber(v) or v
end

-- admin(method, path, body) -> decoded answer
function M.admin(method, path, body)
  local res, err = http.request{method = method, url = M.server .. "/_admin/" .. path,
    body = body and json.encode(body) or nil, headers = body and {["Content-Type"] = "application/json"} or nil}
  assert(res, err)
  assert(res.status == 200, "admin " .. path .. ": HTTP " .. res.status)
  return json.decode(res.body)
end

-- VmHWM and VmRSS of this process, in KiB
function M.proc_status()
  local f = assert(io.open("/proc/self/status", "r"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)")), tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- start() -> phase; stop(phase) -> {wall, cpu (user+sys of the process, os.clock), hwm_kb, rss_kb, lua_kb}
function M.start()
  for k in pairs(M.prof or {}) do M.prof[k] = nil end   -- BENCH_LPROF covers the measured phase
  return {t = core.monotonic(), cpu = os.clock()}
end

-- (the profile of run.sh --profile starts at core.monotonic() in start() and ends at
-- core.stats() in stop(): callgrind --zero-before / --dump-before; keep that order)
function M.stop(p)
  local lua_kb = core.stats().mem // 1024
  local wall, cpu = core.monotonic() - p.t, os.clock() - p.cpu
  local hwm, rss = M.proc_status()
  return {wall = wall, cpu = cpu, hwm_kb = hwm, rss_kb = rss, lua_kb = lua_kb}
end

-- {====== BENCH_LPROF=1: time spent in the library's non-yielding hot spots (monotonic clock:
-- nothing else runs inside them, so on an idle machine this is their CPU time), by wrapping
-- module functions (callers look them up at call time). json.decode/encode are attributed to
-- the library file that called them. Inclusive times; nested entries overlap. Only the
-- measured phase counts (start() clears the table).
local prof = {}
M.prof = prof

local function caller_file()
  for level = 3, 8 do
    local info = debug.getinfo(level, "S")
    if not info then break end
    if info.short_src ~= "[C]" and not info.short_src:match("bench%.lua$") then
      return (info.short_src:match("([^/]+)%.lua$") or info.short_src)
    end
  end
  return "?"
end

local function wrap(tbl, name, label, by_caller)
  local f = tbl[name]
  tbl[name] = function(...)
    local key = by_caller and (label .. " <- " .. caller_file()) or label
    local t0 = core.monotonic()
    local r = table.pack(f(...))
    local e = prof[key] or {n = 0, secs = 0}
    e.n, e.secs = e.n + 1, e.secs + (core.monotonic() - t0)
    prof[key] = e
    return table.unpack(r, 1, r.n)
  end
end

function M.lprof()
  wrap(json, "decode", "json.decode", true)
  wrap(json, "encode", "json.encode", true)
  local ok, state = pcall(require, "runwatch.state")
  if ok then
    for _, fname in ipairs({"set_cursor", "cursor", "meta_set", "meta_get", "transaction"}) do
      if state[fname] then wrap(state, fname, "state." .. fname) end
    end
  end
  local run_mod = require "runwatch.run"
  wrap(run_mod, "new", "run.new")
  local watch = require "runwatch.watch"
  wrap(watch.Watch, "process", "Watch:process (incl. handlers, state)")
  local diff = require "runwatch.diff"
  wrap(diff, "keys", "diff.keys")
end
if os.getenv("BENCH_LPROF") == "1" then M.lprof() end

-- BENCH_GC=stop|generational|incremental:P:S: experiments on the collector's share (profiles only; the bench
-- itself runs with the runtime's default)
-- BENCH_GC=incremental:PAUSE:STEPMUL sets the incremental collector's parameters.
local gc = os.getenv("BENCH_GC")
if gc == "stop" then collectgarbage("stop")
elseif gc == "generational" then collectgarbage("generational")
elseif gc and gc:match("^incremental:") then
  local pause, stepmul = gc:match("^incremental:(%d+):(%d+)$")
  assert(pause, "BENCH_GC=incremental:PAUSE:STEPMUL")
  collectgarbage("incremental", tonumber(pause), tonumber(stepmul))
elseif gc and gc ~= "" then error("BENCH_GC: stop, generational or incremental:PAUSE:STEPMUL") end

-- }======

function M.report(t)
  t.client = "runwatch"
  if next(prof) then t.lprof = prof end
  io.stdout:write("BENCH " .. json.encode(t) .. "\n")
  io.stdout:flush()
end

return M
