-- runwatch.state: the durable store (SQLite, WAL) for script key/values, watch cursors, alert
-- states, the effect outbox, the audit log and status meta, as scripts and the library use it.
-- The file itself (opening, lock, dry-run copy, schema, transactions) is runwatch.state.store.
local json = require "runwatch.json"
local core = require "runwatch.core"
local task = require "runwatch.task"
local store = require "runwatch.state.store"

local M = {}
local S = store.internal
local use, guard, q_run, q_first, q_all = S.use, S.guard, S.q_run, S.q_first, S.q_all
local iso = store.iso
local encode, decode, argerr, check_string, check_id, now = S.encode, S.decode, S.argerr,
  S.check_string, S.check_id, S.now

-- the store's own functions, under the names scripts know
-- state.open([path [, {readonly = bool}]]) -> state (store.lua says how a store is opened)
function M.open(path, opts) return store.open(path, opts, M) end   -- a tail call: errors blame the caller
for _, k in ipairs({"close", "path", "is_open", "holder", "dry_run", "transaction",
    "in_transaction", "contended", "iso", "parse_time", "SCHEMA_VERSION"}) do
  M[k] = store[k]
end

-- {====== script key/values, namespaced by the running script

local function namespace()
  local t = task.current()
  return t and t.script or "global"
end

-- state.get(key [, default]) -> the stored value, or default
function M.get(key, default)
  check_string("get", 1, key)
  use(false)
  local row = guard(q_first, "SELECT value FROM kv WHERE script = ? AND key = ?", namespace(), key)
  if not row then return default end
  return decode(row.value)
end

-- state.set(key, value): stores value (any JSON value); nil deletes the key
function M.set(key, value)
  check_string("set", 1, key)
  if value == nil then return M.delete(key) end
  local text = encode("set", value)
  use(true)
  guard(q_run, "INSERT INTO kv (script, key, value, updated) VALUES (?, ?, ?, ?) " ..
    "ON CONFLICT (script, key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
    namespace(), key, text, now())
end

-- state.delete(key) -> true when the key existed
function M.delete(key)
  check_string("delete", 1, key)
  use(true)
  return guard(q_run, "DELETE FROM kv WHERE script = ? AND key = ?", namespace(), key) > 0
end

-- state.keys([prefix]) -> sorted list of this script's keys
function M.keys(prefix)
  check_string("keys", 1, prefix, true)
  use(false)
  local rows
  if prefix and prefix ~= "" then
    rows = guard(q_all, "SELECT key FROM kv WHERE script = ?1 AND substr(key, 1, length(?2)) = ?2 " ..
      "ORDER BY key", namespace(), prefix)
  else
    rows = guard(q_all, "SELECT key FROM kv WHERE script = ? ORDER BY key", namespace())
  end
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.key end
  return out
end

-- }======

-- {====== cursors of the watch engine: one JSON table per (watch, run)

function M.cursor(watch_id, run_path)
  watch_id = check_id("cursor", 1, watch_id)
  check_string("cursor", 2, run_path)
  use(false)
  local row = guard(q_first, "SELECT value FROM cursors WHERE watch = ? AND run = ?", watch_id, run_path)
  if row then return decode(row.value), row.value end      -- the table, and its JSON text
  return nil
end

function M.set_cursor(watch_id, run_path, tbl)
  watch_id = check_id("set_cursor", 1, watch_id)
  check_string("set_cursor", 2, run_path)
  if type(tbl) ~= "table" then argerr("set_cursor", 3, "table expected, got " .. type(tbl)) end
  local text = encode("set_cursor", tbl)
  use(true)
  guard(q_run, "INSERT INTO cursors (watch, run, value, updated) VALUES (?, ?, ?, ?) " ..
    "ON CONFLICT (watch, run) DO UPDATE SET value = excluded.value, updated = excluded.updated",
    watch_id, run_path, text, now())
  return text                                               -- the JSON text stored
end

-- state.cursors(watch_id) -> {run_path = tbl}
function M.cursors(watch_id)
  watch_id = check_id("cursors", 1, watch_id)
  use(false)
  local out = {}
  for _, r in ipairs(guard(q_all, "SELECT run, value FROM cursors WHERE watch = ?", watch_id)) do
    out[r.run] = decode(r.value)
  end
  return out
end

function M.delete_cursor(watch_id, run_path)
  watch_id = check_id("delete_cursor", 1, watch_id)
  check_string("delete_cursor", 2, run_path)
  use(true)
  return guard(q_run, "DELETE FROM cursors WHERE watch = ? AND run = ?", watch_id, run_path) > 0
end

-- }======

