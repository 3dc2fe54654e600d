/* runwatch's entry point: the command line, then open, run and close the app. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "rw.h"
#include "log.h"

static const char usage_text[] =
  "usage: runwatch COMMAND [OPTIONS] [SCRIPT...]\n"
  "\n"
  "Commands:\n"
  "  run SCRIPT...      run as a daemon: timers, crons and watches keep it alive\n"
  "  once SCRIPT...     every job fires exactly once, then exit when all work drains\n"
  "  check SCRIPT...    compile and lint the scripts; no network\n"
  "  status             show watches, rules, alert states and the request budget (from --state)\n"
  "  log                print the audit log of actions (from --state)\n"
  "  inspect PATH       show what a .wandb file or run directory holds\n"
  "  export PATH        export runs (see runwatch export --help)\n"
  "  backtest SCRIPT    replay a project's history through the script's rules (see --help)\n"
  "\n"
  "Options:\n"
  "  -e CODE              run CODE as a script (may be repeated; with no command, implies once)\n"
  "  --dry-run            read, but print every planned write instead of sending it\n"
  "  --log-level LEVEL    debug, info, warn, error or off (default info)\n"
  "  --log-format FORMAT  text (default) or json (one JSON object per line)\n"
  "  --state PATH         SQLite state file (default $XDG_STATE_HOME/runwatch/state.db)\n"
  "  --local [DIR]        use local W&B run directories under DIR instead of the W&B API\n"
  "                       (default: WANDB_DIR, else ./wandb)\n"
  "  --lib-dir DIR        load the Lua library from DIR instead of the embedded copy\n"
  "  --cpu-budget SECS    seconds of Lua a job may run per tick (default 5)\n"
  "  --mem-limit MB       memory cap for all Lua data (default 512)\n"
  "  --stop-grace SECS    time in-flight work gets after SIGTERM (default 10)\n"
  "  --insecure           do not verify TLS certificates (prints a warning)\n"
  "  --version            print the version\n"
  "  -h, --help           this help\n"
  "\n"
  "Exit status: 0 fine; 1 a job failed; 2 usage or script load error.\n"
  "Signals: SIGINT/SIGTERM stop gracefully; SIGHUP reloads the scripts (keeps the old ones if\n"
  "the new ones fail to load).\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "runwatch: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", usage_text);
  return 2;
}

static int parse_number(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || v < 0) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  rw_options opt;
  rw_app app;
  int i, status, have_command = 0;
  int no_more_options = 0;
  const char **scripts = calloc((size_t)argc + 1, sizeof *scripts);
  const char **code = calloc((size_t)argc + 1, sizeof *code);
  if (!scripts || !code) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);   /* a daemon's output shows up line by line */
  memset(&opt, 0, sizeof opt);
  opt.mode = RW_MODE_ONCE;
  opt.cpu_budget = RW_DEFAULT_CPU_BUDGET;
  opt.mem_limit = RW_DEFAULT_MEM_LIMIT;
  opt.stop_grace = RW_DEFAULT_STOP_GRACE;
  opt.scripts = scripts;
  opt.code = code;
  opt.args = scripts;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
