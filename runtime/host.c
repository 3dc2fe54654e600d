/* The Lua side of the host: lua_State setup (its allocator, with the memory cap, is
   lua_alloc.c), CPU budget hook, module loading, script loading with one _ENV per script, and
   host_pcall, the one door from C into Lua. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include "rw.h"
#include "log.h"
#include "bindings.h"
#include "rw_embedded.h"

#define HOOK_COUNT 10000   /* instructions between budget checks */

double rw_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double rw_walltime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The count hook: when the running job slice is over its budget, yield out of it (this escapes
   any pcall inside the job); where yielding is impossible, raise. The task scheduler sees
   slice_abort and closes the coroutine. */
static void budget_hook(lua_State *L, lua_Debug *ar) {
  rw_host *h = rw_host_of(L);
  (void)ar;
  if (h && h->loading && rw_app_stop_signals() != h->load_signals) {
    /* a load (or `check`) is not inside the loop, so the loop's stop handler cannot run:
       stop here (raised again at every hook until the load returns) */
    h->load_interrupted = 1;
    luaL_error(L, "interrupted by signal %d", rw_app_last_stop_signal());
  }
  if (!h || h->slice_start <= 0 || h->slice_budget <= 0) return;
  if (rw_monotonic() - h->slice_start <= h->slice_budget && !h->slice_abort) return;
  h->slice_abort = 1;
  if (lua_isyieldable(L)) {
    lua_yield(L, 0);
    return;
  }
  luaL_error(L, "job exceeded its CPU budget of %.3g s", h->slice_budget);
}

/* Pushes runwatch.errors.describe(value at 1) when the library is loaded: 1 if it did. */
static int describe_error(lua_State *L) {
  int ok = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "runwatch.errors") == LUA_TTABLE &&
      lua_getfield(L, -1, "describe") == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);
    ok = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING;
    if (ok) {
      lua_replace(L, -3);   /* the result where _LOADED was; drop the errors table */
      lua_pop(L, 1);
      return 1;
    }
  }
  lua_settop(L, 1);
  return 0;
}

/* Traceback message handler (lua.c's msghandler). Non-string errors with __tostring are shown
   through it; tables (CommError values) are passed through unchanged for Lua to inspect. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      msg = lua_tostring(L, -1);
    } else if (lua_type(L, 1) == LUA_TTABLE && describe_error(L)) {
      msg = lua_tostring(L, -1);   /* error({...}): its fields, by runwatch.errors.describe */
    } else {
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
  }
  {
    rw_host *h = rw_host_of(L);
    if (h && h->load_interrupted) return 1;   /* a stop, not a bug: no traceback */
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* The one door from C into Lua: a protected call with a traceback. The function and its
   arguments are on the stack; on error the message (with traceback) is logged and nres nils
   are left, so callers keep a balanced stack. Returns the lua_pcall status. */
int rw_host_pcall(lua_State *L, int nargs, int nres) {
  int base = lua_gettop(L) - nargs;
  int status, i;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  status = lua_pcall(L, nargs, nres, base);
  lua_remove(L, base);
  if (status != LUA_OK) {
    rw_host *h = rw_host_of(L);
    rw_log(RW_LOG_ERROR, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error)");
    lua_pop(L, 1);
    if (h) h->job_failures++;
    for (i = 0; i < nres; i++) lua_pushnil(L);
  }
  return status;
}

/* Calls runwatch.task.<name>() if the library is loaded (e.g. "_stop" at SIGTERM). */
static int call_hook(rw_host *h, const char *name, int ask) {
  lua_State *L = h->L;
  int top = lua_gettop(L);
  int st, truth;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "runwatch.task");
  if (!lua_istable(L, -1)) {
    lua_settop(L, top);
    return -1;
  }
  lua_getfield(L, -1, name);
  if (!lua_isfunction(L, -1)) {
    lua_settop(L, top);
    return -1;
  }
  st = rw_host_pcall(L, 0, ask ? 1 : 0);
  truth = st == LUA_OK && ask && lua_toboolean(L, -1);
  lua_settop(L, top);
  if (st != LUA_OK) return -1;
  return ask ? truth : 0;
}

