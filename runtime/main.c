/* runwatch's entry point: the command line (cli.c), then open, run and close the app. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rw.h"
#include "log.h"

int main(int argc, char **argv) {
  rw_options opt;
  rw_app app;
  rw_cli cli;
  int status;
  setvbuf(stdout, NULL, _IOLBF, 0);   /* a daemon's output shows up line by line */
  memset(&opt, 0, sizeof opt);
  opt.mode = RW_MODE_ONCE;
  opt.cpu_budget = RW_DEFAULT_CPU_BUDGET;
  opt.mem_limit = RW_DEFAULT_MEM_LIMIT;
  opt.stop_grace = RW_DEFAULT_STOP_GRACE;
  /* the options, help and usage errors: cli/spec.lua declares them, cli/parse.lua parses */
  status = rw_cli_parse(&cli, argc, argv, &opt);
  if (status >= 0) goto out;
  if (opt.insecure)
    rw_log(RW_LOG_WARN, "--insecure: TLS certificates are NOT verified; credentials can be intercepted");

  if (rw_app_open(&app, &opt) != 0) {
    rw_app_close(&app);
    status = 2;
    goto out;
  }
  status = rw_app_run(&app);
  rw_app_close(&app);
out:
  rw_cli_free(&cli);
  return status;
}
