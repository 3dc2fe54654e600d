/* runwatch.digest: MD5 of a string or of a file streamed from disk (artifact manifests name files by it). */
#include <errno.h>
#include <string.h>

#include "bindings.h"
#include "md5.h"

/* md5(s) -> the 16 raw bytes of MD5(s) */
static int digest_md5(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  rw_md5 m;
  unsigned char out[16];
  rw_md5_init(&m);
  rw_md5_update(&m, s, n);
  rw_md5_final(&m, out);
  lua_pushlstring(L, (const char *)out, sizeof out);
  return 1;
}

/* md5_file(path) -> 16 raw bytes, size in bytes | nil, "path: reason" */
static int digest_md5_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  unsigned char out[16];
  uint64_t size = 0;
  if (rw_md5_file(path, out, &size) != 0) {
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    return 2;
  }
  lua_pushlstring(L, (const char *)out, sizeof out);
  lua_pushinteger(L, (lua_Integer)size);
  return 2;
}

int luaopen_runwatch_digest(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"md5", digest_md5},
    {"md5_file", digest_md5_file},
    {NULL, NULL},
  };
  luaL_newlib(L, fns);
  return 1;
}
