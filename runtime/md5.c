/* MD5 (RFC 1321) over bytes and files, written from the RFC's description of the algorithm. */
#include "md5.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* per-round shift amounts (RFC 1321 section 3.4) */
static const unsigned char S[64] = {
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

/* T[i] = floor(2^32 * |sin(i + 1)|) */
static const uint32_t T[64] = {
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static uint32_t rotl(uint32_t x, unsigned c) { return (x << c) | (x >> (32 - c)); }

static void block(rw_md5 *m, const unsigned char *p) {
  uint32_t X[16], a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
  for (int i = 0; i < 16; i++)
    X[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
  for (int i = 0; i < 64; i++) {
    uint32_t f, t;
    int g;
    if (i < 16) { f = (b & c) | (~b & d); g = i; }
    else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
    else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
    else { f = c ^ (b | ~d); g = (7 * i) % 16; }
    t = d;
    d = c;
    c = b;
    b = b + rotl(a + f + T[i] + X[g], S[i]);
    a = t;
  }
  m->h[0] += a; m->h[1] += b; m->h[2] += c; m->h[3] += d;
}

void rw_md5_init(rw_md5 *m) {
  m->h[0] = 0x67452301; m->h[1] = 0xefcdab89; m->h[2] = 0x98badcfe; m->h[3] = 0x10325476;
  m->len = 0;
  m->nbuf = 0;
}

void rw_md5_update(rw_md5 *m, const void *data, size_t n) {
  const unsigned char *p = data;
  m->len += n;
  if (m->nbuf) {
    size_t k = 64 - m->nbuf < n ? 64 - m->nbuf : n;
    memcpy(m->buf + m->nbuf, p, k);
    m->nbuf += k; p += k; n -= k;
    if (m->nbuf < 64) return;
    block(m, m->buf);
    m->nbuf = 0;
  }
  for (; n >= 64; p += 64, n -= 64) block(m, p);
  if (n) { memcpy(m->buf, p, n); m->nbuf = n; }
}

void rw_md5_final(rw_md5 *m, unsigned char out[16]) {
  uint64_t bits = m->len * 8;
  unsigned char pad[72] = {0x80};
  size_t npad = (m->nbuf < 56 ? 56 : 120) - m->nbuf;
  for (int i = 0; i < 8; i++) pad[npad + i] = (unsigned char)(bits >> (8 * i));
  rw_md5_update(m, pad, npad + 8);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(m->h[i] >> (8 * j));
}

int rw_md5_file(const char *path, unsigned char out[16], uint64_t *size) {
  static unsigned char buf[65536];   /* one thread (the loop's) */
  FILE *f = fopen(path, "rb");
  rw_md5 m;
  size_t n;
  int bad, saved;
  if (!f) return -1;
  rw_md5_init(&m);
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) rw_md5_update(&m, buf, n);
  bad = ferror(f);
  saved = errno;
  fclose(f);
  if (bad) { errno = saved ? saved : EIO; return -1; }
  if (size) *size = m.len;
  rw_md5_final(&m, out);
  return 0;
}
