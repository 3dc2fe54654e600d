/* runwatch.json: a lossless JSON codec (int64 integers, round-tripping doubles, NaN/Infinity, empty arrays).
 * Over 600 lines on purpose: the decoder and the encoder (one {====== section each, ~420 and
 * ~600 lines) share the byte-class tables, the C locale and the options checker, all static. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "bindings.h"

#define JSON_DEFAULT_DEPTH 512
#define JSON_DEPTH_LIMIT 10000    /* the largest max_depth accepted: bounds C recursion */
#define JSON_BUFFER_MT "runwatch.json.Buffer"

/* Upvalues of every module function. */
#define UV_ARRAY_MT lua_upvalueindex(1)
#define UV_OBJECT_MT lua_upvalueindex(2)
#define UV_ENC_BUF lua_upvalueindex(3)   /* json.encode's buffer, kept between calls */
#define UV_ENC_SEEN lua_upvalueindex(4)  /* and its (empty) set of tables being encoded */

/* The "C" locale, so that strtod and snprintf use '.' whatever setlocale() did. */
static locale_t json_c_locale;

/* Byte classes for the string scanners, filled once by json_init_tables. */
enum { DC_PLAIN = 0, DC_QUOTE, DC_BACKSLASH, DC_NUL, DC_HIGH };
static unsigned char dec_class[256];   /* decoder: what ends a run of plain bytes */
enum { EC_PLAIN = 0, EC_ESCAPE, EC_HIGH };
static unsigned char enc_class[256];   /* encoder, raw UTF-8 output */
static unsigned char enc_class_ascii[256]; /* encoder, opts.ascii */

static void json_init_tables(void) {
  int c;
  for (c = 0; c < 256; c++) {
    dec_class[c] = c >= 0x80 ? DC_HIGH : DC_PLAIN;
    enc_class[c] = c >= 0x80 ? EC_HIGH : (c < 0x20 ? EC_ESCAPE : EC_PLAIN);
    enc_class_ascii[c] = enc_class[c];
  }
  dec_class['"'] = DC_QUOTE;
  dec_class['\\'] = DC_BACKSLASH;
  dec_class[0] = DC_NUL;
  enc_class['"'] = enc_class['\\'] = EC_ESCAPE;
  enc_class_ascii['"'] = enc_class_ascii['\\'] = enc_class_ascii[0x7f] = EC_ESCAPE;
}

/*
** Length of the UTF-8 sequence at q (1..4), or 0 if it is invalid (RFC 3629: no overlong forms,
** nothing above U+10FFFF). With wtf8, encoded surrogates (ED A0..BF xx) are accepted too and
** *surr is set. q must be followed by a NUL somewhere (every Lua string is): a NUL is never a
** continuation byte, so the checks stop there without reading past it.
*/
static int utf8_seq(const unsigned char *q, int wtf8, int *surr) {
  unsigned c = q[0], lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return (q[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED && !wtf8) hi = 0x9F;
    if (q[1] < lo || q[1] > hi || (q[2] & 0xC0) != 0x80) return 0;
    if (surr) *surr = (c == 0xED && q[1] >= 0xA0);
    return 3;
  }
  if (c < 0xF5) {
    if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (q[1] < lo || q[1] > hi || (q[2] & 0xC0) != 0x80 || (q[3] & 0xC0) != 0x80) return 0;
    return 4;
  }
  return 0;
}

/* Writes code point cp (up to U+10FFFF, surrogates included) as UTF-8; returns the length. */
static int utf8_put(char *o, unsigned long cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* strtod in the C locale. */
static double c_strtod(const char *s, char **end) {
  locale_t old = uselocale(json_c_locale);
  double v = strtod(s, end);
  uselocale(old);
  return v;
}

/* Reads an options table at index t: raises on any key not in the NULL-terminated list. */
static void check_options(lua_State *L, int t, const char *const known[]) {
  if (lua_isnoneornil(L, t)) return;
  luaL_checktype(L, t, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int i;
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, t, lua_pushfstring(L, "option names are strings, got %s", luaL_typename(L, -1)));
    for (i = 0; known[i]; i++)
      if (strcmp(lua_tostring(L, -1), known[i]) == 0) break;
    if (!known[i]) luaL_argerror(L, t, lua_pushfstring(L, "unknown option '%s'", lua_tostring(L, -1)));
  }
}

static int opt_depth(lua_State *L, int t) {
  lua_Integer d = rw_opt_integer(L, t, "max_depth", JSON_DEFAULT_DEPTH);
  if (d < 1 || d > JSON_DEPTH_LIMIT)
    luaL_argerror(L, t, lua_pushfstring(L, "max_depth must be between 1 and %d", JSON_DEPTH_LIMIT));
  return (int)d;
}

/*
** {======================================================================
** Decoder
** =======================================================================
*/

/*
** The decoder builds values directly on the Lua stack. Syntax errors are the world's failure, so
** they are not raised: every step returns 0 or -1 and the message waits in err/errpos until
** json_decode returns nil, msg. Only memory errors raise, and no C allocation is held then.
*/
typedef struct jdec {
  lua_State *L;
  const char *s;      /* the input, a Lua string pinned at stack index 1 */
  const char *end;    /* s + len; *end == '\0', which the scanners use as a sentinel */
  const char *p;      /* current position */
  int depth, max_depth;
  const char *jkey;   /* json_strings: the member name whose array holds JSON texts, or NULL */
  size_t jkeylen;
  int jnext;          /* the value being decoded is that member's */
  const char *errpos;
  char err[96];
} jdec;

static int dec_value(jdec *d);

static int dec_fail(jdec *d, const char *pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->err, sizeof d->err, fmt, ap);
  va_end(ap);
  d->errpos = pos;
  return -1;
}

/* An error for whatever byte is at p where something else was expected. */
static int dec_unexpected(jdec *d, const char *p) {
  const unsigned char *q = (const unsigned char *)p;
  int n;
  if (p >= d->end) return dec_fail(d, p, "unexpected end of input");
  if (*q > 0x20 && *q < 0x7f) return dec_fail(d, p, "unexpected character '%c'", *q);
  if (*q < 0x80) return dec_fail(d, p, "unexpected character 0x%02X", *q);
  n = utf8_seq(q, 0, NULL);
  if (n == 0) return dec_fail(d, p, "invalid UTF-8");
  return dec_fail(d, p, "unexpected character '%.*s'", n, p);
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  return p;
}

