-- Issue 13 item 6, local runs hide facts: the attrs docs/local.md lists are run fields with
-- script-facing names (run.exit_code, run.liveness, run.writer_pid, run.error_count, run.offline,
-- run.local_dir, run.local_files), nil on W&B runs; a file named *.wandb that is not a .wandb log is
-- not listed as a running run and is logged; `runwatch inspect --json` on an unreadable file or a
-- missing path prints an object carrying the error (not `[]`). Runs from the demo writer.
local t = require "testlib"
local json = require "runwatch.json"
local fswatch = require "runwatch.fswatch"

local SRC = (os.getenv("RW_TESTS") or "tests") .. "/.."
local BIN = os.getenv("RW_BIN")
local LIB = SRC .. "/scripts/lib"
local demo = dofile(SRC .. "/scripts/demo/demo_runs.lua")

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
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
-- sh(cmd) -> stdout and stderr together, exit status
local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc
end

local tmp = os.tmpname()
os.remove(tmp)
assert(fswatch.mkdir(tmp))
local specs = demo.write(tmp)
local by = {}
for _, s in ipairs(specs) do by[s.id] = s end
local la = api.open("local:" .. tmp)

-- {====== the facts, by their script-facing names

local fin = la.run("dmo1base")
t.eq(fin.exit_code, 0, "a finished run's exit code")
t.eq(fin.liveness, "exit", "decided by the exit record")
t.eq(fin.writer_pid, nil, "no writer PID asked for an ended run")
t.eq(fin.error_count, 0, "no read errors")
t.eq(fin.offline, false, "an online run")
t.eq(fin.local_dir, by.dmo1base.dir, "the run directory")
t.eq(fin.local_files, {by.dmo1base.file}, "its .wandb files")

local failed = la.run("dmo4fail")
t.eq(failed.state, "failed", "the failed run")
t.eq(failed.exit_code, 1, "its exit code")
t.eq(failed.offline, true, "an offline run")

local killed = la.run("dmo5crsh")
t.eq(killed.state, "crashed", "the killed run is crashed")
t.eq(killed.exit_code, nil, "no exit code without an exit record")
t.eq(killed.liveness, "pid", "decided by its writer's PID")
t.ok(math.type(killed.writer_pid) == "integer", "the writer's PID: " .. tostring(killed.writer_pid))

local prog = la.run(specs[6].id)
t.eq(prog.state, "running", "the run in progress")
t.eq(prog.liveness, "mtime", "decided by the files' last change (another host)")
t.eq(prog.exit_code, nil, "running: no exit code")

-- a damaged copy counts its errors
local ddir = tmp .. "/wandb/run-20240101_000000-dmgcopy1"
assert(fswatch.mkdir(ddir))
local bytes = slurp(by.dmo1base.file)
local mid = 40000
spit(ddir .. "/run-dmgcopy1.wandb", bytes:sub(1, mid) .. string.rep("\255", 64) .. bytes:sub(mid + 65))
local dmg = la.run("dmgcopy1")
t.ok(dmg.error_count > 0, "a damaged log counts its errors: " .. tostring(dmg.error_count))

-- in filters and order, and readable on a listed (lazily loaded) run
local ids = {}
for _, r in ipairs(la.runs(nil, nil, {order = "+created_at", lazy = true})) do
  if r.exit_code == 1 then ids[#ids + 1] = r.id end
end
t.eq(ids, {"dmo4fail"}, "exit_code on listed runs")

-- W&B runs have none of these (nil, not an error): the same getters over a W&B-shaped attrs table
local run_mod = require "runwatch.run"
local wb_run = run_mod.new(la, "e", "p", {id = "x", name = "abc", state = "finished"}, true)
t.eq({wb_run.exit_code, wb_run.liveness, wb_run.writer_pid, wb_run.error_count, wb_run.offline, wb_run.local_dir},
  {}, "nil on a run without local facts")

-- }======

-- {====== a file that is not a .wandb log

local jdir = tmp .. "/wandb/run-20240101_000000-junk0001"
assert(fswatch.mkdir(jdir))
spit(jdir .. "/run-junk0001.wandb", "this is not a W&B transaction log\n" .. string.rep("x", 100))
spit(tmp .. "/wandb/notes.wandb", "hello")
la = api.open("local:" .. tmp)
local listed = {}
for _, r in ipairs(la.runs()) do listed[r.id] = r.state end
t.eq(listed.junk0001, nil, "a non-log is not listed")
t.eq(listed.notes, nil, "nor a stray *.wandb file")
t.ok(listed.dmo1base ~= nil, "the real runs are")
t.checkerr("Could not find run", la.run, "junk0001")
-- an empty log (a run just starting) is still listed
local edir = tmp .. "/wandb/run-20240101_000000-starting"
assert(fswatch.mkdir(edir))
spit(edir .. "/run-starting.wandb", "")
la = api.open("local:" .. tmp)
t.eq(la.run("starting").state, "running", "an empty log just created is a run starting")

-- logged, once
local script = tmp .. "/list.lua"
spit(script, 'for _, r in ipairs(api.runs()) do end\nfor _, r in ipairs(api.runs()) do end\n')
local out = sh(q(BIN) .. " once --lib-dir " .. q(LIB) .. " --local " .. q(tmp) .. " " .. q(script))
local _, n = out:gsub("run%-junk0001%.wandb: not a %.wandb file", "")
t.eq(n, 1, "the non-log is logged once: " .. out)
t.ok(out:find("WARN", 1, true), "as a warning")

-- }======

-- {====== runwatch inspect --json on what cannot be read

local function inspect_json(path)
  local p = io.popen(q(BIN) .. " inspect --lib-dir " .. q(LIB) .. " " .. q(path) .. " --json 2>/dev/null; echo \"rc=$?\"")
  local text = p:read("a")
  p:close()
  local rc = tonumber(text:match("rc=(%d+)%s*$"))
  text = text:gsub("rc=%d+%s*$", "")
  return json.decode(text), rc, text
end
local arr, rc, text = inspect_json(jdir .. "/run-junk0001.wandb")
t.eq(rc, 1, "inspect of a non-log: exit 1")
t.ok(type(arr) == "table" and #arr == 1, "one object: " .. tostring(text))
t.ok(arr and arr[1] and tostring(arr[1].error):find("not a .wandb file", 1, true), "carrying the error: " .. tostring(text))
t.eq(arr and arr[1] and arr[1].path, jdir .. "/run-junk0001.wandb", "naming the file")
arr, rc, text = inspect_json(tmp .. "/no-such-dir")
t.eq(rc, 1, "inspect of a missing path: exit 1")
t.ok(arr and arr[1] and tostring(arr[1].error):find("No such file", 1, true), "an object with the error: " .. tostring(text))
arr, rc, text = inspect_json(tmp .. "/wandb")
t.eq(rc, 1, "inspect of the directory with a non-log: exit 1")
local errs, good = 0, 0
for _, o in ipairs(arr or {}) do if o.error then errs = errs + 1 else good = good + 1 end end
t.eq(errs, 2, "the two non-logs carry errors")
t.ok(good >= 6, "the runs are inspected: " .. good)

-- }======

os.execute("rm -rf " .. q(tmp))
t.done()
