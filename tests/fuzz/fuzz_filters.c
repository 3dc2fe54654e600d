/* libFuzzer harness for the run filter validator (scripts/lib/runwatch/filters.lua, embedded).
   The input is JSON, decoded with runwatch.json, then rewritten by the driver below so that it can
   also express what JSON cannot: non-string keys, NaN, functions, reference cycles. The driver
   calls filters.encode / normalize / order under pcall. A "bad filter" / "bad order" error is the
   expected outcome for bad input; anything else aborts: an error that is not a string, a string
   error from inside the library (a bug such as "attempt to index a nil value"), an encoded filter
   that does not decode or does not normalize to itself again, a message longer than 1 KB, or a
   Lua panic. The sanitizers report the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "bindings.h"
#include "rw_embedded.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static int driver_ref = LUA_NOREF;

/* package.searchers entry: the embedded library (runtime/host.c does the same for the binary). */
static int embedded_searcher(lua_State *S) {
  const char *name = luaL_checkstring(S, 1);
  const rw_embedded_module *m;
  for (m = rw_embedded_modules; m->name; m++) {
    if (strcmp(m->name, name) != 0) continue;
    lua_pushfstring(S, "@scripts/lib/%s", m->file);
    if (luaL_loadbufferx(S, m->src, m->len, lua_tostring(S, -1), "t") != LUA_OK) return lua_error(S);
    lua_insert(S, -2);
    return 2;
  }
  lua_pushfstring(S, "no embedded module '%s'", name);
  return 1;
}

static int panic(lua_State *S) {
  fprintf(stderr, "fuzz_filters: Lua panic: %s\n", lua_tostring(S, -1) ? lua_tostring(S, -1) : "?");
  abort();
}

static const char DRIVER[] =
  "local F = require 'runwatch.filters'\n"
  "local json = require 'runwatch.json'\n"
  "local fn = function() end\n"
  /* keys '#N' become the integer N, '#t' true, '#f' 1.5; values '@nan' NaN, '@inf' math.huge,
     '@fn' a function, '@self' the enclosing table (a cycle), '@up' the table above it */
  "local function rewrite(v, parent, depth)\n"
  "  if type(v) == 'string' then\n"
  "    if v == '@nan' then return 0/0 elseif v == '@inf' then return math.huge\n"
  "    elseif v == '@fn' then return fn elseif v == '@self' then return parent\n"
  "    elseif v == '@ud' then return io.stdout end\n"
  "    return v\n"
  "  end\n"
  "  if type(v) ~= 'table' or depth > 200 then return v end\n"
  "  local out = json.is_array(v) and json.array({}) or {}\n"
  "  for k, x in next, v do\n"
  "    local nk = k\n"
  "    if type(k) == 'string' then\n"
  "      local n = k:match('^#(%-?%d+)$')\n"
  "      if n then nk = math.tointeger(tonumber(n)) or k\n"
  "      elseif k == '#t' then nk = true elseif k == '#f' then nk = 1.5 end\n"
  "    end\n"
  "    if x == '@up' then out[nk] = parent else out[nk] = rewrite(x, out, depth + 1) end\n"
  "  end\n"
  "  return out\n"
  "end\n"
  "local function expected(e, what)\n"
  "  if type(e) ~= 'string' then error({fuzz = 'a non-string error: ' .. type(e)}) end\n"
  "  if #e > 1024 then error({fuzz = 'an error message of ' .. #e .. ' bytes: ' .. e:sub(1, 200)}) end\n"
  "  if not e:find(what, 1, true) then error({fuzz = 'unexpected error: ' .. e}) end\n"
  "end\n"
  "return function(data)\n"
  "  local v = json.decode(data)\n"
  "  if v == nil then\n"
  "    local ok, e = pcall(F.order, data)\n"
  "    if not ok then expected(e, 'bad order') end\n"
  "    return\n"
  "  end\n"
  "  if type(v) == 'string' then\n"
  "    local ok, e = pcall(F.order, v)\n"
  "    if not ok then expected(e, 'bad order')\n"
  "    elseif type(e) ~= 'string' or not e:match('^[+-]') then error({fuzz = 'odd order ' .. tostring(e)}) end\n"
  "  end\n"
  "  v = rewrite(v, nil, 0)\n"
  "  local ok, s = pcall(F.encode, v)\n"
  "  if not ok then expected(s, 'bad filter') return end\n"
  "  if type(s) ~= 'string' then error({fuzz = 'encode gave a ' .. type(s)}) end\n"
  "  local back, derr = json.decode(s)\n"
  "  if back == nil then error({fuzz = 'the encoded filter does not decode: ' .. tostring(derr) .. ': ' .. s:sub(1, 300)}) end\n"
  /* the server form must validate again as it is (watch.lua wraps normalized filters in $and) */
  "  local n = F.normalize(v)\n"
  "  local ok2, s2 = pcall(F.encode, n)\n"
  "  if not ok2 then error({fuzz = 'the normalized filter does not validate: ' .. tostring(s2)}) end\n"
  "  if s2 ~= s then error({fuzz = 'normalize is not idempotent: ' .. s:sub(1, 200) .. ' vs ' .. s2:sub(1, 200)}) end\n"
  "  local ok3, s3 = pcall(F.encode, {['$and'] = json.array({n, {state = 'running'}})})\n"
  "  if not ok3 and not tostring(s3):find('nested deeper', 1, true) then\n"
  "    error({fuzz = 'a valid filter inside $and does not validate: ' .. tostring(s3)})\n"
  "  end\n"
  "end\n";

static void setup(void) {
  const rw_module *m;
  L = luaL_newstate();
  if (!L) abort();
  *(void **)lua_getextraspace(L) = NULL;   /* no rw_host: modules that need one are not used */
  lua_atpanic(L, panic);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (m = rw_c_modules; m->name; m++) {
    lua_pushcfunction(L, m->open);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_pushcfunction(L, embedded_searcher);
  lua_rawseti(L, -2, 2);                   /* after preload, before the file searchers */
  lua_pop(L, 2);
  if (luaL_loadbufferx(L, DRIVER, sizeof DRIVER - 1, "=fuzz_filters driver", "t") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_filters: setup failed: %s\n", lua_tostring(L, -1));
    abort();
  }
  driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned long runs;
  int top;
  if (size > 65536) return 0;
  if (!L) setup();
  top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "fuzz");
      fprintf(stderr, "fuzz_filters: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    } else {
      fprintf(stderr, "fuzz_filters: the driver raised: %s\n",
              lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
    }
    abort();
  }
  lua_settop(L, top);
  if (++runs % 1024 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
