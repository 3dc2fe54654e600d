/* Module runwatch.sqlite: runwatch.Db and runwatch.Stmt, full userdata around SQLite handles (mechanism only; policy is in runwatch.state).
 * Over 600 lines on purpose: errors, statements and connections are one userdata family sharing
 * the error mapping and the close protocol; one section each. */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <lauxlib.h>
#include "rw.h"
#include "bindings.h"

#define RW_DB "runwatch.Db"
#define RW_STMT "runwatch.Stmt"
#define RW_SQLITE_ERROR "runwatch.SqliteError"

typedef struct LStmt LStmt;

/* A connection. Its statements are on a list so close() can finalize them first. */
typedef struct LDb {
  sqlite3 *db;          /* NULL once closed (liolib's closef == NULL) */
  LStmt *stmts;         /* open statements of this connection */
  rw_host *h;
} LDb;

/* A prepared statement. Its user value 1 is the Db userdata, so the connection outlives it. */
struct LStmt {
  sqlite3_stmt *stmt;   /* NULL once closed or once its connection closed */
  LDb *owner;
  LStmt *prev, *next;
  rw_host *h;
};

/* {====================================================================== Errors */

/* The errors that are the world's (another process, the disk, the file), as opposed to the
   programmer's (bad SQL, constraint violations, misuse), or NULL. */
static const char *world_code(int ext) {
  switch (ext & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_PROTOCOL: return "busy";
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return "corrupt";
    case SQLITE_FULL: return "full";
    case SQLITE_IOERR: return "io";
    case SQLITE_CANTOPEN: return "cantopen";
    case SQLITE_READONLY:   /* the plain code is a write on a read-only connection: misuse */
      return ext == SQLITE_READONLY ? NULL : "io";
    default: return NULL;
  }
}

/* Pushes "first line of sql" (trimmed, at most 80 bytes). [-0, +1, m] */
static void push_sql_line(lua_State *L, const char *sql) {
  const char *e;
  size_t n;
  if (!sql) sql = "";
  while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r') sql++;
  e = sql;
  while (*e && *e != '\n' && *e != '\r') e++;
  n = (size_t)(e - sql);
  if (n > 80) {
    lua_pushlstring(L, sql, 77);
    lua_pushliteral(L, "...");
    lua_concat(L, 2);
  } else {
    lua_pushlstring(L, sql, n);
  }
}

/* Pushes the connection's current error: a {code=, message=, errcode=, sql=} table for the
   world's failures, a string for the programmer's. [-0, +1, m] */
static void push_db_error(lua_State *L, sqlite3 *db, int rc, const char *sql) {
  int ext = db ? sqlite3_extended_errcode(db) : rc;
  const char *code;
  if ((ext & 0xff) != (rc & 0xff)) ext = rc;   /* errcode is only kept for the last call */
  code = world_code(ext);
  lua_pushstring(L, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (sql) {
    lua_pushliteral(L, " (in: ");
    push_sql_line(L, sql);
    lua_pushliteral(L, ")");
    lua_concat(L, 4);
  }
  if (!code) {                                /* the programmer's: a string with file:line */
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
    return;
  }
  lua_createtable(L, 0, 4);
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "message");
  lua_pushinteger(L, ext);
  lua_setfield(L, -2, "errcode");
  if (sql) {
    push_sql_line(L, sql);
    lua_setfield(L, -2, "sql");
  }
  luaL_setmetatable(L, RW_SQLITE_ERROR);
  lua_remove(L, -2);
}

/* Raises the connection's current error (see push_db_error). Callers hold no C allocation:
   statements belong to userdata, messages are copied into Lua first. */
static int raise_db(lua_State *L, sqlite3 *db, int rc, const char *sql) {
  push_db_error(L, db, rc, sql);
  return lua_error(L);
}

static int err_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "sqlite error");
  }
  return 1;
}

/* sqlite.is_error(v) -> true when v is an error value raised for the world's failure */
static int sqlite_is_error(lua_State *L) {
  int r = 0;
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, RW_SQLITE_ERROR);
    r = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, r);
  return 1;
}

/* }====================================================================== */

/* {====================================================================== Statements */

static LDb *check_db(lua_State *L, int idx) {
  LDb *d = luaL_checkudata(L, idx, RW_DB);
  if (!d->db) luaL_error(L, "attempt to use a closed database");
  return d;
}

static LStmt *check_stmt(lua_State *L, int idx) {
  LStmt *s = luaL_checkudata(L, idx, RW_STMT);
  if (!s->stmt) luaL_error(L, "attempt to use a closed statement");
  return s;
}

