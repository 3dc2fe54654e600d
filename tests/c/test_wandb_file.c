/* Tests of the .wandb reader: real runs in $RW_SHARED, a small writer, live growth, corruption.
 * Long on purpose: one test program for the reader, one section per concern (real runs, writer,
 * growth, corruption), sharing the small .wandb writer. */
#include "wandb_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static int passed, failed;

#define CHECK(cond, ...) do {                                            \
    if (cond) passed++;                                                  \
    else {                                                               \
      failed++;                                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
      fprintf(stderr, __VA_ARGS__);                                      \
      fputc('\n', stderr);                                               \
    }                                                                    \
  } while (0)

#define BLK ((uint64_t)RW_WB_BLOCK)

static char tmpdir[256];

/* ====================================================================== */
/* {====== Byte buffers, a protobuf encoder and a .wandb writer */

typedef struct buf {
  unsigned char *p;
  size_t n, cap;
} buf;

static void buf_put(buf *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n) nc *= 2;
    b->p = realloc(b->p, nc);
    if (!b->p) { perror("realloc"); exit(2); }
    b->cap = nc;
  }
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void buf_byte(buf *b, unsigned c) {
  unsigned char x = (unsigned char)c;
  buf_put(b, &x, 1);
}

static void buf_free(buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

static void pb_varint(buf *b, uint64_t v) {
  while (v >= 0x80) { buf_byte(b, (unsigned)(v & 0x7f) | 0x80); v >>= 7; }
  buf_byte(b, (unsigned)v);
}

static void pb_key(buf *b, unsigned num, unsigned wt) { pb_varint(b, (uint64_t)num << 3 | wt); }
static void pb_uint(buf *b, unsigned num, uint64_t v) { pb_key(b, num, 0); pb_varint(b, v); }

static void pb_bytes(buf *b, unsigned num, const void *p, size_t n) {
  pb_key(b, num, 2);
  pb_varint(b, n);
  buf_put(b, p, n);
}

static void pb_str(buf *b, unsigned num, const char *s) { pb_bytes(b, num, s, strlen(s)); }

/* Appends sub as field num and frees it. */
static void pb_sub(buf *b, unsigned num, buf *sub) {
  pb_bytes(b, num, sub->p, sub->n);
  buf_free(sub);
}

/* An item {1 key | 2 nested_key..., 16 value_json}; a key with dots becomes a nested key. */
static void pb_item(buf *b, unsigned num, const char *key, int nested, const char *json) {
  buf it = {0};
  if (nested) {
    char tmp[256], *s, *save = NULL;
    snprintf(tmp, sizeof tmp, "%s", key);
    for (s = strtok_r(tmp, ".", &save); s; s = strtok_r(NULL, ".", &save)) pb_str(&it, 2, s);
  } else pb_str(&it, 1, key);
  pb_str(&it, 16, json);
  pb_sub(b, num, &it);
}

/* A writer of the framing, as wandb-core's leveldb writer does it; base 7 = old alignment. */
typedef struct tw {
  buf out;
  uint64_t base;
} tw;

static void tw_init(tw *w, int old) {
  static const unsigned char hdr[7] = {':', 'W', '&', 'B', 0xE1, 0xBE, 0};
  memset(w, 0, sizeof *w);
  w->base = old ? 7 : 0;
  buf_put(&w->out, hdr, 7);
}

static void tw_chunk(tw *w, int type, const unsigned char *p, size_t n) {
  unsigned char h[7], t = (unsigned char)type;
  uint32_t crc = (uint32_t)crc32(crc32(0L, &t, 1), p, (uInt)n);
  h[0] = (unsigned char)crc; h[1] = (unsigned char)(crc >> 8);
  h[2] = (unsigned char)(crc >> 16); h[3] = (unsigned char)(crc >> 24);
  h[4] = (unsigned char)n; h[5] = (unsigned char)(n >> 8); h[6] = t;
  buf_put(&w->out, h, 7);
  buf_put(&w->out, p, n);
}

static void tw_record(tw *w, const unsigned char *p, size_t n) {
  int begin = 1;
  for (;;) {
    uint64_t pos = w->out.n;
    uint64_t left = BLK - (pos - w->base) % BLK;
    size_t avail, frag;
    int end, type;
    if (left < 7) {
      static const unsigned char z[7];
      buf_put(&w->out, z, (size_t)left);
      continue;
    }
    avail = (size_t)(left - 7);
    frag = n < avail ? n : avail;
    end = frag == n;
    type = begin && end ? 1 : begin ? 2 : end ? 4 : 3;
    tw_chunk(w, type, p, frag);
    p += frag;
    n -= frag;
    begin = 0;
    if (end) break;
  }
}

static void tw_recbuf(tw *w, buf *rec) {
  tw_record(w, rec->p, rec->n);
  buf_free(rec);
}

/* Record builders (field numbers from the format reference). */
static void rec_header(buf *r, int64_t num) {
  buf vi = {0}, h = {0};
  pb_uint(r, 1, (uint64_t)num);
  pb_str(&vi, 1, "0.99.0+test");
  pb_str(&vi, 2, "0.40.0");
  pb_sub(&h, 1, &vi);
  pb_sub(r, 21, &h);
}

static void rec_history(buf *r, int64_t num, int64_t step, int nitems, int pad) {
  buf h = {0}, st = {0};
  char key[64], val[64];
  int i;
  pb_uint(r, 1, (uint64_t)num);
  for (i = 0; i < nitems; i++) {
    snprintf(key, sizeof key, "group%d.metric_%d", i % 3, i);
    snprintf(val, sizeof val, "%d.%0*d", i, pad, i);
    pb_item(&h, 1, key, 1, val);
  }
  pb_item(&h, 1, "_step", 1, "0");
  pb_uint(&st, 1, (uint64_t)step);
  pb_sub(&h, 2, &st);
  pb_sub(r, 2, &h);
}

static void rec_exit(buf *r, int64_t num, int32_t code, int32_t runtime) {
  buf e = {0};
  pb_uint(r, 1, (uint64_t)num);
  pb_uint(&e, 1, (uint64_t)(int64_t)code);   /* negative: a 10-byte sign-extended varint */
  pb_uint(&e, 2, (uint64_t)runtime);
  pb_sub(r, 18, &e);
}

/* A record made of filler output text, n bytes of payload or so. */
static void rec_filler(buf *r, int64_t num, size_t n) {
  buf o = {0};
  char *text = malloc(n + 1);
  size_t i;
  for (i = 0; i < n; i++) text[i] = (char)('a' + (i * 7 + (size_t)num) % 26);
  text[n] = 0;
  pb_uint(r, 1, (uint64_t)num);
  pb_uint(&o, 1, 1);
  pb_str(&o, 3, text);
  pb_sub(r, 13, &o);
  free(text);
}

/* }====== */

/* ====================================================================== */
/* {====== Reading helpers */

typedef struct recinfo {
  uint64_t offset, end;
  int type;
  size_t len;
  uint32_t crc;
} recinfo;

typedef struct reclist {
  recinfo *v;
  size_t n, cap;
  int errors;
  uint64_t first_err;
  int fatal;
} reclist;

static void rl_add(reclist *l, const rw_wb_record *rec) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 1024;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v) exit(2);
  }
  l->v[l->n].offset = rec->offset;
  l->v[l->n].end = rec->end;
  l->v[l->n].type = rec->type;
  l->v[l->n].len = rec->len;
  l->v[l->n].crc = (uint32_t)crc32(0L, rec->data, (uInt)rec->len);
  l->n++;
}

