/* measure: run a command and report what it cost, the same way for every client of the bench.

     measure [-n REPEAT] [-o FILE] [-q] -- CMD ARGS...

   For each run: wall time from fork to the end of wait4 (CLOCK_MONOTONIC), user and system CPU
   time and peak RSS from the child's rusage as wait4 returns it (ru_maxrss is the kernel's
   hiwater RSS of the child, i.e. its final VmHWM, in KiB), and the exit status. One JSON object
   per run is appended to FILE (default stdout). -q sends the child's stdout to /dev/null (for
   startup timings, where a terminal would add noise). Exit status: the last run's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

static void usage(void) {
  fprintf(stderr, "usage: measure [-n REPEAT] [-o FILE] [-q] -- CMD ARGS...\n");
  exit(2);
}

int main(int argc, char **argv) {
  int repeat = 1, quiet = 0, i, last = 0;
  const char *out_path = NULL;
  FILE *out = stdout;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
    else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out_path = argv[++i];
    else if (strcmp(argv[i], "-q") == 0) quiet = 1;
    else usage();
  }
  if (i >= argc || repeat < 1) usage();
  if (out_path) {
    out = fopen(out_path, "a");
    if (!out) { fprintf(stderr, "measure: %s: %s\n", out_path, strerror(errno)); return 2; }
  }
  for (int r = 0; r < repeat; r++) {
    struct rusage ru;
    int status = 0;
    double t0 = now(), t1;
    pid_t pid = fork();
    if (pid < 0) { perror("measure: fork"); return 2; }
    if (pid == 0) {
      if (quiet) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) { dup2(fd, 1); close(fd); }
      }
      execvp(argv[i], argv + i);
      fprintf(stderr, "measure: %s: %s\n", argv[i], strerror(errno));
      _exit(127);
    }
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
      if (errno != EINTR) { perror("measure: wait4"); return 2; }
    }
    t1 = now();
    last = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(out, "{\"wall\":%.6f,\"user\":%.6f,\"sys\":%.6f,\"maxrss_kb\":%ld,\"status\":%d}\n",
            t1 - t0, tv(ru.ru_utime), tv(ru.ru_stime), ru.ru_maxrss, last);
    fflush(out);
  }
  if (out != stdout) fclose(out);
  return last;
}
