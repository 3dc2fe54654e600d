/* Module runwatch.lock: runwatch.Lock, an exclusive flock(2) on a file held for the process's
   life, so one process at a time writes a state database. The lock is per process, not per Lua
   state: a SIGHUP reload builds a second Lua state in the same process, and its acquire of the
   same file shares the held lock (a count) instead of failing against its own process. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include "bindings.h"

#define RW_LOCK "runwatch.Lock"

/* One entry per lock file this process holds; shared by every Lock userdata on it. */
typedef struct held_lock {
  dev_t dev;
  ino_t ino;
  int fd;
  int refs;
  struct held_lock *next;
} held_lock;

static held_lock *held = NULL;

typedef struct LLock {
  held_lock *h;     /* NULL once closed */
} LLock;

static void release(held_lock *h) {
  held_lock **p;
  if (--h->refs > 0) return;
  for (p = &held; *p; p = &(*p)->next)
    if (*p == h) { *p = h->next; break; }
  close(h->fd);     /* drops the flock */
  free(h);
}

/* Reads what the holder wrote into the lock file (its pid and command), at most 511 bytes. */
static void push_holder(lua_State *L, int fd) {
  char buf[512];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n < 0) n = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0')) n--;
  lua_pushlstring(L, buf, (size_t)n);
}

/* lock.acquire(path, info) -> Lock | nil, holder_info, "held" | nil, message, "error" [-0, +1..3, e] */
static int lock_acquire(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  size_t ilen;
  const char *info = luaL_optlstring(L, 2, "", &ilen);
  struct stat sb;
  held_lock *h;
  LLock *u;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot open lock file %s: %s", path, strerror(errno));
    lua_pushliteral(L, "error");
    return 3;
  }
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot stat lock file %s: %s", path, strerror(e));
    lua_pushliteral(L, "error");
    return 3;
  }
  for (h = held; h; h = h->next)
    if (h->dev == sb.st_dev && h->ino == sb.st_ino) break;
  if (h) {
    close(fd);      /* this process holds it already (a reload): share it */
    h->refs++;
  } else {
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      lua_pushnil(L);
      if (e == EWOULDBLOCK) {
        push_holder(L, fd);
        lua_pushliteral(L, "held");
      } else {
        lua_pushfstring(L, "cannot lock %s: %s", path, strerror(e));
        lua_pushliteral(L, "error");
      }
      close(fd);
      return 3;
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, info, ilen, 0) != (ssize_t)ilen) {
      /* the lock is held all the same; only the holder's description is missing */
    }
    h = malloc(sizeof *h);
    if (!h) { close(fd); return luaL_error(L, "out of memory"); }
    h->dev = sb.st_dev;
    h->ino = sb.st_ino;
    h->fd = fd;
    h->refs = 1;
    h->next = held;
    held = h;
  }
  u = lua_newuserdatauv(L, sizeof *u, 0);
  u->h = h;
  luaL_setmetatable(L, RW_LOCK);
  return 1;
}

/* lock.holder(path) -> holder_info when another process holds the lock, else nil [-0, +1, -].
   A lock this process holds counts as not held by another. */
static int lock_holder(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat sb;
  held_lock *h;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { lua_pushnil(L); return 1; }
  if (fstat(fd, &sb) == 0)
    for (h = held; h; h = h->next)
      if (h->dev == sb.st_dev && h->ino == sb.st_ino) { close(fd); lua_pushnil(L); return 1; }
  if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) push_holder(L, fd);
  else lua_pushnil(L);
  close(fd);
  return 1;
}

/* lock:close() -- idempotent; the flock is released when the last holder in the process closes */
static int lock_close(lua_State *L) {
  LLock *u = luaL_checkudata(L, 1, RW_LOCK);
  if (u->h) { release(u->h); u->h = NULL; }
  return 0;
}

static int lock_tostring(lua_State *L) {
  LLock *u = luaL_checkudata(L, 1, RW_LOCK);
  lua_pushfstring(L, "runwatch.Lock (%s)", u->h ? "held" : "closed");
  return 1;
}

static const luaL_Reg lock_methods[] = {
  {"close", lock_close},
  {NULL, NULL}
};

static const luaL_Reg lock_funcs[] = {
  {"acquire", lock_acquire},
  {"holder", lock_holder},
  {NULL, NULL}
};

int luaopen_runwatch_lock(lua_State *L) {
  if (luaL_newmetatable(L, RW_LOCK)) {
    luaL_newlib(L, lock_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lock_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, lock_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, lock_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  luaL_newlib(L, lock_funcs);
  return 1;
}
