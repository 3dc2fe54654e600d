/* libFuzzer harness for runwatch.json: decode, re-encode with varied options, decode again, compare. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "bindings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static int json_idx;  /* stack index of the module table, kept at the bottom */

static void fail(const char *what) {
  fprintf(stderr, "fuzz_json: %s\n", what);
  abort();
}

/* Deep equality of the values at a and b: integers and floats differ, NaN equals NaN, tables
   must have the same metatable (array_mt or none) and the same keys. */
static int same(int a, int b, int depth) {
  int ta = lua_type(L, a), ok = 1;
  if (ta != lua_type(L, b)) return 0;
  switch (ta) {
    case LUA_TNUMBER: {
      if (lua_isinteger(L, a) != lua_isinteger(L, b)) return 0;
      if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
      {
        lua_Number x = lua_tonumber(L, a), y = lua_tonumber(L, b);
        if (x != x) return y != y;
        return memcmp(&x, &y, sizeof x) == 0;
      }
    }
    case LUA_TTABLE: {
      lua_Integer na = 0, nb = 0;
      int ma, mb;
      if (depth > 600) fail("comparison too deep");
      if (!lua_checkstack(L, 8)) fail("no stack");
      ma = lua_getmetatable(L, a);
      mb = lua_getmetatable(L, b);
      if (ma != mb || (ma && !lua_rawequal(L, -1, -2))) ok = 0;
      lua_pop(L, ma + mb);
      if (!ok) return 0;
      lua_pushnil(L);
      while (lua_next(L, a)) {
        int top = lua_gettop(L);
        na++;
        lua_pushvalue(L, top - 1);
        lua_rawget(L, b);
        if (!same(top, top + 1, depth + 1)) { lua_settop(L, top - 2); return 0; }
        lua_pop(L, 2);
      }
      lua_pushnil(L);
      while (lua_next(L, b)) { lua_pop(L, 1); nb++; }
      return na == nb;
    }
    default:
      return lua_rawequal(L, a, b);
  }
}

/* json.encode(value at v, opts at o or none) -> pushes the text; aborts if it raises. */
static void encode(int v, int o) {
  lua_getfield(L, json_idx, "encode");
  lua_pushvalue(L, v);
  if (o) lua_pushvalue(L, o);
  else lua_pushnil(L);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    fprintf(stderr, "encode raised: %s\n", lua_tostring(L, -1));
    fail("a decoded value did not encode");
  }
}

/* json.decode(text at s) -> pushes the value, or aborts. */
static void decode_again(int s) {
  lua_getfield(L, json_idx, "decode");
  lua_pushvalue(L, s);
  lua_call(L, 1, 2);
  if (lua_isnil(L, -2)) {
    fprintf(stderr, "re-decode failed: %s\ntext: %s\n", lua_tostring(L, -1), lua_tostring(L, s));
    fail("encoded text did not decode");
  }
  lua_pop(L, 1);
}

static void push_opts(unsigned sel) {
  lua_createtable(L, 0, 4);
  if (sel & 1) { lua_pushboolean(L, 1); lua_setfield(L, -2, "ascii"); }
  if (sel & 2) { lua_pushboolean(L, 1); lua_setfield(L, -2, "python"); }
  if (sel & 4) { lua_pushinteger(L, (lua_Integer)(sel >> 3) % 4); lua_setfield(L, -2, "indent"); }
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "sort_keys");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int base, v, s1, v1, o, s2, v2, s3;
  static unsigned long runs;
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "runwatch.json", luaopen_runwatch_json, 0);
    json_idx = lua_gettop(L);
  }
  base = lua_gettop(L);
  lua_getfield(L, json_idx, "decode");
  lua_pushlstring(L, (const char *)data, size);
  lua_call(L, 1, 2);
  if (lua_isnil(L, -2)) {
    /* the world's failure: a message with a byte offset inside the input (or just past it) */
    const char *msg = lua_tostring(L, -1);
    const char *at = msg ? strstr(msg, " at byte ") : NULL;
    long off;
    if (!msg || strncmp(msg, "json: ", 6) != 0 || !at) fail("bad error message");
    off = strtol(at + 9, NULL, 10);
    if (off < 1 || (size_t)off > size + 1) fail("error offset out of range");
    lua_settop(L, base);
    return 0;
  }
  lua_pop(L, 1);
  v = lua_gettop(L);

  encode(v, 0);                 /* compact, raw UTF-8 */
  s1 = lua_gettop(L);
  decode_again(s1);
  v1 = lua_gettop(L);
  if (!same(v, v1, 0)) { fprintf(stderr, "text: %s\n", lua_tostring(L, s1)); fail("round trip changed the value"); }

  push_opts((unsigned)(size * 2654435761u >> 7) & 31u);  /* options chosen by the input's size */
  o = lua_gettop(L);
  encode(v, o);
  s2 = lua_gettop(L);
  decode_again(s2);
  v2 = lua_gettop(L);
  if (!same(v, v2, 0)) { fprintf(stderr, "text: %s\n", lua_tostring(L, s2)); fail("round trip with options changed the value"); }
  encode(v2, o);                /* sorted output is canonical: a fixed point */
  s3 = lua_gettop(L);
  if (!lua_rawequal(L, s2, s3)) fail("sorted encoding is not a fixed point");

  lua_settop(L, base);
  if (++runs % 4096 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
