/* Module runwatch.timer: runwatch.Timer, a full userdata around an ev_timer. The callback lives
   in the user value; the timer is anchored in the registry while active. */
#include <lauxlib.h>
#include "rw.h"
#include "bindings.h"

#define RW_TIMER "runwatch.Timer"

typedef struct LTimer {
  ev_timer w;
  rw_host *h;
  int ref;          /* registry anchor while active, else LUA_NOREF */
  int closed;
  int daemon;       /* an active daemon timer does not keep the process alive */
  double after, repeat;
} LTimer;

static LTimer *check_timer(lua_State *L, int idx) {
  LTimer *t = luaL_checkudata(L, idx, RW_TIMER);
  if (t->closed) luaL_error(L, "attempt to use a closed timer");
  return t;
}

/* Anchor/unanchor keep the userdata alive while libev holds a pointer to it, and keep the
   host's pending count (what keeps `once` and the daemon running). */
static void anchor(lua_State *L, LTimer *t, int idx) {
  if (t->ref != LUA_NOREF) return;
  lua_pushvalue(L, idx);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (!t->daemon) t->h->pending++;
}

static void unanchor(lua_State *L, LTimer *t) {
  if (t->ref == LUA_NOREF) return;
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
  if (!t->daemon) t->h->pending--;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  LTimer *t = w->data;
  lua_State *L = t->h->L;
  int top = lua_gettop(L);
  (void)loop; (void)revents;
  if (t->h->closing) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);   /* keep it on the stack while unanchored */
  if (!ev_is_active(w)) unanchor(L, t);         /* one-shot: done unless the callback re-arms */
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, -2);
  rw_host_pcall(L, 1, 0);
  lua_settop(L, top);
}

static void stop_timer(lua_State *L, LTimer *t) {
  ev_timer_stop(t->h->app->loop, &t->w);
  unanchor(L, t);
}

/* timer.new(after, repeat, callback [, {daemon = bool}]) -> Timer (not started) [-0, +1, e] */
static int timer_new(lua_State *L) {
  double after = luaL_checknumber(L, 1);
  double repeat = luaL_optnumber(L, 2, 0);
  LTimer *t;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  luaL_argcheck(L, after >= 0 && after == after, 1, "must be a non-negative number");
  luaL_argcheck(L, repeat >= 0 && repeat == repeat, 2, "must be a non-negative number");
  t = lua_newuserdatauv(L, sizeof *t, 1);
  t->h = rw_host_of(L);
  t->ref = LUA_NOREF;
  t->closed = 0;
  t->daemon = 0;
  t->after = after;
  t->repeat = repeat;
  luaL_setmetatable(L, RW_TIMER);
  if (!lua_isnoneornil(L, 4)) t->daemon = rw_opt_boolean(L, 4, "daemon", 0);
  ev_timer_init(&t->w, timer_cb, after, repeat);
  t->w.data = t;
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, -2, 1);
  t->h->live++;
  return 1;
}

/* t:start() -- arms the timer with its after/repeat (relative to a fresh clock reading) */
static int t_start(lua_State *L) {
  LTimer *t = check_timer(L, 1);
  struct ev_loop *loop = t->h->app->loop;
  if (!ev_is_active(&t->w)) {
    ev_now_update(loop);
    ev_timer_set(&t->w, t->after, t->repeat);
    ev_timer_start(loop, &t->w);
    anchor(L, t, 1);
  }
  lua_settop(L, 1);
  return 1;
}

/* t:stop() */
static int t_stop(lua_State *L) {
  LTimer *t = check_timer(L, 1);
  stop_timer(L, t);
  lua_settop(L, 1);
  return 1;
}

/* t:again([after [, repeat]]) -- (re)arm from now with new values */
static int t_again(lua_State *L) {
  LTimer *t = check_timer(L, 1);
  struct ev_loop *loop = t->h->app->loop;
  if (!lua_isnoneornil(L, 2)) {
    t->after = luaL_checknumber(L, 2);
    luaL_argcheck(L, t->after >= 0, 2, "must be a non-negative number");
  }
  if (!lua_isnoneornil(L, 3)) {
    t->repeat = luaL_checknumber(L, 3);
    luaL_argcheck(L, t->repeat >= 0, 3, "must be a non-negative number");
  }
  ev_timer_stop(loop, &t->w);
  ev_now_update(loop);
  ev_timer_set(&t->w, t->after, t->repeat);
  ev_timer_start(loop, &t->w);
  anchor(L, t, 1);
  lua_settop(L, 1);
  return 1;
}

static int t_is_active(lua_State *L) {
  LTimer *t = check_timer(L, 1);
  lua_pushboolean(L, ev_is_active(&t->w));
  return 1;
}

/* t:remaining() -> seconds until it fires (0 when inactive) */
static int t_remaining(lua_State *L) {
  LTimer *t = check_timer(L, 1);
  lua_pushnumber(L, ev_is_active(&t->w) ? ev_timer_remaining(t->h->app->loop, &t->w) : 0.0);
  return 1;
}

/* The one idempotent close: __gc, __close and :close() */
static int t_close(lua_State *L) {
  LTimer *t = luaL_checkudata(L, 1, RW_TIMER);
  if (t->closed) return 0;
  t->closed = 1;
  if (!t->h->closing) stop_timer(L, t);
  else ev_timer_stop(t->h->app->loop, &t->w);
  t->h->live--;
  return 0;
}

static int t_tostring(lua_State *L) {
  LTimer *t = luaL_checkudata(L, 1, RW_TIMER);
  lua_pushfstring(L, "runwatch.Timer (%f, %f | %s)", t->after, t->repeat,
                  t->closed ? "closed" : ev_is_active(&t->w) ? "active" : "stopped");
  return 1;
}

static const luaL_Reg timer_methods[] = {
  {"start", t_start},
  {"stop", t_stop},
  {"again", t_again},
  {"is_active", t_is_active},
  {"remaining", t_remaining},
  {"close", t_close},
  {NULL, NULL}
};

static const luaL_Reg timer_metamethods[] = {
  {"__gc", t_close},
  {"__close", t_close},
  {"__tostring", t_tostring},
  {"__index", NULL},
  {NULL, NULL}
};

static const luaL_Reg timer_funcs[] = {
  {"new", timer_new},
  {NULL, NULL}
};

int luaopen_runwatch_timer(lua_State *L) {
  luaL_newmetatable(L, RW_TIMER);
  luaL_setfuncs(L, timer_metamethods, 0);
  luaL_newlib(L, timer_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, timer_funcs);
  return 1;
}