int rw_host_call_hook(rw_host *h, const char *name) { return call_hook(h, name, 0); }
int rw_host_ask_hook(rw_host *h, const char *name) { return call_hook(h, name, 1); }

/* {====== Module loading */

static const rw_embedded_module *find_embedded(const char *name) {
  const rw_embedded_module *m;
  for (m = rw_embedded_modules; m->name; m++)
    if (strcmp(m->name, name) == 0) return m;
  return NULL;
}

/* package.searchers entry: the Lua library, from --lib-dir when given, else embedded source.
   Everything is loaded as text (mode "t"), never bytecode. */
static int searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *lib_dir;
  const rw_embedded_module *m;
  lua_getfield(L, LUA_REGISTRYINDEX, "runwatch.lib_dir");   /* stays on the stack below */
  lib_dir = lua_tostring(L, -1);
  if (lib_dir) {
    luaL_Buffer b;
    const char *p;
    const char *const suffixes[] = {".lua", "/init.lua"};
    int i;
    for (i = 0; i < 2; i++) {
      FILE *f;
      luaL_buffinit(L, &b);
      luaL_addstring(&b, lib_dir);
      luaL_addchar(&b, '/');
      for (p = name; *p; p++) luaL_addchar(&b, *p == '.' ? '/' : *p);
      luaL_addstring(&b, suffixes[i]);
      luaL_pushresult(&b);
      f = fopen(lua_tostring(L, -1), "r");
      if (f) {
        fclose(f);
        if (luaL_loadfilex(L, lua_tostring(L, -1), "t") != LUA_OK) return lua_error(L);
        lua_insert(L, -2);  /* loader, filename */
        return 2;
      }
      lua_pop(L, 1);
    }
  }
  m = find_embedded(name);
  if (!m) {
    lua_pushfstring(L, "no embedded module '%s'", name);
    return 1;
  }
  lua_pushfstring(L, "@scripts/lib/%s", m->file);
  if (luaL_loadbufferx(L, m->src, m->len, lua_tostring(L, -1), "t") != LUA_OK) return lua_error(L);
  lua_pushfstring(L, "scripts/lib/%s", m->file);
  return 2;
}

/* package.path and cpath lose relative entries ("./?.lua"): a script must not pick up code from
   whatever directory the daemon happens to run in. C modules from disk are not loaded at all.
   The library comes from lib_dir when given (kept in the registry for the searcher). */
