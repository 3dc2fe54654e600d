/* Module runwatch.core: clocks, logging with redaction, options, job slices (CPU budget),
   counters. The mechanisms the Lua library's policies are built on. */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "rw.h"
#include "log.h"
#include "bindings.h"

/* core.now() -> the loop's cached time (monotonic seconds) [-0, +1, -] */
static int core_now(lua_State *L) {
  rw_app *app = rw_app_of(L);
  lua_pushnumber(L, app && app->loop ? ev_now(app->loop) : rw_monotonic());
  return 1;
}

/* core.monotonic() -> a fresh monotonic reading */
static int core_monotonic(lua_State *L) {
  lua_pushnumber(L, rw_monotonic());
  return 1;
}

/* core.time() -> wall-clock seconds since the epoch, with fractions */
static int core_time(lua_State *L) {
  lua_pushnumber(L, rw_walltime());
  return 1;
}

static int field_cmp(const void *a, const void *b) {
  return strcmp(((const rw_log_field *)a)->key, ((const rw_log_field *)b)->key);
}

/* core.log(level, msg [, fields [, script [, job]]]) -- fields: a table of scalars.
   Field strings are first collected into a table on the stack so their pointers stay valid. */
static int core_log(lua_State *L) {
  static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
  int level = luaL_checkoption(L, 1, NULL, levels);
  const char *msg = luaL_checkstring(L, 2);
  const char *script = luaL_optstring(L, 4, NULL);
  const char *job = luaL_optstring(L, 5, NULL);
  rw_log_field fields[32];
  int n = 0, i;
  if (!rw_log_enabled((rw_log_level)level)) return 0;
  lua_settop(L, 5);
  lua_newtable(L);   /* 6: {key1, value1, raw1, key2, ...} */
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && n < 32) {
        int t = lua_type(L, -1);
        int raw = (t == LUA_TBOOLEAN) || (t == LUA_TNUMBER && lua_isinteger(L, -1));
        if (t == LUA_TNUMBER && !lua_isinteger(L, -1)) {
          double d = lua_tonumber(L, -1);
          raw = (d == d && d - d == 0);
        }
        lua_pushvalue(L, -2);
        lua_rawseti(L, 6, 3 * n + 1);
        luaL_tolstring(L, -1, NULL);
        lua_rawseti(L, 6, 3 * n + 2);
        fields[n].is_raw = raw;
        n++;
      }
      lua_pop(L, 1);
    }
  }
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, 6, 3 * i + 1);
    fields[i].key = lua_tostring(L, -1);
    lua_rawgeti(L, 6, 3 * i + 2);
    fields[i].value = lua_tostring(L, -1);
    lua_pop(L, 2);   /* still referenced by the table at 6 */
  }
  qsort(fields, (size_t)n, sizeof fields[0], field_cmp);   /* stable output: fields by key */
  rw_log_fields((rw_log_level)level, script, job, msg, fields, n);
  return 0;
}

/* core.log_enabled(level) -> boolean */
static int core_log_enabled(lua_State *L) {
  int level = rw_log_level_from_name(luaL_checkstring(L, 1));
  lua_pushboolean(L, level >= 0 && rw_log_enabled((rw_log_level)level));
  return 1;
}

/* core.write(s) -- stdout with secrets redacted */
static int core_write(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  rw_out(s, len);
  return 0;
}

/* core.add_secret(s) -- s is redacted from every log line and from core.write output */
static int core_add_secret(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  rw_log_add_secret(s, len);
  return 0;
}

/* Pushes s (at idx) with secrets replaced by ***; no malloc, so a memory error cannot leak. */
static void push_redacted(lua_State *L, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len + 1);
  luaL_pushresultsize(&b, rw_redact_into(s, len, out));
}

/* core.redact(s) -> s with secrets replaced by *** */
static int core_redact(lua_State *L) {
  luaL_checkstring(L, 1);
  push_redacted(L, 1);
  return 1;
}

/* Does fd lead where this process's stdout or stderr goes (the descriptors themselves, a file
   opened on /dev/stdout, /proc/self/fd/2 or the same file, pipe or terminal), or to a terminal? */
static int to_console(int fd) {
  struct stat st, o;
  int i;
  if (fd == 1 || fd == 2) return 1;
  if (fd < 0 || fstat(fd, &st) != 0) return 0;
  if (isatty(fd)) return 1;
  for (i = 1; i <= 2; i++)
    if (fstat(i, &o) == 0 && o.st_dev == st.st_dev && o.st_ino == st.st_ino) return 1;
  return 0;
}

