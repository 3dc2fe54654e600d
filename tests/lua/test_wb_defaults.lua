-- Issue 17 item 6, W&B defaults everywhere: `--local` without a directory reads WANDB_DIR, else
-- ./wandb (as the SDK writes runs); `runwatch export` without a path exports WANDB_ENTITY/
-- WANDB_PROJECT (or --local's directory); export's default columns are what a W&B user looks
-- for in the runs table (name, state, tags, notes, user, group, created, runtime, sweep, then
-- config and summary keys; summary._wandb only when asked for); --columns is unchanged.
local t = require "testlib"
local json = require "runwatch.json"
local fswatch = require "runwatch.fswatch"

local SRC = (os.getenv("RW_TESTS") or "tests") .. "/.."
local BIN = os.getenv("RW_BIN")
local LIB = SRC .. "/scripts/lib"
local demo = dofile(SRC .. "/scripts/demo/demo_runs.lua")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end
-- sh(cmd) -> stdout, stderr, exit status
local function sh(cmd)
  local errf = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. q(errf) .. "; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local ef = io.open(errf)
  local err = ef and ef:read("a") or ""
  if ef then ef:close() end
  os.remove(errf)
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return (out:gsub("rc=%d+%s*$", "")), err, rc
end
local R = q(BIN) .. " --lib-dir " .. q(LIB)

-- a project directory with runs in its wandb/, as the SDK leaves it
local proj = os.tmpname()
os.remove(proj)
assert(fswatch.mkdir(proj))
local specs = demo.write(proj)
local script = proj .. "/count.lua"
spit(script, 'local n = 0\nfor _ in ipairs(api.runs()) do n = n + 1 end\nprint("runs " .. n .. " dir " .. api.settings.local_dir)\n')
local want = "runs " .. #specs

-- {====== --local without a directory

local out, err, rc = sh("WANDB_DIR=" .. q(proj) .. " " .. R .. " once --local " .. q(script))
t.eq(rc, 0, "--local SCRIPT with WANDB_DIR: exit 0 (" .. err .. ")")
t.ok(out:find(want, 1, true), "WANDB_DIR's runs: " .. out)
t.ok(out:find("dir " .. proj, 1, true), "read from WANDB_DIR: " .. out)
out, err, rc = sh("cd " .. q(proj) .. " && env -u WANDB_DIR " .. R .. " once --local " .. q(script))
t.eq(rc, 0, "--local in a directory with ./wandb: exit 0 (" .. err .. ")")
t.ok(out:find(want, 1, true) and out:find("dir ./wandb", 1, true), "./wandb's runs: " .. out)
out, err, rc = sh("cd " .. q(proj) .. " && env -u WANDB_DIR " .. R .. " once --local -e " ..
  q('print("runs " .. #api.runs())'))
t.ok(rc == 0 and out:find(want, 1, true), "--local before another option: " .. out .. err)
out, err, rc = sh("env -u WANDB_DIR " .. R .. " once --local " .. q(proj .. "/wandb") .. " " .. q(script))
t.ok(rc == 0 and out:find(want, 1, true), "--local DIR as before: " .. out .. err)
out, err, rc = sh("cd / && env -u WANDB_DIR " .. R .. " once --local " .. q(script))
t.ok(rc ~= 0 and err:find("wandb", 1, true), "no ./wandb: an error naming it: " .. err)

-- }======

-- {====== runwatch export without a path

local all = api.runs("rw-team/vision", nil, {per_page = 100})
local total = #all
local function lines(text)
  local l = {}
  for line in text:gmatch("([^\n]*)\n") do l[#l + 1] = line:gsub("\r$", "") end
  return l
end
out, err, rc = sh("WANDB_PROJECT=vision " .. R .. " export --columns id")
t.eq(rc, 0, "export with WANDB_PROJECT: exit 0 (" .. err .. ")")
t.eq(#lines(out) - 1, total, "WANDB_ENTITY/WANDB_PROJECT's runs")
out, err, rc = sh("env -u WANDB_PROJECT " .. R .. " export")
t.eq(rc, 2, "no path and no WANDB_PROJECT: a usage error")
t.ok(err:find("WANDB_PROJECT", 1, true) and err:find("usage: runwatch export", 1, true), "naming WANDB_PROJECT: " .. err)
out, err, rc = sh("env -u WANDB_PROJECT " .. R .. " --local " .. q(proj .. "/wandb") .. " export --columns id")
t.eq(rc, 0, "export of --local's directory without a path (" .. err .. ")")
t.eq(#lines(out) - 1, #specs, "every local run")

-- }======

-- {====== default columns

out, err, rc = sh(R .. " export rw-team/vision")
local header = lines(out)[1] or ""
local cols = {}
for c in header:gmatch("[^,]+") do cols[#cols + 1] = c end
t.eq({table.unpack(cols, 1, 10)}, {"id", "name", "state", "tags", "notes", "user.username", "group", "created_at",
  "runtime", "sweep_name"}, "the runs table's columns first")
local has_wandb, first_cfg, first_sum = false, nil, nil
for i, c in ipairs(cols) do
  if c:find("^summary%._wandb") then has_wandb = true end
  if c:find("^config%.") and not first_cfg then first_cfg = i end
  if c:find("^summary%.") and not first_sum then first_sum = i end
end
t.ok(not has_wandb, "summary._wandb is left out")
t.ok(first_cfg == 11 and first_sum and first_sum > first_cfg, "then config and summary keys")
-- the values, against the runs
local it, info = export.each_run("rw-team/vision", nil, {per_page = 100})
local r1 = it()
local tmp = os.tmpname()
local n = export.csv({r1}, tmp)
local f = io.open(tmp)
local h, row = f:read("l"), f:read("l")
f:close()
os.remove(tmp)
local hv = {}
for c in h:gsub("\r$", ""):gmatch("[^,]+") do hv[#hv + 1] = c end
t.eq(n, 1, "one run exported")
t.ok(row:find(r1.user.username, 1, true) ~= nil, "user.username holds the username: " .. row)
-- asked for: summary._wandb, and --columns exactly as given
out, err, rc = sh(R .. " export rw-team/vision --columns id,summary._wandb.runtime,user")
t.eq(lines(out)[1], "id,summary._wandb.runtime,user", "--columns unchanged")
t.ok(rc == 0, "exit 0: " .. err)

-- }======

os.execute("rm -rf " .. q(proj))
t.done()
