-- http: results and statuses, the world's failures as nil+err, misuse raising, timeouts, size
-- cap, gzip, headers, and 50 concurrent requests really in flight at once. Uses RW_HTTPD.
local t = require "testlib"
local http = require "runwatch.http"
local raw = require "runwatch.http.raw"
local core = require "runwatch.core"
local base = assert(os.getenv("RW_HTTPD"), "RW_HTTPD not set")

local function stats(reset)
  local res = assert(http.get(base .. "/_stats" .. (reset and "?reset=1" or "")))
  return json.decode(res.body)
end

-- 200 and 404: both are results
local res = http.get(base .. "/ok")
t.eq(res.status, 200, "GET /ok status")
t.eq(res.body, "ok", "GET /ok body")
t.eq(res.headers["content-type"], "text/plain", "headers are lowercased")
res = http.get(base .. "/status/404")
t.eq(res.status, 404, "404 is a result, not an error")
t.eq(res.headers["x-status"], "404")
res = http.get(base .. "/status/503")
t.eq(res.status, 503, "503 is a result")

-- repeated headers are joined
res = http.get(base .. "/headers")
t.eq(res.headers["x-multi"], "one, two", "repeated headers joined")
t.eq(res.headers["set-cookie"], "a=1\nb=2", "set-cookie joined by newline")

-- POST with a table body is JSON
res = http.post(base .. "/echo", {a = 1, list = {1, 2}}, {headers = {["X-Token"] = "abc"}})
local echo = json.decode(res.body)
t.eq(echo.method, "POST")
t.eq(echo.headers["content-type"], "application/json", "table body sets the JSON content type")
t.eq(echo.headers["x-token"], "abc", "extra header sent")
t.eq(json.decode(echo.body).a, 1, "body is the JSON of the table")
res = http.request{method = "PUT", url = base .. "/echo", body = "raw text"}
echo = json.decode(res.body)
t.eq(echo.method, "PUT")
t.eq(echo.body, "raw text")

-- the world's failures: nil, err (refused port, timeout, dropped connection, too large)
local r2, err = http.get("http://127.0.0.1:1/")
t.ok(r2 == nil and type(err) == "string" and err:find("127.0.0.1:1", 1, true), "refused port -> nil, err naming the host: " .. tostring(err))
r2, err = http.get(base .. "/slow?ms=2000", {timeout = 0.3})
t.ok(r2 == nil and err:lower():find("timed out", 1, true), "timeout -> nil, err: " .. tostring(err))
r2, err = http.get(base .. "/slow?ms=500", {timeout = "100ms"})
t.ok(r2 == nil, "duration strings accepted for timeout")
r2, err = http.get(base .. "/drop")
t.ok(r2 == nil and type(err) == "string", "dropped connection -> nil, err: " .. tostring(err))
r2, err = http.get(base .. "/big?bytes=2000000", {max_size = 1000000})
t.ok(r2 == nil and err:find("larger than the limit", 1, true), "size cap -> nil, err: " .. tostring(err))
res = http.get(base .. "/big?bytes=3000000")
t.eq(#res.body, 3000000, "large body read whole")

-- gzip is negotiated and decoded
res = http.get(base .. "/gzip?bytes=200000")
t.eq(#res.body, 200000, "gzip body decoded")
t.eq(res.headers["content-encoding"], "gzip", "server did compress")

-- misuse raises
t.checkerr("url", http.request, {method = "GET"})
t.checkerr("unknown method", http.request, {method = "FETCH", url = base})
t.checkerr("http:// or https://", http.request, {url = "ftp://x"})
t.checkerr("line break", http.request, {url = base .. "/ok", headers = {["X-A"] = "a\r\nInjected: 1"}})
t.checkerr("table expected", http.request, "http://x")
t.checkerr("must run inside a job", function()
  local co = coroutine.wrap(function() return http.get(base .. "/ok") end)
  return co()
end)

-- Request objects: close is idempotent; a cancelled request never calls back
local called = false
local req = raw.request({url = base .. "/slow?ms=300"}, function() called = true end)
t.ok(tostring(req):find("in flight", 1, true), "tostring shows state: " .. tostring(req))
req:cancel()
req:close()
t.ok(tostring(req):find("closed", 1, true), "closed after cancel")
sleep(0.5)
t.ok(not called, "cancelled request does not call back")
do
  local r3 <close> = raw.request({url = base .. "/ok"}, function() end)
end
-- dropped mid-flight and collected: the loop still drains
raw.request({url = base .. "/slow?ms=100"}, function() end)
collectgarbage()
collectgarbage()

-- 50 concurrent requests that each take 200 ms: the server sees them in flight together
stats(true)
local t0 = core.monotonic()
local results = map({}, function() end)
local urls = {}
for i = 1, 50 do urls[i] = base .. "/slow?ms=200" end
results = map(urls, function(u) return http.get(u).status end, {limit = 50})
local elapsed = core.monotonic() - t0
t.eq(#results, 50, "50 results")
for i = 1, 50 do t.eq(results[i], 200) end
local s = stats()
t.ok(s.max_in_flight >= 40, "requests were concurrent: max in flight " .. s.max_in_flight)
print(string.format("50 x 200 ms requests took %.3f s (serial would be 10 s)", elapsed))

t.done()