/* Matches the keyword lit at p (p[0] already matched); pushes nothing. */
static int dec_literal(jdec *d, const char *p, const char *lit, size_t n) {
  size_t i;
  for (i = 1; i < n; i++)
    if (p[i] != lit[i]) return dec_unexpected(d, p + i);  /* stops at the NUL sentinel */
  d->p = p + n;
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The 4 hex digits at q, or -1 with *bad pointing at the first non-hex byte. */
static long hex4(const char *q, const char **bad) {
  long v = 0;
  int i, h;
  for (i = 0; i < 4; i++) {
    if ((h = hexval((unsigned char)q[i])) < 0) { *bad = q + i; return -1; }
    v = (v << 4) | h;
  }
  return v;
}

/*
** The rest of a string that has escapes, from q (its first backslash) to the closing quote, added
** to the buffer b; d->p goes past the quote. A luaL_Buffer is safe here because nothing else
** touches the stack meanwhile.
*/
static int dec_unescape(jdec *d, luaL_Buffer *bp, const char *q) {
  for (;;) {
    const char *run = q;
    const char *bad;
    unsigned char c;
    long cp, lo;
    int n;
    while (dec_class[(unsigned char)*q] == DC_PLAIN) q++;
    if (q > run) luaL_addlstring(bp, run, (size_t)(q - run));
    c = (unsigned char)*q;
    switch (dec_class[c]) {
      case DC_QUOTE:
        d->p = q + 1;
        return 0;
      case DC_NUL:  /* a raw NUL inside a string, or the end of the input */
        if (q >= d->end) return dec_unexpected(d, q);
        luaL_addchar(bp, '\0');
        q++;
        break;
      case DC_HIGH:
        if ((n = utf8_seq((const unsigned char *)q, 0, NULL)) == 0)
          return dec_fail(d, q, "invalid UTF-8");
        luaL_addlstring(bp, q, (size_t)n);
        q += n;
        break;
      default:  /* DC_BACKSLASH */
        switch (q[1]) {
          case '"': luaL_addchar(bp, '"'); break;
          case '\\': luaL_addchar(bp, '\\'); break;
          case '/': luaL_addchar(bp, '/'); break;
          case 'b': luaL_addchar(bp, '\b'); break;
          case 'f': luaL_addchar(bp, '\f'); break;
          case 'n': luaL_addchar(bp, '\n'); break;
          case 'r': luaL_addchar(bp, '\r'); break;
          case 't': luaL_addchar(bp, '\t'); break;
          case 'u': {
            char out[4];
            if ((cp = hex4(q + 2, &bad)) < 0) {
              if (bad >= d->end) return dec_unexpected(d, bad);
              return dec_fail(d, q, "invalid \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF && q[6] == '\\' && q[7] == 'u'
                && (lo = hex4(q + 8, &bad)) >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              q += 6;
            }
            /* a lone surrogate becomes its 3-byte (WTF-8) form, as Python keeps it */
            luaL_addlstring(bp, out, (size_t)utf8_put(out, (unsigned long)cp));
            q += 4;
            break;
          }
          default:
            if (q + 1 >= d->end) return dec_unexpected(d, q + 1);
            if ((unsigned char)q[1] > 0x20 && (unsigned char)q[1] < 0x7f)
              return dec_fail(d, q, "invalid escape '\\%c'", q[1]);
            return dec_fail(d, q, "invalid escape");
        }
        q += 2;
        break;
    }
  }
}

/* A string with escapes: start is just after the opening quote, q at the first backslash. */
static int dec_string_escaped(jdec *d, const char *start, const char *q) {
  luaL_Buffer b;
  luaL_buffinit(d->L, &b);
  luaL_addlstring(&b, start, (size_t)(q - start));
  if (dec_unescape(d, &b, q)) return -1;
  luaL_pushresult(&b);
  return 0;
}

/* A string at p (the opening quote): pushes it. Strings without escapes are pushed in place. */
static int dec_string(jdec *d, const char *p) {
  const char *q = p + 1;
  int n;
  for (;;) {
    while (dec_class[(unsigned char)*q] == DC_PLAIN) q++;
    switch (dec_class[(unsigned char)*q]) {
      case DC_QUOTE:
        lua_pushlstring(d->L, p + 1, (size_t)(q - p - 1));
        d->p = q + 1;
        return 0;
      case DC_BACKSLASH:
        return dec_string_escaped(d, p + 1, q);
      case DC_NUL:
        if (q >= d->end) return dec_unexpected(d, q);
        q++;
        break;
      default:
        if ((n = utf8_seq((const unsigned char *)q, 0, NULL)) == 0)
          return dec_fail(d, q, "invalid UTF-8");
        q += n;
        break;
    }
  }
}

/*
** json_strings: a string that holds a JSON text (a history row) is decoded as that text, without
** making the string: its unescaped bytes wait in a luaL_Buffer, NUL-terminated as the scanners
** need, and a second decoder reads them (its own depth, as json.decode of the string would). A
** string that is not a JSON text is pushed as the string it is, for the caller to judge.
*/
static void dec_inner(jdec *d, const char *s, size_t len) {
  jdec sub;
  int top = lua_gettop(d->L);
  sub = *d;
  sub.s = s; sub.end = s + len; sub.p = s;
  sub.depth = 0; sub.max_depth = JSON_DEFAULT_DEPTH; sub.jkey = NULL; sub.jnext = 0;
  if (dec_value(&sub) == 0 && skip_ws(sub.p) >= sub.end) return;
  lua_settop(d->L, top);
  lua_pushlstring(d->L, s, len);
}

static int dec_json_string(jdec *d, const char *p) {
  lua_State *L = d->L;
  const char *q = p + 1;
  luaL_Buffer b;
  int slot;
  while (dec_class[(unsigned char)*q] == DC_PLAIN) q++;
  if (*q != '\\') {                      /* no escape: the plain path, then decode the string */
    const char *t;
    size_t len;
    if (dec_string(d, p)) return -1;
    t = lua_tolstring(L, -1, &len);
    slot = lua_gettop(L);
    dec_inner(d, t, len);
    lua_remove(L, slot);
    return 0;
  }
  luaL_buffinit(L, &b);
  slot = lua_gettop(L);
  luaL_addlstring(&b, p + 1, (size_t)(q - p - 1));
  if (dec_unescape(d, &b, q)) return -1;
  luaL_addchar(&b, '\0');
  dec_inner(d, luaL_buffaddr(&b), luaL_bufflen(&b) - 1);
  if (b.b != b.init.b) lua_closeslot(L, slot);   /* the buffer's box (to-be-closed), as luaL_pushresult does */
  lua_remove(L, slot);
  return 0;
}

static const double pow10_exact[] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

#define TWO53 ((uint64_t)1 << 53)

/*
** A number at p. Integers that fit int64 become Lua integers; anything with a fraction or an
** exponent, or too large for int64, becomes a float. Floats whose digits fit 2^53 with a power
** of ten up to 22 are exact in one IEEE operation (Clinger's fast path); the rest go to strtod,
** which rounds correctly.
*/
static int dec_number(jdec *d, const char *p) {
  const char *start = p;
  uint64_t u = 0;          /* the digits so far, while they fit */
  int overflow = 0, isfloat = 0, neg = 0, exp10 = 0;
  if (*p == '-') { neg = 1; p++; }
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9') {
    for (; *p >= '0' && *p <= '9'; p++) {
      unsigned dg = (unsigned)(*p - '0');
      if (overflow || u > (UINT64_MAX - dg) / 10) overflow = 1;
      else u = u * 10 + dg;
    }
  }
  else return dec_unexpected(d, p);
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9')) return dec_unexpected(d, p);
    for (; *p >= '0' && *p <= '9'; p++) {
      unsigned dg = (unsigned)(*p - '0');
      if (overflow || u > (UINT64_MAX - dg) / 10) overflow = 1;
      else { u = u * 10 + dg; exp10--; }
    }
    isfloat = 1;
  }
  if (*p == 'e' || *p == 'E') {
    int eneg = 0, e = 0;
    p++;
    if (*p == '+' || *p == '-') eneg = (*p++ == '-');
    if (!(*p >= '0' && *p <= '9')) return dec_unexpected(d, p);
    for (; *p >= '0' && *p <= '9'; p++)
      if (e < 100000) e = e * 10 + (*p - '0');
    exp10 += eneg ? -e : e;
    isfloat = 1;
  }
  d->p = p;
  if (!isfloat && !overflow) {
    if (!neg && u <= (uint64_t)LUA_MAXINTEGER) { lua_pushinteger(d->L, (lua_Integer)u); return 0; }
    if (neg && u <= (uint64_t)LUA_MAXINTEGER) { lua_pushinteger(d->L, -(lua_Integer)u); return 0; }
    if (neg && u == (uint64_t)LUA_MAXINTEGER + 1) { lua_pushinteger(d->L, LUA_MININTEGER); return 0; }
  }
  if (!overflow && u <= TWO53 && exp10 >= -22 && exp10 <= 22) {
    double v = (double)u;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
    lua_pushnumber(d->L, neg ? -v : v);
    return 0;
  }
  {
    char small[64];
    double v;
    size_t len = (size_t)(p - start);
    if (len < sizeof small) {
      memcpy(small, start, len);
      small[len] = '\0';
      v = c_strtod(small, NULL);
    }
    else {  /* a very long number: a NUL-terminated copy on the stack */
      v = c_strtod(lua_pushlstring(d->L, start, len), NULL);
      lua_pop(d->L, 1);
    }
    lua_pushnumber(d->L, v);
  }
  return 0;
}

