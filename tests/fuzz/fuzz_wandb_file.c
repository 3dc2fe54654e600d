/* libFuzzer harness for the .wandb reader (runtime/wandb_file.c); -DRW_FUZZ_GEN_SEEDS builds its seed writer. */
#include "wandb_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/*
 * Input: one flags byte, one growth-step byte, then the file.
 *   flags bit 0: decode output text
 *   flags bit 1: a small record cap (1000 bytes)
 *   flags bit 2: live: the file grows by (step + 1) * 97 bytes between reads, with a
 *                reopen at the saved offset now and then
 *   flags bit 3: the rest is one Record payload for rw_wb_decode, not a file
 *   flags bit 4: recompute the chunk CRCs first, so mutated payloads reach the decoder
 */

static void fix_crcs(unsigned char *p, size_t n) {
  size_t pos = RW_WB_HEADER_SIZE;
  while (pos + RW_WB_CHUNK_HEADER <= n) {
    size_t left = RW_WB_BLOCK - pos % RW_WB_BLOCK, len;
    uint32_t crc;
    if (left < RW_WB_CHUNK_HEADER) { pos += left; continue; }
    len = (size_t)p[pos + 4] | (size_t)p[pos + 5] << 8;
    if (len + RW_WB_CHUNK_HEADER > left || pos + RW_WB_CHUNK_HEADER + len > n) break;
    crc = (uint32_t)crc32(0L, p + pos + 6, (uInt)(len + 1));
    p[pos] = (unsigned char)crc;
    p[pos + 1] = (unsigned char)(crc >> 8);
    p[pos + 2] = (unsigned char)(crc >> 16);
    p[pos + 3] = (unsigned char)(crc >> 24);
    pos += RW_WB_CHUNK_HEADER + len;
  }
}

/* Touches every byte a record exposes, so the sanitizers see any bad pointer. */
static unsigned touch(const rw_wb_record *rec) {
  unsigned h = 0;
  size_t i, j;
  for (i = 0; i < rec->len; i++) h += rec->data[i];
  for (i = 0; i < rec->nitems; i++) {
    const rw_wb_item *it = &rec->items[i];
    for (j = 0; j < it->key.n; j++) h += (unsigned char)it->key.p[j];
    for (j = 0; j < it->value_json.n; j++) h += (unsigned char)it->value_json.p[j];
    for (j = 0; j < it->nested_count; j++) h += (unsigned)rec->strs[it->nested_first + j].n;
  }
  for (i = 0; i < rec->nstrs; i++)
    if (rec->strs[i].n) h += (unsigned char)rec->strs[i].p[rec->strs[i].n - 1];
  for (i = 0; i < rec->line.n; i++) h += (unsigned char)rec->line.p[i];
  return h;
}

