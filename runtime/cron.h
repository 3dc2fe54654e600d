/* Cron expressions: the classic 5-field syntax, parsed into bit sets, and the next time one fires. */
#ifndef RW_CRON_H
#define RW_CRON_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A parsed expression: bit n of a set means value n is allowed. */
typedef struct rw_cron {
  uint64_t minutes;   /* 0-59 */
  uint32_t hours;     /* 0-23 */
  uint32_t mdays;     /* 1-31 */
  uint16_t months;    /* 1-12 */
  uint8_t wdays;      /* 0-6, 0 = Sunday (7 in the expression is stored as 0) */
  uint8_t flags;      /* RW_CRON_* below */
} rw_cron;

/* The field's text starts with '*'. For day-of-month and day-of-week this is Vixie cron's
   "unrestricted" test (both restricted: a day matches if either matches; else both must); for
   hour it makes the job follow real hours across DST changes (docs/schedules.md). */
#define RW_CRON_MDAY_STAR 1
#define RW_CRON_WDAY_STAR 2
#define RW_CRON_HOUR_STAR 4

/* Results of rw_cron_next besides 0. */
#define RW_CRON_NOMATCH (-1)   /* nothing matches within RW_CRON_HORIZON_DAYS */
#define RW_CRON_RANGE (-2)     /* `after` outside RW_CRON_TIME_MIN..MAX, or the clock failed */

/* The search ends after this many days: a bit more than 8 years, the longest gap between two
   February 29ths (2096 to 2104), so `0 0 29 2 *` always finds its day. */
#define RW_CRON_HORIZON_DAYS 2930
/* Instants accepted as `after`: 1900-01-01 to about 9900 (room for the horizon). */
#define RW_CRON_TIME_MIN (-2208988800LL)
#define RW_CRON_TIME_MAX (250000000000LL)

/* Parses expr (NUL-terminated): 5 fields or an @macro. Returns 0, or -1 with a message naming the
   expression, the field and the 1-based position in err (NUL-terminated when errlen > 0; err may
   be NULL). */
int rw_cron_parse(const char *expr, rw_cron *out, char *err, size_t errlen);

/* The first time strictly after `after` at which c fires, in UTC (utc != 0) or in the process's
   local time zone (TZ, re-read on each call), with the DST rules of docs/schedules.md. Returns 0
   and sets *next, or RW_CRON_NOMATCH or RW_CRON_RANGE. */
int rw_cron_next(const rw_cron *c, time_t after, int utc, time_t *next);

/* Whether the broken-down time tm (tm_min, tm_hour, tm_mday, tm_mon, tm_wday) matches c's fields,
   with the Vixie day rule. */
int rw_cron_matches(const rw_cron *c, const struct tm *tm);

/* A short English text for a result of rw_cron_next. */
const char *rw_cron_strerror(int code);

#endif
