/* Module runwatch.fswatch: runwatch.FsWatch, a userdata around libev's ev_stat (inotify on Linux), and the small file-system facts the local backend needs (stat, dir, pid_alive, hostname, username, mkdir). */
#include <errno.h>
#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <lauxlib.h>
#include "rw.h"
#include "bindings.h"

#define RW_FSWATCH "runwatch.FsWatch"

typedef struct LFsWatch {
  ev_stat w;
  rw_host *h;
  int ref;          /* registry anchor while active, else LUA_NOREF */
  int closed;
  int daemon;       /* an active daemon watch does not keep the process alive */
  double interval;
} LFsWatch;
/* uservalue 1: the callback; uservalue 2: the path string (ev_stat keeps a pointer to it) */

static LFsWatch *check_watch(lua_State *L, int idx) {
  LFsWatch *f = luaL_checkudata(L, idx, RW_FSWATCH);
  if (f->closed) luaL_error(L, "attempt to use a closed file watch");
  return f;
}

/* As in l_timer.c: the anchor keeps the userdata alive while libev holds a pointer to it. */
static void anchor(lua_State *L, LFsWatch *f, int idx) {
  if (f->ref != LUA_NOREF) return;
  lua_pushvalue(L, idx);
  f->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (!f->daemon) f->h->pending++;
}

static void unanchor(lua_State *L, LFsWatch *f) {
  if (f->ref == LUA_NOREF) return;
  luaL_unref(L, LUA_REGISTRYINDEX, f->ref);
  f->ref = LUA_NOREF;
  if (!f->daemon) f->h->pending--;
}

static const char *type_name(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "link";
  return "other";
}

static double mtime_of(const struct stat *st) {
  return (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9;
}

/* {exists=, type=, size=, mtime=} of libev's stat data (nlink 0 = the path does not exist).
   [-0, +1, m] */
static void push_statdata(lua_State *L, const ev_statdata *st) {
  lua_createtable(L, 0, 4);
  lua_pushboolean(L, st->st_nlink != 0);
  lua_setfield(L, -2, "exists");
  if (st->st_nlink == 0) return;
  lua_pushstring(L, type_name(st->st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st->st_size);
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, mtime_of(st));
  lua_setfield(L, -2, "mtime");
}

static void stat_cb(struct ev_loop *loop, ev_stat *w, int revents) {
  LFsWatch *f = w->data;
  lua_State *L = f->h->L;
  int top = lua_gettop(L);
  (void)loop; (void)revents;
  if (f->h->closing || f->ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, -2);
  push_statdata(L, &w->attr);
  push_statdata(L, &w->prev);
  rw_host_pcall(L, 3, 0);
  lua_settop(L, top);
}

/* fswatch.new(path, callback [, {interval = secs, daemon = bool}]) -> FsWatch (not started).
   callback(watch, now, before) runs when the path's stat data changes (size, mtime, created,
   removed, ...); now/before are {exists=, type=, size=, mtime=}. interval 0 lets libev choose
   (with inotify on a local file system changes arrive at once; elsewhere it polls). */
static int fsw_new(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  LFsWatch *f;
  double interval = 0;
  int daemon = 0;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_argcheck(L, path[0] != '\0', 1, "empty path");
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    interval = rw_opt_number(L, 3, "interval", 0);
    daemon = rw_opt_boolean(L, 3, "daemon", 0);
    luaL_argcheck(L, interval >= 0 && interval == interval && interval < 1e9, 3,
                  "interval must be a non-negative number of seconds");
  }
  f = lua_newuserdatauv(L, sizeof *f, 2);
  memset(f, 0, sizeof *f);            /* ev_stat keeps fields ev_stat_init does not set */
  f->h = rw_host_of(L);
  f->ref = LUA_NOREF;
  f->closed = 0;
  f->daemon = daemon;
  f->interval = interval;
  luaL_setmetatable(L, RW_FSWATCH);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 2);     /* the anchored string keeps path valid for ev_stat */
  ev_stat_init(&f->w, stat_cb, path, interval);
  f->w.data = f;
  f->h->live++;
  return 1;
}

static int w_start(lua_State *L) {
  LFsWatch *f = check_watch(L, 1);
  if (!ev_is_active(&f->w)) {
    ev_stat_start(f->h->app->loop, &f->w);
    anchor(L, f, 1);
  }
  lua_settop(L, 1);
  return 1;
}

static void stop_watch(lua_State *L, LFsWatch *f) {
  ev_stat_stop(f->h->app->loop, &f->w);
  unanchor(L, f);
}

static int w_stop(lua_State *L) {
  LFsWatch *f = check_watch(L, 1);
  stop_watch(L, f);
  lua_settop(L, 1);
  return 1;
}

static int w_is_active(lua_State *L) {
  LFsWatch *f = check_watch(L, 1);
  lua_pushboolean(L, ev_is_active(&f->w));
  return 1;
}

static int w_path(lua_State *L) {
  luaL_checkudata(L, 1, RW_FSWATCH);
  lua_getiuservalue(L, 1, 2);
  return 1;
}

/* w:stat() -> {exists=, ...}: what libev saw last (refreshed by ev_stat_stat) */
static int w_stat(lua_State *L) {
  LFsWatch *f = check_watch(L, 1);
  ev_stat_stat(f->h->app->loop, &f->w);
  push_statdata(L, &f->w.attr);
  return 1;
}

