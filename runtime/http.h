/* The narrow interface of the libcurl multi + libev glue that bindings/l_http.c uses. */
#ifndef RW_HTTP_H
#define RW_HTTP_H
#include <stdio.h>
#include "rw.h"

typedef struct rw_http_opts {
  const char *method;           /* GET, POST, PUT, PATCH, DELETE, HEAD */
  const char *url;
  struct curl_slist *headers;   /* ownership passes to the request */
  const char *body;             /* copied (CURLOPT_COPYPOSTFIELDS) */
  size_t body_len;
  int has_body;
  double timeout;               /* seconds, whole transfer; 0 = none */
  double connect_timeout;
  size_t max_size;              /* response body cap in bytes */
  const char *output;           /* write the body to this file instead of memory */
  int follow;                   /* follow redirects inside libcurl (max 5) */
  int insecure;                 /* skip TLS verification (only with the --insecure flag) */
} rw_http_opts;

struct rw_http_req {
  rw_app *app;
  CURL *easy;
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  char *body;                   /* response body (memory sink) */
  size_t len, cap, max;
  char *hdrs;                   /* raw header lines of the last response */
  size_t hlen, hcap;
  FILE *out;                    /* file sink (NULL once closed) */
  int to_file;                  /* the body went to a file: there is no memory body */
  int too_big;
  int in_multi;
  int done_called;
  CURLcode result;
  double started;
  rw_http_done_fn done;
  void *ud;
};

rw_http_req *rw_http_new(rw_app *app, rw_http_done_fn done, void *ud);
/* Starts the transfer; the done callback always runs later, from the loop. 0 ok, -1 err. */
int rw_http_start(rw_http_req *req, const rw_http_opts *o, char *err, size_t errlen);
void rw_http_cancel(rw_http_req *req);    /* stop a transfer; done is not called */
void rw_http_free(rw_http_req *req);      /* cancel + release everything */
/* An error message for a failed transfer, or NULL if it completed (any HTTP status). */
const char *rw_http_error(rw_http_req *req, char *buf, size_t n);
long rw_http_status(rw_http_req *req);

#endif
