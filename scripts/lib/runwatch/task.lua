-- Coroutine jobs: spawn, await (callback API -> sequential code), sleep, join, parallel/map,
-- the CPU budget per tick, and error isolation (a failing job is logged; the others go on).
local core = require "runwatch.core"
local timer = require "runwatch.timer"
local errors = require "runwatch.errors"

local M = {}

local AWAIT = setmetatable({}, {__name = "runwatch.await"})
local current = nil            -- the task whose coroutine is running
local running = {}             -- every live task, for status and stop
local stop_hooks = {}          -- called at SIGTERM / reload (schedules register here)
M.stopping = false

local Task = {}
Task.__index = Task
Task.__name = "runwatch.Task"
function Task:__tostring()
  return string.format("runwatch.Task (%s/%s | %s)", self.script or "-", self.job or "-",
    self.done and (self.ok and "done" or "failed") or "running")
end

local function default_budget()
  return core.options().cpu_budget or 5
end

local finish

-- Resume a task's coroutine once, under its CPU budget. Errors end the task; they never
-- propagate to the caller (which is the loop).
local function step(task, ...)
  local prev = current
  current = task
  core.slice_begin(task.budget_left)
  local ok, first = coroutine.resume(task.co, ...)
  local elapsed, aborted = core.slice_end()
  current = prev
  task.budget_left = task.budget_left - elapsed
  task.cpu = task.cpu + elapsed
  if aborted then
    coroutine.close(task.co)
    return finish(task, false, string.format("job exceeded its CPU budget of %g s", task.budget))
  end
  if not ok then
    local msg = first
    if type(msg) ~= "string" then msg = errors.describe(msg) end
    local tb = debug.traceback(task.co, msg)
    coroutine.close(task.co)
    if msg:find("not enough memory", 1, true) then
      tb = "job stopped: it went over the memory limit (" ..
        math.floor((core.options().mem_limit or 0) / 1048576) .. " MB)\n" .. tb
    end
    return finish(task, false, tb, first)
  end
  if coroutine.status(task.co) == "dead" then
    return finish(task, true, nil)
  end
  if first ~= AWAIT then
    coroutine.close(task.co)
    return finish(task, false, "job yielded outside a runwatch call (coroutine.yield at a job's top level)")
  end
end

function finish(task, ok, err, errvalue)
  task.done = true
  task.ok = ok
  task.err = err
  task.errvalue = errvalue
  running[task] = nil
  if not ok and not task.quiet then
    core.log("error", "job failed: " .. tostring(err), nil, task.script, task.job)
    core.job_failed()
  end
  local waiters = task.waiters
  task.waiters = nil
  if waiters then for _, w in ipairs(waiters) do w(task) end end
  if task.on_done then task.on_done(task) end
end

-- spawn(fn, ...) -> task. The job starts on the next loop turn (never synchronously).
-- opts (via M.new): script, job, budget, quiet (do not log/count failures: the parent does).
function M.new(fn, opts, ...)
  opts = opts or {}
  local parent = current
  local task = setmetatable({
    co = coroutine.create(fn),
    script = opts.script or (parent and parent.script),
    job = opts.job or (parent and parent.job),
    budget = opts.budget or default_budget(),
    cpu = 0,
    quiet = opts.quiet,
    on_done = opts.on_done,
    -- the effect context (effects.lua) is inherited, unless opts.ctx says otherwise (false: none)
    ctx = (opts.ctx == nil) and (parent and parent.ctx) or (opts.ctx or nil),
  }, Task)
  task.budget_left = task.budget
  running[task] = true
  local args = table.pack(...)
  local t = timer.new(0, 0, function() step(task, table.unpack(args, 1, args.n)) end)
  t:start()
  return task
end

-- run_now(fn, opts) -> task, or nil, err: runs the first slice synchronously (a script's top
-- level), so an error before the first wait is the caller's to report (a load error).
function M.run_now(fn, opts)
  local task = setmetatable({
    co = coroutine.create(fn), script = opts.script, job = opts.job,
    budget = opts.budget or default_budget(), cpu = 0, quiet = true,
  }, Task)
  task.budget_left = task.budget
  running[task] = true
  step(task)
  if task.done and not task.ok then return nil, task.err end
  task.quiet = nil
  return task
end

function M.spawn(fn, ...)
  if type(fn) ~= "function" then error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2) end
  return M.new(fn, nil, ...)
end

function M.current() return current end

-- context() -> the running task's effect context (nil outside a handler). with_context(ctx)
-- sets it for the running task until the returned value is closed (`local _ <close> = ...`);
-- sub-jobs spawned meanwhile inherit it. Another job never sees it.
function M.context() return current and current.ctx end
local RESTORE = {__close = function(o) o[1].ctx = o[2] end}   -- o = {task, previous context}
function M.with_context(ctx)
  local t = current
  if not t then error("with_context outside a job", 2) end
  local prev = t.ctx
  t.ctx = ctx
  return setmetatable({t, prev}, RESTORE)