/* The one idempotent close: __gc, __close and :close() */
static int w_close(lua_State *L) {
  LFsWatch *f = luaL_checkudata(L, 1, RW_FSWATCH);
  if (f->closed) return 0;
  f->closed = 1;
  if (!f->h->closing) stop_watch(L, f);
  else ev_stat_stop(f->h->app->loop, &f->w);
  f->h->live--;
  return 0;
}

static int w_tostring(lua_State *L) {
  LFsWatch *f = luaL_checkudata(L, 1, RW_FSWATCH);
  lua_getiuservalue(L, 1, 2);
  lua_pushfstring(L, RW_FSWATCH " (%s | %s)", lua_tostring(L, -1),
                  f->closed ? "closed" : ev_is_active(&f->w) ? "active" : "stopped");
  return 1;
}

/* {====== File-system facts */

/* fswatch.stat(path [, follow = true]) -> {type=, size=, mtime=, uid=} | nil, err */
static int fs_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int follow = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  struct stat st;
  if ((follow ? stat(path, &st) : lstat(path, &st)) != 0) return luaL_fileresult(L, 0, path);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, type_name(st.st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, mtime_of(&st));
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)st.st_uid);
  lua_setfield(L, -2, "uid");
  return 1;
}

/* fswatch.username(uid) -> the user's name, or nil when the id has none */
static int fs_username(lua_State *L) {
  lua_Integer uid = luaL_checkinteger(L, 1);
  struct passwd pw, *res = NULL;
  char buf[2048];
  luaL_argcheck(L, uid >= 0 && uid <= 0xffffffffLL, 1, "a user id expected");
  if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name) {
    lua_pushstring(L, res->pw_name);
    return 1;
  }
  luaL_pushfail(L);
  return 1;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A DIR* in a userdata, so that a memory error while listing cannot leak it. */
#define RW_DIRBOX "runwatch.fswatch.dir"
static int dirbox_gc(lua_State *L) {
  DIR **d = luaL_checkudata(L, 1, RW_DIRBOX);
  if (*d) { closedir(*d); *d = NULL; }
  return 0;
}

/* fswatch.dir(path) -> sorted list of entry names (no "." or "..") | nil, err */
static int fs_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR **d;
  struct dirent *e;
  const char **names;
  int i, n = 0;
  lua_settop(L, 1);
  d = lua_newuserdatauv(L, sizeof *d, 0);             /* 2 */
  *d = NULL;
  if (luaL_newmetatable(L, RW_DIRBOX)) {
    lua_pushcfunction(L, dirbox_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  *d = opendir(path);
  if (!*d) return luaL_fileresult(L, 0, path);
  lua_newtable(L);                                     /* 3: names in readdir order */
  while ((e = readdir(*d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, 3, ++n);
  }
  closedir(*d);
  *d = NULL;
  /* sort in C (strcmp order, whatever the locale); the buffer is a userdata too */
  names = lua_newuserdatauv(L, sizeof *names * (size_t)(n ? n : 1), 0);   /* 4 */
  for (i = 1; i <= n; i++) { lua_rawgeti(L, 3, i); names[i - 1] = lua_tostring(L, -1); lua_pop(L, 1); }
  qsort(names, (size_t)n, sizeof *names, cmp_names);
  lua_createtable(L, n, 0);                            /* 5 */
  for (i = 0; i < n; i++) { lua_pushstring(L, names[i]); lua_rawseti(L, 5, i + 1); }
  return 1;
}

/* fswatch.pid_alive(pid) -> true when a process with that id exists on this host
   (kill(pid, 0); EPERM counts as alive), false when not */
static int fs_pid_alive(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 0 && pid <= 0x7fffffff, 1, "a positive process id expected");
  if (kill((pid_t)pid, 0) == 0) lua_pushboolean(L, 1);
  else lua_pushboolean(L, errno == EPERM);
  return 1;
}

/* fswatch.hostname() -> this host's name */
static int fs_hostname(lua_State *L) {
  char buf[256];
  if (gethostname(buf, sizeof buf) != 0) return luaL_fileresult(L, 0, "gethostname");
  buf[sizeof buf - 1] = '\0';
  lua_pushstring(L, buf);
  return 1;
}

/* fswatch.mkdir(path) -> true | nil, err (an existing directory is fine; parents are not made) */
static int fs_mkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (mkdir(path, 0777) == 0) { lua_pushboolean(L, 1); return 1; }
  if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { lua_pushboolean(L, 1); return 1; }
  return luaL_fileresult(L, 0, path);
}

/* }====== */

static const luaL_Reg watch_methods[] = {
  {"start", w_start},
  {"stop", w_stop},
  {"is_active", w_is_active},
  {"path", w_path},
  {"stat", w_stat},
  {"close", w_close},
  {NULL, NULL}
};

static const luaL_Reg watch_metamethods[] = {
  {"__gc", w_close},
  {"__close", w_close},
  {"__tostring", w_tostring},
  {"__index", NULL},
  {NULL, NULL}
};

static const luaL_Reg fswatch_funcs[] = {
  {"new", fsw_new},
  {"stat", fs_stat},
  {"dir", fs_dir},
  {"pid_alive", fs_pid_alive},
  {"hostname", fs_hostname},
  {"username", fs_username},
  {"mkdir", fs_mkdir},
  {NULL, NULL}
};

int luaopen_runwatch_fswatch(lua_State *L) {
  luaL_newmetatable(L, RW_FSWATCH);
  luaL_setfuncs(L, watch_metamethods, 0);
  luaL_newlib(L, watch_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, fswatch_funcs);
  return 1;
}