static void sanitize_paths(lua_State *L, const char *lib_dir) {
  if (lib_dir) {
    lua_pushstring(L, lib_dir);
    lua_setfield(L, LUA_REGISTRYINDEX, "runwatch.lib_dir");
  }
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  {
    const char *path = lua_tostring(L, -1);
    luaL_Buffer b;
    const char *p = path, *e;
    luaL_buffinit(L, &b);
    while (p && *p) {
      e = strchr(p, ';');
      if (!e) e = p + strlen(p);
      if (e > p && *p == '/') {
        if (luaL_bufflen(&b) > 0) luaL_addchar(&b, ';');
        luaL_addlstring(&b, p, (size_t)(e - p));
      }
      p = *e ? e + 1 : e;
    }
    luaL_pushresult(&b);
    lua_setfield(L, -3, "path");
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  /* searchers: preload (1), ours (2), then Lua files on the sanitized path (3); no C loaders */
  lua_getfield(L, -1, "searchers");
  lua_rawgeti(L, -1, 2);              /* the Lua-file searcher */
  lua_rawseti(L, -2, 3);              /* replaces the C searcher */
  lua_pushcfunction(L, searcher);
  lua_rawseti(L, -2, 2);
  lua_pushnil(L);
  lua_rawseti(L, -2, 4);              /* no all-in-one C loader */
  lua_pop(L, 2);
}

static void preload_c_modules(lua_State *L) {
  const rw_module *m;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (m = rw_c_modules; m->name; m++) {
    lua_pushcfunction(L, m->open);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

/* A plain Lua state that loads the library's pure-Lua modules (no C modules, no host): what
   the command line's parser runs in before the app starts (cli.c). */
lua_State *rw_lua_bare(const char *lib_dir) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  *(rw_host **)lua_getextraspace(L) = NULL;
  luaL_openlibs(L);
  sanitize_paths(L, lib_dir);
  return L;
}

/* }====== */

rw_host *rw_host_new(rw_app *app, char *err, size_t errlen) {
  rw_host *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->app = app;
  h->exit_status = -1;
  h->mem_limit = app && app->opt->mem_limit ? app->opt->mem_limit : RW_DEFAULT_MEM_LIMIT;
  h->pool = rw_pool_new();
  h->L = h->pool ? lua_newstate(rw_lua_alloc, h) : NULL;
  if (!h->L) {
    snprintf(err, errlen, "cannot create a Lua state");
    rw_pool_free(h->pool);
    free(h);
    return NULL;
  }
  /* the host pointer lives in the extra space of the main thread (copied to every coroutine) */
  *(rw_host **)lua_getextraspace(h->L) = h;
  /* incremental GC with a pause of 150 (Lua's default is 200): a daemon that decodes large
     answers peaks far lower (10,000 watched runs: 115 -> 39 MB with the tick streamed by page)
     for no measurable CPU cost */
  lua_gc(h->L, LUA_GCINC, 150, 100, 0);
  luaL_openlibs(h->L);
  sanitize_paths(h->L, app ? app->opt->lib_dir : NULL);
  preload_c_modules(h->L);
  lua_sethook(h->L, budget_hook, LUA_MASKCOUNT, HOOK_COUNT);
  return h;
}

/* Loads the prelude (which defines the globals scripts use) and then every script and -e chunk,
   each with its own _ENV, through runwatch.task's loader so the top level runs as a job. */
static int host_load(rw_host *h);
int rw_host_load(rw_host *h) {
  int r;
  h->loading = 1;
  h->load_signals = rw_app_stop_signals();
  r = host_load(h);
  h->loading = 0;
  if (h->load_interrupted) {
    rw_log(RW_LOG_WARN, "loading stopped by signal %d", rw_app_last_stop_signal());
    h->load_failed = 1;
    return -1;
  }
  return r;
}

static int host_load(rw_host *h) {
  lua_State *L = h->L;
  rw_options *o = h->app->opt;
  int i, st, top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "runwatch.prelude");
  if (rw_host_pcall(L, 1, 1) != LUA_OK) {
    h->load_failed = 1;
    lua_settop(L, top);
    return -1;
  }
  /* prelude returns a table with load_script(path|nil, code|nil, mode) -> ok, err */
  for (i = 0; i < o->nscripts + o->ncode; i++) {
    lua_getfield(L, -1, "load_script");
    if (i < o->nscripts) {
      lua_pushstring(L, o->scripts[i]);
      lua_pushnil(L);
    } else {
      lua_pushnil(L);
      lua_pushstring(L, o->code[i - o->nscripts]);
    }
    st = rw_host_pcall(L, 2, 2);
    if (h->load_interrupted) {
      lua_settop(L, top);
      return -1;
    }
    if (st != LUA_OK || !lua_toboolean(L, -2)) {
      if (st == LUA_OK) rw_log(RW_LOG_ERROR, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "load failed");
      h->load_failed = 1;
      lua_settop(L, top);
      return -1;
    }
    lua_pop(L, 2);
  }
  lua_getfield(L, -1, "start");
  st = rw_host_pcall(L, 0, 0);
  lua_settop(L, top);
  if (st != LUA_OK) {
    h->load_failed = 1;
    return -1;
  }
  return 0;
}

void rw_host_free(rw_host *h) {
  if (!h) return;
  h->closing = 1;
  if (h->L) lua_close(h->L);   /* runs every __gc: timers stop, requests leave the multi */
  rw_pool_free(h->pool);       /* the small blocks' chunks (lua_close gave every block back) */
  free(h);
}

rw_host *rw_host_of(lua_State *L) {
  return *(rw_host **)lua_getextraspace(L);
}

rw_app *rw_app_of(lua_State *L) {
  rw_host *h = rw_host_of(L);
  return h ? h->app : NULL;
}