-- {====== alert states: one per (rule, fingerprint)

-- "inactive" is what runwatch.rules writes when a pending alert clears before it fires
local alert_states = {pending = true, firing = true, resolved = true, inactive = true}

function M.alert(rule, fingerprint)
  check_string("alert", 1, rule)
  check_string("alert", 2, fingerprint)
  use(false)
  local row = guard(q_first, "SELECT value FROM alerts WHERE rule = ? AND fingerprint = ?", rule, fingerprint)
  if row then return decode(row.value) end
  return nil
end

-- state.set_alert(rule, fingerprint, {state = "pending"|"firing"|"resolved", since=,
-- last_notified=, value=, run=, ...})
function M.set_alert(rule, fingerprint, tbl)
  check_string("set_alert", 1, rule)
  check_string("set_alert", 2, fingerprint)
  if type(tbl) ~= "table" then argerr("set_alert", 3, "table expected, got " .. type(tbl)) end
  if not alert_states[tbl.state] then
    argerr("set_alert", 3, "field 'state' must be \"pending\", \"firing\", \"resolved\" or \"inactive\", got " ..
      (type(tbl.state) == "string" and string.format("%q", tbl.state) or type(tbl.state)))
  end
  local text = encode("set_alert", tbl)
  use(true)
  guard(q_run, "INSERT INTO alerts (rule, fingerprint, state, value, updated) VALUES (?, ?, ?, ?, ?) " ..
    "ON CONFLICT (rule, fingerprint) DO UPDATE SET state = excluded.state, value = excluded.value, " ..
    "updated = excluded.updated", rule, fingerprint, tbl.state, text, now())
end

-- state.alerts([{rule =, state =}]) -> list of alert tables (with rule and fingerprint filled in
-- when absent), by rule then fingerprint
function M.alerts(filter)
  if filter ~= nil and type(filter) ~= "table" then argerr("alerts", 1, "table expected, got " .. type(filter)) end
  filter = filter or {}
  if filter.rule ~= nil and type(filter.rule) ~= "string" then argerr("alerts", 1, "field 'rule' must be a string") end
  if filter.state ~= nil and not alert_states[filter.state] then
    argerr("alerts", 1, "field 'state' must be \"pending\", \"firing\", \"resolved\" or \"inactive\"")
  end
  use(false)
  local rows = guard(q_all, "SELECT rule, fingerprint, value FROM alerts WHERE (?1 IS NULL OR rule = ?1) " ..
    "AND (?2 IS NULL OR state = ?2) ORDER BY rule, fingerprint", filter.rule, filter.state)
  local out = {}
  for i, r in ipairs(rows) do
    local a = decode(r.value)
    if type(a) == "table" then
      if a.rule == nil then a.rule = r.rule end
      if a.fingerprint == nil then a.fingerprint = r.fingerprint end
    end
    out[i] = a
  end
  return out
end

-- }======

