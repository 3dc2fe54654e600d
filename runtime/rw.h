/* The one internal header of the C host: the app and host structs, limits, and prototypes. */
#ifndef RW_H
#define RW_H
#include <stddef.h>
#include <stdint.h>
#include <ev.h>
#include <curl/curl.h>
#include "curl_lazy.h"   /* every curl_* call through the lazily loaded table */
#include <lua.h>

#define RW_DEFAULT_MAX_BODY (256u * 1024u * 1024u)  /* response size cap unless a request says */
#define RW_DEFAULT_TIMEOUT 60.0                     /* seconds, total, per HTTP request */
#define RW_DEFAULT_CONNECT_TIMEOUT 10.0
#define RW_DEFAULT_CPU_BUDGET 5.0                   /* seconds of Lua per job tick */
#define RW_DEFAULT_MEM_LIMIT (512u * 1024u * 1024u) /* bytes for all Lua data of one host */
#define RW_DEFAULT_STOP_GRACE 10.0                  /* seconds in-flight work gets at SIGTERM */

typedef enum { RW_MODE_RUN, RW_MODE_ONCE, RW_MODE_CHECK } rw_mode;

/* Options from the command line, shared by every host the app builds (SIGHUP rebuilds). */
typedef struct rw_options {
  rw_mode mode;
  int dry_run;
  int insecure;
  const char *lib_dir;        /* load scripts/lib from disk instead of the embedded copy */
  const char *state_path;
  const char *local_dir;
  const char **scripts;       /* script paths; "-e" code is in 'code' */
  int nscripts;
  const char **code;          /* -e chunks */
  int ncode;
  double cpu_budget;          /* seconds a job may run Lua per tick */
  size_t mem_limit;           /* bytes */
  double stop_grace;
  const char *command;        /* a Lua command's name (status, log, ...): the prelude runs it */
  int argc;                   /* the command line, for the Lua command's own options */
  char **argv;
} rw_options;

typedef struct rw_app rw_app;
typedef struct rw_pool rw_pool;       /* lua_alloc.c: the small blocks of a Lua state */

/* One Lua world: a lua_State with the library and the user scripts loaded. SIGHUP builds a new
   host beside the old one and swaps only if the new one loads. */
typedef struct rw_host {
  rw_app *app;
  lua_State *L;
  int pending;                /* active timers + in-flight requests: 0 means nothing left to do */
  int live;                   /* live userdata objects (for leak tests) */
  int closing;                /* set while lua_close runs: callbacks must not enter Lua */
  size_t mem_used, mem_limit, mem_peak;
  rw_pool *pool;              /* lua_alloc.c */
  double slice_start;         /* monotonic time the current job slice began; 0 = none */
  double slice_budget;        /* seconds the current slice may run */
  int slice_abort;            /* the hook stopped the current slice (budget exceeded) */
  int job_failures;           /* jobs that raised, for the exit status */
  int exit_status;            /* set by a Lua-side command (core.set_exit_status); -1 = none */
  int load_failed;
  int loading;                /* rw_host_load is running: a stop signal interrupts it */
  int load_signals;           /* rw_app_stop_signals() when the load began */
  int load_interrupted;       /* a stop signal ended the load */
} rw_host;

struct rw_app {
  struct ev_loop *loop;
  CURLM *multi;
  ev_timer curl_timer;        /* the single libcurl multi timer */
  ev_signal sigint, sigterm, sighup;
  ev_timer stop_timer;        /* grace deadline after SIGTERM */
  ev_timer reload_timer;      /* SIGHUP: waits for the old scripts' deliveries in flight */
  double reload_deadline;     /* when the reload goes ahead even if deliveries still run */
  int reload_pending;
  ev_prepare idle_check;      /* before the loop blocks: is anything left to do? */
  rw_options *opt;
  rw_host *host;              /* the current host */
  int running_requests;       /* transfers inside the multi handle */
  int stopping;
  int exit_status;
  int interrupted;
  /* counters for status and benchmarks */
  uint64_t http_requests, http_bytes_in, http_bytes_out;
};

/* app.c */
int rw_app_open(rw_app *app, rw_options *opt);
int rw_app_run(rw_app *app);
void rw_app_close(rw_app *app);
rw_app *rw_app_of(lua_State *L);
rw_host *rw_host_of(lua_State *L);
int rw_app_stop_signals(void);       /* SIGINT/SIGTERM received so far (async-signal counter) */
int rw_app_last_stop_signal(void);

/* lua_alloc.c: the lua_Alloc of every host (memory limit, small-block pools) */
rw_pool *rw_pool_new(void);
void rw_pool_free(rw_pool *p);
void *rw_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* host.c */
rw_host *rw_host_new(rw_app *app, char *err, size_t errlen);
int rw_host_load(rw_host *h);            /* load library + scripts; 0 ok, -1 failed (logged) */
void rw_host_free(rw_host *h);
int rw_host_pcall(lua_State *L, int nargs, int nres);  /* the one door into Lua from C */
int rw_host_call_hook(rw_host *h, const char *name);   /* call runwatch.task hook by name */
int rw_host_ask_hook(rw_host *h, const char *name);    /* the same; 1 when it returned true, 0 false, -1 error */
lua_State *rw_lua_bare(const char *lib_dir);   /* a state with the Lua library only (cli.c) */
double rw_monotonic(void);
double rw_walltime(void);

/* cli.c: the command line, parsed by the Lua library's one parser (cli/parse.lua) */
typedef struct rw_cli { lua_State *L; const char **scripts, **code; } rw_cli;
int rw_cli_parse(rw_cli *cli, int argc, char **argv, rw_options *opt);  /* -1: go on; else exit status */
void rw_cli_free(rw_cli *cli);

/* notify.c: the sd_notify protocol (Type=notify under systemd); 0 when not under systemd */
void rw_notify_init(void);
int rw_notify(const char *state);
int rw_notifyf(const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 1, 2)))
#endif
  ;

/* http.c: libcurl multi + libev glue */
typedef struct rw_http_req rw_http_req;
typedef void (*rw_http_done_fn)(rw_http_req *req, void *ud);
int rw_http_ensure(rw_app *app, char *err, size_t errlen);  /* load libcurl, make the multi: 0 or -1 */
void rw_http_cleanup(rw_app *app);

#endif
