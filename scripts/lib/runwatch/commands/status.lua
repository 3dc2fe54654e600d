-- `runwatch status [--state PATH] [--json]` (options declared in cli/spec.lua): the daemon, its watches, rules, alerts and request budget, read from the state store (read-only, works while the daemon runs).
local core = require "runwatch.core"
local json = require "runwatch.json"

local M = {}

local function err(msg) io.stderr:write(core.redact("runwatch status: " .. msg .. "\n")) end
local function out(s) core.write(s) end

local function null(v) if v == json.null then return nil end return v end

-- Non-finite numbers become strings, so --json is strict JSON (jq, JSON.parse).
local function strict(v)
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    return v ~= v and "NaN" or (v > 0 and "Infinity" or "-Infinity")
  end
  if type(v) == "table" then
    local c = {}
    for k, x in pairs(v) do c[k] = strict(x) end
    return setmetatable(c, getmetatable(v))
  end
  return v
end

-- "3h 2m", "45s", "1.2s" for seconds
local function span(secs)
  secs = tonumber(secs)
  if not secs or secs ~= secs then return "-" end
  if secs < 0 then secs = 0 end
  if secs < 10 and secs ~= math.floor(secs) then return string.format("%.1fs", secs) end
  secs = math.floor(secs + 0.5)
  if secs < 60 then return secs .. "s" end
  if secs < 3600 then
    local m, s = secs // 60, secs % 60
    return s > 0 and string.format("%dm%ds", m, s) or m .. "m"
  end
  if secs < 86400 then
    local h, m = secs // 3600, secs % 3600 // 60
    return m > 0 and string.format("%dh%dm", h, m) or h .. "h"
  end
  local d, h = secs // 86400, secs % 86400 // 3600
  return h > 0 and string.format("%dd%dh", d, h) or d .. "d"
end
M.span = span

local function show(v)
  v = null(v)
  if v == nil then return "-" end
  if type(v) == "string" then return v end
  if math.type(v) == "float" and v == v and math.abs(v) ~= math.huge then
    if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
    return string.format("%.6g", v)      -- a table cell; --json has every digit
  end
  local ok, s = pcall(json.encode, v)
  return ok and s or tostring(v)
end

local function interval(v)
  v = null(v)
  if type(v) == "number" then return span(v) end
  return show(v)
end

-- "2024-06-01T09:00:00Z (12m ago)" for epoch seconds; strings are shown as they are
local function when(v, now)
  v = null(v)
  if type(v) ~= "number" then return show(v) end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(v)) .. " (" .. span(now - v) .. " ago)"
end

