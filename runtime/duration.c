/* Parsing of durations ("90s", "1h 30m", "250ms", "30") into seconds; see docs/schedules.md. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

/* Units, largest first: a part's unit must come strictly after the previous part's unit. The
   value is number * mul / div, so "250ms" is 250 / 1000 = 0.25 exactly. */
static const struct unit {
  const char *name;
  double mul, div;
} units[] = {
  {"w", 604800.0, 1.0}, {"d", 86400.0, 1.0}, {"h", 3600.0, 1.0},
  {"m", 60.0, 1.0}, {"s", 1.0, 1.0}, {"ms", 1.0, 1000.0},
};
#define NUNITS ((int)(sizeof units / sizeof units[0]))

#define QUOTE_MAX 80   /* bytes of the expression shown in a message */

static int is_space(int ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int is_digit(int ch) {
  return ch >= '0' && ch <= '9';
}

static int is_alpha(int ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
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

/* Formats `bad duration "<s>": <why>` into err and returns -1. */
static int fail(char *err, size_t errlen, const char *s, const char *fmt, ...) {
  char q[QUOTE_MAX * 4 + 8], why[160];
  va_list ap;
  if (!err || errlen == 0) return -1;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  quote(q, sizeof q, s);
  snprintf(err, errlen, "bad duration \"%s\": %s", q, why);
  return -1;
}

/* A character as a message shows it: itself if printable, else its hex code. */
static const char *show_char(char *buf, size_t n, int ch) {
  unsigned char c = (unsigned char)ch;
  if (c < 0x20 || c >= 0x7f) snprintf(buf, n, "\\x%02x", c);
  else snprintf(buf, n, "%c", c);
  return buf;
}

int rw_duration_parse(const char *s, double *seconds, char *err, size_t errlen) {
  const char *p = s;
  double total = 0.0;
  int last = -1;    /* index in units[] of the previous part's unit */
  int parts = 0;
  char cb[8];

  if (err && errlen) err[0] = '\0';
  while (is_space((unsigned char)*p)) p++;
  if (*p == '\0') return fail(err, errlen, s, "empty");
  while (*p) {
    const char *num = p, *u;
    double ip = 0.0, value;
    uint64_t fnum = 0, fden = 1;
    int digits = 0, huge = 0, k, ulen;

    if (*p == '-')
      return fail(err, errlen, s, "negative durations are not allowed at position %d",
                  (int)(p - s) + 1);
    for (; is_digit((unsigned char)*p); p++, digits++) {
      if (ip < 1e16) ip = ip * 10.0 + (*p - '0');
      else huge = 1;
    }
    if (*p == '.') {
      p++;
      if (!is_digit((unsigned char)*p))
        return fail(err, errlen, s, "expected a digit after '.' at position %d", (int)(p - s) + 1);
      for (; is_digit((unsigned char)*p); p++, digits++)
        if (fden < UINT64_C(1000000000000000000)) { fnum = fnum * 10 + (uint64_t)(*p - '0'); fden *= 10; }
    }
    if (digits == 0)
      return fail(err, errlen, s, "expected a number, got '%s' at position %d",
                  show_char(cb, sizeof cb, *p), (int)(p - s) + 1);
    value = ip + (double)fnum / (double)fden;

    /* The unit: a run of letters. No unit is only allowed when the number is the whole text. */
    u = p;
    while (is_alpha((unsigned char)*p)) p++;
    ulen = (int)(p - u);
    if (ulen == 0) {
      const char *q = p;
      while (is_space((unsigned char)*q)) q++;
      if (parts == 0 && *q == '\0') {
        if (huge || value > RW_DURATION_MAX)
          return fail(err, errlen, s, "too large (over 100 years) at position %d", (int)(num - s) + 1);
        *seconds = value;
        return 0;
      }
      if (*p && !is_space((unsigned char)*p))
        return fail(err, errlen, s, "unexpected character '%s' at position %d",
                    show_char(cb, sizeof cb, *p), (int)(p - s) + 1);
      return fail(err, errlen, s, "number '%.*s' has no unit at position %d", (int)(p - num), num,
                  (int)(num - s) + 1);
    }
    for (k = 0; k < NUNITS; k++)
      if ((int)strlen(units[k].name) == ulen && memcmp(units[k].name, u, (size_t)ulen) == 0) break;
    if (k == NUNITS)
      return fail(err, errlen, s, "unknown unit '%.*s' at position %d",
                  ulen > 16 ? 16 : ulen, u, (int)(u - s) + 1);
    if (k == last)
      return fail(err, errlen, s, "unit '%s' repeated at position %d", units[k].name, (int)(u - s) + 1);
    if (k < last)
      return fail(err, errlen, s, "unit '%s' after '%s' (largest unit first: w d h m s ms) at position %d",
                  units[k].name, units[last].name, (int)(u - s) + 1);
    last = k;
    value = value * units[k].mul / units[k].div;
    if (huge || value > RW_DURATION_MAX || total + value > RW_DURATION_MAX)
      return fail(err, errlen, s, "too large (over 100 years) at position %d", (int)(num - s) + 1);
    total += value;
    parts++;
    while (is_space((unsigned char)*p)) p++;
  }
  *seconds = total;
  return 0;
}
