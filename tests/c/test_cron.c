/* Unit tests of runtime/cron.c and runtime/duration.c: syntax, errors, next fires, DST rules.
 * Long on purpose: tables of expressions and expected fire times, one section per rule. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "duration.h"

static int passed, failed;

#define CHECK(cond, ...) check_((cond), __LINE__, __VA_ARGS__)

static void check_(int cond, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void check_(int cond, int line, const char *fmt, ...) {
  va_list ap;
  if (cond) { passed++; return; }
  failed++;
  fprintf(stderr, "FAIL test_cron.c:%d: ", line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* {====== Helpers */

static void set_tz(const char *tz) {
  setenv("TZ", tz, 1);
  tzset();
}

/* An instant from a UTC date and time. */
static time_t U(int y, int mo, int d, int h, int mi, int s) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return timegm(&tm);
}

/* "YYYY-MM-DD HH:MM:SS" in UTC, or local time with the zone's abbreviation. */
static const char *fmt_time(char *buf, size_t n, time_t t, int utc) {
  struct tm tm;
  if (utc) gmtime_r(&t, &tm);
  else localtime_r(&t, &tm);
  strftime(buf, n, utc ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

static int parse(const char *expr, rw_cron *c) {
  char err[512];
  if (rw_cron_parse(expr, c, err, sizeof err) == 0) return 0;
  fprintf(stderr, "  (parse of \"%s\" failed: %s)\n", expr, err);
  return -1;
}

/* The next fire of expr after `after`, formatted, or "none"/"range"/"parse error". */
static const char *next_str(char *buf, size_t n, const char *expr, time_t after, int utc) {
  rw_cron c;
  time_t nx;
  int rc;
  if (parse(expr, &c)) return "parse error";
  rc = rw_cron_next(&c, after, utc, &nx);
  if (rc == RW_CRON_NOMATCH) return "none";
  if (rc == RW_CRON_RANGE) return "range";
  if (nx <= after) return "not after";
  return fmt_time(buf, n, nx, utc);
}

#define NEXT_UTC(expr, after, want) do { \
    char b_[64]; const char *g_ = next_str(b_, sizeof b_, (expr), (after), 1); \
    CHECK(strcmp(g_, (want)) == 0, "next \"%s\" (UTC): got %s, want %s", (expr), g_, (want)); \
  } while (0)

#define NEXT_LOCAL(expr, after, want) do { \
    char b_[64]; const char *g_ = next_str(b_, sizeof b_, (expr), (after), 0); \
    CHECK(strcmp(g_, (want)) == 0, "next \"%s\" (%s): got %s, want %s", (expr), getenv("TZ"), g_, (want)); \
  } while (0)

/* The successive fires of expr after `after`, each one checked: "a | b | c". */
static const char *fires(char *buf, size_t n, const char *expr, time_t after, int count, int utc) {
  rw_cron c;
  size_t o = 0;
  int i;
  buf[0] = '\0';
  if (parse(expr, &c)) return "parse error";
  for (i = 0; i < count; i++) {
    time_t nx;
    char t[64];
    if (rw_cron_next(&c, after, utc, &nx)) return strcat(buf, "| none"), buf;
    o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? " | " : "", fmt_time(t, sizeof t, nx, utc));
    if (o >= n) break;
    after = nx;
  }
  return buf;
}

#define FIRES(expr, after, count, utc, want) do { \
    char b_[1024]; const char *g_ = fires(b_, sizeof b_, (expr), (after), (count), (utc)); \
    CHECK(strcmp(g_, (want)) == 0, "fires of \"%s\" (%s):\n   got  %s\n   want %s", (expr), \
          (utc) ? "UTC" : getenv("TZ"), g_, (want)); \
  } while (0)

#define CRON_ERR(expr, want) do { \
    rw_cron c_; char e_[512]; int r_ = rw_cron_parse((expr), &c_, e_, sizeof e_); \
    CHECK(r_ == -1 && strcmp(e_, (want)) == 0, "error of \"%s\":\n   got  %s\n   want %s", (expr), \
          r_ ? e_ : "(parsed)", (want)); \
  } while (0)

#define DUR_OK(s, want) do { \
    double v_ = -1; char e_[256]; int r_ = rw_duration_parse((s), &v_, e_, sizeof e_); \
    CHECK(r_ == 0 && v_ == (want), "duration \"%s\": got %s %.17g, want %.17g", (s), \
          r_ ? e_ : "", v_, (double)(want)); \
  } while (0)

#define DUR_ERR(s, want) do { \
    double v_ = -1; char e_[256]; int r_ = rw_duration_parse((s), &v_, e_, sizeof e_); \
    CHECK(r_ == -1 && strcmp(e_, (want)) == 0, "duration \"%s\":\n   got  %s\n   want %s", (s), \
          r_ ? e_ : "(parsed)", (want)); \
  } while (0)

/* }====== */

/* {====== Durations */

