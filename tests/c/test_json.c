/* Unit tests of bindings/l_json.c from C: out-of-memory at every allocation, stack balance, setlocale. */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "bindings.h"

static int passed, failed;

#define CHECK(cond, ...) check_((cond), __LINE__, __VA_ARGS__)

static void check_(int cond, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void check_(int cond, int line, const char *fmt, ...) {
  va_list ap;
  if (cond) { passed++; return; }
  failed++;
  fprintf(stderr, "FAIL test_json.c:%d: ", line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* An allocator that fails every allocation once `left` reaches 0 (when armed). */
struct limit { long left; int armed; };

static void *limit_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct limit *lim = (struct limit *)ud;
  (void)osize;
  if (nsize == 0) { free(ptr); return NULL; }
  if (lim->armed && nsize > osize) {
    if (lim->left <= 0) return NULL;
    lim->left--;
  }
  return realloc(ptr, nsize);
}

static const char doc[] =
  "{\"config\":{\"lr\":{\"value\":0.0003,\"desc\":null},\"layers\":{\"value\":[512,256,[]]},"
  "\"name\":{\"value\":\"r\\u00e9sum\\u00e9 \\ud83d\\ude80 esc\\\"aped\"},\"seed\":{\"value\":9007199254740993}},"
  "\"summary\":{\"loss\":NaN,\"best\":-Infinity,\"acc\":0.9123456789012345,\"_step\":12345,\"e\":{},"
  "\"long\":\"0123456789012345678901234567890123456789012345678901234567890123456789\","
  "\"many\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30]}}";

static lua_State *new_state(struct limit *lim) {
  lua_State *L = lua_newstate(limit_alloc, lim);
  luaL_openlibs(L);
  luaL_requiref(L, "runwatch.json", luaopen_runwatch_json, 0);  /* stack: [1] json */
  return L;
}

/*
** Runs json.<fn>(arg) with the n-th allocation failing, for n = 0, 1, ... until a run
** succeeds. Each run must either succeed or raise a memory error; the state is closed after
** each, so AddressSanitizer's leak check sees anything the codec forgot (its output buffer is
** malloc'd and freed by a __gc metamethod when encoding raises).
*/
static void oom_sweep(const char *fn, int (*push_arg)(lua_State *L)) {
  long n;
  int ok_seen = 0, bad = 0;
  for (n = 0; n < 100000 && !ok_seen; n++) {
    struct limit lim = {0, 0};
    lua_State *L = new_state(&lim);
    int top, rc;
    lua_getfield(L, 1, fn);
    push_arg(L);
    top = lua_gettop(L);
    lim.left = n;
    lim.armed = 1;
    rc = lua_pcall(L, 1, 1, 0);
    lim.armed = 0;
    if (rc == LUA_OK) ok_seen = 1;
    else if (rc != LUA_ERRMEM && !(lua_type(L, -1) == LUA_TSTRING && strstr(lua_tostring(L, -1), "memory"))) {
      bad++;
      fprintf(stderr, "json.%s with allocation %ld failing: rc %d, %s\n", fn, n, rc, lua_tostring(L, -1));
    }
    CHECK(lua_gettop(L) == top - 1, "stack after json.%s", fn);
    lua_close(L);
  }
  CHECK(ok_seen, "json.%s eventually succeeds", fn);
  printf("json.%s: out of memory at each of its %ld allocations handled\n", fn, n - 1);
  CHECK(bad == 0, "json.%s fails only with memory errors", fn);
}

static int push_doc(lua_State *L) {
  lua_pushstring(L, doc);
  return 1;
}

/* A decoded document, to encode. */
static int push_value(lua_State *L) {
  lua_getfield(L, 1, "decode");
  lua_pushstring(L, doc);
  lua_call(L, 1, 1);
  return 1;
}

static void test_round_trip(void) {
  struct limit lim = {0, 0};
  lua_State *L = new_state(&lim);
  const char *out;
  lua_getfield(L, 1, "encode");
  push_value(L);
  lua_createtable(L, 0, 1);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "sort_keys");
  lua_call(L, 2, 1);
  out = lua_tostring(L, -1);
  CHECK(out && strstr(out, "\"seed\":{\"value\":9007199254740993}") != NULL, "int64 kept: %s", out ? out : "-");
  CHECK(out && strstr(out, "\"layers\":{\"value\":[512,256,[]]}") != NULL, "empty array kept");
  CHECK(out && strstr(out, "\"acc\":0.9123456789012345") != NULL, "double kept");
  CHECK(out && strstr(out, "\"loss\":NaN") != NULL && strstr(out, "\"best\":-Infinity") != NULL, "NaN, -Infinity");
  CHECK(out && strstr(out, "\"e\":{}") != NULL, "empty object kept");
  CHECK(lua_gettop(L) == 2, "stack balanced: %d", lua_gettop(L));
  lua_close(L);
}

/* Decoding and encoding ignore the process locale's decimal comma. */
static void test_locale(void) {
  static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE", NULL};
  struct limit lim = {0, 0};
  lua_State *L;
  char probe[16];
  int i;
  for (i = 0; names[i]; i++)
    if (setlocale(LC_ALL, names[i])) break;
  snprintf(probe, sizeof probe, "%.1f", 1.5);
  if (!names[i] || strcmp(probe, "1,5") != 0) {
    printf("note: no comma-decimal locale installed; locale test skipped\n");
    setlocale(LC_ALL, "C");
    return;
  }
  L = new_state(&lim);
  lua_getfield(L, 1, "decode");
  lua_pushliteral(L, "[1.5, 2.5e-1, 0.1]");
  lua_call(L, 1, 1);
  lua_rawgeti(L, -1, 1);
  CHECK(lua_tonumber(L, -1) == 1.5, "decode 1.5 under %s", names[i]);
  lua_pop(L, 1);
  lua_getfield(L, 1, "encode");
  lua_insert(L, -2);
  lua_call(L, 1, 1);
  CHECK(strcmp(lua_tostring(L, -1), "[1.5,0.25,0.1]") == 0, "encode under %s: %s", names[i], lua_tostring(L, -1));
  lua_close(L);
  setlocale(LC_ALL, "C");
}

int main(void) {
  test_round_trip();
  test_locale();
  oom_sweep("decode", push_doc);
  oom_sweep("encode", push_value);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
