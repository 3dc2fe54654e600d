-- Tests of runwatch.sqlite, the SQLite binding: value types, statements, rows, lifetimes, misuse and the world's error values.
local t = require "testlib"
local sqlite = require "runwatch.sqlite"
local core = require "runwatch.core"

local base = os.tmpname()
local files = {}
local function dbfile(name)
  local p = base .. "-" .. name .. ".db"
  files[#files + 1] = p
  os.remove(p); os.remove(p .. "-wal"); os.remove(p .. "-shm"); os.remove(p .. "-journal")
  return p
end
local function live() return core.stats().live end

-- {====== open, exec, run, first, rows
local path = dbfile("main")
local db = assert(sqlite.open(path))
t.eq(getmetatable(db).__name, "runwatch.Db", "Db metatable name")
t.ok(tostring(db):find("runwatch.Db (", 1, true) and tostring(db):find(path, 1, true), "tostring names the file")
t.eq(db:filename(), path, "filename")
t.eq(db:readonly(), false, "read-write")
t.eq(db:exec("CREATE TABLE v (id INTEGER PRIMARY KEY, x); CREATE TABLE u (k TEXT UNIQUE)"), db, "exec returns db")
t.eq(db:run("INSERT INTO u (k) VALUES (?)", "a"), 1, "run returns changes")
t.eq(db:last_insert_rowid(), 1, "last_insert_rowid")
t.eq(db:run("INSERT INTO u (k) VALUES (?), (?)", "b", "c"), 2, "two rows")
t.eq(db:run("UPDATE u SET k = k || '!' WHERE k <> ?", "a"), 2, "update count")
t.eq(db:first("SELECT count(*) AS n FROM u").n, 3, "first")
t.eq(db:first("SELECT k FROM u WHERE k = ?", "zzz"), nil, "first: no row")
local got = {}
for row in db:rows("SELECT rowid AS id, k FROM u ORDER BY k") do got[#got + 1] = row.id .. "=" .. row.k end
t.eq(table.concat(got, ","), "1=a,2=b!,3=c!", "rows iterates all rows")
do
  local before = live()
  for _ in db:rows("SELECT k FROM u") do break end
  t.eq(live(), before, "break out of rows finalizes its statement at once (closing value)")
end
t.eq(db:run("SELECT 1"), 0, "run skips rows of a query")
-- }======

-- {====== value types round trip
local function roundtrip(v)
  db:run("DELETE FROM v")
  db:run("INSERT INTO v (id, x) VALUES (1, ?)", v)
  return db:first("SELECT x, typeof(x) AS ty FROM v WHERE id = 1")
end
local ints = {0, 1, -1, 42, math.maxinteger, math.mininteger, math.maxinteger - 1, math.mininteger + 1,
  1 << 53, (1 << 53) + 1, -(1 << 62)}
for _, v in ipairs(ints) do
  local r = roundtrip(v)
  t.eq(r.x, v, "int64 " .. v)
  t.eq(r.ty, "integer", "stored as integer " .. v)
end
local floats = {0.1, 1.0, -2.5, 1e308, -1e-308, 5e-324, 2^63, math.huge, -math.huge, 1 / 3}
for _, v in ipairs(floats) do
  local r = roundtrip(v)
  t.eq(r.x, v, "double " .. string.format("%.17g", v))
  t.eq(math.type(r.x), "float", "stays a float " .. v)
end
t.eq(roundtrip(0 / 0).x, nil, "NaN is stored as NULL (SQLite has no NaN)")
t.eq(roundtrip(0 / 0).ty, "null", "NaN: typeof null")
t.eq(roundtrip(nil).x, nil, "nil is NULL")
t.eq(roundtrip(true).x, 1, "true is 1")
t.eq(roundtrip(false).x, 0, "false is 0")
local weird = "a\0b\255\1\n\"'é漢字"
t.eq(roundtrip(weird).x, weird, "strings keep every byte, NUL included")
t.eq(roundtrip(weird).ty, "text", "strings are text")
t.eq(roundtrip("").x, "", "empty string")
local big = string.rep("x", 1 << 20)
t.eq(#roundtrip(big).x, 1 << 20, "1 MiB string")
t.eq(db:first("SELECT x'00ff' AS b").b, "\0\255", "blobs come back as strings")
t.eq(db:first("SELECT NULL AS n, 1 AS one").n, nil, "NULL columns are absent from the row")
-- }======

-- {====== prepared statements
do
  local st = db:prepare("SELECT ? AS a, ? AS b")
  t.eq(getmetatable(st).__name, "runwatch.Stmt", "Stmt metatable name")
  t.ok(tostring(st):find("SELECT ? AS a", 1, true), "Stmt tostring shows the SQL")
  t.eq(st:bind(1, "x"), st, "bind returns the statement")
  local r = st:step()
  t.eq(r.a, 1, "step row a"); t.eq(r.b, "x", "step row b")
  t.eq(st:step(), nil, "then done")
  st:bind(2.5, nil)
  r = st:step()
  t.eq(r.a, 2.5, "rebind resets"); t.eq(r.b, nil, "nil binds NULL")
  st:reset()
  r = st:step()
  t.eq(r.a, 2.5, "reset keeps bindings")
  t.eq(st:sql(), "SELECT ? AS a, ? AS b", "sql()")
  t.checkerr("bind: 1 value for 2 parameters", st.bind, st, 1)
  t.checkerr("bind: cannot bind a table (parameter 2)", st.bind, st, 1, {})
  t.checkerr("bind: cannot bind a function", st.bind, st, print, 1)
  st:close()
  t.eq(st:close(), nil, "close is idempotent")
  t.eq(tostring(st), "runwatch.Stmt (closed)", "closed tostring")
  t.checkerr("attempt to use a closed statement", st.step, st)
  t.checkerr("attempt to use a closed statement", st.bind, st)
  -- a prepared insert in a loop
  local ins <close> = db:prepare("INSERT INTO u (k) VALUES (?)")
  for i = 1, 100 do ins:bind("k" .. i):step() end
  t.eq(db:first("SELECT count(*) AS n FROM u WHERE k LIKE 'k%'").n, 100, "prepared inserts")
end
-- }======

-- {====== misuse raises (strings: the SQL is the programmer's)
t.checkerr('near "SELEC": syntax error (in: SELEC 1)', db.exec, db, "SELEC 1")
t.checkerr("syntax error (in: SELEC x FROM the_first_line)", db.run, db, "SELEC x FROM the_first_line\nWHERE 2")
t.checkerr("no such table: nope", db.first, db, "SELECT * FROM nope")
t.checkerr("more than one SQL statement", db.run, db, "SELECT 1; SELECT 2")
t.checkerr("more than one SQL statement", db.prepare, db, "SELECT 1; SELECT 2")
t.checkerr("no SQL statement", db.prepare, db, "  -- nothing\n")
t.checkerr("UNIQUE constraint failed: u.k", db.run, db, "INSERT INTO u (k) VALUES (?)", "a")
t.checkerr("bind: 0 values for 1 parameter", db.first, db, "SELECT ?")
t.checkerr("bad argument #2 to '", sqlite.open, path, 5)
t.checkerr("bad field 'busy_timeout_ms'", sqlite.open, path, {busy_timeout_ms = "x"})
t.checkerr("bad argument #1 to '", sqlite.open)
do
  local ok, e = pcall(db.exec, db, "SELEC 1")
  t.ok(not ok and type(e) == "string" and e:find("test_sqlite.lua") == nil, "a C-level caller position (pcall)")
  ok, e = pcall(function() db:exec("SELEC 1") end)
  t.ok(type(e) == "string" and e:find("test_sqlite.lua:%d+:"), "string errors name the Lua caller's line: " .. tostring(e))
  local long = "SELECT " .. string.rep("a_long_column_name + ", 10) .. "nope_col"
  ok, e = pcall(db.first, db, long)
  t.ok(e:find("...)", 1, true) ~= nil, "a long first line is cut: " .. e)
  local code = db:errcode()
  t.eq(code, 1, "errcode() after an error is SQLITE_ERROR")
end
-- }======

-- {====== the world's failures
do
  local d, msg, code = sqlite.open(base .. "-no/such/dir/x.db")
  t.eq(d, nil, "unopenable path: nil")
  t.ok(type(msg) == "string" and msg:find("unable to open database file", 1, true), "message: " .. tostring(msg))
  t.eq(code, "cantopen", "code cantopen")

  d, msg, code = sqlite.open(dbfile("missing"), {readonly = true})
  t.eq(d, nil, "read-only open of a missing file: nil")
  t.eq(code, "cantopen", "read-only missing: cantopen")

  local garbage = dbfile("garbage")
  local f = assert(io.open(garbage, "wb")); f:write(string.rep("not a database\n", 500)); f:close()
  d, msg, code = sqlite.open(garbage)
  t.eq(d, nil, "not a database: nil")
  t.ok(msg:find("file is not a database", 1, true) and msg:find(garbage, 1, true), "message names the file: " .. msg)
  t.eq(code, "corrupt", "code corrupt")

  -- busy: another connection holds the write lock
  local p = dbfile("busy")
  local a <close> = assert(sqlite.open(p))
  a:exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
  local b <close> = assert(sqlite.open(p, {busy_timeout_ms = 50}))
  a:exec("BEGIN IMMEDIATE")
  local t0 = core.monotonic()
  local ok, e = pcall(b.run, b, "INSERT INTO t VALUES (1)")
  t.ok(not ok and sqlite.is_error(e), "busy raises an error value")
  t.eq(type(e) == "table" and e.code, "busy", "code busy")
  t.ok(tostring(e):find("database is locked", 1, true) and tostring(e):find("INSERT INTO t", 1, true),
    "tostring: message and SQL: " .. tostring(e))
  t.eq(e.errcode & 0xff, 5, "errcode SQLITE_BUSY")
  t.ok(core.monotonic() - t0 >= 0.04, "waited for the busy timeout")
  ok, e = pcall(b.exec, b, "BEGIN IMMEDIATE")
  t.eq(type(e) == "table" and e.code, "busy", "BEGIN IMMEDIATE: busy")
  t.eq(b:first("SELECT count(*) AS n FROM t").n, 0, "readers are not blocked (WAL)")
  a:exec("ROLLBACK")
  t.eq(b:run("INSERT INTO t VALUES (1)"), 1, "free again")
  t.eq(sqlite.is_error("database is locked"), false, "is_error: strings are not error values")
  t.eq(sqlite.is_error({code = "busy"}), false, "is_error: nor look-alike tables")

  -- full: a page limit stands in for a full disk
  local fp = dbfile("full")
  local full <close> = assert(sqlite.open(fp))
  full:exec("CREATE TABLE t (x); PRAGMA max_page_count = 8")
  ok, e = pcall(function() for _ = 1, 100 do full:run("INSERT INTO t VALUES (?)", string.rep("x", 4000)) end end)
  t.eq(type(e) == "table" and e.code, "full", "full: " .. tostring(e))
  t.ok(tostring(e):find("full", 1, true), "full message")

  -- corrupt: garbage over the middle of a real database
  local cp = dbfile("corrupt")
  local c = assert(sqlite.open(cp))
  c:exec("CREATE TABLE t (x); BEGIN")
  for i = 1, 2000 do c:run("INSERT INTO t VALUES (?)", string.rep("row" .. i, 10)) end
  c:exec("COMMIT")
  c:close()
  f = assert(io.open(cp, "r+b"))
  local size = f:seek("end")
  f:seek("set", size // 2)
  f:write(string.rep("\255\0garbage", 4096 // 9 * 3))
  f:close()
  c = sqlite.open(cp)
  ok, e = pcall(function() for _ in c:rows("SELECT * FROM t") do end end)
  if c and ok then ok, e = pcall(c.first, c, "PRAGMA integrity_check") end
  t.eq(type(e) == "table" and e.code, "corrupt", "corrupt: " .. tostring(e))
  if c then c:close() end

  -- read-only connection: writing is the programmer's mistake
  local ro <close> = assert(sqlite.open(path, {readonly = true}))
  t.eq(ro:readonly(), true, "readonly()")
  t.checkerr("attempt to write a readonly database", ro.run, ro, "INSERT INTO u (k) VALUES ('ro')")
  t.eq(ro:first("SELECT count(*) AS n FROM u").n, 103, "reads work")
end
-- }======

-- {====== transactions and in_transaction
t.eq(db:in_transaction(), false, "autocommit")
db:exec("BEGIN")
t.eq(db:in_transaction(), true, "in a transaction")
db:run("INSERT INTO u (k) VALUES ('tx')")
db:exec("ROLLBACK")
t.eq(db:first("SELECT k FROM u WHERE k = 'tx'"), nil, "rolled back")
-- }======

-- {====== lifetimes: close, <close>, use after close, GC
do
  collectgarbage(); collectgarbage()       -- statements of earlier sections are garbage: gone first
  local before = live()
  local st = db:prepare("SELECT 1 AS one")
  local iter, s2 = db:rows("SELECT k FROM u")
  iter(s2)
  t.eq(live(), before + 2, "two open statements")
  db:close()
  t.eq(live(), before - 1, "closing the db finalizes its statements")
  t.eq(db:close(), nil, "double close")
  t.eq(tostring(db), "runwatch.Db (closed)", "closed tostring")
  t.checkerr("attempt to use a closed statement", st.step, st)
  t.eq(iter(s2), nil, "a rows iterator of a closed db just ends")
  t.checkerr("attempt to use a closed database", db.exec, db, "SELECT 1")
  t.checkerr("attempt to use a closed database", db.first, db, "SELECT 1")
  t.checkerr("attempt to use a closed database", db.prepare, db, "SELECT 1")
  t.checkerr("attempt to use a closed database", db.last_insert_rowid, db)
  st:close()
end
do
  local before = live()
  do
    local d <close> = assert(sqlite.open(path))
    local s <close> = d:prepare("SELECT 1")
    t.eq(live(), before + 2, "open inside a block")
  end
  t.eq(live(), before, "<close> closes both")
  -- dropped without closing: the collector finalizes statement and connection in any order
  for _ = 1, 20 do
    local d = assert(sqlite.open(path))
    local s = d:prepare("SELECT * FROM u")
    s:step()
    d:rows("SELECT * FROM u")
  end
  collectgarbage(); collectgarbage()
  t.eq(live(), before, "garbage collected")
  -- the connection stays alive while a statement of it is reachable
  local s = (function() local d = assert(sqlite.open(path)); return d:prepare("SELECT count(*) AS n FROM u") end)()
  collectgarbage(); collectgarbage()
  t.eq(s:step().n, 103, "a statement keeps its connection alive")
  s:close()
  collectgarbage(); collectgarbage()
  t.eq(live(), before, "then both go")
end
-- }======

for _, p in ipairs(files) do
  os.remove(p); os.remove(p .. "-wal"); os.remove(p .. "-shm"); os.remove(p .. "-journal")
end
os.remove(base)
t.done()