static void rl_free(reclist *l) {
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* Reads until no more data for now; collects records and counts errors. */
static void drain(rw_wbr *r, reclist *l, int verbose) {
  rw_wb_record rec;
  rw_wb_error err;
  int st;
  while ((st = rw_wbr_next(r, &rec, &err)) != RW_WB_AGAIN) {
    if (st == RW_WB_RECORD) { rl_add(l, &rec); continue; }
    if (!l->errors++) l->first_err = err.offset;
    if (verbose) fprintf(stderr, "  error at %llu: %s\n", (unsigned long long)err.offset, err.message);
    if (st == RW_WB_FATAL) { l->fatal = 1; break; }
  }
}

static int read_path(const char *path, reclist *l) {
  char e[256];
  rw_wbr *r = rw_wbr_open(path, 0, NULL, e, sizeof e);
  if (!r) return -1;
  drain(r, l, 0);
  rw_wbr_close(r);
  return 0;
}

static int same_rec(const recinfo *a, const recinfo *b) {
  return a->offset == b->offset && a->end == b->end && a->type == b->type && a->len == b->len &&
         a->crc == b->crc;
}

/* l must equal ref exactly. */
static int same_list(const reclist *l, const reclist *ref) {
  size_t i;
  if (l->n != ref->n) return 0;
  for (i = 0; i < l->n; i++)
    if (!same_rec(&l->v[i], &ref->v[i])) return 0;
  return 1;
}

static int read_file_all(const char *path, buf *b) {
  FILE *f = fopen(path, "rb");
  char tmp[65536];
  size_t n;
  if (!f) return -1;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_put(b, tmp, n);
  fclose(f);
  return 0;
}

static void write_file(const char *path, const void *p, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, p, n) != (ssize_t)n) { perror(path); exit(2); }
  close(fd);
}

static void append_fd(int fd, const void *p, size_t n) {
  if (n && write(fd, p, n) != (ssize_t)n) { perror("append"); exit(2); }
}

static uint64_t rnd_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 7;
  rnd_state ^= rnd_state << 17;
  return rnd_state;
}

/* }====== */

/* ====================================================================== */
/* {====== Live growth, truncation, corruption, resume */

/*
 * Grows a copy of data in steps (step 0 = random sizes up to 70000 bytes, else that many
 * between step_from and step_upto, random elsewhere),
 * reading after each; with reopen, closes the reader now and then and reopens it at its
 * saved offset, as a restarted daemon does. The records must be exactly ref, no errors.
 */
static void live_grow_upto(const char *label, const buf *data, const reclist *ref, size_t step,
                           int reopen, size_t step_from, size_t step_upto) {
  char path[512], e[256];
  int fd;
  size_t at = 0;
  reclist got = {0};
  rw_wbr *r;
  uint64_t lastoff = 0;
  int monotonic = 1;
  snprintf(path, sizeof path, "%s/live.wandb", tmpdir);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) { perror(path); exit(2); }
  r = rw_wbr_open(path, 0, NULL, e, sizeof e);
  CHECK(r != NULL, "%s: open an empty file: %s", label, e);
  if (!r) { close(fd); return; }
  while (at < data->n) {
    size_t n = step && at >= step_from && at < step_upto ? step : 1 + (size_t)(rnd() % 70000);
    if (step && at < step_from && at + n > step_from) n = step_from - at;
    if (n > data->n - at) n = data->n - at;
    append_fd(fd, data->p + at, n);
    at += n;
    drain(r, &got, 1);
    if (rw_wbr_offset(r) < lastoff) monotonic = 0;
    lastoff = rw_wbr_offset(r);
    if (reopen && rnd() % 4 == 0) {
      uint64_t off = rw_wbr_offset(r);
      rw_wbr_close(r);
      r = rw_wbr_open(path, off, NULL, e, sizeof e);
      if (!r) { CHECK(0, "%s: reopen at %llu: %s", label, (unsigned long long)off, e); break; }
    }
  }
  if (r) {
    CHECK(rw_wbr_offset(r) == data->n, "%s: final offset %llu, want %zu", label,
          (unsigned long long)rw_wbr_offset(r), data->n);
    rw_wbr_close(r);
  }
  close(fd);
  CHECK(got.errors == 0, "%s: %d errors while growing", label, got.errors);
  CHECK(monotonic, "%s: offset went backwards", label);
  CHECK(same_list(&got, ref), "%s: %zu records, want the %zu of a one-shot read, same order", label,
        got.n, ref->n);
  rl_free(&got);
}

static void live_grow(const char *label, const buf *data, const reclist *ref, size_t step,
                      int reopen) {
  live_grow_upto(label, data, ref, step, reopen, 0, (size_t)-1);
}

/* The file cut at t, read, then completed: a prefix first, then all of ref, never an error. */
static int truncate_case(const char *path, const buf *data, const reclist *ref, size_t t) {
  char e[256];
  reclist got = {0};
  rw_wbr *r;
  size_t want = 0, i;
  int ok = 1, fd;
  uint64_t off;
  write_file(path, data->p, t);
  r = rw_wbr_open(path, 0, NULL, e, sizeof e);
  if (!r) return t >= 7 ? 0 : 1;
  drain(r, &got, 0);
  while (want < ref->n && ref->v[want].end <= t) want++;
  if (got.errors || got.n != want) ok = 0;
  for (i = 0; ok && i < got.n; i++)
    if (!same_rec(&got.v[i], &ref->v[i])) ok = 0;
  off = rw_wbr_offset(r);
  if (want < ref->n && off > ref->v[want].offset) ok = 0;
  if (want > 0 && off < ref->v[want - 1].end) ok = 0;
  if (off > t && t >= 7) ok = 0;
  fd = open(path, O_WRONLY | O_APPEND);
  append_fd(fd, data->p + t, data->n - t);
  close(fd);
  drain(r, &got, 0);
  if (got.errors || !same_list(&got, ref)) ok = 0;
  rw_wbr_close(r);
  rl_free(&got);
  return ok;
}

static void truncations(const char *label, const buf *data, const reclist *ref, int sample) {
  char path[512];
  size_t i, cases = 0, bad = 0, t;
  uint64_t k;
  snprintf(path, sizeof path, "%s/trunc.wandb", tmpdir);
  for (k = 1; k * BLK <= data->n + 7; k++) {
    static const int d[] = {-7, -3, -1, 0, 1, 3, 7, 8};
    size_t j;
    for (j = 0; j < sizeof d / sizeof d[0]; j++) {
      t = (size_t)((int64_t)(k * BLK) + d[j]);
      if (t > data->n) continue;
      cases++;
      if (!truncate_case(path, data, ref, t)) { bad++; fprintf(stderr, "  truncation at %zu\n", t); }
    }
  }
  for (i = 0; i < ref->n; i++) {
    const recinfo *ri = &ref->v[i];
    size_t pts[3];
    size_t j;
    int split = ri->end - ri->offset > ri->len + 7;
    if (!split && sample && rnd() % (uint64_t)sample) continue;
    pts[0] = (size_t)ri->offset + 3;
    pts[1] = (size_t)ri->offset + 7 + ri->len / 2;
    pts[2] = (size_t)ri->end - 1;
    for (j = 0; j < 3; j++) {
      t = pts[j];
      if (t > data->n) continue;
      cases++;
      if (!truncate_case(path, data, ref, t)) { bad++; fprintf(stderr, "  truncation at %zu\n", t); }
    }
  }
  CHECK(bad == 0 && cases > 0, "%s: %zu of %zu truncated copies misread", label, bad, cases);
}

/*
 * One damaged copy: a byte flipped (or the rest of its block zeroed) at x. It must open
 * (or be refused for a damaged header), report an error at or before x inside x's block,
 * deliver every record entirely before x's block and every record from the next block on,
 * deliver nothing that is not in ref, and never crash.
 */
