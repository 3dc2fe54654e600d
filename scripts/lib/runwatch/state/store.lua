-- runwatch.state.store: the SQLite file under runwatch.state -- where it is, one writer process
-- (the lock), the dry run's throwaway copy, integrity, the schema and its migrations, the shared
-- connection and its waits, cached statements, errors that say what to do, transactions.
-- runwatch.state (state.lua) builds the tables' API on it.
local sqlite = require "runwatch.sqlite"
local lockmod = require "runwatch.lock"
local json = require "runwatch.json"
local core = require "runwatch.core"
local task = require "runwatch.task"

local M = {}

-- How long a write waits for another process's write lock. Below the default CPU budget of a
-- job (5 s): a store held by another runwatch must end in the "locked" error, not in a job
-- stopped for its budget. Writers hold the lock for milliseconds.
local BUSY_TIMEOUT_MS = 2000

-- {====== schema: migration N brings user_version from N-1 to N (never edit a released one)

local migrations = {
  [1] = [[
    CREATE TABLE kv (
      script  TEXT NOT NULL,
      key     TEXT NOT NULL,
      value   TEXT NOT NULL,
      updated REAL NOT NULL,
      PRIMARY KEY (script, key)
    ) WITHOUT ROWID;
    CREATE TABLE cursors (
      watch   TEXT NOT NULL,
      run     TEXT NOT NULL,
      value   TEXT NOT NULL,
      updated REAL NOT NULL,
      PRIMARY KEY (watch, run)
    ) WITHOUT ROWID;
    CREATE TABLE alerts (
      rule        TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      state       TEXT NOT NULL,
      value       TEXT NOT NULL,
      updated     REAL NOT NULL,
      PRIMARY KEY (rule, fingerprint)
    ) WITHOUT ROWID;
    CREATE INDEX alerts_by_state ON alerts (state, rule);
    CREATE TABLE outbox (
      id         INTEGER PRIMARY KEY,
      key        TEXT NOT NULL UNIQUE,
      action     TEXT NOT NULL,
      payload    TEXT NOT NULL,
      attempts   INTEGER NOT NULL DEFAULT 0,
      created    REAL NOT NULL,
      done       REAL,
      outcome    TEXT,
      last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox (id) WHERE done IS NULL;
    CREATE TABLE audit (
      id      INTEGER PRIMARY KEY,
      time    TEXT NOT NULL,
      ts      REAL NOT NULL,
      script  TEXT,
      job     TEXT,
      rule    TEXT,
      run     TEXT,
      action  TEXT NOT NULL,
      outcome TEXT NOT NULL,
      detail  TEXT,
      extra   TEXT
    );
    CREATE INDEX audit_by_ts ON audit (ts);
    CREATE TABLE meta (
      key     TEXT PRIMARY KEY,
      value   TEXT NOT NULL,
      updated REAL NOT NULL
    ) WITHOUT ROWID;
  ]],
  -- 2: outbox entries are claimed by one deliverer (claim, claimed_at), spaced by the retry
  -- policy (next_at), and remember what a delivery already did (progress, for checks before a
  -- repeat)
  [2] = [[
    ALTER TABLE outbox ADD COLUMN claim TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_at REAL;
    ALTER TABLE outbox ADD COLUMN next_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN progress TEXT;
  ]],
}
M.SCHEMA_VERSION = #migrations

-- }======

local db              -- the open runwatch.Db, or nil
local db_path         -- its path (the real one, also in a dry run)
local db_readonly = false
local db_lock         -- the runwatch.Lock held on db_path .. ".lock" while open for writing
local dry_copy        -- in a dry run: {file = the throwaway copy's path, placeholder = ...}
local cache = {}      -- sql -> prepared runwatch.Stmt
-- waiters: the coroutines waiting in use() for another job's transaction (weak: one that is
-- dropped without finishing its wait does not count for ever)
local tx = {depth = 0, owner = nil, waiters = setmetatable({}, {__mode = "k"})}

-- {====== errors

-- The world's failures keep their error value shape ({code, message}, same metatable) with a
-- message that says what to do about it.
local function world_error(code, message, cause)
  return setmetatable({code = code, message = message, path = db_path,
    errcode = cause and cause.errcode, sql = cause and cause.sql}, sqlite.Error)
end

local function explain(e, path)
  path = path or db_path or "?"
  local why = tostring(e.message or e)
  if e.code == "busy" then
    return world_error("busy", string.format("state database %s is locked: another runwatch " ..
      "probably uses the same --state (%s)", path, why), e)
  elseif e.code == "corrupt" then
    return world_error("corrupt", string.format("state database %s is corrupt (%s); nothing was " ..
      "deleted or changed: move it aside to start afresh, or restore a backup", path, why), e)
  elseif e.code == "full" then
    return world_error("full", string.format("state database %s: the disk is full (%s)", path, why), e)
  elseif e.code == "io" then
    return world_error("io", string.format("state database %s: I/O error (%s)", path, why), e)
  elseif e.code == "cantopen" then
    return world_error("cantopen", string.format("cannot open state database %s (%s)", path, why), e)
  end
  return world_error(e.code, why, e)
end

-- guard(f, ...): runs f, re-raising the world's SQLite errors with an explanation. Other errors
-- (bugs, misuse) pass through unchanged.
local function rethrow(ok, ...)
  if ok then return ... end
  local e = ...
  if sqlite.is_error(e) then
    if e.path then error(e, 0) end      -- already explained
    error(explain(e), 0)
  end
  error(e, 0)
end
local function guard(f, ...) return rethrow(pcall(f, ...)) end

local function argerr(fname, n, msg, level)
  error(string.format("bad argument #%d to 'state.%s' (%s)", n, fname, msg), (level or 2) + 1)
end

local function check_string(fname, n, v, optional)
  if v == nil and optional then return nil end
  if type(v) ~= "string" then argerr(fname, n, "string expected, got " .. type(v), 3) end
  return v
end

local function check_id(fname, n, v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) ~= "string" or v == "" then argerr(fname, n, "non-empty string expected, got " .. (v == "" and "\"\"" or type(v)), 3) end
  return v
end

-- }======

-- {====== opening

local function default_path()
  local base = os.getenv("XDG_STATE_HOME")
  if not base or base:sub(1, 1) ~= "/" then     -- the XDG spec: relative values are ignored
    local home = os.getenv("HOME")
    if not home or home == "" then
      error("no place for the state database: give --state PATH, or set XDG_STATE_HOME or HOME", 0)
    end
    base = home .. "/.local/state"
  end
  return base .. "/runwatch/state.db"
end

local function resolve(path)
  return path or core.options().state or default_path()
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function remove_copy(c)
  for _, suffix in ipairs({"", "-wal", "-shm", "-journal"}) do os.remove(c.file .. suffix) end
  if c.placeholder then os.remove(c.placeholder) end
end

local function close_db()
  for _, st in pairs(cache) do st:close() end
  cache = {}
  if db then db:close() end
  if db_lock then db_lock:close() end
  if dry_copy then remove_copy(dry_copy) end
  db, db_path, db_readonly, db_lock, dry_copy = nil, nil, false, nil, nil
  tx.depth, tx.owner = 0, nil
end

-- The throwaway copy of a dry run goes away with the Lua state too (exit, reload).
local copies_gc = setmetatable({}, {__mode = "k", __gc = function(t) for c in pairs(t) do remove_copy(c) end end})

-- {====== one writer process per state file: an exclusive lock on PATH.lock, held while open

local function lock_info()
  local o = core.options()
  local scripts = o.scripts and table.concat(o.scripts, " ") or ""
  return string.format("pid=%d started=%s command=runwatch %s %s\n", core.getpid(),
    os.date("!%Y-%m-%dT%H:%M:%SZ"), tostring(o.mode or o.command or "?"), scripts)
end

-- holder(path) -> a description of the process writing the state database at path (pid,
-- start, command), or nil when none does. For `runwatch status`.
function M.holder(path)
  local h = lockmod.holder(resolve(path) .. ".lock")
  if not h then return nil end
  local t = {text = h}
  t.pid = tonumber(h:match("pid=(%d+)"))
  t.started = h:match("started=(%S+)")
  t.command = h:match("command=([^\n]*)")
  return t
end

local function take_lock(path)
  local l, holder, why = lockmod.acquire(path .. ".lock", lock_info())
  if l then return l end
  if why == "held" then
    local pid = holder:match("pid=(%d+)")
    local cmd = holder:match("command=([^\n]*)")
    error(world_error("locked", string.format("state database %s is in use by another runwatch " ..
      "process (pid %s%s): one process at a time writes a state database; stop that one, or give " ..
      "this one another --state (runwatch status and runwatch log can read it meanwhile)",
      path, pid or "?", cmd and cmd ~= "" and (", " .. cmd) or "")), 0)
  end
  error(world_error("cantopen", "state database " .. path .. ": " .. tostring(holder)), 0)
end

-- }======

-- Integrity before anything is written: a corrupt file is reported, never repaired or replaced.
local function check_integrity(d, path)
  local problems = {}
  for row in d:rows("PRAGMA quick_check(5)") do
    local v = row.quick_check
    if v ~= "ok" then problems[#problems + 1] = v end
  end
  if #problems > 0 then
    error(explain({code = "corrupt", message = table.concat(problems, "; ")}, path), 0)
  end
end

local function migrate(d, path)
  local version = d:first("PRAGMA user_version").user_version
  if version > #migrations then
    error(string.format("state database %s has schema version %d, newer than this runwatch " ..
      "knows (%d): use a newer runwatch or another --state", path, version, #migrations), 0)
  end
  if version == #migrations then return end
  d:exec("BEGIN IMMEDIATE")
  local ok, err = pcall(function()
    local v = d:first("PRAGMA user_version").user_version   -- another process may have migrated
    for n = v + 1, #migrations do
      d:exec(migrations[n])
      d:exec("PRAGMA user_version = " .. n)
    end
    d:exec("COMMIT")
  end)
  if not ok then
    if d:in_transaction() then pcall(d.exec, d, "ROLLBACK") end
    error(err, 0)
  end
end

-- Checks a freshly opened database and brings it to our schema (a writer), or checks that a
-- reader can use it. Raises; the caller closes d.
local function prepare(d, path, readonly)
  check_integrity(d, path)
  if readonly then
    local v = d:first("PRAGMA user_version").user_version
    if v > #migrations then
      error(string.format("state database %s has schema version %d, newer than this runwatch " ..
        "knows (%d)", path, v, #migrations), 0)
    elseif v == 0 then
      error("state database " .. path .. " is empty (nothing has run with this --state yet)", 0)
    elseif v < #migrations then
      error(string.format("state database %s has the older schema version %d: run a script " ..
        "with this --state once to upgrade it", path, v), 0)
    end
    return
  end
  -- a database whose version says it is ours must have our tables; one that lacks them (another
  -- program setting its own user_version) is refused before WAL or any change
  local uv = d:first("PRAGMA user_version").user_version
  if uv >= 1 and uv <= #migrations then
    local have = {}
    for row in d:rows("SELECT name FROM sqlite_master WHERE type = 'table'") do have[row.name] = true end
    for _, name in ipairs({"kv", "cursors", "alerts", "outbox", "audit", "meta"}) do
      if not have[name] then
        error(string.format("%s is not a runwatch state database (user_version %d, but no table %s); " ..
          "nothing was changed: give runwatch another --state", path, uv, name), 0)
      end
    end
  end
  -- a database at version 0 with tables of its own belongs to another program: never give it
  -- our tables or switch it to WAL
  if uv == 0 then
    local names = {}
    for row in d:rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") do
      names[#names + 1] = row.name
    end
    if #names > 0 then
      error(string.format("%s is not a runwatch state database (it has the tables %s); nothing was " ..
        "changed: give runwatch another --state", path, table.concat(names, ", ")), 0)
    end
  end
  local mode = d:first("PRAGMA journal_mode = WAL").journal_mode
  if mode ~= "wal" then error("state database " .. path .. ": cannot use WAL mode (got " .. tostring(mode) .. ")", 0) end
  d:exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF")
  migrate(d, path)
end

local function fail_open(d, err, path, extra)
  if d then d:close() end
  if extra then extra() end
  if sqlite.is_error(err) and not err.path then err = explain(err, path) end
  error(err, 0)
end

-- A dry run works on a throwaway copy of the store (a consistent snapshot taken with VACUUM
-- INTO from an immutable or read-only connection), so it can show each tick's plan while the
-- real file -- and its -wal -- stay byte for byte as they were, or absent if they were absent.
local function open_dry(path)
  local placeholder = os.tmpname()
  local copy = {file = placeholder .. ".db", placeholder = placeholder}
  copies_gc[copy] = true
  local function drop() remove_copy(copy); copies_gc[copy] = nil end
  if file_exists(path) then
    local src, err, code = sqlite.open(path, {readonly = true, immutable = not file_exists(path .. "-wal"),
      busy_timeout_ms = BUSY_TIMEOUT_MS})
    if not src then fail_open(nil, {code = code, message = err}, path, drop) end
    local ok, verr = pcall(function()
      check_integrity(src, path)
      src:exec("VACUUM INTO '" .. copy.file:gsub("'", "''") .. "'")
    end)
    if not ok then fail_open(src, verr, path, drop) end
    src:close()
  end
  local d, err, code = sqlite.open(copy.file, {private = true, busy_timeout_ms = BUSY_TIMEOUT_MS})
  if not d then fail_open(nil, {code = code, message = err}, path, drop) end
  local ok, perr = pcall(prepare, d, path, false)
  if not ok then fail_open(d, perr, path, drop) end
  db, db_path, db_readonly, dry_copy = d, path, false, copy
  return M
end

-- state.open([path [, {readonly = bool}]]) -> state. Opens (or reopens elsewhere) the store;
-- without a path: --state, else $XDG_STATE_HOME/runwatch/state.db (~/.local/state/...).
-- A writer holds PATH.lock for as long as the store is open: a second process that opens the
-- same store for writing gets an error naming the first one's pid. With --dry-run the store is
-- a throwaway copy (nothing is written to PATH, and no lock is taken).
function M.open(path, opts, ret)
  check_string("open", 1, path, true)
  if opts ~= nil and type(opts) ~= "table" then argerr("open", 2, "table expected, got " .. type(opts)) end
  local readonly = opts and opts.readonly or false
  if tx.depth > 0 then error("state.open: a transaction is open", 2) end
  path = resolve(path)
  if db then
    if db_path == path and db_readonly == readonly then return ret or M end
    close_db()
  end
  if readonly and not file_exists(path) then
    error(world_error("cantopen", "no state database at " .. path ..
      " (nothing has run with this --state yet)"), 0)
  end
  if not readonly and core.options().dry_run then open_dry(path); return ret or M end
  local d, err, code = sqlite.open(path, {readonly = readonly, private = not readonly,
    busy_timeout_ms = BUSY_TIMEOUT_MS})
  if not d then error(explain({code = code, message = err}, path), 0) end
  local lock
  if not readonly then
    local okl, l = pcall(take_lock, path)
    if not okl then fail_open(d, l, path) end
    lock = l
  end
  local ok, oerr = pcall(prepare, d, path, readonly)
  if not ok then fail_open(d, oerr, path, lock and function() lock:close() end) end
  db, db_path, db_readonly, db_lock = d, path, readonly, lock
  return ret or M
end

-- state.dry_run() -> true when the open store is a dry run's throwaway copy
function M.dry_run() return dry_copy ~= nil end

-- state.path() -> the store's path (the one it would open, when not open yet)
function M.path()
  return db_path or resolve(nil)
end

-- state.close(): closes the store; the next call opens it again.
function M.close()
  if tx.depth > 0 then error("state.close: a transaction is open", 2) end
  close_db()
end

function M.is_open() return db ~= nil end

-- The open store for a call. While another job's transaction is open (that job waits on the
-- network or sleeps inside state.transaction) the call waits for it to end: on the shared
-- connection it would otherwise join that transaction and be rolled back with it. The wait is
-- bounded, so a transaction that waits for this very job (parallel() inside
-- state.transaction) ends in an error, not in a hang.
M.TX_WAIT = 10   -- seconds
local function use(write)
  if not db then M.open() end
  if tx.depth > 0 and tx.owner ~= coroutine.running() then
    if not (coroutine.isyieldable() and task.current()) then
      error("state: another job's transaction is open, and this code cannot wait for it " ..
        "(not inside a job)", 3)
    end
    local deadline = core.monotonic() + M.TX_WAIT
    local co = coroutine.running()
    tx.waiters[co] = true                -- seen by contended(): a long batch commits early
    local _ <close> = setmetatable({}, {__close = function() tx.waiters[co] = nil end})
    repeat
      if core.monotonic() > deadline then
        error(world_error("busy", string.format("state: another job's transaction has been open " ..
          "for more than %g s (it waits inside state.transaction, perhaps for this job)", M.TX_WAIT)), 3)
      end
      task.sleep(0.005)
    until tx.depth == 0 or tx.owner == coroutine.running()
    if not db then M.open() end
  end
  if write and db_readonly then error("state: the store is open read-only", 3) end
  return db
end

-- }======

-- {====== statements (cached), wrapped by guard() in the public functions

local function prepared(sql)
  local st = cache[sql]
  if not st then
    st = db:prepare(sql)
    cache[sql] = st
  end
  return st
end

local function q_run(sql, ...)
  local st = prepared(sql)
  st:bind(...)
  while st:step() do end
  return db:changes()
end

local function q_first(sql, ...)
  local st = prepared(sql)
  st:bind(...)
  local row = st:step()
  st:reset()
  return row
end

local function q_all(sql, ...)
  local st = prepared(sql)
  st:bind(...)
  local out = {}
  while true do
    local row = st:step()
    if not row then break end
    out[#out + 1] = row
  end
  return out
end

local function encode(fname, v)
  local ok, s = pcall(json.encode, v)
  if not ok then error("state." .. fname .. ": cannot store the value: " .. tostring(s), 3) end
  return s
end

local function decode(s)
  local v, err = json.decode(s)
  if v == nil and err then
    error(world_error("corrupt", "state database " .. tostring(db_path) ..
      ": a stored value is not valid JSON (" .. err .. ")"), 0)
  end
  return v
end

local function now() return core.time() end

-- ISO-8601 UTC with milliseconds: 2024-06-01T09:00:00.123Z
local function iso(t)
  local s = math.floor(t)
  local ms = math.floor((t - s) * 1000 + 0.5)
  if ms >= 1000 then s, ms = s + 1, ms - 1000 end
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%03dZ", ms)
end
M.iso = iso

-- days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- parse_time("2024-06-01", "2024-06-01T09:00:00Z", "...+02:00", "....123Z") -> epoch seconds, or nil
function M.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then return nil end
  local h, mi, sec, frac, tz = 0, 0, 0, 0, ""
  if rest ~= "" then
    local hh, mm, r2 = rest:match("^[T ](%d%d):(%d%d)(.*)$")
    if not hh then return nil end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, r3 = r2:match("^:(%d%d)(.*)$")
    if ss then sec, r2 = tonumber(ss), r3 end
    local f, r4 = r2:match("^%.(%d+)(.*)$")
    if f then frac, r2 = tonumber("0." .. f), r4 end
    tz = r2
    if h > 23 or mi > 59 or sec > 60 then return nil end
  end
  local off = 0
  if tz ~= "" and tz ~= "Z" then
    local sign, oh, om = tz:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    off = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec + frac - off
end

-- }======

-- {====== transactions

local function exec(sql) return db:exec(sql) end

-- state.transaction(fn, ...) -> fn(...)'s results. BEGIN IMMEDIATE ... COMMIT; an error rolls
-- back and is raised again. A nested call joins the outer transaction through a savepoint (an
-- error caught inside the outer function undoes only the inner writes). fn should not wait:
-- other jobs' state calls wait for it meanwhile (use(), up to TX_WAIT; contended() tells). The
-- statements go through q_run (prepared once), and no closure is made per call: the watch tick
-- opens one savepoint per run.
local SP = {}         -- depth -> {save =, release =, rollback =}: the savepoint statements
local function savepoint(depth)
  local sp = SP[depth]
  if not sp then
    local name = "rw_sp" .. depth
    sp = {save = "SAVEPOINT " .. name, release = "RELEASE " .. name, rollback = "ROLLBACK TO " .. name}
    SP[depth] = sp
  end
  return sp
end

-- closed when fn returns or raises: o = {sp (nil for the outer transaction), done}
local UNDO = {__close = function(o)
  if o.sp then
    if not o.done and db then
      pcall(exec, o.sp.rollback)
      pcall(exec, o.sp.release)
    end
    tx.depth = tx.depth - 1
  else
    if not o.done and db and db:in_transaction() then pcall(exec, "ROLLBACK") end
    tx.depth, tx.owner = 0, nil
  end
end}

local function finish(o, sql, ...)
  guard(q_run, sql)
  o.done = true
  return ...
end

function M.transaction(fn, ...)
  if type(fn) ~= "function" then argerr("transaction", 1, "function expected, got " .. type(fn)) end
  use(true)
  if tx.depth > 0 then
    -- SQLite may have rolled the outer transaction back on its own (a full disk, an I/O error):
    -- a SAVEPOINT now would start a new transaction outside the caller's
    if not db:in_transaction() then
      error(world_error("aborted", "state: the enclosing transaction was rolled back after an " ..
        "earlier error; nothing of it was kept"), 2)
    end
    local sp = savepoint(tx.depth + 1)
    guard(q_run, sp.save)
    tx.depth = tx.depth + 1
    local o <close> = setmetatable({sp = sp, done = false}, UNDO)
    return finish(o, sp.release, fn(...))
  end
  guard(q_run, "BEGIN IMMEDIATE")
  tx.depth, tx.owner = 1, coroutine.running()
  local o <close> = setmetatable({sp = nil, done = false}, UNDO)
  return finish(o, "COMMIT", fn(...))
end

function M.in_transaction() return tx.depth > 0 end

-- state.contended() -> true while another job waits for the open transaction to end (a caller
-- that batches many units of work in one transaction commits early then)
function M.contended() return next(tx.waiters) ~= nil end

-- }======

-- {====== for runwatch.state: the helpers its functions are built with

M.internal = {
  use = use, guard = guard, q_run = q_run, q_first = q_first,
  q_all = q_all, encode = encode, decode = decode, argerr = argerr, check_string = check_string,
  check_id = check_id, now = now, world_error = world_error,
  last_insert_rowid = function() return db:last_insert_rowid() end,
}

-- }======

return M
