/* Reader of W&B .wandb transaction logs: block framing, CRC, reassembly, protobuf records.
 * Over 600 lines on purpose: the format's layers (record types, protobuf wire decoding, block
 * framing, the reader) share static helpers; wandb_file.h is their one interface. One section each. */
#include "wandb_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK ((uint64_t)RW_WB_BLOCK)
#define CHDR RW_WB_CHUNK_HEADER

enum { CH_FULL = 1, CH_FIRST = 2, CH_MIDDLE = 3, CH_LAST = 4 };

static const unsigned char wb_header[RW_WB_HEADER_SIZE] = {':', 'W', '&', 'B', 0xE1, 0xBE, 0x00};

/* A window on one block of the file: buf holds the bytes [start, start + len). */
typedef struct wb_cache {
  unsigned char *buf;        /* BLOCK bytes */
  uint64_t start;
  size_t len;
  int valid;
} wb_cache;

struct rw_wbr {
  int fd;
  char *name;
  rw_wb_opts opts;
  int header_ok;
  int fatal;
  rw_wb_error fatal_err;
  int align;                 /* RW_WB_ALIGN_* */
  uint64_t pos;              /* next chunk (or block tail) to parse */
  uint64_t rec_start;        /* first chunk of the record being reassembled */
  int in_multi;              /* inside FIRST..LAST */
  int resync;                /* after a corruption: orphan MIDDLE/LAST are dropped silently */
  uint64_t last_pad;         /* where the last block tail skipped began (for probe_old) */
  uint64_t last_pad_len;
  unsigned char *asmb;       /* reassembly buffer */
  size_t asm_len, asm_cap;
  int asm_chunks;
  wb_cache cache;
  rw_wb_scratch scratch;
  rw_wb_counts counts;
};

/* ====================================================================== */
/* {====== Record types */

static const char *type_names[RW_WB_NTYPES] = {
  [RW_WB_T_NONE] = "none", [RW_WB_T_HISTORY] = "history", [RW_WB_T_SUMMARY] = "summary",
  [RW_WB_T_OUTPUT] = "output", [RW_WB_T_CONFIG] = "config", [RW_WB_T_FILES] = "files",
  [RW_WB_T_STATS] = "stats", [RW_WB_T_ARTIFACT] = "artifact", [RW_WB_T_TBRECORD] = "tbrecord",
  [RW_WB_T_ALERT] = "alert", [RW_WB_T_TELEMETRY] = "telemetry", [RW_WB_T_METRIC] = "metric",
  [RW_WB_T_OUTPUT_RAW] = "output_raw", [RW_WB_T_RUN] = "run", [RW_WB_T_EXIT] = "exit",
  [RW_WB_T_FINAL] = "final", [RW_WB_T_HEADER] = "header", [RW_WB_T_FOOTER] = "footer",
  [RW_WB_T_PREEMPTING] = "preempting", [RW_WB_T_NOOP_LINK_ARTIFACT] = "noop_link_artifact",
  [RW_WB_T_USE_ARTIFACT] = "use_artifact", [RW_WB_T_ENVIRONMENT] = "environment",
  [RW_WB_T_OUTPUT_LOGGER] = "output_logger", [RW_WB_T_REQUEST] = "request",
  [RW_WB_T_UNKNOWN] = "unknown",
};

const char *rw_wb_type_name(int type) {
  if (type < 0 || type >= RW_WB_NTYPES || !type_names[type]) return "unknown";
  return type_names[type];
}

/* Record fields outside the record_type oneof. */
static int is_oneof_field(uint64_t num) {
  return num != 1 && num != 16 && num != 19 && num != 200;
}

static int type_of_field(uint64_t num) {
  if (num < RW_WB_NTYPES && type_names[num] && num != RW_WB_T_NONE && num != RW_WB_T_UNKNOWN)
    return (int)num;
  return RW_WB_T_UNKNOWN;
}

/* }====== */

/* ====================================================================== */
/* {====== Protobuf wire decoding */

typedef struct pbr {
  const unsigned char *p, *e;
} pbr;

typedef struct pbf {
  uint64_t num;
  int wt;
  uint64_t v;                /* VARINT, I64, I32 */
  const unsigned char *p;    /* LEN */
  size_t n;
} pbf;

/* Base-128 varint of at most 10 bytes (the 10th may only be 0 or 1). */
static int pb_varint(pbr *b, uint64_t *v) {
  uint64_t x = 0;
  int shift = 0;
  while (b->p < b->e) {
    unsigned c = *b->p++;
    if (shift == 63 && c > 1) return -1;
    x |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) { *v = x; return 0; }
    shift += 7;
  }
  return -1;
}