static int dec_enter(jdec *d, const char *p) {
  if (++d->depth > d->max_depth)
    return dec_fail(d, p, "nesting deeper than %d", d->max_depth);
  return 0;
}

/*
** Tables are created at their final size, which saves the rehash cascade of growing them one
** key at a time: the first DEC_BATCH elements (or members) of a container wait on the Lua stack
** until it closes or the batch is full; only then is the table made and filled in order (so the
** last of duplicate keys wins). Past a full batch, elements go straight into the table. While the
** stack is deep (many open containers), batches are skipped to keep far from LUAI_MAXSTACK.
*/
#define DEC_BATCH 128
#define DEC_STACK_BUDGET 200000

/* Makes the table for the nslots values waiting above base, then moves them into it. */
static void dec_flush(lua_State *L, int base, int nslots, int narr, int nrec, int isarray) {
  int i;
  lua_createtable(L, narr, nrec);
  lua_insert(L, base + 1);
  if (isarray)
    for (i = 1; i <= nslots; i++) {
      lua_pushvalue(L, base + 1 + i);
      lua_rawseti(L, base + 1, i);
    }
  else
    for (i = 1; i <= nslots; i += 2) {
      lua_pushvalue(L, base + 1 + i);
      lua_pushvalue(L, base + 2 + i);
      lua_rawset(L, base + 1);
    }
  lua_settop(L, base + 1);
}

static int dec_array(jdec *d, const char *p) {
  lua_State *L = d->L;
  int base = lua_gettop(L), batch, json_strings = d->jnext;
  lua_Integer n = 0;
  d->jnext = 0;
  if (dec_enter(d, p)) return -1;
  batch = base < DEC_STACK_BUDGET ? DEC_BATCH : 0;
  luaL_checkstack(L, batch + 4, "json.decode");
  if (batch == 0) lua_createtable(L, 0, 0);
  p = skip_ws(p + 1);
  if (*p == ']') { p++; if (batch) lua_createtable(L, 0, 0); }
  else {
    for (;;) {
      d->p = p;
      if (json_strings && *(p = skip_ws(p)) == '"') { if (dec_json_string(d, p)) return -1; }
      else if (dec_value(d)) return -1;
      ++n;
      if (n > batch) lua_rawseti(L, base + 1, n);
      else if (n == batch) dec_flush(L, base, batch, batch * 2, 0, 1);
      p = skip_ws(d->p);
      if (*p == ',') { p++; continue; }
      if (*p == ']') { p++; break; }
      return dec_unexpected(d, p);
    }
    if (n < batch) dec_flush(L, base, (int)n, (int)n, 0, 1);
  }
  lua_pushvalue(L, UV_ARRAY_MT);
  lua_setmetatable(L, -2);
  d->depth--;
  d->p = p;
  return 0;
}