-- {====== outbox: notifications recorded before they are sent, so kill -9 neither loses nor
-- repeats them (the dedupe key is unique forever, until pruned)

-- state.outbox_add(dedupe_key, action, payload) -> id, or nil when the key was added before
function M.outbox_add(key, action, payload)
  check_string("outbox_add", 1, key)
  check_string("outbox_add", 2, action)
  local text = encode("outbox_add", payload == nil and json.null or payload)
  use(true)
  return guard(function()
    local n = q_run("INSERT INTO outbox (key, action, payload, attempts, created) VALUES (?, ?, ?, 0, ?) " ..
      "ON CONFLICT (key) DO NOTHING", key, action, text, now())
    if n == 0 then return nil end
    return S.last_insert_rowid()
  end)
end

-- state.outbox_pending() -> list of {id, key, action, payload, attempts, created, last_error},
-- oldest first
function M.outbox_pending()
  use(false)
  local rows = guard(q_all, "SELECT id, key, action, payload, attempts, created, last_error, claim, next_at " ..
    "FROM outbox WHERE done IS NULL ORDER BY id")
  for _, r in ipairs(rows) do r.payload = decode(r.payload) end
  return rows
end

-- state.outbox_done(id [, outcome]) -> true when the entry was pending
function M.outbox_done(id, outcome)
  if math.type(id) ~= "integer" then argerr("outbox_done", 1, "integer id expected, got " .. type(id)) end
  if outcome ~= nil and type(outcome) ~= "string" then argerr("outbox_done", 2, "string expected, got " .. type(outcome)) end
  use(true)
  return guard(q_run, "UPDATE outbox SET done = ?, outcome = ?, claim = NULL WHERE id = ? AND done IS NULL",
    now(), outcome or "ok", id) > 0
end

-- state.outbox_fail(id, err [, next_at]) -> attempts so far (the entry stays pending, its claim
-- released, not due before next_at), or nil if not pending
function M.outbox_fail(id, err, next_at)
  if math.type(id) ~= "integer" then argerr("outbox_fail", 1, "integer id expected, got " .. type(id)) end
  if next_at ~= nil and type(next_at) ~= "number" then argerr("outbox_fail", 3, "number expected, got " .. type(next_at)) end
  use(true)
  return guard(function()
    local n = q_run("UPDATE outbox SET attempts = attempts + 1, last_error = ?, claim = NULL, " ..
      "next_at = coalesce(?, next_at) WHERE id = ? AND done IS NULL",
      err ~= nil and tostring(err) or nil, next_at, id)
    if n == 0 then return nil end
    return q_first("SELECT attempts FROM outbox WHERE id = ?", id).attempts
  end)
end

-- {====== claims: one deliverer per entry. A claim names the deliverer (a token unique to one
-- process and Lua state); an entry claimed by a token that is not the caller's was in flight
-- in a process that died or in the scripts a reload replaced: an "orphan", whose delivery may
-- or may not have happened (effects.lua decides per effect kind).

local OUTBOX_COLS = "id, key, action, payload, attempts, created, last_error, claim, claimed_at, next_at, progress"
local function outbox_rows(rows)
  for _, r in ipairs(rows) do
    r.payload = decode(r.payload)
    if r.progress then r.progress = decode(r.progress) end
  end
  return rows
end

-- state.outbox_due(now [, limit]) -> unclaimed pending entries due by now, oldest first
function M.outbox_due(t, limit)
  if type(t) ~= "number" then argerr("outbox_due", 1, "number expected, got " .. type(t)) end
  use(false)
  return outbox_rows(guard(q_all, "SELECT " .. OUTBOX_COLS .. " FROM outbox WHERE done IS NULL AND " ..
    "claim IS NULL AND next_at <= ? ORDER BY id LIMIT ?", t, limit or 1000))
end

-- state.outbox_next_due() -> the earliest next_at of an unclaimed pending entry, or nil
function M.outbox_next_due()
  use(false)
  local row = guard(q_first, "SELECT min(next_at) AS t FROM outbox WHERE done IS NULL AND claim IS NULL")
  return row and row.t or nil
end

-- state.outbox_claim(id, token) -> true when this caller now owns the entry's delivery
function M.outbox_claim(id, token)
  if math.type(id) ~= "integer" then argerr("outbox_claim", 1, "integer id expected, got " .. type(id)) end
  check_string("outbox_claim", 2, token)
  use(true)
  return guard(q_run, "UPDATE outbox SET claim = ?, claimed_at = ? WHERE id = ? AND done IS NULL AND claim IS NULL",
    token, now(), id) > 0
end

-- state.outbox_claimed() -> every claimed pending entry
function M.outbox_claimed()
  use(false)
  return outbox_rows(guard(q_all, "SELECT " .. OUTBOX_COLS .. " FROM outbox WHERE done IS NULL AND " ..
    "claim IS NOT NULL ORDER BY id"))
end

-- state.outbox_orphans(token) -> pending entries claimed by any other token
function M.outbox_orphans(token)
  check_string("outbox_orphans", 1, token)
  use(false)
  return outbox_rows(guard(q_all, "SELECT " .. OUTBOX_COLS .. " FROM outbox WHERE done IS NULL AND " ..
    "claim IS NOT NULL AND claim <> ? ORDER BY id", token))
end

-- state.outbox_adopt(id, old_token, token) -> true when the orphan is now the caller's
function M.outbox_adopt(id, old, token)
  use(true)
  return guard(q_run, "UPDATE outbox SET claim = ?, claimed_at = ? WHERE id = ? AND done IS NULL AND claim = ?",
    token, now(), id, old) > 0
end

-- state.outbox_progress(id, tbl): what a delivery did so far (kept with the entry, for a later
-- check before repeating it)
function M.outbox_progress(id, tbl)
  if math.type(id) ~= "integer" then argerr("outbox_progress", 1, "integer id expected, got " .. type(id)) end
  local text = tbl ~= nil and encode("outbox_progress", tbl) or nil
  use(true)
  guard(q_run, "UPDATE outbox SET progress = ? WHERE id = ?", text, id)
end

-- }======

-- state.seen(dedupe_key) -> true when an outbox entry with this key exists (pending or done)
function M.seen(key)
  check_string("seen", 1, key)
  use(false)
  return guard(q_first, "SELECT 1 AS x FROM outbox WHERE key = ?", key) ~= nil
end

-- }======