/* Reads the next field: 1 = a field, 0 = end of message, -1 = malformed (reason in *why). */
static int pb_next(pbr *b, pbf *f, const char **why) {
  uint64_t key, n;
  int i;
  if (b->p >= b->e) return 0;
  if (pb_varint(b, &key) < 0) { *why = "truncated or overlong varint in a field key"; return -1; }
  f->num = key >> 3;
  f->wt = (int)(key & 7);
  if (f->num == 0 || f->num > 536870911u) { *why = "invalid field number"; return -1; }
  switch (f->wt) {
    case 0:
      if (pb_varint(b, &f->v) < 0) { *why = "truncated or overlong varint"; return -1; }
      return 1;
    case 1:
      if (b->e - b->p < 8) { *why = "truncated 64-bit field"; return -1; }
      for (f->v = 0, i = 7; i >= 0; i--) f->v = (f->v << 8) | b->p[i];
      b->p += 8;
      return 1;
    case 2:
      if (pb_varint(b, &n) < 0) { *why = "truncated length of a length-delimited field"; return -1; }
      if (n > (uint64_t)(b->e - b->p)) { *why = "length-delimited field runs past its message"; return -1; }
      f->p = b->p;
      f->n = (size_t)n;
      b->p += n;
      return 1;
    case 5:
      if (b->e - b->p < 4) { *why = "truncated 32-bit field"; return -1; }
      f->v = (uint64_t)b->p[0] | (uint64_t)b->p[1] << 8 | (uint64_t)b->p[2] << 16 |
             (uint64_t)b->p[3] << 24;
      b->p += 4;
      return 1;
    case 3: case 4:
      *why = "group wire type (not used by W&B records)";
      return -1;
    default:
      *why = "invalid wire type";
      return -1;
  }
}

typedef struct dctx {
  rw_wb_record *rec;
  rw_wb_scratch *s;
  int output;
  const char *why;
} dctx;

#define STR(f) ((rw_wb_str){(const char *)(f).p, (f).n})

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  size_t ncap;
  void *p;
  if (need <= *cap) return 0;
  ncap = *cap ? *cap * 2 : 16;
  while (ncap < need) ncap *= 2;
  p = realloc(*arr, ncap * elem);
  if (!p) return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}

static int push_str(dctx *c, rw_wb_str v) {
  rw_wb_scratch *s = c->s;
  if (grow((void **)&s->strs, &s->capstrs, s->nstrs + 1, sizeof *s->strs) < 0) {
    c->why = "out of memory";
    return -1;
  }
  s->strs[s->nstrs++] = v;
  return 0;
}

/* Walks a whole submessage and fails if it is malformed (for the fields we skip inside). */
static int pb_check(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {}
  return r;
}

/* HistoryItem / SummaryItem / ConfigItem / StatsItem: 1 key, 2 nested_key*, 16 value_json. */
static int dec_item(dctx *c, const unsigned char *p, size_t n, int list) {
  rw_wb_scratch *s = c->s;
  pbr b = {p, p + n};
  pbf f;
  int r;
  size_t idx;
  if (grow((void **)&s->items, &s->capitems, s->nitems + 1, sizeof *s->items) < 0) {
    c->why = "out of memory";
    return -1;
  }
  idx = s->nitems++;
  memset(&s->items[idx], 0, sizeof s->items[idx]);
  s->items[idx].list = list;
  s->items[idx].nested_first = s->nstrs;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt != 2) continue;
    if (f.num == 1) s->items[idx].key = STR(f);
    else if (f.num == 16) s->items[idx].value_json = STR(f);
    else if (f.num == 2) {
      if (push_str(c, STR(f)) < 0) return -1;
      s->items[idx].nested_count++;
    }
  }
  return r;
}

static int dec_time(dctx *c, const unsigned char *p, size_t n, rw_wb_time *t) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  t->set = 1;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt != 0) continue;
    if (f.num == 1) t->seconds = (int64_t)f.v;
    else if (f.num == 2) t->nanos = (int32_t)(uint32_t)f.v;
  }
  return r;
}

/* ConfigRecord / SummaryRecord: 1 update*, 2 remove*; lists chosen by the caller. */
static int dec_updates(dctx *c, const unsigned char *p, size_t n, int lupdate, int lremove) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt != 2) continue;
    if (f.num == 1 && lupdate >= 0) { if (dec_item(c, f.p, f.n, lupdate) < 0) return -1; }
    else if (f.num == 2 && lremove >= 0) { if (dec_item(c, f.p, f.n, lremove) < 0) return -1; }
    else if (pb_check(c, f.p, f.n) < 0) return -1;
  }
  return r;
}

static int dec_history(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f, g;
  int r, r2;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt != 2) continue;
    if (f.num == 1) { if (dec_item(c, f.p, f.n, RW_WB_L_ITEMS) < 0) return -1; }
    else if (f.num == 2) {
      pbr s = {f.p, f.p + f.n};
      c->rec->has_step = 1;
      while ((r2 = pb_next(&s, &g, &c->why)) > 0)
        if (g.num == 1 && g.wt == 0) c->rec->step = (int64_t)g.v;
      if (r2 < 0) return -1;
    }
  }
  return r;
}

static int dec_stats(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt != 2) continue;
    if (f.num == 2) { if (dec_time(c, f.p, f.n, &c->rec->timestamp) < 0) return -1; }
    else if (f.num == 3) { if (dec_item(c, f.p, f.n, RW_WB_L_ITEMS) < 0) return -1; }
  }
  return r;
}

static int dec_output(dctx *c, const unsigned char *p, size_t n, int logger) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (logger) {
      if (f.num == 1 && f.wt == 2) c->rec->line = STR(f);
    } else if (f.num == 1 && f.wt == 0) c->rec->output_type = (int)(uint32_t)f.v;
    else if (f.num == 2 && f.wt == 2) { if (dec_time(c, f.p, f.n, &c->rec->timestamp) < 0) return -1; }
    else if (f.num == 3 && f.wt == 2) c->rec->line = STR(f);
  }
  return r;
}