-- Fixed-width table: rows of strings under a header.
local function columns(header, rows)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = #h end
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do if #c > widths[i] then widths[i] = #c end end
  end
  local lines = {}
  local function line(r)
    local parts = {}
    for i, c in ipairs(r) do
      parts[i] = i < #r and c .. string.rep(" ", widths[i] - #c) or c
    end
    lines[#lines + 1] = "  " .. table.concat(parts, "  ")
  end
  line(header)
  for _, r in ipairs(rows) do line(r) end
  return table.concat(lines, "\n") .. "\n"
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- collect(state) -> the whole status as one table (what --json prints)
function M.collect(state)
  local now = core.time()
  local doc = {state = state.path(), time = state.iso(now), daemon = state.meta_get("daemon") or json.null,
    watches = json.object(), rules = json.object(), budget = json.object(), firing = json.array()}
  -- is it running? The process writing this store holds its lock (a pid alone can be stale)
  local holder = state.holder(state.path())
  doc.writer = holder and {pid = holder.pid, started = holder.started, command = holder.command} or json.null
  local d = doc.daemon
  if type(d) == "table" then
    d.running = holder ~= nil and holder.pid == d.pid
  end
  local pending, in_flight = state.outbox_pending(), 0
  for _, e in ipairs(pending) do if e.claim then in_flight = in_flight + 1 end end
  doc.outbox = {pending = #pending, in_flight = in_flight}
  for k, v in pairs(state.meta_list("watch:")) do doc.watches[k:sub(7)] = v end
  for k, v in pairs(state.meta_list("budget:")) do doc.budget[k:sub(8)] = v end
  for k, v in pairs(state.meta_list("rule:")) do
    if type(v) ~= "table" then v = {value = v} end
    v.pending, v.firing = 0, 0
    doc.rules[k:sub(6)] = v
  end
  for _, a in ipairs(state.alerts()) do
    local r = doc.rules[a.rule]
    if not r then
      r = {pending = 0, firing = 0}
      doc.rules[a.rule] = r
    end
    if a.state == "pending" then r.pending = r.pending + 1
    elseif a.state == "firing" then
      r.firing = r.firing + 1
      doc.firing[#doc.firing + 1] = {rule = a.rule, fingerprint = a.fingerprint, run = a.run,
        since = a.since, value = a.value, last_notified = a.last_notified}
    end
  end
  return doc, now
end

local function render(doc, now)
  local o = {}
  local function add(s) o[#o + 1] = s end
  add("state: " .. doc.state .. "\n")
  local d = null(doc.daemon)
  if type(d) == "table" then
    local scripts = null(d.scripts)
    if type(scripts) == "table" then scripts = table.concat(scripts, ", ") end
    local status
    if d.running then status = "running"
    elseif null(d.stopped) then status = "stopped " .. when(d.stopped, now)
    else status = "not running (it ended without stopping cleanly: killed or crashed)" end
    add(string.format("daemon: pid %s, %s, started %s, version %s, scripts: %s\n", show(d.pid), status,
      when(d.started, now), show(d.version), show(scripts)))
  else
    add("daemon: no record (no daemon has run with this state)\n")
  end
  local wr = null(doc.writer)
  if type(wr) == "table" and not (type(d) == "table" and d.running) then
    add(string.format("in use by: pid %s (%s), since %s\n", show(wr.pid), show(wr.command), show(wr.started)))
  end
  if doc.outbox and doc.outbox.pending > 0 then
    add(string.format("outbox: %d effect(s) not yet delivered, %d in flight\n", doc.outbox.pending, doc.outbox.in_flight))
  end

  local ids = sorted_keys(doc.watches)
  add("\nwatches:")
  if #ids == 0 then add(" none\n") else
    add("\n")
    local rows = {}
    for _, id in ipairs(ids) do
      local w = doc.watches[id]
      if type(w) ~= "table" then w = {} end
      local ticks = null(w.last_tick)
      rows[#rows + 1] = {id, show(w.project), interval(w.every),
        type(ticks) == "number" and span(now - ticks) .. " ago" or "never",
        type(null(w.last_duration)) == "number" and span(w.last_duration) or "-",
        show(w.running), show(w.examined), show(w.requests), show(w.errors)}
    end
    add(columns({"WATCH", "PROJECT", "EVERY", "LAST TICK", "TOOK", "RUNNING", "EXAMINED",
      "REQUESTS/TICK", "ERRORS"}, rows))
  end

  local names = sorted_keys(doc.rules)
  add("\nrules:")
  if #names == 0 then add(" none\n") else
    add("\n")
    local rows = {}
    for _, n in ipairs(names) do
      local r = doc.rules[n]
      rows[#rows + 1] = {n, show(r.watch), show(r.severity), interval(r["for"]), interval(r["repeat"]),
        tostring(r.pending), tostring(r.firing)}
    end
    add(columns({"RULE", "WATCH", "SEVERITY", "FOR", "REPEAT", "PENDING", "FIRING"}, rows))
    for _, n in ipairs(names) do
      local r = doc.rules[n]
      if null(r.condition) then add("  " .. n .. ": when " .. show(r.condition) .. "\n") end
      if null(r.missing) then add("  " .. n .. ": " .. show(r.missing) .. " (the rule stays inactive)\n") end
    end
  end

  add("\nfiring:")
  if #doc.firing == 0 then add(" none\n") else
    add("\n")
    local rows = {}
    for _, a in ipairs(doc.firing) do
      rows[#rows + 1] = {show(a.rule), show(a.run or a.fingerprint), when(a.since, now), show(a.value)}
    end
    add(columns({"RULE", "RUN", "SINCE", "VALUE"}, rows))
  end

  local hosts = sorted_keys(doc.budget)
  add("\nrequest budget:")
  if #hosts == 0 then add(" none recorded\n") else
    add("\n")
    local rows = {}
    for _, h in ipairs(hosts) do
      local b = doc.budget[h]
      if type(b) ~= "table" then b = {} end
      rows[#rows + 1] = {h, show(b.rate), show(b.burst), show(b.concurrency), show(b.tokens),
        show(b.in_flight), show(b.sent), show(b.throttled), show(b.remaining)}
    end
    add(columns({"HOST", "RATE/S", "BURST", "CONCURRENCY", "TOKENS", "IN FLIGHT", "SENT",
      "THROTTLED", "REMAINING"}, rows))
  end
  return table.concat(o)
end

-- main(options) -> exit status: 0, 1 when the store cannot be read (options: cli/spec.lua)
function M.main(o)
  local state = require "runwatch.state"
  local ok, e = pcall(function()
    state.open(nil, {readonly = true})
    local doc, now = M.collect(state)
    if o.json then out(json.encode(strict(doc), {sort_keys = true, indent = 2}) .. "\n")
    else out(render(doc, now)) end
  end)
  state.close()
  if not ok then
    err(tostring(e))
    return 1
  end
  return 0
end

return M