static int dec_object(jdec *d, const char *p) {
  lua_State *L = d->L;
  int base = lua_gettop(L), batch, n = 0;
  if (dec_enter(d, p)) return -1;
  batch = base < DEC_STACK_BUDGET ? DEC_BATCH : 0;
  luaL_checkstack(L, 2 * batch + 4, "json.decode");
  if (batch == 0) lua_createtable(L, 0, 0);
  p = skip_ws(p + 1);
  if (*p == '}') { p++; if (batch) lua_createtable(L, 0, 0); }
  else {
    for (;;) {
      if (*p != '"') return dec_unexpected(d, p);
      if (dec_string(d, p)) return -1;
      p = skip_ws(d->p);
      if (*p != ':') return dec_unexpected(d, p);
      d->p = p + 1;
      if (d->jkey) {
        size_t kl;
        const char *k = lua_tolstring(L, -1, &kl);
        d->jnext = kl == d->jkeylen && memcmp(k, d->jkey, kl) == 0 && *skip_ws(p + 1) == '[';
      }
      if (dec_value(d)) return -1;
      ++n;
      if (n > batch) lua_rawset(L, base + 1);  /* a duplicate key: the last one wins */
      else if (n == batch) dec_flush(L, base, 2 * batch, 0, batch * 2, 0);
      p = skip_ws(d->p);
      if (*p == ',') { p = skip_ws(p + 1); continue; }
      if (*p == '}') { p++; break; }
      return dec_unexpected(d, p);
    }
    if (n < batch) dec_flush(L, base, 2 * n, 0, n, 0);
  }
  d->depth--;
  d->p = p;
  return 0;
}

/* One value at d->p (after optional whitespace): pushes it and leaves d->p after it. */
static int dec_value(jdec *d) {
  lua_State *L = d->L;
  const char *p = skip_ws(d->p);
  switch (*p) {
    case '{': return dec_object(d, p);
    case '[': return dec_array(d, p);
    case '"': return dec_string(d, p);
    case 't':
      if (dec_literal(d, p, "true", 4)) return -1;
      lua_pushboolean(L, 1);
      return 0;
    case 'f':
      if (dec_literal(d, p, "false", 5)) return -1;
      lua_pushboolean(L, 0);
      return 0;
    case 'n':
      if (dec_literal(d, p, "null", 4)) return -1;
      lua_pushlightuserdata(L, NULL);
      return 0;
    case 'N':
      if (dec_literal(d, p, "NaN", 3)) return -1;
      lua_pushnumber(L, (lua_Number)NAN);
      return 0;
    case 'I':
      if (dec_literal(d, p, "Infinity", 8)) return -1;
      lua_pushnumber(L, (lua_Number)HUGE_VAL);
      return 0;
    case '-':
      if (p[1] == 'I') {
        if (dec_literal(d, p + 1, "Infinity", 8)) return -1;
        lua_pushnumber(L, -(lua_Number)HUGE_VAL);
        return 0;
      }
      return dec_number(d, p);
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
      return dec_number(d, p);
    default:
      return dec_unexpected(d, p);
  }
}

/*
** json.decode(s [, opts]) -> value | nil, msg. Offsets in messages are 1-based bytes.
** opts.json_strings = NAME: the strings of an array under a member NAME (at any depth) are JSON
** texts, decoded as such (W&B's history rows); one that is not stays a string.
*/
static int json_decode(lua_State *L) {
  static const char *const known[] = {"max_depth", "json_strings", NULL};
  jdec d;
  size_t len;
  luaL_checktype(L, 1, LUA_TSTRING);
  check_options(L, 2, known);
  d.max_depth = opt_depth(L, 2);
  d.jkey = NULL;
  d.jkeylen = 0;
  d.jnext = 0;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "json_strings");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, 2, "json_strings must be a string (a member name)");
      d.jkey = lua_tolstring(L, -1, &d.jkeylen);
      lua_replace(L, 2);                 /* pinned at index 2: the table is not needed any more */
    }
    else lua_pop(L, 1);
  }
  lua_settop(L, 2);
  d.L = L;
  d.s = lua_tolstring(L, 1, &len);
  d.end = d.s + len;
  d.p = d.s;
  d.depth = 0;
  if (len >= 3 && memcmp(d.s, "\xEF\xBB\xBF", 3) == 0) d.p += 3;  /* a UTF-8 byte order mark */
  if (dec_value(&d) == 0) {
    const char *p = skip_ws(d.p);
    if (p >= d.end) return 1;
    dec_unexpected(&d, p);
  }
  lua_settop(L, 2);
  luaL_pushfail(L);
  lua_pushfstring(L, "json: %s at byte %I", d.err, (lua_Integer)(d.errpos - d.s + 1));
  return 2;
}

/* }====================================================================== */

/*
** {======================================================================
** Encoder
** =======================================================================
*/

/* The output buffer: a userdata whose __gc frees the memory if encoding raises. */
typedef struct jbuf {
  char *p;
  size_t n, cap;
  int busy;            /* an encode with it is under way, or raised (then it is not reused) */
} jbuf;

#define ENC_KEEP_MAX (64 * 1024)   /* a kept buffer larger than this is freed after use */

/* Pushes a new, empty output buffer. */
static jbuf *new_jbuf(lua_State *L) {
  jbuf *b = (jbuf *)lua_newuserdatauv(L, sizeof(jbuf), 0);
  b->p = NULL;
  b->n = b->cap = 0;
  b->busy = 0;
  luaL_setmetatable(L, JSON_BUFFER_MT);
  return b;
}

static int jbuf_gc(lua_State *L) {
  jbuf *b = (jbuf *)luaL_checkudata(L, 1, JSON_BUFFER_MT);
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
  return 0;
}