static int dec_exit(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt != 0) continue;
    if (f.num == 1) c->rec->exit_code = (int32_t)(uint32_t)f.v;
    else if (f.num == 2) c->rec->runtime = (int32_t)(uint32_t)f.v;
    else if (f.num == 3) c->rec->not_complete = f.v != 0;
  }
  return r;
}

static int dec_alert(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.num == 4 && f.wt == 0) { c->rec->wait_duration = (int64_t)f.v; continue; }
    if (f.wt != 2) continue;
    if (f.num == 1) c->rec->title = STR(f);
    else if (f.num == 2) c->rec->text = STR(f);
    else if (f.num == 3) c->rec->level = STR(f);
  }
  return r;
}

static int dec_header(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f, g;
  int r, r2;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.num == 1 && f.wt == 2) {
      pbr s = {f.p, f.p + f.n};
      while ((r2 = pb_next(&s, &g, &c->why)) > 0) {
        if (g.wt != 2) continue;
        if (g.num == 1) c->rec->producer = STR(g);
        else if (g.num == 2) c->rec->min_consumer = STR(g);
      }
      if (r2 < 0) return -1;
    }
  }
  return r;
}

static int dec_metric(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.num == 8 && f.wt == 0) { c->rec->goal = (int)(uint32_t)f.v; continue; }
    if (f.wt != 2) continue;
    if (f.num == 1) c->rec->metric_name = STR(f);
    else if (f.num == 2) c->rec->glob_name = STR(f);
    else if (f.num == 4) c->rec->step_metric = STR(f);
  }
  return r;
}

/* RunRecord; tags go first so that they are contiguous in the string pool. */
static int dec_run(dctx *c, const unsigned char *p, size_t n) {
  rw_wb_record *rec = c->rec;
  pbr b = {p, p + n};
  pbf f, g;
  int r, r2;
  rec->tags_first = c->s->nstrs;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.num == 10 && f.wt == 2) {
      if (push_str(c, STR(f)) < 0) return -1;
      rec->tags_count++;
    }
  }
  if (r < 0) return -1;
  b.p = p;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt == 0) {
      switch (f.num) {
        case 14: rec->starting_step = (int64_t)f.v; break;
        case 18: rec->resumed = f.v != 0; break;
        case 20: rec->runtime = (int32_t)(uint32_t)f.v; break;
        case 22: rec->forked = f.v != 0; break;
        default: break;
      }
      continue;
    }
    if (f.wt != 2) continue;
    switch (f.num) {
      case 1: rec->run_id = STR(f); break;
      case 2: rec->entity = STR(f); break;
      case 3: rec->project = STR(f); break;
      case 4:
        if (dec_updates(c, f.p, f.n, RW_WB_L_RUN_CONFIG, -1) < 0) return -1;
        break;
      case 5:
        if (dec_updates(c, f.p, f.n, RW_WB_L_RUN_SUMMARY, -1) < 0) return -1;
        break;
      case 6: rec->run_group = STR(f); break;
      case 7: rec->job_type = STR(f); break;
      case 8: rec->display_name = STR(f); break;
      case 9: rec->notes = STR(f); break;
      case 12: rec->sweep_id = STR(f); break;
      case 13: rec->host = STR(f); break;
      case 16: rec->storage_id = STR(f); break;
      case 17:
        if (dec_time(c, f.p, f.n, &rec->start_time) < 0) return -1;
        break;
      case 21: {
        pbr s = {f.p, f.p + f.n};
        while ((r2 = pb_next(&s, &g, &c->why)) > 0) {
          if (g.wt != 2) continue;
          if (g.num == 1) rec->git_remote = STR(g);
          else if (g.num == 2) rec->git_commit = STR(g);
        }
        if (r2 < 0) return -1;
        break;
      }
      default: break;
    }
  }
  return r;
}

/* ArtifactRecord: the names of what a run logged (the manifest, field 12, is not decoded).
   Aliases (11) then tags (19) are collected first, each list contiguous in the string pool. */
static int dec_artifact(dctx *c, const unsigned char *p, size_t n) {
  rw_wb_record *rec = c->rec;
  pbr b = {p, p + n};
  pbf f;
  int r;
  rec->aliases_first = c->s->nstrs;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.num == 11 && f.wt == 2) {
      if (push_str(c, STR(f)) < 0) return -1;
      rec->aliases_count++;
    }
  }
  if (r < 0) return -1;
  b.p = p;
  rec->tags_first = c->s->nstrs;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.num == 19 && f.wt == 2) {
      if (push_str(c, STR(f)) < 0) return -1;
      rec->tags_count++;
    }
  }
  if (r < 0) return -1;
  b.p = p;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.num == 9 && f.wt == 0) { rec->user_created = f.v != 0; continue; }
    if (f.wt != 2) continue;
    switch (f.num) {
      case 1: rec->run_id = STR(f); break;
      case 2: rec->project = STR(f); break;
      case 3: rec->entity = STR(f); break;
      case 4: rec->art_type = STR(f); break;
      case 5: rec->art_name = STR(f); break;
      case 6: rec->art_digest = STR(f); break;
      case 7: rec->art_description = STR(f); break;
      case 8: rec->art_metadata = STR(f); break;
      default: break;
    }
  }
  return r;
}