static void stmt_unlink(LStmt *s) {
  if (s->prev) s->prev->next = s->next;
  else if (s->owner && s->owner->stmts == s) s->owner->stmts = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

static void stmt_finalize(LStmt *s) {
  if (!s->stmt) return;
  sqlite3_finalize(s->stmt);
  s->stmt = NULL;
  stmt_unlink(s);
  s->owner = NULL;
  if (s->h) s->h->live--;
}

/* Prepares one statement of sql into a new Stmt userdata on the stack top. The userdata exists
   before the statement does, so a raise at any later point leaves it to __gc. [-0, +1, e] */
static LStmt *new_stmt(lua_State *L, int dbidx, const char *sql, size_t len) {
  LDb *d = check_db(L, dbidx);
  LStmt *s = lua_newuserdatauv(L, sizeof *s, 1);
  const char *tail = NULL;
  int rc;
  s->stmt = NULL;
  s->owner = NULL;
  s->prev = s->next = NULL;
  s->h = d->h;
  luaL_setmetatable(L, RW_STMT);
  lua_pushvalue(L, dbidx);
  lua_setiuservalue(L, -2, 1);
  rc = sqlite3_prepare_v2(d->db, sql, (int)len, &s->stmt, &tail);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s->stmt);
    s->stmt = NULL;
    raise_db(L, d->db, rc, sql);
  }
  if (!s->stmt) luaL_error(L, "no SQL statement in '%s'", sql);
  s->owner = d;
  s->next = d->stmts;
  if (d->stmts) d->stmts->prev = s;
  d->stmts = s;
  if (s->h) s->h->live++;
  while (tail && *tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';'))
    tail++;
  if (tail && *tail) {
    stmt_finalize(s);
    luaL_error(L, "more than one SQL statement (use db:exec for several): '%s'", sql);
  }
  return s;
}

/* Binds the Lua values at first..last to the statement's parameters, after a reset. */
static void bind_values(lua_State *L, LStmt *s, int first, int last) {
  int n = last - first + 1, i, rc = SQLITE_OK;
  int want = sqlite3_bind_parameter_count(s->stmt);
  sqlite3_reset(s->stmt);
  sqlite3_clear_bindings(s->stmt);
  if (n != want)
    luaL_error(L, "bind: %d value%s for %d parameter%s (in: %s)", n, n == 1 ? "" : "s", want,
               want == 1 ? "" : "s", sqlite3_sql(s->stmt));
  for (i = 1; i <= n; i++) {
    int idx = first + i - 1;
    switch (lua_type(L, idx)) {
      case LUA_TNIL:
        rc = sqlite3_bind_null(s->stmt, i);
        break;
      case LUA_TBOOLEAN:
        rc = sqlite3_bind_int64(s->stmt, i, lua_toboolean(L, idx) ? 1 : 0);
        break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) rc = sqlite3_bind_int64(s->stmt, i, (sqlite3_int64)lua_tointeger(L, idx));
        else rc = sqlite3_bind_double(s->stmt, i, (double)lua_tonumber(L, idx));
        break;
      case LUA_TSTRING: {
        size_t len;
        const char *v = lua_tolstring(L, idx, &len);
        rc = sqlite3_bind_text64(s->stmt, i, v, (sqlite3_uint64)len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
      }
      default:
        luaL_error(L, "bind: cannot bind a %s (parameter %d)", luaL_typename(L, idx), i);
    }
    if (rc != SQLITE_OK) raise_db(L, sqlite3_db_handle(s->stmt), rc, sqlite3_sql(s->stmt));
  }
}

/* Pushes the current row as {column name = value}; NULL columns are absent. [-0, +1, m] */
static void push_row(lua_State *L, sqlite3_stmt *st) {
  int i, n = sqlite3_column_count(st);
  lua_createtable(L, 0, n);
  for (i = 0; i < n; i++) {
    switch (sqlite3_column_type(st, i)) {
      case SQLITE_INTEGER:
        lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(st, i));
        break;
      case SQLITE_FLOAT:
        lua_pushnumber(L, (lua_Number)sqlite3_column_double(st, i));
        break;
      case SQLITE_TEXT: {
        const unsigned char *v = sqlite3_column_text(st, i);
        lua_pushlstring(L, (const char *)v, (size_t)sqlite3_column_bytes(st, i));
        break;
      }
      case SQLITE_BLOB: {
        const void *v = sqlite3_column_blob(st, i);
        lua_pushlstring(L, v ? v : "", (size_t)sqlite3_column_bytes(st, i));
        break;
      }
      default:
        continue;
    }
    lua_setfield(L, -2, sqlite3_column_name(st, i));
  }
}