static void test_durations(void) {
  double v;
  char e[16];
  DUR_OK("90s", 90.0);
  DUR_OK("5m", 300.0);
  DUR_OK("1h30m", 5400.0);
  DUR_OK("2h", 7200.0);
  DUR_OK("1d", 86400.0);
  DUR_OK("1w", 604800.0);
  DUR_OK("250ms", 0.25);
  DUR_OK("1.5h", 5400.0);
  DUR_OK("1h 30m", 5400.0);
  DUR_OK("0s", 0.0);
  DUR_OK("30", 30.0);
  DUR_OK("0", 0.0);
  DUR_OK("2.5", 2.5);
  DUR_OK(" 10m ", 600.0);
  DUR_OK("1w 2d 3h 4m 5s 6ms", 604800.0 + 2 * 86400.0 + 3 * 3600.0 + 240.0 + 5.0 + 0.006);
  DUR_OK("0.1s", 0.1);
  DUR_OK(".5s", 0.5);
  DUR_OK("1m30s", 90.0);
  DUR_OK("100ms", 0.1);
  DUR_OK("36500d", 36500.0 * 86400.0);
  DUR_OK("00007s", 7.0);

  DUR_ERR("5x", "bad duration \"5x\": unknown unit 'x' at position 2");
  DUR_ERR("", "bad duration \"\": empty");
  DUR_ERR("   ", "bad duration \"   \": empty");
  DUR_ERR("1h1h", "bad duration \"1h1h\": unit 'h' repeated at position 4");
  DUR_ERR("1m1h", "bad duration \"1m1h\": unit 'h' after 'm' (largest unit first: w d h m s ms) at position 4");
  DUR_ERR("30m 1h", "bad duration \"30m 1h\": unit 'h' after 'm' (largest unit first: w d h m s ms) at position 6");
  DUR_ERR("-5s", "bad duration \"-5s\": negative durations are not allowed at position 1");
  DUR_ERR("1h -5m", "bad duration \"1h -5m\": negative durations are not allowed at position 4");
  DUR_ERR("36526d", "bad duration \"36526d\": too large (over 100 years) at position 1");
  DUR_ERR("5300w", "bad duration \"5300w\": too large (over 100 years) at position 1");
  DUR_ERR("5000w 5000w", "bad duration \"5000w 5000w\": unit 'w' repeated at position 11");
  DUR_ERR("5000w 2000d", "bad duration \"5000w 2000d\": too large (over 100 years) at position 7");
  DUR_ERR("99999999999999999999999999s", "bad duration \"99999999999999999999999999s\": too large (over 100 years) at position 1");
  DUR_ERR("9999999999", "bad duration \"9999999999\": too large (over 100 years) at position 1");
  DUR_ERR("nan", "bad duration \"nan\": expected a number, got 'n' at position 1");
  DUR_ERR("inf", "bad duration \"inf\": expected a number, got 'i' at position 1");
  DUR_ERR("1e3s", "bad duration \"1e3s\": unknown unit 'e' at position 2");
  DUR_ERR("1h30", "bad duration \"1h30\": number '30' has no unit at position 3");
  DUR_ERR("5 m", "bad duration \"5 m\": number '5' has no unit at position 1");
  DUR_ERR("h", "bad duration \"h\": expected a number, got 'h' at position 1");
  DUR_ERR("5.s", "bad duration \"5.s\": expected a digit after '.' at position 3");
  DUR_ERR("5H", "bad duration \"5H\": unknown unit 'H' at position 2");
  DUR_ERR("1hour", "bad duration \"1hour\": unknown unit 'hour' at position 2");
  DUR_ERR("+5s", "bad duration \"+5s\": expected a number, got '+' at position 1");
  DUR_ERR("5s,", "bad duration \"5s,\": expected a number, got ',' at position 3");
  DUR_OK("5\n", 5.0);
  DUR_ERR("5#", "bad duration \"5#\": unexpected character '#' at position 2");
  DUR_ERR("1\"h", "bad duration \"1\\\"h\": unexpected character '\"' at position 2");

  /* A short buffer truncates but stays a string; a NULL buffer is allowed. */
  CHECK(rw_duration_parse("5x", &v, e, sizeof e) == -1 && strlen(e) == sizeof e - 1,
        "short error buffer: %s", e);
  CHECK(rw_duration_parse("5x", &v, NULL, 0) == -1, "NULL error buffer");
}

/* }====== */

/* {====== Cron syntax and errors */

