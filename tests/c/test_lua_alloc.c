/* Unit tests of runtime/lua_alloc.c, the Lua allocator: random allocate/grow/shrink/free
   sequences across the small-block classes and malloc keep every block's bytes (each block is
   filled with a pattern and checked before it changes), blocks never overlap, the byte count
   returns to zero, the memory limit refuses growth; and a whole Lua state runs on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "rw.h"

static int passed, failed;
#define CHECK(cond, ...) do { if (cond) passed++; else { failed++; \
  fprintf(stderr, "FAIL test_lua_alloc.c:%d: ", __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

#define N 2000

typedef struct { unsigned char *p; size_t n; unsigned char tag; } block;

static void fill(block *b) { for (size_t i = 0; i < b->n; i++) b->p[i] = (unsigned char)(b->tag + i); }
static int intact(const block *b, size_t upto) {
  for (size_t i = 0; i < upto && i < b->n; i++) if (b->p[i] != (unsigned char)(b->tag + i)) return 0;
  return 1;
}

static size_t rnd_size(void) {
  switch (rand() % 4) {
    case 0: return 1 + (size_t)(rand() % 64);          /* tiny: strings, closures */
    case 1: return 1 + (size_t)(rand() % 512);         /* every small class, and the edge */
    case 2: return 500 + (size_t)(rand() % 40);        /* around SMALL_MAX: both sides */
    default: return 1 + (size_t)(rand() % 20000);      /* malloc'd */
  }
}

int main(void) {
  rw_host h;
  static block b[N];
  int i, step, bad = 0;
  memset(&h, 0, sizeof h);
  h.pool = rw_pool_new();
  srand(20261205);
  for (step = 0; step < 200000; step++) {
    block *x = &b[rand() % N];
    if (!x->p) {                                       /* allocate (osize is a type tag then) */
      x->n = rnd_size();
      x->p = rw_lua_alloc(&h, NULL, LUA_TTABLE, x->n);
      x->tag = (unsigned char)rand();
      if (!x->p) { bad++; break; }
      fill(x);
    } else if (rand() % 3 == 0) {                      /* free */
      if (!intact(x, x->n)) bad++;
      CHECK(rw_lua_alloc(&h, x->p, x->n, 0) == NULL, "free returns NULL");
      x->p = NULL;
    } else {                                           /* grow or shrink: the prefix is kept */
      size_t nn = rnd_size();
      unsigned char *np = rw_lua_alloc(&h, x->p, x->n, nn);
      if (!np) { bad++; break; }
      x->p = np;
      if (!intact(x, nn < x->n ? nn : x->n)) bad++;
      x->n = nn;
      fill(x);
    }
  }
  CHECK(bad == 0, "%d blocks lost bytes (overlap or a wrong copy)", bad);
  for (i = 0; i < N; i++) {
    if (b[i].p) {
      if (!intact(&b[i], b[i].n)) bad++;
      rw_lua_alloc(&h, b[i].p, b[i].n, 0);
      b[i].p = NULL;
    }
  }
  CHECK(bad == 0, "every block intact at the end");
  CHECK(h.mem_used == 0, "the byte count returns to zero (got %zu)", h.mem_used);
  CHECK(h.mem_peak > 0, "a peak was recorded");

  /* the limit: growth past it is refused, shrinking and freeing are not */
  h.mem_limit = 1000;
  {
    void *p = rw_lua_alloc(&h, NULL, 0, 600), *q;
    CHECK(p != NULL, "600 bytes under a 1000-byte limit");
    CHECK(rw_lua_alloc(&h, NULL, 0, 600) == NULL, "600 more refused");
    q = rw_lua_alloc(&h, p, 600, 900);
    CHECK(q != NULL, "growing the block to 900 fits");
    CHECK(rw_lua_alloc(&h, q, 900, 1200) == NULL, "growing past the limit refused");
    q = rw_lua_alloc(&h, q, 900, 100);
    CHECK(q != NULL, "shrinking works");
    rw_lua_alloc(&h, q, 100, 0);
    CHECK(h.mem_used == 0, "freed");
  }
  h.mem_limit = 0;

  /* a Lua state on it: tables, strings and closures made and collected */
  {
    lua_State *L = lua_newstate(rw_lua_alloc, &h);
    const char *code =
      "local t = {} for i = 1, 200000 do t[i % 1000] = {i, tostring(i), function() return i end} end "
      "local s = {} for i = 1, 5000 do s[#s + 1] = string.rep('x', i % 700) end "
      "collectgarbage() return #table.concat(s) + #t";
    CHECK(L != NULL, "lua_newstate");
    luaL_openlibs(L);
    CHECK(luaL_dostring(L, code) == LUA_OK, "the script runs: %s", lua_tostring(L, -1));
    CHECK(lua_tointeger(L, -1) > 0, "and returns its result");
    lua_close(L);
    CHECK(h.mem_used == 0, "lua_close gives every byte back (%zu left)", h.mem_used);
  }
  rw_pool_free(h.pool);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