/* One step: pushes a row table or nil when done; raises (after a reset) on error. [-0, +1, e] */
static int step_push(lua_State *L, LStmt *s) {
  int rc = sqlite3_step(s->stmt);
  if (rc == SQLITE_ROW) { push_row(L, s->stmt); return 1; }
  if (rc == SQLITE_DONE) { sqlite3_reset(s->stmt); lua_pushnil(L); return 0; }
  /* the message first (the reset releases locks and may change it), then raise */
  push_db_error(L, sqlite3_db_handle(s->stmt), rc, sqlite3_sql(s->stmt));
  sqlite3_reset(s->stmt);
  return lua_error(L);
}

/* st:bind(...) -> st. nil is NULL, integers int64, floats double, strings text, booleans 0/1. */
static int st_bind(lua_State *L) {
  LStmt *s = check_stmt(L, 1);
  bind_values(L, s, 2, lua_gettop(L));
  lua_settop(L, 1);
  return 1;
}

/* st:step() -> row table, or nil when done */
static int st_step(lua_State *L) {
  LStmt *s = check_stmt(L, 1);
  step_push(L, s);
  return 1;
}

/* st:reset() -> st (bindings are kept) */
static int st_reset(lua_State *L) {
  LStmt *s = check_stmt(L, 1);
  sqlite3_reset(s->stmt);
  lua_settop(L, 1);
  return 1;
}

/* st:sql() -> the statement's text */
static int st_sql(lua_State *L) {
  LStmt *s = check_stmt(L, 1);
  lua_pushstring(L, sqlite3_sql(s->stmt));
  return 1;
}

/* The one idempotent close: __gc, __close and :close(). */
static int st_close(lua_State *L) {
  LStmt *s = luaL_checkudata(L, 1, RW_STMT);
  stmt_finalize(s);
  lua_pushnil(L);                 /* a closed statement no longer keeps its connection alive */
  lua_setiuservalue(L, 1, 1);
  return 0;
}

static int st_tostring(lua_State *L) {
  LStmt *s = luaL_checkudata(L, 1, RW_STMT);
  if (!s->stmt) lua_pushliteral(L, "runwatch.Stmt (closed)");
  else {
    lua_pushliteral(L, "runwatch.Stmt (");
    push_sql_line(L, sqlite3_sql(s->stmt));
    lua_pushliteral(L, ")");
    lua_concat(L, 3);
  }
  return 1;
}

/* }====================================================================== */

/* {====================================================================== Connections */

/* Creates the missing parent directories of path with mode 0700 (the state holds run names and
   webhook payloads: private to the user). 0, or -1 with errno set. */
static int make_parents(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path), i;
  if (n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
  memcpy(buf, path, n + 1);
  for (i = 1; i < n; i++) {
    if (buf[i] != '/') continue;
    buf[i] = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    buf[i] = '/';
  }
  return 0;
}

/* The URI "file:<path>?immutable=1" with the path percent-encoded, on the Lua stack. */
static const char *immutable_uri(lua_State *L, const char *path) {
  luaL_Buffer b;
  const char *p;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "file:");
  for (p = path; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '/' || c == '.' || c == '-' || c == '_' || c == '~') {
      luaL_addchar(&b, (char)c);
    } else {
      char hex[4];
      snprintf(hex, sizeof hex, "%%%02X", c);
      luaL_addstring(&b, hex);
    }
  }
  luaL_addstring(&b, "?immutable=1");
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* sqlite.open(path [, {readonly = false, busy_timeout_ms = 5000, create = true, private = false,
   immutable = false}])
   private: create missing parent directories with mode 0700 and a new file with mode 0600.
   immutable: read-only, no locks, no -wal/-shm files created (a file nobody writes; used to
   copy a state database for a dry run without touching anything next to it).
   -> Db, or nil, message, code ("cantopen", "corrupt", "busy", "io", ...) [-0, +1|3, e] */
