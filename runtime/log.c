/* Logging: levels, text or JSON lines on stderr, secrets redacted from every line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include "log.h"

#define MAX_SECRETS 16

static rw_log_level g_level = RW_LOG_INFO;
static int g_json = 0;
static struct { char *s; size_t len; } g_secrets[MAX_SECRETS];
static int g_nsecrets = 0;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

const char *rw_log_level_name(rw_log_level level) {
  return (level >= RW_LOG_DEBUG && level <= RW_LOG_OFF) ? level_names[level] : "?";
}

int rw_log_level_from_name(const char *name) {
  int i;
  for (i = 0; i <= RW_LOG_OFF; i++)
    if (strcmp(name, level_names[i]) == 0) return i;
  if (strcmp(name, "warning") == 0) return RW_LOG_WARN;
  return -1;
}

int rw_log_set_level(const char *name) {
  int l = rw_log_level_from_name(name);
  if (l < 0) return -1;
  g_level = (rw_log_level)l;
  return 0;
}

int rw_log_set_format(const char *name) {
  if (strcmp(name, "text") == 0) g_json = 0;
  else if (strcmp(name, "json") == 0) g_json = 1;
  else return -1;
  return 0;
}

rw_log_level rw_log_get_level(void) { return g_level; }
int rw_log_enabled(rw_log_level level) { return level >= g_level && g_level != RW_LOG_OFF; }

void rw_log_add_secret(const char *secret, size_t len) {
  int i;
  if (len < 4) return;  /* too short to redact without mangling ordinary text */
  for (i = 0; i < g_nsecrets; i++)
    if (g_secrets[i].len == len && memcmp(g_secrets[i].s, secret, len) == 0) return;
  if (g_nsecrets == MAX_SECRETS) return;
  g_secrets[g_nsecrets].s = malloc(len);
  if (!g_secrets[g_nsecrets].s) return;
  memcpy(g_secrets[g_nsecrets].s, secret, len);
  g_secrets[g_nsecrets].len = len;
  g_nsecrets++;
}

void rw_log_clear_secrets(void) {
  int i;
  for (i = 0; i < g_nsecrets; i++) free(g_secrets[i].s);
  g_nsecrets = 0;
}

char *rw_redact(const char *s, size_t len, size_t *outlen) {
  char *out = malloc(len + 1);
  size_t i = 0, o = 0;
  if (!out) return NULL;
  while (i < len) {
    int k, hit = -1;
    for (k = 0; k < g_nsecrets; k++)
      if (g_secrets[k].len <= len - i && memcmp(s + i, g_secrets[k].s, g_secrets[k].len) == 0) {
        hit = k;
        break;
      }
    if (hit >= 0) {
      /* "***" is never longer than a secret (>= 4 bytes), so the buffer is big enough */
      memcpy(out + o, "***", 3);
      o += 3;
      i += g_secrets[hit].len;
    } else {
      out[o++] = s[i++];
    }
  }
  out[o] = '\0';
  if (outlen) *outlen = o;
  return out;
}

/* A growable string for one log line. */
typedef struct { char *p; size_t n, cap; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    char *p;
    while (cap < b->n + n + 1) cap *= 2;
    p = realloc(b->p, cap);
    if (!p) return;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_json_str(sbuf *b, const char *s) {
  char tmp[8];
  sb_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { sb_add(b, "\\", 1); sb_add(b, s, 1); }
    else if (c == '\n') sb_str(b, "\\n");
    else if (c == '\t') sb_str(b, "\\t");
    else if (c == '\r') sb_str(b, "\\r");
    else if (c < 0x20) { snprintf(tmp, sizeof tmp, "\\u%04x", c); sb_str(b, tmp); }
    else sb_add(b, s, 1);
  }
  sb_add(b, "\"", 1);
}

/* Text values with spaces or quotes are quoted so a line stays parseable as key=value. */
static void sb_text_value(sbuf *b, const char *v) {
  if (*v && strpbrk(v, " \t\n\"=") == NULL) sb_str(b, v);
  else sb_json_str(b, v);
}

static void timestamp(char *buf, size_t n) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

static void emit(sbuf *b) {
  size_t n;
  char *red;
  if (!b->p) return;
  red = rw_redact(b->p, b->n, &n);
  if (red) {
    fwrite(red, 1, n, stderr);
    free(red);
  }
  fflush(stderr);
  free(b->p);
}

void rw_log_fields(rw_log_level level, const char *script, const char *job, const char *msg,
                   const rw_log_field *fields, int nfields) {
  sbuf b = {NULL, 0, 0};
  char ts[64];
  int i;
  if (!rw_log_enabled(level)) return;
  timestamp(ts, sizeof ts);
  if (g_json) {
    sb_str(&b, "{\"ts\":\"");
    sb_str(&b, ts);
    sb_str(&b, "\",\"level\":\"");
    sb_str(&b, rw_log_level_name(level));
    sb_str(&b, "\"");
    if (script) { sb_str(&b, ",\"script\":"); sb_json_str(&b, script); }
    if (job) { sb_str(&b, ",\"job\":"); sb_json_str(&b, job); }
    sb_str(&b, ",\"msg\":");
    sb_json_str(&b, msg ? msg : "");
    for (i = 0; i < nfields; i++) {
      sb_str(&b, ",");
      sb_json_str(&b, fields[i].key);
      sb_str(&b, ":");
      if (fields[i].is_raw) sb_str(&b, fields[i].value);
      else sb_json_str(&b, fields[i].value);
    }
    sb_str(&b, "}\n");
  } else {
    static const char *const up[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};
    sb_str(&b, ts);
    sb_str(&b, " ");
    sb_str(&b, up[level]);
    if (script || job) {
      sb_str(&b, " [");
      sb_str(&b, script ? script : "-");
      if (job) { sb_str(&b, "/"); sb_str(&b, job); }
      sb_str(&b, "]");
    }
    sb_str(&b, " ");
    sb_str(&b, msg ? msg : "");
    for (i = 0; i < nfields; i++) {
      sb_str(&b, " ");
      sb_str(&b, fields[i].key);
      sb_str(&b, "=");
      sb_text_value(&b, fields[i].value);
    }
    sb_str(&b, "\n");
  }
  emit(&b);
}

void rw_log(rw_log_level level, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  if (!rw_log_enabled(level)) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rw_log_fields(level, NULL, NULL, msg, NULL, 0);
}

void rw_out(const char *s, size_t len) {
  size_t n;
  char *red = rw_redact(s, len, &n);
  if (!red) return;
  fwrite(red, 1, n, stdout);
  free(red);
}
