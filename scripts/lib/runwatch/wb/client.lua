-- The W&B GraphQL client: POST {base_url}/graphql with basic auth api:<key>, through the host's
-- request budget, retried by the `wandb` policy of retry.lua (where it is written down), raising
-- CommError when a call gives up. An answer is classified here: its status, a malformed or
-- truncated body, GraphQL errors. Mutations: upsertBucket sets absolute values, so repeating it
-- is harmless and it is retried like a query; notifyScriptableRunAlert and deleteRun are not
-- idempotent (idempotent = false): retried only when the server cannot have acted.
local core = require "runwatch.core"
local http = require "runwatch.http"
local task = require "runwatch.task"
local errors = require "runwatch.errors"
local budget = require "runwatch.budget"
local retry = require "runwatch.retry"
local settings_mod = require "runwatch.wb.settings"

local M = {}
local Client = {}
Client.__index = Client
Client.__name = "runwatch.wb.Client"

local CONNECT_FAILED = {[6] = true, [7] = true}   -- CURLE_COULDNT_RESOLVE_HOST / _CONNECT

M.retry_defaults = {base = retry.policies.wandb.base, cap = retry.policies.wandb.cap,
  deadline = retry.policies.wandb.deadline, timeout = 30.0}

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
  -- the wandb policy, with this api's own spacing and deadline (Api{retry_base=, retry_cap=, deadline=})
  c.policy = setmetatable({base = c.retry_base, cap = c.retry_cap, deadline = c.deadline},
    {__index = retry.policies.wandb})
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

-- Seconds to wait before the next attempt (retry.lua's wandb policy with this spacing).
function M.retry_wait(attempt, headers, base, cap)
  return retry.wait(setmetatable({base = base, cap = cap}, {__index = retry.policies.wandb}), attempt, headers)
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
function Client:attempt(body, op, timeout, decode)
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
    local hint = retry.transport_hint(code, err)
    return nil, errors.new{message = hint and (tostring(err) .. " (" .. hint .. ")") or err, op = op, exc = err,
      retryable = retry.retryable_transport(code, err), sent_maybe = not CONNECT_FAILED[code]}
  end
  self.stats.bytes = self.stats.bytes + #res.body
  self.bucket:observe(res.headers)
  local status = res.status
  if status ~= 200 then
    local msg, errs = backend_message(res.body)
    if status >= 300 and status < 400 then
      -- never followed: the request carries the API key, which goes to the W&B origin only
      local loc
      for k, v in pairs(res.headers or {}) do if type(k) == "string" and k:lower() == "location" then loc = v end end
      msg = string.format("W&B answered HTTP %d, a redirect%s: runwatch does not follow redirects with the API key; " ..
        "set the base URL (WANDB_BASE_URL) to the address that answers", status, loc and (" to " .. tostring(loc)) or "")
    elseif status == 401 then
      msg = "The API key you provided is either invalid or missing (" .. (msg or "unauthorized") .. ")"
    elseif status == 403 then
      msg = "Permission denied: you do not have access to this resource (" .. (msg or "forbidden") .. ")"
    end
    return nil, errors.new{message = msg or ("HTTP " .. status), status = status, errors = errs, op = op,
      exc = res.body, retryable = retry.retryable_status(self.policy, status),
      sent_maybe = status ~= 429, headers = res.headers}
  end
  local doc, derr = json().decode(res.body, decode)
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
-- opts: op (label for messages), idempotent (default true), timeout, deadline, decode (options
-- of json.decode for the answer: {json_strings = "history"} decodes history rows in place)
function Client:graphql(query, variables, opts)
  opts = opts or {}
  local op = opts.op or query:match("^%s*%a+%s+([%w_]+)") or "query"
  local body = json().encode({query = query, variables = variables or json().object({})})
  local timeout = opts.timeout or self.timeout
  local data, e = retry.call(self.policy, function(_, left)
    return self:attempt(body, op, math.min(timeout, left), opts.decode)
  end, {idempotent = opts.idempotent ~= false, deadline = opts.deadline, label = "W&B " .. op,
    on_retry = function() self.stats.retries = self.stats.retries + 1 end})
  if data then return data end
  self.stats.errors = self.stats.errors + 1
  if e.deadline_passed then
    e.message = e.message .. " (gave up: the call's deadline of " .. e.deadline_passed .. " s passed)"
  end
  error(e, 0)
end

-- download(url, opts) -> response or nil, err. The key goes only to URLs on the W&B origin;
-- redirects are followed here, one hop at a time, dropping the key when the host changes.
local function download_once(self, url, opts)
  for _ = 1, 6 do
    local headers = {["User-Agent"] = "W&B Public Client runwatch/" .. core.version}
    if settings_mod.origin(url) == self.origin then headers["Authorization"] = self:auth_header() end
    local slot <close> = self.bucket:acquire()
    local res, err, code = http.request{method = "GET", url = url, headers = headers,
      timeout = opts.timeout or self.timeout, output = opts.output, max_size = opts.max_size}
    slot:release()
    self.stats.requests = self.stats.requests + 1
    if not res then return nil, err, code end
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

-- download(url, opts) -> response or nil, err. Retried by the `download` policy (network
-- errors, 408, 429, 5xx); a file written to opts.output is written again from the start.
function Client:download(url, opts)
  opts = opts or {}
  local last
  local res, e = retry.call("download", function()
    local r, err, code = download_once(self, url, opts)
    if r and not retry.retryable_status("download", r.status) then return r end
    last = r
    if r then return nil, {message = "HTTP " .. r.status, status = r.status, headers = r.headers, retryable = true} end
    return nil, {message = tostring(err), retryable = err ~= "too many redirects" and retry.retryable_transport(code, err)}
  end, {label = "download " .. (settings_mod.origin(url) or "")})
  if res then return res end
  if last then return last end        -- the last answer, as before: callers look at its status
  return nil, e.message
end

return M