static int sqlite_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *name;
  int readonly, create, private, immutable, existed, rc, timeout;
  struct stat st;
  lua_Integer t;
  LDb *d;
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  readonly = rw_opt_boolean(L, 2, "readonly", 0);
  create = rw_opt_boolean(L, 2, "create", 1);
  private = rw_opt_boolean(L, 2, "private", 0);
  immutable = rw_opt_boolean(L, 2, "immutable", 0);
  if (immutable) readonly = 1;
  t = rw_opt_integer(L, 2, "busy_timeout_ms", 5000);
  luaL_argcheck(L, t >= 0 && t <= 24 * 3600 * 1000, 2, "busy_timeout_ms out of range");
  timeout = (int)t;
  lua_settop(L, 2);
  name = immutable ? immutable_uri(L, path) : path;     /* 3 when immutable (kept on the stack) */
  existed = stat(path, &st) == 0;
  if (private && !readonly && !existed && make_parents(path) != 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: cannot create its directory: %s", path, strerror(errno));
    lua_pushliteral(L, "cantopen");
    return 3;
  }
  d = lua_newuserdatauv(L, sizeof *d, 0);     /* first, so __gc owns whatever follows */
  d->db = NULL;
  d->stmts = NULL;
  d->h = rw_host_of(L);
  luaL_setmetatable(L, RW_DB);
  rc = sqlite3_open_v2(name, &d->db,
                       (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE |
                        (create ? SQLITE_OPEN_CREATE : 0)) | SQLITE_OPEN_NOMUTEX |
                       (immutable ? SQLITE_OPEN_URI : 0), NULL);
  if (rc == SQLITE_OK && private && !readonly && !existed && stat(path, &st) == 0)
    chmod(path, 0600);
  if (rc == SQLITE_OK) {
    sqlite3_extended_result_codes(d->db, 1);
    sqlite3_busy_timeout(d->db, timeout);
    /* open is lazy: read the schema now, so "not a database" or a lock is reported here */
    rc = sqlite3_exec(d->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK) {
    int ext = d->db ? sqlite3_extended_errcode(d->db) : rc;
    const char *code = world_code(ext);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
    lua_pushstring(L, code ? code : "error");
    sqlite3_close_v2(d->db);
    d->db = NULL;
    return 3;
  }
  if (d->h) d->h->live++;
  return 1;
}

/* db:exec(sql) -> db. Runs several statements; raises on any error. */
static int db_exec(lua_State *L) {
  LDb *d = check_db(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) return raise_db(L, d->db, rc, sql);
  lua_settop(L, 1);
  return 1;
}

/* db:prepare(sql) -> Stmt */
static int db_prepare(lua_State *L) {
  size_t len;
  const char *sql;
  check_db(L, 1);
  sql = luaL_checklstring(L, 2, &len);
  new_stmt(L, 1, sql, len);
  return 1;
}

/* db:run(sql, ...) -> number of rows changed. Rows a statement returns are skipped. */
static int db_run(lua_State *L) {
  size_t len;
  const char *sql;
  int top = lua_gettop(L);
  LDb *d = check_db(L, 1);
  LStmt *s;
  sqlite3_int64 total;
  sql = luaL_checklstring(L, 2, &len);
  s = new_stmt(L, 1, sql, len);                 /* top + 1 */
  bind_values(L, s, 3, top);
  total = sqlite3_total_changes64(d->db);
  while (step_push(L, s)) lua_pop(L, 1);
  lua_pop(L, 1);
  stmt_finalize(s);
  /* sqlite3_changes keeps the count of the last INSERT/UPDATE/DELETE: a query or DDL is 0 */
  lua_pushinteger(L, sqlite3_total_changes64(d->db) == total ? 0 : (lua_Integer)sqlite3_changes64(d->db));
  return 1;
}

/* db:first(sql, ...) -> the first row, or nil */
static int db_first(lua_State *L) {
  size_t len;
  const char *sql;
  int top = lua_gettop(L);
  LStmt *s;
  check_db(L, 1);
  sql = luaL_checklstring(L, 2, &len);
  s = new_stmt(L, 1, sql, len);
  bind_values(L, s, 3, top);
  step_push(L, s);
  stmt_finalize(s);
  return 1;
}

static int rows_iter(lua_State *L) {
  LStmt *s = luaL_checkudata(L, 1, RW_STMT);
  if (!s->stmt) return 0;                        /* done, or the connection closed */
  if (!step_push(L, s)) stmt_finalize(s);
  return 1;
}

/* db:rows(sql, ...) -> iterator, Stmt, nil, Stmt: for row in db:rows(...) do ... end.
   The Stmt is the loop's closing value, so a break finalizes it at once. */
static int db_rows(lua_State *L) {
  size_t len;
  const char *sql;
  int top = lua_gettop(L);
  LStmt *s;
  check_db(L, 1);
  sql = luaL_checklstring(L, 2, &len);
  s = new_stmt(L, 1, sql, len);
  bind_values(L, s, 3, top);
  lua_pushcfunction(L, rows_iter);
  lua_pushvalue(L, -2);
  lua_pushnil(L);
  lua_pushvalue(L, -4);
  return 4;
}