/* Checks the values to write (from..top) as io's write does, and redacts the strings in place
   when the file leads to the console. */
static void redact_args(lua_State *L, luaL_Stream *p, int from) {
  int i, top = lua_gettop(L);
  for (i = from; i <= top; i++)
    if (lua_type(L, i) != LUA_TNUMBER) luaL_checkstring(L, i);
  if (!p->closef || !p->f || !rw_log_has_secrets() || !to_console(fileno(p->f))) return;
  for (i = from; i <= top; i++) {
    if (lua_type(L, i) == LUA_TSTRING) {
      push_redacted(L, i);
      lua_replace(L, i);
    }
  }
}

/* file:write(...) -- io's own, after redaction (upvalue 1: io's write method) */
static int file_write(lua_State *L) {
  luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
  redact_args(L, p, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* io.write(...) -- to the default output file, through file_write's path */
static int io_write(lua_State *L) {
  luaL_Stream *p;
  lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");   /* liolib's IO_OUTPUT */
  p = (luaL_Stream *)luaL_testudata(L, -1, LUA_FILEHANDLE);
  if (!p || !p->closef) return luaL_error(L, "default output file is closed");
  lua_pop(L, 1);                                   /* still held by the registry */
  redact_args(L, p, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");
  lua_insert(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* core.redact_stdio() -- io.write and every file handle's write redact secrets when they write
   to stdout or stderr. Idempotent. (A filter against accidents: a script can always reach the
   key itself, os.getenv included.) */
static int core_redact_stdio(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "runwatch.stdio_redacted");
  if (lua_toboolean(L, -1)) return 0;
  if (luaL_getmetatable(L, LUA_FILEHANDLE) != LUA_TTABLE) return luaL_error(L, "the io library is not loaded");
  if (lua_getfield(L, -1, "__index") != LUA_TTABLE) return luaL_error(L, "io file methods not found");
  lua_getfield(L, -1, "write");            /* io's own method */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, file_write, 1);
  lua_setfield(L, -3, "write");
  lua_getglobal(L, "io");
  if (lua_istable(L, -1)) {
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, io_write, 1);
    lua_setfield(L, -2, "write");
  }
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "runwatch.stdio_redacted");
  return 0;
}

static void set_str(lua_State *L, const char *k, const char *v) {
  if (v) { lua_pushstring(L, v); lua_setfield(L, -2, k); }
}

static void set_list(lua_State *L, const char *k, const char **v, int n) {
  int i;
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) { lua_pushstring(L, v[i]); lua_rawseti(L, -2, i + 1); }
  lua_setfield(L, -2, k);
}

/* core.options() -> the command-line options as a table */
static int core_options(lua_State *L) {
  rw_app *app = rw_app_of(L);
  static const char *const modes[] = {"run", "once", "check"};
  lua_newtable(L);
  if (!app) return 1;
  lua_pushstring(L, modes[app->opt->mode]);
  lua_setfield(L, -2, "mode");
  lua_pushboolean(L, app->opt->dry_run);
  lua_setfield(L, -2, "dry_run");
  lua_pushboolean(L, app->opt->insecure);
  lua_setfield(L, -2, "insecure");
  set_str(L, "state", app->opt->state_path);
  set_str(L, "local_dir", app->opt->local_dir);
  set_str(L, "lib_dir", app->opt->lib_dir);
  set_str(L, "command", app->opt->command);
  set_list(L, "argv", (const char **)app->opt->argv + (app->opt->argc > 0), app->opt->argc > 0 ? app->opt->argc - 1 : 0);
  set_list(L, "scripts", app->opt->scripts, app->opt->nscripts);
  lua_pushnumber(L, app->opt->cpu_budget);
  lua_setfield(L, -2, "cpu_budget");
  lua_pushinteger(L, (lua_Integer)app->opt->mem_limit);
  lua_setfield(L, -2, "mem_limit");
  lua_pushstring(L, rw_log_level_name(rw_log_get_level()));
  lua_setfield(L, -2, "log_level");
  return 1;
}

/* core.slice_begin(budget_seconds) -- the next resume of a job runs under this budget */
static int core_slice_begin(lua_State *L) {
  rw_host *h = rw_host_of(L);
  h->slice_budget = luaL_checknumber(L, 1);
  h->slice_abort = 0;
  h->slice_start = rw_monotonic();
  return 0;
}

/* core.slice_end() -> elapsed seconds, aborted (true when the budget hook stopped the job) */
static int core_slice_end(lua_State *L) {
  rw_host *h = rw_host_of(L);
  double elapsed = h->slice_start > 0 ? rw_monotonic() - h->slice_start : 0;
  int aborted = h->slice_abort;
  h->slice_start = 0;
  h->slice_abort = 0;
  lua_pushnumber(L, elapsed);
  lua_pushboolean(L, aborted);
  return 2;
}