-- {====== audit log

-- state.audit(action, target, outcome, detail [, extra]) -> id. target is the run path (or
-- another object), outcome "ok", "dry-run", "failed: ..."; detail a string (tables are stored
-- as JSON); extra.rule fills the rule column, the rest of extra is kept as JSON.
function M.audit(action, target, outcome, detail, extra)
  check_string("audit", 1, action)
  if target ~= nil and type(target) ~= "string" then target = tostring(target) end
  if outcome == nil then outcome = "ok" end
  check_string("audit", 3, outcome)
  if detail ~= nil and type(detail) ~= "string" then
    detail = type(detail) == "table" and encode("audit", detail) or tostring(detail)
  end
  if extra ~= nil and type(extra) ~= "table" then argerr("audit", 5, "table expected, got " .. type(extra)) end
  local rule, extra_text
  if extra then
    rule = extra.rule ~= nil and tostring(extra.rule) or nil
    local rest, n = {}, 0
    for k, v in pairs(extra) do if k ~= "rule" then rest[k] = v; n = n + 1 end end
    if n > 0 then extra_text = encode("audit", rest) end
  end
  local t = task.current()
  local ts = now()
  use(true)
  return guard(function()
    q_run("INSERT INTO audit (time, ts, script, job, rule, run, action, outcome, detail, extra) " ..
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", iso(ts), ts, t and t.script or nil,
      t and t.job ~= nil and tostring(t.job) or nil, rule, target, action, outcome, detail, extra_text)
    return S.last_insert_rowid()
  end)
end

local function since_value(v)
  if v == nil then return nil end
  if type(v) == "number" then return v end
  local t = M.parse_time(v)
  if not t then argerr("audit_list", 1, "field 'since' must be epoch seconds or an ISO-8601 time", 3) end
  return t
end

-- state.audit_list{since=, limit=, rule=, run=, action=} -> list of {id, time, ts, script, job,
-- rule, run, action, outcome, detail, extra}, newest last (the newest `limit`, default 1000)
function M.audit_list(f)
  if f ~= nil and type(f) ~= "table" then argerr("audit_list", 1, "table expected, got " .. type(f)) end
  f = f or {}
  for _, k in ipairs{"rule", "run", "action"} do
    if f[k] ~= nil and type(f[k]) ~= "string" then argerr("audit_list", 1, "field '" .. k .. "' must be a string") end
  end
  local limit = f.limit or 1000
  if math.type(limit) ~= "integer" or limit < 0 then argerr("audit_list", 1, "field 'limit' must be a non-negative integer") end
  local since = since_value(f.since)
  use(false)
  local rows = guard(q_all, "SELECT id, time, ts, script, job, rule, run, action, outcome, detail, extra " ..
    "FROM audit WHERE (?1 IS NULL OR ts >= ?1) AND (?2 IS NULL OR rule = ?2) AND (?3 IS NULL OR run = ?3) " ..
    "AND (?4 IS NULL OR action = ?4) ORDER BY ts DESC, id DESC LIMIT ?5", since, f.rule, f.run, f.action, limit)
  local out, n = {}, #rows
  for i = 1, n do
    local r = rows[n + 1 - i]
    if r.extra then r.extra = decode(r.extra) end
    out[i] = r
  end
  return out
end

-- }======

