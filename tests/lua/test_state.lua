-- Tests of runwatch.state: key/values per script, transactions, cursors, alerts, outbox, audit, meta, prune, and its clear errors.
-- runwatch-args: --cpu-budget 60
local t = require "testlib"
local state = require "runwatch.state"
local sqlite = require "runwatch.sqlite"
local json = require "runwatch.json"
local task = require "runwatch.task"
local timer = require "runwatch.timer"

local base = os.tmpname()
local dir = base .. ".d"
local path = dir .. "/sub/state.db"
local function rm(p) os.remove(p); os.remove(p .. "-wal"); os.remove(p .. "-shm") end
local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end

-- {====== open: directories, WAL, schema version
t.eq(state.open(path), state, "open returns the module")
t.eq(state.path(), path, "path()")
t.eq(state.is_open(), true, "is_open")
t.eq(state.open(path), state, "opening the same path again is a no-op")
local raw = assert(sqlite.open(path))   -- a second connection, to look behind the API
t.eq(raw:first("PRAGMA journal_mode").journal_mode, "wal", "WAL mode")
t.eq(raw:first("PRAGMA user_version").user_version, state.SCHEMA_VERSION, "schema version")
t.ok(state.SCHEMA_VERSION >= 1, "at least one migration")
t.checkerr("bad argument #1 to 'state.open' (string expected, got number)", state.open, 5)
-- }======