/* One step of the path from the encoded value to the current one, for error messages. */
typedef struct jpath {
  const struct jpath *up;
  int keyidx;          /* stack index of the object key, or 0 for an array element */
  lua_Integer index;   /* the 1-based array index when keyidx == 0 */
} jpath;

typedef struct jenc {
  lua_State *L;
  jbuf *b;
  const unsigned char *cls;  /* enc_class or enc_class_ascii */
  int ascii, sort_keys, python;
  int indent;                /* -1: on one line */
  int max_depth;
  int seen;                  /* stack index of the set of tables being encoded */
} jenc;

static char *jb_reserve(jenc *e, size_t k) {
  jbuf *b = e->b;
  if (b->cap - b->n < k) {
    size_t cap = b->cap ? b->cap : 256;
    char *np;
    while (cap - b->n < k) {
      if (cap > ((size_t)-1) / 2) luaL_error(e->L, "json.encode: output too large");
      cap *= 2;
    }
    if ((np = (char *)realloc(b->p, cap)) == NULL) luaL_error(e->L, "json.encode: not enough memory");
    b->p = np;
    b->cap = cap;
  }
  return b->p + b->n;
}

static void jb_put(jenc *e, const char *s, size_t n) {
  memcpy(jb_reserve(e, n), s, n);
  e->b->n += n;
}

#define jb_lit(e, s) jb_put((e), "" s, sizeof(s) - 1)

static void jb_char(jenc *e, char c) {
  *jb_reserve(e, 1) = c;
  e->b->n++;
}

/* Appends one path segment for an object key: .name, ["any key"] or [42]. */
static void path_key(luaL_Buffer *pb, lua_State *L, int keyidx) {
  size_t len, i, cut;
  const char *k;
  int ident, valid = 1;
  if (lua_type(L, keyidx) != LUA_TSTRING) {
    if (lua_isinteger(L, keyidx)) {
      char num[32];
      snprintf(num, sizeof num, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)lua_tointeger(L, keyidx));
      luaL_addstring(pb, num);
    }
    else luaL_addstring(pb, "[?]");
    return;
  }
  k = lua_tolstring(L, keyidx, &len);
  ident = len > 0 && !(k[0] >= '0' && k[0] <= '9');
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      ident = 0;
  }
  if (ident) {
    luaL_addchar(pb, '.');
    luaL_addlstring(pb, k, len);
    return;
  }
  for (i = 0; i < len; ) {
    int n = utf8_seq((const unsigned char *)k + i, 1, NULL);
    if (n == 0) { valid = 0; break; }
    i += (size_t)n;
  }
  cut = len > 40 ? 40 : len;
  while (valid && cut < len && cut > 0 && ((unsigned char)k[cut] & 0xC0) == 0x80) cut--;
  luaL_addstring(pb, "[\"");
  for (i = 0; i < cut; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c == '"' || c == '\\') { luaL_addchar(pb, '\\'); luaL_addchar(pb, (char)c); }
    else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !valid)) {
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02X", c);
      luaL_addstring(pb, hex);
    }
    else luaL_addchar(pb, (char)c);
  }
  luaL_addstring(pb, cut < len ? "\"...]" : "\"]");
}

static void path_add(luaL_Buffer *pb, lua_State *L, const jpath *path) {
  if (path == NULL) return;
  path_add(pb, L, path->up);
  if (path->keyidx) path_key(pb, L, path->keyidx);
  else {
    char num[32];
    snprintf(num, sizeof num, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)path->index);
    luaL_addstring(pb, num);
  }
}

/* Raises "json.encode: <what> at <path>". */
static int enc_error(jenc *e, const jpath *path, const char *fmt, ...) {
  lua_State *L = e->L;
  luaL_Buffer pb;
  va_list ap;
  luaL_checkstack(L, 4, NULL);  /* the keys the path names stay where they are on the stack */
  luaL_buffinit(L, &pb);
  luaL_addstring(&pb, "json.encode: ");
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  luaL_addvalue(&pb);
  if (path) {
    luaL_addstring(&pb, " at ");
    path_add(&pb, L, path);
  }
  else luaL_addstring(&pb, " at top level");
  luaL_pushresult(&pb);
  return lua_error(L);
}

static void enc_integer(jenc *e, lua_Integer v) {
  char tmp[24];
  int n = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  char *o;
  do { tmp[n++] = (char)('0' + (int)(u % 10)); u /= 10; } while (u);
  o = jb_reserve(e, (size_t)n + 1);
  if (v < 0) *o++ = '-';
  while (n) *o++ = tmp[--n];
  e->b->n = (size_t)(o - e->b->p);
}

/*
** The first of %.15g, %.16g and %.17g that reads back to the same double (%g drops trailing
** zeros, so when 15 digits or fewer suffice this is the shortest text; subnormals have fewer
** significant digits, so for them the search starts at 1), always with a '.' or an exponent so
** it decodes as a float again. NaN and the infinities are written the way
** Python's json module writes them.
*/
/*
** The fast path of format_float, for the common floats (times, rates, losses): x as k / 10^d
** with the fewest decimals d (0..9) whose decimal reads back to x, when that decimal has at most
** 15 significant digits and 1e-4 <= |x| < 1e15. There the slow path stops at %.15g, which prints
** this very decimal (x lies within half an ulp of it, far less than half a unit of the 15th
** digit), so the text is the same byte for byte, without snprintf and strtod. The check is exact:
** k < 2^53 and 10^d are exact doubles, so k / 10^d is the correctly rounded value of the decimal,
** which is what strtod returns. -> the length written, or 0 when the fast path does not apply.
*/
static int format_float_fast(char *buf, double x) {
  static const uint64_t p10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
    100000000, 1000000000};
  double ax = fabs(x);
  int d;
  if (!(ax >= 1e-4 && ax < 1e15)) return 0;
  for (d = 0; d <= 9; d++) {
    double y = nearbyint(ax * pow10_exact[d]);
    if (y >= 1e15) return 0;             /* more than 15 significant digits */
    if (y / pow10_exact[d] == ax) {
      uint64_t k = (uint64_t)y, ip = k / p10[d], fr = k % p10[d];
      char tmp[24], *o = buf;
      int n = 0, i;
      if (x < 0) *o++ = '-';
      do { tmp[n++] = (char)('0' + ip % 10); ip /= 10; } while (ip);
      while (n) *o++ = tmp[--n];
      *o++ = '.';
      if (d == 0) *o++ = '0';            /* 15.0: a float again when read back */
      for (i = d - 1; i >= 0; i--) { o[i] = (char)('0' + fr % 10); fr /= 10; }
      o += d;
      *o = '\0';
      return (int)(o - buf);
    }
  }
  return 0;
}

