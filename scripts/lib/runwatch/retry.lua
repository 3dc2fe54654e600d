-- The retry policies, named, each defined once here: which failures are tried again, how long to
-- wait between attempts, how long one call may take in all, and how a durable delivery (the
-- outbox) spaces its later attempts. Callers never write a retry loop of their own.
--
--   wandb     W&B GraphQL (modelled on wandb-core's RetryMostFailures): network errors, timeouts,
--             truncated or malformed answers, 408, 429, 5xx and unlisted statuses are retried;
--             400 401 403 404 409 410 413 422 501, redirects and GraphQL errors never. 1 s doubling
--             to 60 s (x1..1.25 jitter), Retry-After / RateLimit-Reset honoured, 60 s per call.
--   webhook   Slack and webhook POSTs: network errors, 408, 429 and 5xx are retried within the
--             call (0.5 s doubling, 4 attempts, 60 s); other statuses are final. A delivery that
--             still fails is tried again later by the outbox: 30 s doubling to 1 h, 10 times.
--   download  file downloads: network errors, 408, 429, 5xx; 1 s doubling to 30 s, 5 attempts.
--
-- An operation that is not idempotent (a W&B alert, a run deletion, a notes append) is repeated
-- only when the other side cannot have acted on it: the connection was never made, or it
-- answered 429. Anything else is an ambiguous failure, which the caller resolves (effects.lua).
local core = require "runwatch.core"
local task = require "runwatch.task"

local M = {}

local function set(list) local s = {} for _, v in ipairs(list) do s[v] = true end return s end

M.policies = {
  wandb = {
    name = "wandb", base = 1.0, cap = 60.0, jitter = 0.25, deadline = 60.0, attempts = math.huge,
    final_status = set{400, 401, 403, 404, 409, 410, 413, 422, 501},
    retry_unlisted = true,           -- a status not listed above (and not 2xx/3xx) is retried
  },
  webhook = {
    name = "webhook", base = 0.5, cap = 30.0, jitter = 0.25, deadline = 60.0, attempts = 4,
    retry_status = set{408, 429}, retry_5xx = true,
    redeliver = {base = 30.0, cap = 3600.0, times = 10},
  },
  download = {
    name = "download", base = 1.0, cap = 30.0, jitter = 0.25, deadline = 300.0, attempts = 5,
    retry_status = set{408, 429}, retry_5xx = true,
  },
}

-- Transport failures (libcurl's codes) that no repetition can cure, for every policy: an
-- unsupported scheme (1), a malformed URL (3), too many redirects (47), TLS that cannot verify
-- the peer or its own files (51 58 60 77 83 90 91), TLS spoken to a plain-HTTP port (35 with
-- "wrong version number"), an answer over the size cap (-1). DNS failures, refused or reset
-- connections and timeouts are retried.
local PERMANENT_TRANSPORT = set{-1, 1, 3, 47, 51, 58, 60, 77, 83, 90, 91}

-- retryable_transport(code, err) -> true when a failed transfer is worth repeating
function M.retryable_transport(code, err)
  if PERMANENT_TRANSPORT[code] then return false end
  if code == 35 and tostring(err):find("wrong version number", 1, true) then return false end
  return true
end

-- transport_hint(code, err) -> a sentence to add to the message of a permanent failure, or nil
function M.transport_hint(code, err)
  if code == 35 and tostring(err):find("wrong version number", 1, true) then
    return "the server does not speak TLS: is it a plain http:// address?"
  elseif code == 1 or code == 3 then
    return "the URL cannot work: check its scheme and host"
  elseif code == 51 or code == 60 or code == 83 then
    return "the server's certificate did not verify"
  end
  return nil
end

-- policy(name_or_table) -> the policy (misuse raises)
function M.policy(p)
  if type(p) == "table" then return p end
  local pol = M.policies[p]
  if not pol then error("unknown retry policy '" .. tostring(p) .. "'", 3) end
  return pol
end

-- retryable_status(policy, status) -> true when an answer with this status is worth repeating
function M.retryable_status(p, status)
  p = M.policy(p)
  if status >= 200 and status < 400 then return false end
  if p.final_status then
    if p.final_status[status] then return false end
    return p.retry_unlisted == true
  end
  if p.retry_status[status] then return true end
  return p.retry_5xx and status >= 500 and status < 600 or false
end

local function parse_http_date(s)
  local d, mon, y, h, mi, sec = s:match("%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT")
  if not d then return nil end
  local months = {Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
    Oct = 10, Nov = 11, Dec = 12}
  local t = os.time({year = tonumber(y), month = months[mon] or 1, day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(sec), isdst = false})
  local utc_offset = os.time() - os.time(os.date("!*t"))
  return t + utc_offset - core.time()
end

-- wait(policy, attempt, headers) -> seconds before the next attempt, and why: the server's
-- Retry-After (seconds or a date) or RateLimit-Reset when it says so, else the backoff.
function M.wait(p, attempt, headers)
  p = M.policy(p)
  if headers then
    local ra = headers["retry-after"]
    if ra then
      local secs = tonumber(ra) or parse_http_date(ra)
      if secs then return math.max(0, secs), "Retry-After" end
    end
    local remaining = tonumber(headers["ratelimit-remaining"])
    local reset = tonumber(headers["ratelimit-reset"])
    if remaining and remaining <= 0 and reset then return math.max(0, reset), "RateLimit-Reset" end
  end
  local w = math.min(p.cap, p.base * 2 ^ (attempt - 1))
  return w * (1 + math.random() * (p.jitter or 0)), "backoff"
end

-- redeliver_in(policy, deliveries) -> seconds until a durable delivery is tried again after its
-- n-th failed delivery, or nil when it has been tried often enough (give up).
function M.redeliver_in(p, n)
  p = M.policy(p)
  local r = p.redeliver or {base = 30.0, cap = 3600.0, times = 10}
  if n >= r.times then return nil end
  return math.min(r.cap, r.base * 2 ^ (n - 1)) * (1 + math.random() * 0.1)
end

-- call(policy, attempt_fn, opts) -> result, or nil, err.
-- attempt_fn(attempt, timeout_left) returns a result, or nil and an error table with
-- .retryable (may this failure be repeated at all), .sent_maybe (may the other side have acted),
-- .headers (the answer's, for Retry-After). opts: idempotent (default true), deadline (seconds,
-- default the policy's), timeout (per attempt), label (for the log), on_retry(attempt, wait, err).
-- The error returned carries .attempts and, when the deadline stopped it, .deadline_passed.
function M.call(p, attempt_fn, opts)
  p = M.policy(p)
  opts = opts or {}
  local deadline_s = opts.deadline or p.deadline
  local deadline = core.now() + deadline_s
  local idempotent = opts.idempotent ~= false
  local attempt = 0
  while true do
    attempt = attempt + 1
    local left = deadline - core.now()
    local timeout = math.max(0.001, math.min(opts.timeout or left, left))
    local res, e = attempt_fn(attempt, timeout)
    if res ~= nil then return res end
    if type(e) ~= "table" then e = {message = tostring(e), retryable = false} end
    e.attempts = attempt
    if not e.retryable or (not idempotent and e.sent_maybe) or attempt >= p.attempts then
      return nil, e
    end
    local wait, why = M.wait(p, attempt, e.headers)
    if core.now() + wait >= deadline then
      e.deadline_passed = deadline_s
      return nil, e
    end
    core.log("warn", string.format("%s failed (%s); retry %d in %.1f s (%s)", opts.label or p.name,
      e.status and ("HTTP " .. e.status) or tostring(e.message), attempt, wait, why))
    if opts.on_retry then opts.on_retry(attempt, wait, e) end
    task.sleep(wait)
  end
end

return M