/* UseArtifactRecord: id, type, name */
static int dec_use_artifact(dctx *c, const unsigned char *p, size_t n) {
  pbr b = {p, p + n};
  pbf f;
  int r;
  while ((r = pb_next(&b, &f, &c->why)) > 0) {
    if (f.wt != 2) continue;
    if (f.num == 1) c->rec->art_id = STR(f);
    else if (f.num == 2) c->rec->art_type = STR(f);
    else if (f.num == 3) c->rec->art_name = STR(f);
  }
  return r;
}

static int dec_payload(dctx *c, int type, const unsigned char *p, size_t n) {
  switch (type) {
    case RW_WB_T_HISTORY: return dec_history(c, p, n);
    case RW_WB_T_SUMMARY:
    case RW_WB_T_CONFIG: return dec_updates(c, p, n, RW_WB_L_UPDATE, RW_WB_L_REMOVE);
    case RW_WB_T_STATS: return dec_stats(c, p, n);
    case RW_WB_T_OUTPUT:
    case RW_WB_T_OUTPUT_RAW:
      return c->output ? dec_output(c, p, n, 0) : 0;
    case RW_WB_T_OUTPUT_LOGGER:
      return c->output ? dec_output(c, p, n, 1) : 0;
    case RW_WB_T_EXIT: return dec_exit(c, p, n);
    case RW_WB_T_ALERT: return dec_alert(c, p, n);
    case RW_WB_T_RUN: return dec_run(c, p, n);
    case RW_WB_T_HEADER: return dec_header(c, p, n);
    case RW_WB_T_METRIC: return dec_metric(c, p, n);
    case RW_WB_T_ARTIFACT: return dec_artifact(c, p, n);
    case RW_WB_T_USE_ARTIFACT: return dec_use_artifact(c, p, n);
    default: return 0;   /* counted, not decoded */
  }
}

int rw_wb_decode(const unsigned char *data, size_t len, int output, rw_wb_scratch *scratch,
                 rw_wb_record *rec, char *msg, size_t msglen) {
  dctx c;
  pbr b;
  pbf f;
  int r;
  uint64_t tf = 0;
  uint64_t off = rec->offset, end = rec->end;
  int nchunks = rec->nchunks;
  if (!data) data = (const unsigned char *)"";
  b.p = data;
  b.e = data + len;
  memset(rec, 0, sizeof *rec);
  rec->offset = off;
  rec->end = end;
  rec->nchunks = nchunks;
  rec->data = data;
  rec->len = len;
  scratch->nitems = scratch->nstrs = 0;
  c.rec = rec;
  c.s = scratch;
  c.output = output;
  c.why = "malformed";
  /* Pass 1: num and the last record_type field (a oneof: the last one wins). */
  while ((r = pb_next(&b, &f, &c.why)) > 0) {
    if (f.num == 1 && f.wt == 0) rec->num = (int64_t)f.v;
    else if (f.wt == 2 && is_oneof_field(f.num)) tf = f.num;
  }
  if (r < 0) goto bad;
  rec->field = (int)tf;
  rec->type = tf ? type_of_field(tf) : RW_WB_T_NONE;
  /* Pass 2: decode (and merge, as protobuf does) each occurrence of that field. */
  if (tf) {
    b.p = data;
    while ((r = pb_next(&b, &f, &c.why)) > 0)
      if (f.num == tf && f.wt == 2 && dec_payload(&c, rec->type, f.p, f.n) < 0) { r = -1; break; }
    if (r < 0) goto bad;
  }
  rec->items = scratch->items;
  rec->nitems = scratch->nitems;
  rec->strs = scratch->strs;
  rec->nstrs = scratch->nstrs;
  return 0;
bad:
  if (msg && msglen) snprintf(msg, msglen, "%s", c.why);
  rec->items = NULL;
  rec->nitems = rec->nstrs = 0;
  rec->strs = NULL;
  return -1;
}

void rw_wb_scratch_free(rw_wb_scratch *s) {
  free(s->items);
  free(s->strs);
  memset(s, 0, sizeof *s);
}

/* }====== */

/* ====================================================================== */
/* {====== File access and framing */

static uint64_t align_base(int align) {
  return align == RW_WB_ALIGN_OLD ? RW_WB_HEADER_SIZE : 0;
}

/* Start of the block that holds pos, for blocks at base + k*BLOCK. */
static uint64_t block_start(uint64_t base, uint64_t pos) {
  return base + (pos - base) / BLOCK * BLOCK;
}

