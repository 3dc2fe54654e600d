-- The W&B GraphQL client: POST {base_url}/graphql with basic auth api:<key>, through the host's
-- request budget, with the retry policy below, raising CommError when a call gives up.
-- Retry policy (modelled on wandb-core's RetryMostFailures):
--   retried: network errors, timeouts, truncated or malformed answers, 408, 429, 5xx and
--   other unlisted statuses; never: 400 401 403 404 409 410 413 422 501 and GraphQL errors.
--   Backoff: 1 s doubling to 60 s, times 1..1.25 jitter; Retry-After (seconds or a date) and
--   RateLimit-Reset are honoured; the whole call has a deadline (default 60 s).
--   Mutations: upsertBucket sets absolute values, so repeating it is harmless and it is retried
--   like a query. notifyScriptableRunAlert and deleteRun are not idempotent (a repeat could
--   alert twice): they are retried only when the server cannot have acted -- the connection
--   was never made, or the answer was 429.
local core = require "runwatch.core"
local http = require "runwatch.http"
local task = require "runwatch.task"
local errors = require "runwatch.errors"
local budget = require "runwatch.budget"
local settings_mod = require "runwatch.wb.settings"

local M = {}
local Client = {}
Client.__index = Client
Client.__name = "runwatch.wb.Client"

local NO_RETRY = {[400] = true, [401] = true, [403] = true, [404] = true, [409] = true,
  [410] = true, [413] = true, [422] = true, [501] = true}
local CONNECT_FAILED = {[6] = true, [7] = true}   -- CURLE_COULDNT_RESOLVE_HOST / _CONNECT

M.retry_defaults = {base = 1.0, cap = 60.0, deadline = 60.0, timeout = 30.0}

local function json() return require "runwatch.json" end

-- new(settings, opts) -> client. opts: timeout, deadline, retry_base, rate, burst, concurrency
function M.new(s, opts)
  opts = opts or {}
  local c = setmetatable({
    settings = s,
    url = s.base_url .. "/graphql",
    origin = settings_mod.origin(s.base_url),
    timeout = opts.timeout or M.retry_defaults.timeout,
    deadline = opts.deadline or M.retry_defaults.deadline,
    retry_base = opts.retry_base or M.retry_defaults.base,
    retry_cap = opts.retry_cap or M.retry_defaults.cap,
    max_size = opts.max_size,                -- cap on one answer's size (bytes); nil = http's default
    stats = {requests = 0, retries = 0, bytes = 0, errors = 0},
  }, Client)
  c.bucket = budget.get(c.origin, {rate = opts.rate, burst = opts.burst, concurrency = opts.concurrency})
  return c
end

function Client:auth_header()
  local key = self.settings.api_key
  if not key then
    errors.raise({message = "No API key configured: set WANDB_API_KEY or run `wandb login` (~/.netrc)",
      retryable = false}, 4)
  end
  local ok, why = settings_mod.check_key(key)
  if not ok then errors.raise({message = why, retryable = false}, 4) end
  if not self.basic then self.basic = "Basic " .. core.base64("api:" .. key) end
  return self.basic
end

-- Seconds to wait before the next attempt, from Retry-After / RateLimit-Reset or backoff.
local function parse_http_date(s)
  local d, mon, y, h, mi, sec = s:match("%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT")
  if not d then return nil end
  local months = {Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12}
  local t = os.time({year = tonumber(y), month = months[mon] or 1, day = tonumber(d), hour = tonumber(h), min = tonumber(mi), sec = tonumber(sec), isdst = false})
  local utc_offset = os.time() - os.time(os.date("!*t"))
  return t + utc_offset - core.time()
end

function M.retry_wait(attempt, headers, base, cap)
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
  local w = math.min(cap, base * 2 ^ (attempt - 1))
  return w * (1 + math.random() * 0.25), "backoff"
end

-- The message the server gave: {"errors":[{"message":...}|"..."]} or {"error": ...}
local function backend_message(body)
  local doc = body and json().decode(body)
  if type(doc) == "table" then
    if type(doc.errors) == "table" then
      local msgs = {}
      for _, e in ipairs(doc.errors) do
        if type(e) == "table" and type(e.message) == "string" then msgs[#msgs + 1] = e.message
        elseif type(e) == "string" or type(e) == "number" then msgs[#msgs + 1] = tostring(e) end
      end
      if #msgs > 0 then return table.concat(msgs, "; "), doc.errors end
    end
    if type(doc.error) == "string" then return doc.error end
    if type(doc.error) == "table" and doc.error.message then return tostring(doc.error.message) end
  end
  if body and #body > 0 and #body < 500 then return body end
  return nil
end

-- One attempt. Returns data, or nil + a CommError (with .retryable and .sent_maybe).
function Client:attempt(body, op, timeout)
  local auth = self:auth_header()          -- may raise: before a budget slot is taken
  local slot <close> = self.bucket:acquire()
  local res, err, code = http.request{
    method = "POST", url = self.url, body = body, timeout = timeout, max_size = self.max_size,
    headers = {
      ["Authorization"] = auth,
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json",
      ["User-Agent"] = "W&B Public Client runwatch/" .. core.version,
    },
  }
  slot:release()
  self.stats.requests = self.stats.requests + 1
  if not res then
    -- an answer over the size cap will not get smaller on a retry
    return nil, errors.new{message = err, op = op, exc = err, retryable = code ~= -1,
      sent_maybe = not CONNECT_FAILED[code]}
  end
  self.stats.bytes = self.stats.bytes + #res.body
  self.bucket:observe(res.headers)
  local status = res.status
  if status ~= 200 then
    local msg, errs = backend_message(res.body)
    if status == 401 then
      msg = "The API key you provided is either invalid or missing (" .. (msg or "unauthorized") .. ")"
    elseif status == 403 then
      msg = "Permission denied: you do not have access to this resource (" .. (msg or "forbidden") .. ")"
    end
    return nil, errors.new{message = msg or ("HTTP " .. status), status = status, errors = errs, op = op,
      exc = res.body, retryable = not NO_RETRY[status] and not (status >= 200 and status < 300),
      sent_maybe = status ~= 429, headers = res.headers}
  end
  local doc, derr = json().decode(res.body)
  if type(doc) ~= "table" then
    return nil, errors.new{message = "malformed answer from W&B: " .. tostring(derr or "not a JSON object"),
      status = status, op = op, exc = derr, retryable = true, sent_maybe = true}
  end
  if doc.errors ~= nil and doc.errors ~= json().null and type(doc.errors) == "table" and #doc.errors > 0 then
    local msg, errs = backend_message(res.body)
    return nil, errors.new{message = msg or "GraphQL error", status = status, errors = errs, op = op,
      exc = doc.errors, retryable = false}
  end
  if type(doc.data) ~= "table" then
    return nil, errors.new{message = "Received non-compatible response", status = status, op = op,
      exc = res.body, retryable = false}
  end
  return doc.data
end

-- graphql(query, variables, opts) -> data; raises CommError.
-- opts: op (label for messages), idempotent (default true), timeout, deadline
function Client:graphql(query, variables, opts)
  opts = opts or {}
  local op = opts.op or query:match("^%s*%a+%s+([%w_]+)") or "query"
  local body = json().encode({query = query, variables = variables or json().object({})})
  local deadline = core.now() + (opts.deadline or self.deadline)
  local timeout = opts.timeout or self.timeout
  local idempotent = opts.idempotent ~= false
  local attempt = 0
  while true do
    attempt = attempt + 1
    local left = deadline - core.now()
    local data, e = self:attempt(body, op, math.max(0.001, math.min(timeout, left)))
    if data then return data end
    e.attempts = attempt
    local can_retry = e.retryable and (idempotent or not e.sent_maybe)
    if not can_retry then
      self.stats.errors = self.stats.errors + 1
      error(e, 0)
    end
    local wait, why = M.retry_wait(attempt, e.headers, self.retry_base, self.retry_cap)
    if core.now() + wait >= deadline then
      self.stats.errors = self.stats.errors + 1
      e.message = e.message .. " (gave up: the call's deadline of " .. (opts.deadline or self.deadline) .. " s passed)"
      error(e, 0)
    end
    self.stats.retries = self.stats.retries + 1
    core.log("warn", string.format("W&B %s failed (%s); retry %d in %.1f s (%s)", op,
      e.status and ("HTTP " .. e.status) or e.message, attempt, wait, why))
    task.sleep(wait)
  end
end

-- download(url, opts) -> response or nil, err. The key goes only to URLs on the W&B origin;
-- redirects are followed here, one hop at a time, dropping the key when the host changes.
function Client:download(url, opts)
  opts = opts or {}
  for _ = 1, 6 do
    local headers = {["User-Agent"] = "W&B Public Client runwatch/" .. core.version}
    if settings_mod.origin(url) == self.origin then headers["Authorization"] = self:auth_header() end
    local slot <close> = self.bucket:acquire()
    local res, err = http.request{method = "GET", url = url, headers = headers,
      timeout = opts.timeout or self.timeout, output = opts.output, max_size = opts.max_size}
    slot:release()
    self.stats.requests = self.stats.requests + 1
    if not res then return nil, err end
    if res.status >= 300 and res.status < 400 and res.headers.location then
      local loc = res.headers.location
      if not loc:match("^https?://") then
        local o = url:match("^(https?://[^/]+)")
        loc = loc:sub(1, 1) == "/" and (o .. loc) or (url:gsub("[^/]*$", "") .. loc)
      end
      url = loc
    else
      return res
    end
  end
  return nil, "too many redirects"
end

return M