/* core.job_failed() -- count a failed job for the exit status */
static int core_job_failed(lua_State *L) {
  rw_host_of(L)->job_failures++;
  return 0;
}

/* core.set_exit_status(n) -- the process's exit status (Lua-side commands: 2 for usage) */
static int core_set_exit_status(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0 && n <= 125, 1, "exit status from 0 to 125 expected");
  rw_host_of(L)->exit_status = (int)n;
  return 0;
}

/* core.stop() -- stop like SIGTERM: no new ticks, in-flight work finishes */
static int core_stop(lua_State *L) {
  rw_app *app = rw_app_of(L);
  if (app && !app->stopping) raise(SIGTERM);
  return 0;
}

/* core.stats() -> counters for status pages and benchmarks */
static int core_stats(lua_State *L) {
  rw_host *h = rw_host_of(L);
  rw_app *app = h->app;
  lua_newtable(L);
  lua_pushinteger(L, (lua_Integer)h->mem_used); lua_setfield(L, -2, "mem");
  lua_pushinteger(L, (lua_Integer)h->mem_peak); lua_setfield(L, -2, "mem_peak");
  lua_pushinteger(L, h->pending); lua_setfield(L, -2, "pending");
  lua_pushinteger(L, h->live); lua_setfield(L, -2, "live");
  lua_pushinteger(L, h->job_failures); lua_setfield(L, -2, "job_failures");
  if (app) {
    lua_pushinteger(L, (lua_Integer)app->http_requests); lua_setfield(L, -2, "http_requests");
    lua_pushinteger(L, (lua_Integer)app->http_bytes_in); lua_setfield(L, -2, "http_bytes_in");
    lua_pushinteger(L, (lua_Integer)app->http_bytes_out); lua_setfield(L, -2, "http_bytes_out");
    lua_pushinteger(L, app->running_requests); lua_setfield(L, -2, "http_in_flight");
    lua_pushboolean(L, app->stopping); lua_setfield(L, -2, "stopping");
  }
  return 1;
}

/* core.file_mode(path) -> permission bits, or nil, err (netrc permission check) */
static int core_file_mode(lua_State *L) {
  struct stat st;
  const char *path = luaL_checkstring(L, 1);
  if (stat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  return 1;
}

/* core.getpid() */
static int core_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* core.base64(s) -> standard base64 with padding (HTTP basic auth) */
static int core_base64(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, (len + 2) / 3 * 4 + 1);
  luaL_pushresultsize(&b, rw_base64(s, len, out));
  return 1;
}

/* core.isatty(fd) -> is file descriptor fd (0, 1, 2) a terminal (progress bars) */
static int core_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)) == 1);
  return 1;
}

/* core.rename(t, names) -> a new table holding t[k] under names[k] for each key k of t that names
   has (other keys are left out), made at its final size: a run record from a GraphQL node
   (fields.from_node, once per run per tick) without growing it key by key */
static int core_rename(lua_State *L) {
  int n = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, 2) != LUA_TNIL) n++;
    lua_pop(L, 1);
  }
  lua_createtable(L, 0, n);                  /* 3 */
  lua_pushnil(L);
  while (lua_next(L, 1)) {                   /* key at -2, value at -1 */
    lua_pushvalue(L, -2);
    if (lua_rawget(L, 2) == LUA_TNIL) { lua_pop(L, 2); continue; }
    lua_insert(L, -2);                       /* key, new name, value */
    lua_rawset(L, 3);
  }
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"rename", core_rename},
  {"isatty", core_isatty},
  {"base64", core_base64},
  {"now", core_now},
  {"monotonic", core_monotonic},
  {"time", core_time},
  {"log", core_log},
  {"log_enabled", core_log_enabled},
  {"write", core_write},
  {"add_secret", core_add_secret},
  {"redact", core_redact},
  {"redact_stdio", core_redact_stdio},
  {"options", core_options},
  {"slice_begin", core_slice_begin},
  {"slice_end", core_slice_end},
  {"job_failed", core_job_failed},
  {"stop", core_stop},
  {"set_exit_status", core_set_exit_status},
  {"stats", core_stats},
  {"file_mode", core_file_mode},
  {"getpid", core_getpid},
  {NULL, NULL}
};

int luaopen_runwatch_core(lua_State *L) {
  luaL_newlib(L, core_funcs);
  lua_pushliteral(L, RW_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