static int damage_case(const char *path, const buf *data, const reclist *ref, size_t x, int zero,
                       int *errs_seen) {
  char e[256];
  reclist got = {0};
  rw_wbr *r;
  uint64_t bstart = x / BLK * BLK, bend = bstart + BLK;
  size_t i, j, n = zero ? (size_t)((bend < data->n ? bend : data->n) - x) : 1;
  int ok = 1, fd = open(path, O_WRONLY);
  unsigned char *bad = malloc(n);
  if (fd < 0 || !bad) { perror(path); exit(2); }
  /* The copy at path is clean; damage it in place and repair it before returning. */
  if (zero) memset(bad, 0, n);
  else bad[0] = data->p[x] ^ (unsigned char)(1u << (rnd() % 8));
  if (pwrite(fd, bad, n, (off_t)x) != (ssize_t)n) { perror("pwrite"); exit(2); }
  r = rw_wbr_open(path, 0, NULL, e, sizeof e);
  if (!r) {
    ok = x < 7 && strstr(e, "not a .wandb") != NULL;
    goto out;
  }
  drain(r, &got, 0);
  rw_wbr_close(r);
  if (got.errors) {
    *errs_seen += 1;
    if (got.first_err > x || got.first_err < bstart) ok = 0;
  } else if (bend < data->n && !(zero && x == data->n)) {
    ok = 0;   /* damage before the last block is always detected */
  }
  /* Every delivered record is a record of ref (CRC-32 catches any one-byte error). */
  for (i = 0, j = 0; ok && i < got.n; i++) {
    while (j < ref->n && ref->v[j].offset < got.v[i].offset) j++;
    if (j == ref->n || !same_rec(&got.v[i], &ref->v[j])) ok = 0;
  }
  /* Recovery: the records outside the damaged block (and its split records) are there. */
  for (j = 0, i = 0; ok && j < ref->n; j++) {
    const recinfo *rj = &ref->v[j];
    if (!(rj->end <= bstart || rj->offset >= bend)) continue;
    while (i < got.n && got.v[i].offset < rj->offset) i++;
    if (i == got.n || !same_rec(&got.v[i], rj)) ok = 0;
  }
out:
  if (pwrite(fd, data->p + x, n, (off_t)x) != (ssize_t)n) { perror("pwrite"); exit(2); }
  close(fd);
  free(bad);
  rl_free(&got);
  return ok;
}

static void damages(const char *label, const buf *data, const reclist *ref, size_t every, int nrandom) {
  char path[512];
  size_t x, cases = 0, bad = 0;
  int errs = 0, i;
  uint64_t k;
  snprintf(path, sizeof path, "%s/damaged.wandb", tmpdir);
  write_file(path, data->p, data->n);
  for (x = 0; x < data->n; x += every) {
    cases++;
    if (!damage_case(path, data, ref, x, 0, &errs)) { bad++; fprintf(stderr, "  flip at %zu\n", x); }
  }
  for (i = 0; i < nrandom; i++) {
    x = (size_t)(rnd() % data->n);
    cases++;
    if (!damage_case(path, data, ref, x, 0, &errs)) { bad++; fprintf(stderr, "  flip at %zu\n", x); }
  }
  /* Around every block boundary, pads included. */
  for (k = 1; k * BLK < data->n; k++) {
    for (x = (size_t)(k * BLK - 8); x < k * BLK + 8 && x < data->n; x++) {
      cases++;
      if (!damage_case(path, data, ref, x, 0, &errs)) { bad++; fprintf(stderr, "  flip at %zu\n", x); }
      }
  }
  CHECK(bad == 0, "%s: %zu of %zu byte flips misread", label, bad, cases);
  CHECK(errs > 0, "%s: flips produced errors (%d)", label, errs);
  /* The tail of a block lost (zeroed), from a chunk start or from inside a chunk. */
  bad = 0;
  for (i = 0; i < (int)ref->n; i += (int)(ref->n / 40 + 1)) {
    size_t xs[2];
    int j;
    xs[0] = (size_t)ref->v[i].offset;
    xs[1] = (size_t)ref->v[i].offset + 9;
    for (j = 0; j < 2; j++) {
      if (xs[j] < 7 || xs[j] >= data->n) continue;
      cases++;
      if (!damage_case(path, data, ref, xs[j], 1, &errs)) { bad++; fprintf(stderr, "  zeroed from %zu\n", xs[j]); }
    }
  }
  CHECK(bad == 0, "%s: %zu zeroed block tails misread", label, bad);
}

/* Reopening at each of many record offsets gives exactly the rest of the records. */
static void resumes(const char *label, const char *path, const reclist *ref, size_t every) {
  size_t i, bad = 0, cases = 0;
  char e[256];
  for (i = 0; i < ref->n; i += every) {
    reclist got = {0};
    rw_wbr *r = rw_wbr_open(path, ref->v[i].offset, NULL, e, sizeof e);
    size_t j;
    int ok = r != NULL;
    cases++;
    if (r) { drain(r, &got, 0); rw_wbr_close(r); }
    if (got.errors || got.n != ref->n - i) ok = 0;
    for (j = 0; ok && j < got.n; j++)
      if (!same_rec(&got.v[j], &ref->v[i + j])) ok = 0;
    if (!ok) { bad++; fprintf(stderr, "  resume at %llu: %s\n", (unsigned long long)ref->v[i].offset, r ? "" : e); }
    rl_free(&got);
  }
  CHECK(bad == 0 && cases > 0, "%s: %zu of %zu resumes at saved offsets misread", label, bad, cases);
}

/* }====== */

/* ====================================================================== */
/* {====== Values: config.yaml and wandb-summary.json against the records */

/* A tiny JSON walker: flattens objects into "a.b.c" leaves with the raw text of each value. */
typedef struct leaf {
  char path[256];
  char *raw;
} leaf;

typedef struct leaves {
  leaf *v;
  size_t n, cap;
} leaves;

static void lv_set(leaves *l, const char *path, const char *raw, size_t rawn) {
  size_t i;
  for (i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].path, path)) break;
  if (i == l->n) {
    if (l->n == l->cap) {
      l->cap = l->cap ? l->cap * 2 : 64;
      l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    snprintf(l->v[i].path, sizeof l->v[i].path, "%s", path);
    l->v[i].raw = NULL;
    l->n++;
  }
  free(l->v[i].raw);
  l->v[i].raw = strndup(raw, rawn);
}

/* Removes path and everything under it. */
static void lv_remove(leaves *l, const char *path) {
  size_t i = 0, n = strlen(path);
  while (i < l->n) {
    if (!strncmp(l->v[i].path, path, n) && (l->v[i].path[n] == 0 || l->v[i].path[n] == '.')) {
      free(l->v[i].raw);
      l->v[i] = l->v[--l->n];
    } else i++;
  }
}

static const leaf *lv_get(const leaves *l, const char *path) {
  size_t i;
  for (i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].path, path)) return &l->v[i];
  return NULL;
}

static void lv_free(leaves *l) {
  size_t i;
  for (i = 0; i < l->n; i++) free(l->v[i].raw);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static const char *js_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
  return p;
}

/* Skips one JSON value (with NaN/Infinity tokens); NULL on malformed text. */
static const char *js_skip(const char *p) {
  p = js_ws(p);
  if (*p == '"') {
    for (p++; *p && *p != '"'; p++)
      if (*p == '\\' && p[1]) p++;
    return *p ? p + 1 : NULL;
  }
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    p = js_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
      if (close == '}') {
        p = js_skip(p);
        if (!p) return NULL;
        p = js_ws(p);
        if (*p != ':') return NULL;
        p++;
      }
      p = js_skip(p);
      if (!p) return NULL;
      p = js_ws(p);
      if (*p == ',') { p++; continue; }
      if (*p == close) return p + 1;
      return NULL;
    }
  }
  if (!*p) return NULL;
  while (*p && !strchr(",}] \n\t\r", *p)) p++;
  return p;
}

/* Flattens the JSON value at p under prefix into l. */
static const char *js_flatten(const char *p, const char *prefix, leaves *l) {
  const char *start;
  p = js_ws(p);
  if (*p == '{' && *js_ws(p + 1) != '}') {
    p = js_ws(p + 1);
    for (;;) {
      const char *ks = p, *ke;
      char path[256];
      ke = js_skip(p);
      if (!ke || *ks != '"') return NULL;
      snprintf(path, sizeof path, "%s%s%.*s", prefix, *prefix ? "." : "", (int)(ke - ks - 2), ks + 1);
      p = js_ws(ke);
      if (*p != ':') return NULL;
      p = js_flatten(p + 1, path, l);
      if (!p) return NULL;
      p = js_ws(p);
      if (*p == ',') { p = js_ws(p + 1); continue; }
      if (*p == '}') return p + 1;
      return NULL;
    }
  }
  start = p;
  p = js_skip(p);
  if (!p) return NULL;
  lv_set(l, prefix, start, (size_t)(p - start));
  return p;
}