-- {====== meta: what `runwatch status` shows (conventions in docs/state.md)

function M.meta_set(key, value)
  check_string("meta_set", 1, key)
  use(true)
  if value == nil then
    guard(q_run, "DELETE FROM meta WHERE key = ?", key)
    return
  end
  local text = encode("meta_set", value)
  guard(q_run, "INSERT INTO meta (key, value, updated) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE " ..
    "SET value = excluded.value, updated = excluded.updated", key, text, now())
end

function M.meta_get(key)
  check_string("meta_get", 1, key)
  use(false)
  local row = guard(q_first, "SELECT value FROM meta WHERE key = ?", key)
  if row then return decode(row.value) end
  return nil
end

-- state.meta_list([prefix]) -> {key = value}
function M.meta_list(prefix)
  check_string("meta_list", 1, prefix, true)
  use(false)
  local rows = guard(q_all, "SELECT key, value FROM meta WHERE ?1 IS NULL OR substr(key, 1, length(?1)) = ?1",
    prefix)
  local out = {}
  for _, r in ipairs(rows) do out[r.key] = decode(r.value) end
  return out
end

-- }======

-- state.record_daemon(): the "daemon" record runwatch status shows (pid, start, version, mode,
-- scripts), marked with the time it stopped when the process ends normally. A process killed or
-- crashed leaves no mark; status then sees that nothing holds the store's lock.
local daemon_recorded = false
function M.record_daemon()
  if daemon_recorded then return end
  daemon_recorded = true
  local opts = core.options()
  M.meta_set("daemon", {pid = core.getpid(), started = core.time(), version = core.version,
    mode = opts.mode, scripts = json.array({table.unpack(opts.scripts or {})})})
  task.on_exit(function()
    pcall(function()
      local d = M.meta_get("daemon") or {}
      if d.pid == core.getpid() then d.stopped = core.time(); M.meta_set("daemon", d) end
    end)
  end)
  -- a daemon runs for months: its store is pruned with the defaults below a minute after start
  -- and then daily (a daemon timer: it never keeps the process alive)
  if opts.mode == "run" then
    local t = require("runwatch.timer").new(60, 86400, function()
      task.new(function()
        local ok, res = pcall(M.prune)
        if ok then
          core.log("info", "state pruned", {audit = res.audit, outbox = res.outbox, alerts = res.alerts})
        else
          core.log("warn", "state not pruned: " .. tostring(res))
        end
      end, {script = "runwatch", job = "prune", ctx = false})
    end, {daemon = true})
    t:start()
    M._prune_timer = t
  end
end

-- state.prune{audit_days = 90, outbox_days = 30, alert_days = 30} -> {audit =, outbox =, alerts =}
-- Deletes audit entries, delivered outbox entries (a dedupe key is remembered this long) and
-- resolved alerts older than that. Pending outbox entries and active alerts are kept.
function M.prune(opts)
  if opts ~= nil and type(opts) ~= "table" then argerr("prune", 1, "table expected, got " .. type(opts)) end
  opts = opts or {}
  local function days(k, def)
    local v = opts[k]
    if v == nil then return def end
    if type(v) ~= "number" or v < 0 or v ~= v then argerr("prune", 1, "field '" .. k .. "' must be a non-negative number", 3) end
    return v
  end
  local ad, od, ld = days("audit_days", 90), days("outbox_days", 30), days("alert_days", 30)
  local t = now()
  use(true)
  return store.transaction(function()
    return {
      audit = guard(q_run, "DELETE FROM audit WHERE ts < ?", t - ad * 86400),
      outbox = guard(q_run, "DELETE FROM outbox WHERE done IS NOT NULL AND done < ?", t - od * 86400),
      alerts = guard(q_run, "DELETE FROM alerts WHERE state IN ('resolved', 'inactive') AND updated < ?", t - ld * 86400),
    }
  end)
end

return M
