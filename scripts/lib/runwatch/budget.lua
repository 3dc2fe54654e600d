-- One request budget per host, shared by every job of the process: a token bucket (rate per
-- second, burst) plus a cap on requests in flight. When the server's RateLimit-Remaining runs
-- low, the bucket slows down until RateLimit-Reset. Waiting is a timer, never a busy loop.
local core = require "runwatch.core"
local task = require "runwatch.task"
local timer = require "runwatch.timer"

local M = {}
local buckets = {}
M.buckets = buckets

M.defaults = {rate = 20, burst = 40, concurrency = 8}

local Bucket = {}
Bucket.__index = Bucket

-- get(host [, opts]) -> the process-wide bucket for host (created on first use)
function M.get(host, opts)
  local b = buckets[host]
  if not b then
    opts = opts or {}
    b = setmetatable({
      host = host,
      rate = opts.rate or M.defaults.rate,
      burst = opts.burst or M.defaults.burst,
      concurrency = opts.concurrency or M.defaults.concurrency,
      tokens = opts.burst or M.defaults.burst,
      stamp = core.now(),
      active = 0, waiters = {}, sent = 0, throttled = 0, waited = 0,
      slow_until = 0,
    }, Bucket)
    buckets[host] = b
  elseif opts then
    if opts.rate then b.rate = opts.rate end
    if opts.burst then b.burst = opts.burst end
    if opts.concurrency then b.concurrency = opts.concurrency end
  end
  return b
end

function Bucket:refill()
  local now = core.now()
  local rate = self.rate
  if now < self.slow_until then rate = math.min(rate, self.slow_rate or rate) end
  self.tokens = math.min(self.burst, self.tokens + (now - self.stamp) * rate)
  self.stamp = now
  return rate
end

-- Seconds until the next token: at the current rate, or (when the server said the quota is
-- used up) when its reset comes.
function Bucket:next_token_in(rate)
  local now = core.now()
  if rate <= 0 then return math.max(0.001, self.slow_until - now) end
  local wait = (1 - self.tokens) / rate
  if now < self.slow_until and now + wait > self.slow_until then
    wait = math.max(0.001, self.slow_until - now)   -- the normal rate is back by then
  end
  return wait
end

-- Wake waiters that can go now; schedule a wake-up for the next token otherwise. A waiter is
-- always resumed from a timer, never from inside pump: pump may run inside a job that is asking
-- for a token itself, and resuming from there would re-enter that job.
function Bucket:pump()
  while #self.waiters > 0 and self.active < self.concurrency do
    local rate = self:refill()
    if self.tokens < 1 then
      if not self.wake then
        self.wake = timer.new(self:next_token_in(rate), 0, function() self.wake = nil; self:pump() end):start()
      end
      return
    end
    self.tokens = self.tokens - 1
    self.active = self.active + 1
    self.sent = self.sent + 1
    local resume = table.remove(self.waiters, 1)
    timer.new(0, 0, function() resume() end):start()
  end
end

-- The slot taken by acquire(), given back exactly once when the guard is closed: callers write
-- `local _ <close> = bucket:acquire()`, so an error raised while the slot is held (a bad key,
-- a malformed request) cannot leak it.
local Guard = {__name = "runwatch.BudgetSlot"}
Guard.__index = Guard
function Guard:release()
  if self.bucket then
    local b = self.bucket
    self.bucket = nil
    b:release()
  end
end
Guard.__close = Guard.release

-- acquire() -> guard: waits for a token and a free slot (inside a job); the slot is held until
-- the guard is closed (or its release() called).
function Bucket:acquire()
  self:take()
  return setmetatable({bucket = self}, Guard)
end

function Bucket:take()
  self:refill()
  if #self.waiters == 0 and self.active < self.concurrency and self.tokens >= 1 then
    self.tokens = self.tokens - 1
    self.active = self.active + 1
    self.sent = self.sent + 1
    return
  end
  self.throttled = self.throttled + 1
  local t0 = core.now()
  task.await(function(resume) self.waiters[#self.waiters + 1] = resume; self:pump() end)
  self.waited = self.waited + (core.now() - t0)
end

-- release(): gives a slot back (use the guard acquire() returns rather than calling this)
function Bucket:release()
  self.active = self.active - 1
  self:pump()
end

-- observe(headers): RateLimit-Remaining/Reset from a response slow the bucket down so the
-- remaining quota lasts until the reset.
function Bucket:observe(headers)
  local remaining = tonumber(headers["ratelimit-remaining"] or headers["x-ratelimit-remaining"])
  local reset = tonumber(headers["ratelimit-reset"] or headers["x-ratelimit-reset"])
  if not remaining then return end
  self.last_remaining, self.last_reset = remaining, reset
  if reset and reset > 0 and remaining < self.burst then
    self.slow_until = core.now() + reset
    self.slow_rate = math.max(remaining, 0) / reset
    if remaining <= 0 then self.tokens = math.min(self.tokens, 0) end
  end
end

function Bucket:status()
  self:refill()
  return {host = self.host, rate = self.rate, burst = self.burst, concurrency = self.concurrency,
    tokens = math.floor(self.tokens * 10 + 0.5) / 10, in_flight = self.active, queued = #self.waiters, sent = self.sent,
    throttled = self.throttled, waited = self.waited, remaining = self.last_remaining}
end

return M