static int drain(rw_wbr *r, unsigned *h) {
  rw_wb_record rec;
  rw_wb_error err;
  int st, n = 0;
  while ((st = rw_wbr_next(r, &rec, &err)) != RW_WB_AGAIN && n++ < 100000) {
    if (st == RW_WB_RECORD) *h += touch(&rec);
    else if (st == RW_WB_FATAL) return -1;
    else *h += (unsigned)strlen(err.message) + (unsigned)err.offset;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static unsigned sink;
  unsigned flags, step;
  unsigned char *file;
  size_t n;
  rw_wb_opts opts;
  char err[256];
  rw_wbr *r;
  if (size < 2) return 0;
  flags = data[0];
  step = data[1];
  data += 2;
  n = size - 2;
  opts.output = flags & 1;
  opts.max_record = flags & 2 ? 1000 : 0;
  if (flags & 8) {
    rw_wb_scratch s = {0};
    rw_wb_record rec;
    memset(&rec, 0, sizeof rec);
    if (rw_wb_decode(data, n, (int)(flags & 1), &s, &rec, err, sizeof err) == 0) sink += touch(&rec);
    rw_wb_scratch_free(&s);
    return 0;
  }
  if (fd < 0) fd = memfd_create("fuzz.wandb", 0);
  if (fd < 0) abort();
  file = malloc(n ? n : 1);
  if (!file) return 0;
  memcpy(file, data, n);
  if (flags & 16) fix_crcs(file, n);
  if (ftruncate(fd, 0) < 0) abort();
  if (!(flags & 4)) {
    if (n && pwrite(fd, file, n, 0) != (ssize_t)n) abort();
    r = rw_wbr_fdopen(dup(fd), "fuzz", 0, &opts, err, sizeof err);
    if (r) {
      drain(r, &sink);
      sink += (unsigned)rw_wbr_offset(r);
      rw_wbr_close(r);
    }
  } else {
    size_t at = 0, inc = ((size_t)step + 1) * 97;
    int round = 0;
    r = rw_wbr_fdopen(dup(fd), "fuzz", 0, &opts, err, sizeof err);
    while (r && at < n) {
      size_t k = inc < n - at ? inc : n - at;
      if (pwrite(fd, file + at, k, (off_t)at) != (ssize_t)k) abort();
      at += k;
      if (drain(r, &sink) < 0) break;
      if (++round % 3 == 0) {
        uint64_t off = rw_wbr_offset(r);
        rw_wbr_close(r);
        r = rw_wbr_fdopen(dup(fd), "fuzz", off, &opts, err, sizeof err);
      }
    }
    rw_wbr_close(r);
  }
  free(file);
  return 0;
}

#ifdef RW_FUZZ_GEN_SEEDS
/* {====== Seed writer: a tiny protobuf encoder and the framing, as in tests/c. */

typedef struct sbuf {
  unsigned char *p;
  size_t n, cap;
} sbuf;

static void put(sbuf *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + n) c *= 2;
    b->p = realloc(b->p, c);
    if (!b->p) abort();
    b->cap = c;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void varint(sbuf *b, uint64_t v) {
  unsigned char c;
  while (v >= 0x80) { c = (unsigned char)(v | 0x80); put(b, &c, 1); v >>= 7; }
  c = (unsigned char)v;
  put(b, &c, 1);
}

static void f_uint(sbuf *b, unsigned num, uint64_t v) { varint(b, (uint64_t)num << 3); varint(b, v); }
static void f_bytes(sbuf *b, unsigned num, const void *p, size_t n) {
  varint(b, (uint64_t)num << 3 | 2);
  varint(b, n);
  put(b, p, n);
}
static void f_str(sbuf *b, unsigned num, const char *s) { f_bytes(b, num, s, strlen(s)); }
static void f_sub(sbuf *b, unsigned num, sbuf *s) { f_bytes(b, num, s->p, s->n); free(s->p); memset(s, 0, sizeof *s); }

static void item(sbuf *b, unsigned num, const char *k1, const char *k2, const char *json) {
  sbuf it = {0};
  if (k2) { f_str(&it, 2, k1); f_str(&it, 2, k2); } else f_str(&it, 1, k1);
  f_str(&it, 16, json);
  f_sub(b, num, &it);
}

static void frame(sbuf *out, uint64_t base, const unsigned char *p, size_t n) {
  int begin = 1;
  for (;;) {
    uint64_t left = RW_WB_BLOCK - (out->n - base) % RW_WB_BLOCK;
    size_t frag;
    int end;
    unsigned char h[7], t;
    uint32_t crc;
    if (left < 7) {
      static const unsigned char z[7];
      put(out, z, (size_t)left);
      continue;
    }
    frag = n < left - 7 ? n : (size_t)(left - 7);
    end = frag == n;
    t = (unsigned char)(begin && end ? 1 : begin ? 2 : end ? 4 : 3);
    crc = (uint32_t)crc32(crc32(0L, &t, 1), p, (uInt)frag);
    h[0] = (unsigned char)crc; h[1] = (unsigned char)(crc >> 8);
    h[2] = (unsigned char)(crc >> 16); h[3] = (unsigned char)(crc >> 24);
    h[4] = (unsigned char)frag; h[5] = (unsigned char)(frag >> 8); h[6] = t;
    put(out, h, 7);
    put(out, p, frag);
    p += frag;
    n -= frag;
    begin = 0;
    if (end) break;
  }
}

static void rec(sbuf *out, uint64_t base, sbuf *r) { frame(out, base, r->p, r->n); free(r->p); memset(r, 0, sizeof *r); }

/* A small run: header, run with config and tags, config, summary, history, stats, alert,
   output_raw, telemetry, exit; then `extra` filler bytes of output to reach more blocks. */
static void small_run(sbuf *out, uint64_t base, size_t extra, int history_items) {
  static const unsigned char hdr[7] = {':', 'W', '&', 'B', 0xE1, 0xBE, 0};
  sbuf r = {0}, s = {0}, t = {0};
  int i;
  char k[32], v[32];
  put(out, hdr, 7);
  f_uint(&r, 1, 1); f_str(&t, 1, "0.99.0+seed"); f_sub(&s, 1, &t); f_sub(&r, 21, &s); rec(out, base, &r);
  f_uint(&r, 1, 2);
  f_str(&s, 1, "seedrun1"); f_str(&s, 3, "proj"); f_str(&s, 8, "seed-run");
  item(&t, 1, "lr", NULL, "0.001"); item(&t, 1, "opt", NULL, "{\"name\":\"adam\"}"); f_sub(&s, 4, &t);
  f_str(&s, 10, "a"); f_str(&s, 10, "b");
  f_uint(&t, 1, 1700000000); f_uint(&t, 2, 1000); f_sub(&s, 17, &t);
  f_str(&t, 1, "https://example.invalid/x.git"); f_str(&t, 2, "abc"); f_sub(&s, 21, &t);
  f_sub(&r, 17, &s); rec(out, base, &r);
  item(&s, 1, "batch", NULL, "32"); item(&s, 2, "lr", NULL, ""); f_sub(&r, 5, &s); rec(out, base, &r);
  for (i = 0; i < 5; i++) {
    sbuf st = {0};
    f_uint(&r, 1, (uint64_t)(3 + i));
    item(&s, 1, "_wandb", "runtime", "1"); f_sub(&r, 3, &s); rec(out, base, &r);
    f_uint(&r, 1, (uint64_t)(3 + i));
    snprintf(v, sizeof v, "%d.5", i);
    item(&s, 1, "loss", NULL, v);
    item(&s, 1, "_step", NULL, v);
    if (history_items && i == 4) {
      int j;
      for (j = 0; j < history_items; j++) {
        snprintf(k, sizeof k, "metric_%d", j);
        item(&s, 1, "train", k, "NaN");
      }
    }
    f_uint(&st, 1, (uint64_t)i);
    f_sub(&s, 2, &st);
    f_sub(&r, 2, &s);
    rec(out, base, &r);
  }
  f_uint(&t, 1, 1700000100); f_sub(&s, 2, &t); item(&s, 3, "cpu", NULL, "3.5"); f_sub(&r, 7, &s); rec(out, base, &r);
  f_str(&s, 1, "title"); f_str(&s, 2, "text"); f_str(&s, 3, "WARN"); f_uint(&s, 4, 60); f_sub(&r, 10, &s); rec(out, base, &r);
  while (extra > 0) {
    char line[1000];
    size_t m = extra < sizeof line ? extra : sizeof line;
    memset(line, 'x', m - 1);
    line[m - 1] = 0;
    f_uint(&s, 1, 1); f_str(&s, 3, line); f_sub(&r, 13, &s); rec(out, base, &r);
    extra -= m;
  }
  f_str(&s, 4, "3.11"); f_sub(&r, 11, &s); rec(out, base, &r);
  f_uint(&s, 1, 1); f_uint(&s, 2, 42); f_sub(&r, 18, &s); rec(out, base, &r);
  f_sub(&r, 22, &s); rec(out, base, &r);
}

static void write_seed(const char *dir, const char *name, unsigned flags, unsigned step, const sbuf *b) {
  char path[1024];
  FILE *f;
  unsigned char pre[2];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (!f) { perror(path); exit(1); }
  pre[0] = (unsigned char)flags;
  pre[1] = (unsigned char)step;
  fwrite(pre, 1, 2, f);
  fwrite(b->p, 1, b->n, f);
  fclose(f);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  sbuf b = {0}, r = {0}, s = {0};
  small_run(&b, 0, 0, 0);
  write_seed(dir, "small", 0, 0, &b);
  write_seed(dir, "small-output-fixcrc", 1 | 16, 0, &b);
  write_seed(dir, "small-live", 4 | 1, 3, &b);
  b.n = 0;
  small_run(&b, 0, 33000, 0);            /* crosses the first block boundary */
  write_seed(dir, "boundary", 16, 0, &b);
  write_seed(dir, "boundary-live", 4 | 16, 40, &b);
  b.n = 0;
  small_run(&b, 7, 33000, 0);            /* the old alignment */
  write_seed(dir, "old-alignment", 16, 0, &b);
  b.n = 0;
  small_run(&b, 0, 0, 1200);             /* history records spanning blocks */
  write_seed(dir, "spanning", 2 | 16, 0, &b);
  /* Single payloads for rw_wb_decode. */
  f_uint(&r, 1, 9);
  item(&s, 1, "k", "n", "1"); f_sub(&r, 2, &s);
  write_seed(dir, "payload-history", 8, 0, &r);
  r.n = 0;
  f_str(&s, 1, "id"); f_str(&s, 10, "tag"); f_sub(&r, 17, &s);
  f_uint(&r, 200, 1);
  write_seed(dir, "payload-run", 8 | 1, 0, &r);
  free(b.p);
  free(r.p);
  return 0;
}

/* }====== */
#endif
