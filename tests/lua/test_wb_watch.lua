-- watch against the test server's live simulation: every history row delivered exactly once
-- (compared with the server's rows), new runs, state changes (crash, finish), a tag added out of
-- band, a run that stalls while its heartbeat lives (silent), one whose heartbeat stops (dead),
-- recovery, and few requests per tick.
-- runwatch-mode: run
local t = require "testlib"
local wb = require "wbtest"

local rows_by_run, events, stale_info = {}, {}, {}
local function ev(name, run, extra) events[#events + 1] = {name = name, run = run.id, extra = extra} end
local function count(name, id)
  local n = 0
  for _, e in ipairs(events) do if e.name == name and (not id or e.run == id) then n = n + 1 end end
  return n
end

-- bring the fixture's running runs to the present
wb.admin("POST", "simulate", {steps = 1})

local w = watch{
  project = "rw-team/vision", every = 0.2, id = "test-watch",
  stale = {factor = 0.05, floor = 2.5, heartbeat = 1.6},
  on_new_run = function(run) ev("new", run) end,
  on_history = function(run, rows)
    local list = rows_by_run[run.id] or {}
    rows_by_run[run.id] = list
    for _, r in ipairs(rows) do list[#list + 1] = r._step end
  end,
  on_state = function(run, old, new) ev("state", run, old .. ">" .. new) end,
  on_crash = function(run) ev("crash", run) end,
  on_finish = function(run) ev("finish", run) end,
  on_tags = function(run, added, removed) ev("tags", run, table.concat(added, ",") .. "/" .. table.concat(removed, ",")) end,
  on_summary = function(run, keys) ev("summary", run) end,
  on_stale = function(run, info)
    ev("stale", run, info.kind); stale_info[run.id] = info
    actions.tag(run, "went-stale")        -- deferred to the outbox, performed after the commit
  end,
  on_recover = function(run, info) ev("recover", run) end,
}

sleep(0.5)
local running = {}
local alive = 0
for _, r in ipairs(api.runs("rw-team/vision", {state = {["$in"] = {"running", "pending", "preempting"}}})) do
  alive = alive + 1
  if r.state == "running" then running[#running + 1] = r.id end
end
table.sort(running)
t.ok(#running >= 3, "fixture has running runs: " .. #running)
local crash_id, stall_id, dead_id, tag_id = running[1], running[2], running[3], running[#running]

for i = 1, 6 do wb.admin("POST", "simulate", {steps = 3}); sleep(0.25) end
wb.admin("POST", "runs/rw-team/vision/" .. crash_id, {state = "crashed", heartbeat = false})
wb.admin("POST", "runs/rw-team/vision/" .. stall_id, {stall = true})
wb.admin("POST", "runs/rw-team/vision/" .. dead_id, {heartbeat = false})
wb.admin("POST", "runs/rw-team/vision/" .. tag_id, {tags_add = {"added-in-ui"}})
for i = 1, 16 do wb.admin("POST", "simulate", {steps = 2}); sleep(0.25) end
-- the stalled run recovers
wb.admin("POST", "runs/rw-team/vision/" .. stall_id, {stall = false})
for i = 1, 3 do wb.admin("POST", "simulate", {steps = 1}); sleep(0.3) end
sleep(0.3)

-- every row of every watched run, exactly once, in order
for _, id in ipairs(running) do
  local stored = wb.stored("rw-team/vision/" .. id, true)
  local want = {}
  for _, row in ipairs(stored.history) do
    local r = type(row) == "string" and json.decode(row) or row
    want[#want + 1] = r._step
  end
  t.eq(rows_by_run[id] or {}, want, "rows of " .. id .. " delivered exactly once (" .. #want .. " rows)")
end

t.eq(count("new"), alive, "on_new_run once per alive run")
local si = stale_info[stall_id]
t.ok(si and si.threshold == math.max(2.5, 0.05 * (si.cadence or 0)), "threshold = max(floor, factor x cadence)")
t.ok(si and si.silence > si.threshold, "silence over the threshold")
t.eq(count("crash", crash_id), 1, "on_crash once for the crashed run")
t.eq(count("state", crash_id), 1, "on_state once for it")
t.eq(count("tags", tag_id), 1, "on_tags for the tag added out of band")
for _, e in ipairs(events) do if e.name == "tags" and e.run == tag_id then t.eq(e.extra, "added-in-ui/", "added tag reported") end end
t.eq(count("stale", stall_id), 1, "the stalled run went stale once")
for _, e in ipairs(events) do
  if e.name == "stale" and e.run == stall_id then t.eq(e.extra, "silent", "stalled with a live heartbeat: silent") end
  if e.name == "stale" and e.run == dead_id then t.eq(e.extra, "dead", "no heartbeat: dead") end
end
t.eq(count("stale", dead_id), 1, "the run without heartbeat went stale once")
t.eq(count("recover", stall_id), 1, "the stalled run recovered once")
t.eq(count("stale", running[4] or "none"), 0, "a healthy run never went stale")
t.ok(count("summary") > 0, "summary changes seen")
local tagged = {}
for _, x in ipairs(wb.stored("rw-team/vision/" .. stall_id).tags) do tagged[x] = (tagged[x] or 0) + 1 end
t.eq(tagged["went-stale"], 1, "an action called in a handler was performed (after the commit)")
local audit = state.audit_list{action = "tag"}
t.ok(#audit >= 1 and audit[#audit].outcome == "ok", "and audited")

-- requests per tick stay small
local st = w.last_stats
t.ok(st.requests <= 4, "requests in the last tick: " .. st.requests)
w:stop()
t.done()
