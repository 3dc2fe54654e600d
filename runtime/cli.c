/* The command line: runs the library's one option parser (scripts/lib/runwatch/cli/parse.lua,
   over the table in cli/spec.lua) in a small Lua state of its own before the app starts, prints
   help and usage errors, and copies the global options into rw_options. The state stays open
   until rw_cli_free: the option strings point into it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "rw.h"
#include "log.h"

/* runs require("runwatch.cli.entry").run(argv, version); leaves the result on the stack */
static int run_parser(lua_State *L, int argc, char **argv) {
  int i;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "runwatch.cli.entry");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return -1;
  lua_getfield(L, -1, "run");
  lua_remove(L, -2);
  lua_createtable(L, argc > 0 ? argc - 1 : 0, 0);
  for (i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_pushliteral(L, RW_VERSION);
  return lua_pcall(L, 2, 1, 0) == LUA_OK ? 0 : -1;
}

static const char *field_str(lua_State *L, int t, const char *k) {
  const char *v;
  lua_getfield(L, t, k);
  v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);   /* the string stays alive: the result table holds it */
  return v;
}

static int field_bool(lua_State *L, int t, const char *k) {
  int v;
  lua_getfield(L, t, k);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int field_num(lua_State *L, int t, const char *k, double *out) {
  int ok;
  lua_getfield(L, t, k);
  ok = lua_type(L, -1) == LUA_TNUMBER;
  if (ok) *out = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return ok;
}

/* the strings of list t.k into a NULL-terminated array; returns its length */
static int field_list(lua_State *L, int t, const char *k, const char **arr) {
  int n = 0, i, len;
  lua_getfield(L, t, k);
  if (lua_istable(L, -1)) {
    len = (int)lua_rawlen(L, -1);
    for (i = 1; i <= len; i++) {
      lua_rawgeti(L, -1, i);
      if (lua_type(L, -1) == LUA_TSTRING) arr[n++] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  arr[n] = NULL;
  return n;
}

int rw_cli_parse(rw_cli *cli, int argc, char **argv, rw_options *opt) {
  lua_State *L;
  const char *s, *lib_dir = NULL;
  int res, g, pass;
  double num;
  memset(cli, 0, sizeof *cli);
  cli->scripts = calloc((size_t)argc + 1, sizeof *cli->scripts);
  cli->code = calloc((size_t)argc + 1, sizeof *cli->code);
  if (!cli->scripts || !cli->code) return 2;
  /* parsed with the built-in library; again with --lib-dir's when one is given, so that a
     library under development parses its own command line */
  for (pass = 0; pass < 2; pass++) {
    char *dir = lib_dir ? strdup(lib_dir) : NULL;
    if (cli->L) lua_close(cli->L);
    cli->L = L = rw_lua_bare(dir);
    free(dir);
    if (!L || run_parser(L, argc, argv) != 0) {
      fprintf(stderr, "runwatch: cannot parse the command line: %s\n", L ? lua_tostring(L, -1) : "no memory");
      return 2;
    }
    res = lua_gettop(L);
    if (pass > 0 || !lua_istable(L, res)) break;
    lua_getfield(L, res, "global");
    lib_dir = lua_istable(L, -1) ? field_str(L, lua_gettop(L), "lib_dir") : NULL;
    lua_pop(L, 1);
    if (!lib_dir) break;
  }
  res = lua_gettop(L);
  if (!lua_istable(L, res)) {
    fputs("runwatch: cannot parse the command line\n", stderr);
    return 2;
  }
  if ((s = field_str(L, res, "print")) != NULL) {
    fputs(s, stdout);
    return 0;
  }
  if ((s = field_str(L, res, "error")) != NULL) {
    fputs(s, stderr);
    return 2;
  }
  if (field_bool(L, res, "version")) {
    char err[600];
    /* the one place outside a transfer that loads libcurl: to say which one a transfer gets */
    printf("runwatch %s (%s, %s)\n", RW_VERSION, LUA_RELEASE,
           rw_curl_load(err, sizeof err) == 0 ? curl_version() : err);
    return 0;
  }
  lua_getfield(L, res, "cmd");
  s = field_str(L, lua_gettop(L), "mode");
  if (s == NULL) {
    opt->mode = RW_MODE_ONCE;
    opt->command = field_str(L, res, "command");   /* a Lua command: the prelude runs it */
  } else {
    opt->mode = strcmp(s, "run") == 0 ? RW_MODE_RUN : strcmp(s, "check") == 0 ? RW_MODE_CHECK : RW_MODE_ONCE;
    opt->nscripts = field_list(L, res, "args", cli->scripts);
  }
  lua_pop(L, 1);
  opt->scripts = cli->scripts;
  opt->code = cli->code;
  opt->argc = argc;
  opt->argv = argv;
  lua_getfield(L, res, "global");
  g = lua_gettop(L);
  opt->ncode = field_list(L, g, "code", cli->code);
  opt->dry_run = field_bool(L, g, "dry_run");
  opt->insecure = field_bool(L, g, "insecure");
  opt->state_path = field_str(L, g, "state");
  opt->local_dir = field_str(L, g, "local_dir");
  opt->lib_dir = field_str(L, g, "lib_dir");
  if (field_num(L, g, "cpu_budget", &num)) opt->cpu_budget = num;
  if (field_num(L, g, "mem_limit", &num)) opt->mem_limit = (size_t)(num * 1024 * 1024);
  if (field_num(L, g, "stop_grace", &num)) opt->stop_grace = num;
  /* the parser checked the names against the same list (a test keeps the two in step) */
  if ((s = field_str(L, g, "log_level")) != NULL && rw_log_set_level(s) != 0) {
    fprintf(stderr, "runwatch: unknown log level '%s'\n", s);
    return 2;
  }
  if ((s = field_str(L, g, "log_format")) != NULL && rw_log_set_format(s) != 0) {
    fprintf(stderr, "runwatch: unknown log format '%s'\n", s);
    return 2;
  }
  lua_settop(L, res);   /* the result stays on the stack: it anchors every string above */
  return -1;
}

void rw_cli_free(rw_cli *cli) {
  if (cli->L) lua_close(cli->L);
  free(cli->scripts);
  free(cli->code);
  memset(cli, 0, sizeof *cli);
}
