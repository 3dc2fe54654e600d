/* libFuzzer harness for the run and project path parser (scripts/lib/runwatch/wb/paths.lua,
   embedded). The raw input is the path; the driver calls paths.run and paths.project under pcall
   with plain defaults and with a default entity that is looked up lazily. A "bad run path" /
   "bad project path" error is the expected outcome for bad input; anything else aborts: an error
   that is not a string, a string error from inside the library, an error message longer than
   1 KB, or a result that could not be sent as GraphQL variables (not three non-empty strings,
   a part with '/', a control character or invalid UTF-8, or a parse that changes when the same
   parts are joined and parsed again). A Lua panic aborts; the sanitizers report the rest. */
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
  fprintf(stderr, "fuzz_paths: Lua panic: %s\n", lua_tostring(S, -1) ? lua_tostring(S, -1) : "?");
  abort();
}

static const char DRIVER[] =
  "local P = require 'runwatch.wb.paths'\n"
  "local json = require 'runwatch.json'\n"
  "local function expected(e, what)\n"
  "  if type(e) ~= 'string' then error({fuzz = 'a non-string error: ' .. type(e)}) end\n"
  "  if #e > 1024 then error({fuzz = 'an error message of ' .. #e .. ' bytes: ' .. e:sub(1, 200)}) end\n"
  "  if not e:find(what, 1, true) then error({fuzz = 'unexpected error: ' .. e}) end\n"
  "end\n"
  "local function part(p, what, input)\n"
  "  if type(p) ~= 'string' or p == '' then error({fuzz = what .. ' is not a non-empty string for ' .. string.format('%q', input)}) end\n"
  "  if p:find('/', 1, true) then error({fuzz = what .. ' holds a slash: ' .. string.format('%q', p)}) end\n"
  "  if not utf8.len(p) and not pcall(json.encode, p) then error({fuzz = what .. ' is not valid UTF-8: ' .. string.format('%q', p)}) end\n"
  "  if p:find('[%z\\1-\\31\\127]') then error({fuzz = what .. ' holds a control character: ' .. string.format('%q', p)}) end\n"
  "end\n"
  "local lookups = 0\n"
  "local lazy = {project = 'P', entity = function() lookups = lookups + 1 return 'viewer' end}\n"
  "return function(data)\n"
  "  for _, d in ipairs({{entity = 'E', project = 'P'}, lazy, {}}) do\n"
  "    local ok, e, p, id = pcall(P.run, data, d)\n"
  "    if not ok then expected(e, 'bad run path')\n"
  "    else\n"
  "      part(e, 'entity', data) part(p, 'project', data) part(id, 'id', data)\n"
  /* the SDK's canonical form parses to the same parts, unless a part has what the
     short forms treat specially (a ':' in the project, '/runs/'-like words, spaces at the ends) */
  "      if not (e .. p .. id):find('[:%s]') and p ~= 'runs' and p ~= 'sweeps' and e ~= 'runs' and e ~= 'sweeps' then\n"
  "        local ok2, e2, p2, id2 = pcall(P.run, e .. '/' .. p .. '/' .. id, d)\n"
  "        if not ok2 or e2 ~= e or p2 ~= p or id2 ~= id then\n"
  "          error({fuzz = string.format('%q parsed as %q %q %q, but the joined parts parse as %s', data, e, p, id,\n"
  "            ok2 and string.format('%q %q %q', e2, p2, id2) or tostring(e2))})\n"
  "        end\n"
  "      end\n"
  "    end\n"
  "    local okp, pe, pp = pcall(P.project, data, d)\n"
  "    if not okp then expected(pe, 'bad project path')\n"
  "    else part(pe, 'project entity', data) part(pp, 'project', data) end\n"
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
  if (luaL_loadbufferx(L, DRIVER, sizeof DRIVER - 1, "=fuzz_paths driver", "t") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_paths: setup failed: %s\n", lua_tostring(L, -1));
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
      fprintf(stderr, "fuzz_paths: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    } else {
      fprintf(stderr, "fuzz_paths: the driver raised: %s\n",
              lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
    }
    abort();
  }
  lua_settop(L, top);
  if (++runs % 1024 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