static void set_err(rw_wb_error *e, uint64_t off, const char *fmt, ...) {
  va_list ap;
  if (!e) return;
  e->offset = off;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

/*
 * Makes the bytes [pos, pos + n) (all inside the block at bstart) available in the cache.
 * Returns a pointer to them, or NULL with *st = 0 when the file is not that long yet,
 * or *st = -1 on a read error.
 */
static const unsigned char *cache_get(int fd, wb_cache *c, uint64_t bstart, uint64_t pos,
                                      size_t n, int *st) {
  size_t need = (size_t)(pos - bstart) + n;
  if (!c->valid || c->start != bstart) {
    c->start = bstart;
    c->len = 0;
    c->valid = 1;
  }
  while (c->len < need) {
    ssize_t got = pread(fd, c->buf + c->len, RW_WB_BLOCK - c->len, (off_t)(bstart + c->len));
    if (got < 0) {
      if (errno == EINTR) continue;
      *st = -1;
      return NULL;
    }
    if (got == 0) { *st = 0; return NULL; }
    c->len += (size_t)got;
  }
  return c->buf + (pos - bstart);
}

/* What one framing step found at a position. */
enum { ST_CHUNK, ST_PAD, ST_NEED, ST_BAD, ST_ZERO, ST_IO };

typedef struct wb_chunk {
  uint64_t pos;
  uint64_t bend;             /* end of the block holding pos */
  size_t size;               /* bytes consumed: header + payload, or the pad */
  int type;
  const unsigned char *payload;
  size_t len;
} wb_chunk;

/*
 * Interprets the bytes at pos with blocks at base + k*BLOCK: a chunk whose header,
 * length and CRC are right, the zero padding of a block tail, a need for more data,
 * or a framing error described in why.
 */
static int frame_step(int fd, wb_cache *cache, uint64_t base, uint64_t pos, wb_chunk *ch,
                      char *why, size_t whylen) {
  uint64_t bstart = block_start(base, pos);
  uint64_t left = bstart + BLOCK - pos;
  const unsigned char *h;
  uint32_t crc, want;
  size_t i, len;
  int st = 0, type;
  ch->pos = pos;
  ch->bend = bstart + BLOCK;
  if (left < CHDR) {
    h = cache_get(fd, cache, bstart, pos, (size_t)left, &st);
    if (!h) return st < 0 ? ST_IO : ST_NEED;
    for (i = 0; i < left; i++)
      if (h[i]) {
        snprintf(why, whylen, "non-zero padding in the %u-byte block tail", (unsigned)left);
        return ST_BAD;
      }
    ch->size = (size_t)left;
    return ST_PAD;
  }
  h = cache_get(fd, cache, bstart, pos, CHDR, &st);
  if (!h) return st < 0 ? ST_IO : ST_NEED;
  crc = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
  len = (size_t)h[4] | (size_t)h[5] << 8;
  type = h[6];
  if (crc == 0 && len == 0 && type == 0) return ST_ZERO;
  if (type < CH_FULL || type > CH_LAST) {
    snprintf(why, whylen, "bad chunk type %d", type);
    return ST_BAD;
  }
  if (CHDR + len > left) {
    snprintf(why, whylen, "chunk length %u exceeds the %u bytes left in its block",
             (unsigned)len, (unsigned)(left - CHDR));
    return ST_BAD;
  }
  h = cache_get(fd, cache, bstart, pos, CHDR + len, &st);
  if (!h) return st < 0 ? ST_IO : ST_NEED;
  want = (uint32_t)crc32(0L, h + 6, (uInt)(1 + len));
  if (want != crc) {
    snprintf(why, whylen, "bad chunk CRC (stored 0x%08x, computed 0x%08x)", (unsigned)crc,
             (unsigned)want);
    return ST_BAD;
  }
  ch->type = type;
  ch->payload = h + CHDR;
  ch->len = len;
  ch->size = CHDR + len;
  return ST_CHUNK;
}

static int64_t file_size(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -1;
  return (int64_t)st.st_size;
}

/*
 * At a framing error in a file whose alignment is not decided yet: does the old
 * alignment (blocks at 7 + k*32768) see a valid chunk there, perhaps after a zero block
 * tail? 1 = yes, 0 = no, -1 = not enough data yet to tell.
 */
static int probe_old(rw_wbr *r, uint64_t pos) {
  wb_cache c;
  wb_chunk ch;
  char why[8];
  int st, res = 0;
  c.buf = malloc(RW_WB_BLOCK);
  c.valid = 0;
  if (!c.buf) return 0;
  st = frame_step(r->fd, &c, RW_WB_HEADER_SIZE, pos, &ch, why, sizeof why);
  if (st == ST_PAD) st = frame_step(r->fd, &c, RW_WB_HEADER_SIZE, pos + ch.size, &ch, why, sizeof why);
  if (st == ST_CHUNK) res = 1;
  else if (st == ST_NEED) res = -1;
  free(c.buf);
  return res;
}

/*
 * A zeroed chunk header: preallocated space not written yet (wait for it) when the rest
 * of the block and the start of the next are zeros too, lost data otherwise.
 * 1 = unwritten (wait), 0 = corruption, -1 = I/O error.
 */
static int zero_is_unwritten(rw_wbr *r, uint64_t pos, uint64_t bend) {
  unsigned char buf[4096];
  uint64_t at = pos;
  while (at < bend + CHDR) {
    size_t want = sizeof buf;
    ssize_t got;
    size_t i;
    if (at < bend && bend - at < want) want = (size_t)(bend - at);
    if (at >= bend) want = (size_t)(bend + CHDR - at);
    got = pread(r->fd, buf, want, (off_t)at);
    if (got < 0) { if (errno == EINTR) continue; return -1; }
    if (got == 0) return 1;
    for (i = 0; i < (size_t)got; i++)
      if (buf[i]) return 0;
    at += (uint64_t)got;
  }
  return 1;
}

/* }====== */

/* ====================================================================== */
/* {====== The reader */

static rw_wbr *wbr_fail(rw_wbr *r, int fd, char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err && errlen) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  if (r) {
    free(r->cache.buf);
    free(r->name);
    free(r);
  }
  if (fd >= 0) close(fd);
  return NULL;
}

