/* Durations such as "90s", "1h30m" or "250ms": parsing into seconds, with errors that say where. */
#ifndef RW_DURATION_H
#define RW_DURATION_H
#include <stddef.h>

/* The longest duration accepted, in seconds: 100 years of 365.25 days. */
#define RW_DURATION_MAX (100.0 * 365.25 * 86400.0)

/* Parses s (NUL-terminated) into *seconds. Syntax: one or more parts "<number><unit>", units
   w d h m s ms each at most once and largest first, optional spaces between parts; or a bare
   number of seconds. Returns 0, or -1 with a message naming the expression, the 1-based position
   and the reason in err (always NUL-terminated when errlen > 0; err may be NULL). */
int rw_duration_parse(const char *s, double *seconds, char *err, size_t errlen);

#endif
