-- Issue 13 item 12: failures that no repetition can cure fail at once, with a message that says
-- what to fix, instead of being retried for the whole deadline (~35 s each on the old main): a
-- redirect on /graphql (never followed: the request carries the API key), TLS spoken to a plain
-- HTTP port, a URL curl cannot parse; and a base URL that can never work is a CommError naming
-- the setting it came from (it was `http.lua:42: bad field 'url'`). Counted as attempts and as
-- requests at the server, never as wall-clock time.
local t = require "testlib"
local wb = require "wbtest"
local errors = require "runwatch.errors"
local port = wb.base:match(":(%d+)$")

local function fails(f)
  local ok, e = pcall(f)
  t.ok(not ok, "it fails")
  t.ok(errors.is(e), "a CommError: " .. tostring(e))
  return e
end

-- a 307 on /graphql: one request, no retry, the Location named
wb.admin("POST", "faults", {rules = {{match = {op = "Run"}, times = 100,
  action = {status = 307, headers = {Location = "https://elsewhere.example/graphql"}}}}})
wb.clear_requests()
local e = fails(function() return api.Api{}.run("rw-team/vision/abc123xy") end)
t.ok(tostring(e):find("redirect to https://elsewhere.example/graphql", 1, true), tostring(e))
t.ok(tostring(e):find("WANDB_BASE_URL", 1, true), "says which setting to change")
t.eq(e.retryable, false, "a redirect is final")
t.eq(wb.count("Run"), 1, "one request for a redirect")
wb.admin("DELETE", "faults")

-- TLS against the plain-HTTP test server: one attempt, and the likely cause said
e = fails(function() return api.Api{base_url = "https://127.0.0.1:" .. port}.run("rw-team/vision/abc123xy") end)
t.eq(e.attempts, 1, "one attempt for TLS against plain HTTP")
t.ok(tostring(e):find("does not speak TLS", 1, true), tostring(e))

-- a URL that passes the scheme check but that libcurl cannot parse: one attempt
e = fails(function() return api.Api{base_url = "http://[::1"}.run("rw-team/vision/abc123xy") end)
t.eq(e.attempts, 1, "one attempt for a malformed URL")

-- base URLs that can never work: a CommError naming where the URL came from, no request
for _, case in ipairs{
  {"ftp://x", "has the scheme ftp://"}, {"http://exa mple", "has a space"},
  {"localhost:" .. port, "is not a URL"}, {"http://:80", "has no host"}, {"http://h:99999", "has a bad port"}} do
  e = fails(function() return api.Api{base_url = case[1]} end)
  t.ok(tostring(e):find('base_url "' .. case[1] .. '" ' .. case[2], 1, true), tostring(e))
end
local settings = require "runwatch.wb.settings"
t.eq(settings.why_bad_url("https://api.wandb.ai"), nil)
t.eq(settings.why_bad_url("http://127.0.0.1:8080/"), nil)

-- the retry module's classification: permanent transport codes, transient ones
local retry = require "runwatch.retry"
t.eq(retry.retryable_transport(3, "URL using bad/illegal format"), false)
t.eq(retry.retryable_transport(35, "SSL routines::wrong version number"), false)
t.eq(retry.retryable_transport(35, "connection reset during handshake"), true)
t.eq(retry.retryable_transport(7, "Couldn't connect"), true)
t.eq(retry.retryable_transport(28, "timeout"), true)
t.done()