/* Checks the 7-byte header as far as it is written: 1 ok, 0 not all there yet, -1 wrong. */
static int check_header(rw_wbr *r, char *msg, size_t msglen) {
  unsigned char h[RW_WB_HEADER_SIZE];
  size_t have = 0;
  while (have < sizeof h) {
    ssize_t got = pread(r->fd, h + have, sizeof h - have, (off_t)have);
    if (got < 0) {
      if (errno == EINTR) continue;
      snprintf(msg, msglen, "%s: %s", r->name, strerror(errno));
      return -1;
    }
    if (got == 0) break;
    have += (size_t)got;
  }
  if (have >= 4 && memcmp(h, wb_header, 4) != 0) {
    snprintf(msg, msglen, "%s: not a .wandb file (bad ident, want \":W&B\")", r->name);
    return -1;
  }
  if (have < 4 && memcmp(h, wb_header, have) != 0) {
    snprintf(msg, msglen, "%s: not a .wandb file (bad ident, want \":W&B\")", r->name);
    return -1;
  }
  if (have >= 6 && (h[4] != wb_header[4] || h[5] != wb_header[5])) {
    snprintf(msg, msglen, "%s: not a .wandb file (bad magic 0x%04x, want 0xBEE1)", r->name,
             (unsigned)(h[4] | h[5] << 8));
    return -1;
  }
  if (have >= 7 && h[6] != 0) {
    snprintf(msg, msglen, "%s: unsupported .wandb version %u (want 0)", r->name, (unsigned)h[6]);
    return -1;
  }
  return have == sizeof h;
}

static int next_chunk_scan(rw_wbr *r);

rw_wbr *rw_wbr_fdopen(int fd, const char *name, uint64_t offset, const rw_wb_opts *opts,
                      char *err, size_t errlen) {
  rw_wbr *r;
  int64_t size;
  int h;
  if (!name) name = "?";
  r = calloc(1, sizeof *r);
  if (!r) return wbr_fail(NULL, fd, err, errlen, "%s: out of memory", name);
  r->fd = -1;
  r->name = strdup(name);
  r->cache.buf = malloc(RW_WB_BLOCK);
  if (!r->name || !r->cache.buf) return wbr_fail(r, fd, err, errlen, "%s: out of memory", name);
  r->fd = fd;
  if (opts) r->opts = *opts;
  if (!r->opts.max_record) r->opts.max_record = RW_WB_MAX_RECORD_DEFAULT;
  r->counts.first_step = r->counts.last_step = 0;
  size = file_size(fd);
  if (size < 0) return wbr_fail(r, fd, err, errlen, "%s: %s", name, strerror(errno));
  h = check_header(r, err, errlen);
  if (h < 0) return wbr_fail(r, fd, NULL, 0, NULL);
  r->header_ok = h;
  if (offset == 0) offset = RW_WB_HEADER_SIZE;
  if (offset < RW_WB_HEADER_SIZE)
    return wbr_fail(r, fd, err, errlen, "%s: offset %llu lies inside the file header", name,
                    (unsigned long long)offset);
  if (offset > RW_WB_HEADER_SIZE && offset > (uint64_t)size)
    return wbr_fail(r, fd, err, errlen, "%s: offset %llu is beyond the end of the file (%lld bytes)",
                    name, (unsigned long long)offset, (long long)size);
  r->pos = r->rec_start = offset;
  /* Resuming past the first block: decide the alignment now from the first boundary. */
  if (offset > BLOCK - CHDR && h == 1) next_chunk_scan(r);
  return r;
}

rw_wbr *rw_wbr_open(const char *path, uint64_t offset, const rw_wb_opts *opts, char *err,
                    size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err && errlen) snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  return rw_wbr_fdopen(fd, path, offset, opts, err, errlen);
}

void rw_wbr_close(rw_wbr *r) {
  if (!r) return;
  if (r->fd >= 0) close(r->fd);
  free(r->cache.buf);
  free(r->asmb);
  free(r->name);
  rw_wb_scratch_free(&r->scratch);
  free(r);
}

uint64_t rw_wbr_offset(const rw_wbr *r) { return r->in_multi ? r->rec_start : r->pos; }
uint64_t rw_wbr_position(const rw_wbr *r) { return r->pos; }
int64_t rw_wbr_size(const rw_wbr *r) { return file_size(r->fd); }
int rw_wbr_alignment(const rw_wbr *r) { return r->align; }
const rw_wb_counts *rw_wbr_counts(const rw_wbr *r) { return &r->counts; }
const char *rw_wbr_name(const rw_wbr *r) { return r->name; }

/* A chunk that crosses an old-style boundary (7 + k*BLOCK) settles the standard alignment. */
static void note_standard(rw_wbr *r, const wb_chunk *ch) {
  uint64_t ob;
  if (r->align != RW_WB_ALIGN_UNKNOWN) return;
  ob = block_start(RW_WB_HEADER_SIZE, ch->pos) + BLOCK;
  if (ch->pos + ch->size > ob) r->align = RW_WB_ALIGN_STANDARD;
}