static int format_float(char *buf, size_t size, double x) {
  locale_t old;
  int prec, len = 0;
  if ((len = format_float_fast(buf, x)) > 0) return len;
  if (x != x) return snprintf(buf, size, "NaN");
  if (x == (double)HUGE_VAL) return snprintf(buf, size, "Infinity");
  if (x == -(double)HUGE_VAL) return snprintf(buf, size, "-Infinity");
  old = uselocale(json_c_locale);
  /* below DBL_MIN (subnormals) fewer digits are significant: search from 1 */
  for (prec = fabs(x) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
    len = snprintf(buf, size, "%.*g", prec, x);
    if (prec == 17 || strtod(buf, NULL) == x) break;
  }
  uselocale(old);
  if (!strpbrk(buf, ".e")) len += snprintf(buf + len, size - (size_t)len, ".0");
  return len;
}

static void enc_float(jenc *e, double x) {
  char buf[48];
  jb_put(e, buf, (size_t)format_float(buf, sizeof buf, x));
}

/* A string (or key) s of length len, NUL-terminated as every Lua string is. */
static void enc_string(jenc *e, const char *s, size_t len, const jpath *path, int iskey) {
  static const char hexd[] = "0123456789abcdef";
  const unsigned char *q = (const unsigned char *)s, *qend = q + len;
  const unsigned char *cls = e->cls;
  jb_reserve(e, len + 2);
  e->b->p[e->b->n++] = '"';
  for (;;) {
    const unsigned char *run = q;
    char esc[12];
    int n, surr = 0;
    while (cls[*q] == EC_PLAIN) q++;  /* the NUL at qend is EC_ESCAPE: stops there */
    if (q > run) jb_put(e, (const char *)run, (size_t)(q - run));
    if (q >= qend) break;
    if (*q < 0x80) {
      switch (*q) {
        case '"': jb_lit(e, "\\\""); break;
        case '\\': jb_lit(e, "\\\\"); break;
        case '\b': jb_lit(e, "\\b"); break;
        case '\f': jb_lit(e, "\\f"); break;
        case '\n': jb_lit(e, "\\n"); break;
        case '\r': jb_lit(e, "\\r"); break;
        case '\t': jb_lit(e, "\\t"); break;
        default:
          memcpy(esc, "\\u00", 4);
          esc[4] = hexd[*q >> 4];
          esc[5] = hexd[*q & 15];
          jb_put(e, esc, 6);
          break;
      }
      q++;
      continue;
    }
    n = utf8_seq(q, 1, &surr);
    /* a surrogate pair written as two 3-byte sequences (CESU-8) is not WTF-8 either */
    if (n == 0 || (surr && q[1] < 0xB0 && q + 3 < qend && q[3] == 0xED && q[4] >= 0xB0 && q[4] <= 0xBF))
      enc_error(e, path, "invalid UTF-8 in %s", iskey ? "key" : "string");
    if (surr || e->ascii) {
      unsigned long cp;
      int k = 0;
      if (n == 2) cp = ((unsigned long)(q[0] & 0x1F) << 6) | (q[1] & 0x3F);
      else if (n == 3)
        cp = ((unsigned long)(q[0] & 0x0F) << 12) | ((unsigned long)(q[1] & 0x3F) << 6) | (q[2] & 0x3F);
      else
        cp = ((unsigned long)(q[0] & 0x07) << 18) | ((unsigned long)(q[1] & 0x3F) << 12)
             | ((unsigned long)(q[2] & 0x3F) << 6) | (q[3] & 0x3F);
      if (cp >= 0x10000) {
        unsigned long hi = 0xD800 + ((cp - 0x10000) >> 10), lo = 0xDC00 + ((cp - 0x10000) & 0x3FF);
        esc[k++] = '\\'; esc[k++] = 'u';
        esc[k++] = hexd[hi >> 12]; esc[k++] = hexd[(hi >> 8) & 15];
        esc[k++] = hexd[(hi >> 4) & 15]; esc[k++] = hexd[hi & 15];
        cp = lo;
      }
      esc[k++] = '\\'; esc[k++] = 'u';
      esc[k++] = hexd[cp >> 12]; esc[k++] = hexd[(cp >> 8) & 15];
      esc[k++] = hexd[(cp >> 4) & 15]; esc[k++] = hexd[cp & 15];
      jb_put(e, esc, (size_t)k);
    }
    else jb_put(e, (const char *)q, (size_t)n);
    q += n;
  }
  jb_char(e, '"');
}

static void enc_newline(jenc *e, int depth) {
  size_t n = (size_t)e->indent * (size_t)depth;
  char *o = jb_reserve(e, n + 1);
  *o++ = '\n';
  memset(o, ' ', n);
  e->b->n += n + 1;
}

/* Between two items of an array or object. */
static void enc_item_sep(jenc *e) {
  if (e->indent < 0 && e->python) jb_lit(e, ", ");
  else jb_char(e, ',');
}

static void enc_key_sep(jenc *e) {
  if (e->indent >= 0 || e->python) jb_lit(e, ": ");
  else jb_char(e, ':');
}

enum { MARK_NONE, MARK_ARRAY, MARK_OBJECT };