/* Same scalar? Numbers by value (NaN equal), everything else by text. */
static int same_scalar(const char *a, const char *b) {
  char *ea, *eb;
  double x, y;
  if (!strcmp(a, b)) return 1;
  x = strtod(a, &ea);
  y = strtod(b, &eb);
  if (ea != a && eb != b && !*ea && !*eb) return x == y || (isnan(x) && isnan(y));
  return 0;
}

/* The flat path of an item: key, or nested_key joined with dots. */
static void item_path(const rw_wb_record *rec, const rw_wb_item *it, char *out, size_t n) {
  size_t j, len = 0;
  out[0] = 0;
  if (it->key.n) { snprintf(out, n, "%.*s", (int)it->key.n, it->key.p); return; }
  for (j = 0; j < it->nested_count && len + 1 < n; j++) {
    const rw_wb_str *s = &rec->strs[it->nested_first + j];
    len += (size_t)snprintf(out + len, n - len, "%s%.*s", j ? "." : "", (int)s->n, s->p);
    if (len >= n) len = n - 1;
  }
}

/* Applies update/remove items of one list to l. */
static void apply_items(leaves *l, const rw_wb_record *rec, int lupdate, int lremove) {
  size_t i;
  for (i = 0; i < rec->nitems; i++) {
    const rw_wb_item *it = &rec->items[i];
    char path[256], *v;
    item_path(rec, it, path, sizeof path);
    if (it->list == lremove) lv_remove(l, path);
    if (it->list != lupdate) continue;
    lv_remove(l, path);
    v = strndup(it->value_json.p, it->value_json.n);
    if (!js_flatten(v, path, l)) lv_set(l, path, v, strlen(v));
    free(v);
  }
}

/*
 * Looks up "top.sub.leaf" in a config.yaml: the line "top:" at indent 0, its "value:"
 * child, then one child per remaining path element, and returns the scalar text.
 */
static int yaml_lookup(const char *yaml, const char *path, char *out, size_t outn) {
  char elems[8][128];
  int ne = 0, depth;
  const char *line = yaml, *p;
  int parent_indent = -1;
  char tmp[256], *s, *save = NULL;
  snprintf(tmp, sizeof tmp, "%s", path);
  for (s = strtok_r(tmp, ".", &save); s && ne < 8; s = strtok_r(NULL, ".", &save))
    snprintf(elems[ne++], sizeof elems[0], "%s", s);
  if (ne == 0) return 0;
  /* Insert "value" after the top-level key. */
  memmove(elems[2], elems[1], (size_t)(ne - 1) * sizeof elems[0]);
  snprintf(elems[1], sizeof elems[1], "value");
  ne++;
  for (depth = 0; depth < ne; depth++) {
    size_t kl = strlen(elems[depth]);
    int found = 0, child_indent = -1;
    while (*line) {
      const char *eol = strchr(line, '\n');
      int ind = 0;
      if (!eol) eol = line + strlen(line);
      for (p = line; *p == ' '; p++) ind++;
      if (p == eol || *p == '#') { line = *eol ? eol + 1 : eol; continue; }
      if (ind <= parent_indent) return 0;                 /* left the parent's block */
      if (child_indent < 0) child_indent = ind;
      if (ind == child_indent && !strncmp(p, elems[depth], kl) && p[kl] == ':') {
        const char *v = p + kl + 1;
        while (*v == ' ') v++;
        if (depth == ne - 1) {
          size_t vn = (size_t)(eol - v);
          if (vn >= 2 && (*v == '"' || *v == '\'') && v[vn - 1] == *v) { v++; vn -= 2; }
          snprintf(out, outn, "%.*s", (int)vn, v);
          return 1;
        }
        parent_indent = ind;
        line = *eol ? eol + 1 : eol;
        found = 1;
        break;
      }
      line = *eol ? eol + 1 : eol;
    }
    if (!found) return 0;
  }
  return 0;
}

/* JSON scalar text as YAML would print it: strings unquoted. */
static int json_vs_yaml(const char *json, const char *yaml) {
  if (*json == '"') {
    size_t n = strlen(json);
    return n >= 2 && strlen(yaml) == n - 2 && !strncmp(json + 1, yaml, n - 2);
  }
  if (!strcmp(json, "null")) return !strcmp(yaml, "null") || !*yaml;
  return same_scalar(json, yaml);
}

static void check_values(const char *label, const char *dir, const char *wandb) {
  char path[1200], e[256];
  leaves config = {0}, summary = {0}, file = {0};
  buf yaml = {0}, sjson = {0};
  rw_wbr *r = rw_wbr_open(wandb, 0, NULL, e, sizeof e);
  rw_wb_record rec;
  rw_wb_error err;
  int st;
  size_t i, checked = 0, bad = 0, considered = 0;
  if (!r) { CHECK(0, "%s: %s", label, e); return; }
  while ((st = rw_wbr_next(r, &rec, &err)) != RW_WB_AGAIN) {
    if (st != RW_WB_RECORD) break;
    if (rec.type == RW_WB_T_RUN) {
      apply_items(&config, &rec, RW_WB_L_RUN_CONFIG, -1);
      apply_items(&summary, &rec, RW_WB_L_RUN_SUMMARY, -1);
    } else if (rec.type == RW_WB_T_CONFIG) apply_items(&config, &rec, RW_WB_L_UPDATE, RW_WB_L_REMOVE);
    else if (rec.type == RW_WB_T_SUMMARY) apply_items(&summary, &rec, RW_WB_L_UPDATE, RW_WB_L_REMOVE);
  }
  rw_wbr_close(r);
  snprintf(path, sizeof path, "%s/files/config.yaml", dir);
  if (read_file_all(path, &yaml) == 0) {
    buf_byte(&yaml, 0);
    for (i = 0; i < config.n; i++) {
      char yv[512];
      const char *raw = config.v[i].raw;
      if (!strncmp(config.v[i].path, "_wandb", 6)) continue;
      if (*raw == '[' || *raw == '{') continue;           /* non-empty lists: block YAML */
      considered++;
      if (!yaml_lookup((const char *)yaml.p, config.v[i].path, yv, sizeof yv)) {
        bad++;
        fprintf(stderr, "  %s: config %s not in config.yaml\n", label, config.v[i].path);
        continue;
      }
      checked++;
      if (!json_vs_yaml(raw, yv)) {
        bad++;
        fprintf(stderr, "  %s: config %s = %s, config.yaml says %s\n", label, config.v[i].path, raw, yv);
      }
    }
    CHECK(bad == 0, "%s: %zu config values differ from config.yaml", label, bad);
    CHECK(considered == 0 || checked > 0, "%s: no config value checked", label);
    printf("  %s: %zu config values match config.yaml\n", label, checked);
  }
  snprintf(path, sizeof path, "%s/files/wandb-summary.json", dir);
  if (read_file_all(path, &sjson) == 0) {
    size_t nb = 0;
    buf_byte(&sjson, 0);
    CHECK(js_flatten((const char *)sjson.p, "", &file) != NULL || sjson.n <= 4,
          "%s: wandb-summary.json parses", label);
    for (i = 0; i < file.n; i++) {
      const leaf *mine = lv_get(&summary, file.v[i].path);
      if (!*file.v[i].path) continue;   /* "{}" */
      if (!mine || !same_scalar(mine->raw, file.v[i].raw)) {
        nb++;
        fprintf(stderr, "  %s: summary %s = %s, wandb-summary.json says %s\n", label,
                file.v[i].path, mine ? mine->raw : "(absent)", file.v[i].raw);
      }
    }
    for (i = 0; i < summary.n; i++)
      if (!lv_get(&file, summary.v[i].path)) {
        nb++;
        fprintf(stderr, "  %s: summary %s not in wandb-summary.json\n", label, summary.v[i].path);
      }
    CHECK(nb == 0, "%s: %zu summary values differ from wandb-summary.json", label, nb);
    printf("  %s: %zu summary values match wandb-summary.json\n", label, summary.n);
  }
  buf_free(&yaml);
  buf_free(&sjson);
  lv_free(&config);
  lv_free(&summary);
  lv_free(&file);
}

