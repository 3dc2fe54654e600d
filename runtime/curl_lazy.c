/* libcurl, loaded with dlopen on the first transfer: start-up, `check`, `inspect`, `--help` and
   scripts that never use the network do not map libcurl and its ~30 dependent libraries. */
#define RW_CURL_LAZY_IMPL
#include "curl_lazy.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rw_curl_api rw_curl;

static int state;            /* 0 not tried, 1 loaded, -1 failed */
static char failure[512];

/* the soname Debian's libcurl4 (and libcurl3-gnutls's libcurl.so.4 alternative) provides;
   RW_LIBCURL overrides it, for the test of a missing library */
#define RW_LIBCURL_SONAME "libcurl.so.4"

int rw_curl_loaded(void) { return state == 1; }

int rw_curl_load(char *err, size_t errlen) {
  const char *soname;
  void *lib = NULL;
  if (state == 1) return 0;
  if (state == -1) {
    snprintf(err, errlen, "%s", failure);
    return -1;
  }
  soname = getenv("RW_LIBCURL");
  if (!soname || !*soname) soname = RW_LIBCURL_SONAME;
  lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    snprintf(failure, sizeof failure, "cannot load libcurl (%s): install the libcurl4 package",
             why ? why : soname);
    goto fail;
  }
#define SYM(field, name)                                                                   \
  do {                                                                                     \
    void *p = dlsym(lib, name);                                                            \
    if (!p) {                                                                              \
      snprintf(failure, sizeof failure, "libcurl (%s) lacks %s: a libcurl 7.85 or newer is needed", \
               soname, name);                                                              \
      goto fail;                                                                           \
    }                                                                                      \
    memcpy(&rw_curl.field, &p, sizeof p);   /* object to function pointer, as POSIX allows */ \
  } while (0)
  SYM(global_init, "curl_global_init");
  SYM(global_cleanup, "curl_global_cleanup");
  SYM(version, "curl_version");
  SYM(easy_init, "curl_easy_init");
  SYM(easy_cleanup, "curl_easy_cleanup");
  SYM(easy_setopt, "curl_easy_setopt");
  SYM(easy_getinfo, "curl_easy_getinfo");
  SYM(easy_strerror, "curl_easy_strerror");
  SYM(multi_init, "curl_multi_init");
  SYM(multi_cleanup, "curl_multi_cleanup");
  SYM(multi_add_handle, "curl_multi_add_handle");
  SYM(multi_remove_handle, "curl_multi_remove_handle");
  SYM(multi_setopt, "curl_multi_setopt");
  SYM(multi_assign, "curl_multi_assign");
  SYM(multi_info_read, "curl_multi_info_read");
  SYM(multi_socket_action, "curl_multi_socket_action");
  SYM(multi_strerror, "curl_multi_strerror");
  SYM(slist_append, "curl_slist_append");
  SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
  /* CURLOPT_PROTOCOLS_STR (7.85) is the newest thing runwatch asks of libcurl */
  if (rw_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(failure, sizeof failure, "curl_global_init failed");
    goto fail;
  }
  state = 1;
  return 0;
fail:
  if (lib) dlclose(lib);
  memset(&rw_curl, 0, sizeof rw_curl);
  state = -1;
  snprintf(err, errlen, "%s", failure);
  return -1;
}

void rw_curl_unload(void) {
  if (state == 1) rw_curl.global_cleanup();
  /* not dlclose'd: TLS libraries do not all survive being unmapped, and the process ends */
}