/*
 * Chunk-only scan of the first block boundary, from the header on, to settle the
 * alignment before resuming at a saved offset. Leaves the reader's position alone.
 */
static int next_chunk_scan(rw_wbr *r) {
  uint64_t pos = RW_WB_HEADER_SIZE;
  wb_chunk ch;
  char why[96];
  while (r->align == RW_WB_ALIGN_UNKNOWN && pos < 2 * BLOCK + RW_WB_HEADER_SIZE) {
    int st = frame_step(r->fd, &r->cache, 0, pos, &ch, why, sizeof why);
    if (st == ST_CHUNK) { note_standard(r, &ch); pos += ch.size; }
    else if (st == ST_PAD) pos += ch.size;
    else if (st == ST_BAD) {
      if (probe_old(r, pos) == 1) { r->align = RW_WB_ALIGN_OLD; r->cache.valid = 0; }
      break;
    } else break;
  }
  return r->align;
}

/* Drops the record being reassembled. */
static void drop_partial(rw_wbr *r) {
  if (r->in_multi) r->counts.bytes_skipped += r->asm_len;
  r->in_multi = 0;
  r->asm_len = 0;
  r->asm_chunks = 0;
}

static int append_partial(rw_wbr *r, const unsigned char *p, size_t n) {
  if (!r->asmb || r->asm_len + n > r->asm_cap) {
    size_t ncap = r->asm_cap ? r->asm_cap : 4096;
    unsigned char *b;
    while (ncap < r->asm_len + n) ncap *= 2;
    if (ncap > r->opts.max_record) ncap = r->opts.max_record;
    b = realloc(r->asmb, ncap);
    if (!b) return -1;
    r->asmb = b;
    r->asm_cap = ncap;
  }
  if (n) memcpy(r->asmb + r->asm_len, p, n);
  r->asm_len += n;
  r->asm_chunks++;
  return 0;
}

/* A framing error at pos: report it, drop any partial record, go on at the next block. */
static int corrupt_skip(rw_wbr *r, const wb_chunk *ch, const char *why, rw_wb_error *err) {
  uint64_t at = ch->pos;
  uint64_t partial = r->in_multi ? r->rec_start : 0;
  set_err(err, at, partial ? "%s; dropped the record begun at %llu, skipped to the next block at %llu"
                           : "%s; skipped to the next block at %llu",
          why, partial ? (unsigned long long)partial : (unsigned long long)ch->bend,
          (unsigned long long)ch->bend);
  drop_partial(r);
  r->counts.errors++;
  r->counts.bytes_skipped += ch->bend - at;
  r->pos = r->rec_start = ch->bend;
  r->resync = 1;
  return RW_WB_CORRUPT;
}

/* A record that has just been completed: decode it and update the counters. */
static int deliver(rw_wbr *r, const unsigned char *data, size_t len, uint64_t start, int nchunks,
                   rw_wb_record *rec, rw_wb_error *err) {
  char why[160];
  rw_wb_counts *k = &r->counts;
  rec->offset = start;
  rec->end = r->pos;
  rec->nchunks = nchunks;
  r->rec_start = r->pos;
  if (rw_wb_decode(data, len, r->opts.output, &r->scratch, rec, why, sizeof why) < 0) {
    set_err(err, start, "malformed protobuf in the record at %llu (%zu bytes): %s; record skipped",
            (unsigned long long)start, len, why);
    k->errors++;
    k->bytes_skipped += len;
    return RW_WB_CORRUPT;
  }
  k->records++;
  k->by_type[rec->type]++;
  switch (rec->type) {
    case RW_WB_T_HISTORY:
      k->history_rows++;
      if (rec->has_step) {
        if (!k->has_step) k->first_step = rec->step;
        k->has_step = 1;
        k->last_step = rec->step;
      }
      break;
    case RW_WB_T_EXIT:
      k->has_exit = 1;
      k->exit_code = rec->exit_code;
      k->exit_runtime = rec->runtime;
      break;
    case RW_WB_T_FOOTER:
      k->has_footer = 1;
      break;
    default:
      break;
  }
  return RW_WB_RECORD;
}

/* A read error: the reader stops and keeps returning it. */
static int fatal_io(rw_wbr *r, rw_wb_error *err) {
  r->fatal = 1;
  set_err(&r->fatal_err, r->pos, "%s: read error at %llu: %s", r->name,
          (unsigned long long)r->pos, strerror(errno));
  if (err) *err = r->fatal_err;
  return RW_WB_FATAL;
}

