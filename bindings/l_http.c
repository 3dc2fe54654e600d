/* Module runwatch.http.raw: runwatch.Request, a full userdata around one libcurl transfer.
   request(opts, callback) starts it; the callback runs later, from the loop, with a result
   table or nil, message, code. */
#include <string.h>
#include <stdlib.h>
#include <ctype.h>
#include <lauxlib.h>
#include "rw.h"
#include "http.h"
#include "bindings.h"

#define RW_REQUEST "runwatch.Request"

typedef struct LRequest {
  rw_http_req *req;   /* NULL once finished or closed (liolib's closef == NULL) */
  rw_host *h;
  int ref;            /* registry anchor while in flight */
  int state;          /* 0 new, 1 in flight, 2 done, 3 closed */
} LRequest;

static const char *const state_names[] = {"new", "in flight", "done", "closed"};

/* scheme://host[:port] of a URL, for error messages: paths and queries can hold secrets
   (a Slack webhook's path is its token). */
static void push_origin(lua_State *L, const char *url) {
  const char *p = strstr(url, "://");
  const char *e;
  if (!p) { lua_pushliteral(L, "?"); return; }
  e = p + 3;
  while (*e && *e != '/' && *e != '?' && *e != '#') e++;
  {
    const char *at = memchr(p + 3, '@', (size_t)(e - (p + 3)));   /* drop user:password@ */
    if (at) {
      lua_pushlstring(L, url, (size_t)(p + 3 - url));
      lua_pushlstring(L, at + 1, (size_t)(e - at - 1));
      lua_concat(L, 2);
      return;
    }
  }
  lua_pushlstring(L, url, (size_t)(e - url));
}

static void release(lua_State *L, LRequest *r) {
  if (r->req) {
    rw_http_free(r->req);
    r->req = NULL;
  }
  if (r->ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, r->ref);
    r->ref = LUA_NOREF;
    r->h->pending--;
  }
}

/* Parse the raw header block into {lowercase-name = value}; repeated names are joined with
   ", " (set-cookie with "\n"). [-0, +1, m] */
static void push_headers(lua_State *L, const char *raw, size_t len) {
  const char *p = raw, *end = raw + len;
  lua_newtable(L);
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *colon, *v, *ve;
    if (!eol) eol = end;
    colon = memchr(p, ':', (size_t)(eol - p));
    if (colon && colon > p && !(eol - p >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
      luaL_Buffer b;
      const char *k;
      v = colon + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      luaL_buffinit(L, &b);
      for (k = p; k < colon; k++) luaL_addchar(&b, (char)tolower((unsigned char)*k));
      luaL_pushresult(&b);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) == LUA_TSTRING) {
        lua_pushstring(L, strcmp(lua_tostring(L, -2), "set-cookie") == 0 ? "\n" : ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, -3);
    }
    p = eol + 1;
  }
}

/* Completion from http.c's drain loop (never inside a libcurl callback). */
static void request_done(rw_http_req *req, void *ud) {
  LRequest *r = ud;
  lua_State *L = r->h->L;
  int top = lua_gettop(L), nargs;
  char err[CURL_ERROR_SIZE + 128];
  const char *msg;
  if (r->h->closing) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);     /* the userdata, kept on the stack */
  lua_getiuservalue(L, -1, 1);                    /* callback */
  lua_getiuservalue(L, -2, 2);                    /* url, for the error message */
  msg = rw_http_error(req, err, sizeof err);
  if (msg) {
    lua_pushnil(L);
    push_origin(L, lua_tostring(L, -2));
    lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), msg);
    lua_remove(L, -2);
    lua_pushinteger(L, (req->too_big || req->result == CURLE_FILESIZE_EXCEEDED) ? -1 : (lua_Integer)req->result);
    lua_remove(L, -4);                            /* drop the url */
    nargs = 3;
  } else {
    double total = 0;
    char *eff = NULL;
    lua_pop(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, rw_http_status(req));
    lua_setfield(L, -2, "status");
    push_headers(L, req->hdrs ? req->hdrs : "", req->hlen);
    lua_setfield(L, -2, "headers");
    if (req->to_file) {
      lua_pushinteger(L, (lua_Integer)req->len);
      lua_setfield(L, -2, "size");
    } else {
      lua_pushlstring(L, req->body ? req->body : "", req->len);
      lua_setfield(L, -2, "body");
    }
    curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME, &total);
    lua_pushnumber(L, total);
    lua_setfield(L, -2, "time");
    curl_easy_getinfo(req->easy, CURLINFO_EFFECTIVE_URL, &eff);
    if (eff) { lua_pushstring(L, eff); lua_setfield(L, -2, "url"); }
    nargs = 1;
  }
  r->state = 2;
  release(L, r);                                   /* C resources go now, not at GC */
  rw_host_pcall(L, nargs, 0);
  lua_settop(L, top);
}

static struct curl_slist *add_header(lua_State *L, struct curl_slist *list, const char *line) {
  struct curl_slist *n;
  if (strpbrk(line, "\r\n")) {
    curl_slist_free_all(list);
    luaL_error(L, "bad field 'headers' (a header contains a line break)");
  }
  n = curl_slist_append(list, line);
  if (!n) {
    curl_slist_free_all(list);
    luaL_error(L, "out of memory");
  }
  return n;
}

/* request(opts, callback) -> Request [-0, +1, e]
   opts: method, url, headers ({name = value} or {"Name: value"}), body (string), timeout,
   connect_timeout, max_size, output (file path), follow (boolean). */
