/* The app's lifecycle: open (loop, curl, host), run (until no work is left or a signal stops
   it), SIGHUP reload that keeps the old scripts when the new ones fail, and strict teardown. */
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include "rw.h"
#include "http.h"
#include "log.h"

/* Before the loop blocks: with nothing pending (no timers, no transfers) the work is done. */
static void idle_check_cb(struct ev_loop *loop, ev_prepare *w, int revents) {
  rw_app *app = w->data;
  (void)revents;
  if (!app->host || app->host->pending <= 0) ev_break(loop, EVBREAK_ALL);
}

static void stop_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)w; (void)revents;
  rw_log(RW_LOG_WARN, "stop: in-flight work did not finish within the grace period; exiting");
  ev_break(loop, EVBREAK_ALL);
}

/* Stop signals also reach code that runs outside the loop (loading scripts, `check`'s lint):
   the handler counts them and passes them on to libev (ev_feed_signal is async-signal-safe),
   and the host's instruction hook stops a load that is under way when the count moves. */
static volatile sig_atomic_t stop_signals, last_stop_signal;
static void stop_signal_handler(int signo) {
  stop_signals++;
  last_stop_signal = signo;
  ev_feed_signal(signo);
}
int rw_app_stop_signals(void) { return stop_signals; }
int rw_app_last_stop_signal(void) { return last_stop_signal; }

/* SIGINT/SIGTERM: no new ticks; in-flight requests get a grace period; a second signal ends
   at once. */
static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents) {
  rw_app *app = w->data;
  (void)revents;
  if (app->stopping) {
    rw_log(RW_LOG_WARN, "second signal: exiting now");
    app->interrupted = 1;
    ev_break(loop, EVBREAK_ALL);
    return;
  }
  rw_log(RW_LOG_INFO, "signal %d: stopping (in-flight work has %.0f s to finish)", w->signum,
         app->opt->stop_grace);
  app->stopping = 1;
  rw_notify("STOPPING=1");
  if (app->host) rw_host_call_hook(app->host, "_stop");
  ev_timer_set(&app->stop_timer, app->opt->stop_grace, 0.);
  ev_timer_start(loop, &app->stop_timer);
  ev_unref(loop);   /* the deadline alone does not keep the loop alive */
}

/* Builds a new host from the scripts on disk and swaps it in if it loads; otherwise the old
   one goes on (and resumes what it paused for the reload). */
static void do_reload(rw_app *app) {
  char err[256];
  rw_host *nh, *old = app->host;
  nh = rw_host_new(app, err, sizeof err);
  if (!nh) {
    rw_log(RW_LOG_ERROR, "reload failed (%s); keeping the running scripts", err);
    rw_host_call_hook(old, "_resume");
    return;
  }
  /* The new host's jobs start on the next loop turn, after the old host is gone, so the two
     versions never tick side by side. */
  if (rw_host_load(nh) != 0) {
    rw_log(RW_LOG_ERROR, "reload failed; keeping the running scripts");
    rw_host_free(nh);
    rw_host_call_hook(old, "_resume");
    return;
  }
  rw_host_call_hook(old, "_stop");
  rw_host_free(old);
  app->host = nh;
  rw_log(RW_LOG_INFO, "reload done");
}

/* A reload, then READY=1 whether the new scripts or the old ones run on. */
static void reload_now(rw_app *app) {
  do_reload(app);
  rw_notify("READY=1\nSTATUS=running");
}

/* While a reload waits: the old scripts finish the deliveries they have in flight (a webhook,
   a W&B alert cut off by the swap could neither be known sent nor safely sent again), then the
   swap happens; at most --stop-grace seconds. */
static void reload_wait_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  rw_app *app = w->data;
  (void)revents;
  if (rw_host_ask_hook(app->host, "_quiesced") != 1 && rw_monotonic() < app->reload_deadline) return;
  ev_timer_stop(loop, w);
  app->reload_pending = 0;
  if (app->stopping) return;
  reload_now(app);
}

