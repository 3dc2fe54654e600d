/* Unit tests of runtime/log.c's redaction: a secret in every encoding (issue 13 item 8), with
   random secrets and random surrounding bytes, so base64 holding '+' and '/' is covered. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int passed, failed;

#define CHECK(cond, ...) check_((cond), __LINE__, __VA_ARGS__)

static void check_(int cond, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void check_(int cond, int line, const char *fmt, ...) {
  va_list ap;
  if (cond) { passed++; return; }
  failed++;
  fprintf(stderr, "FAIL test_redact.c:%d: ", line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static char *redact(const char *s) {
  size_t n;
  return rw_redact(s, strlen(s), &n);
}

/* base64 written here again, bit by bit, so the test does not trust log.c's encoder */
static void b64(const unsigned char *s, size_t len, char *out) {
  static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t bit, o = 0;
  for (bit = 0; bit < len * 8; bit += 6) {
    unsigned v = 0, k;
    for (k = 0; k < 6; k++) {
      size_t b = bit + k;
      v = v << 1 | (b < len * 8 ? (s[b / 8] >> (7 - b % 8) & 1) : 0);
    }
    out[o++] = t[v];
  }
  while (o % 4) out[o++] = '=';
  out[o] = '\0';
}

static unsigned rnd_state = 12345;
static unsigned rnd(void) { rnd_state = rnd_state * 1103515245u + 12345u; return rnd_state >> 8; }

/* No window of 8 characters taken from the key's own span of `enc` (the characters whose 6 bits
   all come from key bytes) survives in `out`. */
static int leaks(const char *enc, size_t first, size_t last, const char *out) {
  size_t i;
  char w[9];
  for (i = first; i + 8 <= last; i++) {
    memcpy(w, enc + i, 8);
    w[8] = '\0';
    if (strstr(out, w)) return 1;
  }
  return 0;
}

static void test_plain(void) {
  char *r;
  rw_log_clear_secrets();
  rw_log_add_secret("rwtest_0123456789abcdef0123456789abcdef01234567", 47);
  r = redact("key=rwtest_0123456789abcdef0123456789abcdef01234567;");
  CHECK(strcmp(r, "key=***;") == 0, "raw: %s", r);
  free(r);
  r = redact("Authorization: Basic YXBpOnJ3dGVzdF8wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\n");
  CHECK(strcmp(r, "Authorization: Basic ***\n") == 0, "basic: %s", r);
  free(r);
  r = redact("nothing secret here, rwtest_ alone");
  CHECK(strcmp(r, "nothing secret here, rwtest_ alone") == 0, "untouched: %s", r);
  free(r);
  /* URL-encoded: a key with characters that are encoded */
  rw_log_clear_secrets();
  rw_log_add_secret("a+b/c=d e_0123456789abcdef", 26);
  r = redact("u=a%2Bb%2Fc%3Dd%20e_0123456789abcdef&v=a%2bb%2fc%3dd%20e_0123456789abcdef");
  CHECK(strcmp(r, "u=***&v=***") == 0, "urlencoded: %s", r);
  free(r);
  rw_log_clear_secrets();
  r = redact("rwtest_0123456789abcdef0123456789abcdef01234567");
  CHECK(strcmp(r, "rwtest_0123456789abcdef0123456789abcdef01234567") == 0, "cleared: %s", r);
  free(r);
}

/* Random secrets (any bytes, 12 to 64 long) inside random text, base64-encoded at every
   alignment, in the standard and URL-safe alphabets and URL-encoded. */
static void test_random(void) {
  int round;
  for (round = 0; round < 3000; round++) {
    unsigned char key[64], text[256];
    char enc[400], *out, *u;
    size_t klen = 12 + rnd() % 53, pre = rnd() % 40, post = rnd() % 40, i, n, first, last;
    int form = (int)(rnd() % 3);
    for (i = 0; i < klen; i++) key[i] = round % 2 ? (unsigned char)rnd() : (unsigned char)"abcXYZ019_-"[rnd() % 11];
    rw_log_clear_secrets();
    rw_log_add_secret((const char *)key, klen);
    for (i = 0; i < pre; i++) text[i] = (unsigned char)rnd();
    memcpy(text + pre, key, klen);
    for (i = 0; i < post; i++) text[pre + klen + i] = (unsigned char)rnd();
    n = pre + klen + post;
    b64(text, n, enc);
    first = (pre * 8 + 5) / 6;           /* first character made of key bits only */
    last = (pre + klen) * 8 / 6;         /* one past the last */
    if (form == 1) {
      for (i = 0; enc[i]; i++) enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    }
    if (form == 2) {                     /* URL-encoded: positions shift, so compare decoded */
      size_t o = 0;
      u = malloc(strlen(enc) * 3 + 1);
      for (i = 0; enc[i]; i++) {
        if (enc[i] == '+') { memcpy(u + o, "%2B", 3); o += 3; }
        else if (enc[i] == '/') { memcpy(u + o, "%2F", 3); o += 3; }
        else if (enc[i] == '=') { memcpy(u + o, "%3D", 3); o += 3; }
        else u[o++] = enc[i];
      }
      u[o] = '\0';
      out = redact(u);
      /* undo the encoding of what is left and look for the key's characters in it */
      for (i = 0, o = 0; out[i]; i++) {
        if (out[i] == '%' && out[i + 1] == '2' && out[i + 2] == 'B') { u[o++] = '+'; i += 2; }
        else if (out[i] == '%' && out[i + 1] == '2' && out[i + 2] == 'F') { u[o++] = '/'; i += 2; }
        else if (out[i] == '%' && out[i + 1] == '3' && out[i + 2] == 'D') { u[o++] = '='; i += 2; }
        else u[o++] = out[i];
      }
      u[o] = '\0';
      CHECK(strstr(u, "***") && !leaks(enc, first, last, u), "round %d (urlencoded, key %zu, pre %zu): %s",
            round, klen, pre, out);
      free(u);
      free(out);
      continue;
    }
    out = redact(enc);
    CHECK(strstr(out, "***") && !leaks(enc, first, last, out), "round %d (form %d, key %zu, pre %zu): %s -> %s",
          round, form, klen, pre, enc, out);
    free(out);
  }
}

/* Short secrets get no base64 forms: their cores would match ordinary text. */
static void test_short(void) {
  char *r;
  rw_log_clear_secrets();
  rw_log_add_secret("abcdefgh", 8);
  r = redact("YWJjZGVmZ2g= abcdefgh");
  CHECK(strcmp(r, "YWJjZGVmZ2g= ***") == 0, "short: %s", r);
  free(r);
}

int main(void) {
  test_plain();
  test_random();
  test_short();
  rw_log_clear_secrets();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