/* How the metatable of the table at idx marks it: json.array_mt/object_mt or __jsontype. */
static int table_mark(lua_State *L, int idx) {
  int mark = MARK_NONE;
  if (!lua_getmetatable(L, idx)) return MARK_NONE;
  if (lua_rawequal(L, -1, UV_ARRAY_MT)) mark = MARK_ARRAY;
  else if (lua_rawequal(L, -1, UV_OBJECT_MT)) mark = MARK_OBJECT;
  else {
    lua_pushliteral(L, "__jsontype");
    if (lua_rawget(L, -2) == LUA_TSTRING) {
      const char *t = lua_tostring(L, -1);
      if (strcmp(t, "array") == 0) mark = MARK_ARRAY;
      else if (strcmp(t, "object") == 0) mark = MARK_OBJECT;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return mark;
}

/* If every key of the table at idx is an integer 1..n (n >= 1), returns n; else 0. */
static lua_Integer sequence_length(lua_State *L, int idx) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_Integer k = 0;
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || (k = lua_tointeger(L, -1)) < 1) { lua_pop(L, 1); return 0; }
    if (k > max) max = k;
    count++;
  }
  return count == max ? count : 0;
}

static void enc_value(jenc *e, int idx, int depth, const jpath *path);

/*
** A table marked as an array: every key must be a positive integer; missing elements up to the
** largest key are written as null, unless the array is too sparse to be meant as one.
*/
static void enc_array(jenc *e, int idx, int depth, const jpath *path, lua_Integer n) {
  lua_State *L = e->L;
  lua_Integer i;
  jpath child;
  if (n < 0) {  /* a marked array: check its keys */
    lua_Integer count = 0;
    n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_Integer k = 0;
      lua_pop(L, 1);
      if (!lua_isinteger(L, -1) || (k = lua_tointeger(L, -1)) < 1) {
        child.up = path; child.keyidx = lua_gettop(L); child.index = 0;
        enc_error(e, &child, "array has a key that is not a positive integer");
      }
      if (k > n) n = k;
      count++;
    }
    if (n > count && n - count > count + 16)
      enc_error(e, path, "sparse array (%I elements up to index %I)", count, n);
  }
  jb_char(e, '[');
  child.up = path;
  child.keyidx = 0;
  for (i = 1; i <= n; i++) {
    if (i > 1) enc_item_sep(e);
    if (e->indent >= 0) enc_newline(e, depth);
    lua_rawgeti(L, idx, i);
    child.index = i;
    enc_value(e, lua_gettop(L), depth, &child);
    lua_pop(L, 1);
  }
  if (e->indent >= 0 && n > 0) enc_newline(e, depth - 1);
  jb_char(e, ']');
}

/* Writes the key at keyidx as a JSON string: string keys as they are, integer keys in decimal. */
static void enc_key(jenc *e, int keyidx, const jpath *child) {
  lua_State *L = e->L;
  if (lua_type(L, keyidx) == LUA_TSTRING) {
    size_t len;
    const char *k = lua_tolstring(L, keyidx, &len);
    enc_string(e, k, len, child, 1);
  }
  else if (lua_isinteger(L, keyidx)) {
    jb_char(e, '"');
    enc_integer(e, lua_tointeger(L, keyidx));
    jb_char(e, '"');
  }
  else if (lua_type(L, keyidx) == LUA_TNUMBER)
    enc_error(e, child->up, "cannot encode float key %f", lua_tonumber(L, keyidx));
  else
    enc_error(e, child->up, "cannot encode key of type %s", luaL_typename(L, keyidx));
}

typedef struct skey {
  const char *s;       /* the key's text (anchored in the key list table) */
  size_t len;
  int slot;            /* its position in the key list table */
  int isint;           /* an integer key, written as its decimal text */
  lua_Integer ikey;
} skey;

static int skey_cmp(const void *a, const void *b) {
  const skey *x = (const skey *)a, *y = (const skey *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

static void enc_object(jenc *e, int idx, int depth, const jpath *path) {
  lua_State *L = e->L;
  int first = 1;
  jpath child;
  child.up = path;
  child.index = 0;
  jb_char(e, '{');
  if (!e->sort_keys) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      int top = lua_gettop(L);
      child.keyidx = top - 1;
      if (!first) enc_item_sep(e);
      first = 0;
      if (e->indent >= 0) enc_newline(e, depth);
      enc_key(e, top - 1, &child);
      enc_key_sep(e);
      enc_value(e, top, depth, &child);
      lua_pop(L, 1);
    }
  }
  else {
    /* Sorted bytewise: the keys go in a list table (which keeps their text alive) and an
       array of pointers to that text, sorted with memcmp. */
    int count = 0, i, list, base;
    skey *keys;
    lua_pushnil(L);
    while (lua_next(L, idx)) { lua_pop(L, 1); count++; }
    keys = (skey *)lua_newuserdatauv(L, (size_t)count * sizeof(skey) + 1, 0);
    lua_createtable(L, count, 0);
    list = lua_gettop(L);
    i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      child.keyidx = lua_gettop(L);
      if (i >= count) luaL_error(L, "json.encode: table changed while encoding");
      keys[i].isint = 0;
      if (lua_type(L, -1) == LUA_TSTRING) lua_pushvalue(L, -1);
      else if (lua_isinteger(L, -1)) {
        keys[i].isint = 1;
        keys[i].ikey = lua_tointeger(L, -1);
        lua_pushfstring(L, "%I", (LUAI_UACINT)keys[i].ikey);
      }
      else enc_key(e, child.keyidx, &child);  /* raises */
      keys[i].s = lua_tolstring(L, -1, &keys[i].len);
      keys[i].slot = i + 1;
      lua_rawseti(L, list, ++i);
    }
    count = i;
    qsort(keys, (size_t)count, sizeof(skey), skey_cmp);
    base = lua_gettop(L);
    for (i = 0; i < count; i++) {
      if (keys[i].isint) lua_pushinteger(L, keys[i].ikey);  /* base + 1: the original key */
      else lua_rawgeti(L, list, keys[i].slot);
      lua_pushvalue(L, base + 1);
      lua_rawget(L, idx);                                   /* base + 2: its value */
      child.keyidx = base + 1;
      if (!first) enc_item_sep(e);
      first = 0;
      if (e->indent >= 0) enc_newline(e, depth);
      enc_string(e, keys[i].s, keys[i].len, &child, 1);
      enc_key_sep(e);
      enc_value(e, base + 2, depth, &child);
      lua_settop(L, base);
    }
    lua_pop(L, 2);
  }
  if (e->indent >= 0 && !first) enc_newline(e, depth - 1);
  jb_char(e, '}');
}

