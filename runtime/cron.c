/* Cron expressions: the 5-field parser and the DST-aware next-fire search (docs/schedules.md). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cron.h"

/* {====== Characters and messages */

#define QUOTE_MAX 100   /* bytes of the expression shown in a message */

static int is_space(int ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int is_digit(int ch) {
  return ch >= '0' && ch <= '9';
}

static int is_alpha(int ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int lower(int ch) {
  return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Writes s into buf as a message shows it: control bytes, quotes and backslashes escaped, cut
   with "..." after QUOTE_MAX bytes, so a hostile string cannot break a log line. */
static void quote(char *buf, size_t n, const char *s) {
  size_t o = 0, i;
  for (i = 0; s[i] && o + 8 < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (i == QUOTE_MAX) { memcpy(buf + o, "...", 3); o += 3; break; }
    if (ch == '"' || ch == '\\') { buf[o++] = '\\'; buf[o++] = (char)ch; }
    else if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
    else buf[o++] = (char)ch;
  }
  buf[o] = '\0';
}

/* A character as a message shows it: itself if printable, else its hex code. */
static const char *show_char(char *buf, size_t n, int ch) {
  unsigned char c = (unsigned char)ch;
  if (c < 0x20 || c >= 0x7f) snprintf(buf, n, "\\x%02x", c);
  else snprintf(buf, n, "%c", c);
  return buf;
}

typedef struct parser {
  const char *expr;
  char *err;
  size_t errlen;
} parser;

/* Formats `bad cron expression "<expr>": <why> at position <n>` (no position when at is NULL)
   into the parser's error buffer and returns -1. */
static int perr(parser *P, const char *at, const char *fmt, ...) {
  char q[QUOTE_MAX * 4 + 8], why[256];
  va_list ap;
  if (!P->err || P->errlen == 0) return -1;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  quote(q, sizeof q, P->expr);
  if (at)
    snprintf(P->err, P->errlen, "bad cron expression \"%s\": %s at position %d", q, why,
             (int)(at - P->expr) + 1);
  else
    snprintf(P->err, P->errlen, "bad cron expression \"%s\": %s", q, why);
  return -1;
}

/* }====== */

/* {====== Parsing */

static const char *const month_names[] = {
  "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

typedef struct field_spec {
  const char *name;
  int lo, hi;                 /* values accepted in the expression */
  int star_hi;                /* where '*' and "N/step" end */
  const char *const *names;   /* names for values name_base.., or NULL */
  int nnames, name_base;
} field_spec;

static const field_spec specs[5] = {
  {"minute", 0, 59, 59, NULL, 0, 0},
  {"hour", 0, 23, 23, NULL, 0, 0},
  {"day-of-month", 1, 31, 31, NULL, 0, 0},
  {"month", 1, 12, 12, month_names, 12, 1},
  {"day-of-week", 0, 7, 6, wday_names, 7, 0},   /* 7 is Sunday too; '*' is 0-6 */
};
#define F_WDAY 4

static const struct macro {
  const char *name, *fields;
} macros[] = {
  {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
  {"@hourly", "0 * * * *"},
};

/* Text of at most 12 bytes from s to e, for messages about one number or name. */
#define SHOWN(s, e) ((e) - (s) > 12 ? 12 : (int)((e) - (s))), (s)

/* Reads a number or, where the field has names, a name at *pp (before e). *is_name tells which. */
static int parse_value(parser *P, const field_spec *f, const char **pp, const char *e, int *v,
                       int *is_name) {
  const char *p = *pp, *s = p;
  char cb[8];
  *is_name = 0;
  if (p < e && is_digit((unsigned char)*p)) {
    long n = 0;
    for (; p < e && is_digit((unsigned char)*p); p++)
      if (n < 100000) n = n * 10 + (*p - '0');
    if (n < f->lo || n > f->hi)
      return perr(P, s, "%s %.*s out of range %d-%d", f->name, SHOWN(s, p), f->lo, f->hi);
    *v = (int)n;
    *pp = p;
    return 0;
  }
  if (p < e && is_alpha((unsigned char)*p)) {
    int k;
    while (p < e && is_alpha((unsigned char)*p)) p++;
    if (!f->names)
      return perr(P, s, "%s expected a number, got '%.*s'", f->name, SHOWN(s, p));
    for (k = 0; p - s == 3 && k < f->nnames; k++)
      if (lower(s[0]) == f->names[k][0] && lower(s[1]) == f->names[k][1] &&
          lower(s[2]) == f->names[k][2]) {
        *v = k + f->name_base;
        *is_name = 1;
        *pp = p;
        return 0;
      }
    return perr(P, s, "%s unknown name '%.*s'", f->name, SHOWN(s, p));
  }
  if (p >= e)   /* only after '-': an item never starts at the end of its field */
    return perr(P, p - 1, "%s expected a number after '%c'", f->name, p[-1]);
  return perr(P, p, "%s unexpected character '%s'", f->name, show_char(cb, sizeof cb, *p));
}

/* Parses one field, the text from s to e, into a bit set: a list of '*', values and ranges, each
   with an optional /step. */
static int parse_field(parser *P, const field_spec *f, const char *s, const char *e,
                       uint64_t *bits) {
  const char *p = s;
  char cb[8];
  *bits = 0;
  for (;;) {
    const char *item = p;
    int a, b, v, step = 1, named, single = 0;
    if (p == e || *p == ',')   /* p == e only right after a trailing comma */
      return perr(P, p == e ? p - 1 : p, "%s has an empty list item", f->name);
    if (*p == '*') {
      a = f->lo;
      b = f->star_hi;
      p++;
    }
    else {
      if (parse_value(P, f, &p, e, &a, &named)) return -1;
      b = a;
      single = 1;
      if (p < e && *p == '-') {
        p++;
        if (parse_value(P, f, &p, e, &b, &named)) return -1;
        if (named && f->names == wday_names && b == 0 && a > 0) b = 7;   /* FRI-SUN */
        if (b < a)
          return perr(P, item, "%s range %.*s is reversed", f->name, (int)(p - item), item);
        single = 0;
      }
    }
    if (p < e && *p == '/') {
      const char *ds = ++p;
      long n = 0;
      if (p >= e)
        return perr(P, p - 1, "%s expected a number after '/'", f->name);
      if (!is_digit((unsigned char)*p))
        return perr(P, p, "%s step must be a number, got '%s'", f->name,
                    show_char(cb, sizeof cb, *p));
      for (; p < e && is_digit((unsigned char)*p); p++)
        if (n < 100000) n = n * 10 + (*p - '0');
      if (n < 1 || n > f->hi - f->lo)
        return perr(P, ds, "%s step %.*s out of range 1-%d", f->name, SHOWN(ds, p), f->hi - f->lo);
      step = (int)n;
      if (single) b = a > f->star_hi ? a : f->star_hi;   /* "5/15" is 5-59/15 */
    }
    if (p < e && *p != ',')
      return perr(P, p, "%s unexpected character '%s'", f->name, show_char(cb, sizeof cb, *p));
    for (v = a; v <= b; v += step)
      *bits |= (uint64_t)1 << (f == &specs[F_WDAY] && v == 7 ? 0 : v);
    if (p == e) return 0;
    p++;   /* the comma */
  }
}

static int parse_macro(parser *P, const char *s, rw_cron *out) {
  const char *p = s, *rest;
  size_t k, n;
  while (*p && !is_space((unsigned char)*p)) p++;
  n = (size_t)(p - s);
  rest = p;
  while (is_space((unsigned char)*rest)) rest++;
  for (k = 0; k < sizeof macros / sizeof macros[0]; k++) {
    size_t i;
    if (strlen(macros[k].name) != n) continue;
    for (i = 0; i < n && lower(s[i]) == macros[k].name[i]; i++) {}
    if (i < n) continue;
    if (*rest)
      return perr(P, rest, "%s takes no fields", macros[k].name);
    return rw_cron_parse(macros[k].fields, out, NULL, 0);
  }
  return perr(P, s, "unknown macro '%.*s' (use @hourly, @daily, @midnight, @weekly, @monthly, "
              "@yearly or @annually)", SHOWN(s, p));
}

int rw_cron_parse(const char *expr, rw_cron *out, char *err, size_t errlen) {
  parser P;
  const char *fs[6], *fe[6], *p = expr;
  uint64_t bits[5];
  rw_cron c;
  int n = 0, i;

  P.expr = expr;
  P.err = err;
  P.errlen = errlen;
  if (err && errlen) err[0] = '\0';
  while (is_space((unsigned char)*p)) p++;
  if (*p == '\0') return perr(&P, NULL, "empty");
  if (*p == '@') return parse_macro(&P, p, out);
  while (*p) {
    const char *s = p;
    while (*p && !is_space((unsigned char)*p)) p++;
    if (n < 6) { fs[n] = s; fe[n] = p; }
    n++;
    while (is_space((unsigned char)*p)) p++;
  }
  if (n > 5)
    return perr(&P, fs[5], "expected 5 fields (minute hour day-of-month month day-of-week), "
                "got %d: extra field", n);
  if (n < 5)
    return perr(&P, NULL, "expected 5 fields (minute hour day-of-month month day-of-week), "
                "got %d", n);
  for (i = 0; i < 5; i++)
    if (parse_field(&P, &specs[i], fs[i], fe[i], &bits[i])) return -1;
  memset(&c, 0, sizeof c);
  c.minutes = bits[0];
  c.hours = (uint32_t)bits[1];
  c.mdays = (uint32_t)bits[2];
  c.months = (uint16_t)bits[3];
  c.wdays = (uint8_t)bits[4];
  if (*fs[1] == '*') c.flags |= RW_CRON_HOUR_STAR;
  if (*fs[2] == '*') c.flags |= RW_CRON_MDAY_STAR;
  if (*fs[4] == '*') c.flags |= RW_CRON_WDAY_STAR;
  *out = c;
  return 0;
}

/* }====== */

/* {====== Calendar arithmetic on "civil seconds": seconds since 1970-01-01 00:00 on a wall
   clock, counted as if it were UTC (so a local time and its civil seconds differ by the zone's
   offset). */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) q--;
  return q;
}

static int64_t ceil60(int64_t t) {
  return floor_div(t + 59, 60) * 60;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  int64_t era, yoe, doy, doe;
  y -= m <= 2;
  era = floor_div(y, 400);
  yoe = y - era * 400;
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  int64_t era, doe, yoe, doy, mp;
  z += 719468;
  era = floor_div(z, 146097);
  doe = z - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dim[m - 1];
}

/* The lowest set bit of set in from..to, or -1. */
static int next_bit(uint64_t set, int from, int to) {
  for (; from <= to; from++)
    if ((set >> from) & 1) return from;
  return -1;
}

/* Vixie cron's day rule: if either day field starts with '*', both must match (the '*' one
   matches every day it allows); if both are restricted, either may match. */
static int day_matches(const rw_cron *c, int mday, int wday) {
  int dm = (int)((c->mdays >> mday) & 1), wm = (c->wdays >> wday) & 1;
  if (c->flags & (RW_CRON_MDAY_STAR | RW_CRON_WDAY_STAR)) return dm && wm;
  return dm || wm;
}

int rw_cron_matches(const rw_cron *c, const struct tm *tm) {
  if (tm->tm_min < 0 || tm->tm_min > 59 || tm->tm_hour < 0 || tm->tm_hour > 23 ||
      tm->tm_mday < 1 || tm->tm_mday > 31 || tm->tm_mon < 0 || tm->tm_mon > 11 ||
      tm->tm_wday < 0 || tm->tm_wday > 6)
    return 0;
  return ((c->minutes >> tm->tm_min) & 1) && ((c->hours >> tm->tm_hour) & 1) &&
         ((c->months >> (tm->tm_mon + 1)) & 1) && day_matches(c, tm->tm_mday, tm->tm_wday);
}

/* The first civil minute >= lo (a multiple of 60) matching c's fields, if it is <= limit. Skips
   whole months, days and hours that cannot match, so a search over years takes at most a few
   thousand steps. */
static int civil_next(const rw_cron *c, int64_t lo, int64_t limit, int64_t *out) {
  int64_t days = floor_div(lo, 86400), y;
  int rem = (int)(lo - days * 86400), hour = rem / 3600, minute = rem % 3600 / 60, m, d;
  civil_from_days(days, &y, &m, &d);
  while (days * 86400 <= limit) {
    int h, mi;
    if (!((c->months >> m) & 1)) {   /* to the 1st of the next allowed month */
      int nm = next_bit(c->months, m + 1, 12);
      if (nm < 0) { y++; nm = next_bit(c->months, 1, 12); }
      if (nm < 0) return -1;   /* no month at all: not from rw_cron_parse */
      m = nm;
      d = 1;
      days = days_from_civil(y, m, d);
      hour = minute = 0;
      continue;
    }
    if (day_matches(c, d, (int)(days - floor_div(days, 7) * 7 + 4) % 7)) {
      h = next_bit(c->hours, hour, 23);
      if (h >= 0) {
        if (h != hour) minute = 0;
        mi = next_bit(c->minutes, minute, 59);
        if (mi >= 0) {
          int64_t w = days * 86400 + h * 3600 + mi * 60;
          if (w > limit) return -1;
          *out = w;
          return 0;
        }
        if (h < 23) { hour = h + 1; minute = 0; continue; }
      }
    }
    days++;   /* to the next day */
    hour = minute = 0;
    if (++d > days_in_month(y, m)) {
      d = 1;
      if (++m > 12) { m = 1; y++; }
    }
  }
  return -1;
}

/* }====== */

/* {====== Next fire in UTC or local time

   Real time is cut into stretches of constant UTC offset. Within one stretch local time runs
   evenly, so the next match is a pure calendar search. Where the offset changes at instant T,
   from offset `off` (the old wall clock ends at E = T + off) to `off2` (the new one starts at
   S = T + off2):
   - S > E is a gap (spring forward): wall times in [E, S) never happen. A job with a fixed hour
     that matches one of them fires once, at T.
   - S < E is an overlap (fall back): wall times in [S, E) happen twice. A job with a fixed hour
     fires only at the first one: the search in the new stretch starts at the high-water mark E.
   Jobs whose hour field starts with '*' match the wall clock at every real minute: they skip
   nothing and fire again in the repeated hour (every real hour for "0 * * * *"). */

/* The offset east of UTC, in seconds, at instant t: 0 in UTC, else from localtime_r. */
static int zone_offset(int utc, int64_t t, int64_t *off) {
  struct tm tm;
  time_t tt = (time_t)t;
  if (utc) { *off = 0; return 0; }
  if (!localtime_r(&tt, &tm)) return -1;
  *off = days_from_civil(tm.tm_year + (int64_t)1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
         tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec - t;
  return 0;
}

/* The first instant in (a, b] whose offset is not offa, given that off(a) == offa != off(b). */
static int first_change(int64_t a, int64_t b, int64_t offa, int64_t *T) {
  while (b - a > 1) {
    int64_t mid = a + (b - a) / 2, om;
    if (zone_offset(0, mid, &om)) return -1;
    if (om == offa) a = mid;
    else b = mid;
  }
  *T = b;
  return 0;
}

/* Whether the offset stays `off` over (from, to]: 0 if so, 1 with *T the first instant with a
   new offset, -1 if the clock fails. It probes once a day: zones change their offset a few
   times a year at most, never twice within a day. */
static int find_change(int utc, int64_t from, int64_t to, int64_t off, int64_t *T) {
  int64_t p = from, q, oq;
  if (utc) return 0;
  while (p < to) {
    q = to - p > 86400 ? p + 86400 : to;
    if (zone_offset(0, q, &oq)) return -1;
    if (oq != off) return first_change(p, q, off, T) ? -1 : 1;
    p = q;
  }
  return 0;
}

int rw_cron_next(const rw_cron *c, time_t after, int utc, time_t *next) {
  int fixed = !(c->flags & RW_CRON_HOUR_STAR);
  int64_t cur = (int64_t)after, rs = cur, off, off2, lo, limit, w, x, t, e, s;
  int64_t hw = INT64_MIN;   /* wall times below this one were already shown */
  int i, r;

  if (cur < RW_CRON_TIME_MIN || cur > RW_CRON_TIME_MAX) return RW_CRON_RANGE;
  if (!utc) tzset();
  if (zone_offset(utc, cur, &off)) return RW_CRON_RANGE;
  lo = floor_div(cur + off, 60) * 60 + 60;
  limit = cur + off + (int64_t)RW_CRON_HORIZON_DAYS * 86400;
  if (fixed && !utc) {
    /* `after` may be inside a repeated hour whose first pass has already run. */
    int64_t poff;
    if (zone_offset(0, cur - 86400, &poff)) return RW_CRON_RANGE;
    if (poff != off) {
      if (first_change(cur - 86400, cur, poff, &t)) return RW_CRON_RANGE;
      hw = t + poff;
    }
  }
  for (i = 0; i < 1000; i++) {
    if (fixed && hw > lo) lo = ceil60(hw);
    if (civil_next(c, lo, limit, &w)) return RW_CRON_NOMATCH;
    x = w - off;
    r = find_change(utc, rs, x, off, &t);
    if (r < 0) return RW_CRON_RANGE;
    if (r == 0) {
      *next = (time_t)x;
      return 0;
    }
    if (zone_offset(0, t, &off2)) return RW_CRON_RANGE;
    e = t + off;
    s = t + off2;
    if (fixed && s > e) {
      int64_t g = ceil60(e > hw ? e : hw);
      if (g < s && civil_next(c, g, s - 1, &w) == 0) {
        *next = (time_t)t;
        return 0;
      }
    }
    if (e > hw) hw = e;
    off = off2;
    rs = t;
    lo = ceil60(s);
  }
  return RW_CRON_NOMATCH;
}

const char *rw_cron_strerror(int code) {
  switch (code) {
    case 0: return "no error";
    case RW_CRON_NOMATCH: return "no matching time within 8 years";
    case RW_CRON_RANGE: return "time out of the supported range (years 1900-9900)";
    default: return "unknown error";
  }
}

/* }====== */
