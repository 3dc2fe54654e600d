/* libcurl loaded on the first transfer (dlopen), not at start: the calls go through a table of
   function pointers. Included by rw.h after <curl/curl.h>, so every curl_* call in the host
   uses the table; only curl_lazy.c sees the real prototypes. */
#ifndef RW_CURL_LAZY_H
#define RW_CURL_LAZY_H
#include <stddef.h>
#include <curl/curl.h>

typedef struct rw_curl_api {
  CURLcode (*global_init)(long flags);
  void (*global_cleanup)(void);
  char *(*version)(void);
  CURL *(*easy_init)(void);
  void (*easy_cleanup)(CURL *e);
  CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
  CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
  const char *(*easy_strerror)(CURLcode code);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_cleanup)(CURLM *m);
  CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
  CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
  CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
  CURLMcode (*multi_assign)(CURLM *m, curl_socket_t fd, void *p);
  CURLMsg *(*multi_info_read)(CURLM *m, int *left);
  CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t fd, int mask, int *running);
  const char *(*multi_strerror)(CURLMcode code);
  struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
  void (*slist_free_all)(struct curl_slist *l);
} rw_curl_api;

extern rw_curl_api rw_curl;

/* Loads libcurl once (dlopen + every symbol + curl_global_init): 0, or -1 with the reason in
   err. Later calls return at once (the result of the first attempt is kept, failure too). */
int rw_curl_load(char *err, size_t errlen);
int rw_curl_loaded(void);             /* 1 once loaded */
void rw_curl_unload(void);            /* curl_global_cleanup at exit (the library stays mapped) */

#ifndef RW_CURL_LAZY_IMPL
/* typecheck-gcc.h makes some of these macros: the table replaces them */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (rw_curl.global_init)
#define curl_global_cleanup (rw_curl.global_cleanup)
#define curl_version (rw_curl.version)
#define curl_easy_init (rw_curl.easy_init)
#define curl_easy_cleanup (rw_curl.easy_cleanup)
#define curl_easy_setopt (rw_curl.easy_setopt)
#define curl_easy_getinfo (rw_curl.easy_getinfo)
#define curl_easy_strerror (rw_curl.easy_strerror)
#define curl_multi_init (rw_curl.multi_init)
#define curl_multi_cleanup (rw_curl.multi_cleanup)
#define curl_multi_add_handle (rw_curl.multi_add_handle)
#define curl_multi_remove_handle (rw_curl.multi_remove_handle)
#define curl_multi_setopt (rw_curl.multi_setopt)
#define curl_multi_assign (rw_curl.multi_assign)
#define curl_multi_info_read (rw_curl.multi_info_read)
#define curl_multi_socket_action (rw_curl.multi_socket_action)
#define curl_multi_strerror (rw_curl.multi_strerror)
#define curl_slist_append (rw_curl.slist_append)
#define curl_slist_free_all (rw_curl.slist_free_all)
#endif
#endif