/* }====== */

/* ====================================================================== */
/* {====== The real runs */

typedef struct expected {
  const char *dir;
  uint64_t size, records, history, stats, summary, output_raw, pairs, pads;
  int64_t last_step;
  int exit_code, runtime;
  uint64_t pad_at[2];
} expected;

static const expected runs[] = {
  {"offline-run-20210216_154407-g9dvvkua", 7868, 10, 0, 1, 1, 0, 0, 0, 0, 0, 0, {0, 0}},
  {"run-20251104_111004-6h7uaalc", 36899, 181, 2, 6, 5, 160, 0, 1, 1, 0, 49, {32766, 0}},
  {"run-20260211_121423-kj3gdsjx", 1426035, 10947, 2145, 208, 4291, 4294, 41, 2, 107124, 0, 1563,
   {131070, 720893}},
};

static int find_wandb(const char *dir, char *out, size_t n) {
  DIR *d = opendir(dir);
  struct dirent *de;
  int found = 0;
  if (!d) return 0;
  while ((de = readdir(d)))
    if (strlen(de->d_name) > 6 && !strcmp(de->d_name + strlen(de->d_name) - 6, ".wandb")) {
      snprintf(out, n, "%s/%s", dir, de->d_name);
      found = 1;
    }
  closedir(d);
  return found;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes ref's payloads again with the test writer; standard alignment must give the same bytes. */
static void reframe(const char *label, const char *wandb, const buf *data, const reclist *ref) {
  char e[256], path[512];
  rw_wbr *r = rw_wbr_open(wandb, 0, NULL, e, sizeof e);
  rw_wb_record rec;
  rw_wb_error err;
  tw std, old;
  reclist got = {0};
  tw_init(&std, 0);
  tw_init(&old, 1);
  if (!r) return;
  while (rw_wbr_next(r, &rec, &err) == RW_WB_RECORD) {
    tw_record(&std, rec.data, rec.len);
    tw_record(&old, rec.data, rec.len);
  }
  rw_wbr_close(r);
  CHECK(std.out.n == data->n && !memcmp(std.out.p, data->p, data->n),
        "%s: the test writer reproduces the file byte for byte", label);
  snprintf(path, sizeof path, "%s/old.wandb", tmpdir);
  write_file(path, old.out.p, old.out.n);
  r = rw_wbr_open(path, 0, NULL, e, sizeof e);
  if (r) {
    size_t i;
    int same = 1;
    drain(r, &got, 1);
    CHECK(rw_wbr_alignment(r) == (old.out.n > BLK ? RW_WB_ALIGN_OLD : RW_WB_ALIGN_UNKNOWN),
          "%s: old alignment detected (%d)", label, rw_wbr_alignment(r));
    rw_wbr_close(r);
    for (i = 0; i < got.n && i < ref->n; i++)
      if (got.v[i].type != ref->v[i].type || got.v[i].crc != ref->v[i].crc) same = 0;
    CHECK(got.errors == 0 && got.n == ref->n && same,
          "%s: the old-alignment copy reads the same records (%zu of %zu, %d errors)", label, got.n,
          ref->n, got.errors);
    if (old.out.n > BLK) {
      reclist ref2 = {0};
      buf ob = {0};
      buf_put(&ob, old.out.p, old.out.n);
      read_path(path, &ref2);
      live_grow("old alignment, random appends", &ob, &ref2, 0, 1);
      resumes("old alignment", path, &ref2, ref2.n / 50 + 1);
      rl_free(&ref2);
      buf_free(&ob);
    }
  }
  rl_free(&got);
  buf_free(&std.out);
  buf_free(&old.out);
}

static void test_run(const char *shared, const expected *x) {
  char dir[1024], wandb[1200], e[256];
  rw_wbr *r;
  reclist ref = {0};
  const rw_wb_counts *k;
  buf data = {0};
  const char *label = x->dir;
  int i;
  double t0;
  snprintf(dir, sizeof dir, "%s/wandb-runs/%s", shared, x->dir);
  if (!find_wandb(dir, wandb, sizeof wandb)) { CHECK(0, "%s: no .wandb file", label); return; }
  printf("%s\n", label);
  r = rw_wbr_open(wandb, 0, NULL, e, sizeof e);
  CHECK(r != NULL, "%s: open: %s", label, e);
  if (!r) return;
  drain(r, &ref, 1);
  k = rw_wbr_counts(r);
  CHECK(ref.errors == 0, "%s: %d errors", label, ref.errors);
  CHECK(k->records == x->records && ref.n == x->records, "%s: %llu records, want %llu", label,
        (unsigned long long)k->records, (unsigned long long)x->records);
  CHECK(k->history_rows == x->history, "%s: %llu history rows, want %llu", label,
        (unsigned long long)k->history_rows, (unsigned long long)x->history);
  CHECK(k->last_step == x->last_step, "%s: last step %lld, want %lld", label,
        (long long)k->last_step, (long long)x->last_step);
  CHECK(k->has_exit && k->exit_code == x->exit_code && k->exit_runtime == x->runtime,
        "%s: exit %d runtime %d, want %d %d", label, k->exit_code, k->exit_runtime, x->exit_code,
        x->runtime);
  CHECK(k->by_type[RW_WB_T_STATS] == x->stats && k->by_type[RW_WB_T_SUMMARY] == x->summary &&
        k->by_type[RW_WB_T_OUTPUT_RAW] == x->output_raw,
        "%s: stats/summary/output_raw %llu/%llu/%llu", label,
        (unsigned long long)k->by_type[RW_WB_T_STATS], (unsigned long long)k->by_type[RW_WB_T_SUMMARY],
        (unsigned long long)k->by_type[RW_WB_T_OUTPUT_RAW]);
  CHECK(k->chunks_first == x->pairs && k->chunks_last == x->pairs && k->chunks_middle == 0 &&
        k->chunks_full == x->records - x->pairs, "%s: chunks %llu FULL, %llu FIRST/LAST pairs",
        label, (unsigned long long)k->chunks_full, (unsigned long long)k->chunks_first);
  CHECK(k->pads == x->pads, "%s: %llu pads, want %llu", label, (unsigned long long)k->pads,
        (unsigned long long)x->pads);
  CHECK(rw_wbr_offset(r) == x->size && rw_wbr_size(r) == (int64_t)x->size,
        "%s: offset %llu at the end of %llu bytes", label, (unsigned long long)rw_wbr_offset(r),
        (unsigned long long)x->size);
  CHECK(rw_wbr_alignment(r) == (x->size > BLK ? RW_WB_ALIGN_STANDARD : RW_WB_ALIGN_UNKNOWN),
        "%s: alignment %d", label, rw_wbr_alignment(r));
  rw_wbr_close(r);
  CHECK(read_file_all(wandb, &data) == 0 && data.n == x->size, "%s: read", label);
  for (i = 0; i < 2; i++)
    if (x->pad_at[i]) {
      uint64_t p = x->pad_at[i];
      CHECK(BLK - p % BLK < 7 && data.p[p] == 0, "%s: the pad at %llu", label, (unsigned long long)p);
    }
  /* The first record is a header; the type order of the real runs. */
  CHECK(ref.n > 0 && ref.v[0].type == RW_WB_T_HEADER && ref.v[0].offset == 7, "%s: header record first", label);
  check_values(label, dir, wandb);
  t0 = now();
  reframe(label, wandb, &data, &ref);
  /* Byte by byte over the first 200 KB (6 block boundaries), random appends after. */
  live_grow_upto("byte by byte", &data, &ref, 1, 0, 0, 200000);
  live_grow("random appends with reopen", &data, &ref, 0, 1);
  resumes(label, wandb, &ref, ref.n / 50 + 1);
  printf("  reframe, live growth, resumes: %.1f s\n", now() - t0);
  /* Truncation and damage on the first 6 blocks of a big file (a prefix is a valid log). */
  t0 = now();
  if (data.n > 6 * BLK + 1000) {
    size_t cut = (size_t)(6 * BLK + 1000);
    reclist pre = {0};
    for (i = 0; i < (int)ref.n && ref.v[i].end <= cut; i++) {
      if (pre.n == pre.cap) {
        pre.cap = pre.cap ? pre.cap * 2 : 1024;
        pre.v = realloc(pre.v, pre.cap * sizeof *pre.v);
      }
      pre.v[pre.n++] = ref.v[i];
    }
    data.n = cut;
    truncations(label, &data, &pre, 25);
    damages(label, &data, &pre, 997, 150);
    rl_free(&pre);
  } else {
    truncations(label, &data, &ref, 0);
    damages(label, &data, &ref, 37, 100);
  }
  printf("  truncation and corruption: %.1f s\n", now() - t0);
  buf_free(&data);
  rl_free(&ref);
}

/* Throughput on the biggest run (printed, not asserted). */
static void throughput(const char *shared) {
  char dir[1024], wandb[1200], e[256];
  struct timespec a, b;
  double secs, bytes = 0;
  int i;
  snprintf(dir, sizeof dir, "%s/wandb-runs/%s", shared, runs[2].dir);
  if (!find_wandb(dir, wandb, sizeof wandb)) return;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (i = 0; i < 20; i++) {
    rw_wbr *r = rw_wbr_open(wandb, 0, NULL, e, sizeof e);
    rw_wb_record rec;
    rw_wb_error err;
    if (!r) return;
    while (rw_wbr_next(r, &rec, &err) != RW_WB_AGAIN) {}
    bytes += (double)rw_wbr_position(r);
    rw_wbr_close(r);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  printf("throughput: %.0f MB/s (%d parses of %s)\n", bytes / 1e6 / secs, i, runs[2].dir);
}

/* }====== */

/* ====================================================================== */
/* {====== Synthetic files */

/* A file with one record of every decoded type, and checks of what comes back. */
static void test_decoding(void) {
  tw w;
  buf r = {0}, s = {0}, t = {0}, u = {0};
  char path[512], e[256];
  rw_wbr *rd;
  rw_wb_record rec;
  rw_wb_error err;
  rw_wb_opts opts = {1, 0};
  int st, n = 0;
  tw_init(&w, 0);
  rec_header(&r, 1); tw_recbuf(&w, &r);
  /* run */
  pb_uint(&r, 1, 2);
  pb_str(&s, 1, "abc123"); pb_str(&s, 2, "team"); pb_str(&s, 3, "proj");
  pb_item(&t, 1, "lr", 0, "0.001"); pb_item(&t, 1, "model.layers", 1, "12");
  pb_item(&t, 2, "gone", 0, "");
  pb_sub(&s, 4, &t);
  pb_str(&s, 6, "grp"); pb_str(&s, 7, "train"); pb_str(&s, 8, "nice-run-1");
  pb_str(&s, 9, "some notes"); pb_str(&s, 10, "t1"); pb_str(&s, 10, "t2");
  pb_str(&s, 12, "sweep9"); pb_str(&s, 13, "box"); pb_uint(&s, 14, 5);
  pb_uint(&t, 1, 1700000000); pb_uint(&t, 2, 500000000); pb_sub(&s, 17, &t);
  pb_uint(&s, 18, 1);
  pb_str(&t, 1, "git@x:y.git"); pb_str(&t, 2, "deadbeef"); pb_sub(&s, 21, &t);
  pb_uint(&s, 99, 7);                      /* unknown varint */
  pb_key(&s, 98, 1); buf_put(&s, "12345678", 8);   /* unknown 64-bit */
  pb_key(&s, 97, 5); buf_put(&s, "1234", 4);       /* unknown 32-bit */
  pb_str(&s, 96, "unknown bytes");
  pb_sub(&r, 17, &s);
  pb_str(&r, 19, "uuid");
  pb_str(&t, 1, "runid"); pb_sub(&r, 200, &t);
  tw_recbuf(&w, &r);
  /* config, summary */
  pb_item(&s, 1, "batch", 0, "64"); pb_item(&s, 2, "lr", 0, ""); pb_sub(&r, 5, &s); tw_recbuf(&w, &r);
  pb_item(&s, 1, "val.acc", 1, "0.9"); pb_item(&s, 2, "old", 0, ""); pb_sub(&r, 3, &s); tw_recbuf(&w, &r);
  /* history step 12 */
  rec_history(&r, 5, 12, 3, 2); tw_recbuf(&w, &r);
  /* stats */
  pb_uint(&t, 1, 1700000100); pb_sub(&s, 2, &t);
  pb_item(&s, 3, "cpu", 0, "12.5"); pb_sub(&r, 7, &s); tw_recbuf(&w, &r);
  /* alert */
  pb_str(&s, 1, "Loss NaN"); pb_str(&s, 2, "at step 3"); pb_str(&s, 3, "WARN"); pb_uint(&s, 4, 300);
  pb_sub(&r, 10, &s); tw_recbuf(&w, &r);
  /* output_raw */
  pb_uint(&s, 1, 1); pb_str(&s, 3, "hello\n"); pb_sub(&r, 13, &s); tw_recbuf(&w, &r);
  /* telemetry (skipped), an unknown record type, a record with no type */
  pb_str(&s, 4, "3.11"); pb_sub(&r, 11, &s); tw_recbuf(&w, &r);
  pb_str(&s, 1, "future"); pb_sub(&r, 150, &s); tw_recbuf(&w, &r);
  pb_uint(&r, 1, 11); tw_recbuf(&w, &r);
  /* malformed protobuf with a good CRC: a group, then a truncated varint, then a LEN overrun */
  pb_uint(&r, 1, 12); pb_key(&r, 2, 3); tw_recbuf(&w, &r);
  buf_byte(&r, 0x08); buf_byte(&r, 0x80); tw_recbuf(&w, &r);
  pb_key(&s, 1, 2); pb_varint(&s, 50); buf_put(&s, "ab", 2); pb_sub(&r, 2, &s); tw_recbuf(&w, &r);
  /* exit -1 */
  rec_exit(&r, 15, -1, 49); tw_recbuf(&w, &r);
  /* final, footer */
  pb_sub(&r, 20, &s); tw_recbuf(&w, &r);
  pb_sub(&r, 22, &s); tw_recbuf(&w, &r);
  buf_free(&u);

  snprintf(path, sizeof path, "%s/types.wandb", tmpdir);
  write_file(path, w.out.p, w.out.n);
  rd = rw_wbr_open(path, 0, &opts, e, sizeof e);
  CHECK(rd != NULL, "open types.wandb: %s", e);
  if (!rd) return;
  while ((st = rw_wbr_next(rd, &rec, &err)) != RW_WB_AGAIN) {
    n++;
    if (st != RW_WB_RECORD) {
      CHECK(st == RW_WB_CORRUPT && (n == 12 || n == 13 || n == 14) && strstr(err.message, "malformed protobuf"),
            "record %d: error %s", n, err.message);
      CHECK(err.offset > 7 && err.offset < w.out.n, "error offset %llu", (unsigned long long)err.offset);
      if (n == 12) CHECK(strstr(err.message, "group") != NULL, "group named: %s", err.message);
      continue;
    }
    switch (n) {
      case 1:
        CHECK(rec.type == RW_WB_T_HEADER && rec.num == 1 && rec.producer.n == 11 &&
              !memcmp(rec.producer.p, "0.99.0+test", 11), "header");
        break;
      case 2:
        CHECK(rec.type == RW_WB_T_RUN && rec.num == 2, "run type");
        CHECK(rec.run_id.n == 6 && !memcmp(rec.run_id.p, "abc123", 6), "run_id");
        CHECK(rec.entity.n == 4 && rec.project.n == 4 && rec.display_name.n == 10, "entity/project/name");
        CHECK(rec.run_group.n == 3 && rec.job_type.n == 5 && rec.notes.n == 10 && rec.sweep_id.n == 6 &&
              rec.host.n == 3, "group/job_type/notes/sweep/host");
        CHECK(rec.tags_count == 2 && rec.strs[rec.tags_first].n == 2 &&
              !memcmp(rec.strs[rec.tags_first + 1].p, "t2", 2), "tags");
        CHECK(rec.start_time.set && rec.start_time.seconds == 1700000000 && rec.start_time.nanos == 500000000,
              "start_time");
        CHECK(rec.resumed == 1 && rec.starting_step == 5, "resumed/starting_step");
        CHECK(rec.git_remote.n == 11 && rec.git_commit.n == 8, "git");
        CHECK(rec.nitems == 2 && rec.items[0].list == RW_WB_L_RUN_CONFIG && rec.items[0].key.n == 2 &&
              rec.items[1].nested_count == 2 && !memcmp(rec.items[1].value_json.p, "12", 2),
              "run config items (%zu)", rec.nitems);
        break;
      case 3:
        CHECK(rec.type == RW_WB_T_CONFIG && rec.nitems == 2 && rec.items[0].list == RW_WB_L_UPDATE &&
              rec.items[1].list == RW_WB_L_REMOVE, "config update/remove");
        break;
      case 4:
        CHECK(rec.type == RW_WB_T_SUMMARY && rec.nitems == 2 && rec.items[0].nested_count == 2 &&
              rec.items[1].list == RW_WB_L_REMOVE, "summary update/remove");
        break;
      case 5:
        CHECK(rec.type == RW_WB_T_HISTORY && rec.has_step && rec.step == 12 && rec.nitems == 4 &&
              rec.num == 5, "history step %lld items %zu", (long long)rec.step, rec.nitems);
        break;
      case 6:
        CHECK(rec.type == RW_WB_T_STATS && rec.timestamp.seconds == 1700000100 && rec.nitems == 1,
              "stats");
        break;
      case 7:
        CHECK(rec.type == RW_WB_T_ALERT && rec.title.n == 8 && rec.level.n == 4 && rec.wait_duration == 300,
              "alert");
        break;
      case 8:
        CHECK(rec.type == RW_WB_T_OUTPUT_RAW && rec.line.n == 6 && rec.output_type == 1, "output_raw");
        break;
      case 9: CHECK(rec.type == RW_WB_T_TELEMETRY, "telemetry"); break;
      case 10:
        CHECK(rec.type == RW_WB_T_UNKNOWN && rec.field == 150 && !strcmp(rw_wb_type_name(rec.type), "unknown"),
              "unknown type");
        break;
      case 11: CHECK(rec.type == RW_WB_T_NONE && rec.num == 11, "no type"); break;
      case 15:
        CHECK(rec.type == RW_WB_T_EXIT && rec.exit_code == -1 && rec.runtime == 49, "exit -1: %d %d",
              rec.exit_code, rec.runtime);
        break;
      case 16: CHECK(rec.type == RW_WB_T_FINAL, "final"); break;
      case 17: CHECK(rec.type == RW_WB_T_FOOTER, "footer"); break;
      default: CHECK(0, "unexpected record %d (%s)", n, rw_wb_type_name(rec.type)); break;
    }
  }
  CHECK(n == 17, "17 results, got %d", n);
  CHECK(rw_wbr_counts(rd)->errors == 3 && rw_wbr_counts(rd)->has_footer, "3 errors counted");
  rw_wbr_close(rd);
  buf_free(&w.out);
}

/* A history record that spans 3 blocks (FIRST, MIDDLE, LAST) between ordinary records. */
static void test_spanning(void) {
  tw w;
  buf r = {0};
  char path[512], e[256];
  rw_wbr *rd;
  rw_wb_record rec;
  rw_wb_error err;
  int st, n = 0, big = 0;
  tw_init(&w, 0);
  rec_header(&r, 1); tw_recbuf(&w, &r);
  rec_filler(&r, 2, 30000); tw_recbuf(&w, &r);
  rec_history(&r, 3, 77, 2600, 8); tw_recbuf(&w, &r);    /* about 70 KB */
  rec_exit(&r, 4, 0, 10); tw_recbuf(&w, &r);
  snprintf(path, sizeof path, "%s/span.wandb", tmpdir);
  write_file(path, w.out.p, w.out.n);
  rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
  if (!rd) { CHECK(0, "open: %s", e); return; }
  while ((st = rw_wbr_next(rd, &rec, &err)) == RW_WB_RECORD) {
    n++;
    if (rec.type == RW_WB_T_HISTORY) {
      big = rec.nchunks;
      CHECK(rec.step == 77 && rec.nitems == 2601 && rec.len > 2 * BLK, "big history decoded (%zu items, %zu bytes)",
            rec.nitems, rec.len);
      CHECK(rec.items[2599].nested_count == 2 && rec.items[2599].value_json.n > 5, "last item");
    }
  }
  CHECK(st == RW_WB_AGAIN && n == 4, "4 records, no error (%d, %d)", n, st);
  CHECK(big >= 3 && rw_wbr_counts(rd)->chunks_middle >= 1, "FIRST/MIDDLE/LAST: %d chunks", big);
  rw_wbr_close(rd);
  {
    reclist ref = {0};
    read_path(path, &ref);
    live_grow("3-block record, byte by byte", &w.out, &ref, 1, 0);
    live_grow("3-block record, random appends", &w.out, &ref, 0, 1);
    truncations("3-block record", &w.out, &ref, 0);
    damages("3-block record", &w.out, &ref, 97, 50);
    /* A small record cap: the big record is reported and skipped, the rest is read. */
    {
      rw_wb_opts o = {0, 40000};
      reclist got = {0};
      rd = rw_wbr_open(path, 0, &o, e, sizeof e);
      drain(rd, &got, 0);
      CHECK(got.errors == 1 && got.n == 3 && got.v[2].type == RW_WB_T_EXIT, "record cap: %d errors, %zu records",
            got.errors, got.n);
      rw_wbr_close(rd);
      rl_free(&got);
    }
    rl_free(&ref);
  }
  buf_free(&w.out);
}

/* Files whose first block boundary falls at every position near 32768, in both alignments. */
static void test_alignment(void) {
  int old, fill, bad = 0, cases = 0, live_bad = 0;
  char path[512], e[256];
  snprintf(path, sizeof path, "%s/align.wandb", tmpdir);
  for (old = 0; old <= 1; old++) {
    for (fill = 32600; fill <= 32790; fill++) {
      tw w;
      buf r = {0};
      reclist got = {0};
      rw_wbr *rd;
      int i;
      tw_init(&w, old);
      rec_header(&r, 1); tw_recbuf(&w, &r);
      /* A filler so that the next chunk starts at about `fill`. */
      rec_filler(&r, 2, (size_t)(fill - 7 - 40 - 7 - 8)); tw_recbuf(&w, &r);
      for (i = 0; i < 6; i++) { rec_history(&r, 3 + i, i, 1 + i * 3, 1); tw_recbuf(&w, &r); }
      rec_filler(&r, 9, 34000); tw_recbuf(&w, &r);
      rec_exit(&r, 10, 0, 1); tw_recbuf(&w, &r);
      write_file(path, w.out.p, w.out.n);
      rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
      cases++;
      if (!rd) { bad++; continue; }
      drain(rd, &got, 0);
      if (got.errors || got.n != 10 ||
          rw_wbr_alignment(rd) != (old ? RW_WB_ALIGN_OLD : RW_WB_ALIGN_STANDARD)) {
        bad++;
        fprintf(stderr, "  %s alignment, fill %d: %zu records, %d errors, alignment %d\n",
                old ? "old" : "standard", fill, got.n, got.errors, rw_wbr_alignment(rd));
      }
      rw_wbr_close(rd);
      /* Resuming at a record offset past the boundary detects the alignment at open. */
      if (got.n == 10) {
        reclist tail = {0};
        rd = rw_wbr_open(path, got.v[8].offset, NULL, e, sizeof e);
        if (rd) { drain(rd, &tail, 0); rw_wbr_close(rd); }
        if (!rd || tail.errors || tail.n != 2) { bad++; fprintf(stderr, "  resume, fill %d\n", fill); }
        rl_free(&tail);
      }
      if (fill % 16 == 0 || (fill >= 32755 && fill <= 32780)) {
        int f0 = failed;
        live_grow_upto(old ? "old alignment live" : "standard alignment live", &w.out, &got, 1, 0,
                       BLK - 400, BLK + 400);
        if (failed != f0) live_bad++;
      }
      rl_free(&got);
      buf_free(&w.out);
    }
  }
  CHECK(bad == 0, "%d of %d boundary layouts misread", bad, cases);
  CHECK(live_bad == 0, "%d boundary layouts misread live", live_bad);
}

/* Header checks, offsets, sequences, zeroed tails. */
static void test_edges(void) {
  char path[512], e[256];
  rw_wbr *rd;
  rw_wb_record rec;
  rw_wb_error err;
  tw w;
  buf r = {0};
  int fd, st;
  snprintf(path, sizeof path, "%s/edge.wandb", tmpdir);
  /* Missing file, bad ident, bad magic, bad version. */
  rd = rw_wbr_open("/nonexistent/x.wandb", 0, NULL, e, sizeof e);
  CHECK(!rd && strstr(e, "No such file"), "missing file: %s", e);
  write_file(path, "W&B\xe1\xbe\0\0\0\0\0", 10);
  rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
  CHECK(!rd && strstr(e, "bad ident"), "bad ident: %s", e);
  write_file(path, ":W&B\xe2\xbe\0", 7);
  rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
  CHECK(!rd && strstr(e, "bad magic 0xbee2"), "bad magic: %s", e);
  write_file(path, ":W&B\xe1\xbe\1", 7);
  rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
  CHECK(!rd && strstr(e, "version 1"), "bad version: %s", e);
  /* A header written late; a header that turns out wrong. */
  write_file(path, ":W&", 3);
  rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
  CHECK(rd != NULL, "a 3-byte prefix of the header opens");
  if (rd) {
    CHECK(rw_wbr_next(rd, &rec, &err) == RW_WB_AGAIN, "no data yet");
    fd = open(path, O_WRONLY | O_APPEND);
    append_fd(fd, "B\xe1\xbe\2", 4);
    close(fd);
    st = rw_wbr_next(rd, &rec, &err);
    CHECK(st == RW_WB_FATAL && err.offset == 0 && strstr(err.message, "version 2"), "late bad header: %s", err.message);
    CHECK(rw_wbr_next(rd, &rec, &err) == RW_WB_FATAL, "stays fatal");
    rw_wbr_close(rd);
  }
  /* Header only: a valid empty log. */
  write_file(path, ":W&B\xe1\xbe\0", 7);
  rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
  CHECK(rd && rw_wbr_next(rd, &rec, &err) == RW_WB_AGAIN && rw_wbr_offset(rd) == 7, "header-only file");
  rw_wbr_close(rd);
  /* Offsets: inside the header, beyond the end. */
  rd = rw_wbr_open(path, 3, NULL, e, sizeof e);
  CHECK(!rd && strstr(e, "inside the file header"), "offset 3: %s", e);
  rd = rw_wbr_open(path, 100, NULL, e, sizeof e);
  CHECK(!rd && strstr(e, "beyond the end"), "offset 100: %s", e);

  /* Sequence errors: an orphan LAST, a FIRST cut by a FULL. */
  tw_init(&w, 0);
  rec_header(&r, 1); tw_recbuf(&w, &r);
  tw_chunk(&w, 4, (const unsigned char *)"\x08\x02", 2);            /* orphan LAST */
  tw_chunk(&w, 2, (const unsigned char *)"\x08", 1);                /* FIRST ... */
  rec_exit(&r, 3, 0, 5);
  tw_record(&w, r.p, r.n);                                          /* ... cut by a FULL */
  buf_free(&r);
  write_file(path, w.out.p, w.out.n);
  rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
  if (rd) {
    int errs = 0, recs = 0, exitseen = 0;
    uint64_t offs[4];
    while ((st = rw_wbr_next(rd, &rec, &err)) != RW_WB_AGAIN) {
      if (st == RW_WB_RECORD) { recs++; exitseen |= rec.type == RW_WB_T_EXIT; }
      else if (errs < 4) offs[errs++] = err.offset;
    }
    CHECK(recs == 2 && exitseen && errs == 2, "orphan LAST and cut FIRST: %d records, %d errors", recs, errs);
    CHECK(errs == 2 && offs[0] > 7 && offs[1] > offs[0], "their offsets");
    rw_wbr_close(rd);
  }
  buf_free(&w.out);

  /* A zeroed tail (preallocated space) is "not written yet", then read when it is. */
  tw_init(&w, 0);
  rec_header(&r, 1); tw_recbuf(&w, &r);
  rec_exit(&r, 2, 0, 5); tw_recbuf(&w, &r);
  {
    size_t hdr_end = 7 + 7 + 0;
    unsigned char *zeros = calloc(1, 2000);
    reclist got = {0};
    (void)hdr_end;
    write_file(path, w.out.p, 7);
    fd = open(path, O_WRONLY | O_APPEND);
    append_fd(fd, zeros, 2000);
    close(fd);
    rd = rw_wbr_open(path, 0, NULL, e, sizeof e);
    drain(rd, &got, 0);
    CHECK(got.n == 0 && got.errors == 0, "zeroed tail waits");
    fd = open(path, O_WRONLY);
    if (pwrite(fd, w.out.p + 7, w.out.n - 7, 7) < 0) perror("pwrite");
    close(fd);
    drain(rd, &got, 0);
    CHECK(got.n == 2 && got.errors == 0, "then the records appear (%zu)", got.n);
    rw_wbr_close(rd);
    rl_free(&got);
    free(zeros);
  }
  buf_free(&w.out);
}

/* }====== */

static int dir_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void rm_tmpdir(void) {
  char cmd[600];
  DIR *d = opendir(tmpdir);
  struct dirent *de;
  if (d) {
    while ((de = readdir(d))) {
      if (de->d_name[0] == '.') continue;
      snprintf(cmd, sizeof cmd, "%s/%s", tmpdir, de->d_name);
      unlink(cmd);
    }
    closedir(d);
  }
  rmdir(tmpdir);
}

int main(void) {
  const char *shared = getenv("RW_SHARED");
  char runsdir[1024];
  size_t i;
  int have_shared;
  const char *t = getenv("TMPDIR");
  double t0;
  snprintf(tmpdir, sizeof tmpdir, "%s/rw_wandb_test.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
  if (!shared || !*shared) shared = dir_exists("../shared") ? "../shared" : "../../shared";
  snprintf(runsdir, sizeof runsdir, "%s/wandb-runs", shared);
  have_shared = dir_exists(runsdir);

  t0 = now();
  test_decoding();
  test_spanning();
  test_edges();
  printf("synthetic files: %.1f s\n", now() - t0);
  t0 = now();
  test_alignment();
  printf("block boundary layouts: %.1f s\n", now() - t0);
  if (have_shared) {
    for (i = 0; i < sizeof runs / sizeof runs[0]; i++) test_run(shared, &runs[i]);
    throughput(shared);
  }
  rm_tmpdir();
  printf("%d passed, %d failed\n", passed, failed);
  if (failed) return 1;
  if (!have_shared) {
    printf("SKIP: %s not found (set RW_SHARED to the shared/ directory): the real-run tests did not run\n",
           runsdir);
    return 77;
  }
  return 0;
}