static void test_syntax(void) {
  rw_cron c;
  char e[512];
  int i;

  CHECK(parse("* * * * *", &c) == 0 && c.minutes == 0x0FFFFFFFFFFFFFFFULL && c.hours == 0xFFFFFF &&
        c.mdays == 0xFFFFFFFEu && c.months == 0x1FFE && c.wdays == 0x7F &&
        c.flags == (RW_CRON_HOUR_STAR | RW_CRON_MDAY_STAR | RW_CRON_WDAY_STAR), "all stars");
  CHECK(parse("1,5,10 * * * *", &c) == 0 && c.minutes == ((1ULL << 1) | (1ULL << 5) | (1ULL << 10)), "list");
  CHECK(parse("1-5 * * * *", &c) == 0 && c.minutes == 0x3EULL, "range");
  CHECK(parse("*/15 * * * *", &c) == 0 && c.minutes == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)), "*/15");
  CHECK(parse("10-50/10 * * * *", &c) == 0 &&
        c.minutes == ((1ULL << 10) | (1ULL << 20) | (1ULL << 30) | (1ULL << 40) | (1ULL << 50)), "10-50/10");
  CHECK(parse("5/15 * * * *", &c) == 0 &&
        c.minutes == ((1ULL << 5) | (1ULL << 20) | (1ULL << 35) | (1ULL << 50)), "5/15");
  CHECK(parse("0 0 * * 7", &c) == 0 && c.wdays == 1, "7 is Sunday");
  CHECK(parse("0 0 * * 0,7", &c) == 0 && c.wdays == 1, "0 and 7");
  CHECK(parse("0 0 * * 5-7", &c) == 0 && c.wdays == ((1 << 5) | (1 << 6) | 1), "5-7");
  CHECK(parse("0 0 * * 0-7", &c) == 0 && c.wdays == 0x7F, "0-7");
  CHECK(parse("0 0 * * */2", &c) == 0 && c.wdays == ((1 << 0) | (1 << 2) | (1 << 4) | (1 << 6)), "dow */2");
  CHECK(parse("0 0 * * MON-FRI", &c) == 0 && c.wdays == 0x3E && !(c.flags & RW_CRON_WDAY_STAR), "MON-FRI");
  CHECK(parse("0 0 * * mon-Fri", &c) == 0 && c.wdays == 0x3E, "case-insensitive days");
  CHECK(parse("0 0 * * FRI-SUN", &c) == 0 && c.wdays == ((1 << 5) | (1 << 6) | 1), "FRI-SUN");
  CHECK(parse("0 0 * * SUN-SAT", &c) == 0 && c.wdays == 0x7F, "SUN-SAT");
  CHECK(parse("0 0 * * MON,WED,fri", &c) == 0 && c.wdays == ((1 << 1) | (1 << 3) | (1 << 5)), "day list");
  CHECK(parse("0 0 * * MON-5", &c) == 0 && c.wdays == 0x3E, "name-number range");
  CHECK(parse("0 0 * JAN-MAR,jul,Dec *", &c) == 0 &&
        c.months == ((1 << 1) | (1 << 2) | (1 << 3) | (1 << 7) | (1 << 12)), "month names");
  CHECK(parse("0 0 * JAN-DEC/3 *", &c) == 0 &&
        c.months == ((1 << 1) | (1 << 4) | (1 << 7) | (1 << 10)), "month names with step");
  CHECK(parse("0 0 1/10 * *", &c) == 0 && c.mdays == ((1u << 1) | (1u << 11) | (1u << 21) | (1u << 31)), "1/10 dom");
  CHECK(parse("59 23 31 12 6", &c) == 0, "maximums");
  CHECK(parse(" \t0  0\t* *  *  ", &c) == 0 && c.minutes == 1 && c.hours == 1, "whitespace");
  CHECK(parse("*/59 * * * *", &c) == 0 && c.minutes == ((1ULL << 0) | (1ULL << 59)), "*/59");
  CHECK(parse("0 0 13 * FRI", &c) == 0 && !(c.flags & (RW_CRON_MDAY_STAR | RW_CRON_WDAY_STAR)), "both restricted");
  CHECK(parse("0 0 */2 * FRI", &c) == 0 && (c.flags & RW_CRON_MDAY_STAR), "*/2 counts as '*' (Vixie)");
  CHECK(parse("0 */2 * * *", &c) == 0 && (c.flags & RW_CRON_HOUR_STAR), "hour */2 is a wildcard hour");
  CHECK(parse("0 0-23 * * *", &c) == 0 && !(c.flags & RW_CRON_HOUR_STAR), "hour 0-23 is fixed");

  {
    static const struct { const char *macro, *same; } macros[] = {
      {"@hourly", "0 * * * *"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
      {"@weekly", "0 0 * * 0"}, {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"}, {"@DAILY", "0 0 * * *"}, {"  @hourly  ", "0 * * * *"},
    };
    for (i = 0; i < (int)(sizeof macros / sizeof macros[0]); i++) {
      rw_cron a, b;
      CHECK(parse(macros[i].macro, &a) == 0 && parse(macros[i].same, &b) == 0 &&
            memcmp(&a, &b, sizeof a) == 0, "%s is %s", macros[i].macro, macros[i].same);
    }
  }

  CRON_ERR("0 25 * * *", "bad cron expression \"0 25 * * *\": hour 25 out of range 0-23 at position 3");
  CRON_ERR("60 * * * *", "bad cron expression \"60 * * * *\": minute 60 out of range 0-59 at position 1");
  CRON_ERR("0 0 0 * *", "bad cron expression \"0 0 0 * *\": day-of-month 0 out of range 1-31 at position 5");
  CRON_ERR("0 0 32 * *", "bad cron expression \"0 0 32 * *\": day-of-month 32 out of range 1-31 at position 5");
  CRON_ERR("0 0 * 13 *", "bad cron expression \"0 0 * 13 *\": month 13 out of range 1-12 at position 7");
  CRON_ERR("0 0 * 0 *", "bad cron expression \"0 0 * 0 *\": month 0 out of range 1-12 at position 7");
  CRON_ERR("0 0 * * 8", "bad cron expression \"0 0 * * 8\": day-of-week 8 out of range 0-7 at position 9");
  CRON_ERR("0 1-99999999999 * * *", "bad cron expression \"0 1-99999999999 * * *\": hour 99999999999 out of range 0-23 at position 5");
  CRON_ERR("0 0 *", "bad cron expression \"0 0 *\": expected 5 fields (minute hour day-of-month month day-of-week), got 3");
  CRON_ERR("0 0 * * * *", "bad cron expression \"0 0 * * * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 6: extra field at position 11");
  CRON_ERR("0 0 12 * * ? 2024", "bad cron expression \"0 0 12 * * ? 2024\": expected 5 fields (minute hour day-of-month month day-of-week), got 7: extra field at position 12");
  CRON_ERR("", "bad cron expression \"\": empty");
  CRON_ERR(" \t ", "bad cron expression \" \\x09 \": empty");
  CRON_ERR("1,,2 * * * *", "bad cron expression \"1,,2 * * * *\": minute has an empty list item at position 3");
  CRON_ERR(",1 * * * *", "bad cron expression \",1 * * * *\": minute has an empty list item at position 1");
  CRON_ERR("0 0 1, * *", "bad cron expression \"0 0 1, * *\": day-of-month has an empty list item at position 6");
  CRON_ERR("*/0 * * * *", "bad cron expression \"*/0 * * * *\": minute step 0 out of range 1-59 at position 3");
  CRON_ERR("0 1-5/0 * * *", "bad cron expression \"0 1-5/0 * * *\": hour step 0 out of range 1-23 at position 7");
  CRON_ERR("*/60 * * * *", "bad cron expression \"*/60 * * * *\": minute step 60 out of range 1-59 at position 3");
  CRON_ERR("0 5-3 * * *", "bad cron expression \"0 5-3 * * *\": hour range 5-3 is reversed at position 3");
  CRON_ERR("0 0 * * FRI-MON", "bad cron expression \"0 0 * * FRI-MON\": day-of-week range FRI-MON is reversed at position 9");
  CRON_ERR("0 0 * DEC-JAN *", "bad cron expression \"0 0 * DEC-JAN *\": month range DEC-JAN is reversed at position 7");
  CRON_ERR("0 0 * FOO *", "bad cron expression \"0 0 * FOO *\": month unknown name 'FOO' at position 7");
  CRON_ERR("0 0 * MON *", "bad cron expression \"0 0 * MON *\": month unknown name 'MON' at position 7");
  CRON_ERR("0 0 * * MON-FOO", "bad cron expression \"0 0 * * MON-FOO\": day-of-week unknown name 'FOO' at position 13");
  CRON_ERR("0 0 * * MONDAY", "bad cron expression \"0 0 * * MONDAY\": day-of-week unknown name 'MONDAY' at position 9");
  CRON_ERR("0 noon * * *", "bad cron expression \"0 noon * * *\": hour expected a number, got 'noon' at position 3");
  CRON_ERR("0 0 * * MON-", "bad cron expression \"0 0 * * MON-\": day-of-week expected a number after '-' at position 12");
  CRON_ERR("*/ * * * *", "bad cron expression \"*/ * * * *\": minute expected a number after '/' at position 2");
  CRON_ERR("*/x * * * *", "bad cron expression \"*/x * * * *\": minute step must be a number, got 'x' at position 3");
  CRON_ERR("5-* * * * *", "bad cron expression \"5-* * * * *\": minute unexpected character '*' at position 3");
  CRON_ERR("*-5 * * * *", "bad cron expression \"*-5 * * * *\": minute unexpected character '-' at position 2");
  CRON_ERR("0 0 ? * *", "bad cron expression \"0 0 ? * *\": day-of-month unexpected character '?' at position 5");
  CRON_ERR("0 0 L * *", "bad cron expression \"0 0 L * *\": day-of-month expected a number, got 'L' at position 5");
  CRON_ERR("1/2/3 * * * *", "bad cron expression \"1/2/3 * * * *\": minute unexpected character '/' at position 4");
  CRON_ERR("@reboot", "bad cron expression \"@reboot\": unknown macro '@reboot' (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually) at position 1");
  CRON_ERR("@daily 5", "bad cron expression \"@daily 5\": @daily takes no fields at position 8");
  CRON_ERR("0 0 * * \x01", "bad cron expression \"0 0 * * \\x01\": day-of-week unexpected character '\\x01' at position 9");
  CRON_ERR("0 0 \"1 * *", "bad cron expression \"0 0 \\\"1 * *\": day-of-month unexpected character '\"' at position 5");

  /* Long expressions are cut in messages; short buffers are truncated and terminated. */
  {
    char longx[400];
    memset(longx, '1', sizeof longx - 1);
    longx[sizeof longx - 1] = '\0';
    CHECK(rw_cron_parse(longx, &c, e, sizeof e) == -1 && strstr(e, "...\": expected 5 fields"),
          "long expression: %s", e);
    CHECK(rw_cron_parse("0 25 * * *", &c, e, 10) == -1 && strlen(e) == 9, "short buffer");
    CHECK(rw_cron_parse("0 25 * * *", &c, NULL, 0) == -1, "NULL buffer");
  }
}

/* }====== */

/* {====== Next fire in UTC */

static void test_next_utc(void) {
  time_t t0 = U(2024, 1, 1, 0, 0, 0);   /* a Monday */
  rw_cron c;
  time_t nx;

  NEXT_UTC("* * * * *", t0, "2024-01-01 00:01:00");
  NEXT_UTC("* * * * *", t0 + 30, "2024-01-01 00:01:00");
  NEXT_UTC("* * * * *", t0 - 1, "2024-01-01 00:00:00");
  NEXT_UTC("*/15 * * * *", t0 + 7 * 60 + 30, "2024-01-01 00:15:00");
  FIRES("10-50/10 * * * *", t0, 6, 1, "2024-01-01 00:10:00 | 2024-01-01 00:20:00 | 2024-01-01 00:30:00 | "
        "2024-01-01 00:40:00 | 2024-01-01 00:50:00 | 2024-01-01 01:10:00");
  FIRES("5/15 * * * *", t0, 5, 1, "2024-01-01 00:05:00 | 2024-01-01 00:20:00 | 2024-01-01 00:35:00 | "
        "2024-01-01 00:50:00 | 2024-01-01 01:05:00");
  FIRES("1,5,10 3 * * *", t0, 4, 1, "2024-01-01 03:01:00 | 2024-01-01 03:05:00 | 2024-01-01 03:10:00 | "
        "2024-01-02 03:01:00");
  FIRES("0 9-11 * * *", t0, 4, 1, "2024-01-01 09:00:00 | 2024-01-01 10:00:00 | 2024-01-01 11:00:00 | "
        "2024-01-02 09:00:00");
  NEXT_UTC("0 9 * * MON", U(2024, 1, 1, 9, 0, 0), "2024-01-08 09:00:00");
  NEXT_UTC("0 9 * * MON", U(2024, 1, 1, 8, 59, 59), "2024-01-01 09:00:00");
  FIRES("0 9 * * MON-FRI", U(2024, 1, 4, 12, 0, 0), 3, 1,
        "2024-01-05 09:00:00 | 2024-01-08 09:00:00 | 2024-01-09 09:00:00");
  NEXT_UTC("0 0 * * 7", t0, "2024-01-07 00:00:00");
  NEXT_UTC("0 0 * * 0", t0, "2024-01-07 00:00:00");
  NEXT_UTC("0 0 * * SUN", t0, "2024-01-07 00:00:00");
  FIRES("0 0 * * FRI-SUN", t0, 4, 1, "2024-01-05 00:00:00 | 2024-01-06 00:00:00 | 2024-01-07 00:00:00 | "
        "2024-01-12 00:00:00");
  NEXT_UTC("0 0 1 JUL *", t0, "2024-07-01 00:00:00");
  NEXT_UTC("0 0 1 jan,Jul *", U(2024, 1, 2, 0, 0, 0), "2024-07-01 00:00:00");
  FIRES("0 12 * FEB-MAR/1 *", U(2024, 2, 28, 13, 0, 0), 3, 1,
        "2024-02-29 12:00:00 | 2024-03-01 12:00:00 | 2024-03-02 12:00:00");

  /* Vixie: both day fields restricted, either matches; if one starts with a star (even with a
     step), both must. */
  FIRES("0 0 13 * FRI", U(2024, 9, 1, 0, 0, 0), 5, 1, "2024-09-06 00:00:00 | 2024-09-13 00:00:00 | "
        "2024-09-20 00:00:00 | 2024-09-27 00:00:00 | 2024-10-04 00:00:00");
  FIRES("0 0 13 * FRI", U(2024, 10, 5, 0, 0, 0), 3, 1,
        "2024-10-11 00:00:00 | 2024-10-13 00:00:00 | 2024-10-18 00:00:00");
  FIRES("0 0 1,15 * MON", U(2024, 1, 1, 0, 0, 0), 4, 1,
        "2024-01-08 00:00:00 | 2024-01-15 00:00:00 | 2024-01-22 00:00:00 | 2024-01-29 00:00:00");
  FIRES("0 0 */2 * FRI", U(2024, 1, 1, 0, 0, 0), 3, 1,
        "2024-01-05 00:00:00 | 2024-01-19 00:00:00 | 2024-02-09 00:00:00");
  FIRES("0 0 13 * *", U(2024, 9, 1, 0, 0, 0), 2, 1, "2024-09-13 00:00:00 | 2024-10-13 00:00:00");
  FIRES("0 0 * * FRI", U(2024, 9, 1, 0, 0, 0), 2, 1, "2024-09-06 00:00:00 | 2024-09-13 00:00:00");

  /* Macros. */
  NEXT_UTC("@hourly", U(2024, 1, 1, 10, 0, 0), "2024-01-01 11:00:00");
  NEXT_UTC("@daily", U(2024, 1, 1, 10, 0, 0), "2024-01-02 00:00:00");
  NEXT_UTC("@midnight", U(2024, 1, 1, 10, 0, 0), "2024-01-02 00:00:00");
  NEXT_UTC("@weekly", U(2024, 1, 1, 10, 0, 0), "2024-01-07 00:00:00");
  NEXT_UTC("@monthly", U(2024, 1, 1, 10, 0, 0), "2024-02-01 00:00:00");
  NEXT_UTC("@yearly", U(2024, 1, 1, 10, 0, 0), "2025-01-01 00:00:00");
  NEXT_UTC("@annually", U(2024, 12, 31, 23, 59, 59), "2025-01-01 00:00:00");

  /* Leap years and month ends. */
  FIRES("0 0 29 2 *", U(2024, 3, 1, 0, 0, 0), 3, 1,
        "2028-02-29 00:00:00 | 2032-02-29 00:00:00 | 2036-02-29 00:00:00");
  NEXT_UTC("0 0 29 2 *", U(2096, 3, 1, 0, 0, 0), "2104-02-29 00:00:00");   /* 2100 is no leap year */
  NEXT_UTC("0 0 29 2 *", U(1999, 3, 1, 0, 0, 0), "2000-02-29 00:00:00");   /* 2000 is */
  FIRES("0 0 31 * *", U(2024, 1, 31, 0, 0, 0), 4, 1,
        "2024-03-31 00:00:00 | 2024-05-31 00:00:00 | 2024-07-31 00:00:00 | 2024-08-31 00:00:00");
  FIRES("59 23 30 * *", U(2024, 1, 31, 0, 0, 0), 3, 1,
        "2024-03-30 23:59:00 | 2024-04-30 23:59:00 | 2024-05-30 23:59:00");
  FIRES("0 0 28-31 2 *", U(2023, 2, 27, 0, 0, 0), 3, 1,
        "2023-02-28 00:00:00 | 2024-02-28 00:00:00 | 2024-02-29 00:00:00");
  NEXT_UTC("59 23 31 12 *", U(2024, 12, 31, 23, 58, 59), "2024-12-31 23:59:00");
  NEXT_UTC("0 0 1 1 *", U(2024, 12, 31, 23, 59, 59), "2025-01-01 00:00:00");

  /* Never, or not within the horizon: a clean failure, fast. */
  NEXT_UTC("0 0 30 2 *", t0, "none");
  NEXT_UTC("0 0 31 4,6,9,11 *", t0, "none");
  NEXT_UTC("0 0 31 2 *", t0, "none");

  /* Far instants, before 1970 and out of range. */
  NEXT_UTC("30 6 * * *", U(1960, 5, 1, 12, 0, 0), "1960-05-02 06:30:00");
  NEXT_UTC("0 0 1 1 *", U(9000, 6, 1, 0, 0, 0), "9001-01-01 00:00:00");
  CHECK(parse("* * * * *", &c) == 0 && rw_cron_next(&c, (time_t)1 << 50, 1, &nx) == RW_CRON_RANGE,
        "after far in the future");
  CHECK(rw_cron_next(&c, -((time_t)1 << 50), 0, &nx) == RW_CRON_RANGE, "after far in the past");
  CHECK(strcmp(rw_cron_strerror(RW_CRON_NOMATCH), "no matching time within 8 years") == 0, "strerror");
}

/* A brute-force check in UTC: from many instants, next() is the first matching minute. */
static void test_next_utc_bruteforce(void) {
  static const char *const exprs[] = {
    "* * * * *", "*/7 * * * *", "0 */5 * * *", "13 13 13 * *", "0 0 * * FRI", "0 0 13 * FRI",
    "5-10,40 1,23 * * 1-5", "0 12 1,15,31 * *", "*/20 8-17 * * MON-FRI", "0 0 1 */3 *",
  };
  int i, k, bad = 0;
  for (i = 0; i < (int)(sizeof exprs / sizeof exprs[0]); i++) {
    rw_cron c;
    if (parse(exprs[i], &c)) { bad++; continue; }
    for (k = 0; k < 200; k++) {
      time_t after = U(2023, 12, 25, 0, 0, 0) + (time_t)k * 4517 + k % 3 * 17, nx, t;
      struct tm tm;
      if (rw_cron_next(&c, after, 1, &nx)) { bad++; continue; }
      for (t = after - after % 60 + 60; t < nx; t += 60) {
        gmtime_r(&t, &tm);
        if (rw_cron_matches(&c, &tm)) break;
      }
      gmtime_r(&nx, &tm);
      if (t != nx || !rw_cron_matches(&c, &tm) || nx % 60 != 0) {
        bad++;
        fprintf(stderr, "  brute force: \"%s\" after %lld: next %lld, first match %lld\n", exprs[i],
                (long long)after, (long long)nx, (long long)t);
      }
    }
  }
  CHECK(bad == 0, "UTC brute force: %d mismatches", bad);
}

/* }====== */

/* {====== Local time and DST */

/* The civil seconds shown by the wall clock at t. */
static long long civil_of(time_t t) {
  struct tm tm;
  localtime_r(&t, &tm);
  return (long long)timegm(&tm);
}

/* The reference for local time: walks every real minute from a day before `from` to `to` and
   applies the rule of docs/schedules.md literally. A job whose hour field starts with '*' fires
   at every real minute whose wall time matches. Any other job fires at a matching wall time
   only if that wall time was never shown before (first pass of a repeated hour), and at the
   first minute after a gap if a wall time inside the gap matches. Returns the number of fires
   in (from, to]. */
static int reference(const rw_cron *c, time_t from, time_t to, time_t *out, int max) {
  int wild = (c->flags & RW_CRON_HOUR_STAR) != 0, n = 0;
  time_t t = from - from % 60 - 86400;
  long long hw = civil_of(t - 60), prev = hw;
  for (; t <= to; t += 60) {
    struct tm tm;
    long long civ = civil_of(t), g;
    int fire;
    time_t ct = (time_t)civ;
    gmtime_r(&ct, &tm);
    fire = civ % 60 == 0 && rw_cron_matches(c, &tm) && (wild || civ > hw);
    if (!wild && !fire && civ > prev + 60)
      for (g = prev + 60; g < civ && !fire; g += 60) {
        time_t gt = (time_t)g;
        gmtime_r(&gt, &tm);
        fire = g > hw && rw_cron_matches(c, &tm);
      }
    if (civ > hw) hw = civ;
    prev = civ;
    if (fire && t > from && n < max) out[n++] = t;
  }
  return n;
}

/* The instants in [from, to) where the local offset changes (to the second). */
static int transitions(time_t from, time_t to, time_t *out, int max) {
  int n = 0;
  time_t t;
  for (t = from; t + 3600 <= to && n < max; t += 3600) {
    time_t a = t, b = t + 3600;
    if (civil_of(a) - a == civil_of(b) - b) continue;
    while (b - a > 1) {
      time_t mid = a + (b - a) / 2;
      if (civil_of(mid) - mid == civil_of(a) - a) a = mid;
      else b = mid;
    }
    out[n++] = b;
  }
  return n;
}

static const char *const dst_exprs[] = {
  "0 * * * *", "30 * * * *", "*/15 * * * *", "* * * * *", "30 2 * * *", "0 2 * * *",
  "0 3 * * *", "*/15 2 * * *", "0 2,3 * * *", "30 1 * * *", "0 1-3 * * *", "59 1 * * *",
  "0 0 * * *", "* 2 * * *", "0 */2 * * *", "15,45 1,2,3 * * *", "0 0 * * SUN", "0 12 * * *",
  "30 0 * * *", "45 23 * * *", "0 1 * * *", "0,30 * * * *", "* 0-3 * * *", "0 4 * * *",
};

/* Around every offset change of `year` in the current zone: the chain of next() from a day
   before equals the reference, and next() from many instants equals the first later fire. */
static void compare_with_reference(const char *zone, int year) {
  time_t tr[16], ref[8192];
  int ntr, i, j, k, bad = 0, checked = 0;
  ntr = transitions(U(year, 1, 1, 0, 0, 0), U(year + 1, 1, 1, 0, 0, 0), tr, 16);
  CHECK(ntr >= 2, "%s %d: %d offset changes found", zone, year, ntr);
  for (i = 0; i < ntr; i++) {
    time_t from = tr[i] - 36 * 3600, to = tr[i] + 36 * 3600;
    for (j = 0; j < (int)(sizeof dst_exprs / sizeof dst_exprs[0]); j++) {
      rw_cron c;
      int n, got = 0;
      time_t t = from, nx;
      if (parse(dst_exprs[j], &c)) { bad++; continue; }
      n = reference(&c, from, to, ref, 8192);
      while (rw_cron_next(&c, t, 0, &nx) == 0 && nx <= to) {
        if (got >= n || ref[got] != nx) {
          char a[64], b[64];
          if (bad++ < 10)
            fprintf(stderr, "  %s \"%s\": fire %d is %s, reference %s\n", zone, dst_exprs[j], got,
                    fmt_time(a, sizeof a, nx, 0), got < n ? fmt_time(b, sizeof b, ref[got], 0) : "none");
          break;
        }
        got++;
        t = nx;
      }
      if (got != n && bad++ < 10)
        fprintf(stderr, "  %s \"%s\": %d fires, reference %d\n", zone, dst_exprs[j], got, n);
      /* From instants all over the window, including inside the repeated hour. */
      for (k = 0; k < 72 * 60; k += 7) {
        time_t after = from + (time_t)k * 60 + (k % 3) * 20;
        int r;
        for (r = 0; r < n && ref[r] <= after; r++) {}
        if (r == n || ref[r] > to - 86400) continue;
        checked++;
        if (rw_cron_next(&c, after, 0, &nx) || nx != ref[r]) {
          char a[64], b[64], d[64];
          if (bad++ < 10)
            fprintf(stderr, "  %s \"%s\" after %s: %s, reference %s\n", zone, dst_exprs[j],
                    fmt_time(d, sizeof d, after, 0), fmt_time(a, sizeof a, nx, 0),
                    fmt_time(b, sizeof b, ref[r], 0));
        }
      }
    }
  }
  CHECK(bad == 0, "%s %d: %d differences from the reference (%d starting points)", zone, year,
        bad, checked);
}

static void test_dst_berlin(void) {
  /* 2024-03-31: 02:00 CET -> 03:00 CEST at 01:00 UTC. 2024-10-27: 03:00 CEST -> 02:00 CET at
     01:00 UTC. */
  set_tz("Europe/Berlin");
  /* Spring forward: 02:30 does not exist; fixed-hour jobs in the gap fire once at 03:00. */
  FIRES("30 2 * * *", U(2024, 3, 30, 12, 0, 0), 3, 0,
        "2024-03-31 03:00:00 CEST | 2024-04-01 02:30:00 CEST | 2024-04-02 02:30:00 CEST");
  FIRES("*/15 2 * * *", U(2024, 3, 30, 23, 0, 0), 2, 0,
        "2024-03-31 03:00:00 CEST | 2024-04-01 02:00:00 CEST");
  FIRES("0 2,3 * * *", U(2024, 3, 30, 23, 0, 0), 3, 0,
        "2024-03-31 03:00:00 CEST | 2024-04-01 02:00:00 CEST | 2024-04-01 03:00:00 CEST");
  FIRES("0 3 * * *", U(2024, 3, 30, 23, 0, 0), 2, 0,
        "2024-03-31 03:00:00 CEST | 2024-04-01 03:00:00 CEST");
  FIRES("30 3 * * *", U(2024, 3, 30, 23, 0, 0), 1, 0, "2024-03-31 03:30:00 CEST");
  FIRES("30 1 * * *", U(2024, 3, 30, 23, 0, 0), 2, 0,
        "2024-03-31 01:30:00 CET | 2024-04-01 01:30:00 CEST");
  /* Wildcard-hour jobs keep the real hours: 01:00 CET, then 03:00 CEST one hour later. */
  FIRES("0 * * * *", U(2024, 3, 30, 23, 30, 0), 4, 0, "2024-03-31 01:00:00 CET | "
        "2024-03-31 03:00:00 CEST | 2024-03-31 04:00:00 CEST | 2024-03-31 05:00:00 CEST");
  FIRES("30 * * * *", U(2024, 3, 31, 0, 0, 0), 2, 0,
        "2024-03-31 01:30:00 CET | 2024-03-31 03:30:00 CEST");
  FIRES("*/30 * * * *", U(2024, 3, 31, 0, 10, 0), 3, 0,
        "2024-03-31 01:30:00 CET | 2024-03-31 03:00:00 CEST | 2024-03-31 03:30:00 CEST");

  /* Fall back: 02:00-02:59 happens twice; fixed-hour jobs fire in the first pass only. */
  FIRES("30 2 * * *", U(2024, 10, 26, 12, 0, 0), 3, 0,
        "2024-10-27 02:30:00 CEST | 2024-10-28 02:30:00 CET | 2024-10-29 02:30:00 CET");
  FIRES("*/20 2 * * *", U(2024, 10, 26, 23, 0, 0), 4, 0, "2024-10-27 02:00:00 CEST | "
        "2024-10-27 02:20:00 CEST | 2024-10-27 02:40:00 CEST | 2024-10-28 02:00:00 CET");
  FIRES("0 3 * * *", U(2024, 10, 26, 23, 0, 0), 2, 0,
        "2024-10-27 03:00:00 CET | 2024-10-28 03:00:00 CET");
  /* ... even when asked from inside the second pass. */
  NEXT_LOCAL("40 2 * * *", U(2024, 10, 27, 1, 20, 0) /* 02:20 CET */, "2024-10-28 02:40:00 CET");
  NEXT_LOCAL("40 2 * * *", U(2024, 10, 27, 0, 20, 0) /* 02:20 CEST */, "2024-10-27 02:40:00 CEST");
  /* Wildcard-hour jobs fire in both passes: every real hour, never twice in one. */
  FIRES("0 * * * *", U(2024, 10, 26, 23, 30, 0), 4, 0, "2024-10-27 02:00:00 CEST | "
        "2024-10-27 02:00:00 CET | 2024-10-27 03:00:00 CET | 2024-10-27 04:00:00 CET");
  FIRES("45 * * * *", U(2024, 10, 27, 0, 50, 0), 2, 0,
        "2024-10-27 02:45:00 CET | 2024-10-27 03:45:00 CET");
  NEXT_LOCAL("0,45 * * * *", U(2024, 10, 27, 0, 30, 0), "2024-10-27 02:45:00 CEST");
  NEXT_LOCAL("0 * * * *", U(2024, 10, 27, 0, 59, 0), "2024-10-27 02:00:00 CET");

  /* Daily jobs away from the change are not affected. */
  FIRES("0 9 * * *", U(2024, 3, 30, 12, 0, 0), 2, 0,
        "2024-03-31 09:00:00 CEST | 2024-04-01 09:00:00 CEST");

  compare_with_reference("Europe/Berlin", 2024);
  compare_with_reference("Europe/Berlin", 2025);
}

static void test_dst_new_york(void) {
  /* 2024-03-10: 02:00 EST -> 03:00 EDT at 07:00 UTC. 2024-11-03: 02:00 EDT -> 01:00 EST at
     06:00 UTC. */
  set_tz("America/New_York");
  FIRES("30 2 * * *", U(2024, 3, 9, 12, 0, 0), 2, 0,
        "2024-03-10 03:00:00 EDT | 2024-03-11 02:30:00 EDT");
  FIRES("0 * * * *", U(2024, 3, 10, 5, 30, 0), 3, 0,
        "2024-03-10 01:00:00 EST | 2024-03-10 03:00:00 EDT | 2024-03-10 04:00:00 EDT");
  FIRES("30 1 * * *", U(2024, 11, 2, 12, 0, 0), 2, 0,
        "2024-11-03 01:30:00 EDT | 2024-11-04 01:30:00 EST");
  FIRES("0 1 * * *", U(2024, 11, 2, 12, 0, 0), 2, 0,
        "2024-11-03 01:00:00 EDT | 2024-11-04 01:00:00 EST");
  FIRES("30 * * * *", U(2024, 11, 3, 4, 0, 0), 4, 0, "2024-11-03 00:30:00 EDT | "
        "2024-11-03 01:30:00 EDT | 2024-11-03 01:30:00 EST | 2024-11-03 02:30:00 EST");
  NEXT_LOCAL("15 1 * * *", U(2024, 11, 3, 6, 10, 0) /* 01:10 EST */, "2024-11-04 01:15:00 EST");
  compare_with_reference("America/New_York", 2024);
  compare_with_reference("America/New_York", 2026);
}

/* Zones with other shapes of change: at midnight (Santiago) and by 30 minutes (Lord Howe). */
static void test_dst_other_zones(void) {
  set_tz("America/Santiago");
  /* 2024-09-08: 24:00 -04 -> 01:00 -03 (midnight does not exist). */
  FIRES("0 0 * * *", U(2024, 9, 7, 12, 0, 0), 2, 0,
        "2024-09-08 01:00:00 -03 | 2024-09-09 00:00:00 -03");
  compare_with_reference("America/Santiago", 2024);
  set_tz("Australia/Lord_Howe");
  compare_with_reference("Australia/Lord_Howe", 2024);
}

/* Searches are bounded and skip what cannot match: years of search take little time. */
static void test_speed(void) {
  rw_cron c;
  time_t nx;
  clock_t t0 = clock();
  double secs;
  int i, ok = 1;
  set_tz("Europe/Berlin");
  if (parse("0 0 29 2 *", &c)) return;
  for (i = 0; i < 200; i++)
    ok &= rw_cron_next(&c, U(2096, 3, 1, 0, 0, 0) + i * 3600, 0, &nx) == 0;
  if (parse("0 0 30 2 *", &c)) return;
  for (i = 0; i < 200; i++) {
    ok &= rw_cron_next(&c, U(2024, 1, 1, 0, 0, 0) + i * 3600, 0, &nx) == RW_CRON_NOMATCH;
    ok &= rw_cron_next(&c, U(2024, 1, 1, 0, 0, 0) + i * 3600, 1, &nx) == RW_CRON_NOMATCH;
  }
  secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  CHECK(ok, "long searches");
  CHECK(secs < 2.0, "600 long searches took %.2f s", secs);
}

/* }====== */

int main(void) {
  int dst = 1;
  test_durations();
  test_syntax();
  set_tz("UTC");
  test_next_utc();
  test_next_utc_bruteforce();

  set_tz("Europe/Berlin");
  if (civil_of(U(2024, 7, 1, 0, 0, 0)) - U(2024, 7, 1, 0, 0, 0) != 7200) {
    printf("skipped the DST cases: no time zone data (tzdata) for Europe/Berlin\n");
    dst = 0;
  }
  else {
    test_dst_berlin();
    test_dst_new_york();
    test_dst_other_zones();
    test_speed();
  }
  printf("%d passed, %d failed\n", passed, failed);
  if (failed) return 1;
  return dst ? 0 : 77;
}
