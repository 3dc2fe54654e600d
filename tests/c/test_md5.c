/* Unit tests of runtime/md5.c: RFC 1321's test suite, every split of a message into two updates,
   and a file hashed in pieces against the same bytes hashed at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md5.h"

static int passed, failed;

static void hex(const unsigned char d[16], char out[33]) {
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void md5_of(const void *s, size_t n, char out[33]) {
  rw_md5 m;
  unsigned char d[16];
  rw_md5_init(&m);
  rw_md5_update(&m, s, n);
  rw_md5_final(&m, d);
  hex(d, out);
}

static void expect(const char *got, const char *want, const char *what, int line) {
  if (strcmp(got, want) == 0) { passed++; return; }
  failed++;
  fprintf(stderr, "FAIL test_md5.c:%d: %s: got %s, want %s\n", line, what, got, want);
}

static const char *const suite[][2] = {   /* RFC 1321 appendix A.5 */
  {"", "d41d8cd98f00b204e9800998ecf8427e"},
  {"a", "0cc175b9c0f1b6a831c399e269772661"},
  {"abc", "900150983cd24fb0d6963f7d28e17f72"},
  {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
  {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
  {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"},
  {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
   "57edf4a22be3c955ac49da2e2107b67a"},
};

static void test_suite(void) {
  char got[33];
  size_t i;
  for (i = 0; i < sizeof suite / sizeof suite[0]; i++) {
    md5_of(suite[i][0], strlen(suite[i][0]), got);
    expect(got, suite[i][1], suite[i][0], __LINE__);
  }
}

/* the 80-byte message fed in two parts, split at every position (block and padding edges) */
static void test_splits(void) {
  const char *msg = suite[6][0];
  size_t n = strlen(msg), k;
  char got[33];
  for (k = 0; k <= n; k++) {
    rw_md5 m;
    unsigned char d[16];
    rw_md5_init(&m);
    rw_md5_update(&m, msg, k);
    rw_md5_update(&m, msg + k, n - k);
    rw_md5_final(&m, d);
    hex(d, got);
    expect(got, suite[6][1], "split update", __LINE__);
  }
}

/* a file of 200,003 pseudo-random bytes (more than three 64 KiB reads) */
static void test_file(void) {
  size_t fn = 200003, i;
  unsigned char *buf = malloc(fn);
  unsigned x = 12345;
  char path[] = "/tmp/rw_md5_XXXXXX";
  unsigned char d[16];
  uint64_t size = 0;
  char got[33], want[33];
  int fd;
  for (i = 0; i < fn; i++) { x = x * 1103515245u + 12345u; buf[i] = (unsigned char)(x >> 16); }
  fd = mkstemp(path);
  if (fd < 0 || write(fd, buf, fn) != (ssize_t)fn) { perror("temp file"); exit(1); }
  close(fd);
  md5_of(buf, fn, want);
  if (rw_md5_file(path, d, &size) != 0) { failed++; fprintf(stderr, "FAIL: rw_md5_file failed\n"); }
  hex(d, got);
  expect(got, want, "file", __LINE__);
  if (size != fn) { failed++; fprintf(stderr, "FAIL: size %llu\n", (unsigned long long)size); } else passed++;
  unlink(path);
  if (rw_md5_file(path, d, &size) == 0) { failed++; fprintf(stderr, "FAIL: a missing file hashed\n"); } else passed++;
  free(buf);
}

int main(void) {
  test_suite();
  test_splits();
  test_file();
  printf("test_md5: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