int rw_wbr_next(rw_wbr *r, rw_wb_record *rec, rw_wb_error *err) {
  char why[128];
  wb_chunk ch;
  /* The previous record no longer needs a big reassembly buffer: give it back. */
  if (!r->in_multi && r->asm_cap > (1u << 20)) {
    free(r->asmb);
    r->asmb = NULL;
    r->asm_cap = 0;
  }
  if (r->fatal) {
    if (err) *err = r->fatal_err;
    return RW_WB_FATAL;
  }
  if (!r->header_ok) {
    char msg[sizeof r->fatal_err.message];
    int h = check_header(r, msg, sizeof msg);
    if (h == 0) return RW_WB_AGAIN;
    if (h < 0) {
      r->fatal = 1;
      set_err(&r->fatal_err, 0, "%s", msg);
      if (err) *err = r->fatal_err;
      return RW_WB_FATAL;
    }
    r->header_ok = 1;
  }
  for (;;) {
    uint64_t base = align_base(r->align);
    int st = frame_step(r->fd, &r->cache, base, r->pos, &ch, why, sizeof why);
    switch (st) {
      case ST_NEED:
        return RW_WB_AGAIN;
      case ST_IO:
        return fatal_io(r, err);
      case ST_PAD:
        r->last_pad = r->pos;
        r->last_pad_len = ch.size;
        r->counts.pads++;
        r->counts.pad_bytes += ch.size;
        r->pos += ch.size;
        if (!r->in_multi) r->rec_start = r->pos;
        continue;
      case ST_ZERO: {
        int z = zero_is_unwritten(r, r->pos, ch.bend);
        if (z > 0) {
          r->cache.valid = 0;   /* written in place later: do not keep the zeros */
          return RW_WB_AGAIN;
        }
        if (z < 0) return fatal_io(r, err);
        return corrupt_skip(r, &ch, "zero-filled chunk header (unwritten or lost data)", err);
      }
      case ST_BAD:
        if (r->align == RW_WB_ALIGN_UNKNOWN) {
          int p = probe_old(r, r->pos);
          if (p < 0) return RW_WB_AGAIN;
          if (p > 0) {
            r->align = RW_WB_ALIGN_OLD;
            r->cache.valid = 0;
            continue;
          }
          /* Old-style chunk bytes that happened to look like a zero block tail. */
          if (r->last_pad_len && r->last_pad + r->last_pad_len == r->pos &&
              probe_old(r, r->last_pad) > 0) {
            r->align = RW_WB_ALIGN_OLD;
            r->cache.valid = 0;
            r->counts.pads--;
            r->counts.pad_bytes -= r->last_pad_len;
            r->pos = r->last_pad;
            if (!r->in_multi) r->rec_start = r->pos;
            continue;
          }
        }
        return corrupt_skip(r, &ch, why, err);
      case ST_CHUNK:
        break;
      default:
        return RW_WB_AGAIN;
    }
    /* A valid chunk. */
    note_standard(r, &ch);
    switch (ch.type) {
      case CH_FULL:
        if (r->in_multi) {
          set_err(err, r->rec_start, "record begun at %llu has no LAST chunk before the FULL chunk at %llu; dropped",
                  (unsigned long long)r->rec_start, (unsigned long long)ch.pos);
          drop_partial(r);
          r->counts.errors++;
          r->rec_start = r->pos;
          return RW_WB_CORRUPT;
        }
        r->counts.chunks_full++;
        r->resync = 0;
        r->pos += ch.size;
        return deliver(r, ch.payload, ch.len, ch.pos, 1, rec, err);
      case CH_FIRST:
        if (r->in_multi) {
          set_err(err, r->rec_start, "record begun at %llu has no LAST chunk before the FIRST chunk at %llu; dropped",
                  (unsigned long long)r->rec_start, (unsigned long long)ch.pos);
          drop_partial(r);
          r->counts.errors++;
          r->rec_start = r->pos;
          return RW_WB_CORRUPT;
        }
        r->counts.chunks_first++;
        r->resync = 0;
        r->rec_start = ch.pos;
        r->in_multi = 1;
        r->asm_len = 0;
        r->asm_chunks = 0;
        r->pos += ch.size;
        if (ch.len > r->opts.max_record || append_partial(r, ch.payload, ch.len) < 0) {
          set_err(err, ch.pos, "record at %llu is larger than %zu bytes (or out of memory); dropped",
                  (unsigned long long)ch.pos, r->opts.max_record);
          drop_partial(r);
          r->counts.errors++;
          r->rec_start = r->pos;
          r->resync = 1;
          return RW_WB_CORRUPT;
        }
        continue;
      case CH_MIDDLE:
      case CH_LAST: {
        int last = ch.type == CH_LAST;
        if (last) r->counts.chunks_last++; else r->counts.chunks_middle++;
        r->pos += ch.size;
        if (!r->in_multi) {
          r->rec_start = r->pos;
          r->counts.bytes_skipped += ch.size;
          if (r->resync) continue;
          r->resync = 1;
          r->counts.errors++;
          set_err(err, ch.pos, "%s chunk without a FIRST chunk; dropped", last ? "LAST" : "MIDDLE");
          return RW_WB_CORRUPT;
        }
        if (r->asm_len + ch.len > r->opts.max_record || append_partial(r, ch.payload, ch.len) < 0) {
          uint64_t start = r->rec_start;
          set_err(err, start, "record at %llu is larger than %zu bytes (or out of memory); dropped",
                  (unsigned long long)start, r->opts.max_record);
          drop_partial(r);
          r->counts.errors++;
          r->rec_start = r->pos;
          r->resync = !last;
          return RW_WB_CORRUPT;
        }
        if (!last) continue;
        r->in_multi = 0;
        {
          size_t n = r->asm_len;
          r->asm_len = 0;
          return deliver(r, r->asmb, n, r->rec_start, r->asm_chunks, rec, err);
        }
      }
      default:
        return RW_WB_AGAIN;
    }
  }
}

/* }====== */
