/* Logging: levels, text or JSON lines on stderr, secrets redacted from every line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include "log.h"

/* Each registered secret brings its encodings (below): up to 20 patterns a secret. */
#define MAX_PATTERNS 256

static rw_log_level g_level = RW_LOG_INFO;
static int g_json = 0;
/* The patterns, longest first (a longer match wins), and per first byte whether any starts
   with it, so that most positions of a line cost one table lookup. */
static struct { char *s; size_t len; } g_pat[MAX_PATTERNS];
static int g_npat = 0;
static unsigned char g_first[256];

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

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t rw_base64(const unsigned char *s, size_t len, char *out) {
  size_t i, o = 0;
  for (i = 0; i + 2 < len; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    out[o++] = B64[v >> 6 & 63];
    out[o++] = B64[v & 63];
  }
  if (len - i == 1) {
    unsigned v = (unsigned)s[i] << 16;
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (len - i == 2) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    out[o++] = B64[v >> 6 & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static void add_pattern(const char *p, size_t len) {
  int i, at;
  if (len < 4) return;  /* too short to redact without mangling ordinary text */
  for (i = 0; i < g_npat; i++)
    if (g_pat[i].len == len && memcmp(g_pat[i].s, p, len) == 0) return;
  if (g_npat == MAX_PATTERNS) return;
  for (at = 0; at < g_npat && g_pat[at].len >= len; at++) {}
  memmove(&g_pat[at + 1], &g_pat[at], (size_t)(g_npat - at) * sizeof g_pat[0]);
  g_pat[at].s = malloc(len);
  if (!g_pat[at].s) {
    memmove(&g_pat[at], &g_pat[at + 1], (size_t)(g_npat - at) * sizeof g_pat[0]);
    return;
  }
  memcpy(g_pat[at].s, p, len);
  g_pat[at].len = len;
  g_npat++;
  g_first[(unsigned char)p[0]] = 1;
}

/* p, and p with every byte outside [A-Za-z0-9-._~] percent-encoded (upper, then lower hex) */
static void add_with_urlencoded(const char *p, size_t len) {
  static const char *const hex[2] = {"0123456789ABCDEF", "0123456789abcdef"};
  char *u = malloc(len * 3 + 1);
  int h;
  add_pattern(p, len);
  if (!u) return;
  for (h = 0; h < 2; h++) {
    size_t i, o = 0;
    for (i = 0; i < len; i++) {
      unsigned char c = (unsigned char)p[i];
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_' || c == '~') {
        u[o++] = (char)c;
      } else {
        u[o++] = '%';
        u[o++] = hex[h][c >> 4];
        u[o++] = hex[h][c & 15];
      }
    }
    add_pattern(u, o);
  }
  free(u);
}

/* A secret and its encodings: the raw bytes; URL-encoded; base64 of "api:SECRET" (HTTP basic
   auth, as a header carries it); and, for base64 of any longer text containing the secret, the
   characters that depend on the secret's bytes alone at each of the three alignments a
   3-byte group allows, in the standard and URL-safe alphabets (and URL-encoded). Secrets under
   12 bytes get only the raw and URL-encoded forms: their base64 cores would be too short to be
   told from ordinary text. */
void rw_log_add_secret(const char *secret, size_t len) {
  unsigned char *buf;
  char *b64;
  size_t a, n;
  add_with_urlencoded(secret, len);
  if (len < 12) return;
  buf = malloc(len + 4);
  b64 = malloc((len + 4) / 3 * 4 + 8);
  if (!buf || !b64) { free(buf); free(b64); return; }
  memcpy(buf, "api:", 4);
  memcpy(buf + 4, secret, len);
  n = rw_base64(buf, len + 4, b64);
  add_with_urlencoded(b64, n);
  for (a = 0; a < 3; a++) {
    static const size_t skip[3] = {0, 2, 3};   /* characters mixing bits of the bytes before */
    size_t end = a + len, keep = end / 3 * 4 + (end % 3 == 0 ? 0 : end % 3 == 1 ? 1 : 2), i;
    memset(buf, 0, a);
    memcpy(buf + a, secret, len);
    rw_base64(buf, end, b64);
    add_with_urlencoded(b64 + skip[a], keep - skip[a]);
    for (i = skip[a]; i < keep; i++) {
      if (b64[i] == '+') b64[i] = '-';
      else if (b64[i] == '/') b64[i] = '_';
    }
    add_pattern(b64 + skip[a], keep - skip[a]);
  }
  free(buf);
  free(b64);
}

void rw_log_clear_secrets(void) {
  int i;
  for (i = 0; i < g_npat; i++) free(g_pat[i].s);
  g_npat = 0;
  memset(g_first, 0, sizeof g_first);
}

int rw_log_has_secrets(void) { return g_npat > 0; }

size_t rw_redact_into(const char *s, size_t len, char *out) {
  size_t i = 0, o = 0;
  while (i < len) {
    int k, hit = -1;
    if (g_first[(unsigned char)s[i]]) {
      for (k = 0; k < g_npat; k++)
        if (g_pat[k].len <= len - i && g_pat[k].s[0] == s[i] && memcmp(s + i, g_pat[k].s, g_pat[k].len) == 0) {
          hit = k;
          break;
        }
    }
    if (hit >= 0) {
      /* "***" is never longer than a pattern (>= 4 bytes), so the output is never longer */
      memcpy(out + o, "***", 3);
      o += 3;
      i += g_pat[hit].len;
    } else {
      out[o++] = s[i++];
    }
  }
  out[o] = '\0';
  return o;
}

char *rw_redact(const char *s, size_t len, size_t *outlen) {
  char *out = malloc(len + 1);
  size_t n;
  if (!out) return NULL;
  n = rw_redact_into(s, len, out);
  if (outlen) *outlen = n;
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
