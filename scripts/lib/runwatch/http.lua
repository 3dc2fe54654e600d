-- HTTP for scripts: request/get/post that read sequentially inside a job. Returns a response
-- {status, headers, body} (4xx and 5xx are responses, not errors) or nil, err for the world's
-- failures (DNS, refused, timeout, too large). Misuse raises.
local raw = require "runwatch.http.raw"
local task = require "runwatch.task"
local options = require "runwatch.options"

local M = {}

-- Errors about the caller's options are raised at the script's line: the public functions
-- (request, get, post) all call do_request directly, never as a tail call, so the script is
-- always 4 levels above seconds().
local function seconds(v, what)
  if v == nil then return nil end
  local secs = require("runwatch.schedule").duration(v, what, 4)   -- not a tail call: keeps the frame count
  return secs
end

-- the options of a request; get() and post() take the same ones but the method, url and body
local KNOWN = options.set{"method", "url", "headers", "body", "timeout", "connect_timeout",
  "max_size", "output", "follow", "insecure"}
local KNOWN_GET, KNOWN_POST = {}, {}
for k in pairs(KNOWN) do
  if k ~= "method" and k ~= "url" then KNOWN_GET[k] = true end
  if k ~= "method" and k ~= "url" and k ~= "body" then KNOWN_POST[k] = true end
end

-- the options table of get/post, checked at the script's line (level 3 from here)
local function check_opts(name, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("bad argument to 'http.%s' (table of options expected, got %s)", name, type(opts)), 3)
  end
  options.check("http." .. name, opts, known, 3)
  return opts
end

local function do_request(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'request' (table expected, got " .. type(opts) .. ")", 3)
  end
  options.check("http.request", opts, KNOWN, 3)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.timeout = seconds(opts.timeout, "timeout")
  o.connect_timeout = seconds(opts.connect_timeout, "connect_timeout")
  if type(o.body) == "table" then
    o.body = require("runwatch.json").encode(o.body)
    o.headers = o.headers or {}
    local has_ct = false
    for k in pairs(o.headers) do
      if type(k) == "string" and k:lower() == "content-type" then has_ct = true end
    end
    if not has_ct then
      local h = {}
      for k, v in pairs(o.headers) do h[k] = v end
      h["Content-Type"] = "application/json"
      o.headers = h
    end
  end
  local req
  local res, err, code = task.await(function(resume)
    req = raw.request(o, resume)
  end)
  if req then req:close() end
  if not res then return nil, err, code end
  return res
end

-- request{method=, url=, headers=, body=, timeout=, connect_timeout=, max_size=, output=}
function M.request(opts)
  local res, err, code = do_request(opts)
  return res, err, code
end

-- get(url [, opts])
function M.get(url, opts)
  local o = {}
  for k, v in pairs(check_opts("get", opts, KNOWN_GET)) do o[k] = v end
  o.method, o.url = "GET", url
  local res, err, code = do_request(o)
  return res, err, code
end

-- post(url, body [, opts]) -- a table body is sent as JSON
function M.post(url, body, opts)
  local o = {}
  for k, v in pairs(check_opts("post", opts, KNOWN_POST)) do o[k] = v end
  o.method, o.url, o.body = "POST", url, body
  local res, err, code = do_request(o)
  return res, err, code
end

-- json(res) -> decoded body of a 2xx JSON response, or nil, err
function M.json(res, err)
  if not res then return nil, err end
  if res.status < 200 or res.status > 299 then
    return nil, "HTTP " .. res.status
  end
  return require("runwatch.json").decode(res.body)
end

return M
