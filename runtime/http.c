/* libcurl multi-socket driven by libev (curl's evhiperfifo structure, with its defects fixed). */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "http.h"
#include "log.h"

/* One per socket libcurl asks us to watch (attached with curl_multi_assign). */
typedef struct http_sock {
  ev_io io;
  rw_app *app;
  curl_socket_t fd;
} http_sock;

static void drain(rw_app *app);

/* Fail every transfer after a CURLMcode error: "the state of all transfers are uncertain". */
static void multi_error(rw_app *app, CURLMcode rc, const char *where) {
  rw_log(RW_LOG_ERROR, "libcurl %s: %s", where, curl_multi_strerror(rc));
}

/* libev: the multi timer fired. */
static void curl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  rw_app *app = w->data;
  int running;
  CURLMcode rc = curl_multi_socket_action(app->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  (void)loop; (void)revents;
  if (rc != CURLM_OK) multi_error(app, rc, "socket_action(timeout)");
  drain(app);
}

/* CURLMOPT_TIMERFUNCTION: one non-repeating timer; -1 deletes it; 0 means "soon" and we must
   not call libcurl from here, so arm a zero timer instead. Milliseconds / 1000.0, not / 1000. */
static int multi_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  rw_app *app = userp;
  (void)multi;
  ev_timer_stop(app->loop, &app->curl_timer);
  if (timeout_ms >= 0) {
    ev_timer_set(&app->curl_timer, (double)timeout_ms / 1000.0, 0.);
    ev_timer_start(app->loop, &app->curl_timer);
  }
  return 0;
}

/* libev: a socket is ready. The bitmask uses CURL_CSELECT_*, and EV_ERROR maps to ERR. */
static void sock_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
  http_sock *s = w->data;
  rw_app *app = s->app;
  int running, mask = 0;
  CURLMcode rc;
  (void)loop;
  if (revents & EV_READ) mask |= CURL_CSELECT_IN;
  if (revents & EV_WRITE) mask |= CURL_CSELECT_OUT;
  if (revents & EV_ERROR) mask |= CURL_CSELECT_ERR;
  rc = curl_multi_socket_action(app->multi, s->fd, mask, &running);
  if (rc != CURLM_OK) multi_error(app, rc, "socket_action");
  drain(app);
}

/* CURLMOPT_SOCKETFUNCTION: may be called during curl_multi_cleanup and for handles we did not
   add, so it touches only the socket map and the loop. */
static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp) {
  rw_app *app = userp;
  http_sock *s = sockp;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      ev_io_stop(app->loop, &s->io);
      curl_multi_assign(app->multi, fd, NULL);
      free(s);
    }
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) return -1;   /* libcurl fails the transfer */
    s->app = app;
    s->fd = fd;
    ev_init(&s->io, sock_io_cb);
    s->io.data = s;
    curl_multi_assign(app->multi, fd, s);
  } else {
    ev_io_stop(app->loop, &s->io);
  }
  ev_io_set(&s->io, fd, (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0));
  ev_io_start(app->loop, &s->io);
  return 0;
}

/* The check_multi_info loop: the only place finished transfers reach Lua, after
   curl_multi_socket_action has returned. */
static void drain(rw_app *app) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(app->multi, &left)) != NULL) {
    rw_http_req *req = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
    if (!req) continue;
    req->result = msg->data.result;
    curl_multi_remove_handle(app->multi, req->easy);
    req->in_multi = 0;
    app->running_requests--;
    if (req->out) {
      if (fclose(req->out) != 0 && req->result == CURLE_OK) req->result = CURLE_WRITE_ERROR;
      req->out = NULL;
    }
    {
      curl_off_t dl = 0, hs = 0;
      curl_easy_getinfo(req->easy, CURLINFO_SIZE_DOWNLOAD_T, &dl);
      curl_easy_getinfo(req->easy, CURLINFO_HEADER_SIZE, (long *)&hs);
      app->http_bytes_in += (uint64_t)dl + (uint64_t)hs;
    }
    if (req->done && !req->done_called) {
      req->done_called = 1;
      req->done(req, req->ud);   /* may start or free other requests, or this one */
    }
  }
}