-- {====== key/values: lossless JSON values
local values = {
  int_max = math.maxinteger, int_min = math.mininteger, zero = 0, float_one = 1.0,
  tenth = 0.1, tiny = 5e-324, big = 1.7976931348623157e308, inf = math.huge, ninf = -math.huge,
  str = "a\0b\1é漢字\u{10FFFF}", empty_str = "", yes = true, no = false,
  empty_array = json.array(), empty_object = json.object(),
  nested = {a = {1, 2.5, "x", json.array(), {b = json.null}}, n = -(1 << 62)},
  null = json.null,
}
for k, v in pairs(values) do state.set(k, v) end
for k, v in pairs(values) do
  local got = state.get(k)
  t.eq(got, v, "round trip " .. k)
end
t.eq(json.encode(state.get("empty_array")), "[]", "an empty array stays an array")
t.eq(json.encode(state.get("empty_object")), "{}", "an empty object stays an object")
t.eq(json.encode(state.get("nested"), {sort_keys = true}), '{"a":[1,2.5,"x",[],{"b":null}],"n":-4611686018427387904}',
  "nested value")
state.set("nan", 0 / 0)
local nan = state.get("nan")
t.ok(nan ~= nan and math.type(nan) == "float", "NaN round-trips (as JSON NaN, not SQL NULL)")
t.eq(state.get("no"), false, "false is a value, not the default")
t.eq(state.get("missing"), nil, "missing key")
t.eq(state.get("missing", 42), 42, "default")
state.set("int_max", 7)
t.eq(state.get("int_max"), 7, "overwrite")
t.eq(state.delete("int_max"), true, "delete an existing key")
t.eq(state.delete("int_max"), false, "delete a missing key")
state.set("zero", nil)
t.eq(state.get("zero", "gone"), "gone", "set(k, nil) deletes")
state.set("p/1", 1); state.set("p/2", 2); state.set("p%", 3); state.set("q/1", 4)
t.eq(state.keys("p/"), {"p/1", "p/2"}, "keys with a prefix")
t.eq(state.keys("p%"), {"p%"}, "a prefix is not a pattern")
t.eq(#state.keys(), #state.keys(""), "keys() = keys('')")
t.ok(#state.keys() > 10, "keys() lists all")
t.checkerr("bad argument #1 to 'state.get' (string expected, got number)", state.get, 1)
t.checkerr("bad argument #1 to 'state.set' (string expected, got nil)", state.set, nil, 1)
t.checkerr("state.set: cannot store the value: json.encode: cannot encode function", state.set, "f", print)
t.checkerr("cannot encode", state.set, "f", {x = coroutine.create(print)})
t.checkerr("invalid UTF-8", state.set, "f", "\255 bytes are not text")
local cyc = {}; cyc.self = cyc
t.checkerr("state.set: cannot store the value", state.set, "cyc", cyc)
t.eq(state.get("f"), nil, "a failed set stores nothing")
t.checkerr("bad argument #1 to 'state.keys'", state.keys, 5)
do  -- the caller is blamed
  local ok, e = pcall(function() state.get({}) end)
  t.ok(not ok and e:find("test_state.lua:%d+: bad argument #1 to 'state.get'"), "position of the caller: " .. tostring(e))
end
-- }======

-- {====== namespaces: each script has its own keys; no job means "global"
state.set("shared", "from test")
local other = task.new(function()
  t.eq(state.get("shared"), nil, "another script does not see this script's key")
  state.set("shared", "from other")
  t.eq(state.keys(), {"shared"}, "another script's keys")
end, {script = "other.lua", job = "main"})
t.eq(other:wait(), true, "other script's job")
t.eq(state.get("shared"), "from test", "own value kept")
local done_global = false
timer.new(0, 0, function()       -- a timer callback runs outside any job
  state.set("shared", "from nowhere")
  done_global = true
end):start()
sleep(0.02)
t.eq(done_global, true, "timer callback ran")
local scripts = {}
for r in raw:rows("SELECT script, value FROM kv WHERE key = 'shared' ORDER BY script") do
  scripts[#scripts + 1] = r.script .. "=" .. r.value
end
t.eq(table.concat(scripts, ","), 'global="from nowhere",other.lua="from other",test_state.lua="from test"',
  "rows per namespace")
-- }======

-- {====== transactions
t.eq(state.transaction(function() state.set("tx1", 1); return "r1", nil, 3 end), "r1", "commit and return")
t.eq(select("#", state.transaction(function() return 1, nil, 3 end)), 3, "every result, nils included")
t.eq(state.get("tx1"), 1, "committed")
do
  local boom = setmetatable({}, {__tostring = function() return "boom value" end})
  local ok, e = pcall(state.transaction, function()
    state.set("tx2", 1)
    t.eq(state.in_transaction(), true, "in_transaction")
    t.eq(raw:first("SELECT value FROM kv WHERE key = 'tx2'"), nil, "uncommitted writes are invisible to others")
    error(boom)
  end)
  t.ok(not ok and e == boom, "the error value is raised again as it was")
  t.eq(state.get("tx2"), nil, "rolled back")
  t.eq(state.in_transaction(), false, "no transaction left open")
end
do  -- nested: joins the outer transaction; an inner error caught inside only undoes the inner writes
  state.transaction(function()
    state.set("outer", 1)
    local ok = pcall(state.transaction, function()
      state.set("inner", 1)
      error("inner fails")
    end)
    t.eq(ok, false, "inner error")
    state.transaction(function() state.set("inner2", 2) end)
    t.eq(raw:first("SELECT value FROM kv WHERE key = 'inner2'"), nil, "a nested commit waits for the outer")
  end)
  t.eq(state.get("outer"), 1, "outer kept")
  t.eq(state.get("inner"), nil, "inner undone")
  t.eq(state.get("inner2"), 2, "nested committed with the outer")
  local ok = pcall(state.transaction, function()
    state.transaction(function() state.set("inner3", 3) end)
    error("outer fails")
  end)
  t.eq(ok, false, "outer error")
  t.eq(state.get("inner3"), nil, "the outer rollback undoes nested work")
end
t.checkerr("bad argument #1 to 'state.transaction' (function expected, got nil)", state.transaction)
t.checkerr("state.close: a transaction is open", state.transaction, function() state.close() end)
do  -- another job's writes wait while a job sleeps inside its transaction
  local order = {}
  local a = task.new(function()
    state.transaction(function()
      state.set("ja", 1)
      order[#order + 1] = "a-sleeps"
      sleep(0.05)
      order[#order + 1] = "a-wakes"
      error("a rolls back")
    end)
  end, {script = "test_state.lua", job = "a", quiet = true})
  local b = task.new(function()
    sleep(0.01)
    order[#order + 1] = "b-writes"
    state.set("jb", 2)
    order[#order + 1] = "b-wrote"
  end, {script = "test_state.lua", job = "b"})
  a:wait(); b:wait()
  t.eq(table.concat(order, ","), "a-sleeps,b-writes,a-wakes,b-wrote", "b waited for a's transaction")
  t.eq(state.get("ja"), nil, "a's transaction rolled back")
  t.eq(state.get("jb"), 2, "b's write is not lost with a's rollback")
end
do  -- a sub-job the transaction waits for cannot wait for the transaction: an error, not a hang
  require("runwatch.state.store").TX_WAIT = 0.1
  local ok, e = pcall(state.transaction, function()
    state.set("deadlock", 1)
    parallel({function() state.set("deadlock-child", 1) end})
  end)
  require("runwatch.state.store").TX_WAIT = 10
  t.ok(not ok and tostring(e):find("another job's transaction has been open for more than 0.1 s", 1, true),
    "bounded wait: " .. tostring(e))
  t.eq(state.get("deadlock"), nil, "rolled back")
  t.eq(state.get("deadlock-child"), nil, "the child wrote nothing")
end
do  -- a coroutine closed while suspended inside a transaction rolls it back
  local co = coroutine.create(function()
    state.transaction(function() state.set("co", 1); coroutine.yield() end)
  end)
  coroutine.resume(co)
  t.eq(state.in_transaction(), true, "suspended inside")
  coroutine.close(co)
  t.eq(state.in_transaction(), false, "closed: transaction ended")
  t.eq(state.get("co"), nil, "closed: rolled back")
end
-- }======

-- {====== cursors
state.set_cursor("w1", "e/p/r1", {step = 10, state = "running", seen = json.array()})
state.set_cursor("w1", "e/p/r2", {step = 1 << 40})
state.set_cursor("w2", "e/p/r1", {step = 99})
state.set_cursor(7, "e/p/r1", {step = 7})
t.eq(state.cursor("w1", "e/p/r1"), {step = 10, state = "running", seen = json.array()}, "cursor")
t.eq(json.encode(state.cursor("w1", "e/p/r1").seen), "[]", "cursor: empty array")
t.eq(state.cursor("w1", "e/p/none"), nil, "missing cursor")
t.eq(state.cursor(7, "e/p/r1").step, 7, "integer watch ids")
state.set_cursor("w1", "e/p/r1", {step = 11})
t.eq(state.cursors("w1"), {["e/p/r1"] = {step = 11}, ["e/p/r2"] = {step = 1 << 40}}, "cursors(watch)")
t.eq(state.delete_cursor("w1", "e/p/r2"), true, "delete_cursor")
t.eq(state.delete_cursor("w1", "e/p/r2"), false, "delete a missing cursor")
t.eq(state.cursors("w1"), {["e/p/r1"] = {step = 11}}, "after delete")
t.eq(state.cursors("nothing"), {}, "no cursors")
t.checkerr("bad argument #3 to 'state.set_cursor' (table expected, got number)", state.set_cursor, "w", "r", 1)
t.checkerr("bad argument #1 to 'state.cursor' (non-empty string expected", state.cursor, "", "r")
t.checkerr("bad argument #2 to 'state.cursor' (string expected, got nil)", state.cursor, "w")
-- }======

-- {====== alert states
state.set_alert("nan-loss", "e/p/r1", {state = "firing", since = 1000, last_notified = 1001, value = 0 / 0, run = "e/p/r1"})
state.set_alert("nan-loss", "e/p/r2", {state = "pending", since = 1002, value = 3.5, run = "e/p/r2"})
state.set_alert("slow", "e/p/r1", {state = "resolved", since = 900, run = "e/p/r1"})
local a1 = state.alert("nan-loss", "e/p/r1")
t.eq(a1.state, "firing", "alert state"); t.eq(a1.since, 1000, "alert since")
t.ok(a1.value ~= a1.value, "alert value NaN kept")
t.eq(a1.rule, nil, "alert() returns exactly what was stored")
t.eq(state.alert("nan-loss", "nope"), nil, "missing alert")
t.eq(#state.alerts(), 3, "all alerts")
local firing = state.alerts{state = "firing"}
t.eq(#firing, 1, "firing alerts"); t.eq(firing[1].rule, "nan-loss", "list entries name the rule")
t.eq(firing[1].fingerprint, "e/p/r1", "and the fingerprint")
t.eq(#state.alerts{rule = "nan-loss"}, 2, "by rule")
t.eq(#state.alerts{rule = "nan-loss", state = "pending"}, 1, "by rule and state")
state.set_alert("nan-loss", "e/p/r2", {state = "firing", since = 1002, run = "e/p/r2"})
t.eq(#state.alerts{state = "firing"}, 2, "state change moves it")
state.set_alert("nan-loss", "e/p/r3", {state = "inactive"})
t.eq(#state.alerts{state = "inactive"}, 1, "inactive (what runwatch.rules writes when a pending alert clears)")
t.checkerr("field 'state' must be", state.set_alert, "r", "f", {state = "exploded"})
t.checkerr("field 'state' must be", state.set_alert, "r", "f", {})
t.checkerr("field 'state' must be", state.alerts, {state = "exploded"})
t.checkerr("bad argument #3 to 'state.set_alert' (table expected, got nil)", state.set_alert, "r", "f")
-- }======

-- {====== outbox and dedupe
local id1 = state.outbox_add("alert:nan-loss:e/p/r1:1", "slack", {text = "NaN loss", n = 1 << 60, empty = json.array()})
t.eq(math.type(id1), "integer", "outbox_add returns an id")
t.eq(state.outbox_add("alert:nan-loss:e/p/r1:1", "slack", {text = "again"}), nil, "a repeated key is a duplicate")
local id2 = state.outbox_add("k2", "webhook", "plain string payload")
local id3 = state.outbox_add("k3", "wandb_alert")
t.ok(id2 > id1 and id3 > id2, "ids increase")
t.eq(state.seen("alert:nan-loss:e/p/r1:1"), true, "seen")
t.eq(state.seen("never"), false, "not seen")
local pend = state.outbox_pending()
t.eq(#pend, 3, "three pending")
t.eq(pend[1].id, id1, "oldest first"); t.eq(pend[1].key, "alert:nan-loss:e/p/r1:1", "key")
t.eq(pend[1].action, "slack", "action"); t.eq(pend[1].attempts, 0, "attempts")
t.eq(pend[1].payload, {text = "NaN loss", n = 1 << 60, empty = json.array()}, "payload lossless")
t.eq(json.encode(pend[1].payload.empty), "[]", "payload empty array")
t.ok(type(pend[1].created) == "number" and math.abs(pend[1].created - os.time()) < 5, "created")
t.eq(pend[2].payload, "plain string payload", "string payload")
t.eq(pend[3].payload, json.null, "no payload is null")
t.eq(state.outbox_fail(id1, "HTTP 500"), 1, "fail counts attempts")
t.eq(state.outbox_fail(id1, "timeout"), 2, "twice")
pend = state.outbox_pending()
t.eq(pend[1].attempts, 2, "attempts kept"); t.eq(pend[1].last_error, "timeout", "last error")
t.eq(state.outbox_done(id1, "sent"), true, "done")
t.eq(state.outbox_done(id1, "sent"), false, "done twice")
t.eq(state.outbox_fail(id1, "late"), nil, "fail after done")
t.eq(#state.outbox_pending(), 2, "done entries leave the pending list")
t.eq(state.seen("alert:nan-loss:e/p/r1:1"), true, "still seen after delivery (dedupe)")
t.eq(state.outbox_add("alert:nan-loss:e/p/r1:1", "slack", {}), nil, "still a duplicate after delivery")
t.eq(raw:first("SELECT outcome FROM outbox WHERE id = ?", id1).outcome, "sent", "outcome stored")
state.outbox_done(id2); state.outbox_done(id3, "dry-run")
t.eq(#state.outbox_pending(), 0, "none pending")
do  -- queued inside a transaction that fails: neither the alert state nor the message exists
  pcall(state.transaction, function()
    state.set_alert("tx-rule", "fp", {state = "firing", since = 1})
    state.outbox_add("tx-key", "slack", {})
    error("crash before commit")
  end)
  t.eq(state.alert("tx-rule", "fp"), nil, "alert rolled back")
  t.eq(state.seen("tx-key"), false, "outbox entry rolled back")
end
t.checkerr("bad argument #1 to 'state.outbox_add' (string expected, got nil)", state.outbox_add)
t.checkerr("bad argument #1 to 'state.outbox_done' (integer id expected", state.outbox_done, "1")
t.checkerr("state.outbox_add: cannot store the value", state.outbox_add, "k9", "x", {print})
-- }======

-- {====== audit log
local t0 = os.time()
local aid = state.audit("tag", "e/p/r1", "ok", "added tag reviewed", {rule = "nan-loss", episode = 2})
t.eq(math.type(aid), "integer", "audit returns an id")
state.audit("notify", "e/p/r2", "failed: HTTP 500", "slack", {rule = "nan-loss"})
state.audit("update", "e/p/r1", "dry-run", {summary = {checked = true}})
state.audit("note", nil, nil, nil)
local all = state.audit_list()
t.eq(#all, 4, "four entries")
local e1 = all[1]
t.ok(e1.time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), "ISO-8601 UTC with ms: " .. e1.time)
t.ok(math.abs(e1.ts - t0) < 5, "ts near now")
t.eq(e1.script, "test_state.lua", "script from the current job"); t.eq(e1.job, "main", "job")
t.eq(e1.rule, "nan-loss", "rule from extra"); t.eq(e1.run, "e/p/r1", "run is the target")
t.eq(e1.action, "tag", "action"); t.eq(e1.outcome, "ok", "outcome"); t.eq(e1.detail, "added tag reviewed", "detail")
t.eq(e1.extra, {episode = 2}, "the rest of extra")
t.eq(all[3].detail, '{"summary":{"checked":true}}', "a table detail is stored as JSON")
t.eq(all[4].outcome, "ok", "outcome defaults to ok"); t.eq(all[4].run, nil, "no target")
t.eq(#state.audit_list{rule = "nan-loss"}, 2, "filter by rule")
t.eq(#state.audit_list{run = "e/p/r1"}, 2, "filter by run")
t.eq(#state.audit_list{action = "notify"}, 1, "filter by action")
t.eq(#state.audit_list{rule = "nan-loss", run = "e/p/r2"}, 1, "filters combine")
local last2 = state.audit_list{limit = 2}
t.eq(#last2, 2, "limit"); t.eq(last2[1].action, "update", "the newest N, newest last"); t.eq(last2[2].action, "note", "newest last")
raw:run("INSERT INTO audit (time, ts, action, outcome) VALUES ('2020-01-01T00:00:00.000Z', 1577836800, 'old', 'ok')")
t.eq(#state.audit_list{since = t0 - 10}, 4, "since epoch seconds")
t.eq(#state.audit_list{since = "2019-12-31T23:59:59Z"}, 5, "since an ISO time")
t.eq(#state.audit_list{since = "2020-01-01T00:00:00.001Z"}, 4, "since with ms")
t.eq(#state.audit_list{since = "2020-01-01"}, 5, "since a date")
t.eq(state.audit_list()[1].action, "old", "oldest first")
t.checkerr("field 'since' must be epoch seconds or an ISO-8601 time", state.audit_list, {since = "yesterday"})
t.checkerr("field 'limit' must be a non-negative integer", state.audit_list, {limit = 1.5})
t.checkerr("bad argument #1 to 'state.audit' (string expected, got nil)", state.audit)
t.checkerr("bad argument #5 to 'state.audit' (table expected, got string)", state.audit, "a", "b", "ok", "d", "x")
t.eq(state.parse_time("1970-01-01T00:00:00Z"), 0, "parse_time epoch")
t.eq(state.parse_time("2024-02-29T12:30:15.250Z"), 1709209815.25, "parse_time leap day with ms")
t.eq(state.parse_time("2024-06-01T09:00:00+02:00"), 1717225200, "parse_time offset")
t.eq(state.parse_time("2024-06-01 09:00"), 1717232400, "parse_time without seconds")
t.eq(state.parse_time("junk"), nil, "parse_time junk")
t.eq(state.iso(1709209815.25), "2024-02-29T12:30:15.250Z", "iso")
t.eq(state.iso(0.9996), "1970-01-01T00:00:01.000Z", "iso rounds ms up into the second")
-- }======

-- {====== meta
state.meta_set("watch:w1", {project = "e/p", every = 30, last_tick = 1000, running = 2})
state.meta_set("watch:w2", {project = "e/q", every = "5m"})
state.meta_set("daemon", {pid = 1, scripts = {"a.lua"}})
t.eq(state.meta_get("watch:w1").project, "e/p", "meta_get")
t.eq(state.meta_get("nope"), nil, "missing meta")
local wl = state.meta_list("watch:")
t.eq(wl["watch:w2"].every, "5m", "meta_list by prefix"); t.eq(wl.daemon, nil, "prefix excludes others")
t.ok(state.meta_list().daemon ~= nil, "meta_list() lists all")
state.meta_set("watch:w2", nil)
t.eq(state.meta_get("watch:w2"), nil, "meta_set(k, nil) deletes")
state.meta_set("flag", false)
t.eq(state.meta_get("flag"), false, "false meta value")
-- }======

-- {====== prune
do
  local old = os.time() - 100 * 86400
  raw:run("INSERT INTO audit (time, ts, action, outcome) VALUES ('x', ?, 'ancient', 'ok')", old)
  raw:run("INSERT INTO outbox (key, action, payload, created, done) VALUES ('old-done', 'a', 'null', ?, ?)", old, old)
  raw:run("INSERT INTO outbox (key, action, payload, created) VALUES ('old-pending', 'a', 'null', ?)", old)
  raw:run("INSERT INTO alerts (rule, fingerprint, state, value, updated) VALUES ('r', 'old', 'resolved', '{}', ?)", old)
  raw:run("INSERT INTO alerts (rule, fingerprint, state, value, updated) VALUES ('r', 'oldfiring', 'firing', '{}', ?)", old)
  local n = state.prune{}
  t.eq(n, {audit = 2, outbox = 1, alerts = 1}, "prune counts (the 2020 entry and the 100-day-old one)")
  t.eq(state.seen("old-done"), false, "a delivered entry past outbox_days is forgotten")
  t.eq(state.seen("old-pending"), true, "pending entries are never pruned")
  t.ok(state.alert("r", "oldfiring") ~= nil, "active alerts are never pruned")
  t.eq(state.prune{audit_days = 0}.audit, #all, "audit_days = 0 prunes everything older than now")
  t.checkerr("field 'audit_days' must be a non-negative number", state.prune, {audit_days = -1})
end
-- }======

-- {====== read-only, close and reopen
state.close()
t.eq(state.is_open(), false, "closed")
state.close()
state.open(path, {readonly = true})
t.eq(state.get("tx1"), 1, "read-only reads")
t.checkerr("state: the store is open read-only", state.set, "x", 1)
t.checkerr("read-only", state.outbox_add, "x", "y")
state.open(path)
t.eq(state.get("tx1"), 1, "reopened read-write")
state.set("x", 1)
do
  local ok, e = pcall(state.open, dir .. "/missing.db", {readonly = true})
  t.ok(not ok and tostring(e):find("no state database at", 1, true), "read-only open of a missing store: " .. tostring(e))
  t.eq(state.is_open(), false, "the failed open closed the old one")
end
-- }======

-- {====== the world's failures: locked, corrupt, newer schema
state.open(path)
do  -- locked: another connection (another runwatch) holds the write lock for longer than the busy timeout
  raw:exec("BEGIN IMMEDIATE")
  local t1 = os.time()
  local ok, e = pcall(state.set, "locked", 1)
  raw:exec("ROLLBACK")
  t.ok(not ok and sqlite.is_error(e), "locked: an error value")
  t.eq(type(e) == "table" and e.code, "busy", "code busy")
  t.ok(tostring(e):find("is locked: another runwatch probably uses the same --state", 1, true)
    and tostring(e):find(path, 1, true), "clear message: " .. tostring(e))
  t.ok(os.time() - t1 >= 1, "waited for the busy timeout")
  state.set("locked", 2)
  t.eq(state.get("locked"), 2, "works once the lock is gone")
end
state.close()
raw:close()
do  -- corrupt: garbage over the middle of a real store; the file is left as it was
  local cpath = dir .. "/corrupt.db"
  state.open(cpath)
  state.transaction(function()
    for i = 1, 3000 do state.set_cursor("w", "e/p/run" .. i, {step = i, pad = string.rep("x", 50)}) end
  end)
  state.close()
  local f = assert(io.open(cpath, "r+b"))
  local size = f:seek("end")
  f:seek("set", size // 2)
  f:write(string.rep("\0garbage\255", 1000))
  f:close()
  local before = slurp(cpath)
  local ok, e = pcall(state.open, cpath)
  t.ok(not ok and sqlite.is_error(e), "corrupt: an error value: " .. tostring(e))
  t.eq(type(e) == "table" and e.code, "corrupt", "code corrupt")
  t.ok(tostring(e):find(cpath, 1, true) and tostring(e):find("nothing was deleted", 1, true), "clear message")
  t.eq(state.is_open(), false, "not opened")
  t.ok(slurp(cpath) == before, "the corrupt file is unchanged, byte for byte")
  rm(cpath)
end
do  -- a store from a newer runwatch
  local npath = dir .. "/newer.db"
  local d = assert(sqlite.open(npath)); d:exec("PRAGMA user_version = 999"); d:close()
  local ok, e = pcall(state.open, npath)
  t.ok(not ok and tostring(e):find("schema version 999, newer than this runwatch", 1, true), "newer schema: " .. tostring(e))
  rm(npath)
end
do  -- not a database at all
  local gpath = dir .. "/garbage.db"
  local f = assert(io.open(gpath, "wb")); f:write(string.rep("hello ", 2000)); f:close()
  local ok, e = pcall(state.open, gpath)
  t.eq(type(e) == "table" and e.code, "corrupt", "not a database: corrupt")
  t.ok(not ok and tostring(e):find("nothing was deleted", 1, true), "message")
  t.eq(slurp(gpath), string.rep("hello ", 2000), "left as it was")
  os.remove(gpath)
end
do  -- a directory cannot be created
  local ok, e = pcall(state.open, base .. "/not-a-dir/state.db")   -- base is a file
  t.eq(type(e) == "table" and e.code, "cantopen", "cantopen: " .. tostring(e))
  t.ok(not ok and tostring(e):find("cannot open state database", 1, true), "message")
end
-- }======

rm(path)
os.remove(dir .. "/sub"); os.remove(dir); os.remove(base)
t.done()