static void enc_table(jenc *e, int idx, int depth, const jpath *path) {
  lua_State *L = e->L;
  int mark;
  lua_Integer n;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->seen) != LUA_TNIL) enc_error(e, path, "reference cycle");
  lua_pop(L, 1);
  if (depth > e->max_depth) enc_error(e, path, "nesting deeper than %d", e->max_depth);
  luaL_checkstack(L, 8, "json.encode");
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, e->seen);
  mark = table_mark(L, idx);
  if (mark == MARK_ARRAY) enc_array(e, idx, depth, path, -1);
  else if (mark == MARK_NONE && (n = sequence_length(L, idx)) > 0) enc_array(e, idx, depth, path, n);
  else enc_object(e, idx, depth, path);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, e->seen);
}

/* The value at (absolute) index idx; depth is the nesting of the enclosing tables. */
static void enc_value(jenc *e, int idx, int depth, const jpath *path) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: jb_lit(e, "null"); break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) jb_lit(e, "true");
      else jb_lit(e, "false");
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) enc_integer(e, lua_tointeger(L, idx));
      else enc_float(e, (double)lua_tonumber(L, idx));
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      enc_string(e, s, len, path, 0);
      break;
    }
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) { jb_lit(e, "null"); break; }
      enc_error(e, path, "cannot encode light userdata");
      break;
    case LUA_TTABLE:
      enc_table(e, idx, depth + 1, path);
      break;
    default:
      enc_error(e, path, "cannot encode %s", luaL_typename(L, idx));
      break;
  }
}

/* json.encode(v [, opts]) -> string; raises on values JSON cannot hold. */
static int json_encode(lua_State *L) {
  static const char *const known[] = {"ascii", "sort_keys", "indent", "python", "max_depth", NULL};
  jenc e;
  lua_Integer indent;
  luaL_checkany(L, 1);
  check_options(L, 2, known);
  e.L = L;
  e.ascii = rw_opt_boolean(L, 2, "ascii", 0);
  e.sort_keys = rw_opt_boolean(L, 2, "sort_keys", 0);
  e.python = rw_opt_boolean(L, 2, "python", 0);
  e.max_depth = opt_depth(L, 2);
  indent = rw_opt_integer(L, 2, "indent", -1);
  if (indent < -1 || indent > 64) luaL_argerror(L, 2, "indent must be between 0 and 64");
  e.indent = (int)indent;
  e.cls = e.ascii ? enc_class_ascii : enc_class;
  lua_settop(L, 2);
  /* the kept buffer and set (no allocation per call), unless one is in use: an encode that
     raised left them busy, and its set may still hold tables: then fresh ones, kept after */
  e.b = (jbuf *)lua_touserdata(L, UV_ENC_BUF);
  if (e.b->busy) {
    e.b = new_jbuf(L);
    lua_replace(L, UV_ENC_BUF);
    lua_newtable(L);
    lua_replace(L, UV_ENC_SEEN);
  }
  lua_pushvalue(L, UV_ENC_BUF);   /* 3: pinned while encoding */
  lua_pushvalue(L, UV_ENC_SEEN);  /* 4: tables being encoded, for cycle detection */
  e.seen = 4;
  e.b->n = 0;
  e.b->busy = 1;
  enc_value(&e, 1, 0, NULL);
  lua_pushlstring(L, e.b->p ? e.b->p : "", e.b->n);
  e.b->busy = 0;
  if (e.b->cap > ENC_KEEP_MAX) {
    free(e.b->p);
    e.b->p = NULL;
    e.b->cap = 0;
  }
  e.b->n = 0;
  return 1;
}

/* }====================================================================== */

/* json.array([t]) -> t, marked to encode as an array (even when empty). */
static int json_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) { lua_settop(L, 0); lua_newtable(L); }
  else { luaL_checktype(L, 1, LUA_TTABLE); lua_settop(L, 1); }
  lua_pushvalue(L, UV_ARRAY_MT);
  lua_setmetatable(L, 1);
  return 1;
}

/* json.object([t]) -> t, marked to encode as an object (even when it looks like a sequence). */
static int json_object(lua_State *L) {
  if (lua_isnoneornil(L, 1)) { lua_settop(L, 0); lua_newtable(L); }
  else { luaL_checktype(L, 1, LUA_TTABLE); lua_settop(L, 1); }
  lua_pushvalue(L, UV_OBJECT_MT);
  lua_setmetatable(L, 1);
  return 1;
}

/* json.is_array(v) -> true when json.encode would write v as a JSON array. */
static int json_is_array(lua_State *L) {
  int r = 0;
  if (lua_type(L, 1) == LUA_TTABLE) {
    int mark = table_mark(L, 1);
    r = mark == MARK_ARRAY || (mark == MARK_NONE && sequence_length(L, 1) > 0);
  }
  lua_pushboolean(L, r);
  return 1;
}

static const luaL_Reg json_funcs[] = {
  {"decode", json_decode},
  {"encode", json_encode},
  {"array", json_array},
  {"object", json_object},
  {"is_array", json_is_array},
  {NULL, NULL}
};

int luaopen_runwatch_json(lua_State *L) {
  if (json_c_locale == (locale_t)0) {
    json_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (json_c_locale == (locale_t)0) return luaL_error(L, "runwatch.json: cannot create the C locale");
    json_init_tables();
  }
  if (luaL_newmetatable(L, JSON_BUFFER_MT)) {
    lua_pushcfunction(L, jbuf_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlibtable(L, json_funcs);
  lua_createtable(L, 0, 1);  /* array_mt */
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype");
  lua_createtable(L, 0, 1);  /* object_mt */
  lua_pushliteral(L, "object");
  lua_setfield(L, -2, "__jsontype");
  lua_pushvalue(L, -2);
  lua_setfield(L, -4, "array_mt");
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "object_mt");
  new_jbuf(L);     /* json.encode's kept buffer and set (UV_ENC_BUF, UV_ENC_SEEN) */
  lua_newtable(L);
  luaL_setfuncs(L, json_funcs, 4);
  lua_pushlightuserdata(L, NULL);  /* the same value as cjson.null */
  lua_setfield(L, -2, "null");
  return 1;
}
