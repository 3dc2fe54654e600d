/* Reader of W&B .wandb transaction logs: block framing, CRC, reassembly, protobuf records. */
#ifndef RW_WANDB_FILE_H
#define RW_WANDB_FILE_H
#include <stddef.h>
#include <stdint.h>

/*
 * Pure C, no Lua. The format is described in shared/reference/wandb-local-format.md:
 * a 7-byte header (":W&B", 0xBEE1 LE, version 0), 32 KiB blocks at absolute offsets
 * (or at 7 + k*32768 in files of wandb-core < 0.17.6), chunks of
 * {crc32 LE, length LE16, type} + payload, records reassembled from FULL or
 * FIRST [MIDDLE...] LAST chunks, each record one protobuf wandb_internal.Record.
 *
 * The reader is incremental: rw_wbr_next() returns RW_WB_AGAIN when the bytes of the
 * next record are not all in the file yet, and a later call resumes exactly where it
 * stopped once the file grew. Corruption is reported (RW_WB_CORRUPT, with the byte
 * offset and the reason), the rest of the damaged block is skipped and the next call
 * goes on with the next block.
 */

#define RW_WB_BLOCK 32768
#define RW_WB_HEADER_SIZE 7
#define RW_WB_CHUNK_HEADER 7
#define RW_WB_MAX_RECORD_DEFAULT (64u << 20)   /* 64 MiB per reassembled record */

/* The record types: Record's oneof record_type, by field number. */
typedef enum rw_wb_type {
  RW_WB_T_NONE = 0,          /* no record_type field set */
  RW_WB_T_HISTORY = 2,
  RW_WB_T_SUMMARY = 3,
  RW_WB_T_OUTPUT = 4,
  RW_WB_T_CONFIG = 5,
  RW_WB_T_FILES = 6,
  RW_WB_T_STATS = 7,
  RW_WB_T_ARTIFACT = 8,
  RW_WB_T_TBRECORD = 9,
  RW_WB_T_ALERT = 10,
  RW_WB_T_TELEMETRY = 11,
  RW_WB_T_METRIC = 12,
  RW_WB_T_OUTPUT_RAW = 13,
  RW_WB_T_RUN = 17,
  RW_WB_T_EXIT = 18,
  RW_WB_T_FINAL = 20,
  RW_WB_T_HEADER = 21,
  RW_WB_T_FOOTER = 22,
  RW_WB_T_PREEMPTING = 23,
  RW_WB_T_NOOP_LINK_ARTIFACT = 24,
  RW_WB_T_USE_ARTIFACT = 25,
  RW_WB_T_ENVIRONMENT = 26,
  RW_WB_T_OUTPUT_LOGGER = 27,
  RW_WB_T_REQUEST = 100,
  RW_WB_T_UNKNOWN = 101      /* a record_type field number this reader does not know */
} rw_wb_type;

#define RW_WB_NTYPES 102       /* size of a counts array indexed by rw_wb_type */

/* "history", "run", ...; "none" and "unknown" for the last two. */
const char *rw_wb_type_name(int type);

/* A byte string inside the record being returned: valid until the next rw_wbr_next(). */
typedef struct rw_wb_str {
  const char *p;
  size_t n;
} rw_wb_str;

/* Which list of the record an item belongs to. */
typedef enum rw_wb_list {
  RW_WB_L_ITEMS = 0,         /* history items, stats items */
  RW_WB_L_UPDATE,            /* config/summary record: update */
  RW_WB_L_REMOVE,            /* config/summary record: remove */
  RW_WB_L_RUN_CONFIG,        /* run record: config.update */
  RW_WB_L_RUN_SUMMARY        /* run record: summary.update */
} rw_wb_list;

/* HistoryItem, SummaryItem, ConfigItem, StatsItem: {1 key, 2 nested_key*, 16 value_json}. */
typedef struct rw_wb_item {
  int list;                  /* rw_wb_list */
  rw_wb_str key;
  rw_wb_str value_json;
  size_t nested_first;       /* nested_key[i] = rec->strs[nested_first + i] */
  size_t nested_count;
} rw_wb_item;

/* A google.protobuf.Timestamp; set = 0 when absent. */
typedef struct rw_wb_time {
  int set;
  int64_t seconds;
  int32_t nanos;
} rw_wb_time;

/*
 * One decoded record. Strings and items point into the reader's buffers and stay valid
 * until the next call to rw_wbr_next() or rw_wbr_close(). Only the fields of rec->type
 * are meaningful; absent proto3 fields are zero/empty.
 */