/* SIGHUP: pause new deliveries in the running scripts, wait for those in flight, reload. */
static void reload_cb(struct ev_loop *loop, ev_signal *w, int revents) {
  rw_app *app = w->data;
  (void)revents;
  if (app->stopping || app->reload_pending) return;
  rw_log(RW_LOG_INFO, "SIGHUP: reloading scripts");
  rw_notifyf("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
             (unsigned long long)(rw_monotonic() * 1e6));
  rw_host_call_hook(app->host, "_quiesce");
  if (rw_host_ask_hook(app->host, "_quiesced") == 1) {
    reload_now(app);
    return;
  }
  app->reload_pending = 1;
  app->reload_deadline = rw_monotonic() + app->opt->stop_grace;
  ev_timer_set(&app->reload_timer, 0.02, 0.02);
  ev_timer_start(loop, &app->reload_timer);
}

int rw_app_open(rw_app *app, rw_options *opt) {
  char err[256];
  memset(app, 0, sizeof *app);
  app->opt = opt;
  rw_notify_init();
  app->loop = ev_default_loop(EVFLAG_AUTO);
  if (!app->loop) {
    rw_log(RW_LOG_ERROR, "cannot initialise libev");
    return -1;
  }
  /* libcurl and the multi handle come with the first transfer (rw_http_ensure) */
  signal(SIGPIPE, SIG_IGN);
  ev_signal_init(&app->sigint, stop_cb, SIGINT);
  ev_signal_init(&app->sigterm, stop_cb, SIGTERM);
  ev_signal_init(&app->sighup, reload_cb, SIGHUP);
  app->sigint.data = app->sigterm.data = app->sighup.data = app;
  ev_signal_start(app->loop, &app->sigint);
  ev_signal_start(app->loop, &app->sigterm);
  ev_signal_start(app->loop, &app->sighup);
  {
    /* after libev's own handlers are in place: ours counts, then feeds the same watchers */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop_signal_handler;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
  }
  ev_unref(app->loop);
  ev_unref(app->loop);
  ev_unref(app->loop);   /* signal watchers never keep the loop alive */
  ev_prepare_init(&app->idle_check, idle_check_cb);
  app->idle_check.data = app;
  ev_prepare_start(app->loop, &app->idle_check);
  ev_unref(app->loop);
  ev_timer_init(&app->stop_timer, stop_deadline_cb, 0., 0.);
  app->stop_timer.data = app;
  ev_timer_init(&app->reload_timer, reload_wait_cb, 0.02, 0.02);
  app->reload_timer.data = app;
  app->host = rw_host_new(app, err, sizeof err);
  if (!app->host) {
    rw_log(RW_LOG_ERROR, "%s", err);
    return -1;
  }
  return 0;
}

/* Loads the scripts and runs the loop. Returns the exit status (0, 1 a job failed, 2 load). */
int rw_app_run(rw_app *app) {
  if (rw_host_load(app->host) != 0) {
    if (app->host->load_interrupted) return 128 + rw_app_last_stop_signal();
    return 2;
  }
  rw_notify("READY=1\nSTATUS=running");   /* systemd's Type=notify: the scripts are loaded */
  ev_run(app->loop, 0);
  if (!app->stopping) rw_notify("STOPPING=1");
  /* out of work without a stop: jobs still unfinished can never finish (they are reported) */
  if (!app->stopping && !app->interrupted) rw_host_call_hook(app->host, "_finish");
  rw_host_call_hook(app->host, "_exit");   /* the process is about to end (not a reload) */
  if (app->interrupted) return 130;
  if (app->host->exit_status >= 0) return app->host->exit_status;
  if (app->host->job_failures > 0) return 1;
  return 0;
}

/* Teardown order: Lua first (its __gc stops timers and removes transfers), then the multi
   handle (which may still call the socket callback, so the loop lives on), then the loop. */
void rw_app_close(rw_app *app) {
  if (app->loop) {
    if (ev_is_active(&app->stop_timer)) { ev_ref(app->loop); ev_timer_stop(app->loop, &app->stop_timer); }
    if (ev_is_active(&app->reload_timer)) ev_timer_stop(app->loop, &app->reload_timer);
    ev_ref(app->loop); ev_prepare_stop(app->loop, &app->idle_check);
    ev_ref(app->loop); ev_signal_stop(app->loop, &app->sigint);
    ev_ref(app->loop); ev_signal_stop(app->loop, &app->sigterm);
    ev_ref(app->loop); ev_signal_stop(app->loop, &app->sighup);
  }
  rw_host_free(app->host);
  app->host = NULL;
  rw_http_cleanup(app);
  if (app->loop) ev_loop_destroy(app->loop);
  app->loop = NULL;
  rw_curl_unload();
  rw_log_clear_secrets();
}
