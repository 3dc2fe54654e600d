/* Throughput of the .wandb reader: parses a file repeatedly and prints MB/s (a bench, not a test). */
#include "wandb_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/*
 * Build and run (from the source root):
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -Iruntime runtime/wandb_file.c tests/bench/bench_wandb_file.c -lz \
 *       -o /tmp/bench_wandb_file
 *   /tmp/bench_wandb_file ../shared/wandb-runs/run-20260211_121423-kj3gdsjx/run-kj3gdsjx.wandb 50
 * Prints MB/s for framing + CRC + protobuf decoding, with and without output text.
 */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *path, int iters, int output) {
  rw_wb_opts opts = {output, 0};
  double t0 = now(), secs, bytes = 0;
  unsigned long long records = 0;
  int i;
  char err[256];
  for (i = 0; i < iters; i++) {
    rw_wbr *r = rw_wbr_open(path, 0, &opts, err, sizeof err);
    rw_wb_record rec;
    rw_wb_error e;
    int st;
    if (!r) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    while ((st = rw_wbr_next(r, &rec, &e)) != RW_WB_AGAIN)
      if (st == RW_WB_RECORD) records++;
      else if (st == RW_WB_FATAL) break;
    bytes += (double)rw_wbr_position(r);
    rw_wbr_close(r);
  }
  secs = now() - t0;
  printf("%s: %d parses, %.1f MB, %llu records in %.3f s: %.0f MB/s, %.0f records/s (output %s)\n",
         path, iters, bytes / 1e6, records, secs, bytes / 1e6 / secs, (double)records / secs,
         output ? "decoded" : "skipped");
  return 0;
}

int main(int argc, char **argv) {
  int iters;
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE.wandb [ITERATIONS]\n", argv[0]);
    return 2;
  }
  iters = argc > 2 ? atoi(argv[2]) : 50;
  if (iters < 1) iters = 1;
  return run(argv[1], iters, 0) || run(argv[1], iters, 1);
}
