/* libFuzzer harness for the cron parser and next-fire search: no crash, and every fire checked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Instants around DST changes (Berlin and New York 2024, both passes of Berlin's repeated hour),
   a leap day, a year end and the century leap-year gap. */
static const time_t instants[] = {
  1711846800 - 1800, 1711846800 + 59, 1729990800 - 1800, 1729990800 + 1200,
  1710054000 - 1, 1730613600 - 600, 951782370, 946684799, 3981268800,
};
#define NINSTANTS (sizeof instants / sizeof instants[0])

static void fail(const char *what, const char *expr, time_t after, int utc, time_t nx) {
  fprintf(stderr, "fuzz_cron: %s: \"%s\" after %lld (%s): %lld\n", what, expr, (long long)after,
          utc ? "UTC" : "local", (long long)nx);
  abort();
}

/* Offset east of UTC at t in the local zone. */
static long long offset(time_t t) {
  struct tm tm;
  if (!localtime_r(&t, &tm)) abort();
  return (long long)timegm(&tm) - (long long)t;
}

/* Whether c fires at real instant t by the rule every job follows: the wall clock shows a whole
   matching minute; or, for a fixed-hour job, t is the end of a gap (spring forward). */
static int fires_at(const rw_cron *c, time_t t, int utc) {
  struct tm tm;
  if (utc) {
    gmtime_r(&t, &tm);
    return t % 60 == 0 && rw_cron_matches(c, &tm);
  }
  localtime_r(&t, &tm);
  if (tm.tm_sec == 0 && rw_cron_matches(c, &tm)) return 1;
  return !(c->flags & RW_CRON_HOUR_STAR) && offset(t - 1) < offset(t);
}

/* Whether some day in the 8 years after `after` has an allowed month and day: then the
   expression matches at that day's first allowed hour and minute. */
static int some_day_matches(const rw_cron *c, time_t after) {
  time_t t = after + 86400;
  int i, h = 0, m = 0;
  while (!((c->hours >> h) & 1)) h++;
  while (!((c->minutes >> m) & 1)) m++;
  for (i = 0; i < RW_CRON_HORIZON_DAYS - 2; i++, t += 86400) {
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = h;
    tm.tm_min = m;
    if (rw_cron_matches(c, &tm)) return 1;
  }
  return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (!getenv("TZ")) setenv("TZ", "Europe/Berlin", 1);
  tzset();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s, err[300], small[12];
  rw_cron c, c2;
  size_t i;
  int utc, rc;

  if (size > 4096) return 0;
  s = (char *)malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  rc = rw_cron_parse(s, &c, err, sizeof err);
  if (rw_cron_parse(s, &c2, small, sizeof small) != rc || strlen(small) >= sizeof small) abort();
  if (rc != 0) {
    if (strncmp(err, "bad cron expression \"", 21) != 0 || strlen(err) >= sizeof err) {
      fprintf(stderr, "fuzz_cron: odd message: %s\n", err);
      abort();
    }
    free(s);
    return 0;
  }
  if (memcmp(&c, &c2, sizeof c) != 0 || c.minutes == 0 || c.hours == 0 || c.mdays == 0 ||
      c.months == 0 || c.wdays == 0 || (c.minutes >> 60) || (c.hours >> 24) || (c.mdays & 1) ||
      (c.months & 1) || (c.months >> 13) || (c.wdays >> 7))
    fail("bad bit sets", s, 0, 1, 0);

  for (i = 0; i < NINSTANTS; i++)
    for (utc = 0; utc <= 1; utc++) {
      time_t after = instants[i], nx, nx2, t;
      rc = rw_cron_next(&c, after, utc, &nx);
      if (rc == RW_CRON_RANGE) fail("out of range", s, after, utc, 0);
      if (rc == RW_CRON_NOMATCH) {
        if (utc && some_day_matches(&c, after)) fail("no match, but a day matches", s, after, utc, 0);
        continue;
      }
      if (nx <= after) fail("not after", s, after, utc, nx);
      if (!fires_at(&c, nx, utc)) fail("does not match", s, after, utc, nx);
      /* Nothing was skipped: every real minute before it does not fire (UTC, and local jobs
         that follow real hours), over a bounded window. */
      if (utc || (c.flags & RW_CRON_HOUR_STAR))
        for (t = after - after % 60 + 60; t < nx && t < after + 6 * 3600; t += 60)
          if (fires_at(&c, t, utc)) fail("skipped a fire", s, after, utc, t);
      rc = rw_cron_next(&c, nx, utc, &nx2);
      if (rc == 0 && nx2 <= nx) fail("chain not increasing", s, nx, utc, nx2);
      if (rc == RW_CRON_RANGE) fail("chain out of range", s, nx, utc, 0);
    }
  free(s);
  return 0;
}