#define NEED_VALUE() do { if (i + 1 >= argc) { status = usage_error("option %s needs a value", a); goto out; } val = argv[++i]; } while (0)
    if (!no_more_options && a[0] == '-' && a[1] != '\0') {
      if (strcmp(a, "--") == 0) { no_more_options = 1; continue; }
      if ((strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) && !opt.command) {
        fputs(usage_text, stdout);
        status = 0;
        goto out;
      }
      if (strcmp(a, "--version") == 0) {
        printf("runwatch %s (%s, %s)\n", RW_VERSION, LUA_RELEASE, curl_version());
        status = 0;
        goto out;
      }
      if (strcmp(a, "-e") == 0) { NEED_VALUE(); code[opt.ncode++] = val; continue; }
      if (strcmp(a, "--dry-run") == 0) { opt.dry_run = 1; continue; }
      if (strcmp(a, "--insecure") == 0) { opt.insecure = 1; continue; }
      if (strcmp(a, "--log-level") == 0) {
        NEED_VALUE();
        if (rw_log_set_level(val) != 0) { status = usage_error("unknown log level '%s'", val); goto out; }
        continue;
      }
      if (strcmp(a, "--log-format") == 0) {
        NEED_VALUE();
        if (rw_log_set_format(val) != 0) { status = usage_error("unknown log format '%s' (text or json)", val); goto out; }
        continue;
      }
      if (strcmp(a, "--state") == 0) { NEED_VALUE(); opt.state_path = val; continue; }
      if (strcmp(a, "--local") == 0) {
        /* DIR is optional (then WANDB_DIR, else ./wandb, as the SDK: "" tells Lua): absent when
           the next word is an option or a script (*.lua that is not a directory) */
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        size_t nl = next ? strlen(next) : 0;
        struct stat nst;
        if (!next || (next[0] == '-' && next[1] != '\0') ||
            (nl > 4 && strcmp(next + nl - 4, ".lua") == 0 && !(stat(next, &nst) == 0 && S_ISDIR(nst.st_mode)))) {
          opt.local_dir = "";
          continue;
        }
        NEED_VALUE();
        opt.local_dir = val;
        continue;
      }
      if (strcmp(a, "--lib-dir") == 0) { NEED_VALUE(); opt.lib_dir = val; continue; }
      if (strcmp(a, "--cpu-budget") == 0) {
        NEED_VALUE();
        if (parse_number(val, &opt.cpu_budget) != 0) { status = usage_error("bad --cpu-budget '%s'", val); goto out; }
        continue;
      }
      if (strcmp(a, "--mem-limit") == 0) {
        double mb;
        NEED_VALUE();
        if (parse_number(val, &mb) != 0 || mb < 1) { status = usage_error("bad --mem-limit '%s' (megabytes)", val); goto out; }
        opt.mem_limit = (size_t)(mb * 1024 * 1024);
        continue;
      }
      if (strcmp(a, "--stop-grace") == 0) {
        NEED_VALUE();
        if (parse_number(val, &opt.stop_grace) != 0) { status = usage_error("bad --stop-grace '%s'", val); goto out; }
        continue;
      }
      if (opt.command) {   /* status, log, inspect, export, backtest parse their own options */
        scripts[opt.nscripts++] = a;
        continue;
      }
      status = usage_error("unknown option '%s'", a);
      goto out;
    }
#undef NEED_VALUE
    if (!have_command) {
      have_command = 1;
      if (strcmp(a, "run") == 0) { opt.mode = RW_MODE_RUN; continue; }
      if (strcmp(a, "once") == 0) { opt.mode = RW_MODE_ONCE; continue; }
      if (strcmp(a, "check") == 0) { opt.mode = RW_MODE_CHECK; continue; }
      if (strcmp(a, "status") == 0 || strcmp(a, "log") == 0 || strcmp(a, "inspect") == 0 ||
          strcmp(a, "export") == 0 || strcmp(a, "backtest") == 0) {
        opt.mode = RW_MODE_ONCE;
        opt.command = a;
        continue;
      }
      status = usage_error("unknown command '%s'", a);
      goto out;
    }
    scripts[opt.nscripts++] = a;
  }
  if (!have_command && opt.ncode == 0) {
    status = usage_error("%s", "no command given");
    goto out;
  }
  if (!opt.command && opt.nscripts == 0 && opt.ncode == 0) {
    status = usage_error("%s", "no script given");
    goto out;
  }
  if (opt.command) {
    /* Lua-side commands: their arguments are in args, and no user script is loaded */
    opt.nargs = opt.nscripts;
    opt.nscripts = 0;
  }
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
  free(scripts);
  free(code);
  return status;
}