typedef struct rw_wb_record {
  int type;                  /* rw_wb_type */
  int field;                 /* the raw record_type field number (for RW_WB_T_UNKNOWN) */
  uint64_t offset;           /* byte offset of the record's first chunk */
  uint64_t end;              /* byte offset just after its last chunk */
  int64_t num;               /* Record.num (0 in legacy files) */
  const unsigned char *data; /* the raw protobuf payload */
  size_t len;
  int nchunks;               /* 1 for FULL, >= 2 for FIRST..LAST */

  rw_wb_item *items;         /* all item lists, each item tagged with its list */
  size_t nitems;
  rw_wb_str *strs;           /* nested keys, tags */
  size_t nstrs;

  /* history */
  int has_step;
  int64_t step;
  /* exit */
  int32_t exit_code;
  int32_t runtime;           /* exit.runtime; run.runtime (prior runtime when resumed) */
  int not_complete;
  /* stats, output, output_raw */
  rw_wb_time timestamp;
  int output_type;           /* 0 stderr, 1 stdout */
  rw_wb_str line;            /* output, output_raw, output_logger (decoded only with opts.output) */
  /* alert */
  rw_wb_str title, text, level;
  int64_t wait_duration;
  /* run */
  rw_wb_str run_id, entity, project, run_group, job_type, display_name, notes;
  rw_wb_str sweep_id, host, storage_id, git_remote, git_commit;
  size_t tags_first, tags_count;  /* tags[i] = rec->strs[tags_first + i] */
  int64_t starting_step;
  rw_wb_time start_time;
  int resumed, forked;
  /* header */
  rw_wb_str producer, min_consumer;
  /* metric */
  rw_wb_str metric_name, glob_name, step_metric;
  int goal;                  /* 0 unset, 1 minimize, 2 maximize */
  /* artifact (ArtifactRecord: run_id, project, entity above; tags in tags_first/count),
     use_artifact (UseArtifactRecord: art_id, art_type, art_name) */
  rw_wb_str art_id, art_type, art_name, art_digest, art_description, art_metadata;
  size_t aliases_first, aliases_count;  /* aliases[i] = rec->strs[aliases_first + i] */
  int user_created;
} rw_wb_record;

/* The reason and place of a corruption (or of a fatal error). */
typedef struct rw_wb_error {
  uint64_t offset;
  char message[200];
} rw_wb_error;

/* What rw_wbr_next() returns. */
enum {
  RW_WB_RECORD = 1,          /* *rec holds the next record */
  RW_WB_AGAIN = 0,           /* no complete record yet: call again after the file grew */
  RW_WB_CORRUPT = -1,        /* corruption, described in *err; call again to go on */
  RW_WB_FATAL = -2           /* I/O error or bad file header in *err; the reader is stuck */
};

typedef struct rw_wb_opts {
  int output;                /* decode the text of output/output_raw/output_logger */
  size_t max_record;         /* reassembled record cap; 0 = RW_WB_MAX_RECORD_DEFAULT */
} rw_wb_opts;

/* Alignment of the blocks, decided at the first block boundary. */
enum { RW_WB_ALIGN_UNKNOWN = 0, RW_WB_ALIGN_STANDARD = 1, RW_WB_ALIGN_OLD = 2 };

/* Counters kept by a reader since it was opened (chunk-level facts and record types). */
typedef struct rw_wb_counts {
  uint64_t records;
  uint64_t by_type[RW_WB_NTYPES];
  uint64_t chunks_full, chunks_first, chunks_middle, chunks_last;
  uint64_t pads, pad_bytes;      /* block tails of 1..6 zero bytes skipped */
  uint64_t errors;               /* corruption reports */
  uint64_t bytes_skipped;        /* bytes dropped because of corruption */
  uint64_t history_rows;
  int64_t first_step, last_step; /* of history rows that have a step */
  int has_step;
  int has_exit;
  int32_t exit_code, exit_runtime;
  int has_footer;
} rw_wb_counts;

typedef struct rw_wbr rw_wbr;

/*
 * Opens path for reading from offset (0 = the first record; otherwise a value returned
 * by rw_wbr_offset(), a record boundary). Returns NULL with a message in err when the
 * file cannot be opened or is not a .wandb file, or when offset lies beyond its end or
 * inside the header. A file shorter than the header is accepted (a writer may be
 * creating it); its header is checked once it is there.
 */
rw_wbr *rw_wbr_open(const char *path, uint64_t offset, const rw_wb_opts *opts,
                    char *err, size_t errlen);

/* The same on an already open descriptor, which the reader then owns. */
rw_wbr *rw_wbr_fdopen(int fd, const char *name, uint64_t offset, const rw_wb_opts *opts,
                      char *err, size_t errlen);

/* Next record: RW_WB_RECORD, RW_WB_AGAIN, RW_WB_CORRUPT or RW_WB_FATAL (see above). */
int rw_wbr_next(rw_wbr *r, rw_wb_record *rec, rw_wb_error *err);

/*
 * The offset to save and pass to rw_wbr_open() to resume: the start of the first record
 * not delivered yet (after any skipped corrupt bytes).
 */
uint64_t rw_wbr_offset(const rw_wbr *r);

/* Bytes of the file examined so far (the parse position), and the file size now (-1 on error). */
uint64_t rw_wbr_position(const rw_wbr *r);
int64_t rw_wbr_size(const rw_wbr *r);

/* RW_WB_ALIGN_*; the counters; the name given at open. */
int rw_wbr_alignment(const rw_wbr *r);
const rw_wb_counts *rw_wbr_counts(const rw_wbr *r);
const char *rw_wbr_name(const rw_wbr *r);

/* Closes the file and frees everything (NULL is allowed). */
void rw_wbr_close(rw_wbr *r);

/*
 * Decodes one Record payload into rec (used by the reader; exposed for tests and fuzzing).
 * items/strs arrays are taken from and returned to *scratch. Returns 0, or -1 with the
 * reason in msg for malformed protobuf.
 */
typedef struct rw_wb_scratch {
  rw_wb_item *items;
  size_t nitems, capitems;
  rw_wb_str *strs;
  size_t nstrs, capstrs;
} rw_wb_scratch;

int rw_wb_decode(const unsigned char *data, size_t len, int output, rw_wb_scratch *scratch,
                 rw_wb_record *rec, char *msg, size_t msglen);
void rw_wb_scratch_free(rw_wb_scratch *s);

#endif