static int db_last_insert_rowid(lua_State *L) {
  LDb *d = check_db(L, 1);
  lua_pushinteger(L, (lua_Integer)sqlite3_last_insert_rowid(d->db));
  return 1;
}

static int db_changes(lua_State *L) {
  LDb *d = check_db(L, 1);
  lua_pushinteger(L, (lua_Integer)sqlite3_changes64(d->db));
  return 1;
}

/* db:errcode() -> extended result code of the last call, and its text */
static int db_errcode(lua_State *L) {
  LDb *d = check_db(L, 1);
  lua_pushinteger(L, sqlite3_extended_errcode(d->db));
  lua_pushstring(L, sqlite3_errmsg(d->db));
  return 2;
}

/* db:in_transaction() -> true inside BEGIN ... COMMIT */
static int db_in_transaction(lua_State *L) {
  LDb *d = check_db(L, 1);
  lua_pushboolean(L, !sqlite3_get_autocommit(d->db));
  return 1;
}

/* db:readonly() -> true for a read-only connection */
static int db_readonly(lua_State *L) {
  LDb *d = check_db(L, 1);
  lua_pushboolean(L, sqlite3_db_readonly(d->db, "main") == 1);
  return 1;
}

/* db:filename() -> the database file's absolute path ("" for in-memory) */
static int db_filename(lua_State *L) {
  LDb *d = check_db(L, 1);
  const char *f = sqlite3_db_filename(d->db, "main");
  lua_pushstring(L, f ? f : "");
  return 1;
}

/* The one idempotent close: __gc, __close and :close(). Finalizes the connection's statements
   (their userdata become closed) and closes it; an open transaction is rolled back. */
static int db_close(lua_State *L) {
  LDb *d = luaL_checkudata(L, 1, RW_DB);
  if (!d->db) return 0;
  while (d->stmts) stmt_finalize(d->stmts);
  sqlite3_close_v2(d->db);
  d->db = NULL;
  if (d->h) d->h->live--;
  return 0;
}

static int db_tostring(lua_State *L) {
  LDb *d = luaL_checkudata(L, 1, RW_DB);
  if (!d->db) lua_pushliteral(L, "runwatch.Db (closed)");
  else {
    const char *f = sqlite3_db_filename(d->db, "main");
    lua_pushfstring(L, "runwatch.Db (%s)", f && *f ? f : ":memory:");
  }
  return 1;
}

/* }====================================================================== */

static const luaL_Reg stmt_methods[] = {
  {"bind", st_bind},
  {"step", st_step},
  {"reset", st_reset},
  {"sql", st_sql},
  {"close", st_close},
  {NULL, NULL}
};

static const luaL_Reg stmt_metamethods[] = {
  {"__gc", st_close},
  {"__close", st_close},
  {"__tostring", st_tostring},
  {"__index", NULL},
  {NULL, NULL}
};

static const luaL_Reg db_methods[] = {
  {"exec", db_exec},
  {"prepare", db_prepare},
  {"run", db_run},
  {"rows", db_rows},
  {"first", db_first},
  {"last_insert_rowid", db_last_insert_rowid},
  {"changes", db_changes},
  {"errcode", db_errcode},
  {"in_transaction", db_in_transaction},
  {"readonly", db_readonly},
  {"filename", db_filename},
  {"close", db_close},
  {NULL, NULL}
};

static const luaL_Reg db_metamethods[] = {
  {"__gc", db_close},
  {"__close", db_close},
  {"__tostring", db_tostring},
  {"__index", NULL},
  {NULL, NULL}
};

static const luaL_Reg sqlite_funcs[] = {
  {"open", sqlite_open},
  {"is_error", sqlite_is_error},
  {NULL, NULL}
};

int luaopen_runwatch_sqlite(lua_State *L) {
  luaL_newmetatable(L, RW_DB);
  luaL_setfuncs(L, db_metamethods, 0);
  luaL_newlib(L, db_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, RW_STMT);
  luaL_setfuncs(L, stmt_metamethods, 0);
  luaL_newlib(L, stmt_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, sqlite_funcs);
  luaL_newmetatable(L, RW_SQLITE_ERROR);
  lua_pushcfunction(L, err_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setfield(L, -2, "Error");
  lua_pushstring(L, sqlite3_libversion());
  lua_setfield(L, -2, "version");
  return 1;
}
