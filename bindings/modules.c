/* The list of C modules preloaded into every Lua state, and the shared option readers. */
#include "bindings.h"

const rw_module rw_c_modules[] = {
  {"runwatch.core", luaopen_runwatch_core},
  {"runwatch.timer", luaopen_runwatch_timer},
  {"runwatch.http.raw", luaopen_runwatch_http_raw},
  {"runwatch.cron", luaopen_runwatch_cron},
  {"runwatch.json", luaopen_runwatch_json},
  {"cjson", luaopen_cjson},
  {"cjson.safe", luaopen_cjson_safe},
  {"runwatch.wandbfile", luaopen_runwatch_wandbfile},
  {"runwatch.sqlite", luaopen_runwatch_sqlite},
  {"runwatch.fswatch", luaopen_runwatch_fswatch},
  {"runwatch.lock", luaopen_runwatch_lock},
  {"runwatch.digest", luaopen_runwatch_digest},
  /* RW_MODULES_END: add new modules above this line */
  {NULL, NULL}
};

static int field_type(lua_State *L, int t, const char *field, int want, const char *wname) {
  int ty = lua_getfield(L, t, field);
  if (ty == LUA_TNIL) { lua_pop(L, 1); return 0; }
  if (ty != want && !(want == LUA_TNUMBER && lua_isnumber(L, -1)))
    luaL_error(L, "bad field '%s' (%s expected, got %s)", field, wname, luaL_typename(L, -1));
  return 1;
}

lua_Number rw_opt_number(lua_State *L, int t, const char *field, lua_Number def) {
  lua_Number v;
  if (lua_isnoneornil(L, t) || !field_type(L, t, field, LUA_TNUMBER, "number")) return def;
  v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

lua_Integer rw_opt_integer(lua_State *L, int t, const char *field, lua_Integer def) {
  lua_Integer v;
  int isint;
  if (lua_isnoneornil(L, t) || !field_type(L, t, field, LUA_TNUMBER, "integer")) return def;
  v = lua_tointegerx(L, -1, &isint);
  if (!isint) luaL_error(L, "bad field '%s' (number has no integer representation)", field);
  lua_pop(L, 1);
  return v;
}

/* The returned string stays valid while the option table is alive (it is a field of it). */
const char *rw_opt_string(lua_State *L, int t, const char *field, const char *def) {
  const char *v;
  if (lua_isnoneornil(L, t) || !field_type(L, t, field, LUA_TSTRING, "string")) return def;
  v = lua_tostring(L, -1);
  lua_pop(L, 1);
  return v;
}

int rw_opt_boolean(lua_State *L, int t, const char *field, int def) {
  int v;
  if (lua_isnoneornil(L, t) || !field_type(L, t, field, LUA_TBOOLEAN, "boolean")) return def;
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}
