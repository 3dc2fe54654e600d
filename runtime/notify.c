/* The sd_notify protocol without libsystemd: a datagram to $NOTIFY_SOCKET (a path, or an
   abstract name written with a leading '@'), so that systemd's Type=notify knows when the
   scripts are loaded (READY=1), reloading (RELOADING=1, then READY=1) and stopping (STOPPING=1).
   Nothing happens when the variable is unset (not started by systemd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "rw.h"
#include "log.h"

static struct sockaddr_un addr;
static socklen_t addr_len;      /* 0: no socket (not under systemd, or a bad address) */
static int initialised;

/* reads NOTIFY_SOCKET once and removes it from the environment, so that neither a script nor
   anything it starts can write to it (called when the app opens) */
void rw_notify_init(void) {
  const char *path;
  size_t len;
  if (initialised) return;
  path = getenv("NOTIFY_SOCKET");
  initialised = 1;
  if (!path || !*path) return;
  len = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
    rw_log(RW_LOG_WARN, "NOTIFY_SOCKET is not a socket path or an abstract name; not notifying systemd");
    unsetenv("NOTIFY_SOCKET");
    return;
  }
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';   /* abstract namespace: no terminating NUL */
  addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));
  unsetenv("NOTIFY_SOCKET");
}

int rw_notify(const char *state) {
  int fd;
  ssize_t n;
  if (!initialised) rw_notify_init();
  if (addr_len == 0) return 0;
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
  if (n < 0) rw_log(RW_LOG_WARN, "sd_notify: cannot send to NOTIFY_SOCKET: %s", strerror(errno));
  close(fd);
  return n < 0 ? -1 : 1;
}

int rw_notifyf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return rw_notify(buf);
}