/* The first transfer loads libcurl and makes the multi handle; later ones find it there. */
int rw_http_ensure(rw_app *app, char *err, size_t errlen) {
  if (app->multi) return 0;
  if (rw_curl_load(err, errlen) != 0) return -1;
  app->multi = curl_multi_init();
  if (!app->multi) {
    snprintf(err, errlen, "cannot initialise libcurl multi");
    return -1;
  }
  ev_timer_init(&app->curl_timer, curl_timer_cb, 0., 0.);
  app->curl_timer.data = app;
  curl_multi_setopt(app->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(app->multi, CURLMOPT_SOCKETDATA, app);
  curl_multi_setopt(app->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
  curl_multi_setopt(app->multi, CURLMOPT_TIMERDATA, app);
  curl_multi_setopt(app->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(app->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
  curl_multi_setopt(app->multi, CURLMOPT_MAXCONNECTS, 32L);
  return 0;
}

/* Called with the loop alive: curl_multi_cleanup may still call sock_cb. */
void rw_http_cleanup(rw_app *app) {
  if (!app->multi) return;      /* no transfer ever started: libcurl was never loaded */
  curl_multi_cleanup(app->multi);
  app->multi = NULL;
  ev_timer_stop(app->loop, &app->curl_timer);
}

/* CURLOPT_WRITEFUNCTION: append to the capped buffer or the file; a short count aborts. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
  rw_http_req *req = userdata;
  size_t n = size * nmemb;
  if (req->len + n > req->max) {
    req->too_big = 1;
    return 0;
  }
  if (req->out) {
    if (fwrite(ptr, 1, n, req->out) != n) return 0;
    req->len += n;
    return n;
  }
  if (req->len + n + 1 > req->cap) {
    size_t cap = req->cap ? req->cap : 16384;
    char *p;
    while (cap < req->len + n + 1) cap *= 2;
    p = realloc(req->body, cap);
    if (!p) return 0;
    req->body = p;
    req->cap = cap;
  }
  memcpy(req->body + req->len, ptr, n);
  req->len += n;
  req->body[req->len] = '\0';
  return n;
}

/* CURLOPT_HEADERFUNCTION: keep the header lines of the last response only. */
static size_t header_cb(char *ptr, size_t size, size_t nitems, void *userdata) {
  rw_http_req *req = userdata;
  size_t n = size * nitems;
  if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) req->hlen = 0;  /* a new response begins */
  if (req->hlen + n + 1 > 1024 * 1024) return 0;                /* 1 MiB of headers is absurd */
  if (req->hlen + n + 1 > req->hcap) {
    size_t cap = req->hcap ? req->hcap : 1024;
    char *p;
    while (cap < req->hlen + n + 1) cap *= 2;
    p = realloc(req->hdrs, cap);
    if (!p) return 0;
    req->hdrs = p;
    req->hcap = cap;
  }
  memcpy(req->hdrs + req->hlen, ptr, n);
  req->hlen += n;
  req->hdrs[req->hlen] = '\0';
  return n;
}

rw_http_req *rw_http_new(rw_app *app, rw_http_done_fn done, void *ud) {
  rw_http_req *req = calloc(1, sizeof *req);
  if (!req) return NULL;
  req->app = app;
  req->done = done;
  req->ud = ud;
  req->easy = curl_easy_init();
  if (!req->easy) {
    free(req);
    return NULL;
  }
  return req;
}

int rw_http_start(rw_http_req *req, const rw_http_opts *o, char *err, size_t errlen) {
  CURL *e = req->easy;
  CURLMcode mc;
  req->headers = o->headers;
  req->max = o->max_size ? o->max_size : RW_DEFAULT_MAX_BODY;
  curl_easy_setopt(e, CURLOPT_URL, o->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, req);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");          /* gzip, deflate, br as built */
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "runwatch/" RW_VERSION);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000.0));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)((o->connect_timeout > 0 ? o->connect_timeout : RW_DEFAULT_CONNECT_TIMEOUT) * 1000.0));
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max);
  if (o->follow) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  }
  if (o->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (o->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->headers);
  if (strcmp(o->method, "GET") == 0) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (strcmp(o->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (strcmp(o->method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->has_body ? o->body_len : 0));
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->has_body ? o->body : "");
  }
  if (o->has_body) req->app->http_bytes_out += o->body_len;
  if (o->output) {
    req->to_file = 1;
    req->out = fopen(o->output, "wb");
    if (!req->out) {
      snprintf(err, errlen, "cannot open %s: %s", o->output, strerror(errno));
      return -1;
    }
  }
  mc = curl_multi_add_handle(req->app->multi, e);
  if (mc != CURLM_OK) {
    snprintf(err, errlen, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    return -1;
  }
  req->in_multi = 1;
  req->started = ev_now(req->app->loop);
  req->app->running_requests++;
  req->app->http_requests++;
  return 0;
}

void rw_http_cancel(rw_http_req *req) {
  if (req->in_multi) {
    curl_multi_remove_handle(req->app->multi, req->easy);
    req->in_multi = 0;
    req->app->running_requests--;
  }
  req->done_called = 1;
}

void rw_http_free(rw_http_req *req) {
  if (!req) return;
  rw_http_cancel(req);
  if (req->out) fclose(req->out);
  curl_easy_cleanup(req->easy);
  curl_slist_free_all(req->headers);
  free(req->body);
  free(req->hdrs);
  free(req);
}

const char *rw_http_error(rw_http_req *req, char *buf, size_t n) {
  if (req->too_big) {
    snprintf(buf, n, "response larger than the limit of %zu bytes", req->max);
    return buf;
  }
  if (req->result == CURLE_OK) return NULL;
  if (req->result == CURLE_FILESIZE_EXCEEDED) {
    snprintf(buf, n, "response larger than the limit of %zu bytes", req->max);
    return buf;
  }
  snprintf(buf, n, "%s", req->errbuf[0] ? req->errbuf : curl_easy_strerror(req->result));
  return buf;
}

long rw_http_status(rw_http_req *req) {
  long status = 0;
  curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
  return status;
}