static int http_request(lua_State *L) {
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
  rw_http_opts o;
  LRequest *r;
  struct curl_slist *headers = NULL;
  char err[256];
  const char *method;
  int i;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  {
    /* the first transfer of the process loads libcurl (runtime/curl_lazy.c) */
    char lerr[600];
    if (rw_http_ensure(rw_host_of(L)->app, lerr, sizeof lerr) != 0) return luaL_error(L, "%s", lerr);
  }
  r = lua_newuserdatauv(L, sizeof *r, 2);          /* 3 */
  r->req = NULL;
  r->h = rw_host_of(L);
  r->ref = LUA_NOREF;
  r->state = 0;
  luaL_setmetatable(L, RW_REQUEST);                 /* metatable first: a raise leaves it valid */
  r->h->live++;
  memset(&o, 0, sizeof o);
  method = rw_opt_string(L, 1, "method", "GET");
  for (i = 0; methods[i] && strcmp(methods[i], method) != 0; i++) {}
  if (!methods[i]) return luaL_error(L, "bad field 'method' (unknown method '%s')", method);
  o.method = methods[i];
  o.url = rw_opt_string(L, 1, "url", NULL);
  if (!o.url) return luaL_error(L, "bad field 'url' (string expected, got nil)");
  if (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0)
    return luaL_error(L, "bad field 'url' (http:// or https:// expected)");
  o.timeout = rw_opt_number(L, 1, "timeout", RW_DEFAULT_TIMEOUT);
  o.connect_timeout = rw_opt_number(L, 1, "connect_timeout", RW_DEFAULT_CONNECT_TIMEOUT);
  if (o.timeout < 0 || o.connect_timeout < 0) return luaL_error(L, "bad field 'timeout' (negative)");
  {
    lua_Integer ms = rw_opt_integer(L, 1, "max_size", (lua_Integer)RW_DEFAULT_MAX_BODY);
    if (ms <= 0) return luaL_error(L, "bad field 'max_size' (a positive number of bytes expected)");
    o.max_size = (size_t)ms;
  }
  o.output = rw_opt_string(L, 1, "output", NULL);
  o.follow = rw_opt_boolean(L, 1, "follow", 0);
  o.insecure = rw_opt_boolean(L, 1, "insecure", 0) && r->h->app->opt->insecure;
  lua_getfield(L, 1, "body");
  if (lua_type(L, -1) == LUA_TSTRING) {
    o.body = lua_tolstring(L, -1, &o.body_len);     /* stays on the stack until copied */
    o.has_body = 1;
  } else if (!lua_isnil(L, -1)) {
    return luaL_error(L, "bad field 'body' (string expected, got %s)", luaL_typename(L, -1));
  }
  /* headers last: from here the list is freed on any raise */
  if (lua_getfield(L, 1, "headers") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
          curl_slist_free_all(headers);
          return luaL_error(L, "bad field 'headers' (value of '%s' is not a string)", lua_tostring(L, -2));
        }
        lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
      } else if (lua_type(L, -1) == LUA_TSTRING) {
        lua_pushvalue(L, -1);
      } else {
        curl_slist_free_all(headers);
        return luaL_error(L, "bad field 'headers' (strings expected)");
      }
      headers = add_header(L, headers, lua_tostring(L, -1));
      lua_pop(L, 2);
    }
  } else if (!lua_isnil(L, -1)) {
    return luaL_error(L, "bad field 'headers' (table expected, got %s)", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  o.headers = headers;
  r->req = rw_http_new(r->h->app, request_done, r);
  if (!r->req) {
    curl_slist_free_all(headers);
    return luaL_error(L, "cannot create a transfer");
  }
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 3, 1);
  lua_pushstring(L, o.url);
  lua_setiuservalue(L, 3, 2);
  if (rw_http_start(r->req, &o, err, sizeof err) != 0) {
    /* the world refused before the transfer began: report through the callback, later */
    rw_http_free(r->req);
    r->req = NULL;
    return luaL_error(L, "%s", err);
  }
  r->state = 1;
  lua_pushvalue(L, 3);
  r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  r->h->pending++;
  lua_settop(L, 3);
  return 1;
}

static LRequest *check_request(lua_State *L) {
  return luaL_checkudata(L, 1, RW_REQUEST);
}

/* The one idempotent close (cancel, close, __gc, __close): the callback is not called. */
static int req_close(lua_State *L) {
  LRequest *r = check_request(L);
  if (r->state == 3) return 0;
  if (r->h->closing) {
    if (r->req) rw_http_free(r->req);
    r->req = NULL;
  } else {
    release(L, r);
  }
  r->state = 3;
  r->h->live--;
  return 0;
}

static int req_is_done(lua_State *L) {
  LRequest *r = check_request(L);
  lua_pushboolean(L, r->state >= 2);
  return 1;
}

static int req_tostring(lua_State *L) {
  LRequest *r = check_request(L);
  lua_getiuservalue(L, 1, 2);
  push_origin(L, lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
  lua_pushfstring(L, "runwatch.Request (%s | %s)", lua_tostring(L, -1), state_names[r->state]);
  return 1;
}

static const luaL_Reg req_methods[] = {
  {"cancel", req_close},
  {"close", req_close},
  {"is_done", req_is_done},
  {NULL, NULL}
};

static const luaL_Reg req_metamethods[] = {
  {"__gc", req_close},
  {"__close", req_close},
  {"__tostring", req_tostring},
  {"__index", NULL},
  {NULL, NULL}
};

static const luaL_Reg http_funcs[] = {
  {"request", http_request},
  {NULL, NULL}
};

int luaopen_runwatch_http_raw(lua_State *L) {
  luaL_newmetatable(L, RW_REQUEST);
  luaL_setfuncs(L, req_metamethods, 0);
  luaL_newlib(L, req_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, http_funcs);
  return 1;
}
