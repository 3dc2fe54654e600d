/* The luaopen_* functions of the C modules exposed to Lua, and small helpers they share. */
#ifndef RW_BINDINGS_H
#define RW_BINDINGS_H
#include <lua.h>
#include <lauxlib.h>

typedef struct rw_module {
  const char *name;          /* module name for require, e.g. "runwatch.timer" */
  lua_CFunction open;
} rw_module;

/* The table of C modules preloaded into every Lua state (bindings/modules.c). */
extern const rw_module rw_c_modules[];

int luaopen_runwatch_core(lua_State *L);     /* l_core.c: clock, logging, options, limits */
int luaopen_runwatch_timer(lua_State *L);    /* l_timer.c: runwatch.Timer userdata on ev_timer */
int luaopen_runwatch_http_raw(lua_State *L); /* l_http.c: runwatch.Request userdata on libcurl */
int luaopen_runwatch_json(lua_State *L);     /* l_json.c: lossless JSON codec */
int luaopen_cjson(lua_State *L);             /* lua-cjson (static lib), preloaded as "cjson" */
int luaopen_cjson_safe(lua_State *L);        /* and as "cjson.safe" (Debian's header lacks it) */
int luaopen_runwatch_cron(lua_State *L);     /* l_cron.c: cron expressions and durations */
int luaopen_runwatch_wandbfile(lua_State *L);/* l_wandbfile.c: .wandb transaction log reader */
int luaopen_runwatch_sqlite(lua_State *L);   /* l_sqlite.c: runwatch.Db/Stmt on SQLite */
int luaopen_runwatch_fswatch(lua_State *L);  /* l_fswatch.c: runwatch.FsWatch on ev_stat, fs facts */
int luaopen_runwatch_lock(lua_State *L);     /* l_lock.c: runwatch.Lock, one writer process per file */
int luaopen_runwatch_digest(lua_State *L);   /* l_digest.c: MD5 of strings and files */

/* Option-table field readers that raise "bad field 'name' (number expected, got string)". */
lua_Number rw_opt_number(lua_State *L, int t, const char *field, lua_Number def);  /* may raise */
lua_Integer rw_opt_integer(lua_State *L, int t, const char *field, lua_Integer def); /* may raise */
const char *rw_opt_string(lua_State *L, int t, const char *field, const char *def); /* may raise */
int rw_opt_boolean(lua_State *L, int t, const char *field, int def);                /* may raise */

#endif
