-- Schedules: every(interval), after(delay), cron(expr). Each tick runs as its own job; a tick
-- is skipped (and logged) while the previous one still runs; optional jitter; handles stop.
-- In `once` mode every job fires exactly once, right away.
local core = require "runwatch.core"
local timer = require "runwatch.timer"
local task = require "runwatch.task"
local options = require "runwatch.options"

local M = {}
local all = {}                 -- every schedule handle, for status and stop
M.all = all

-- duration(v, what, level) -> seconds (runwatch.duration, kept here for older callers)
M.duration = require("runwatch.duration").parse

local Schedule = {}
Schedule.__index = Schedule
Schedule.__name = "runwatch.Schedule"
function Schedule:__tostring()
  return string.format("runwatch.Schedule (%s %s | %s)", self.kind, self.spec, self.stopped and "stopped" or "active")
end

local function once_mode() return core.options().mode == "once" end

-- Runs one tick as a job unless the previous one is still running.
local function tick(s)
  if s.stopped then return end
  if s.task and not s.task.done then
    s.skipped = s.skipped + 1
    core.log("info", "tick skipped: the previous run is still running", {schedule = s.name}, s.script, s.name)
    return
  end
  s.runs = s.runs + 1
  s.last_run = core.time()
  s.task = task.new(s.fn, {script = s.script, job = s.name, budget = s.budget})
end

-- the options each kind takes (anything else is refused at the script's line)
local KNOWN = {
  every = options.set{"name", "cpu_budget", "jitter", "immediate"},
  after = options.set{"name", "cpu_budget"},
  cron = options.set{"name", "cpu_budget", "jitter", "tz"},
}

-- check_opts(kind, opts, level) -> opts (a table), raising at the script's line
local function check_opts(kind, opts, level)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(string.format("bad argument #3 to '%s' (table of options expected, got %s)", kind, type(opts)), level + 1)
  end
  options.check(kind, opts, KNOWN[kind], level + 1)
  if opts.name ~= nil and (type(opts.name) ~= "string" or opts.name == "") then
    error(string.format("%s: name must be a non-empty string (got %s)", kind, type(opts.name)), level + 1)
  end
  if opts.immediate ~= nil and type(opts.immediate) ~= "boolean" then
    error(string.format("%s: immediate must be true or false (got %s)", kind, type(opts.immediate)), level + 1)
  end
  return opts
end

local function new_schedule(kind, spec, fn, opts, level)
  if type(fn) ~= "function" then
    error(string.format("bad argument #2 to '%s' (function expected, got %s)", kind, type(fn)), level + 1)
  end
  opts = check_opts(kind, opts, level + 1)
  local cur = task.current()
  local s = setmetatable({
    kind = kind, spec = tostring(spec), fn = fn, runs = 0, skipped = 0,
    script = cur and cur.script, name = opts.name or (kind .. " " .. tostring(spec)),
    budget = opts.cpu_budget and M.duration(opts.cpu_budget, "cpu_budget", level + 1) or nil,
  }, Schedule)
  all[#all + 1] = s
  return s
end

function Schedule:stop()
  self.stopped = true
  if self.timer then self.timer:close() end
  self.timer = nil
  return self
end

-- next_run() -> wall-clock time of the next tick (nil when stopped)
function Schedule:next_run() return (not self.stopped) and self.next_at or nil end

-- every(interval, fn, {jitter =, immediate =, name =, cpu_budget =})
function M.every(interval, fn, opts)
  local secs = M.duration(interval, "interval", 2)
  if secs < 0.001 then error("bad interval " .. tostring(interval) .. ": must be at least 1 ms", 2) end
  local s = new_schedule("every", interval, fn, opts, 2)
  opts = opts or {}
  local jitter = opts.jitter and M.duration(opts.jitter, "jitter", 2) or 0
  if once_mode() then
    s.next_at = core.time()
    s.timer = timer.new(0, 0, function() tick(s); s.stopped = true end):start()
    return s
  end
  local function delay()
    s.last_delay = secs + (jitter > 0 and math.random() * jitter or 0)
    return s.last_delay
  end
  local first = opts.immediate and 0 or delay()
  s.next_at = core.time() + first
  s.timer = timer.new(first, 0, function(t)
    tick(s)
    if not s.stopped then
      local d = delay()
      s.next_at = core.time() + d
      t:again(d, 0)
    end
  end):start()
  return s
end

-- after(delay, fn) -- one tick after the delay
function M.after(d, fn, opts)
  local secs = M.duration(d, "delay", 2)
  local s = new_schedule("after", d, fn, opts, 2)
  s.next_at = core.time() + secs
  s.timer = timer.new(secs, 0, function() tick(s); s.stopped = true end):start()
  return s
end

-- cron(expr, fn, {tz = "local"|"UTC", jitter =, name =}). The timer wakes at most every
-- minute and compares wall-clock time, so clock jumps and suspends do not shift the schedule.
function M.cron(expr, fn, opts)
  if type(expr) ~= "string" then error("bad argument #1 to 'cron' (string expected, got " .. type(expr) .. ")", 2) end
  opts = check_opts("cron", opts, 2)
  local tz = opts.tz or "local"
  if tz ~= "local" and tz ~= "UTC" then error("bad option tz '" .. tostring(tz) .. "' (\"local\" or \"UTC\" expected)", 2) end
  local okp, c = pcall(require("runwatch.cron").parse, expr)
  if not okp then error(tostring(c):gsub("^[^:]*:%d+: ", ""), 2) end
  if not c:next(math.floor(core.time()), tz) then
    error(string.format('bad cron expression "%s": it never fires', expr), 2)
  end
  local s = new_schedule("cron", expr, fn, opts, 2)
  s.cron = c
  if once_mode() then
    s.next_at = core.time()
    s.timer = timer.new(0, 0, function() tick(s); s.stopped = true end):start()
    return s
  end
  local jitter = opts.jitter and M.duration(opts.jitter, "jitter", 2) or 0
  local function plan(from)
    local nxt, err = c:next(math.floor(from), tz)
    if not nxt then
      core.log("error", "cron " .. expr .. ": " .. tostring(err) .. "; schedule stopped", nil, s.script, s.name)
      s:stop()
      return
    end
    s.next_at = nxt + (jitter > 0 and math.random() * jitter or 0)
  end
  plan(core.time())
  local function arm(t)
    if s.stopped then return end
    local wait = math.max(0, math.min(60, s.next_at - core.time()))
    t:again(wait, 0)
  end
  s.timer = timer.new(0, 0, function(t)
    if s.stopped then return end
    local now = core.time()
    if now >= s.next_at then
      tick(s)
      plan(math.max(now, s.next_at))
    end
    arm(t)
  end)
  arm(s.timer)
  return s
end

-- Stop every schedule (SIGTERM, reload).
task.on_stop(function()
  for _, s in ipairs(all) do
    if not s.stopped then s:stop() end
  end
end)

return M
