/* Lua module runwatch.cron: runwatch.Cron userdata (parse, next fire) and duration parsing. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bindings.h"
#include "cron.h"
#include "duration.h"

#define CRON_MT "runwatch.Cron"

/* A parsed expression; the expression's text is the user value 1. */
typedef struct cron_ud {
  rw_cron c;
  int closed;
} cron_ud;

static cron_ud *check_cron(lua_State *L, int idx) {
  cron_ud *u = (cron_ud *)luaL_checkudata(L, idx, CRON_MT);
  if (u->closed) luaL_error(L, "attempt to use a closed " CRON_MT);
  return u;
}

/* Pushes s[0..len) as a message shows it, escaped like the C parsers do. [-0, +1, m] */
static void push_shown(lua_State *L, const char *s, size_t len) {
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  for (i = 0; i < len && i < 100; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') { luaL_addchar(&b, '\\'); luaL_addchar(&b, (char)ch); }
    else if (ch < 0x20 || ch == 0x7f) {
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02x", ch);
      luaL_addstring(&b, hex);
    }
    else luaL_addchar(&b, (char)ch);
  }
  if (i < len) luaL_addstring(&b, "...");
  luaL_pushresult(&b);
}

/* Parses the string at idx; on failure leaves the message in err. A string with a NUL byte is
   refused here: the C parser would silently stop at it. */
static int parse_arg(lua_State *L, int idx, rw_cron *c, char *err, size_t errlen) {
  size_t len;
  const char *s = luaL_checklstring(L, idx, &len);
  size_t n = strlen(s);
  if (n != len) {
    push_shown(L, s, len);
    snprintf(err, errlen, "bad cron expression \"%s\": NUL byte at position %d",
             lua_tostring(L, -1), (int)n + 1);
    lua_pop(L, 1);
    return -1;
  }
  return rw_cron_parse(s, c, err, errlen);
}

/* cron.parse(expr) -> runwatch.Cron; a bad expression raises. [-0, +1, e] */
static int cron_parse(lua_State *L) {
  char err[512];
  rw_cron c;
  cron_ud *u;
  if (parse_arg(L, 1, &c, err, sizeof err)) return luaL_error(L, "%s", err);
  u = (cron_ud *)lua_newuserdatauv(L, sizeof *u, 1);
  u->c = c;
  u->closed = 0;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, CRON_MT);
  return 1;
}

/* cron.valid(expr) -> true | false, msg; never raises for a bad expression. [-0, +1|2, e] */
static int cron_valid(lua_State *L) {
  char err[512];
  rw_cron c;
  if (parse_arg(L, 1, &c, err, sizeof err)) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* cron.duration(s) -> seconds: a string is parsed (a float results); a non-negative number is
   returned as it is. Anything else raises. [-0, +1, e] */
static int cron_duration(lua_State *L) {
  char err[512];
  double secs;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_Number v = lua_tonumber(L, 1);
    const char *why = NULL;
    if (!isfinite(v)) why = "not a finite number";
    else if (v < 0) why = "negative durations are not allowed";
    else if (v > (lua_Number)RW_DURATION_MAX) why = "too large (over 100 years)";
    if (why) return luaL_error(L, "bad duration %s: %s", lua_tostring(L, 1), why);
    lua_settop(L, 1);
    return 1;
  }
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_typeerror(L, 1, "string or number");
  {
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    if (strlen(s) != len) {
      push_shown(L, s, len);
      return luaL_error(L, "bad duration \"%s\": NUL byte at position %d", lua_tostring(L, -1),
                        (int)strlen(s) + 1);
    }
    if (rw_duration_parse(s, &secs, err, sizeof err)) return luaL_error(L, "%s", err);
  }
  lua_pushnumber(L, (lua_Number)secs);
  return 1;
}

/* c:next(after [, "local" | "UTC"]) -> epoch seconds (integer) | nil, msg. `after` may be a
   float: its fractional part is dropped. [-0, +1|2, e] */
static int c_next(lua_State *L) {
  static const char *const zones[] = {"local", "UTC", "utc", NULL};
  cron_ud *u = check_cron(L, 1);
  int zone = luaL_checkoption(L, 3, "local", zones);
  lua_Integer after;
  time_t nx;
  int rc;
  if (lua_isinteger(L, 2)) after = lua_tointeger(L, 2);
  else {
    lua_Number a = luaL_checknumber(L, 2);
    if (!(a >= -1e15 && a <= 1e15))   /* also NaN */
      return luaL_argerror(L, 2, "not a finite time");
    after = (lua_Integer)floor(a);
  }
  if (after < RW_CRON_TIME_MIN || after > RW_CRON_TIME_MAX) rc = RW_CRON_RANGE;
  else rc = rw_cron_next(&u->c, (time_t)after, zone != 0, &nx);
  if (rc == 0) {
    lua_pushinteger(L, (lua_Integer)nx);
    return 1;
  }
  lua_pushnil(L);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "cron \"%s\" after %I: %s", lua_tostring(L, -1), after, rw_cron_strerror(rc));
  lua_remove(L, -2);
  return 2;
}

/* c:expr() -> the expression as written. [-0, +1, e] */
static int c_expr(lua_State *L) {
  check_cron(L, 1);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/* c:close(): the one idempotent close (also __close). A Cron owns no resource; closing only
   makes later use an error, as with every runwatch userdata. [-0, +0, e] */
static int c_close(lua_State *L) {
  cron_ud *u = (cron_ud *)luaL_checkudata(L, 1, CRON_MT);
  u->closed = 1;
  return 0;
}

static int c_tostring(lua_State *L) {
  cron_ud *u = (cron_ud *)luaL_checkudata(L, 1, CRON_MT);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, CRON_MT "(\"%s\")%s", lua_tostring(L, -1), u->closed ? " (closed)" : "");
  return 1;
}

static const luaL_Reg cron_funcs[] = {
  {"parse", cron_parse},
  {"valid", cron_valid},
  {"duration", cron_duration},
  {NULL, NULL}
};

static const luaL_Reg cron_methods[] = {
  {"next", c_next},
  {"expr", c_expr},
  {"close", c_close},
  {NULL, NULL}
};

static const luaL_Reg cron_metamethods[] = {
  {"__tostring", c_tostring},
  {"__close", c_close},
  {NULL, NULL}
};

int luaopen_runwatch_cron(lua_State *L) {
  if (luaL_newmetatable(L, CRON_MT)) {
    luaL_setfuncs(L, cron_metamethods, 0);
    luaL_newlib(L, cron_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, cron_funcs);
  return 1;
}
