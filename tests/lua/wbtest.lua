-- Helpers for tests against the W&B test server (tests/server): its admin API, and the stored
-- state of runs, so tests compare with what the server holds rather than hard-coded answers.
local http = require "runwatch.http"
local json = require "runwatch.json"

local M = {}
M.base = assert(os.getenv("RW_TEST_SERVER"), "RW_TEST_SERVER not set: run under tests/server/with-server.sh")
M.key = os.getenv("WANDB_API_KEY")

-- admin(method, path, body) -> decoded answer (raises on failure)
function M.admin(method, path, body)
  local res, err
  for i = 1, 20 do   -- a pooled connection the server closed, or the server is in a "down" window
    if i > 1 then sleep(0.25) end
    res, err = http.request{method = method, url = M.base .. "/_admin/" .. path,
      body = body and json.encode(body) or nil, headers = body and {["Content-Type"] = "application/json"} or nil}
    if res then break end
  end
  assert(res, err)
  assert(res.status == 200, "admin " .. path .. ": HTTP " .. res.status .. " " .. res.body)
  return json.decode(res.body)
end

-- stored(e, p, id) -> the server's run record, with config and summary decoded losslessly
function M.stored(path, history)
  local r = M.admin("GET", "run/" .. path .. (history and "?history=1" or ""))
  r.config_decoded = json.decode(r.config)
  r.summary_decoded = json.decode(r.summaryMetrics)
  return r
end

-- requests(filter) -> the server's request log entries (optionally only those of one op)
function M.requests(op)
  local out = M.admin("GET", "requests" .. (op and ("?op=" .. op) or ""))
  return out.requests or out
end

function M.clear_requests() M.admin("DELETE", "requests") end

-- count of logged requests, by operation name
function M.count(op)
  return #M.requests(op)
end

return M