end
function M.running_tasks() return running end

-- await(start): start(resume) begins an asynchronous operation that calls resume(...) once,
-- later, from the loop; await returns what resume was given.
function M.await(start)
  local task = current
  if not task or coroutine.running() ~= task.co then
    error("this call waits for the network or a timer, so it must run inside a job " ..
          "(a script's top level, spawn, every, after, cron or a watch handler), " ..
          "not inside a coroutine of your own", 3)
  end
  local fired = false
  start(function(...)
    if fired then return end
    fired = true
    step(task, ...)
  end)
  return coroutine.yield(AWAIT)
end

-- sleep(seconds)
function M.sleep(secs)
  if type(secs) ~= "number" or secs < 0 or secs ~= secs then
    error("bad argument #1 to 'sleep' (non-negative number expected)", 2)
  end
  return M.await(function(resume)
    timer.new(secs, 0, function() resume() end):start()
  end)
end

-- task:wait() -> true, or false, err (waits for another task to finish)
function Task:wait()
  if not self.done then
    M.await(function(resume)
      self.waiters = self.waiters or {}
      table.insert(self.waiters, resume)
    end)
  end
  return self.ok, self.err
end

-- parallel(fns, {limit = 8}) -> results (one per function, in order). Runs the functions as
-- sub-jobs with at most `limit` at a time; if any fails, raises the first error after all end.
function M.parallel(fns, opts)
  local limit = (opts and opts.limit) or 8
  local n = #fns
  local results, errs = {}, {}
  local next_i, active, left = 1, 0, n
  if n == 0 then return results end
  M.await(function(resume)
    local function launch()
      while active < limit and next_i <= n do
        local i = next_i
        next_i = next_i + 1
        active = active + 1
        M.new(function() results[i] = fns[i]() end, {quiet = true, on_done = function(t)
          active = active - 1
          left = left - 1
          if not t.ok then errs[#errs + 1] = {i = i, err = t.errvalue or t.err} end
          if left == 0 then resume() else launch() end
        end})
      end
    end
    launch()
  end)
  if #errs > 0 then
    table.sort(errs, function(a, b) return a.i < b.i end)
    error(errs[1].err, 0)
  end
  -- release what the sub-jobs captured as soon as the caller has the results
  local out = results
  results, fns = nil, nil
  return out
end

-- map(list, fn, {limit = 8}) -> {fn(list[1], 1), fn(list[2], 2), ...}
function M.map(list, fn, opts)
  local fns = {}
  for i, v in ipairs(list) do fns[i] = function() return fn(v, i) end end
  return M.parallel(fns, opts)
end

-- Hook for the host: _finish when the loop ran out of work (not after a stop). A job that is
-- still unfinished then waits for something that can never come (nothing is pending): its work
-- is lost, so it is reported and counted as a failed job (`once` exits 1, never 0).
function M._finish()
  local lost = {}
  for t in pairs(running) do if not t.done then lost[#lost + 1] = t end end
  table.sort(lost, function(a, b) return tostring(a.job) < tostring(b.job) end)
  for _, t in ipairs(lost) do
    core.log("error", "job never finished: it was still waiting when nothing was left that could wake it" ..
      (t.waiting and (" (" .. t.waiting .. ")") or ""), nil, t.script, t.job)
    core.job_failed()
  end
end

-- Hooks for the host around a reload (SIGHUP): _quiesce asks the running scripts to start no
-- new deliveries, _quiesced() says whether those in flight are done (the swap waits for it, up
-- to --stop-grace), _resume undoes _quiesce when the new scripts failed to load.
local quiescers = {}
function M.on_quiesce(q) quiescers[#quiescers + 1] = q end   -- q = {quiesce =, busy =, resume =}
function M._quiesce() for _, q in ipairs(quiescers) do q.quiesce() end end
function M._quiesced()
  for _, q in ipairs(quiescers) do if q.busy() then return false end end
  return true
end
function M._resume() for _, q in ipairs(quiescers) do q.resume() end end

-- Hook for the host: _exit when the process is about to end (after the loop; not on a reload).
local exit_hooks = {}
function M.on_exit(f) exit_hooks[#exit_hooks + 1] = f end
function M._exit()
  for _, f in ipairs(exit_hooks) do pcall(f) end
end

-- Hook for the host: _stop at SIGTERM and on the old scripts after a successful reload.
function M.on_stop(f) stop_hooks[#stop_hooks + 1] = f end
function M._stop()
  M.stopping = true
  for _, f in ipairs(stop_hooks) do f() end
end

return M
